"""A running app on the demo cohort and a Chromium page, for the Playwright tests."""
from __future__ import annotations

import pytest

from tests.support.browser import streamlit_server


@pytest.fixture(scope="session")
def app_url(demo_sqlite_url):
    with streamlit_server(demo_sqlite_url) as url:
        yield url


@pytest.fixture(scope="session")
def writable_demo(demo_sqlite_url, tmp_path_factory):
    """(app URL, database URL) of a server on a private copy of the demo database, for the browser tests that
    add records: the shared one must stay as seeded (page tests count its 120 patients)."""
    import sqlite3

    from models.store.db import dispose_engine

    path = tmp_path_factory.mktemp("writable") / "demo.db"
    source, target = sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")), sqlite3.connect(path)
    source.backup(target)
    target.close()
    source.close()
    url = f"sqlite:///{path}"
    with streamlit_server(url) as app:
        yield app, url
    dispose_engine(url)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
