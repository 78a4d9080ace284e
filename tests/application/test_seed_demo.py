"""The demo cohort: deterministic, fictional, plausible, and never written over real data."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from sqlmodel import select

from models.clinical import ctcae
from models.demo import DatabaseNotEmptyError, is_demo_database, seed_demo
from models.store import queries
from models.store.db import read_session, write_session
from models.store.tables import AdverseEvent, AuditEntry, DoseEvent, LabResult, Patient
from seed_data.demo_cohort import SEED_USER, generate
from tests.conftest import DEMO_TODAY


def test_same_seed_gives_the_same_cohort_and_another_seed_does_not():
    first = generate(patients=40, seed=3, today=DEMO_TODAY)
    again = generate(patients=40, seed=3, today=DEMO_TODAY)
    other = generate(patients=40, seed=4, today=DEMO_TODAY)
    assert first == again
    assert first.adverse_events != other.adverse_events


def test_patients_are_clearly_fictional_and_start_on_the_planned_dose():
    cohort = generate(patients=60, seed=1, today=DEMO_TODAY)
    assert all(p["mrn"].startswith("DEMO-") and p["name"].endswith("(fictional)") for p in cohort.patients)
    starts = [d for d in cohort.doses if d["action"] == "start"]
    assert len(starts) == 60
    planned = {p["id"]: p["planned_dose_mg"] for p in cohort.patients}
    assert all(d["dose_mg"] == planned[d["patient_id"]] for d in starts)
    assert all(p["treatment_start"] < DEMO_TODAY for p in cohort.patients)


def test_events_are_valid_ctcae_records_in_order():
    cohort = generate(patients=200, seed=2, today=DEMO_TODAY)
    starts = {p["id"]: p["treatment_start"] for p in cohort.patients}
    for event in cohort.adverse_events:
        term = ctcae.get_term(event["term"])
        assert event["grade"] in term.grades, event
        assert event["onset_date"] >= starts[event["patient_id"]]
        assert event["onset_date"] <= DEMO_TODAY
        assert event["resolved_date"] is None or event["resolved_date"] >= event["onset_date"]
        assert event["meddra_code"] == term.meddra_code


def test_grade_changes_follow_the_one_grade_per_record_convention():
    cohort = generate(patients=200, seed=2, today=DEMO_TODAY)
    by_id = {e["id"]: e for e in cohort.adverse_events}
    continued = [e for e in cohort.adverse_events if e["previous_event_id"]]
    assert continued, "a grade >= 2 episode steps down to grade 1 in a new record"
    for event in continued:
        previous = by_id[event["previous_event_id"]]
        assert previous["term"] == event["term"] and previous["grade"] != event["grade"]
        assert previous["resolved_date"] is not None
        assert (event["onset_date"] - previous["resolved_date"]).days == 1


def test_stomatitis_is_early_and_pneumonitis_later():
    cohort = generate(patients=1500, seed=5, today=DEMO_TODAY)
    starts = {p["id"]: p["treatment_start"] for p in cohort.patients}
    first_onset = {}
    for e in cohort.adverse_events:
        key = (e["patient_id"], e["term"])
        day = (e["onset_date"] - starts[e["patient_id"]]).days
        first_onset[key] = min(day, first_onset.get(key, day))
    stomatitis = pd.Series([d for (p, t), d in first_onset.items() if t == "Mucositis oral"])
    pneumonitis = pd.Series([d for (p, t), d in first_onset.items() if t == "Pneumonitis"])
    assert 8 <= stomatitis.median() <= 25  # published: grade >= 2 median onset 15.5 days
    assert (stomatitis <= 56).mean() >= 0.8  # published: 89% of first episodes within 8 weeks
    assert pneumonitis.median() > 2 * stomatitis.median()


def test_doses_mostly_follow_the_label_with_a_few_deviations():
    cohort = generate(patients=400, seed=7, today=DEMO_TODAY)
    holds = [d for d in cohort.doses if d["action"] == "hold"]
    assert holds and any(d["action"] == "reduce" for d in cohort.doses)
    unexplained = [d for d in holds if d["reason"] is None and d["adverse_event_id"] is None]
    assert 0 < len(unexplained) < len(holds) / 3
    assert all(d["dose_mg"] in (10.0, 5.0, 2.5, 0.0) for d in cohort.doses)


def test_labs_carry_the_grade_their_value_supports():
    cohort = generate(patients=80, seed=9, today=DEMO_TODAY)
    graded = [lab for lab in cohort.labs if lab["ctcae_grade"]]
    assert graded, "events that grade from labs come with abnormal values"
    for lab in cohort.labs[:2000]:
        expected = ctcae.grade_lab(lab["test"], lab["value"], lab["unit"], lln=lab["lln"], uln=lab["uln"])
        assert lab["ctcae_grade"] == expected


def test_seed_demo_fills_an_empty_database_once(db_url):
    summary = seed_demo(db_url, patients=30, seed=11, today=DEMO_TODAY)
    assert summary.patients == 30
    assert is_demo_database(db_url)
    assert len(queries.patients(db_url)) == 30
    assert len(queries.adverse_events(db_url)) == summary.adverse_events
    assert len(queries.labs(db_url)) == summary.labs
    with read_session(db_url) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "seed_demo")).all()
    assert len(entries) == 1 and json.loads(entries[0].detail)["patients"] == 30

    with pytest.raises(DatabaseNotEmptyError):
        seed_demo(db_url, patients=5, seed=12, today=DEMO_TODAY)
    assert len(queries.patients(db_url)) == 30


def test_seeded_rows_hold_exactly_the_generated_values(db_url):
    """The bulk load (COPY on PostgreSQL, INSERTs on SQLite) stores every generated value and the table
    defaults for the rest, the same on both backends."""
    seed_demo(db_url, patients=12, seed=5, today=DEMO_TODAY, registry=True)
    cohort = generate(patients=12, seed=5, today=DEMO_TODAY, registry=True)
    for table, generated in ((Patient, cohort.patients), (AdverseEvent, cohort.adverse_events),
                             (LabResult, cohort.labs), (DoseEvent, cohort.doses)):
        with read_session(db_url) as session:
            stored = {row.id: row.model_dump() for row in session.exec(select(table))}
        assert len(stored) == len(generated), table.__name__
        for row in generated:
            saved = stored[row["id"]]
            assert {k: saved[k] for k in row} == row, (table.__name__, row["id"])
            assert (saved["record_status"], saved["version"], saved["created_by"]) == ("active", 1, SEED_USER)
            assert saved["created_at"] is not None and saved["updated_by"] is None


def test_new_rows_after_seeding_get_fresh_ids(db_url):
    seed_demo(db_url, patients=5, seed=1, today=DEMO_TODAY)
    with write_session(db_url) as session:
        patient = Patient(mrn="REAL-1", name="New Patient", treatment_start=date(2026, 10, 1), created_by="t")
        session.add(patient)
        session.flush()
        assert patient.id == 6


def test_a_database_that_seed_demo_did_not_fill_is_not_in_demo_mode(db_url):
    assert not is_demo_database(db_url)
