"""The per-patient, per-term onset summary (tables.TermOnsetSummary): rebuilt in bulk after seeding and
refreshed for one patient inside every write that can change it, in the same transaction."""
from __future__ import annotations

import functools

from sqlalchemy import and_, bindparam, case, delete, func, insert, select

from models.store.db import in_lists
from models.store.tables import AdverseEvent, Patient, TermOnsetSummary

_SUMMARY = TermOnsetSummary.__table__
_COLUMNS = ["patient_id", "term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "worst_grade"]


def _aggregate():
    eligible = and_(AdverseEvent.record_status == "active", AdverseEvent.baseline.is_(False),
                    AdverseEvent.onset_date >= Patient.treatment_start, Patient.record_status == "active")
    return select(
        AdverseEvent.patient_id, AdverseEvent.term, func.min(AdverseEvent.onset_date),
        func.min(case((AdverseEvent.grade >= 2, AdverseEvent.onset_date))),
        func.min(case((AdverseEvent.grade >= 3, AdverseEvent.onset_date))),
        func.max(AdverseEvent.grade),
    ).join(Patient, Patient.id == AdverseEvent.patient_id).where(eligible) \
        .group_by(AdverseEvent.patient_id, AdverseEvent.term)


@functools.cache
def _refresh_statements(by_term: bool) -> tuple:
    """DELETE and INSERT ... SELECT for some patients (and, for one patient, some terms), built once: every
    save runs them, and building SQLAlchemy statements costs more Python time than SQLite takes to run them."""
    if by_term:
        patient, terms = bindparam("patient_id"), bindparam("terms", expanding=True)
        stale = delete(TermOnsetSummary.__table__).where(_SUMMARY.c.patient_id == patient, _SUMMARY.c.term.in_(terms))
        fresh = _aggregate().where(AdverseEvent.patient_id == patient, AdverseEvent.term.in_(terms))
    else:
        patients = bindparam("patient_ids", expanding=True)
        stale = delete(TermOnsetSummary.__table__).where(_SUMMARY.c.patient_id.in_(patients))
        fresh = _aggregate().where(AdverseEvent.patient_id.in_(patients))
    return stale, insert(_SUMMARY).from_select(_COLUMNS, fresh)


@functools.cache
def _add_statement(dialect: str):
    """INSERT ... SELECT ... ON CONFLICT DO UPDATE for one patient and term: after a new event the term's
    row can only appear or change, never go, so one upsert replaces the DELETE and the INSERT."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    else:
        from sqlalchemy.dialects.postgresql import insert as upsert
    fresh = _aggregate().where(AdverseEvent.patient_id == bindparam("patient_id"),
                                      AdverseEvent.term == bindparam("term"))
    statement = upsert(_SUMMARY).from_select(_COLUMNS, fresh)
    return statement.on_conflict_do_update(
        index_elements=["patient_id", "term"],
        set_={column: statement.excluded[column] for column in _COLUMNS if column not in ("patient_id", "term")})


def refresh_patient(session, patient_id: int, terms: tuple[str, ...] | None = None) -> None:
    """Recompute one patient's rows (after any write to their events or to the patient); `terms` limits it
    to the terms an event write touched, which keeps each save short."""
    if terms is None:
        refresh_patients(session, [patient_id])
        return
    connection = session.connection()
    for statement in _refresh_statements(True):
        connection.execute(statement, {"patient_id": patient_id, "terms": list(terms)})


def refresh_patients(session, patient_ids: list[int]) -> None:
    """Recompute the rows of many patients (the end of an import), a few hundred per statement."""
    connection = session.connection()
    statements = _refresh_statements(False)
    for some in in_lists(patient_ids):
        for statement in statements:
            connection.execute(statement, {"patient_ids": some})


def add_event(session, event: dict) -> None:
    """Bring one patient's row of a term up to date after a new event that is not pre-existing."""
    connection = session.connection()
    connection.execute(_add_statement(connection.dialect.name),
                       {"patient_id": event["patient_id"], "term": event["term"]})


def rebuild(session) -> None:
    """Recompute every row (after a bulk load that bypassed the write path)."""
    session.execute(delete(TermOnsetSummary.__table__))
    session.execute(insert(_SUMMARY).from_select(_COLUMNS, _aggregate()))


def repair(session) -> int:
    """The summary's guard: it holds no record of its own, only what follows from the events, so `init`
    compares it with a fresh aggregate and rebuilds it when a row was changed outside the write path (a
    REPLACE on SQLite, an owner's statement on PostgreSQL). Returns how many rows differed."""
    connection = session.connection()
    fresh = _aggregate().subquery()
    stored = select(*[_SUMMARY.c[name] for name in _COLUMNS])
    expected = select(*fresh.c)
    differing = sum(connection.execute(select(func.count()).select_from(difference.subquery())).scalar_one()
                    for difference in (stored.except_(expected), expected.except_(stored)))
    if differing:
        rebuild(session)
    return differing
