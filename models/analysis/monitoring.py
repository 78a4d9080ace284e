"""The monitoring schedule of the protocol in force (seed_data/monitoring_protocol.csv, or an admin's version):
per patient and panel, when it was last done, when it is next due, and whether it is done, due soon, overdue
or without a baseline. The worklist raises an alert for the overdue ones."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from models.clinical import alerts as alert_data

STATUS_DONE, STATUS_DUE_SOON, STATUS_OVERDUE, STATUS_NO_BASELINE = "done", "due soon", "overdue", "no baseline"
DUE_SOON_DAYS = 7


def monitoring_schedule(patients: pd.DataFrame, collections: pd.DataFrame, as_of: date,
                        intervals: tuple | None = None) -> pd.DataFrame:
    """Per patient (who started by the analysis date) and panel of the protocol: the last time every test of
    the panel was done, when it is next due, and its status (done, due soon, overdue, no baseline)."""
    intervals = intervals if intervals is not None else alert_data.protocol()
    columns = ["patient_id", "panel", "tests", "baseline_on", "last_done", "due_on", "status", "source_status"]
    started = patients[pd.to_datetime(patients["treatment_start"]) <= pd.Timestamp(as_of)]
    # plain dicts: a lookup per patient, panel and test (a registry's worth) is far quicker than in a MultiIndex
    done = {column: {(int(pid), test): day for pid, test, day in zip(collections["patient_id"], collections["test"],
                                                                     collections[column])
                     if day is not None and not pd.isna(day)} for column in ("latest", "baseline")}
    rows = []
    panels = {i.panel: i for i in intervals if i.from_day == 0}
    for patient in started.itertuples():
        for panel, first in panels.items():
            def when(column):  # the panel counts as done when its last test was: the earliest of the latest
                days = [done[column].get((int(patient.id), test)) for test in first.tests]
                return None if any(d is None for d in days) else min(days)
            baseline, last = when("baseline"), when("latest")
            window_start = patient.treatment_start - timedelta(days=first.baseline_days_before_start)
            has_baseline = baseline is not None and baseline >= window_start
            if last is None or last < window_start:
                due, status = patient.treatment_start, STATUS_NO_BASELINE
            else:
                due = last + timedelta(days=_interval_after(panel, (last - patient.treatment_start).days, intervals))
                status = STATUS_OVERDUE if due < as_of else (
                    STATUS_DUE_SOON if (due - as_of).days <= DUE_SOON_DAYS else STATUS_DONE)
            rows.append({"patient_id": int(patient.id), "panel": panel, "tests": first.tests,
                         "baseline_on": baseline if has_baseline else None, "last_done": last, "due_on": due,
                         "status": status, "source_status": first.status})
    return pd.DataFrame(rows, columns=columns)


def _interval_after(panel: str, day: int, intervals: tuple) -> int:
    """Days from a result on `day` of treatment to the next: its phase's interval, or, when that would reach
    past the phase's end, the next phase's (glucose on day 28 of the fortnightly first month: next in a month)."""
    phase = alert_data.interval_on(panel, max(0, day), intervals)
    if phase.to_day is not None and max(0, day) + phase.every_days > phase.to_day:
        return alert_data.interval_on(panel, phase.to_day + 1, intervals).every_days
    return phase.every_days
