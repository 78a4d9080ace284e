"""The app as a user meets it: `streamlit run` in Chromium, on the demo cohort."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from models.auth import WRONG_CREDENTIALS
from tests.support.browser import wait_for_app_idle

pytestmark = pytest.mark.browser
EVERY_PAGE = ["Worklist", "Log adverse event", "Patients", "Cohort vs BOLERO-2", "Dosing audit", "Admin"]


def open_app(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    wait_for_app_idle(page, timeout_ms=60_000)
    page.get_by_role("heading", level=1).first.wait_for(timeout=30_000)
    return time.perf_counter() - started


def sign_in(page, url: str, username: str, password: str = "demo") -> None:
    open_app(page, url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_app_idle(page)


def menu(page) -> list[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=30_000)
    # Each link holds an icon ligature and the title; the title is the link's last line.
    return [link.inner_text().strip().splitlines()[-1] for link in nav.locator("a").all()]


def heading(page) -> str:
    return page.get_by_role("heading", level=1).first.inner_text()


def test_the_first_page_asks_to_sign_in_and_refuses_a_wrong_password(page, app_url):
    seconds = open_app(page, app_url)
    print(f"sign-in page rendered in {seconds:.2f} s")
    assert heading(page) == "Sign in to ToxWatch"
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    sign_in(page, app_url, "nurse", "wrong password")
    page.get_by_text(WRONG_CREDENTIALS).wait_for(timeout=30_000)
    assert heading(page) == "Sign in to ToxWatch"


def test_nurse_sees_logging_but_not_the_dosing_audit(page, app_url):
    sign_in(page, app_url, "nurse")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=30_000)
    items = menu(page)
    assert "Worklist" in items and "Log adverse event" in items and "Patients" in items
    assert "Dosing audit" not in items and "Admin" not in items


def test_pharmacist_sees_the_dosing_audit(page, app_url):
    sign_in(page, app_url, "pharmacist")
    page.get_by_role("heading", level=1, name="Dosing audit").wait_for(timeout=30_000)
    assert set(menu(page)) == {"Worklist", "Dosing audit", "Patients"}


def test_oncologist_sees_the_cohort_comparison_chart(page, app_url):
    sign_in(page, app_url, "oncologist")
    page.get_by_role("heading", level=1, name="Worklist").wait_for(timeout=30_000)
    assert set(menu(page)) == {"Worklist", "Patients", "Cohort vs BOLERO-2"}
    page.locator("[data-testid='stSidebarNav']").get_by_text("Cohort vs BOLERO-2", exact=True).click()
    page.get_by_role("heading", level=1, name="Cohort vs BOLERO-2").wait_for(timeout=30_000)
    wait_for_app_idle(page)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.wait_for(timeout=30_000)
    assert chart.locator("canvas, svg").count() > 0


def test_admin_opens_every_page_without_errors(page, app_url):
    sign_in(page, app_url, "admin")
    page.get_by_role("heading", level=1, name="Admin").wait_for(timeout=30_000)
    assert menu(page) == EVERY_PAGE
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in EVERY_PAGE:
        started = time.perf_counter()
        nav.get_by_text(title, exact=True).click()
        page.get_by_role("heading", level=1, name=title).wait_for(timeout=30_000)
        wait_for_app_idle(page, timeout_ms=30_000)
        print(f"{title}: {time.perf_counter() - started:.2f} s")
        assert page.locator("[data-testid='stException']").count() == 0, title
        # The page's main content (it may still be drawing after the heading: wait for it, do not count yet)
        if title == "Log adverse event":  # starts with the patient picker, not a table
            page.get_by_label("Patient").first.wait_for(timeout=30_000)
        else:
            page.locator("[data-testid='stDataFrame'], [data-testid='stVegaLiteChart']").first \
                .wait_for(timeout=30_000)
        if title == "Patients":
            assert page.locator("[data-testid='stMetricValue']").first.inner_text() == "120"
            if os.environ.get("TOXWATCH_SCREENSHOT_DIR"):
                page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible")
                Path(os.environ["TOXWATCH_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(os.environ["TOXWATCH_SCREENSHOT_DIR"]) / "patients.png"))
