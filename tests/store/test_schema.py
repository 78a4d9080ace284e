"""The schema on SQLite and PostgreSQL: migrations are idempotent and constraints live in the database."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from models.store.db import get_engine, write_session
from models.store.migrate import current_revision, head_revision, upgrade_to_head
from models.store.tables import AdverseEvent, AuditEntry, DoseEvent, LabResult, Patient, User


def _schema_snapshot(url: str) -> dict:
    inspector = inspect(get_engine(url))
    return {table: sorted(col["name"] for col in inspector.get_columns(table))
            for table in sorted(inspector.get_table_names())}


def test_upgrade_creates_schema_then_changes_nothing(empty_url):
    assert current_revision(empty_url) is None
    assert upgrade_to_head(empty_url) is True
    first = _schema_snapshot(empty_url)
    assert upgrade_to_head(empty_url) is False
    assert _schema_snapshot(empty_url) == first
    assert current_revision(empty_url) == head_revision()
    assert {"patient", "adverse_event", "lab_result", "dose_event", "audit_entry", "app_user",
            "app_setting"} <= set(first)


def test_the_migrations_build_exactly_the_tables_the_code_declares(empty_url):
    """Every column and index of models/store/tables.py exists after the migrations, and nothing else: a table
    change without its migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    upgrade_to_head(empty_url)
    with get_engine(empty_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migration_0006_fills_the_last_countable_day_and_0012_drops_it(empty_url):
    """Migration 0006 computes counted_until for the summary rows already there: 30 days after the first
    active discontinuation; none for a patient who never stopped."""
    from alembic import command

    from models.store.migrate import alembic_config

    command.upgrade(alembic_config(empty_url), "0005")
    stamp = {"now": "2026-01-05 09:00:00"}
    with get_engine(empty_url).begin() as connection:
        for pid in (1, 2):
            connection.execute(text(
                "INSERT INTO patient (id, mrn, name, treatment_start, planned_dose_mg, status, record_status, "
                "version, created_by, created_at) VALUES "
                f"({pid}, 'M-{pid}', 'P', '2026-01-05', 10, 'on_treatment', 'active', 1, 't', :now)"), stamp)
            connection.execute(text(
                "INSERT INTO term_onset_summary (patient_id, term, first_onset, worst_grade) "
                f"VALUES ({pid}, 'Mucositis oral', '2026-01-20', 2)"))
        for day, action, dose, status in (("2026-01-05", "start", 10, "active"),
                                          ("2026-02-01", "discontinue", 0, "entered_in_error"),
                                          ("2026-02-10", "discontinue", 0, "active"),
                                          ("2026-04-01", "discontinue", 0, "active")):
            connection.execute(text(
                "INSERT INTO dose_event (patient_id, effective_date, action, dose_mg, every_other_day, "
                "record_status, version, created_by, created_at) "
                f"VALUES (1, '{day}', '{action}', {dose}, false, '{status}', 1, 't', :now)"), stamp)
    command.upgrade(alembic_config(empty_url), "0006")
    with get_engine(empty_url).connect() as connection:
        rows = connection.execute(text("SELECT patient_id, counted_until FROM term_onset_summary "
                                       "ORDER BY patient_id")).all()
    assert [(pid, None if until is None else str(until)[:10]) for pid, until in rows] == [
        (1, "2026-03-12"), (2, None)]
    # Migration 0012 drops the column again (exposure periods decide what counts) and keeps the rows.
    assert upgrade_to_head(empty_url) is True
    with get_engine(empty_url).connect() as connection:
        kept = connection.execute(text("SELECT patient_id FROM term_onset_summary ORDER BY patient_id")).scalars()
        assert list(kept) == [1, 2]
        columns = [c["name"] for c in inspect(connection).get_columns("term_onset_summary")]
    assert "counted_until" not in columns


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with get_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def _patient(**overrides) -> Patient:
    values = dict(mrn="MRN-1", name="Test Person", treatment_start=date(2026, 1, 5), created_by="tester")
    return Patient(**{**values, **overrides})


def _insert(url: str, *rows) -> None:
    with write_session(url) as session:
        for row in rows:
            session.add(row)
            session.flush()


def _patient_id(url: str) -> int:
    _insert(url, _patient())
    with get_engine(url).connect() as connection:
        return connection.execute(text("SELECT id FROM patient WHERE mrn = 'MRN-1'")).scalar_one()


def _event(patient_id: int, **overrides) -> AdverseEvent:
    values = dict(patient_id=patient_id, term="Mucositis oral", grade=2, onset_date=date(2026, 2, 1),
                  created_by="tester")
    return AdverseEvent(**{**values, **overrides})


def test_mrn_is_unique(db_url):
    _insert(db_url, _patient())
    with pytest.raises(IntegrityError):
        _insert(db_url, _patient(name="Someone Else"))


@pytest.mark.parametrize("overrides", [
    {"grade": 0}, {"grade": 6}, {"resolved_date": date(2026, 1, 31)}, {"grade": 5},
    {"attribution": "maybe"}, {"action_taken": "paused"}, {"source": "rumour"}, {"record_status": "deleted"},
    {"onset_date": None},
], ids=["grade-0", "grade-6", "resolved-before-onset", "grade-5-without-death-date", "attribution",
        "action-taken", "source", "record-status", "onset-missing"])
def test_adverse_event_constraints(db_url, overrides):
    patient_id = _patient_id(db_url)
    with pytest.raises(IntegrityError):
        _insert(db_url, _event(patient_id, **overrides))


def test_adverse_event_needs_an_existing_patient(db_url):
    with pytest.raises(IntegrityError):
        _insert(db_url, _event(999_999))


@pytest.mark.parametrize("overrides", [
    {"status": "paused"}, {"planned_dose_mg": 0}, {"treatment_start": None}, {"mrn": None},
], ids=["status", "dose-zero", "start-missing", "mrn-missing"])
def test_patient_constraints(db_url, overrides):
    with pytest.raises(IntegrityError):
        _insert(db_url, _patient(**overrides))


@pytest.mark.parametrize("overrides", [
    {"action": "pause"}, {"action": "hold", "dose_mg": 5.0}, {"action": "resume", "dose_mg": 0.0},
    {"dose_mg": -1.0}, {"effective_date": None},
], ids=["action", "hold-with-dose", "resume-without-dose", "negative-dose", "date-missing"])
def test_dose_event_constraints(db_url, overrides):
    patient_id = _patient_id(db_url)
    values = dict(patient_id=patient_id, effective_date=date(2026, 1, 5), action="start", dose_mg=10.0,
                  created_by="tester")
    with pytest.raises(IntegrityError):
        _insert(db_url, DoseEvent(**{**values, **overrides}))


def test_lab_and_user_enumerations(db_url):
    patient_id = _patient_id(db_url)
    with pytest.raises(IntegrityError):
        _insert(db_url, LabResult(patient_id=patient_id, test="cholesterol", value=5.0,
                                  collected_on=date(2026, 1, 5), created_by="tester"))
    with pytest.raises(IntegrityError):
        _insert(db_url, User(username="x", display_name="X", role="janitor"))


def test_valid_rows_are_accepted(db_url):
    patient_id = _patient_id(db_url)
    _insert(db_url, _event(patient_id, grade=5, death_date=date(2026, 3, 1), resolved_date=date(2026, 3, 1)),
            DoseEvent(patient_id=patient_id, effective_date=date(2026, 1, 5), action="start", dose_mg=10.0,
                      created_by="tester"),
            LabResult(patient_id=patient_id, test="hemoglobin", value=11.2, unit="g/dL",
                      collected_on=date(2026, 1, 5), created_by="tester"))
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM adverse_event")).scalar_one() == 1
        assert connection.execute(text("SELECT count(*) FROM dose_event")).scalar_one() == 1


@pytest.mark.parametrize("table", ["patient", "adverse_event", "lab_result", "dose_event"])
def test_the_database_refuses_to_delete_clinical_rows(db_url, table):
    patient_id = _patient_id(db_url)
    _insert(db_url, _event(patient_id),
            DoseEvent(patient_id=patient_id, effective_date=date(2026, 1, 5), action="start", dose_mg=10.0,
                      created_by="tester"),
            LabResult(patient_id=patient_id, test="hemoglobin", value=11.2, collected_on=date(2026, 1, 5),
                      created_by="tester"))
    with pytest.raises(Exception, match="never deleted"):
        with write_session(db_url) as session:
            session.execute(text(f"DELETE FROM {table}"))
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


def test_the_audit_trail_is_append_only(db_url):
    with write_session(db_url) as session:
        session.add(AuditEntry(username="tester", action="create", record_type="patient", record_id=1))
    for statement in ("UPDATE audit_entry SET username = 'someone else'", "DELETE FROM audit_entry"):
        with pytest.raises(Exception, match="append-only"):
            with write_session(db_url) as session:
                session.execute(text(statement))
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text("SELECT username FROM audit_entry")).scalar_one() == "tester"


def test_sqlite_replace_cannot_walk_around_the_guards(tmp_path):
    """INSERT OR REPLACE (SQLite's) deletes the row it replaces; recursive triggers make that delete meet the
    guards."""
    db_url = f"sqlite:///{tmp_path / 'replace.db'}"
    upgrade_to_head(db_url)
    patient_id = _patient_id(db_url)
    _insert(db_url, _event(patient_id))
    with write_session(db_url) as session:
        session.add(AuditEntry(username="tester", action="create", record_type="patient", record_id=1))
    with get_engine(db_url).connect() as connection:
        entry_id = connection.execute(text("SELECT id FROM audit_entry")).scalar_one()
        event = connection.execute(text("SELECT * FROM adverse_event")).mappings().one()
    with pytest.raises(Exception, match="append-only"):
        with write_session(db_url) as session:
            session.execute(text("INSERT OR REPLACE INTO audit_entry (id, at, username, action) "
                                 "VALUES (:id, '2026-01-01', 'forger', 'create')"), {"id": entry_id})
    columns = ", ".join(event.keys())
    with pytest.raises(Exception, match="never deleted"):
        with write_session(db_url) as session:
            session.execute(text(f"REPLACE INTO adverse_event ({columns}) VALUES "
                                 f"({', '.join(':' + c for c in event.keys())})"), {**event, "grade": 4})
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text("SELECT username FROM audit_entry")).scalar_one() == "tester"
        assert connection.execute(text("SELECT grade FROM adverse_event")).scalar_one() == event["grade"]


def test_the_database_refuses_to_delete_a_finding_review(db_url):
    from models.store import records

    patient_id = _patient_id(db_url)
    records.create("finding_review", {"finding_key": "hold:1", "patient_id": patient_id, "rule": "HOLD-REASON",
                                      "decision": "justified", "comment": "planned surgery"},
                   records.Actor("pia", "pharmacist"), url=db_url)
    with pytest.raises(Exception, match="never deleted"):
        with write_session(db_url) as session:
            session.execute(text("DELETE FROM finding_review"))
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM finding_review")).scalar_one() == 1


def test_the_database_refuses_an_mrn_that_differs_only_in_case(db_url):
    """The last line behind the write path's look-alike check, for two registrations at the same moment."""
    insert = text("INSERT INTO patient (mrn, name, treatment_start, planned_dose_mg, status, record_status, "
                  "version, created_by, created_at) VALUES (:mrn, 'P', '2026-01-05', 10, 'on_treatment', "
                  "'active', 1, 't', '2026-01-05 09:00:00')")
    with get_engine(db_url).begin() as connection:
        connection.execute(insert, {"mrn": "RACE-1"})
    with pytest.raises(IntegrityError) as refused, get_engine(db_url).begin() as connection:
        connection.execute(insert, {"mrn": "race-1"})
    assert "uq_patient_mrn_folded" in str(refused.value.orig)
