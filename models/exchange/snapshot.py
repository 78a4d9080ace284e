"""The active records of the active patients, read in one snapshot, for the standards exports (FHIR, SDTM):
every file of one export describes the same moment."""
from __future__ import annotations

from sqlalchemy import select

from models.store.db import get_engine
from models.store.tables import AdverseEvent, ConcomitantMedication, DoseEvent, LabResult, Patient

ACTIVE = "active"
STATEMENTS = {
    "patients": select(Patient.id, Patient.mrn, Patient.name, Patient.birth_date, Patient.treatment_start,
                       Patient.planned_dose_mg, Patient.status).order_by(Patient.id),
    "adverse_events": select(AdverseEvent.id, AdverseEvent.patient_id, AdverseEvent.term, AdverseEvent.meddra_code,
                             AdverseEvent.grade, AdverseEvent.onset_date, AdverseEvent.resolved_date,
                             AdverseEvent.death_date, AdverseEvent.serious, AdverseEvent.attribution,
                             AdverseEvent.action_taken, AdverseEvent.outcome, AdverseEvent.source,
                             AdverseEvent.baseline, AdverseEvent.previous_event_id, AdverseEvent.created_at)
    .where(AdverseEvent.record_status == ACTIVE).order_by(AdverseEvent.patient_id, AdverseEvent.onset_date,
                                                          AdverseEvent.id),
    "labs": select(LabResult.id, LabResult.patient_id, LabResult.test, LabResult.value, LabResult.unit,
                   LabResult.lln, LabResult.uln, LabResult.collected_on, LabResult.baseline, LabResult.ctcae_term,
                   LabResult.ctcae_grade)
    .where(LabResult.record_status == ACTIVE).order_by(LabResult.patient_id, LabResult.collected_on, LabResult.id),
    "doses": select(DoseEvent.id, DoseEvent.patient_id, DoseEvent.effective_date, DoseEvent.action,
                    DoseEvent.dose_mg, DoseEvent.every_other_day, DoseEvent.reason, DoseEvent.adverse_event_id)
    .where(DoseEvent.record_status == ACTIVE).order_by(DoseEvent.patient_id, DoseEvent.effective_date, DoseEvent.id),
    "medications": select(ConcomitantMedication.id, ConcomitantMedication.patient_id, ConcomitantMedication.drug,
                          ConcomitantMedication.in_catalogue, ConcomitantMedication.dose, ConcomitantMedication.route,
                          ConcomitantMedication.start_date, ConcomitantMedication.stop_date,
                          ConcomitantMedication.indication, ConcomitantMedication.adverse_event_id)
    .where(ConcomitantMedication.record_status == ACTIVE)
    .order_by(ConcomitantMedication.patient_id, ConcomitantMedication.start_date, ConcomitantMedication.id),
}


def read_snapshot(url: str | None = None, *, mrn: str | None = None) -> dict[str, list[dict]]:
    """{"patients": [...], "adverse_events": [...], "labs": [...], "doses": [...], "medications": [...]}, each a
    list of plain dicts; `mrn`: one patient only."""
    with get_engine(url).connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            chosen = select(Patient.id).where(Patient.record_status == ACTIVE)
            if mrn is not None:
                chosen = chosen.where(Patient.mrn == mrn)
            result = {}
            for name, statement in STATEMENTS.items():
                table = statement.selected_columns[0].table
                column = table.c.id if name == "patients" else table.c.patient_id
                rows = connection.execute(statement.where(column.in_(chosen)))
                result[name] = [dict(row._mapping) for row in rows]
    return result
