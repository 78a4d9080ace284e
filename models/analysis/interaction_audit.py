"""The interaction rules of the dosing audit (models/clinical/interactions.py) over the cohort: a finding per
concomitant medication of an interaction class, keyed "medication:<id>"."""
from __future__ import annotations

from datetime import date

import pandas as pd

from models.analysis.findings import DEFAULT_GRACE_DAYS, Finding
from models.clinical import dosing, interactions


def interaction_findings(patients: pd.DataFrame, meds: pd.DataFrame, events: pd.DataFrame, doses: pd.DataFrame,
                         as_of: date, grace_days: int = DEFAULT_GRACE_DAYS) -> tuple[list[Finding], list[Finding]]:
    """The interaction rules (models/clinical/interactions.py) for every patient with a medication of a class:
    (findings judged compliant, deviation or open; information, never judged). Key "medication:<id>"."""
    if meds.empty or patients.empty:
        return [], []
    people = patients.set_index("id")
    starts, mrns, planned = people["treatment_start"], people["mrn"], people["planned_dose_mg"]
    terms = dict(zip(events["id"].astype(int), events["term"])) if not events.empty else {}
    doses = doses[doses["effective_date"] <= as_of]
    by_patient = dict(tuple(doses.groupby("patient_id"))) if not doses.empty else {}
    judged, told = [], []
    for pid, patient_meds in meds.groupby("patient_id"):
        if pid not in starts.index:
            continue
        history = by_patient.get(pid)
        segments = dosing.dose_segments(history, starts[pid], as_of) if history is not None else []
        for verdict in interactions.patient_verdicts(patient_meds, segments, as_of, grace_days, terms,
                                                     treatment_start=starts[pid], planned_dose_mg=float(planned[pid])):
            # (no rule set: the interaction rules are not part of a dose rule set)
            finding = Finding(f"medication:{verdict.medication_id}", int(pid), mrns[pid], verdict.drug, None,
                              verdict.start_date, verdict.rule, verdict.rule_status, verdict.expected,
                              verdict.actual, verdict.status)
            (told if verdict.status == "information" else judged).append(finding)
    return judged, told
