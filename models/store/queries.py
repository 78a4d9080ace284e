"""Read models for the pages: plain DataFrames, never live ORM objects."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.exc import OperationalError

from models.store.db import get_engine
from models.store.tables import (AdverseEvent, AlertReview, AuditEntry, ConcomitantMedication, DataVersion, DoseEvent, FindingReview, LabResult, Patient,
                                 TermOnsetSummary)

ACTIVE = "active"


def _frame(statement, url: str | None, *, parse_dates: list[str] | None = None) -> pd.DataFrame:
    try:
        with get_engine(url).connect() as connection:
            frame = pd.read_sql_query(statement, connection)  # not read_sql: it asks has_table() first
    except pd.errors.DatabaseError as error:
        # pandas wraps a failure during the query (e.g. the server went away); give the pages the
        # SQLAlchemy error they turn into a clear message.
        cause = _database_cause(error)
        if cause is not None:
            raise cause from None
        raise
    for column in parse_dates or []:
        # object dtype even when every value is missing (then pandas would keep datetime64, which refuses
        # comparisons with dates)
        frame[column] = pd.to_datetime(frame[column], format="ISO8601").dt.date.astype(object)
    return frame


def _database_cause(error: BaseException) -> OperationalError | None:
    """The OperationalError behind pandas' wrapper (pandas' own rollback attempt may stand in between)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OperationalError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def patients(url: str | None = None) -> pd.DataFrame:
    # Dates read as ISO text and parsed in one go: a registry has tens of thousands of patients.
    statement = select(Patient.id, Patient.mrn, Patient.name, cast(Patient.birth_date, String).label("birth_date"),
                       cast(Patient.treatment_start, String).label("treatment_start"), Patient.planned_dose_mg,
                       Patient.status) \
        .where(Patient.record_status == ACTIVE).order_by(Patient.mrn)
    return _frame(statement, url, parse_dates=["birth_date", "treatment_start"])


def adverse_events(url: str | None = None, *, patient_id: int | None = None,
                   patient_ids: list[int] | None = None) -> pd.DataFrame:
    statement = select(AdverseEvent.id, AdverseEvent.patient_id, Patient.mrn, AdverseEvent.term,
                       AdverseEvent.grade, AdverseEvent.onset_date, AdverseEvent.resolved_date,
                       AdverseEvent.death_date, AdverseEvent.serious, AdverseEvent.attribution,
                       AdverseEvent.action_taken, AdverseEvent.previous_event_id,
                       AdverseEvent.source, AdverseEvent.baseline, AdverseEvent.created_by,
                       AdverseEvent.created_at) \
        .join(Patient, Patient.id == AdverseEvent.patient_id) \
        .where(AdverseEvent.record_status == ACTIVE, Patient.record_status == ACTIVE)
    if patient_id is not None:
        statement = statement.where(AdverseEvent.patient_id == patient_id)
    if patient_ids is not None:
        statement = statement.where(AdverseEvent.patient_id.in_([int(i) for i in patient_ids]))
    return _frame(statement.order_by(AdverseEvent.onset_date, AdverseEvent.id), url,
                  parse_dates=["onset_date", "resolved_date", "death_date"])


def labs(url: str | None = None, *, patient_id: int | None = None) -> pd.DataFrame:
    statement = select(LabResult.id, LabResult.patient_id, LabResult.test, LabResult.value, LabResult.unit,
                       LabResult.lln, LabResult.uln, LabResult.collected_on, LabResult.baseline,
                       LabResult.ctcae_term, LabResult.ctcae_grade) \
        .where(LabResult.record_status == ACTIVE)
    if patient_id is not None:
        statement = statement.where(LabResult.patient_id == patient_id)
    return _frame(statement.order_by(LabResult.collected_on, LabResult.id), url, parse_dates=["collected_on"])


def dose_events(url: str | None = None, *, patient_id: int | None = None) -> pd.DataFrame:
    statement = select(DoseEvent.id, DoseEvent.patient_id, Patient.mrn, DoseEvent.effective_date,
                       DoseEvent.action, DoseEvent.dose_mg, DoseEvent.every_other_day,
                       DoseEvent.adverse_event_id, DoseEvent.reason, DoseEvent.verified_by) \
        .join(Patient, Patient.id == DoseEvent.patient_id) \
        .where(DoseEvent.record_status == ACTIVE, Patient.record_status == ACTIVE)
    if patient_id is not None:
        statement = statement.where(DoseEvent.patient_id == patient_id)
    return _frame(statement.order_by(DoseEvent.patient_id, DoseEvent.effective_date, DoseEvent.id), url,
                  parse_dates=["effective_date"])


def medications(url: str | None = None, *, patient_id: int | None = None, drugs: list[str] | None = None) -> pd.DataFrame:
    """Concomitant medications (active records of active patients), by start date; `drugs`: only these
    catalogue names."""
    statement = select(ConcomitantMedication.id, ConcomitantMedication.version, ConcomitantMedication.patient_id,
                       Patient.mrn, ConcomitantMedication.drug, ConcomitantMedication.in_catalogue,
                       ConcomitantMedication.dose, ConcomitantMedication.route, ConcomitantMedication.start_date,
                       ConcomitantMedication.stop_date, ConcomitantMedication.indication,
                       ConcomitantMedication.adverse_event_id, ConcomitantMedication.notes) \
        .join(Patient, Patient.id == ConcomitantMedication.patient_id) \
        .where(ConcomitantMedication.record_status == ACTIVE, Patient.record_status == ACTIVE)
    if patient_id is not None:
        statement = statement.where(ConcomitantMedication.patient_id == patient_id)
    if drugs is not None:
        statement = statement.where(ConcomitantMedication.drug.in_(drugs), ConcomitantMedication.in_catalogue)
    return _frame(statement.order_by(ConcomitantMedication.patient_id, ConcomitantMedication.start_date,
                                     ConcomitantMedication.id), url, parse_dates=["start_date", "stop_date"])


def recorded_terms(url: str | None = None) -> set[str]:
    """Every CTCAE term with at least one active record (any patient, any date)."""
    with get_engine(url).connect() as connection:
        return set(connection.execute(select(AdverseEvent.term).where(AdverseEvent.record_status == ACTIVE)
                                      .distinct()).scalars())


def unverified_doses(url: str | None = None) -> pd.DataFrame:
    """Dose changes (not the starts) no pharmacist has verified yet, newest first, with who entered them and
    the adverse event each answers."""
    statement = select(DoseEvent.id, DoseEvent.version, Patient.mrn, DoseEvent.effective_date, DoseEvent.action,
                       DoseEvent.dose_mg, DoseEvent.every_other_day, DoseEvent.reason, AdverseEvent.term,
                       AdverseEvent.grade, AdverseEvent.onset_date, DoseEvent.created_by, DoseEvent.created_at) \
        .join(Patient, Patient.id == DoseEvent.patient_id) \
        .join(AdverseEvent, AdverseEvent.id == DoseEvent.adverse_event_id, isouter=True) \
        .where(DoseEvent.record_status == ACTIVE, Patient.record_status == ACTIVE, DoseEvent.verified_by.is_(None),
               DoseEvent.action != "start")
    return _frame(statement.order_by(DoseEvent.effective_date.desc(), DoseEvent.id.desc()), url,
                  parse_dates=["effective_date", "onset_date"])


def audit_trail(url: str | None = None, *, username: str | None = None, mrn: str | None = None,
                record_type: str | None = None, date_from: date | None = None, date_to: date | None = None,
                limit: int = 5_000) -> pd.DataFrame:
    """Audit entries, newest first, filtered by user, patient MRN, record type and UTC date range."""
    statement = select(AuditEntry.id, AuditEntry.at, AuditEntry.username, AuditEntry.action,
                       AuditEntry.record_type, AuditEntry.record_id, Patient.mrn, AuditEntry.before,
                       AuditEntry.after, AuditEntry.detail) \
        .join(Patient, Patient.id == AuditEntry.patient_id, isouter=True)
    if username:
        statement = statement.where(AuditEntry.username == username)
    if mrn:
        statement = statement.where(Patient.mrn == mrn)
    if record_type:
        statement = statement.where(AuditEntry.record_type == record_type)
    if date_from:
        statement = statement.where(AuditEntry.at >= datetime.combine(date_from, time.min, timezone.utc))
    if date_to:
        statement = statement.where(AuditEntry.at < datetime.combine(date_to + timedelta(days=1), time.min,
                                                                     timezone.utc))
    return _frame(statement.order_by(AuditEntry.id.desc()).limit(limit), url)


def audit_count(url: str | None = None) -> int:
    with get_engine(url).connect() as connection:
        return connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def table_counts(url: str | None = None) -> dict[str, int]:

    counts = {}
    with get_engine(url).connect() as connection:
        for label, table in (("patients", Patient), ("adverse events", AdverseEvent),
                             ("lab results", LabResult), ("dose events", DoseEvent),
                             ("medications", ConcomitantMedication), ("audit entries", AuditEntry)):
            counts[label] = connection.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


def patient_choices(url: str | None = None) -> pd.DataFrame:
    """id, mrn, name, birth date, status, treatment_start of active patients, for pickers."""
    statement = select(Patient.id, Patient.mrn, Patient.name, Patient.birth_date, Patient.status,
                       Patient.treatment_start, Patient.version) \
        .where(Patient.record_status == ACTIVE).order_by(Patient.mrn)
    return _frame(statement, url, parse_dates=["treatment_start"])


def patient_record(patient_id: int, url: str | None = None) -> dict | None:
    from models.store.db import read_session

    with read_session(url) as session:
        row = session.get(Patient, patient_id)
        return None if row is None else row.model_dump()


def event_records(patient_id: int, url: str | None = None) -> pd.DataFrame:
    """A patient's active adverse events with every column an edit needs (version included)."""
    statement = select(AdverseEvent).where(AdverseEvent.patient_id == patient_id,
                                           AdverseEvent.record_status == ACTIVE) \
        .order_by(AdverseEvent.onset_date.desc(), AdverseEvent.id.desc())
    frame = _frame(statement, url, parse_dates=["onset_date", "resolved_date", "death_date"])
    return frame


def open_event(patient_id: int, term: str, url: str | None = None) -> dict | None:
    """The patient's open record of a term (id, grade, onset_date), or None: there is at most one."""
    statement = select(AdverseEvent.id, AdverseEvent.grade, AdverseEvent.onset_date).where(
        AdverseEvent.patient_id == patient_id, AdverseEvent.term == term, AdverseEvent.record_status == ACTIVE,
        AdverseEvent.resolved_date.is_(None)).limit(1)
    with get_engine(url).connect() as connection:
        row = connection.execute(statement).first()
    return dict(row._mapping) if row is not None else None


def baseline_lab_value(patient_id: int, test: str, url: str | None = None) -> float | None:
    """The patient's latest baseline value of a test (for the AST/ALT abnormal-baseline rule)."""
    statement = select(LabResult.value).where(
        LabResult.patient_id == patient_id, LabResult.test == test, LabResult.baseline.is_(True),
        LabResult.record_status == ACTIVE).order_by(LabResult.collected_on.desc(), LabResult.id.desc()).limit(1)
    with get_engine(url).connect() as connection:
        return connection.execute(statement).scalar()


def logged_since(username: str, since: datetime, url: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adverse events and labs this user created since a moment (e.g. the start of today)."""
    events = select(AdverseEvent.id, AdverseEvent.patient_id, Patient.mrn, Patient.name, AdverseEvent.term,
                    AdverseEvent.grade, AdverseEvent.onset_date, AdverseEvent.record_status, AdverseEvent.created_at) \
        .join(Patient, Patient.id == AdverseEvent.patient_id) \
        .where(AdverseEvent.created_by == username, AdverseEvent.created_at >= since) \
        .order_by(AdverseEvent.id.desc())
    lab_rows = select(LabResult.id, LabResult.patient_id, Patient.mrn, Patient.name, LabResult.test,
                      LabResult.value, LabResult.unit,
                      LabResult.ctcae_grade, LabResult.collected_on, LabResult.record_status,
                      LabResult.created_at) \
        .join(Patient, Patient.id == LabResult.patient_id) \
        .where(LabResult.created_by == username, LabResult.created_at >= since).order_by(LabResult.id.desc())
    return _frame(events, url), _frame(lab_rows, url)


def open_severe_events(url: str | None = None) -> pd.DataFrame:
    """Open grade >= 3 adverse events (not baseline), oldest first: the patients who need attention."""
    statement = select(AdverseEvent.id, AdverseEvent.patient_id, Patient.mrn, Patient.name, AdverseEvent.term,
                       AdverseEvent.grade, AdverseEvent.onset_date, AdverseEvent.serious) \
        .join(Patient, Patient.id == AdverseEvent.patient_id) \
        .where(AdverseEvent.record_status == ACTIVE, Patient.record_status == ACTIVE,
               AdverseEvent.resolved_date.is_(None), AdverseEvent.grade >= 3, AdverseEvent.baseline.is_(False)) \
        .order_by(AdverseEvent.onset_date)
    return _frame(statement, url, parse_dates=["onset_date"])


def patient_id_for_mrn(mrn: str, url: str | None = None) -> int | None:
    statement = select(Patient.id).where(Patient.mrn == mrn, Patient.record_status == ACTIVE)
    with get_engine(url).connect() as connection:
        return connection.execute(statement).scalar()


def finding_reviews(url: str | None = None) -> pd.DataFrame:
    """The latest active review of each dosing-audit finding."""
    statement = select(FindingReview.id, FindingReview.finding_key, FindingReview.decision, FindingReview.comment,
                       FindingReview.created_by, FindingReview.created_at, FindingReview.version) \
        .where(FindingReview.record_status == ACTIVE).order_by(FindingReview.id)
    frame = _frame(statement, url)
    return frame.drop_duplicates("finding_key", keep="last")


def term_onsets(url: str | None = None, *, terms: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The onset summary kept by the write path (models/store/summary.py), for active patients. Dates come back
    as datetime64 columns: read as ISO text and parsed at once, far faster than a date object per cell."""
    dates = ["first_onset", "first_onset_grade_2", "first_onset_grade_3"]
    statement = select(TermOnsetSummary.patient_id, TermOnsetSummary.term,
                       *(cast(getattr(TermOnsetSummary, c), String).label(c) for c in dates),
                       TermOnsetSummary.worst_grade) \
        .join(Patient, Patient.id == TermOnsetSummary.patient_id).where(Patient.record_status == ACTIVE)
    if terms is not None:
        statement = statement.where(TermOnsetSummary.term.in_(terms))
    frame = _frame(statement, url)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d")
    return frame


def death_dates(url: str | None = None) -> pd.Series:
    """Per patient id: the date of death recorded with a grade 5 event."""
    statement = select(AdverseEvent.patient_id, cast(func.min(AdverseEvent.death_date), String).label("died_on")) \
        .where(AdverseEvent.record_status == ACTIVE, AdverseEvent.death_date.is_not(None)) \
        .group_by(AdverseEvent.patient_id)
    frame = _frame(statement, url, parse_dates=["died_on"])
    return frame.set_index("patient_id")["died_on"]


def start_doses(url: str | None = None) -> pd.DataFrame:
    """The 'start' dose records (for the starting-dose filter)."""
    statement = select(DoseEvent.id, DoseEvent.patient_id, DoseEvent.effective_date, DoseEvent.action,
                       DoseEvent.dose_mg).where(DoseEvent.record_status == ACTIVE, DoseEvent.action == "start")
    return _frame(statement, url, parse_dates=["effective_date"])


def data_version(url: str | None = None) -> int:
    """Moves with every committed write of a record, in commit order (the counter of migration 0008). Pages
    key their caches on it, so a cached figure is never older than the last save, on any app instance."""
    with get_engine(url).connect() as connection:
        return int(connection.execute(select(DataVersion.version).where(DataVersion.id == 1)).scalar() or 0)


def roster_events(url: str | None = None, *, as_of: date, since: date) -> pd.DataFrame:
    """Events the roster looks at: treatment-emergent candidates (not baseline) with onset by the analysis
    date that were open, or began or ended after `since` — not the whole history."""
    statement = select(AdverseEvent.patient_id, AdverseEvent.term, AdverseEvent.grade, AdverseEvent.onset_date,
                       AdverseEvent.resolved_date) \
        .where(AdverseEvent.record_status == ACTIVE, AdverseEvent.baseline.is_(False),
               AdverseEvent.onset_date <= as_of,
               AdverseEvent.resolved_date.is_(None) | (AdverseEvent.resolved_date > since)
               | (AdverseEvent.onset_date > since))
    return _frame(statement, url, parse_dates=["onset_date", "resolved_date"])


def patients_with_term(url: str | None = None, *, term: str, as_of: date) -> set[int]:
    statement = select(AdverseEvent.patient_id).distinct().where(
        AdverseEvent.record_status == ACTIVE, AdverseEvent.baseline.is_(False), AdverseEvent.term == term,
        AdverseEvent.onset_date <= as_of)
    with get_engine(url).connect() as connection:
        return {int(pid) for pid in connection.execute(statement).scalars()}


def last_assessment_dates(url: str | None = None, *, as_of: date) -> pd.Series:
    """Per patient id: the latest adverse-event onset or lab collection on or before the analysis date."""
    events = select(AdverseEvent.patient_id, func.max(AdverseEvent.onset_date).label("day")).where(
        AdverseEvent.record_status == ACTIVE, AdverseEvent.baseline.is_(False),
        AdverseEvent.onset_date <= as_of).group_by(AdverseEvent.patient_id)
    lab_rows = select(LabResult.patient_id, func.max(LabResult.collected_on).label("day")).where(
        LabResult.record_status == ACTIVE, LabResult.collected_on <= as_of).group_by(LabResult.patient_id)
    both = pd.concat([_frame(events, url, parse_dates=["day"]), _frame(lab_rows, url, parse_dates=["day"])])
    return both.groupby("patient_id")["day"].max()


def lab_collections(url: str | None = None, *, as_of: date) -> pd.DataFrame:
    """Per patient and test: the latest collection on or before the analysis date, and the latest on or before
    the patient's treatment start (the baseline), for the monitoring schedule."""
    baseline = func.max(case((LabResult.collected_on <= Patient.treatment_start, LabResult.collected_on)))
    statement = select(LabResult.patient_id, LabResult.test,
                       cast(func.max(LabResult.collected_on), String).label("latest"),
                       cast(baseline, String).label("baseline")) \
        .join(Patient, Patient.id == LabResult.patient_id) \
        .where(LabResult.record_status == ACTIVE, Patient.record_status == ACTIVE, LabResult.collected_on <= as_of) \
        .group_by(LabResult.patient_id, LabResult.test)
    return _frame(statement, url, parse_dates=["latest", "baseline"])


def graded_labs_since(url: str | None = None, *, since: date, as_of: date, min_grade: int) -> pd.DataFrame:
    """Lab results collected after `since` and on or before the analysis date, graded at least `min_grade`."""
    statement = select(LabResult.id, LabResult.patient_id, LabResult.test, LabResult.value, LabResult.unit,
                       LabResult.collected_on, LabResult.ctcae_grade, LabResult.created_at) \
        .where(LabResult.record_status == ACTIVE, LabResult.collected_on > since, LabResult.collected_on <= as_of,
               LabResult.ctcae_grade >= min_grade).order_by(LabResult.collected_on, LabResult.id)
    return _frame(statement, url, parse_dates=["collected_on"])


def alert_reviews(url: str | None = None) -> pd.DataFrame:
    """The latest active review of each alert (patient, rule, subject), with who made it and when."""
    statement = select(AlertReview.id, AlertReview.patient_id, AlertReview.rule, AlertReview.subject,
                       AlertReview.record_type, AlertReview.record_id, AlertReview.severity, AlertReview.decision,
                       AlertReview.comment, cast(AlertReview.snooze_until, String).label("snooze_until"),
                       AlertReview.created_by, AlertReview.created_at) \
        .where(AlertReview.record_status == ACTIVE).order_by(AlertReview.id)
    frame = _frame(statement, url, parse_dates=["snooze_until"])
    return frame.drop_duplicates(["patient_id", "rule", "subject"], keep="last")


def last_alert_review_at(url: str | None = None, *, username: str) -> datetime | None:
    """When the user last acknowledged or snoozed an alert ("new since my last review")."""
    with get_engine(url).connect() as connection:
        return connection.execute(select(func.max(AlertReview.created_at)).where(
            AlertReview.created_by == username, AlertReview.record_status == ACTIVE)).scalar()


def last_two_lab_grades(url: str | None = None, *, as_of: date) -> pd.DataFrame:
    """The two latest graded results of each patient and test on or before the analysis date."""
    order = func.row_number().over(partition_by=(LabResult.patient_id, LabResult.test),
                                   order_by=(LabResult.collected_on.desc(), LabResult.id.desc())).label("rank")
    ranked = select(LabResult.id, LabResult.patient_id, LabResult.test, LabResult.collected_on,
                    LabResult.ctcae_grade, LabResult.created_at, order).where(
        LabResult.record_status == ACTIVE, LabResult.ctcae_grade.is_not(None),
        LabResult.collected_on <= as_of).subquery()
    statement = select(ranked.c.id, ranked.c.patient_id, ranked.c.test, ranked.c.collected_on,
                       ranked.c.ctcae_grade, ranked.c.created_at).where(ranked.c.rank <= 2)
    return _frame(statement, url, parse_dates=["collected_on"])
