"""A pharmacist reviews a dosing-audit finding in Chromium: choose it, decide, comment, save, and the review is
in the database.

The `app_url` server and its SQLite database are shared by every browser test of the session, so this test
finds its review by its own comment text (unique per run) rather than by counting rows.
"""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from models.analysis import dose_audit
from models.store.db import read_session
from models.store.tables import AuditEntry, FindingReview
from tests.dashboard.browser.test_app_browser import sign_in
from tests.dashboard.browser.test_nurse_flow import TIMEOUT_MS, choose, form_with, shows
from tests.support.browser import wait_for_app_idle

pytestmark = pytest.mark.browser


def test_pharmacist_reviews_a_finding(page, app_url, demo_sqlite_url):
    # the page analyses as of today; pick a deviation the engine reports for that date
    findings, *_ = dose_audit.cohort_audit(demo_sqlite_url, as_of=date.today())
    finding = next(f for f in findings if f.status == "deviation" and f.rule != dose_audit.UNEXPLAINED_HOLD_RULE)
    label = f"{finding.mrn} · {finding.term} · {finding.onset_date} · {finding.rule} · Deviation"
    comment = f"Justified: oncologist kept the dose after review ({uuid.uuid4().hex[:8]})"

    sign_in(page, app_url, "pharmacist")
    page.get_by_role("heading", level=1, name="Dosing audit").wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    review = page.locator("[data-testid='stExpander']").filter(has_text="Review a finding")
    expect(review).to_be_visible(timeout=TIMEOUT_MS)

    choose(page, "Finding", finding.mrn, label, scope=review)
    shows(page, f"Expected: {finding.expected}\nRecorded: {finding.actual}")
    form = form_with(page, "Save review")
    justified = form.locator("[data-testid='stRadioOption']").filter(has_text="Justified").filter(
        has_not_text="a real deviation")
    justified.click()
    expect(form.get_by_role("radio", name=re.compile("^Justified"))).to_be_checked()
    form.get_by_label("Comment").fill(comment)
    form.get_by_role("button", name="Save review").click()

    shows(page, f"Review saved for {label}.")
    expect(page.get_by_text(f"Current review: Justified by pharmacist: {comment}")).to_be_visible(
        timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stException']").count() == 0

    with read_session(demo_sqlite_url) as session:
        saved = session.exec(select(FindingReview).where(FindingReview.comment == comment)).all()
        assert [(r.finding_key, r.decision, r.created_by, r.patient_id, r.rule, r.record_status)
                for r in saved] == [(finding.key, "justified", "pharmacist", finding.patient_id, finding.rule,
                                     "active")]
        entries = session.exec(select(AuditEntry.username, AuditEntry.action).where(
            AuditEntry.record_type == "finding_review", AuditEntry.record_id == saved[0].id)).all()
        assert [tuple(e) for e in entries][-1] in {("pharmacist", "create"), ("pharmacist", "update")}
