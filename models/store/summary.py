"""The per-patient, per-term onset summary (tables.TermOnsetSummary): rebuilt in bulk after seeding and
refreshed for one patient inside every write that can change it, in the same transaction."""
from __future__ import annotations

import functools

from sqlalchemy import and_, bindparam, case, delete, func, insert, select, update

from models.clinical.definitions import FOLLOW_UP_AFTER_STOP_DAYS
from models.store.db import in_lists
from models.store.tables import AdverseEvent, DoseEvent, Patient, TermOnsetSummary

_SUMMARY = TermOnsetSummary.__table__
_COLUMNS = ["patient_id", "term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "worst_grade",
            "counted_until"]


def _plus_days(day, days: int, dialect: str):
    """A date `days` later, in SQL (SQLite keeps dates as ISO text, which also compares in date order)."""
    if dialect == "sqlite":
        return func.date(day, f"+{int(days)} days")
    return day + days


def _counted_until(patient_id, dialect: str):
    """The last day an onset counts as treatment-emergent: 30 days after the patient's first
    discontinuation (NULL while they never stopped)."""
    return select(_plus_days(func.min(DoseEvent.effective_date), FOLLOW_UP_AFTER_STOP_DAYS, dialect)).where(
        DoseEvent.patient_id == patient_id, DoseEvent.record_status == "active",
        DoseEvent.action == "discontinue").scalar_subquery()


def _aggregate(dialect: str):
    eligible = and_(AdverseEvent.record_status == "active", AdverseEvent.baseline.is_(False),
                    AdverseEvent.onset_date >= Patient.treatment_start, Patient.record_status == "active")
    return select(
        AdverseEvent.patient_id, AdverseEvent.term, func.min(AdverseEvent.onset_date),
        func.min(case((AdverseEvent.grade >= 2, AdverseEvent.onset_date))),
        func.min(case((AdverseEvent.grade >= 3, AdverseEvent.onset_date))),
        func.max(AdverseEvent.grade), _counted_until(AdverseEvent.patient_id, dialect),
    ).join(Patient, Patient.id == AdverseEvent.patient_id).where(eligible) \
        .group_by(AdverseEvent.patient_id, AdverseEvent.term)


@functools.cache
def _refresh_statements(dialect: str, by_term: bool) -> tuple:
    """DELETE and INSERT ... SELECT for some patients (and, for one patient, some terms), built once: every
    save runs them, and building SQLAlchemy statements costs more Python time than SQLite takes to run them."""
    if by_term:
        patient, terms = bindparam("patient_id"), bindparam("terms", expanding=True)
        stale = delete(TermOnsetSummary.__table__).where(_SUMMARY.c.patient_id == patient, _SUMMARY.c.term.in_(terms))
        fresh = _aggregate(dialect).where(AdverseEvent.patient_id == patient, AdverseEvent.term.in_(terms))
    else:
        patients = bindparam("patient_ids", expanding=True)
        stale = delete(TermOnsetSummary.__table__).where(_SUMMARY.c.patient_id.in_(patients))
        fresh = _aggregate(dialect).where(AdverseEvent.patient_id.in_(patients))
    return stale, insert(_SUMMARY).from_select(_COLUMNS, fresh)


@functools.cache
def _add_statement(dialect: str):
    """INSERT ... SELECT ... ON CONFLICT DO UPDATE for one patient and term: after a new event the term's
    row can only appear or change, never go, so one upsert replaces the DELETE and the INSERT."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    else:
        from sqlalchemy.dialects.postgresql import insert as upsert
    fresh = _aggregate(dialect).where(AdverseEvent.patient_id == bindparam("patient_id"),
                                      AdverseEvent.term == bindparam("term"))
    statement = upsert(_SUMMARY).from_select(_COLUMNS, fresh)
    return statement.on_conflict_do_update(
        index_elements=["patient_id", "term"],
        set_={column: statement.excluded[column] for column in _COLUMNS if column not in ("patient_id", "term")})


@functools.cache
def _stop_statement(dialect: str):
    patient = bindparam("for_patient")  # not "patient_id": UPDATE reserves column names for SET values
    return update(_SUMMARY).where(_SUMMARY.c.patient_id == patient) \
        .values(counted_until=_counted_until(patient, dialect))


def refresh_patient(session, patient_id: int, terms: tuple[str, ...] | None = None) -> None:
    """Recompute one patient's rows (after any write to their events or to the patient); `terms` limits it
    to the terms an event write touched, which keeps each save short."""
    if terms is None:
        refresh_patients(session, [patient_id])
        return
    connection = session.connection()
    for statement in _refresh_statements(connection.dialect.name, True):
        connection.execute(statement, {"patient_id": patient_id, "terms": list(terms)})


def refresh_patients(session, patient_ids: list[int]) -> None:
    """Recompute the rows of many patients (the end of an import), a few hundred per statement."""
    connection = session.connection()
    statements = _refresh_statements(connection.dialect.name, False)
    for some in in_lists(patient_ids):
        for statement in statements:
            connection.execute(statement, {"patient_ids": some})


def add_event(session, event: dict) -> None:
    """Bring one patient's row of a term up to date after a new event that is not pre-existing."""
    connection = session.connection()
    connection.execute(_add_statement(connection.dialect.name),
                       {"patient_id": event["patient_id"], "term": event["term"]})


def refresh_discontinuation(session, patient_id: int) -> None:
    """Recompute one patient's counted_until (after any write to their dose records)."""
    connection = session.connection()
    connection.execute(_stop_statement(connection.dialect.name), {"for_patient": patient_id})


def rebuild(session) -> None:
    """Recompute every row (after a bulk load that bypassed the write path)."""
    dialect = session.connection().dialect.name
    session.execute(delete(TermOnsetSummary.__table__))
    session.execute(insert(_SUMMARY).from_select(_COLUMNS, _aggregate(dialect)))


def repair(session) -> int:
    """The summary's guard: it holds no record of its own, only what follows from the events, so `init`
    compares it with a fresh aggregate and rebuilds it when a row was changed outside the write path (a
    REPLACE on SQLite, an owner's statement on PostgreSQL). Returns how many rows differed."""
    connection = session.connection()
    fresh = _aggregate(connection.dialect.name).subquery()
    stored = select(*[_SUMMARY.c[name] for name in _COLUMNS])
    expected = select(*fresh.c)
    differing = sum(connection.execute(select(func.count()).select_from(difference.subquery())).scalar_one()
                    for difference in (stored.except_(expected), expected.except_(stored)))
    if differing:
        rebuild(session)
    return differing


def cohort_counts(connection, as_of) -> tuple[int, dict[int, dict[str, int]]]:
    """(exposed patients, {grade: {term: patients}}) for grades 1, 2 and 3: treatment-emergent first onsets
    on or before the analysis date and no later than 30 days after the first discontinuation.
    The counts are one pass over the summary (a covering index); no event, patient or dose rows. That needs no
    join: a summary row exists only for an active patient, and its onsets are on or after the treatment
    start, so an onset on or before the analysis date also means the patient was exposed by then."""
    def counted(column):
        return func.count().filter(column <= as_of, _SUMMARY.c.counted_until.is_(None)
                                   | (column <= _SUMMARY.c.counted_until))

    columns = (_SUMMARY.c.first_onset, _SUMMARY.c.first_onset_grade_2, _SUMMARY.c.first_onset_grade_3)
    statement = select(_SUMMARY.c.term, *(counted(c) for c in columns)).group_by(_SUMMARY.c.term)
    per_grade: dict[int, dict[str, int]] = {1: {}, 2: {}, 3: {}}
    for term, *counts in connection.execute(statement):
        for grade, count in zip((1, 2, 3), counts):
            per_grade[grade][term] = int(count or 0)
    exposed = connection.execute(select(func.count()).select_from(Patient).where(
        Patient.record_status == "active", Patient.treatment_start <= as_of)).scalar_one()
    return int(exposed), per_grade


def cohort_counts_for(url: str | None, as_of) -> tuple[int, dict[int, dict[str, int]]]:
    from models.store.db import get_engine

    with get_engine(url).connect() as connection:
        return cohort_counts(connection, as_of)
