"""The onset summary the write path keeps (models/store/summary.py) always equals a recomputation from the
events, after every kind of write — so cohort figures read from it are exact."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from models.analysis import incidence
from models.demo import seed_demo
from models.exchange import csv_import
from models.store import queries, records
from tests.conftest import DEMO_TODAY

NURSE = records.Actor("nurse", "nurse")
PHARMACIST = records.Actor("pharmacist", "pharmacist")
ADMIN = records.Actor("admin", "admin")
START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)


def normalised(frame: pd.DataFrame) -> list[tuple]:
    columns = ["patient_id", "term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "worst_grade"]
    rows = []
    for row in frame[columns].itertuples(index=False):
        rows.append(tuple(None if (not isinstance(v, str) and pd.isna(v))
                          else v.date() if isinstance(v, pd.Timestamp) else v for v in row))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def _as_date(value):
    return None if value is None or (not isinstance(value, (str, date)) and pd.isna(value)) \
        else pd.Timestamp(value).date()


def assert_summary_matches(url: str) -> None:
    expected = incidence.onsets_from_events(queries.adverse_events(url), queries.patients(url))
    assert normalised(queries.term_onsets(url)) == normalised(expected)


def test_the_summary_follows_every_kind_of_write(db_url):
    patient = records.create("patient", {"mrn": "S-1", "name": "Summary Test", "treatment_start": START},
                             NURSE, today=TODAY, url=db_url)
    pid = patient["id"]
    assert_summary_matches(db_url)

    first = records.create("adverse_event", {"patient_id": pid, "term": "Stomatitis", "grade": 1,
                                             "onset_date": date(2026, 1, 20)}, NURSE, today=TODAY, url=db_url)
    assert_summary_matches(db_url)
    assert normalised(queries.term_onsets(db_url)) == [(pid, "Mucositis oral", date(2026, 1, 20), None, None, 1)]

    ended, worse = records.change_grade(first["id"], 1, 3, date(2026, 1, 25), NURSE, today=TODAY, url=db_url)
    assert_summary_matches(db_url)
    assert normalised(queries.term_onsets(db_url)) == [
        (pid, "Mucositis oral", date(2026, 1, 20), date(2026, 1, 25), date(2026, 1, 25), 3)]

    records.update("adverse_event", worse["id"], 1, {"onset_date": date(2026, 1, 26)}, NURSE, today=TODAY,
                   url=db_url)
    assert_summary_matches(db_url)

    records.mark_entered_in_error("adverse_event", worse["id"], 2, "wrong patient", NURSE, url=db_url)
    assert_summary_matches(db_url)
    assert normalised(queries.term_onsets(db_url)) == [(pid, "Mucositis oral", date(2026, 1, 20), None, None, 1)]

    baseline = records.create("adverse_event", {"patient_id": pid, "term": "Fatigue", "grade": 2, "baseline": True,
                                                "onset_date": START - timedelta(days=3)}, NURSE, today=TODAY,
                              url=db_url)
    assert_summary_matches(db_url)
    assert all(term != "Fatigue" for _, term, *_ in normalised(queries.term_onsets(db_url))), \
        "a pre-existing event is never treatment-emergent"
    records.update("adverse_event", baseline["id"], 1, {"baseline": False, "onset_date": START}, NURSE,
                   today=TODAY, url=db_url)
    assert_summary_matches(db_url)

    # Moving the treatment start later makes the earlier events pre-treatment.
    records.update("patient", pid, 1, {"treatment_start": date(2026, 1, 22)}, NURSE, today=TODAY, url=db_url)
    assert_summary_matches(db_url)
    assert normalised(queries.term_onsets(db_url)) == []

    records.mark_entered_in_error("patient", pid, 2, "duplicate registration", ADMIN, url=db_url)
    assert queries.term_onsets(db_url).empty


def counts(result: tuple[int, list[dict]]) -> dict[str, tuple[int, int]]:
    exposed, rows = result
    return {row["term"]: (row["any_grade"].patients, exposed) for row in rows if row["any_grade"].patients}


def test_the_cohort_figures_follow_every_dose_write(db_url):
    """Which onsets count follows the dose records (exposure periods), read from the summary and the dose
    records: after a stop, an edit of its date, a hold before it, a restart, and a stop entered in error, the
    cohort page's figures equal those from every event row, and the expected ones."""
    from models.analysis import cohort

    pid = records.create("patient", {"mrn": "S-2", "name": "Stop Test", "treatment_start": START},
                         NURSE, today=TODAY, url=db_url)["id"]
    for term, onset in (("Stomatitis", date(2026, 1, 20)), ("Pneumonitis", date(2026, 3, 14)),
                        ("Fatigue", date(2026, 5, 3))):
        records.create("adverse_event", {"patient_id": pid, "term": term, "grade": 2, "onset_date": onset},
                       NURSE, today=TODAY, url=db_url)
    records.create("dose_event", {"patient_id": pid, "effective_date": START, "action": "start", "dose_mg": 10},
                   PHARMACIST, today=TODAY, url=db_url)

    def figures() -> dict[str, tuple[int, int]]:
        from_summary = counts((lambda a: (a.exposed, a.rows))(cohort.analyse(db_url, as_of=TODAY)))
        assert from_summary == counts(incidence.cohort_incidence(db_url, as_of=TODAY))
        return from_summary

    everything = {"Mucositis oral": (1, 1), "Pneumonitis": (1, 1), "Fatigue": (1, 1)}
    assert figures() == everything
    stop = records.create("dose_event", {"patient_id": pid, "effective_date": date(2026, 2, 10),
                                         "action": "discontinue", "dose_mg": 0}, PHARMACIST, today=TODAY,
                          url=db_url)
    # last dose 2026-02-09, counted to 2026-03-11: the 03-14 pneumonitis no longer counts
    assert figures() == {"Mucositis oral": (1, 1)}
    records.update("dose_event", stop["id"], 1, {"effective_date": date(2026, 2, 14)}, PHARMACIST, today=TODAY,
                   url=db_url)
    assert figures() == {"Mucositis oral": (1, 1), "Pneumonitis": (1, 1)}  # counted to 03-15
    hold = records.create("dose_event", {"patient_id": pid, "effective_date": date(2026, 2, 5), "action": "hold",
                                         "dose_mg": 0}, PHARMACIST, today=TODAY, url=db_url)
    assert figures() == {"Mucositis oral": (1, 1)}, "held from 02-05: last dose 02-04, counted to 03-06"
    records.create("dose_event", {"patient_id": pid, "effective_date": date(2026, 4, 20), "action": "start",
                                  "dose_mg": 10}, PHARMACIST, today=TODAY, url=db_url)
    assert figures() == {"Mucositis oral": (1, 1), "Fatigue": (1, 1)}, "the restart's event counts"
    records.mark_entered_in_error("dose_event", hold["id"], 1, "wrong patient", PHARMACIST, url=db_url)
    records.mark_entered_in_error("dose_event", stop["id"], 2, "wrong patient", PHARMACIST, url=db_url)
    assert figures() == everything


def test_the_summary_follows_an_import(db_url, tmp_path):
    files = {
        "patients.csv": b"mrn,name,birth_date,treatment_start,planned_dose_mg\nI-1,Import One,1960-02-03,2026-01-05,10\n",
        "adverse_events.csv": (b"mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                               b"I-1,Stomatitis,2,2026-01-19,2026-01-30,no,probable,held,\n"
                               b"I-1,Pneumonitis,3,2026-03-02,,yes,possible,,\n"
                               b"I-1,Fatigue,1,2025-12-20,,no,,,before treatment\n"),
    }
    report = csv_import.import_files(files, ADMIN, today=TODAY, url=db_url)
    assert report.ok, report.problems
    assert_summary_matches(db_url)
    terms = {row[1] for row in normalised(queries.term_onsets(db_url))}
    assert terms == {"Mucositis oral", "Pneumonitis"}


def test_the_summary_follows_an_import_into_patients_with_stored_events(db_url):
    """An import refreshes its patients' rows once, at its end: stored rows change (earlier onset, worse
    grade, a stop), new terms appear, and patients the import does not touch keep theirs."""
    patients = []
    for mrn in ("S-1", "S-2", "S-3"):
        patient = records.create("patient", {"mrn": mrn, "name": mrn, "treatment_start": START}, NURSE, url=db_url)
        records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue", "grade": 1,
                                         "onset_date": date(2026, 3, 1), "resolved_date": date(2026, 3, 10)},
                       NURSE, today=TODAY, url=db_url)
        patients.append(patient)
    files = {
        "adverse_events.csv": (b"mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                               b"S-1,Fatigue,3,2026-02-01,2026-02-20,no,,,\n"
                               b"S-1,Pneumonitis,2,2026-02-10,,no,,,\n"
                               b"S-2,Fatigue,2,2026-04-01,,no,,,\n"
                               b"S-2,Fatigue,1,2025-12-01,2025-12-20,no,,,before treatment\n"),
        "doses.csv": (b"mrn,date,action,dose_mg,reason\n"
                      b"S-2,2026-01-05,start,10,\n"
                      b"S-2,2026-02-15,discontinue,0,Progression\n"),
    }
    report = csv_import.import_files(files, ADMIN, today=TODAY, url=db_url)
    assert report.ok, report.problems
    assert_summary_matches(db_url)
    rows = {(r[0], r[1]): r[2:] for r in normalised(queries.term_onsets(db_url))}
    s1, s2, s3 = (p["id"] for p in patients)
    assert rows[(s1, "Fatigue")] == (date(2026, 2, 1), date(2026, 2, 1), date(2026, 2, 1), 3)
    assert rows[(s1, "Pneumonitis")] == (date(2026, 2, 10), date(2026, 2, 10), None, 2)
    assert rows[(s2, "Fatigue")] == (date(2026, 3, 1), date(2026, 4, 1), None, 2)
    assert rows[(s3, "Fatigue")] == (date(2026, 3, 1), None, None, 1)


def test_the_summary_is_rebuilt_after_seeding(db_url):
    seed_demo(db_url, patients=40, seed=3, today=DEMO_TODAY)
    assert_summary_matches(db_url)
    assert not queries.term_onsets(db_url).empty


def test_init_finds_a_summary_row_changed_outside_the_app_and_rebuilds_it(db_url):
    """The summary is derived: a row rewritten behind the write path is found by `init` and put right."""
    import subprocess
    import sys

    from sqlalchemy import text

    from models.settings import PROJECT_ROOT
    from models.store.db import get_engine

    patient = records.create("patient", {"mrn": "SUM-1", "name": "Summary", "treatment_start": date(2026, 1, 5)},
                             NURSE, url=db_url)
    records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue", "grade": 3,
                                     "onset_date": date(2026, 2, 1)}, NURSE, url=db_url)
    with get_engine(db_url).begin() as connection:
        before = connection.execute(text("SELECT worst_grade FROM term_onset_summary")).scalar_one()
        connection.execute(text("UPDATE term_onset_summary SET worst_grade = 1, first_onset_grade_3 = NULL"))
    run = subprocess.run([sys.executable, "-m", "models", "--database-url", db_url, "init"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "differed from the adverse events in 2 rows" in run.stdout
    with get_engine(db_url).connect() as connection:
        assert connection.execute(text("SELECT worst_grade FROM term_onset_summary")).scalar_one() == before == 3
    again = subprocess.run([sys.executable, "-m", "models", "--database-url", db_url, "init"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert "differed" not in again.stdout
