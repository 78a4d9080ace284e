"""Shared fixtures: databases on SQLite and on a real PostgreSQL server, and clean Streamlit caches."""
from __future__ import annotations

import os
import uuid
from datetime import date

import pytest

from models.store.db import dispose_engine
from models.store.migrate import upgrade_to_head
from tests.support.pg_server import TemporaryPostgres, postgres_unavailable_reason

# The demo cohort's "today" in tests, so every figure derived from it is reproducible.
DEMO_TODAY = date(2026, 11, 1)
BACKENDS = ("sqlite", "postgresql")


def require_or_skip(reason: str | None, what: str) -> None:
    """Skip when a local tool is missing, but fail under CI, which installs everything."""
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true: {reason}")
    pytest.skip(f"{what} not available: {reason}")


@pytest.fixture(scope="session")
def postgres_server():
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")
    server = TemporaryPostgres().start()
    yield server
    server.stop()


def _new_database(backend: str, request, tmp_path_factory) -> tuple[str, callable]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "toxwatch.db"
        return f"sqlite:///{path}", lambda: None
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    return url, lambda: server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path_factory):
    """A brand-new, empty database (no schema) on each backend."""
    url, drop = _new_database(request.param, request, tmp_path_factory)
    yield url
    dispose_engine(url)
    drop()


@pytest.fixture
def db_url(empty_url):
    """A new database with the current schema and no rows."""
    upgrade_to_head(empty_url)
    return empty_url


@pytest.fixture(scope="session", params=BACKENDS)
def demo_url(request, tmp_path_factory):
    """A database holding the 120-patient demo cohort; shared by tests that only read."""
    from models.demo import seed_demo

    url, drop = _new_database(request.param, request, tmp_path_factory)
    upgrade_to_head(url)
    seed_demo(url, patients=120, seed=7, today=DEMO_TODAY)
    yield url
    dispose_engine(url)
    drop()


@pytest.fixture(scope="session")
def demo_sqlite_url(tmp_path_factory):
    """The demo cohort in a SQLite file, for page and browser tests."""
    from models.demo import seed_demo

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'toxwatch.db'}"
    upgrade_to_head(url)
    seed_demo(url, patients=120, seed=7, today=DEMO_TODAY)
    yield url
    dispose_engine(url)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run: Playwright's sync API allows one running instance per thread."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import chromium_unavailable_reason, launch_chromium

    require_or_skip(chromium_unavailable_reason(), "Chromium")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """st.cache_* outlive an AppTest run inside one pytest process."""
    yield
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def demo_copy_url(demo_sqlite_url, tmp_path):
    """A private copy of the demo database, for a page test that writes (the shared one must stay as seeded)."""
    import sqlite3

    path = tmp_path / "copy.db"
    source, target = sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")), sqlite3.connect(path)
    source.backup(target)
    target.close()
    source.close()
    yield f"sqlite:///{path}"
    dispose_engine(f"sqlite:///{path}")
