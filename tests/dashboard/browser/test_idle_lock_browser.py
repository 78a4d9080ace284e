"""The idle timeout in Chromium: the page hides itself when the time passes, without a click, and the right
password brings it back with what was typed into a form (never sent) still there. Before, the patient page
stayed readable until the next click, and that click signed out and lost the form."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import auth
from tests.dashboard.browser.test_app_browser import sign_in
from tests.support.browser import streamlit_server, wait_for_app_idle

pytestmark = pytest.mark.browser
TYPED = "idle-draft-user"


@pytest.fixture(scope="module")
def quick_timeout_url(demo_sqlite_url):
    with streamlit_server(demo_sqlite_url, env={"TOXWATCH_IDLE_TIMEOUT_MINUTES": "0.1"}) as url:  # 6 s
        yield url


def test_the_page_hides_when_idle_and_comes_back_as_typed(page, quick_timeout_url, demo_sqlite_url):
    sign_in(page, quick_timeout_url, "admin")
    title = page.get_by_role("heading", name="Admin", level=1)
    expect(title).to_be_visible(timeout=30_000)
    username = page.get_by_label("Username", exact=True)
    username.fill(TYPED)  # typed into a form: nothing reaches the server before "Add user"

    lock = page.get_by_text("Signed out after 0.1 minutes without activity.")
    expect(lock).to_be_visible(timeout=20_000)  # no click needed
    expect(title).to_be_hidden()
    expect(page.locator("[data-testid='stSidebar']")).to_be_hidden()

    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_text(auth.WRONG_CREDENTIALS)).to_be_visible(timeout=20_000)
    expect(title).to_be_hidden()

    page.get_by_label("Password", exact=True).fill("demo")
    page.get_by_role("button", name="Sign in again").click()
    expect(lock).to_be_hidden(timeout=20_000)
    expect(title).to_be_visible()
    wait_for_app_idle(page)
    assert page.get_by_label("Username", exact=True).input_value() == TYPED
    assert TYPED not in {u.username for u in auth.list_users(demo_sqlite_url)}  # typed, never sent
