"""A nurse imports adverse events from a CSV upload in Chromium: a check (dry run) lists every problem by
line and writes nothing, the same file name uploaded twice is refused, and a valid file is imported with an
audit entry per row.

It runs on the writable copy of the demo database (shared with the nurse flow), on a patient of its own, and
counts only the rows it adds (its notes carry a unique tag).
"""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from sqlalchemy import func
from sqlmodel import select

from models.store.db import read_session
from models.store.tables import AdverseEvent, AuditEntry
from tests.dashboard.browser.test_app_browser import sign_in
from tests.dashboard.browser.test_nurse_flow import TIMEOUT_MS, new_patient, shows
from tests.support.browser import open_from_menu, wait_for_app_idle

pytestmark = pytest.mark.browser
HEADER = "mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"


def _counts(url: str, tag: str) -> tuple[int, int, int]:
    """(this test's events, their audit entries, import audit entries of any import)."""
    with read_session(url) as session:
        ids = session.exec(select(AdverseEvent.id).where(AdverseEvent.notes == tag)).all()
        audited = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.record_type == "adverse_event", AuditEntry.record_id.in_(ids or [0])))
        imports = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "import"))
    return len(ids), audited, imports


def _open_import(page, app_url: str) -> None:
    """A fresh session (an empty uploader), signed in as the nurse, on the Import CSV tab."""
    sign_in(page, app_url, "nurse")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=TIMEOUT_MS)
    open_from_menu(page, "Log adverse event")
    page.get_by_text("Import CSV", exact=True).click()
    wait_for_app_idle(page)


def _upload(page, *paths) -> None:
    """Upload and wait until every file is on the server (its chip stops spinning)."""
    page.locator("input[type='file']").first.set_input_files([str(p) for p in paths])
    expect(page.locator("[data-testid='stFileChip']")).to_have_count(len(paths), timeout=TIMEOUT_MS)
    expect(page.locator("[data-testid='stFileChipIconSpinner']")).to_have_count(0, timeout=TIMEOUT_MS)
    wait_for_app_idle(page)


def _press(page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)


def test_nurse_checks_then_imports_a_csv_upload(page, writable_demo, tmp_path):
    app_url, demo_sqlite_url = writable_demo
    from datetime import date, timedelta

    from models.store import records

    patient = new_patient(demo_sqlite_url)  # a patient of this run alone
    MRN = patient.mrn  # noqa: N806 - read as the constant it is in the rows below
    stored = SimpleNamespace(**records.create("adverse_event", {
        "patient_id": patient.id, "term": "Nausea", "grade": 1, "onset_date": date.today() - timedelta(days=40),
        "resolved_date": date.today() - timedelta(days=35)}, records.Actor("nurse", "nurse"), url=demo_sqlite_url))
    onset = date.today() - timedelta(days=10)
    tag = f"browser import {uuid.uuid4().hex[:8]}"
    for name in ("bad", "good", "copy"):
        (tmp_path / name).mkdir()
    (tmp_path / "bad" / "adverse_events.csv").write_text(
        HEADER + f"{MRN},{stored.term},1,{stored.onset_date},,no,,,{tag}\n"
        f"{MRN},Sneezing,1,{onset},,no,,,{tag}\n")
    good = HEADER + (f"{MRN},Fatigue,1,{onset},,no,,,{tag}\n"
                     f"{MRN},Pneumonitis,2,{onset},,yes,possible,held,{tag}\n")
    (tmp_path / "good" / "adverse_events.csv").write_text(good)
    (tmp_path / "copy" / "adverse_events.csv").write_text(good)
    before = _counts(demo_sqlite_url, tag)

    _open_import(page, app_url)
    _upload(page, tmp_path / "bad" / "adverse_events.csv")
    _press(page, "Check (dry run)")
    shows(page, "Nothing imported: 2 problems in adverse_events.csv.")
    problems = page.locator("[data-testid='stCode']").first.inner_text(timeout=TIMEOUT_MS)
    assert f"adverse_events.csv:2: term: {stored.term} with onset {stored.onset_date} is already recorded for " \
           "this patient." in problems
    assert "adverse_events.csv:3: term: 'Sneezing' is not a CTCAE term" in problems
    assert _counts(demo_sqlite_url, tag) == before

    _open_import(page, app_url)
    _upload(page, tmp_path / "good" / "adverse_events.csv", tmp_path / "copy" / "adverse_events.csv")
    shows(page, "adverse_events.csv: uploaded more than once. Remove the copy you do not mean (its ×), or merge "
                "the files into one, then check again.")  # at once, and with no Import button to press
    assert page.get_by_role("button", name="Import", exact=True).count() == 0
    assert _counts(demo_sqlite_url, tag) == before

    _open_import(page, app_url)
    _upload(page, tmp_path / "good" / "adverse_events.csv")
    _press(page, "Import")
    shows(page, "Imported 2 rows (adverse_events.csv 2).")
    assert page.locator("[data-testid='stException']").count() == 0
    assert _counts(demo_sqlite_url, tag) == (2, 2, before[2] + 1)  # a create entry per row, and the import
