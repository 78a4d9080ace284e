"""One patient's course for the oncologist's review: events, doses, concomitant medications and labs on one
time axis (days on treatment, day 1 = first dose), and the summary figures a clinician reads first."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from models.clinical import ctcae, dosing, medications
from models.clinical.vocabulary import LAB_TEST_LABELS, LAB_TESTS
from models.store import queries

RELATIVE_TO_ULN = ("ast", "alt")  # plotted as multiples of ULN: their CTCAE grade depends only on that ratio
FREE_TEXT_CLASSES = "Free text (not in the catalogue)"  # what `classes` says of a drug no interaction rule sees


@dataclass(frozen=True)
class PatientCourse:
    patient: dict
    as_of: date
    events: pd.DataFrame      # one row per record, with start_day / end_day and open flag
    doses: pd.DataFrame       # one row per dose segment: start_day, end_day, dose_mg, action, label
    labs: pd.DataFrame        # one row per result: day, plotted value (AST/ALT as x ULN), grade
    dose_events: pd.DataFrame  # the dose records as entered
    medications: pd.DataFrame  # one row per medication record, with start_day / end_day, open flag, classes
    summary: dict = field(default_factory=dict)


def day_on_treatment(start: date, moment: date) -> int:
    return (moment - start).days + 1


def patient_course(patient_id: int, as_of: date | None = None, url: str | None = None) -> PatientCourse | None:
    patient = queries.patient_record(patient_id, url)
    if patient is None or patient["record_status"] != "active":
        return None
    as_of = as_of or date.today()
    start = patient["treatment_start"]
    events = queries.adverse_events(url, patient_id=patient_id)
    lab_rows = queries.labs(url, patient_id=patient_id)
    dose_rows = queries.dose_events(url, patient_id=patient_id)
    serious = _serious(events)
    timeline = _event_timeline(events, start, as_of)
    segments = _dose_timeline(dose_rows, start, as_of)
    lab_points = _lab_points(lab_rows, start)
    meds = _medication_timeline(queries.medications(url, patient_id=patient_id), start, as_of)
    summary = _summary(patient, as_of, timeline, segments, lab_points, dose_rows, serious)
    return PatientCourse(patient, as_of, timeline, segments, lab_points, dose_rows, meds, summary)


def _serious(events: pd.DataFrame) -> int:
    return int(events["serious"].sum()) if not events.empty else 0


def _event_timeline(events: pd.DataFrame, start: date, as_of: date) -> pd.DataFrame:
    columns = ["id", "term", "grade", "onset_date", "resolved_date", "start_day", "end_day", "open", "serious",
               "baseline", "source"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    frame = events.copy()
    frame["open"] = frame["resolved_date"].isna()
    end_dates = frame["resolved_date"].where(~frame["open"], as_of)
    frame["start_day"] = frame["onset_date"].map(lambda d: day_on_treatment(start, d))
    # A bar covers its whole last day, so it ends at the next day's start.
    frame["end_day"] = [day_on_treatment(start, d) + 1 for d in end_dates]
    frame["resolved_date"] = frame["resolved_date"].astype(object).where(~frame["open"], None)
    return frame[columns].reset_index(drop=True)


def _medication_timeline(meds: pd.DataFrame, start: date, as_of: date) -> pd.DataFrame:
    """Each record from its start to its stop (while not stopped: to today), on the events' day axis; `classes`
    the labels of a catalogue drug's interaction classes ("" for one in none), `interaction` whether one of them
    has an interaction rule (seed_data/interaction_classes.csv)."""
    columns = ["id", "version", "drug", "in_catalogue", "classes", "interaction", "dose", "route", "start_date",
               "stop_date", "start_day", "end_day", "open", "indication", "adverse_event_id", "notes"]
    if meds.empty:
        return pd.DataFrame(columns=columns)
    frame = meds.copy()
    frame["in_catalogue"] = frame["in_catalogue"].astype(bool)
    frame["open"] = frame["stop_date"].isna()
    end_dates = frame["stop_date"].where(~frame["open"], as_of)
    frame["start_day"] = frame["start_date"].map(lambda d: day_on_treatment(start, d))
    # A bar covers its whole last day, so it ends at the next day's start.
    frame["end_day"] = [day_on_treatment(start, d) + 1 for d in end_dates]
    frame["stop_date"] = frame["stop_date"].astype(object).where(~frame["open"], None)
    found = [medications.classes_of(drug) if listed else () for drug, listed in zip(frame["drug"], frame["in_catalogue"])]
    frame["classes"] = [", ".join(medications.class_label(c) for c in names) if listed else FREE_TEXT_CLASSES
                        for names, listed in zip(found, frame["in_catalogue"])]
    rules = {name for name, klass in medications.interaction_classes().items() if klass.rule is not None}
    frame["interaction"] = [bool(rules.intersection(names)) for names in found]
    return frame[columns].reset_index(drop=True)


def _dose_timeline(doses: pd.DataFrame, start: date, as_of: date) -> pd.DataFrame:
    columns = ["start_day", "end_day", "start_date", "end_date", "dose_mg", "action", "every_other_day", "held"]
    segments = dosing.dose_segments(doses, start, as_of) if not doses.empty else []
    rows = [{"start_day": day_on_treatment(start, s.start), "end_day": day_on_treatment(start, s.end),
             "start_date": s.start, "end_date": s.end - timedelta(days=1), "dose_mg": s.dose_mg,
             "action": s.action, "every_other_day": s.every_other_day, "held": s.action == "hold"}
            for s in segments]
    return pd.DataFrame(rows, columns=columns)


def _lab_points(labs: pd.DataFrame, start: date) -> pd.DataFrame:
    columns = ["test", "label", "collected_on", "day", "value", "unit", "plotted", "plotted_unit", "lln", "uln",
               "grade", "baseline"]
    if labs.empty:
        return pd.DataFrame(columns=columns)
    frame = labs.copy()
    frame["label"] = frame["test"].map(LAB_TEST_LABELS)
    frame["day"] = frame["collected_on"].map(lambda d: day_on_treatment(start, d))
    relative = frame["test"].isin(RELATIVE_TO_ULN) & frame["uln"].notna() & (frame["uln"] > 0)
    frame["plotted"] = frame["value"].where(~relative, frame["value"] / frame["uln"])
    frame["plotted_unit"] = frame["unit"].where(~relative, "x ULN")
    frame["grade"] = frame["ctcae_grade"]
    return frame[columns].reset_index(drop=True)


def _summary(patient: dict, as_of: date, events: pd.DataFrame, segments: pd.DataFrame, labs: pd.DataFrame,
             doses: pd.DataFrame, serious: int) -> dict:
    intensity = dosing.dose_intensity(pd.DataFrame([patient]), doses.assign(patient_id=patient["id"])
                                      if not doses.empty else doses, as_of)
    emergent = events[~events["baseline"].astype(bool)] if not events.empty else events
    worst = (emergent.groupby("term")["grade"].max().reindex(
        [t for t in ctcae.ordered_terms() if t in set(emergent["term"])]).to_dict() if not emergent.empty else {})
    last_labs = (labs.sort_values(["collected_on"]).groupby("test").tail(1)
                 .set_index("test").reindex([t for t in LAB_TESTS if t in set(labs["test"])])
                 if not labs.empty else pd.DataFrame())
    current = intensity.iloc[0] if not intensity.empty else None
    return {
        **dosing.treatment_state(pd.DataFrame([patient]), intensity).iloc[0].to_dict(),  # status, days on treatment
        "planned_dose_mg": patient["planned_dose_mg"],
        "current_dose_mg": None if current is None else float(current["current_dose_mg"]),
        "relative_dose_intensity_pct": None if current is None else current["relative_dose_intensity_pct"],
        "days_held": 0 if current is None else int(current["days_held"]),
        "reductions": 0 if current is None else int(current["reductions"]),
        "open_events": int(events["open"].sum()) if not events.empty else 0,
        "serious_events": serious,
        "worst_grade_by_term": {term: int(grade) for term, grade in worst.items()},
        "last_labs": [{"test": test, "label": LAB_TEST_LABELS[test], "value": row["value"], "unit": row["unit"],
                       "collected_on": row["collected_on"],
                       "grade": None if pd.isna(row["grade"]) else int(row["grade"])}
                      for test, row in last_labs.iterrows()],
    }
