"""Dose timeline and relative dose intensity (RDI).

RDI = total mg actually taken / (planned daily dose x days on treatment), the days counted over every exposure
period (models/clinical/exposure.py) from its start to the earlier of its last dose day and the analysis date:
the days after the last dose of a hold that ended in a discontinuation, and the days between a discontinuation
and a restart, are not days on treatment. The analysis date itself counts as a day on treatment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from models.clinical import exposure

OFF_DRUG_ACTIONS = ("hold", "discontinue")


def describe_dose_action(action: str, dose_mg: float, every_other_day: bool = False) -> str:
    """A dose record in words: "Reduced to 2.5 mg every other day", "Held", "Discontinued"."""
    dose = f"{dose_mg:g} mg" + (" every other day" if every_other_day else "")
    return {"start": f"Started at {dose}", "resume": f"Resumed at {dose}", "reduce": f"Reduced to {dose}",
            "escalate": f"Escalated to {dose}", "hold": "Held", "discontinue": "Discontinued"}[action]


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
    def mg_per_day(self) -> float:
        """The daily level (2.5 mg every other day is 1.25)."""
        return self.dose_mg / (2 if self.every_other_day else 1)

    @property
    def mg_taken(self) -> float:
        return self.mg_per_day * self.days


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


INTENSITY_COLUMNS = ["patient_id", "mrn", "planned_dose_mg", "current_dose_mg", "days_in_period", "mg_taken",
                     "relative_dose_intensity_pct", "days_held", "reductions", "discontinued_on", "treatment_status"]
# The status the last dose record on or before a day leaves a patient in.
STATUS_AFTER = {"discontinue": "discontinued", "hold": "held"}


def treatment_state(patients: pd.DataFrame, intensity: pd.DataFrame) -> pd.DataFrame:
    """Per patient (index: id): `status` and `days_on_treatment`, as the dose records have them (dose_intensity
    of the same day): discontinued, held or on treatment, and the days from the start to the stop or the
    analysis date, over every exposure period. A patient with no dose record keeps the status entered with the
    registration; one who has not started yet has 0 days."""
    by_patient = intensity.set_index("patient_id")
    ids = patients["id"]
    derived = ids.map(by_patient["treatment_status"]) if not by_patient.empty else pd.Series(None, index=ids.index)
    status = derived.where(derived.notna(), patients["status"])
    days = ids.map(by_patient["days_in_period"]) if not by_patient.empty else pd.Series(0, index=ids.index)
    return pd.DataFrame({"status": status.values, "days_on_treatment": days.fillna(0).astype(int).values},
                        index=ids.values)


def dose_intensity(patients: pd.DataFrame, doses: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per exposed patient: RDI %, mg taken, days held, reductions, current dose.

    Vectorised over all dose records (a registry has tens of thousands); the same segments as
    dose_segments(): each record's dose runs from its date (not before treatment start) to the next record,
    the last to the analysis date, each counted only inside the patient's exposure periods."""
    exposed = patients[patients["treatment_start"] <= as_of]
    if exposed.empty:
        return pd.DataFrame(columns=INTENSITY_COLUMNS)
    day_after = pd.Timestamp(as_of + timedelta(days=1))
    starts = pd.to_datetime(exposed.set_index("id")["treatment_start"])
    periods = exposure.exposure_periods(exposed, doses, as_of)
    windows = pd.DataFrame({"patient_id": periods["patient_id"], "period_start": pd.to_datetime(periods["start"]),
                            "period_end": pd.to_datetime(periods["last_dose_day"]) + pd.Timedelta(days=1)})
    windows["period_end"] = windows["period_end"].fillna(day_after).clip(upper=day_after)
    days_in_period = (windows["period_end"] - windows["period_start"]).dt.days.clip(lower=0) \
        .groupby(windows["patient_id"]).sum().reindex(starts.index, fill_value=0)
    rows = doses[(doses["effective_date"] <= as_of) & doses["patient_id"].isin(starts.index)] \
        .sort_values(["patient_id", "effective_date", "id"]) if not doses.empty else doses
    last = rows.groupby("patient_id")[["effective_date", "action"]].last() if not rows.empty else None
    stops = last.loc[last["action"] == "discontinue", "effective_date"] if last is not None \
        else pd.Series(dtype=object)
    taken = pd.Series(0.0, index=starts.index)
    held = pd.Series(0, index=starts.index)
    current = pd.Series(0.0, index=starts.index)
    reductions = pd.Series(0, index=starts.index)
    if not rows.empty:
        when = pd.to_datetime(rows["effective_date"])
        segments = pd.DataFrame({
            "patient_id": rows["patient_id"].values,
            "begin": pd.concat([when, rows["patient_id"].map(starts)], axis=1).max(axis=1).values,
            "end": when.groupby(rows["patient_id"]).shift(-1).fillna(day_after).values,
            "per_day": (rows["dose_mg"].astype(float)
                        / rows["every_other_day"].astype(bool).map({True: 2, False: 1})).values,
            "held": (rows["action"] == "hold").values})
        inside = segments.merge(windows, on="patient_id")  # a segment counts only inside an exposure period
        overlap = (inside[["end", "period_end"]].min(axis=1) - inside[["begin", "period_start"]].max(axis=1)) \
            .dt.days.clip(lower=0)
        taken = (inside["per_day"] * overlap).groupby(inside["patient_id"]).sum()
        held = overlap[inside["held"]].groupby(inside.loc[inside["held"], "patient_id"]).sum()
        current = rows.groupby("patient_id")["dose_mg"].last().astype(float)
        reductions = (rows["action"] == "reduce").groupby(rows["patient_id"]).sum()
    taken, held, current, reductions = (series.reindex(starts.index, fill_value=0)
                                        for series in (taken, held, current, reductions))
    current = current.where(~current.index.isin(stops.index), 0.0)
    planned = exposed.set_index("id")["planned_dose_mg"].astype(float)
    planned_mg = planned * days_in_period
    rdi = (100 * taken / planned_mg.where(planned_mg > 0)).round(1)
    result = pd.DataFrame({
        "patient_id": starts.index, "mrn": exposed.set_index("id")["mrn"].reindex(starts.index).values,
        "planned_dose_mg": planned.values, "current_dose_mg": current.values,
        "days_in_period": days_in_period.astype(int).values, "mg_taken": taken.round(2).values,
        "relative_dose_intensity_pct": rdi.astype(object).where(rdi.notna(), None).values,
        "days_held": held.astype(int).values, "reductions": reductions.astype(int).values,
        "discontinued_on": [stops.get(pid) for pid in starts.index],
        "treatment_status": [None if last is None or pid not in last.index else
                             STATUS_AFTER.get(last.at[pid, "action"], "on_treatment") for pid in starts.index],
    })
    return result[INTENSITY_COLUMNS]
