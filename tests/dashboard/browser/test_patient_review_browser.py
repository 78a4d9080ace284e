"""An oncologist reviews a patient in Chromium: from the roster, open a patient by typing the MRN, and see
the stacked chart and the summary card of that patient's course.

Only reads the shared demo database (the nurse-flow test writes to DEMO-00077; this test uses another patient).
"""
from __future__ import annotations

import re
import time
from datetime import date

import pytest
from playwright.sync_api import expect

from models.analysis import patient_view
from models.store import queries
from tests.dashboard.browser.test_app_browser import sign_in
from tests.support.browser import open_from_menu, wait_for_app_idle

pytestmark = pytest.mark.browser

MRN = "DEMO-00029"
TIMEOUT_MS = 30_000


def settle(page) -> None:
    page.wait_for_timeout(150)  # let the action reach the server before waiting for the run it starts
    wait_for_app_idle(page)


def test_oncologist_opens_a_patient_from_the_roster(page, app_url, demo_sqlite_url):
    pid = queries.patient_id_for_mrn(MRN, demo_sqlite_url)
    summary = patient_view.patient_course(pid, as_of=date.today(), url=demo_sqlite_url).summary

    sign_in(page, app_url, "oncologist")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=TIMEOUT_MS)
    open_from_menu(page, "Patients")
    wait_for_app_idle(page)
    roster = page.locator("[data-testid='stDataFrame']").first
    roster.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-testid='stMetricValue']").first.inner_text() == "120"

    picker = page.get_by_role("combobox", name="Open a patient", exact=True)
    picker.click()
    picker.press_sequentially(MRN, delay=20)
    expect(page.get_by_role("option", name=re.compile(re.escape(MRN)))).to_have_count(1)
    started = time.perf_counter()
    picker.press("Enter")
    settle(page)

    title = page.get_by_role("heading", level=1, name=re.compile(re.escape(MRN)))
    title.wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    title_s = time.perf_counter() - started
    assert title.inner_text().strip().endswith(f"· {MRN}")
    assert f"mrn={MRN}" in page.url

    chart = page.locator("[data-testid='stVegaLiteChart']")
    expect(chart).to_have_count(1, timeout=TIMEOUT_MS)
    drawn = chart.locator("svg, canvas")
    expect(drawn.first).to_be_visible(timeout=TIMEOUT_MS)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 500 and box["height"] > 500, box  # events, dose and 6 labs
    print(f"\nEnter in the picker -> patient title {title_s:.2f} s, -> chart drawn "
          f"{time.perf_counter() - started:.2f} s")

    day = page.locator("[data-testid='stMetric']").filter(has_text="Days on treatment") \
        .locator("[data-testid='stMetricValue']")
    assert day.inner_text().strip() == str(summary["days_on_treatment"])
    dose = page.locator("[data-testid='stMetric']").filter(has_text="Current dose") \
        .locator("[data-testid='stMetricValue']")
    assert dose.inner_text().strip() == f"{summary['current_dose_mg']:g} mg/day"
    assert page.locator("[data-testid='stException']").count() == 0


def test_oncologist_opens_a_patient_from_the_worklist(page, app_url, demo_sqlite_url):
    """The home page lists who needs attention; a row opens its alert, and Open patient that patient's page,
    which says why it was opened and names the record."""
    from models.analysis import worklist

    first = worklist.worklist(demo_sqlite_url, as_of=date.today(), include_acknowledged=False)[0]
    assert first.tier == "today" and first.record_type == "adverse_event"
    sign_in(page, app_url, "oncologist")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=TIMEOUT_MS)
    grid = page.locator("[class*='st-key-worklist_'] [data-testid='stDataFrameResizable']")
    grid.wait_for(timeout=TIMEOUT_MS)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 * 1.5)  # the first row's selection box (the grid is a canvas)
    settle(page)
    expect(page.get_by_role("combobox", name="Alert", exact=True)).to_have_value(
        f"{first.mrn} · {first.name} — {first.reason}", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Open patient").click()
    title = page.get_by_role("heading", level=1, name=re.compile(re.escape(first.mrn)))
    title.wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    assert f"mrn={first.mrn}" in page.url
    callout = page.locator("[data-testid='stAlert']").filter(has_text="From the worklist: ")
    expect(callout).to_contain_text(first.reason)
    expect(callout).to_contain_text("in the Adverse events tab")
    assert page.locator("[data-testid='stException']").count() == 0
