"""A running app on the demo cohort and a Chromium page, for the Playwright tests."""
from __future__ import annotations

import pytest

from tests.support.browser import streamlit_server


@pytest.fixture(scope="session")
def app_url(demo_sqlite_url):
    with streamlit_server(demo_sqlite_url) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
