"""The per-patient, per-term onset summary (tables.TermOnsetSummary): rebuilt in bulk after seeding and
refreshed for one patient inside every write that can change it, in the same transaction."""
from __future__ import annotations

from sqlalchemy import and_, case, delete, func, insert, select

from models.tables import AdverseEvent, Patient, TermOnsetSummary


def _aggregate(patient_id: int | None = None):
    eligible = and_(AdverseEvent.record_status == "active", AdverseEvent.baseline.is_(False),
                    AdverseEvent.onset_date >= Patient.treatment_start, Patient.record_status == "active")
    statement = select(
        AdverseEvent.patient_id, AdverseEvent.term, func.min(AdverseEvent.onset_date),
        func.min(case((AdverseEvent.grade >= 2, AdverseEvent.onset_date))),
        func.min(case((AdverseEvent.grade >= 3, AdverseEvent.onset_date))),
        func.max(AdverseEvent.grade),
    ).join(Patient, Patient.id == AdverseEvent.patient_id).where(eligible)
    if patient_id is not None:
        statement = statement.where(AdverseEvent.patient_id == patient_id)
    return statement.group_by(AdverseEvent.patient_id, AdverseEvent.term)


_COLUMNS = ["patient_id", "term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "worst_grade"]


def refresh_patient(session, patient_id: int) -> None:
    """Recompute one patient's rows (after any write to their events or to the patient)."""
    session.execute(delete(TermOnsetSummary).where(TermOnsetSummary.patient_id == patient_id))
    session.execute(insert(TermOnsetSummary).from_select(_COLUMNS, _aggregate(patient_id)))


def rebuild(session) -> None:
    """Recompute every row (after a bulk load that bypassed the write path)."""
    session.execute(delete(TermOnsetSummary))
    session.execute(insert(TermOnsetSummary).from_select(_COLUMNS, _aggregate()))
