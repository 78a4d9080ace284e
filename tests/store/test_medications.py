"""Concomitant medications through the one write path (SQLite and PostgreSQL): catalogue or free text, the
checks against the database, roles, corrections and "entered in error" with their audit entries, the database's
own guards, registration with the mouthwash, and migration 0016, which turns the old yes/no mouthwash flag into
records."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from models.store import queries, records
from models.store.db import get_engine, read_session
from models.store.records import Actor, DuplicateRecord, NotPermitted, StaleRecord, ValidationFailed
from models.store.migrate import upgrade_to_head
from models.store.tables import AuditEntry, ConcomitantMedication

NURSE = Actor("nina.nurse", "nurse")
PHARMACIST = Actor("pia.pharm", "pharmacist")
ADMIN = Actor("ada.admin", "admin")
START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)


def _patient(url: str, mrn: str = "MRN-100") -> dict:
    return records.create("patient", {"mrn": mrn, "name": "Test Person", "birth_date": date(1960, 3, 2),
                                      "treatment_start": START}, ADMIN, today=TODAY, url=url)


def _medication(url: str, patient_id: int, actor: Actor = NURSE, **values) -> dict:
    return records.create("concomitant_medication", {"patient_id": patient_id, "drug": "Fluconazole",
                                                     "start_date": date(2026, 2, 1), **values}, actor,
                          today=TODAY, url=url)


def _audit(url: str, record_id: int) -> list[tuple[str, str, dict]]:
    with read_session(url) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.record_type == "concomitant_medication",
                                                     AuditEntry.record_id == record_id).order_by(AuditEntry.id))
        return [(r.username, r.action, json.loads(r.after)) for r in rows]


def test_a_catalogue_drug_is_stored_by_its_catalogue_name_and_free_text_as_typed(db_url):
    patient = _patient(db_url)
    rinse = _medication(db_url, patient["id"], drug="  dexamethasone   ORAL solution ", route="Oral rinse",
                        dose="10 mL 4 times daily", indication="Stomatitis prophylaxis")
    assert (rinse["drug"], rinse["in_catalogue"], rinse["route"]) == ("Dexamethasone mouthwash", True, "oral_rinse")
    tea = _medication(db_url, patient["id"], drug="Chamomile tea *bold*", start_date=date(2026, 3, 1))
    assert (tea["drug"], tea["in_catalogue"]) == ("Chamomile tea *bold*", False)
    listed = queries.medications(db_url, patient_id=patient["id"])
    assert list(listed["drug"]) == ["Dexamethasone mouthwash", "Chamomile tea *bold*"]  # by start date
    assert [(who, action) for who, action, _ in _audit(db_url, rinse["id"])] == [("nina.nurse", "create")]


@pytest.mark.parametrize("values, field, message", [
    ({"stop_date": date(2026, 1, 31)}, "record", "Stop date 2026-01-31 is before the start date 2026-02-01."),
    ({"start_date": date(2026, 7, 1)}, "start_date", "Start date 2026-07-01 is in the future (today is 2026-06-01)."),
    ({"stop_date": date(2026, 6, 2)}, "stop_date", "Stop date 2026-06-02 is in the future (today is 2026-06-01)."),
    ({"route": "by mouth"}, "route", "Route must be one of"),
    ({"drug": "   "}, "drug", "Drug is required."),
    ({"dose": "x" * 101}, "dose", "Dose is longer than 100 characters."),
    ({"start_date": date(1950, 1, 1)}, "start_date", "Start date 1950-01-01 is before the patient's birth date 1960-03-02."),
])
def test_bad_values_are_refused_with_a_clear_message_and_nothing_is_written(db_url, values, field, message):
    patient = _patient(db_url)
    with pytest.raises(ValidationFailed) as refused:
        _medication(db_url, patient["id"], **values)
    assert refused.value.problems[0].field == field
    assert message in refused.value.problems[0].message
    assert queries.medications(db_url).empty


def test_an_overlapping_course_of_the_same_drug_is_refused_and_a_later_one_accepted(db_url):
    patient = _patient(db_url)
    first = _medication(db_url, patient["id"], stop_date=date(2026, 2, 14))
    with pytest.raises(DuplicateRecord) as refused:
        _medication(db_url, patient["id"], drug="FLUCONAZOLE", start_date=date(2026, 2, 10))
    assert refused.value.existing_id == first["id"]
    assert "Fluconazole is already recorded for this patient from 2026-02-01 to 2026-02-14" in str(refused.value)
    _medication(db_url, patient["id"], start_date=date(2026, 2, 15))  # the next course
    other = _patient(db_url, "MRN-200")
    _medication(db_url, other["id"])  # another patient's course is theirs


def test_the_linked_event_must_be_the_patients(db_url):
    patient, other = _patient(db_url), _patient(db_url, "MRN-200")
    event = records.create("adverse_event", {"patient_id": other["id"], "term": "Pneumonitis", "grade": 2,
                                             "onset_date": date(2026, 3, 1)}, NURSE, today=TODAY, url=db_url)
    with pytest.raises(ValidationFailed, match="not one of this patient's active records"):
        _medication(db_url, patient["id"], drug="Prednisone", adverse_event_id=event["id"])


def test_stop_correct_and_enter_in_error_are_attributed_and_nothing_is_deleted(db_url):
    patient = _patient(db_url)
    created = _medication(db_url, patient["id"])
    stopped = records.update("concomitant_medication", created["id"], created["version"],
                             {"stop_date": date(2026, 2, 14)}, PHARMACIST, today=TODAY, url=db_url)
    with pytest.raises(StaleRecord):
        records.update("concomitant_medication", created["id"], created["version"], {"dose": "400 mg"}, NURSE,
                       today=TODAY, url=db_url)
    with pytest.raises(ValidationFailed, match="Say why"):
        records.mark_entered_in_error("concomitant_medication", created["id"], stopped["version"], " ", NURSE,
                                      url=db_url)
    records.mark_entered_in_error("concomitant_medication", created["id"], stopped["version"], "wrong patient",
                                  NURSE, url=db_url)
    assert queries.medications(db_url).empty
    with read_session(db_url) as session:
        kept = session.get(ConcomitantMedication, created["id"])
        assert (kept.record_status, kept.entered_in_error_reason) == ("entered_in_error", "wrong patient")
    assert [(who, action) for who, action, _ in _audit(db_url, created["id"])] == [
        ("nina.nurse", "create"), ("pia.pharm", "update"), ("nina.nurse", "entered_in_error")]
    with pytest.raises(Exception, match="never deleted"), get_engine(db_url).begin() as connection:
        connection.execute(text("DELETE FROM concomitant_medication"))


def test_every_clinical_role_records_medications(db_url):
    patient = _patient(db_url)
    for number, role in enumerate(("nurse", "oncologist", "pharmacist", "admin")):
        _medication(db_url, patient["id"], Actor(f"user.{role}", role), drug=f"Drug {number}")
    with pytest.raises(NotPermitted):
        records.create("concomitant_medication", {"patient_id": patient["id"], "drug": "x", "start_date": START},
                       Actor("someone", "visitor"), today=TODAY, url=db_url)


def test_a_write_moves_the_data_version(db_url):
    patient = _patient(db_url)
    before = queries.data_version(db_url)
    _medication(db_url, patient["id"])
    assert queries.data_version(db_url) > before


def test_registration_records_the_mouthwash_from_the_start_all_or_nothing(db_url):
    values = {"mrn": "MRN-300", "name": "New Person", "treatment_start": START}
    patient = records.register_patient(values, [], NURSE, today=TODAY, url=db_url,
                                       medications=[records.mouthwash_record(START)])
    rinse = queries.medications(db_url, patient_id=patient["id"]).iloc[0]
    assert (rinse["drug"], rinse["start_date"], rinse["route"]) == ("Dexamethasone mouthwash", START, "oral_rinse")
    with pytest.raises(ValidationFailed):
        records.register_patient({**values, "mrn": "MRN-301"}, [], NURSE, today=TODAY, url=db_url,
                                 medications=[{**records.mouthwash_record(START), "route": "nasal spray"}])
    assert queries.patient_id_for_mrn("MRN-301", db_url) is None


def test_migration_0016_turns_the_mouthwash_flag_into_records_with_their_audit_entries(empty_url):
    from alembic import command

    from models.store.migrate import alembic_config

    command.upgrade(alembic_config(empty_url), "0015")
    with get_engine(empty_url).begin() as connection:
        for pid, flag in ((1, "true"), (2, "false"), (3, "NULL"), (4, "true")):
            connection.execute(text(
                "INSERT INTO patient (id, mrn, name, treatment_start, planned_dose_mg, status, record_status, "
                "version, created_by, created_at, dexamethasone_prophylaxis) VALUES "
                f"({pid}, 'M-{pid}', 'P', '2026-01-0{pid}', 10, 'on_treatment', 'active', 1, 't', "
                f"'2026-01-01 09:00:00', {flag})"))
    assert upgrade_to_head(empty_url) is True
    rows = queries.medications(empty_url)
    assert [(int(r.patient_id), r.drug, r.start_date, r.route, bool(r.in_catalogue)) for r in rows.itertuples()] == [
        (1, "Dexamethasone mouthwash", date(2026, 1, 1), "oral_rinse", True),
        (4, "Dexamethasone mouthwash", date(2026, 1, 4), "oral_rinse", True)]
    assert rows["stop_date"].isna().all()  # no stop was recorded
    assert all("former yes/no" in note for note in rows["notes"])
    with read_session(empty_url) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.record_type == "concomitant_medication")).all()
        assert sorted((e.username, e.action, e.patient_id) for e in entries) == [
            ("migration-0016", "create", 1), ("migration-0016", "create", 4)]
    with get_engine(empty_url).connect() as connection:
        assert "dexamethasone_prophylaxis" not in [c["name"] for c in inspect(connection).get_columns("patient")]
    # the migrated records are ordinary records: a correction goes through the write path
    first = rows.iloc[0]
    records.update("concomitant_medication", int(first["id"]), int(first["version"]),
                   {"stop_date": date(2026, 2, 26)}, NURSE, today=TODAY, url=empty_url)


def test_a_medication_whose_linked_event_was_entered_in_error_can_still_be_stopped(db_url):
    patient = _patient(db_url)
    event = records.create("adverse_event", {"patient_id": patient["id"], "term": "Pneumonitis", "grade": 2,
                                             "onset_date": date(2026, 3, 1)}, NURSE, today=TODAY, url=db_url)
    steroid = _medication(db_url, patient["id"], drug="Prednisone", start_date=date(2026, 3, 2),
                          adverse_event_id=event["id"])
    records.mark_entered_in_error("adverse_event", event["id"], event["version"], "wrong patient", NURSE, url=db_url)
    stopped = records.update("concomitant_medication", steroid["id"], steroid["version"],
                             {"stop_date": date(2026, 3, 20)}, NURSE, today=TODAY, url=db_url)
    assert stopped["adverse_event_id"] == event["id"]  # the link is kept as it was
    with pytest.raises(ValidationFailed, match="not one of this patient's active records"):  # a new link is checked
        _medication(db_url, patient["id"], drug="Dexamethasone (systemic)", start_date=date(2026, 3, 2),
                    adverse_event_id=event["id"])


def test_the_doses_an_interaction_asks_for_can_be_recorded_off_the_step_list(db_url, monkeypatch):
    """A strong inducer allows 15 and 20 mg (escalate, in 5 mg steps); a moderate inhibitor asks for 2.5 mg, also
    where the clinic's steps are 10, 7.5, 5. Without the medication that day the step list holds."""
    monkeypatch.setenv("TOXWATCH_DOSE_STEPS", "10,7.5,5")
    patient = _patient(db_url)
    pharmacist = Actor("pia.pharm", "pharmacist")
    dose = {"patient_id": patient["id"], "action": "escalate", "dose_mg": 15.0}
    records.create("dose_event", {"patient_id": patient["id"], "effective_date": START, "action": "start",
                                  "dose_mg": 10.0}, pharmacist, today=TODAY, url=db_url)
    with pytest.raises(ValidationFailed, match="15 mg is not on the dose step list"):
        records.create("dose_event", {**dose, "effective_date": date(2026, 2, 4)}, pharmacist, today=TODAY,
                       url=db_url)
    _medication(db_url, patient["id"], drug="Rifampin", start_date=date(2026, 2, 1), stop_date=date(2026, 2, 20))
    records.create("dose_event", {**dose, "effective_date": date(2026, 2, 4)}, pharmacist, today=TODAY, url=db_url)
    records.create("dose_event", {**dose, "effective_date": date(2026, 2, 8), "dose_mg": 20.0}, pharmacist,
                   today=TODAY, url=db_url)
    with pytest.raises(ValidationFailed, match="nor a dose a medication taken that day allows"):
        records.create("dose_event", {**dose, "effective_date": date(2026, 2, 9), "dose_mg": 17.5}, pharmacist,
                       today=TODAY, url=db_url)
    records.create("dose_event", {"patient_id": patient["id"], "effective_date": date(2026, 2, 25),
                                  "action": "reduce", "dose_mg": 10.0}, pharmacist, today=TODAY, url=db_url)
    _medication(db_url, patient["id"], start_date=date(2026, 3, 1))  # fluconazole
    records.create("dose_event", {"patient_id": patient["id"], "effective_date": date(2026, 3, 1),
                                  "action": "reduce", "dose_mg": 2.5}, pharmacist, today=TODAY, url=db_url)
