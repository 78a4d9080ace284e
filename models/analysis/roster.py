"""The patient roster: one row per patient with what a clinician scans first, and the flags they act on."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from models.clinical import ctcae
from models.clinical.dosing import dose_intensity, treatment_state
from models.store import queries

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
    """One row per active patient. Reads only what the columns need (recent events, dose records, and
    per-patient aggregates of labs), so it stays quick with a registry's worth of history."""
    as_of = as_of or date.today()
    window_start = as_of - timedelta(days=RECENT_DAYS)
    new_since = as_of - timedelta(days=NEW_EVENT_DAYS)
    people = queries.patients(url)
    events = queries.roster_events(url, as_of=as_of, since=min(window_start, new_since))
    events = events[events["patient_id"].isin(people["id"])]
    doses = queries.dose_events(url)
    intensity = dose_intensity(people, doses, as_of).set_index("patient_id")

    frame = people[["id", "mrn", "name", "treatment_start", "planned_dose_mg"]].copy()
    state = treatment_state(people, intensity.reset_index())  # status and days as the dose records have them
    frame["status"] = frame["id"].map(state["status"])
    frame["days_on_treatment"] = frame["id"].map(state["days_on_treatment"])
    frame["current_dose_mg"] = frame["id"].map(intensity["current_dose_mg"])
    frame["relative_dose_intensity_pct"] = frame["id"].map(intensity["relative_dose_intensity_pct"])
    # as datetimes: when no event is resolved, pandas reads the column as all-NaT datetime64, which a
    # comparison with a date would refuse (TypeError)
    resolved = pd.to_datetime(events["resolved_date"])
    open_events = events[resolved.isna() | (resolved > pd.Timestamp(as_of))]
    frame["open_grade_3_plus"] = frame["id"].map(
        open_events[open_events["grade"] >= 3].groupby("patient_id").size()).fillna(0).astype(int)
    recent = events[(pd.to_datetime(events["onset_date"]) > pd.Timestamp(window_start)) | resolved.isna()
                    | (resolved > pd.Timestamp(window_start))]
    worst = recent.groupby(["patient_id", "term"])["grade"].max()
    for term in ctcae.BOLERO2_TERMS:
        per_patient = worst.xs(term, level="term") if term in worst.index.get_level_values("term") else {}
        frame[term_column(term)] = frame["id"].map(per_patient).astype("Int64")
    last = frame["id"].map(queries.last_assessment_dates(url, as_of=as_of))
    frame["days_since_assessment"] = last.map(
        lambda day: (as_of - day).days if isinstance(day, date) else None).astype("Int64")
    flags: dict[int, list[str]] = {int(pid): [] for pid in frame["id"]}
    severe = events[(events["grade"] >= 3) & (pd.to_datetime(events["onset_date"]) >= pd.Timestamp(new_since))]
    for flag, patient_ids in ((FLAG_NEW_SEVERE, set(severe["patient_id"])),
                              (FLAG_PNEUMONITIS, queries.patients_with_term(url, term="Pneumonitis", as_of=as_of)),
                              (FLAG_LONG_HOLD, long_holds(doses, as_of)),
                              (FLAG_LAB_RISING, rising_lab_grades(queries.last_two_lab_grades(url, as_of=as_of)))):
        for pid in patient_ids:
            if int(pid) in flags:
                flags[int(pid)].append(flag)
    frame["flags"] = frame["id"].map(lambda pid: ", ".join(flags[int(pid)]))
    return frame


def long_holds(doses: pd.DataFrame, as_of: date) -> set[int]:
    """Patients with a hold that lasted (or has lasted so far) longer than LONG_HOLD_DAYS."""
    history = doses[doses["effective_date"] <= as_of].sort_values(["patient_id", "effective_date", "id"])
    if history.empty:
        return set()
    when = pd.to_datetime(history["effective_date"])
    # an ongoing hold includes the analysis date itself, as in dosing.dose_segments (days held)
    ends = when.groupby(history["patient_id"]).shift(-1).fillna(pd.Timestamp(as_of + timedelta(days=1)))
    long = (history["action"] == "hold") & ((ends - when).dt.days > LONG_HOLD_DAYS)
    return {int(pid) for pid in history.loc[long, "patient_id"].unique()}


def rising_lab_results(labs: pd.DataFrame) -> pd.DataFrame:
    """The latest graded result of each patient and test whose grade is higher than the result before it
    (queries.last_two_lab_grades rows), with that earlier result's grade and date beside it. The roster's flag
    and the worklist's alert both read it."""
    graded = labs[labs["ctcae_grade"].notna()].sort_values(["patient_id", "test", "collected_on", "id"])
    grouped = graded.groupby(["patient_id", "test"])
    graded = graded.assign(previous_grade=grouped["ctcae_grade"].shift(1),
                           previous_on=grouped["collected_on"].shift(1))
    is_last = ~graded.duplicated(["patient_id", "test"], keep="last")
    return graded[is_last & graded["previous_grade"].notna() & (graded["ctcae_grade"] > graded["previous_grade"])]


def rising_lab_grades(labs: pd.DataFrame) -> set[int]:
    """Patients whose latest result of some test has a higher CTCAE grade than the one before it."""
    return {int(pid) for pid in rising_lab_results(labs)["patient_id"].unique()}
