"""A nurse imports adverse events from a CSV upload in Chromium: a check (dry run) lists every problem by
line and writes nothing, the same file name uploaded twice is refused, and a valid file is imported with an
audit entry per row.

The `app_url` server and its SQLite database are shared by every browser test of the session, so this test
counts only the rows it adds (its notes carry a unique tag).
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from models import queries
from models.db import read_session
from models.tables import AdverseEvent, AuditEntry
from tests.browser.test_app_browser import sign_in
from tests.browser.test_nurse_flow import TIMEOUT_MS, shows
from tests.support.browser import wait_for_app_idle

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


def _upload(page, *paths) -> None:
    page.locator("input[type='file']").first.set_input_files([str(p) for p in paths])
    wait_for_app_idle(page)


def _remove_uploads(page) -> None:
    chips = page.locator("[data-testid='stFileChip']")
    while chips.count():
        chips.first.locator("[data-testid='stFileChipDeleteBtn'] button").click()  # the × on the file
        wait_for_app_idle(page)


def test_nurse_checks_then_imports_a_csv_upload(page, app_url, demo_sqlite_url, tmp_path):
    patients = queries.patients(demo_sqlite_url)
    patient = patients.sort_values("id").iloc[0]
    stored = queries.adverse_events(demo_sqlite_url)
    stored = stored[stored["patient_id"] == patient["id"]].iloc[0]  # active events only
    tag = f"browser import {uuid.uuid4().hex[:8]}"
    onset = date.today() - timedelta(days=1)
    for name in ("bad", "good", "copy"):
        (tmp_path / name).mkdir()
    (tmp_path / "bad" / "adverse_events.csv").write_text(
        HEADER + f"{patient['mrn']},{stored['term']},1,{stored['onset_date']:%Y-%m-%d},,no,,,{tag}\n"
        f"{patient['mrn']},Sneezing,1,{onset},,no,,,{tag}\n")
    good = HEADER + (f"{patient['mrn']},Fatigue,1,{onset},,no,,,{tag}\n"
                     f"{patient['mrn']},Pneumonitis,2,{onset},,yes,possible,held,{tag}\n")
    (tmp_path / "good" / "adverse_events.csv").write_text(good)
    (tmp_path / "copy" / "adverse_events.csv").write_text(good)
    before = _counts(demo_sqlite_url, tag)

    sign_in(page, app_url, "nurse")
    page.get_by_role("heading", level=1, name="Log adverse event").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Import CSV", exact=True).click()
    wait_for_app_idle(page)

    _upload(page, tmp_path / "bad" / "adverse_events.csv")
    page.get_by_role("button", name="Check (dry run)").click()
    wait_for_app_idle(page)
    shows(page, "Nothing imported: 2 problems in adverse_events.csv.")
    problems = page.locator("[data-testid='stCode']").first.inner_text(timeout=TIMEOUT_MS)
    assert f"adverse_events.csv:2: term: {stored['term']} with onset {stored['onset_date']:%Y-%m-%d} is already " \
           "recorded for this patient." in problems
    assert "adverse_events.csv:3: term: 'Sneezing' is not a CTCAE term" in problems
    assert _counts(demo_sqlite_url, tag) == before

    _remove_uploads(page)
    _upload(page, tmp_path / "good" / "adverse_events.csv", tmp_path / "copy" / "adverse_events.csv")
    shows(page, "adverse_events.csv: uploaded more than once. Remove the copy you do not mean (its ×), or merge "
                "the files into one, then check again.")  # at once, and with no Import button to press
    assert page.get_by_role("button", name="Import", exact=True).count() == 0
    assert _counts(demo_sqlite_url, tag) == before

    _remove_uploads(page)
    _upload(page, tmp_path / "good" / "adverse_events.csv")
    page.get_by_role("button", name="Import", exact=True).click()
    wait_for_app_idle(page)
    shows(page, "Imported 2 rows (adverse_events.csv 2).")
    assert page.locator("[data-testid='stException']").count() == 0
    assert _counts(demo_sqlite_url, tag) == (2, 2, before[2] + 1)  # a create entry per row, and the import
