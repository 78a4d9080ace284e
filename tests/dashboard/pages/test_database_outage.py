"""When the database is unreachable or locked, the page says so, keeps the user's input, and works again
once the database is back — without a restart."""
from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from models import settings
from models.store import db, queries, records
from models.store.db import dispose_engine
from models.store.migrate import upgrade_to_head
from tests.conftest import require_or_skip
from tests.dashboard.pages.test_pages import APP, signed_in_account
from tests.support.pg_server import TemporaryPostgres, postgres_unavailable_reason

NURSE = records.Actor("nurse", "nurse")


def prepare(url: str) -> None:
    upgrade_to_head(url)
    records.create("patient", {"mrn": "OUT-1", "name": "Outage Test",
                               "treatment_start": date.today() - timedelta(days=30)}, NURSE, url=url)


def fill_form(monkeypatch, url: str) -> AppTest:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(url, "nurse")
    app.run()
    app.switch_page("app_pages/log_event.py").run()  # the nurse's home is the worklist
    picker = app.selectbox(key="log_patient")
    picker.set_value(picker.options and int(queries.patient_id_for_mrn("OUT-1", url))).run()
    app.selectbox(key="event_term").select("Fatigue").run()
    next(r for r in app.radio if r.label == "CTCAE v5 grade").set_value(2)
    next(t for t in app.text_area if t.label == "Notes").input("typed before the outage")
    return app


def save(app: AppTest) -> AppTest:
    next(b for b in app.button if b.label == "Save event").click().run()
    return app


def assert_input_kept(app: AppTest) -> None:
    assert next(r for r in app.radio if r.label == "CTCAE v5 grade").value == 2
    assert next(t for t in app.text_area if t.label == "Notes").value == "typed before the outage"
    assert app.selectbox(key="event_term").value == "Fatigue"


def test_a_locked_sqlite_database_is_reported_and_the_save_works_once_it_is_free(monkeypatch, tmp_path):
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)  # a short wait, so the test stays quick
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    prepare(url)
    dispose_engine(url)
    app = fill_form(monkeypatch, url)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        save(app)
        assert not app.exception
        assert any("busy" in e.value and "nothing was saved" in e.value for e in app.error), \
            [e.value for e in app.error]
        assert_input_kept(app)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(queries.adverse_events(url)) == 0
    save(app)
    assert any("): Fatigue grade 2" in s.value for s in app.success)
    assert len(queries.adverse_events(url)) == 1
    dispose_engine(url)


def test_an_unreachable_postgresql_is_reported_and_the_app_recovers_without_restart(monkeypatch):
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")
    server = TemporaryPostgres().start()
    try:
        url = server.create_database("outage")
        prepare(url)
        app = fill_form(monkeypatch, url)
        server.pause()
        save(app)
        assert not app.exception
        assert any("cannot be reached" in e.value and "nothing was saved" in e.value for e in app.error), \
            [e.value for e in app.error]
        assert_input_kept(app)
        app.run()  # a page rerun while the database is down: a message, not a traceback
        assert not app.exception
        assert any("cannot be reached" in e.value for e in app.error)
        server.resume()
        app.run()
        assert not app.exception and not app.error
        save(app)
        assert any("): Fatigue grade 2" in s.value for s in app.success), [e.value for e in app.error]
        assert len(queries.adverse_events(url)) == 1
    finally:
        dispose_engine(url)
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_engines():
    yield
    db._engines.clear()


def test_pooled_postgresql_connections_idle_for_a_while_are_checked_before_use(monkeypatch):
    """After a server restart, a connection that sat in the pool longer than PING_AFTER_IDLE_S is found
    dead and replaced before the read, so the first page load after the outage just works."""
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.2)
    server = TemporaryPostgres().start()
    try:
        url = server.create_database("idle")
        prepare(url)
        assert len(queries.patients(url)) == 1  # leaves a connection in the pool
        server.pause()
        server.resume()
        time.sleep(0.3)
        assert len(queries.patients(url)) == 1
        assert len(records.create("adverse_event", {"patient_id": int(queries.patients(url)["id"][0]),
                                                    "term": "Fatigue", "grade": 1,
                                                    "onset_date": date.today()}, NURSE, url=url)) > 0
    finally:
        dispose_engine(url)
        server.stop()


def test_an_import_while_postgresql_is_unreachable_says_so_and_writes_nothing(tmp_path):
    require_or_skip(postgres_unavailable_reason(), "PostgreSQL")
    from models.exchange import csv_import

    server = TemporaryPostgres().start()
    files = {"adverse_events.csv": b"mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                                   + f"OUT-1,Fatigue,1,{date.today() - timedelta(days=3)},,no,,,\n".encode()}
    try:
        url = server.create_database("import_outage")
        prepare(url)
        queries.patient_id_for_mrn("OUT-1", url)  # a pooled connection, which the pause will break
        server.pause()
        with pytest.raises(records.DatabaseUnavailable, match="cannot be reached right now; nothing was saved"):
            csv_import.import_files(files, NURSE, url=url)
        server.resume()
        assert len(queries.adverse_events(url)) == 0
        report = csv_import.import_files(files, NURSE, url=url)
        assert report.ok and report.written, report.problems
        assert len(queries.adverse_events(url)) == 1
    finally:
        dispose_engine(url)
        server.stop()
