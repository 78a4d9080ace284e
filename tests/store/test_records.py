"""The one write path (models.store.records) on SQLite and PostgreSQL: validation, roles, optimistic versions,
"entered in error" and one audit entry per write. Nothing refused may leave a trace."""
from __future__ import annotations

import json
import re
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from models.settings import PROJECT_ROOT
from models.store import queries, records
from models.store.db import read_session
from models.store.records import (Actor, DuplicateRecord, NotPermitted, RecordNotFound, StaleRecord,
                                  ValidationFailed)
from models.store.tables import AdverseEvent, AuditEntry, DoseEvent, LabResult, Patient

NURSE = Actor("nina.nurse", "nurse")
ONCOLOGIST = Actor("omar.onc", "oncologist")
PHARMACIST = Actor("pia.pharm", "pharmacist")
ADMIN = Actor("ada.admin", "admin")

START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)
TABLES = {"patient": Patient, "adverse_event": AdverseEvent, "lab_result": LabResult, "dose_event": DoseEvent}


# --- helpers ------------------------------------------------------------------------------------------

def _audits(url: str) -> list[dict]:
    with read_session(url) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [{"username": r.username, "action": r.action, "record_type": r.record_type,
                 "record_id": r.record_id, "patient_id": r.patient_id,
                 "before": None if r.before is None else json.loads(r.before),
                 "after": None if r.after is None else json.loads(r.after)} for r in rows]


def _count(url: str, kind: str) -> int:
    with read_session(url) as session:
        return session.scalar(select(func.count()).select_from(TABLES[kind]))


def _state(url: str) -> dict:
    """Row counts of every clinical table and of the audit trail."""
    return {**{kind: _count(url, kind) for kind in TABLES}, "audit": queries.audit_count(url)}


def _patient(url: str, mrn: str = "MRN-100", **overrides) -> dict:
    values = {"mrn": mrn, "name": "Test Person", "birth_date": date(1960, 3, 2), "treatment_start": START}
    return records.create("patient", {**values, **overrides}, ADMIN, today=TODAY, url=url)


def _event_values(patient_id: int, **overrides) -> dict:
    return {"patient_id": patient_id, "term": "Mucositis oral", "grade": 2, "onset_date": date(2026, 2, 1),
            **overrides}


def _lab_values(patient_id: int, **overrides) -> dict:
    return {"patient_id": patient_id, "test": "hemoglobin", "value": 13.0, "unit": "g/dL", "lln": 12.0,
            "uln": 16.0, "collected_on": date(2026, 2, 1), **overrides}


def _dose_values(patient_id: int, **overrides) -> dict:
    return {"patient_id": patient_id, "effective_date": START, "action": "start", "dose_mg": 10.0, **overrides}


def _clinical(values: dict) -> dict:
    """The values of a record without its bookkeeping timestamps (their text differs per backend)."""
    return {k: v for k, v in values.items() if k not in {"created_at", "updated_at"}}


# --- one audit entry per write, version 1 -> 2 -> 3 ------------------------------------------------------

# kind: (who creates, create values given the patient id, who edits, the edit, expected after the edit)
WRITES = {
    "patient": (NURSE, lambda pid: {"mrn": "MRN-200", "name": "Pat Example", "treatment_start": "2026-01-10",
                                    "birth_date": "1955-07-01"},
                ONCOLOGIST, {"planned_dose_mg": 7.5, "status": "held"},
                {"planned_dose_mg": 7.5, "status": "held", "mrn": "MRN-200", "treatment_start": "2026-01-10"}),
    "adverse_event": (NURSE, lambda pid: _event_values(pid), ONCOLOGIST,
                      {"grade": 3, "resolved_date": date(2026, 3, 1)},
                      {"grade": 3, "resolved_date": "2026-03-01", "term": "Mucositis oral",
                       "onset_date": "2026-02-01"}),
    "lab_result": (NURSE, lambda pid: _lab_values(pid), ONCOLOGIST, {"value": 7.5},
                   {"value": 7.5, "ctcae_grade": 3, "ctcae_term": "Anemia", "test": "hemoglobin"}),
    "dose_event": (PHARMACIST, lambda pid: _dose_values(pid), ONCOLOGIST,
                   {"dose_mg": 5.0, "reason": "started low by the oncologist's order"},
                   {"dose_mg": 5.0, "reason": "started low by the oncologist's order", "action": "start"}),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_each_write_leaves_one_audit_entry_with_before_and_after(db_url, kind):
    creator, make_values, editor, changes, expected_after_edit = WRITES[kind]
    patient_id = None if kind == "patient" else _patient(db_url)["id"]
    trail = _audits(db_url)

    # create
    created = records.create(kind, make_values(patient_id), creator, today=TODAY, url=db_url)
    record_id = created["id"]
    own_patient = record_id if kind == "patient" else patient_id
    assert created["version"] == 1 and created["record_status"] == "active"
    assert created["created_by"] == creator.username and created["updated_by"] is None
    entries = _audits(db_url)
    assert len(entries) == len(trail) + 1
    entry = entries[-1]
    assert (entry["username"], entry["action"], entry["record_type"], entry["record_id"],
            entry["patient_id"]) == (creator.username, "create", kind, record_id, own_patient)
    assert entry["before"] is None
    assert entry["after"]["id"] == record_id and entry["after"]["version"] == 1
    assert entry["after"]["created_by"] == creator.username
    for field, value in make_values(patient_id).items():
        stored = entry["after"][field]
        assert stored == (value.isoformat() if isinstance(value, date) else value), field

    # update
    updated = records.update(kind, record_id, 1, changes, editor, today=TODAY, url=db_url)
    assert updated["version"] == 2 and updated["updated_by"] == editor.username
    entries = _audits(db_url)
    assert len(entries) == len(trail) + 2
    entry = entries[-1]
    assert (entry["username"], entry["action"], entry["record_type"], entry["record_id"],
            entry["patient_id"]) == (editor.username, "update", kind, record_id, own_patient)
    assert _clinical(entry["before"]) == _clinical(entries[-2]["after"])  # before = what the create wrote
    assert entry["before"]["version"] == 1 and entry["after"]["version"] == 2
    assert entry["after"]["updated_by"] == editor.username
    for field, value in expected_after_edit.items():
        assert entry["after"][field] == value, field
    assert any(entry["before"][field] != entry["after"][field] for field in changes)
    stored = records.get(kind, record_id, url=db_url)
    assert stored["version"] == 2 and stored["updated_by"] == editor.username
    for field, value in changes.items():
        assert stored[field] == value, field

    # entered in error
    marked = records.mark_entered_in_error(kind, record_id, 2, "Entered on the wrong chart", ADMIN, url=db_url)
    assert marked["version"] == 3 and marked["record_status"] == "entered_in_error"
    entries = _audits(db_url)
    assert len(entries) == len(trail) + 3
    entry = entries[-1]
    assert (entry["username"], entry["action"], entry["record_type"], entry["record_id"],
            entry["patient_id"]) == (ADMIN.username, "entered_in_error", kind, record_id, own_patient)
    assert entry["before"]["version"] == 2 and entry["before"]["record_status"] == "active"
    assert entry["before"]["entered_in_error_reason"] is None
    assert entry["after"]["version"] == 3 and entry["after"]["record_status"] == "entered_in_error"
    assert entry["after"]["entered_in_error_reason"] == "Entered on the wrong chart"
    assert entry["after"]["updated_by"] == ADMIN.username
    stored = records.get(kind, record_id, url=db_url)
    assert (stored["version"], stored["record_status"], stored["entered_in_error_reason"]) == (
        3, "entered_in_error", "Entered on the wrong chart")
    assert _count(db_url, kind) == 1  # still there: nothing is deleted


# --- optimistic versions ------------------------------------------------------------------------------

def test_stale_edit_is_refused_and_changes_nothing(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    records.update("adverse_event", event["id"], 1, {"grade": 3}, ONCOLOGIST, today=TODAY, url=db_url)
    row, state = records.get("adverse_event", event["id"], url=db_url), _state(db_url)

    for stale_version in (1, 7):  # behind, and a version that never existed
        with pytest.raises(StaleRecord):
            records.update("adverse_event", event["id"], stale_version, {"grade": 1}, NURSE, today=TODAY,
                           url=db_url)
    with pytest.raises(StaleRecord):
        records.mark_entered_in_error("adverse_event", event["id"], 1, "duplicate", NURSE, url=db_url)
    assert records.get("adverse_event", event["id"], url=db_url) == row
    assert row["grade"] == 3 and row["version"] == 2 and row["record_status"] == "active"
    assert _state(db_url) == state


def test_two_users_editing_version_1_first_wins_second_is_told_who(db_url):
    alice, bob = Actor("alice", "oncologist"), Actor("bob", "nurse")
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    opened_by_alice = opened_by_bob = records.get("adverse_event", event["id"], url=db_url)["version"]
    assert opened_by_alice == 1

    records.update("adverse_event", event["id"], opened_by_alice, {"grade": 3}, alice, today=TODAY, url=db_url)
    audit_after_alice = queries.audit_count(db_url)
    with pytest.raises(StaleRecord) as refused:
        records.update("adverse_event", event["id"], opened_by_bob, {"grade": 1}, bob, today=TODAY, url=db_url)
    message = str(refused.value)
    assert "alice" in message and "version 2" in message and "Reload" in message
    row = records.get("adverse_event", event["id"], url=db_url)
    assert (row["grade"], row["version"], row["updated_by"]) == (3, 2, "alice")
    assert queries.audit_count(db_url) == audit_after_alice


def test_simultaneous_edits_of_one_version_apply_exactly_one(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    audit_before = queries.audit_count(db_url)
    barrier, outcomes = threading.Barrier(2), {}

    def edit(actor: Actor, grade: int) -> None:
        barrier.wait()
        try:
            records.update("adverse_event", event["id"], 1, {"grade": grade}, actor, today=TODAY, url=db_url)
            outcomes[actor.username] = "applied"
        except StaleRecord:
            outcomes[actor.username] = "stale"

    threads = [threading.Thread(target=edit, args=(Actor(name, "oncologist"), grade))
               for name, grade in (("carol", 1), ("dave", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["applied", "stale"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "applied")
    row = records.get("adverse_event", event["id"], url=db_url)
    assert row["version"] == 2 and row["updated_by"] == winner
    assert row["grade"] == {"carol": 1, "dave": 3}[winner]
    assert queries.audit_count(db_url) == audit_before + 1


def _at_once(*writes) -> list:
    """Run writes in threads released together; each outcome is the result or the exception raised."""
    barrier, outcomes = threading.Barrier(len(writes)), [None] * len(writes)

    def run(index, write):
        barrier.wait()
        try:
            outcomes[index] = write()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(writes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_simultaneous_creates_of_one_event_record_it_once(db_url):
    """Two tabs saving the same event at once (on PostgreSQL the patient row is locked for the check)."""
    for round_ in range(5):
        patient_id = _patient(db_url, mrn=f"MRN-R{round_}")["id"]
        outcomes = _at_once(*[lambda actor=actor: records.create("adverse_event", _event_values(patient_id),
                                                                  actor, today=TODAY, url=db_url)
                              for actor in (NURSE, ONCOLOGIST)])
        assert sorted(type(o).__name__ for o in outcomes) == ["DuplicateRecord", "dict"], outcomes
        with read_session(db_url) as session:
            assert session.scalar(select(func.count()).select_from(AdverseEvent)
                                  .where(AdverseEvent.patient_id == patient_id)) == 1


def test_simultaneous_writes_about_one_patient_do_not_deadlock(db_url):
    """A continuation event and a dose linked to an event, an edit of that event and of the patient."""
    for round_ in range(8):
        patient_id = _patient(db_url, mrn=f"MRN-D{round_}")["id"]
        event = records.create("adverse_event", _event_values(patient_id, resolved_date=date(2026, 2, 9)), NURSE,
                               today=TODAY, url=db_url)
        records.create("dose_event", _dose_values(patient_id), PHARMACIST, today=TODAY, url=db_url)
        outcomes = _at_once(
            lambda: records.create("adverse_event", _event_values(
                patient_id, grade=3, onset_date=date(2026, 2, 10), previous_event_id=event["id"]), ONCOLOGIST,
                today=TODAY, url=db_url),
            lambda: records.update("adverse_event", event["id"], 1, {"outcome": "recovering"},
                                   ONCOLOGIST, today=TODAY, url=db_url),
            lambda: records.create("dose_event", _dose_values(
                patient_id, action="hold", dose_mg=0.0, effective_date=date(2026, 2, 10),
                adverse_event_id=event["id"]), PHARMACIST, today=TODAY, url=db_url),
            lambda: records.update("patient", patient_id, 1, {"notes": "reviewed"}, ADMIN, today=TODAY,
                                   url=db_url))
        assert all(isinstance(o, dict) for o in outcomes), outcomes
    assert queries.audit_count(db_url) == 8 * 7


def test_system_columns_and_the_patient_cannot_be_changed_by_an_edit(db_url):
    patient_id = _patient(db_url)["id"]
    other_id = _patient(db_url, mrn="MRN-101")["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    state = _state(db_url)
    for changes in ({"version": 9}, {"created_by": "mallory"}, {"record_status": "entered_in_error"},
                    {"patient_id": other_id}):
        with pytest.raises(ValidationFailed) as refused:
            records.update("adverse_event", event["id"], 1, changes, NURSE, today=TODAY, url=db_url)
        assert "cannot be changed" in str(refused.value)
    assert records.get("adverse_event", event["id"], url=db_url)["version"] == 1
    assert _state(db_url) == state
    with pytest.raises(RecordNotFound):
        records.update("adverse_event", 999_999, 1, {"grade": 1}, NURSE, today=TODAY, url=db_url)


# --- refused writes leave nothing -----------------------------------------------------------------------

REFUSED = [
    ("adverse_event", {"term": "Dragon pox"}, ["'Dragon pox'", "not a CTCAE term"]),
    ("adverse_event", {"term": "Fatigue", "grade": 4}, ["Grade 4", "not defined", "Fatigue", "1, 2, 3"]),
    ("adverse_event", {"resolved_date": date(2026, 1, 31)}, ["Resolution date 2026-01-31", "before the onset"]),
    ("adverse_event", {"onset_date": date(2026, 6, 2)}, ["Onset date 2026-06-02", "in the future",
                                                          "today is 2026-06-01"]),
    ("adverse_event", {"resolved_date": date(2026, 6, 5)}, ["Resolution date", "in the future"]),
    ("adverse_event", {"term": "Pneumonitis", "grade": 5}, ["Grade 5", "date of death"]),
    ("adverse_event", {"grade": 2, "death_date": date(2026, 3, 1)}, ["date of death", "only with grade 5"]),
    ("adverse_event", {"onset_date": date(2026, 1, 1)}, ["Onset 2026-01-01", "before the treatment start",
                                                          "2026-01-05", "baseline"]),
    ("adverse_event", {"attribution": "maybe"}, ["Attribution", "possible", "'maybe'"]),
    ("dose_event", {"action": "hold", "dose_mg": 5.0}, ["hold", "0 mg"]),
    ("dose_event", {"action": "reduce", "dose_mg": 0.0}, ["reduce", "above 0"]),
    ("dose_event", {"action": "reduce", "dose_mg": 25.0}, ["reduce", "at most 20 mg"]),
    ("dose_event", {"action": "pause", "dose_mg": 0.0}, ["Dose action", "hold", "'pause'"]),
    ("lab_result", {"unit": "furlongs"}, ["Unit 'furlongs'", "hemoglobin", "g/dL"]),
    ("lab_result", {"lln": 16.0, "uln": 12.0}, ["lower limit of normal (16)", "below the upper (12)"]),
    ("lab_result", {"lln": 12.0, "uln": 12.0}, ["lower limit of normal (12)", "below the upper (12)"]),
    ("lab_result", {"value": -1.0}, ["Value cannot be negative"]),
    ("lab_result", {"value": float("nan")}, ["finite"]),
    ("lab_result", {"test": "cholesterol"}, ["Lab test", "hemoglobin", "'cholesterol'"]),
    ("lab_result", {"collected_on": date(2026, 7, 1)}, ["Collection date 2026-07-01", "in the future"]),
    ("patient", {"treatment_start": date(2026, 7, 1)}, ["Treatment start 2026-07-01", "in the future"]),
    ("patient", {"birth_date": date(2026, 2, 1)}, ["Birth date", "before the treatment start"]),
    ("patient", {"mrn": "MRN 9"}, ["MRN", "spaces"]),
    ("patient", {"planned_dose_mg": 30.0}, ["Planned daily dose", "20 mg"]),
    ("patient", {"name": "   "}, ["Name is required"]),
]
VALID = {"adverse_event": _event_values, "lab_result": _lab_values, "dose_event": _dose_values,
         "patient": lambda _pid, **o: {"mrn": "MRN-300", "name": "New Person", "treatment_start": START, **o}}


@pytest.mark.parametrize(("kind", "overrides", "words"), REFUSED,
                         ids=[f"{kind}-{'-'.join(map(str, o))}" for kind, o, _ in REFUSED])
def test_refused_create_writes_nothing_and_says_why(db_url, kind, overrides, words):
    patient_id = _patient(db_url)["id"]
    state = _state(db_url)
    with pytest.raises(ValidationFailed) as refused:
        records.create(kind, VALID[kind](patient_id, **overrides), ADMIN, today=TODAY, url=db_url)
    assert not isinstance(refused.value, DuplicateRecord)
    assert refused.value.problems, "a refusal names its problems"
    for word in words:
        assert word in str(refused.value), (word, str(refused.value))
    assert _state(db_url) == state
    # The same record without the fault is accepted, so the refusal was about that fault alone.
    good = {k: v for k, v in VALID[kind](patient_id).items()}
    records.create(kind, good, ADMIN, today=TODAY, url=db_url)
    assert _count(db_url, kind) == state[kind] + 1


def test_refusal_names_the_field(db_url):
    patient_id = _patient(db_url)["id"]
    with pytest.raises(ValidationFailed) as refused:
        records.create("adverse_event", _event_values(patient_id, term="Dragon pox"), NURSE, today=TODAY,
                       url=db_url)
    assert [p.field for p in refused.value.problems] == ["term"]
    with pytest.raises(ValidationFailed) as refused:
        records.create("adverse_event", _event_values(patient_id, onset_date=date(2025, 12, 1)), NURSE,
                       today=TODAY, url=db_url)
    assert [p.field for p in refused.value.problems] == ["onset_date"]
    with pytest.raises(ValidationFailed) as refused:
        records.create("adverse_event", {"patient_id": patient_id, "term": "Anemia"}, NURSE, today=TODAY,
                       url=db_url)
    assert {p.field for p in refused.value.problems} == {"grade", "onset_date"}
    assert "Grade is required." in str(refused.value) and "Onset date is required." in str(refused.value)


def test_onset_before_treatment_start_is_accepted_as_baseline(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id, onset_date=date(2025, 12, 20),
                                                          baseline=True), NURSE, today=TODAY, url=db_url)
    stored = records.get("adverse_event", event["id"], url=db_url)
    assert stored["baseline"] is True and stored["onset_date"] == date(2025, 12, 20)


def test_grade_5_with_a_death_date_is_accepted(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id, term="Pneumonitis", grade=5,
                                                          death_date=date(2026, 3, 3)), ONCOLOGIST,
                           today=TODAY, url=db_url)
    assert records.get("adverse_event", event["id"], url=db_url)["death_date"] == date(2026, 3, 3)


def test_duplicate_event_is_refused_with_the_existing_id(db_url):
    patient_id = _patient(db_url)["id"]
    ended = {"resolved_date": date(2026, 2, 3)}  # a second, later episode may follow it
    first = records.create("adverse_event", _event_values(patient_id, **ended), NURSE, today=TODAY, url=db_url)
    state = _state(db_url)
    for term in ("Mucositis oral", "Stomatitis"):  # a synonym names the same CTCAE term
        with pytest.raises(DuplicateRecord) as refused:
            records.create("adverse_event", _event_values(patient_id, term=term, grade=1), ONCOLOGIST,
                           today=TODAY, url=db_url)
        assert refused.value.existing_id == first["id"]
        assert "Mucositis oral with onset 2026-02-01 is already recorded" in str(refused.value)
        assert refused.value.problems[0].field == "term"
    assert _state(db_url) == state

    # An edit onto another record's term and onset is a duplicate too.
    second = records.create("adverse_event", _event_values(patient_id, onset_date=date(2026, 2, 8)), NURSE,
                            today=TODAY, url=db_url)
    state = _state(db_url)
    with pytest.raises(DuplicateRecord) as refused:
        records.update("adverse_event", second["id"], 1, {"onset_date": date(2026, 2, 1)}, NURSE, today=TODAY,
                       url=db_url)
    assert refused.value.existing_id == first["id"]
    assert records.get("adverse_event", second["id"], url=db_url)["onset_date"] == date(2026, 2, 8)
    assert _state(db_url) == state

    # Once the first is marked entered in error, the event can be recorded again.
    records.mark_entered_in_error("adverse_event", first["id"], 1, "wrong onset", NURSE, url=db_url)
    again = records.create("adverse_event", _event_values(patient_id, **ended), NURSE, today=TODAY, url=db_url)
    assert again["id"] not in (first["id"], second["id"])

    # The same term on the same day for another patient is not a duplicate.
    other = _patient(db_url, mrn="MRN-101")["id"]
    records.create("adverse_event", _event_values(other), NURSE, today=TODAY, url=db_url)


def test_duplicate_mrn_is_refused(db_url):
    first = _patient(db_url, mrn="MRN-555")
    state = _state(db_url)
    with pytest.raises(ValidationFailed) as refused:
        _patient(db_url, mrn="MRN-555", name="Someone Else")
    assert "MRN MRN-555 is already registered" in str(refused.value)
    assert isinstance(refused.value, DuplicateRecord) and refused.value.existing_id == first["id"]
    assert _state(db_url) == state
    second = _patient(db_url, mrn="MRN-556")
    with pytest.raises(ValidationFailed) as refused:
        records.update("patient", second["id"], 1, {"mrn": "MRN-555"}, NURSE, today=TODAY, url=db_url)
    assert "already registered" in str(refused.value)
    assert records.get("patient", second["id"], url=db_url)["mrn"] == "MRN-556"


def test_an_mrn_clash_caught_only_by_the_database_is_a_clear_message(db_url):
    """Two registrations racing past the MRN check: the unique index refuses the second INSERT, and the
    user reads which MRN, not a driver error."""
    from models.store.db import write_session
    from models.store.tables import utc_now

    _patient(db_url, mrn="MRN-777")
    state = _state(db_url)
    row = {"mrn": "MRN-777", "name": "Racing Twin", "treatment_start": START, "created_by": ADMIN.username,
           "created_at": utc_now()}
    with pytest.raises(ValidationFailed, match="MRN MRN-777 is already registered"):
        with write_session(db_url) as session:
            records._insert(session, Patient, "patient", row)
    assert _state(db_url) == state


def test_an_mrn_clash_on_an_edit_caught_only_by_the_database_is_a_clear_message(db_url):
    """Two edits racing past the MRN check: the unique index refuses the UPDATE; a message, no traceback."""
    from models.store.db import write_session

    _patient(db_url, mrn="MRN-888")
    other = _patient(db_url, mrn="MRN-889")
    state = _state(db_url)
    with pytest.raises(ValidationFailed, match="MRN MRN-888 is already registered"):
        with write_session(db_url) as session:
            records._apply_update(session, Patient, "patient", other["id"], 1, {"mrn": "MRN-888"}, ADMIN,
                                  "update", other)
    assert _state(db_url) == state
    assert records.get("patient", other["id"], url=db_url)["mrn"] == "MRN-889"


def test_refused_update_changes_nothing(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    row, state = records.get("adverse_event", event["id"], url=db_url), _state(db_url)
    for changes, word in (({"grade": 6}, "Grade 6"), ({"term": "Fatigue", "grade": 4}, "Fatigue"),
                          ({"resolved_date": date(2026, 1, 20)}, "before the onset"),
                          ({"onset_date": date(2026, 7, 1)}, "in the future")):
        with pytest.raises(ValidationFailed) as refused:
            records.update("adverse_event", event["id"], 1, changes, ONCOLOGIST, today=TODAY, url=db_url)
        assert word in str(refused.value)
    assert records.get("adverse_event", event["id"], url=db_url) == row
    assert _state(db_url) == state


def test_records_of_a_missing_or_entered_in_error_patient_are_refused(db_url):
    patient = _patient(db_url)
    with pytest.raises(ValidationFailed) as refused:
        records.create("lab_result", _lab_values(999_999), NURSE, today=TODAY, url=db_url)
    assert "patient does not exist" in str(refused.value)
    records.mark_entered_in_error("patient", patient["id"], 1, "test patient", ADMIN, url=db_url)
    state = _state(db_url)
    with pytest.raises(ValidationFailed) as refused:
        records.create("adverse_event", _event_values(patient["id"]), NURSE, today=TODAY, url=db_url)
    assert "entered in error" in str(refused.value)
    assert _state(db_url) == state


# --- roles ----------------------------------------------------------------------------------------------

def test_a_nurse_cannot_write_dose_events(db_url):
    patient_id = _patient(db_url)["id"]
    dose = records.create("dose_event", _dose_values(patient_id), PHARMACIST, today=TODAY, url=db_url)
    state = _state(db_url)
    with pytest.raises(NotPermitted) as refused:
        records.create("dose_event", _dose_values(patient_id, effective_date=date(2026, 2, 1)), NURSE,
                       today=TODAY, url=db_url)
    assert "nurse cannot write dose event" in str(refused.value)
    with pytest.raises(NotPermitted):
        records.update("dose_event", dose["id"], 1, {"reason": "x"}, NURSE, today=TODAY, url=db_url)
    with pytest.raises(NotPermitted):
        records.mark_entered_in_error("dose_event", dose["id"], 1, "wrong", NURSE, url=db_url)
    assert _state(db_url) == state
    assert records.get("dose_event", dose["id"], url=db_url)["version"] == 1


def test_a_pharmacist_cannot_write_adverse_events(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    state = _state(db_url)
    with pytest.raises(NotPermitted) as refused:
        records.create("adverse_event", _event_values(patient_id, onset_date=date(2026, 3, 1)), PHARMACIST,
                       today=TODAY, url=db_url)
    assert "pharmacist cannot write adverse event" in str(refused.value)
    with pytest.raises(NotPermitted):
        records.update("adverse_event", event["id"], 1, {"grade": 3}, PHARMACIST, today=TODAY, url=db_url)
    with pytest.raises(NotPermitted):
        records.mark_entered_in_error("adverse_event", event["id"], 1, "wrong", PHARMACIST, url=db_url)
    assert _state(db_url) == state
    assert records.get("adverse_event", event["id"], url=db_url)["grade"] == 2


def test_an_admin_can_write_every_record_type(db_url):
    patient = _patient(db_url)  # written by ADMIN
    made = {"patient": patient}
    for kind, values in (("adverse_event", _event_values(patient["id"])), ("lab_result", _lab_values(patient["id"])),
                         ("dose_event", _dose_values(patient["id"]))):
        made[kind] = records.create(kind, values, ADMIN, today=TODAY, url=db_url)
    edits = {"patient": {"notes": "checked"}, "adverse_event": {"notes": "checked"},
             "lab_result": {"unit": "G/DL"}, "dose_event": {"reason": "checked"}}
    for kind, row in reversed(made.items()):  # the patient last: its records are edited while it is active
        updated = records.update(kind, row["id"], 1, edits[kind], ADMIN, today=TODAY, url=db_url)
        assert updated["version"] == 2 and updated["updated_by"] == ADMIN.username
        records.mark_entered_in_error(kind, row["id"], 2, "admin test", ADMIN, url=db_url)
        assert records.get(kind, row["id"], url=db_url)["record_status"] == "entered_in_error"
    assert {(e["username"], e["record_type"]) for e in _audits(db_url)} == {
        (ADMIN.username, kind) for kind in TABLES}
    assert queries.audit_count(db_url) == 4 * 3


# --- entered in error -----------------------------------------------------------------------------------

def test_entered_in_error_is_final(db_url):
    patient_id = _patient(db_url)["id"]
    event = records.create("adverse_event", _event_values(patient_id), NURSE, today=TODAY, url=db_url)
    for reason in ("", "   ", None):
        with pytest.raises(ValidationFailed) as refused:
            records.mark_entered_in_error("adverse_event", event["id"], 1, reason, NURSE, url=db_url)
        assert "why" in str(refused.value)
    with pytest.raises(ValidationFailed) as refused:
        records.mark_entered_in_error("adverse_event", event["id"], 1, "x" * 2001, NURSE, url=db_url)
    assert "2000 characters" in str(refused.value)
    assert records.get("adverse_event", event["id"], url=db_url)["record_status"] == "active"

    records.mark_entered_in_error("adverse_event", event["id"], 1, "  wrong patient  ", NURSE, url=db_url)
    row, state = records.get("adverse_event", event["id"], url=db_url), _state(db_url)
    assert row["entered_in_error_reason"] == "wrong patient"
    with pytest.raises(StaleRecord) as refused:
        records.update("adverse_event", event["id"], 2, {"grade": 3}, NURSE, today=TODAY, url=db_url)
    assert "entered in error" in str(refused.value) and "no longer be edited" in str(refused.value)
    with pytest.raises(StaleRecord) as refused:
        records.mark_entered_in_error("adverse_event", event["id"], 2, "again", NURSE, url=db_url)
    assert "already marked entered in error" in str(refused.value)
    assert records.get("adverse_event", event["id"], url=db_url) == row
    assert _state(db_url) == state


# --- labs: derived grade and baseline -----------------------------------------------------------------

def test_lab_grade_is_derived_in_the_write_path(db_url):
    patient_id = _patient(db_url)["id"]
    lab = records.create("lab_result", _lab_values(patient_id, value=7.5, lln=None, uln=None, ctcae_grade=1,
                                                   ctcae_term="Fatigue"), NURSE, today=TODAY, url=db_url)
    stored = records.get("lab_result", lab["id"], url=db_url)
    assert (stored["ctcae_term"], stored["ctcae_grade"]) == ("Anemia", 3)  # typed values are overruled
    assert stored["baseline"] is False
    entry = _audits(db_url)[-1]
    assert (entry["after"]["ctcae_term"], entry["after"]["ctcae_grade"]) == ("Anemia", 3)
    assert "baseline_value" not in entry["after"]

    updated = records.update("lab_result", lab["id"], 1, {"value": 13.0, "lln": 12.0, "uln": 16.0}, NURSE,
                             today=TODAY, url=db_url)
    assert updated["ctcae_grade"] == 0
    assert records.get("lab_result", lab["id"], url=db_url)["ctcae_grade"] == 0
    # A value that cannot be graded (no LLN for a grade 1 band) is stored ungraded, not guessed.
    unknown = records.create("lab_result", _lab_values(patient_id, value=12.0, lln=None, uln=None,
                                                       collected_on=date(2026, 3, 1)), NURSE, today=TODAY,
                             url=db_url)
    assert records.get("lab_result", unknown["id"], url=db_url)["ctcae_grade"] is None


def test_lab_before_treatment_start_is_stored_as_baseline(db_url):
    patient_id = _patient(db_url)["id"]
    before = records.create("lab_result", _lab_values(patient_id, collected_on=date(2026, 1, 2)), NURSE,
                            today=TODAY, url=db_url)
    on_start = records.create("lab_result", _lab_values(patient_id, collected_on=START), NURSE, today=TODAY,
                              url=db_url)
    assert records.get("lab_result", before["id"], url=db_url)["baseline"] is True
    assert records.get("lab_result", on_start["id"], url=db_url)["baseline"] is False
    assert _audits(db_url)[-2]["after"]["baseline"] is True


def test_alt_uses_the_baseline_value_without_storing_it(db_url):
    patient_id = _patient(db_url)["id"]
    values = _lab_values(patient_id, test="alt", value=100.0, unit="U/L", lln=None, uln=40.0)
    plain = records.create("lab_result", values, NURSE, today=TODAY, url=db_url)
    with_baseline = records.create("lab_result", {**values, "collected_on": date(2026, 2, 2),
                                                  "baseline_value": 80.0}, NURSE, today=TODAY, url=db_url)
    from models.clinical import ctcae
    assert plain["ctcae_grade"] == ctcae.grade_lab("alt", 100.0, "U/L", uln=40.0)
    assert with_baseline["ctcae_grade"] == ctcae.grade_lab("alt", 100.0, "U/L", uln=40.0, baseline=80.0)
    assert plain["ctcae_grade"] != with_baseline["ctcae_grade"]
    assert "baseline_value" not in with_baseline


# --- nothing deletes clinical rows --------------------------------------------------------------------

DELETION = re.compile(
    r"session\.delete\(|\.delete\s*\(|DELETE\s+FROM|\bTRUNCATE\b|"
    r"from\s+sqlalchemy[\w.]*\s+import\s+[^\n]*\bdelete\b|(?<![\w.])delete\s*\(",
    re.IGNORECASE)


def _source_files() -> list[Path]:
    return sorted(path for folder in ("models", "dashboard") for path in (PROJECT_ROOT / folder).rglob("*.py"))


def test_the_deletion_scan_recognises_deletions():
    for line in ("session.delete(row)", "conn.execute(sa.delete(Patient))", 'text("DELETE FROM patient")',
                 "from sqlalchemy import select, delete", "stmt = delete(AdverseEvent)",
                 "from sqlalchemy.sql import delete", "cur.execute('delete  from lab_result')"):
        assert DELETION.search(line), line
    for line in ("no_delete_patient", '"BEFORE DELETE ON"', "del st.session_state['x']",
                 "mark_entered_in_error(", "undeleted(x)"):
        assert not DELETION.search(line), line


def _derived_summary(path: Path, line: str) -> bool:
    """models/store/summary.py rebuilds the derived onset summary (never clinical rows): it may delete from it.
    models/store/app_role.py names the privileges (TRUNCATE among them) that it keeps from the app role."""
    if path == PROJECT_ROOT / "models" / "store" / "app_role.py":
        return "TRUNCATE" in line and "connection" not in line
    return path == PROJECT_ROOT / "models" / "store" / "summary.py" and ("TermOnsetSummary" in line or "import" in line)


def test_no_code_path_deletes_clinical_rows():
    files = _source_files()
    assert len(files) >= 20 and PROJECT_ROOT / "models" / "store" / "records.py" in files
    found = [f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
             for path in files
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if DELETION.search(line) and not _derived_summary(path, line)]
    assert found == [], "deletion in the code:\n" + "\n".join(found)



@pytest.mark.parametrize("look_alike", ["DEMO-\u200b00001", "DEMO-00001\u202e", "DEMO\u2060-00001",
                                        "\uff24\uff25\uff2d\uff2f-00001", "demo-00001", "Demo-00001"])
def test_a_look_alike_mrn_is_refused_with_the_existing_patient_named(db_url, look_alike):
    """Zero-width space, right-to-left override, word joiner, full-width letters or another case: the same
    MRN to a reader, so the same patient; nothing is written."""
    records.create("patient", {"mrn": "DEMO-00001", "name": "Ann Example", "treatment_start": date(2026, 1, 5)},
                   NURSE, url=db_url)
    before = _state(db_url)
    with pytest.raises(ValidationFailed) as refused:
        records.create("patient", {"mrn": look_alike, "name": "Someone Else", "treatment_start": date(2026, 1, 5)},
                       NURSE, url=db_url)
    message = str(refused.value)
    assert "DEMO-00001 is already registered" in message or "already registered for Ann Example" in message, \
        message
    assert _state(db_url) == before


def test_overlapping_episodes_of_a_term_are_refused_with_the_existing_record_named(db_url):
    """One record of a term per patient and day; a grade change hands over on one day only."""
    patient_id = _patient(db_url)["id"]
    closed = records.create("adverse_event", _event_values(patient_id, term="Diarrhea", grade=2,
                                                           onset_date=date(2026, 2, 1),
                                                           resolved_date=date(2026, 2, 10)), NURSE, today=TODAY,
                            url=db_url)
    state = _state(db_url)
    for onset, resolved in ((date(2026, 2, 10), None), (date(2026, 1, 20), date(2026, 2, 1)),
                            (date(2026, 1, 20), None), (date(2026, 2, 3), date(2026, 2, 5))):
        with pytest.raises(DuplicateRecord) as refused:
            records.create("adverse_event", _event_values(patient_id, term="Diarrhea", grade=1, onset_date=onset,
                                                          resolved_date=resolved), NURSE, today=TODAY, url=db_url)
        assert refused.value.existing_id == closed["id"]
        assert "Diarrhea grade 2 from 2026-02-01 to 2026-02-10 is already recorded and overlaps" in str(refused.value)
    assert _state(db_url) == state
    # The day after, or another term the same days: accepted.
    records.create("adverse_event", _event_values(patient_id, term="Diarrhea", grade=1, onset_date=date(2026, 2, 11)),
                   NURSE, today=TODAY, url=db_url)
    records.create("adverse_event", _event_values(patient_id, term="Nausea", grade=1, onset_date=date(2026, 2, 3)),
                   NURSE, today=TODAY, url=db_url)


def test_an_import_with_overlapping_episodes_is_refused_whole(db_url):
    from models.exchange import csv_import

    patient_id = _patient(db_url, mrn="OVL-1")["id"]
    records.create("adverse_event", _event_values(patient_id, term="Fatigue", grade=1, onset_date=date(2026, 2, 1)),
                   NURSE, today=TODAY, url=db_url)
    state = _state(db_url)
    files = {"adverse_events.csv": (b"mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                                    b"OVL-1,Nausea,1,2026-02-02,2026-02-05,no,,,\n"
                                    b"OVL-1,Nausea,2,2026-02-04,,no,,,\n"
                                    b"OVL-1,Fatigue,2,2026-02-20,,no,,,\n")}
    report = csv_import.import_files(files, NURSE, today=TODAY, url=db_url)
    assert not report.ok
    assert report.problems == [
        "adverse_events.csv:3: term: Nausea grade 1 from 2026-02-02 to 2026-02-05 is already recorded and overlaps "
        "2026-02-04 to ongoing: one record of a term per day. Correct one of them.",
        "adverse_events.csv:4: term: Fatigue is already open for this patient: grade 1 since 2026-02-01. Change its "
        "grade or resolve it instead of adding a second open record."]
    assert _state(db_url) == state


def test_registration_records_the_start_dose_and_it_follows_a_corrected_start(db_url):
    patient = records.register_patient({"mrn": "REG-9", "name": "Reg Nine", "treatment_start": date(2026, 3, 1),
                                        "planned_dose_mg": 10}, [], NURSE, today=TODAY, url=db_url)
    doses = queries.dose_events(db_url)
    assert [(d.action, d.dose_mg, str(d.effective_date)[:10]) for d in doses.itertuples()] == [
        ("start", 10.0, "2026-03-01")]
    records.update("patient", patient["id"], 1, {"treatment_start": date(2026, 2, 1), "planned_dose_mg": 5}, NURSE,
                   today=TODAY, url=db_url)
    doses = queries.dose_events(db_url)
    assert [(d.action, d.dose_mg, str(d.effective_date)[:10]) for d in doses.itertuples()] == [
        ("start", 5.0, "2026-02-01")], "the registration's start dose follows the corrected start and dose"


def test_a_pre_existing_condition_that_worsens_on_treatment_is_treatment_emergent(db_url):
    patient_id = _patient(db_url)["id"]
    start = records.get("patient", patient_id, url=db_url)["treatment_start"]
    before = records.create("adverse_event", _event_values(patient_id, term="Fatigue", grade=1, baseline=True,
                                                           onset_date=start - timedelta(days=10)), NURSE,
                            today=TODAY, url=db_url)
    ended, opened = records.change_grade(before["id"], 1, 3, start + timedelta(days=5), NURSE, today=TODAY,
                                         url=db_url)
    assert ended["baseline"] is True and opened["baseline"] is False


def test_two_grade_changes_on_one_day_hand_over_twice(db_url):
    patient_id = _patient(db_url)["id"]
    day = date(2026, 2, 1)
    first = records.create("adverse_event", _event_values(patient_id, term="Dyspnea", grade=1, onset_date=day),
                           NURSE, today=TODAY, url=db_url)
    _, second = records.change_grade(first["id"], 1, 2, day, NURSE, today=TODAY, url=db_url)
    _, third = records.change_grade(second["id"], 1, 3, day, NURSE, today=TODAY, url=db_url)
    chain = [records.get("adverse_event", i, url=db_url) for i in (first["id"], second["id"], third["id"])]
    assert [(e["grade"], e["onset_date"], e["resolved_date"]) for e in chain] == [
        (1, day, day), (2, day, day), (3, day, None)]
