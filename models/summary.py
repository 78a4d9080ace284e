"""The per-patient, per-term onset summary (tables.TermOnsetSummary): rebuilt in bulk after seeding and
refreshed for one patient inside every write that can change it, in the same transaction."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, case, delete, func, insert, select

from models.tables import AdverseEvent, Patient, TermOnsetSummary


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


_COLUMNS = ["patient_id", "term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "worst_grade"]
_SUMMARY = TermOnsetSummary.__table__


def _refresh_statements(by_term: bool):
    """DELETE and INSERT ... SELECT for one patient (and some terms), built once: every save runs them, and
    building SQLAlchemy statements costs more Python time than SQLite takes to run them."""
    patient, terms = bindparam("patient_id"), bindparam("terms", expanding=True)
    stale = delete(TermOnsetSummary.__table__).where(_SUMMARY.c.patient_id == patient)
    fresh = _aggregate().where(AdverseEvent.patient_id == patient)
    if by_term:
        stale = stale.where(_SUMMARY.c.term.in_(terms))
        fresh = fresh.where(AdverseEvent.term.in_(terms))
    return stale, insert(_SUMMARY).from_select(_COLUMNS, fresh)


_REFRESH = {False: _refresh_statements(False), True: _refresh_statements(True)}


def refresh_patient(session, patient_id: int, terms: tuple[str, ...] | None = None) -> None:
    """Recompute one patient's rows (after any write to their events or to the patient); `terms` limits it
    to the terms an event write touched, which keeps each save short."""
    connection = session.connection()
    parameters = {"patient_id": patient_id} | ({} if terms is None else {"terms": list(terms)})
    for statement in _REFRESH[terms is not None]:
        connection.execute(statement, parameters)


def rebuild(session) -> None:
    """Recompute every row (after a bulk load that bypassed the write path)."""
    session.execute(delete(TermOnsetSummary.__table__))
    session.execute(insert(_SUMMARY).from_select(_COLUMNS, _aggregate()))


def _days_between(later, earlier, dialect: str):
    """Whole days from `earlier` to `later` in SQL (SQLite has no date subtraction)."""
    if dialect == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return later - earlier


def cohort_counts(connection, as_of, follow_up_days: int = 30) -> tuple[int, dict[int, dict[str, int]]]:
    """(exposed patients, {grade: {term: patients}}) for grades 1, 2 and 3: treatment-emergent first onsets
    on or before the analysis date and no later than `follow_up_days` after the first discontinuation.
    One GROUP BY over the summary; no event rows are read."""
    from models.tables import DoseEvent

    dialect = connection.dialect.name
    stops = select(DoseEvent.patient_id, func.min(DoseEvent.effective_date).label("stopped_on")).where(
        DoseEvent.record_status == "active", DoseEvent.action == "discontinue",
        DoseEvent.effective_date <= as_of).group_by(DoseEvent.patient_id).subquery()

    def counted(column):
        within = and_(column.is_not(None), column <= as_of,
                      (stops.c.stopped_on.is_(None))
                      | (_days_between(column, stops.c.stopped_on, dialect) <= follow_up_days))
        return func.sum(case((within, 1), else_=0))

    columns = (TermOnsetSummary.first_onset, TermOnsetSummary.first_onset_grade_2,
               TermOnsetSummary.first_onset_grade_3)
    statement = select(TermOnsetSummary.term, *(counted(c) for c in columns)) \
        .join(Patient, Patient.id == TermOnsetSummary.patient_id) \
        .outerjoin(stops, stops.c.patient_id == TermOnsetSummary.patient_id) \
        .where(Patient.record_status == "active", Patient.treatment_start <= as_of) \
        .group_by(TermOnsetSummary.term)
    per_grade: dict[int, dict[str, int]] = {1: {}, 2: {}, 3: {}}
    for term, *counts in connection.execute(statement):
        for grade, count in zip((1, 2, 3), counts):
            per_grade[grade][term] = int(count or 0)
    exposed = connection.execute(select(func.count()).select_from(Patient).where(
        Patient.record_status == "active", Patient.treatment_start <= as_of)).scalar_one()
    return int(exposed), per_grade


def cohort_counts_for(url: str | None, as_of) -> tuple[int, dict[int, dict[str, int]]]:
    from models.db import get_engine

    with get_engine(url).connect() as connection:
        return cohort_counts(connection, as_of)
