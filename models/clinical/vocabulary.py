"""Controlled vocabularies shared by the tables (as CHECK constraints), validation and CSV import, and the
clinical names of the lab tests. Their wording on screen is dashboard/labels.py's."""
from __future__ import annotations

ROLES = ("nurse", "oncologist", "pharmacist", "admin")
PATIENT_STATUSES = ("on_treatment", "held", "discontinued")
RECORD_STATUSES = ("active", "entered_in_error")
ATTRIBUTIONS = ("unrelated", "unlikely", "possible", "probable", "definite")
ACTIONS_TAKEN = ("none", "held", "reduced", "discontinued")
AE_OUTCOMES = ("recovering", "recovered", "recovered_with_sequelae", "not_recovered", "fatal", "unknown")
AE_SOURCES = ("reported", "lab")
DOSE_ACTIONS = ("start", "hold", "resume", "reduce", "escalate", "discontinue")
ON_DRUG_ACTIONS = ("start", "resume", "reduce", "escalate")  # the dose actions after which the patient takes the drug
FINDING_DECISIONS = ("accepted", "justified")
ALERT_DECISIONS = ("acknowledged", "snoozed")
MEDICATION_ROUTES = ("oral", "oral_rinse", "intravenous", "intramuscular", "subcutaneous", "inhaled", "intranasal",
                     "topical", "transdermal", "other")
# The lab tests by their clinical names, in the order pages list them.
LAB_TEST_LABELS = {"hemoglobin": "Hemoglobin", "ast": "AST", "alt": "ALT", "glucose_fasting": "Fasting glucose",
                   "platelets": "Platelets", "neutrophils": "Neutrophils", "cholesterol_total": "Total cholesterol",
                   "triglycerides": "Triglycerides", "creatinine": "Creatinine"}
LAB_TESTS = tuple(LAB_TEST_LABELS)
AUDIT_ACTIONS = ("create", "update", "entered_in_error", "sign_in", "sign_in_failed", "sign_out",
                 "import", "seed_demo", "review", "unlock")

# CDISC SDTM AEACN values accepted on import, mapped to ours.
CDISC_ACTIONS_TAKEN = {
    "dose not changed": "none",
    "drug interrupted": "held",
    "dose reduced": "reduced",
    "drug withdrawn": "discontinued",
}


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint body: column IN ('a', 'b')."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
