"""The patient roster: one row per patient with what a clinician scans first, and the flags they act on."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from models import ctcae, queries
from models.dosing import dose_intensity
from models.patient_view import day_on_treatment

RECENT_DAYS = 30
NEW_EVENT_DAYS = 14
LONG_HOLD_DAYS = 14
SHORT_NAMES = {"Mucositis oral": "Stomatitis", "Aspartate aminotransferase increased": "AST",
               "Alanine aminotransferase increased": "ALT"}
FLAG_NEW_SEVERE, FLAG_PNEUMONITIS, FLAG_LONG_HOLD, FLAG_LAB_RISING = (
    "new grade ≥3", "pneumonitis", f"hold > {LONG_HOLD_DAYS} d", "lab grade rising")


def term_column(term: str) -> str:
    return f"worst {SHORT_NAMES.get(term, term)}"


def roster(url: str | None = None, *, as_of: date | None = None) -> pd.DataFrame:
    as_of = as_of or date.today()
    people = queries.patients(url)
    events = queries.adverse_events(url)
    events = events[~events["baseline"].astype(bool) & (events["onset_date"] <= as_of)]
    doses = queries.dose_events(url)
    labs = queries.labs(url)
    # queries.labs does not join the patient: drop labs of patients entered in error (not on the roster)
    labs = labs[(labs["collected_on"] <= as_of) & labs["patient_id"].isin(people["id"])]
    intensity = dose_intensity(people, doses, as_of).set_index("patient_id")

    frame = people[["id", "mrn", "name", "treatment_start", "planned_dose_mg", "status"]].copy()
    frame["days_on_treatment"] = frame["treatment_start"].map(lambda start: max(day_on_treatment(start, as_of), 0))
    frame["current_dose_mg"] = frame["id"].map(intensity["current_dose_mg"])
    frame["relative_dose_intensity_pct"] = frame["id"].map(intensity["relative_dose_intensity_pct"])
    open_events = events[events["resolved_date"].isna()]
    frame["open_grade_3_plus"] = frame["id"].map(
        open_events[open_events["grade"] >= 3].groupby("patient_id").size()).fillna(0).astype(int)
    window_start = as_of - timedelta(days=RECENT_DAYS)
    # as datetimes: when no event is resolved, pandas reads the column as all-NaT datetime64, which a
    # comparison with a date would refuse (TypeError)
    resolved = pd.to_datetime(events["resolved_date"])
    recent = events[(events["onset_date"] > window_start) | resolved.isna()
                    | (resolved > pd.Timestamp(window_start))]
    worst = recent.groupby(["patient_id", "term"])["grade"].max()
    for term in ctcae.BOLERO2_TERMS:
        per_patient = worst.xs(term, level="term") if term in worst.index.get_level_values("term") else {}
        frame[term_column(term)] = frame["id"].map(per_patient).astype("Int64")
    frame["days_since_assessment"] = frame["id"].map(_last_assessment(events, labs)).map(
        lambda last: (as_of - last).days if isinstance(last, date) else None).astype("Int64")
    frame["flags"] = _flags(frame["id"], events, doses, labs, as_of)
    return frame


def _last_assessment(events: pd.DataFrame, labs: pd.DataFrame) -> pd.Series:
    dates = pd.concat([events[["patient_id", "onset_date"]].rename(columns={"onset_date": "day"}),
                       labs[["patient_id", "collected_on"]].rename(columns={"collected_on": "day"})])
    return dates.groupby("patient_id")["day"].max()


def _flags(patient_ids: pd.Series, events: pd.DataFrame, doses: pd.DataFrame, labs: pd.DataFrame,
           as_of: date) -> pd.Series:
    flags: dict[int, list[str]] = {int(pid): [] for pid in patient_ids}
    new_since = as_of - timedelta(days=NEW_EVENT_DAYS)
    for pid in events[(events["grade"] >= 3) & (events["onset_date"] >= new_since)]["patient_id"].unique():
        flags[int(pid)].append(FLAG_NEW_SEVERE)
    for pid in events[events["term"] == "Pneumonitis"]["patient_id"].unique():
        flags[int(pid)].append(FLAG_PNEUMONITIS)
    for pid in long_holds(doses, as_of):
        flags[int(pid)].append(FLAG_LONG_HOLD)
    for pid in rising_lab_grades(labs):
        flags[int(pid)].append(FLAG_LAB_RISING)
    return patient_ids.map(lambda pid: ", ".join(flags.get(int(pid), [])))


def long_holds(doses: pd.DataFrame, as_of: date) -> set[int]:
    """Patients with a hold that lasted (or has lasted so far) longer than LONG_HOLD_DAYS."""
    found = set()
    for pid, history in doses[doses["effective_date"] <= as_of].groupby("patient_id"):
        history = history.sort_values(["effective_date", "id"])
        # an ongoing hold includes the analysis date itself, as in dosing.dose_segments (days held)
        following = list(history["effective_date"].iloc[1:]) + [as_of + timedelta(days=1)]
        for action, start, end in zip(history["action"], history["effective_date"], following):
            if action == "hold" and (end - start).days > LONG_HOLD_DAYS:
                found.add(int(pid))
    return found


def rising_lab_grades(labs: pd.DataFrame) -> set[int]:
    """Patients whose latest result of some test has a higher CTCAE grade than the one before it."""
    graded = labs[labs["ctcae_grade"].notna()].sort_values(["patient_id", "test", "collected_on", "id"])
    last_two = graded.groupby(["patient_id", "test"]).tail(2)
    rising = set()
    for (pid, _test), pair in last_two.groupby(["patient_id", "test"]):
        grades = list(pair["ctcae_grade"])
        if len(grades) == 2 and grades[1] > grades[0]:
            rising.add(int(pid))
    return rising
