"""Exposure periods and follow-up (DESIGN.md, "Clinical definitions"): one piece of code for every figure that
depends on when a patient was on the drug (incidence, time to event, exposure-adjusted rates, dose intensity,
the dosing audit's treatment-emergent events).

- A period runs from a start (the treatment start, or the first dose record that gives drug again after a
  discontinuation) to its last dose day: the day before the discontinuation that ends it or, when the patient
  was on hold at that discontinuation, the day before that hold began. A period not ended by the analysis
  date is open.
- An onset is treatment-emergent when it lies in a period or at most 30 days (inclusive) after its last dose
  day, and on or before the analysis date.
- Follow-up runs from the treatment start to the analysis date, death, or 30 days after the last dose day of
  the final period, whichever is first. Exposed: treatment start on or before the analysis date and at least
  one day of follow-up.

Only dose records on or before the analysis date are read: a report as of a past date shows what was known.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from models.clinical.definitions import FOLLOW_UP_AFTER_STOP_DAYS

PERIOD_COLUMNS = ["patient_id", "period", "start", "last_dose_day", "counted_until"]
FOLLOW_UP_COLUMNS = ["patient_id", "treatment_start", "follow_up_end", "follow_up_days", "died_on", "exposed", "gaps"]
OFF_DRUG = ("hold", "discontinue")
# Why a patient who had started by the analysis date is not counted as exposed.
LEFT_OUT_NO_FOLLOW_UP = "started on the analysis date (no day of follow-up yet)"
LEFT_OUT_DIED_ON_START = "died on or before the day of the treatment start"
LEFT_OUT_NOT_STARTED = "treatment start after the analysis date"


def exposure_periods(patients: pd.DataFrame, doses: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per exposure period of every patient who started by the analysis date: `start`, `last_dose_day`
    (None while open) and `counted_until`, the last day an onset in it counts (the analysis date at most)."""
    starts = pd.to_datetime(patients["treatment_start"])
    started = patients.loc[(starts <= pd.Timestamp(as_of)).values]
    by_patient: dict[int, list] = {}
    if not doses.empty:
        when = pd.to_datetime(doses["effective_date"])
        records = doses.assign(day=when.dt.date).loc[(when <= pd.Timestamp(as_of)).values] \
            .sort_values(["patient_id", "effective_date", "id"])
        for patient_id, day, action, dose_mg in zip(records["patient_id"].astype(int), records["day"],
                                                    records["action"], records["dose_mg"].astype(float)):
            by_patient.setdefault(patient_id, []).append((day, action, dose_mg))
    rows = []
    for patient_id, start in zip(started["id"].astype(int), pd.to_datetime(started["treatment_start"]).dt.date):
        for number, (begin, last) in enumerate(_periods(start, by_patient.get(patient_id, ())), 1):
            until = as_of if last is None else min(as_of, last + timedelta(days=FOLLOW_UP_AFTER_STOP_DAYS))
            rows.append((patient_id, number, begin, last, until))
    return pd.DataFrame(rows, columns=PERIOD_COLUMNS)


def _periods(treatment_start: date, records) -> list[tuple[date, date | None]]:
    """(start, last dose day or None) of each period, from one patient's (day, action, dose) records in order."""
    periods: list[list] = [[treatment_start, None]]
    on_drug, off_since = True, None  # off_since: the day the current run of holds began
    for day, action, dose_mg in records:
        if action == "hold":
            if on_drug and off_since is None:
                off_since = day
        elif action == "discontinue":
            if on_drug:
                periods[-1][1] = max(periods[-1][0], off_since or day) - timedelta(days=1)
                on_drug = False
            off_since = None
        else:  # start, resume, reduce, escalate: drug is given from this day
            if not on_drug and dose_mg > 0 and day >= treatment_start:
                periods.append([day, None])
                on_drug = True
            off_since = None
    return [(begin, last) for begin, last in periods]


def in_periods(patient_ids: pd.Series, days: pd.Series, periods: pd.DataFrame) -> pd.Series:
    """True where the day (a date, or a missing value) falls in one of the patient's periods or its 30 days
    after: the treatment-emergent test, for many rows at once. Index as `days`."""
    if periods.empty or days.empty:
        return pd.Series(False, index=days.index)
    frame = pd.DataFrame({"patient_id": patient_ids.astype(int).values, "day": pd.to_datetime(days.values),
                          "row": range(len(days))})
    windows = periods[["patient_id", "start", "counted_until"]].assign(
        start=pd.to_datetime(periods["start"]), counted_until=pd.to_datetime(periods["counted_until"]))
    joined = frame.merge(windows, on="patient_id")
    hit = joined["day"].notna() & (joined["day"] >= joined["start"]) & (joined["day"] <= joined["counted_until"])
    inside = hit.groupby(joined["row"]).any().reindex(range(len(days)), fill_value=False)
    return pd.Series(inside.values, index=days.index)


def follow_up(patients: pd.DataFrame, periods: pd.DataFrame, deaths: pd.Series, as_of: date) -> pd.DataFrame:
    """One row per patient who started by the analysis date (index: patient id): the end of follow-up, its
    length in days (start to end), the death date within it, and whether the patient counts as exposed."""
    if periods.empty:
        return pd.DataFrame(columns=FOLLOW_UP_COLUMNS).set_index("patient_id", drop=False)
    # the final period's own row (GroupBy.last() would skip its missing last dose day and take an earlier one)
    final = periods.sort_values(["patient_id", "period"]).groupby("patient_id").tail(1).set_index("patient_id")
    day = pd.Timestamp(as_of)
    last = pd.to_datetime(final["last_dose_day"])
    end = (last + pd.Timedelta(days=FOLLOW_UP_AFTER_STOP_DAYS)).clip(upper=day).fillna(day)
    died = pd.to_datetime(pd.Series(final.index.map(deaths) if deaths is not None and len(deaths) else None,
                                    index=final.index, dtype=object))
    died = died.where(died <= end)
    end = end.where(died.isna(), died)
    start = pd.to_datetime(patients.set_index("id")["treatment_start"].reindex(final.index))
    days = (end - start).dt.days
    gaps = _gaps(periods, start)
    result = pd.DataFrame({"patient_id": final.index.astype(int), "treatment_start": start.dt.date.values,
                           "follow_up_end": end.dt.date.values, "follow_up_days": days.astype(int).values,
                           "died_on": died.dt.date.astype(object).where(died.notna(), None).values,
                           "exposed": (days >= 1).values,
                           "gaps": [gaps.get(int(pid), ()) for pid in final.index]}, columns=FOLLOW_UP_COLUMNS)
    return result.set_index("patient_id", drop=False)


def _gaps(periods: pd.DataFrame, starts: pd.Series) -> dict[int, tuple[tuple[int, int], ...]]:
    """Per restarted patient: the days (from the treatment start, inclusive) between one period's last counted
    day and the next period's start, when no onset can count: follow-up, but not time at risk."""
    result = {}
    restarted = periods[periods["patient_id"].isin(periods.loc[periods["period"] > 1, "patient_id"])]
    for patient_id, rows in restarted.sort_values(["patient_id", "period"]).groupby("patient_id"):
        origin = starts[patient_id].date()
        spans = []
        for before, after in zip(rows.itertuples(), list(rows.itertuples())[1:]):
            first, last = (before.counted_until - origin).days + 1, (after.start - origin).days - 1
            if last >= first:
                spans.append((first, last))
        result[int(patient_id)] = tuple(spans)
    return result


def left_out(patients: pd.DataFrame, followed: pd.DataFrame, as_of: date) -> dict[str, int]:
    """How many patients of the selection are not in the denominators, by reason (only reasons that occur)."""
    starts = pd.to_datetime(patients["treatment_start"])
    reasons = {LEFT_OUT_NOT_STARTED: int((starts.isna() | (starts > pd.Timestamp(as_of))).sum())}
    not_exposed = followed[~followed["exposed"].astype(bool)]
    died = not_exposed["died_on"].notna()
    reasons[LEFT_OUT_DIED_ON_START] = int(died.sum())
    reasons[LEFT_OUT_NO_FOLLOW_UP] = int((~died).sum())
    return {reason: count for reason, count in reasons.items() if count}
