"""The cohort aggregate two ways: naive (every adverse-event row into pandas, then group) and the app's
(the incidence table from the onset summary kept by the write path), with a check that their counts agree."""
from __future__ import annotations

import statistics
from datetime import date

import pandas as pd
from sqlalchemy import select

from benchmarks.timing import summary, timed_ms
from models.analysis import cohort, incidence
from models.clinical import exposure
from models.store import queries
from models.store.db import get_engine
from models.store.tables import AdverseEvent, DoseEvent, Patient

RUNS = 5


def naive(url: str, as_of: date) -> tuple[int, list[dict]]:
    """What a simple Streamlit app does on each rerun: load every row, then group in pandas."""
    events = queries.adverse_events(url)
    patients = queries.patients(url)
    doses = queries.dose_events(url)
    return incidence.incidence_table(events, patients, doses, as_of)


def vectorised(url: str, as_of: date) -> dict:
    """A lean pandas version of the naive approach (the issue's ~980 ms baseline): every active
    adverse-event row, with its dates as datetime64, kept where treatment-emergent (the exposure periods of
    models/clinical/exposure.py) and grouped with vectorised operations. Not the brief's naive path (which goes
    through incidence.incidence_table); shown beside it as a stricter baseline.
    Returns counts() shaped {"exposed", "terms": {term: {band: patients}}} for every band."""
    events_sql = select(AdverseEvent.patient_id, AdverseEvent.term, AdverseEvent.grade, AdverseEvent.onset_date,
                        AdverseEvent.baseline).where(AdverseEvent.record_status == "active")
    patients_sql = select(Patient.id, Patient.treatment_start).where(Patient.record_status == "active")
    doses_sql = select(DoseEvent.id, DoseEvent.patient_id, DoseEvent.effective_date, DoseEvent.action,
                       DoseEvent.dose_mg).where(DoseEvent.record_status == "active")
    with get_engine(url).connect() as connection:
        events = pd.read_sql_query(events_sql, connection)
        patients = pd.read_sql_query(patients_sql, connection)
        doses = pd.read_sql_query(doses_sql, connection)
    for frame, column in ((patients, "treatment_start"), (doses, "effective_date")):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    periods = exposure.exposure_periods(patients, doses, as_of)
    followed = exposure.follow_up(patients, periods, queries.death_dates(url), as_of)
    exposed = followed.index[followed["exposed"].astype(bool)]
    frame = events[~events["baseline"].astype(bool) & events["patient_id"].isin(exposed)]
    frame = frame[exposure.in_periods(frame["patient_id"], pd.to_datetime(frame["onset_date"]), periods)]
    worst = frame.groupby(["patient_id", "term"])["grade"].max().reset_index()
    terms: dict[str, dict[str, int]] = {}
    for band, (_, grade) in incidence.BANDS.items():
        for term, patients_with in worst[worst["grade"] >= grade].groupby("term")["patient_id"].nunique().items():
            terms.setdefault(term, {})[band] = int(patients_with)
    return {"exposed": len(exposed), "terms": terms}


def vectorised_differences(lean: dict, app_counts: dict) -> list[str]:
    """Where the lean baseline disagrees with the app, for the bands the app's table shows."""
    found = []
    if lean["exposed"] != app_counts["exposed"]:
        found.append(f"exposed patients: vectorised {lean['exposed']} vs app {app_counts['exposed']}")
    for term, bands in app_counts["terms"].items():
        for band, patients_with in bands.items():
            if lean["terms"].get(term, {}).get(band, 0) != patients_with:
                found.append(f"{term} {band}: vectorised {lean['terms'].get(term, {}).get(band, 0)} vs app "
                             f"{patients_with}")
    found += [f"{term}: vectorised only" for term in lean["terms"] if term not in app_counts["terms"]]
    return found


def app(url: str, as_of: date) -> tuple[int, list[dict]]:
    """The app's cohort aggregate: the incidence table as the page computes it (the onset summary and each
    patient's exposure periods, then the exact CIs and tests), with the exposure-adjusted rates."""
    analysis = cohort.analyse(url, as_of=as_of)
    return analysis.exposed, analysis.rows


def counts(result: tuple[int, list[dict]]) -> dict:
    """{"exposed": n, "terms": {term: {band: patients}}} from (exposed, rows)."""
    exposed, rows = result
    terms = {row["term"]: {band: row[band].patients for band in incidence.BANDS if band in row} for row in rows}
    return {"exposed": exposed, "terms": terms}


def differences(first: dict, second: dict) -> list[str]:
    """Every place where two count sets disagree, in words (empty when they are identical)."""
    found = []
    if first["exposed"] != second["exposed"]:
        found.append(f"exposed patients: naive {first['exposed']} vs app {second['exposed']}")
    for term in sorted(set(first["terms"]) | set(second["terms"])):
        a, b = first["terms"].get(term), second["terms"].get(term)
        if a is None or b is None:
            found.append(f"{term}: only in {'app' if a is None else 'naive'}")
            continue
        for band in sorted(set(a) | set(b)):
            if a.get(band) != b.get(band):
                found.append(f"{term} {band}: naive {a.get(band)} vs app {b.get(band)}")
    return found


def agreement(url: str, as_of: date) -> dict:
    """One naive and one app computation compared (used again after the writes)."""
    problems = differences(counts(naive(url, as_of)), counts(app(url, as_of)))
    return {"agree": not problems, "differences": problems}


def measure(url: str, as_of: date, runs: int = RUNS) -> dict:
    """Median of `runs` each way (after one untimed run each), their ratio, and the agreement of counts."""
    naive_result, app_result = naive(url, as_of), app(url, as_of)  # warm: imports, engine, reference data
    lean_result = vectorised(url, as_of)
    naive_ms, app_ms, lean_ms = [], [], []
    for _ in range(runs):  # interleaved, so a slow moment of the machine hits all alike
        elapsed, naive_result = timed_ms(naive, url, as_of)
        naive_ms.append(elapsed)
        elapsed, app_result = timed_ms(app, url, as_of)
        app_ms.append(elapsed)
        elapsed, lean_result = timed_ms(vectorised, url, as_of)
        lean_ms.append(elapsed)
    naive_counts, app_counts = counts(naive_result), counts(app_result)
    problems = differences(naive_counts, app_counts)
    problems += vectorised_differences(lean_result, app_counts)
    ratio = statistics.median(naive_ms) / statistics.median(app_ms)
    lean_ratio = statistics.median(lean_ms) / statistics.median(app_ms)
    return {"as_of": as_of.isoformat(), "naive": summary(naive_ms), "app": summary(app_ms),
            "vectorised": summary(lean_ms), "ratio": round(ratio, 1), "vectorised_ratio": round(lean_ratio, 1),
            "agree": not problems, "differences": problems,
            "exposed": app_counts["exposed"], "terms": len(app_counts["terms"]),
            "bands_compared": sum(len(b) for b in app_counts["terms"].values())}
