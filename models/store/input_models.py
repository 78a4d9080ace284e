"""The input model of every kind of record the write path writes, by the name its callers use."""
from __future__ import annotations

from models.store.medication_input import ConcomitantMedicationInput
from models.store.record_inputs import (AdverseEventInput, AlertReviewInput, DoseEventInput, FindingReviewInput,
                                        LabResultInput, PatientInput)

INPUT_MODELS = {
    "patient": PatientInput, "adverse_event": AdverseEventInput, "lab_result": LabResultInput,
    "dose_event": DoseEventInput, "finding_review": FindingReviewInput, "alert_review": AlertReviewInput,
    "concomitant_medication": ConcomitantMedicationInput,
}
