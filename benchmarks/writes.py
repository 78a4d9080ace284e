"""Writes through the app's write path: saving adverse events (1 and 10 concurrent writers) and importing
10,000 events. Every written event is new and valid: existing patients, distinct (term, onset) per patient,
none clashing with what the database holds (so a reused database can be measured again)."""
from __future__ import annotations

import collections
import math
import threading
import time
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import select

from benchmarks.timing import summary
from models.clinical import ctcae
from models.exchange import csv_files, csv_import
from models.store import queries, records
from models.store.db import get_engine
from models.store.tables import AdverseEvent

SINGLE_SAVES = 50
WRITERS = 10
SAVES_PER_WRITER = 20
IMPORT_EVENTS = 10_000
IMPORT_PER_PATIENT = 5
ACTOR = records.Actor("bench-nurse", "nurse")
ATTRIBUTIONS = ("possible", "probable", "unlikely")


def _terms() -> list[str]:
    return [t.name for t in ctcae.terms() if {1, 2, 3} <= set(t.grades)]


def _existing(url: str, patient_ids: list[int] | None = None) -> set[tuple[int, str, date]]:
    statement = select(AdverseEvent.patient_id, AdverseEvent.term, AdverseEvent.onset_date) \
        .where(AdverseEvent.record_status == "active")
    if patient_ids is not None:
        statement = statement.where(AdverseEvent.patient_id.in_(patient_ids))
    with get_engine(url).connect() as connection:
        return {(pid, term, onset) for pid, term, onset in connection.execute(statement)}


def _slots(patient: pd.Series, count: int, today: date, existing: set, terms: list[str]) -> list[dict]:
    """`count` new events for one patient: distinct onset dates (most recent first), terms in turn."""
    slots, turn = [], patient["id"]
    day = today
    while len(slots) < count:
        if day < patient["treatment_start"]:
            raise RuntimeError(f"patient {patient['mrn']} has too few days on treatment for {count} events")
        for _ in range(len(terms)):
            term = terms[turn % len(terms)]
            turn += 1
            if (patient["id"], term, day) not in existing:
                grade = 1 + turn % 3
                slots.append({"patient_id": int(patient["id"]), "mrn": patient["mrn"], "term": term,
                              "grade": grade, "onset_date": day, "serious": False,
                              "attribution": ATTRIBUTIONS[turn % len(ATTRIBUTIONS)]})
                break
        day -= timedelta(days=1)
    return slots


def _candidates(url: str, today: date, min_days: int) -> pd.DataFrame:
    patients = queries.patients(url)
    patients = patients[patients["treatment_start"] <= today - timedelta(days=min_days)]
    return patients.sort_values("id").reset_index(drop=True)


def _spread(frame: pd.DataFrame, count: int, skip: set[int]) -> pd.DataFrame:
    """`count` patients spread over the id range, none of `skip`."""
    frame = frame[~frame["id"].isin(skip)]
    if len(frame) < count:
        raise RuntimeError(f"only {len(frame)} patients are long enough on treatment; {count} needed")
    step = len(frame) / count
    return frame.iloc[[int(i * step) for i in range(count)]]


def _save(values: dict, url: str, today: date) -> None:
    records.create("adverse_event", {k: v for k, v in values.items() if k != "mrn"}, ACTOR, today=today, url=url)


def _run_writers(plans: list[list[dict]], url: str, today: date) -> dict:
    """Each plan in its own thread, all starting together; latency per save, errors by message."""
    latencies: list[float] = []
    errors: collections.Counter = collections.Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(plans))

    def writer(plan: list[dict]) -> None:
        barrier.wait()
        for values in plan:
            started = time.perf_counter()
            try:
                _save(values, url, today)
            except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                with lock:
                    errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=writer, args=(plan,), name=f"bench-writer-{i}") for i, plan in
               enumerate(plans)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - started
    attempted = sum(len(plan) for plan in plans)
    return {**summary(latencies), "writers": len(plans), "attempted": attempted, "saved": len(latencies),
            "errors": sum(errors.values()), "error_messages": dict(errors.most_common(5)),
            "wall_s": round(wall_s, 2), "saves_per_s": round(len(latencies) / wall_s, 1) if wall_s else None}


def measure_saves(url: str, today: date) -> dict:
    terms = _terms()
    needed = max(SINGLE_SAVES, SAVES_PER_WRITER) + 10
    candidates = _candidates(url, today, needed)
    chosen = _spread(candidates, 1 + WRITERS, set())
    existing = _existing(url, [int(i) for i in chosen["id"]])
    single = _slots(chosen.iloc[0], SINGLE_SAVES, today, existing, terms)
    _save(_slots(chosen.iloc[0], SINGLE_SAVES + 1, today, existing, terms)[-1], url, today)  # warm-up, untimed
    one = _run_writers([single], url, today)
    plans = [_slots(chosen.iloc[i], SAVES_PER_WRITER, today, existing, terms) for i in range(1, 1 + WRITERS)]
    ten = _run_writers(plans, url, today)
    return {"one_writer": one, "ten_writers": ten,
            "patients": [str(m) for m in chosen["mrn"]]}


def _import_patients(url: str, today: date, skip_mrns: set[str]) -> tuple[pd.DataFrame, int]:
    """Patients spread over the cohort and events per patient (at least IMPORT_PER_PATIENT; more on a small
    cohort), each patient long enough on treatment for that many distinct onset dates."""
    candidates = _candidates(url, today, IMPORT_PER_PATIENT)
    candidates = candidates[~candidates["mrn"].isin(skip_mrns)]
    days_on = candidates["treatment_start"].map(lambda start: (today - start).days + 1)
    per_patient = max(IMPORT_PER_PATIENT, math.ceil(IMPORT_EVENTS / max(len(candidates), 1)))
    while per_patient <= int(days_on.max() if len(days_on) else 0):
        eligible = candidates[days_on >= per_patient]
        if len(eligible) * per_patient >= IMPORT_EVENTS:
            return _spread(eligible, math.ceil(IMPORT_EVENTS / per_patient), set()), per_patient
        per_patient += 1
    raise RuntimeError(f"the cohort is too small to hold {IMPORT_EVENTS} new events with distinct onsets")


def import_csv(url: str, today: date, skip_mrns: set[str]) -> tuple[bytes, int]:
    """adverse_events.csv with IMPORT_EVENTS new valid events for existing patients (demo MRNs)."""
    terms = _terms()
    chosen, per_patient = _import_patients(url, today, skip_mrns)
    existing = _existing(url)
    rows = []
    for _, patient in chosen.iterrows():
        rows += _slots(patient, per_patient, today, existing, terms)
    rows = rows[:IMPORT_EVENTS]
    frame = pd.DataFrame({"mrn": [r["mrn"] for r in rows], "term": [r["term"] for r in rows],
                          "grade": [r["grade"] for r in rows],
                          "onset_date": [r["onset_date"].isoformat() for r in rows], "resolved_date": "",
                          "serious": "no", "attribution": [r["attribution"] for r in rows],
                          "action_taken": "none", "notes": "benchmark import"},
                         columns=list(csv_files.COLUMNS["adverse_events.csv"]))
    return frame.to_csv(index=False).encode("utf-8"), len(chosen)


def measure_import(url: str, today: date, skip_mrns: set[str]) -> dict:
    data, patients = import_csv(url, today, skip_mrns)
    before = queries.table_counts(url)["adverse events"]
    started = time.perf_counter()
    report = csv_import.import_files({"adverse_events.csv": data}, records.Actor("bench-import", "nurse"),
                                   today=today, url=url)
    seconds = time.perf_counter() - started
    written = queries.table_counts(url)["adverse events"] - before
    rows = report.counts.get("adverse_events.csv", 0)
    return {"rows": rows, "patients": patients, "bytes": len(data), "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds, 1) if seconds else None, "ok": report.ok and written == rows,
            "written": written, "problems": report.problems[:5], "problem_count": len(report.problems)}
