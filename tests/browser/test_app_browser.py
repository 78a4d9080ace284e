"""The app as a user meets it: `streamlit run` in Chromium, on the demo cohort."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.browser import wait_for_app_idle

pytestmark = pytest.mark.browser
NAVIGATION = ["Log adverse event", "Patients", "Cohort vs BOLERO-2", "Dosing audit", "Admin"]


def open_page(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    wait_for_app_idle(page, timeout_ms=60_000)
    page.get_by_role("heading", level=1).first.wait_for(timeout=30_000)
    return time.perf_counter() - started


def test_the_app_opens_on_the_demo_cohort_without_errors(page, app_url):
    seconds = open_page(page, app_url)
    print(f"first page rendered in {seconds:.2f} s")
    assert page.get_by_role("heading", level=1).first.inner_text() == "Patients"
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in NAVIGATION:
        assert nav.get_by_text(title, exact=True).is_visible()
    page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible", timeout=30_000)
    assert page.locator("[data-testid='stMetricValue']").first.inner_text() == "120"
    assert page.locator("[data-testid='stException']").count() == 0
    if os.environ.get("TOXWATCH_SCREENSHOT_DIR"):
        Path(os.environ["TOXWATCH_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["TOXWATCH_SCREENSHOT_DIR"]) / "patients.png"))


def test_every_page_opens_from_the_navigation(page, app_url):
    open_page(page, app_url)
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in NAVIGATION:
        nav.get_by_text(title, exact=True).click()
        page.get_by_role("heading", level=1, name=title).wait_for(timeout=30_000)
        wait_for_app_idle(page, timeout_ms=30_000)
        assert page.locator("[data-testid='stException']").count() == 0, title
        assert page.locator("[data-testid='stDataFrame'], [data-testid='stVegaLiteChart']").count() > 0, title


def test_cohort_page_draws_the_comparison_chart(page, app_url):
    open_page(page, app_url)
    page.locator("[data-testid='stSidebarNav']").get_by_text("Cohort vs BOLERO-2", exact=True).click()
    page.get_by_role("heading", level=1, name="Cohort vs BOLERO-2").wait_for(timeout=30_000)
    wait_for_app_idle(page)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.wait_for(timeout=30_000)
    assert chart.locator("canvas, svg").count() > 0
