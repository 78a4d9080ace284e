"""Dose timeline and relative dose intensity (RDI).

RDI = total mg actually taken / (planned daily dose x days from treatment start to the earlier of
discontinuation and the analysis date). The period is [start, end): a discontinuation date is the first
day without drug; the analysis date itself counts as a day on treatment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

OFF_DRUG_ACTIONS = ("hold", "discontinue")


@dataclass(frozen=True)
class DoseSegment:
    start: date          # first day at this dose
    end: date            # first day after it (exclusive)
    dose_mg: float       # daily dose as prescribed (0 while held or stopped)
    every_other_day: bool
    action: str          # the action that began the segment

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def mg_taken(self) -> float:
        return self.dose_mg * self.days / (2 if self.every_other_day else 1)


def dose_segments(doses: pd.DataFrame, treatment_start: date, as_of: date) -> list[DoseSegment]:
    """The patient's dosing as consecutive segments from treatment start up to the analysis date."""
    end_of_period = as_of + timedelta(days=1)
    rows = doses[doses["effective_date"] <= as_of].sort_values(["effective_date", "id"])
    segments: list[DoseSegment] = []
    for row, following in zip(rows.itertuples(), list(rows.itertuples())[1:] + [None]):
        start = max(row.effective_date, treatment_start)
        end = following.effective_date if following is not None else end_of_period
        if end > start:
            segments.append(DoseSegment(start, end, float(row.dose_mg), bool(row.every_other_day), row.action))
    return segments


def discontinuation_date(doses: pd.DataFrame, as_of: date) -> date | None:
    stops = doses[(doses["action"] == "discontinue") & (doses["effective_date"] <= as_of)]
    return None if stops.empty else stops["effective_date"].max()


def dose_intensity(patients: pd.DataFrame, doses: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per exposed patient: RDI %, mg taken, days held, reductions, current dose."""
    by_patient = {pid: frame for pid, frame in doses.groupby("patient_id")} if not doses.empty else {}
    empty = doses.iloc[0:0] if not doses.empty else pd.DataFrame(
        columns=["id", "effective_date", "action", "dose_mg", "every_other_day"])
    rows = []
    for patient in patients.itertuples():
        if patient.treatment_start > as_of:
            continue
        history = by_patient.get(patient.id, empty)
        stop = discontinuation_date(history, as_of)
        period_end = stop if stop is not None else as_of + timedelta(days=1)
        planned_days = max((period_end - patient.treatment_start).days, 0)
        segments = [s for s in dose_segments(history, patient.treatment_start, as_of) if s.start < period_end]
        taken = sum(_clip(s, period_end).mg_taken for s in segments)
        held = sum(_clip(s, period_end).days for s in segments if s.action == "hold")
        planned_mg = patient.planned_dose_mg * planned_days
        current = 0.0 if stop is not None or not segments else segments[-1].dose_mg
        rows.append({
            "patient_id": patient.id, "mrn": patient.mrn, "planned_dose_mg": patient.planned_dose_mg,
            "current_dose_mg": current, "days_in_period": planned_days, "mg_taken": round(taken, 2),
            "relative_dose_intensity_pct": round(100 * taken / planned_mg, 1) if planned_mg else None,
            "days_held": held, "reductions": _reductions(history, as_of),
            "discontinued_on": stop,
        })
    return pd.DataFrame(rows, columns=["patient_id", "mrn", "planned_dose_mg", "current_dose_mg",
                                       "days_in_period", "mg_taken", "relative_dose_intensity_pct",
                                       "days_held", "reductions", "discontinued_on"])


def _reductions(history: pd.DataFrame, as_of: date) -> int:
    """Dose reductions on or before the analysis date (later ones have not happened yet as of then)."""
    if history.empty:
        return 0
    return int(((history["action"] == "reduce") & (history["effective_date"] <= as_of)).sum())


def _clip(segment: DoseSegment, period_end: date) -> DoseSegment:
    if segment.end <= period_end:
        return segment
    return DoseSegment(segment.start, period_end, segment.dose_mg, segment.every_other_day, segment.action)
