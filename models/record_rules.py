"""What a valid clinical record is: field rules (Pydantic input models) and checks against the database.

records.py runs these on every create and update, so the rules are stated once.
"""
from __future__ import annotations

import math
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import bindparam
from sqlmodel import select

from models import ctcae
from models.db import in_lists
from models.dose_sequence import check_dose_record
from models.tables import AdverseEvent, Patient
from models.write_batch import WriteBatch, usable_batch
from models.vocabulary import (ACTIONS_TAKEN, AE_OUTCOMES, AE_SOURCES, ATTRIBUTIONS, CDISC_ACTIONS_TAKEN,
                               DOSE_ACTIONS, FINDING_DECISIONS, LAB_TESTS, PATIENT_STATUSES)

EARLIEST_DATE = date(1900, 1, 1)
MAX_DAILY_DOSE_MG = 20.0
MAX_NOTE_LENGTH = 5000
MAX_RECORD_ID = 2**31 - 1  # ids are INTEGER columns: a larger number names no record (and overflows the driver)


class RecordValueError(ValueError):
    """A check against the database failed; carries the field it is about."""

    def __init__(self, field: str, message: str, existing_id: int | None = None):
        self.field, self.existing_id = field, existing_id
        super().__init__(message)


def _text(value, *, field: str, max_length: int, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{field} is required.")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text.")
    value = value.strip()
    if len(value) > max_length:
        raise ValueError(f"{field} is longer than {max_length} characters.")
    if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
        raise ValueError(f"{field} contains control characters.")
    return value


def _choice(value, options: tuple[str, ...], field: str, *, aliases: dict | None = None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    key = str(value).strip().lower()
    key = (aliases or {}).get(key, key)
    if key not in options:
        raise ValueError(f"{field} must be one of: {', '.join(options)} (got {value!r}).")
    return key


def _record_id(value: int | None, what: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_RECORD_ID:
        raise ValueError(f"No {what} with id {value}.")
    return value


def _finite(value: float | None, field: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number.")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _PatientRecordInput(_Input):
    """A record about one patient."""
    patient_id: int

    @field_validator("patient_id")
    @classmethod
    def _patient_id(cls, value):
        return _record_id(value, "patient")


class PatientInput(_Input):
    mrn: str
    name: str
    birth_date: date | None = None
    treatment_start: date
    planned_dose_mg: float = 10.0
    status: str = "on_treatment"
    dexamethasone_prophylaxis: bool | None = None
    notes: str | None = None

    @field_validator("mrn", mode="before")
    @classmethod
    def _mrn(cls, value):
        value = _text(value, field="MRN", max_length=64, required=True)
        if any(c.isspace() for c in value):
            raise ValueError("MRN must not contain spaces.")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        return _text(value, field="Name", max_length=200, required=True)

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value):
        return _text(value, field="Notes", max_length=MAX_NOTE_LENGTH, required=False)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value):
        return _choice(value, PATIENT_STATUSES, "Status") or "on_treatment"

    @field_validator("planned_dose_mg")
    @classmethod
    def _dose(cls, value):
        _finite(value, "Planned daily dose")
        if not 0 < value <= MAX_DAILY_DOSE_MG:
            raise ValueError(f"Planned daily dose must be above 0 and at most {MAX_DAILY_DOSE_MG:g} mg.")
        return value

    @model_validator(mode="after")
    def _dates(self):
        for label, value in (("Birth date", self.birth_date), ("Treatment start", self.treatment_start)):
            if value is not None and value < EARLIEST_DATE:
                raise ValueError(f"{label} {value} is before {EARLIEST_DATE.year}.")
        if self.birth_date and self.birth_date >= self.treatment_start:
            raise ValueError("Birth date must be before the treatment start.")
        return self


class AdverseEventInput(_PatientRecordInput):
    term: str
    grade: int
    onset_date: date
    resolved_date: date | None = None
    death_date: date | None = None
    serious: bool = False
    attribution: str | None = None
    action_taken: str | None = None
    outcome: str | None = None
    source: str = "reported"
    baseline: bool = False
    previous_event_id: int | None = None
    notes: str | None = None
    meddra_code: int | None = None  # derived from the term; accepted so an edit can pass the row back

    @field_validator("previous_event_id")
    @classmethod
    def _previous_event_id(cls, value):
        return _record_id(value, "adverse event")

    @field_validator("term", mode="before")
    @classmethod
    def _term(cls, value):
        value = _text(value, field="CTCAE term", max_length=120, required=True)
        resolved = ctcae.resolve_term(value)
        if resolved is None:
            raise ValueError(f"{value!r} is not a CTCAE term or synonym known here.")
        return resolved

    @field_validator("attribution", mode="before")
    @classmethod
    def _attribution(cls, value):
        return _choice(value, ATTRIBUTIONS, "Attribution")

    @field_validator("action_taken", mode="before")
    @classmethod
    def _action(cls, value):
        return _choice(value, ACTIONS_TAKEN, "Action taken", aliases=CDISC_ACTIONS_TAKEN)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value):
        return _choice(value, AE_OUTCOMES, "Outcome")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value):
        return _choice(value, AE_SOURCES, "Source") or "reported"

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value):
        return _text(value, field="Notes", max_length=MAX_NOTE_LENGTH, required=False)

    @model_validator(mode="after")
    def _consistent(self):
        term = ctcae.get_term(self.term)
        if self.grade not in term.grades:
            defined = ", ".join(str(g) for g in sorted(term.grades))
            raise ValueError(f"Grade {self.grade} is not defined for {term.name} in CTCAE v5 "
                             f"(defined grades: {defined}).")
        if self.resolved_date and self.resolved_date < self.onset_date:
            raise ValueError(f"Resolution date {self.resolved_date} is before the onset date {self.onset_date}.")
        if self.grade == 5 and self.death_date is None:
            raise ValueError("Grade 5 (death) needs the date of death.")
        if self.death_date is not None and self.grade != 5:
            raise ValueError("A date of death is recorded only with grade 5.")
        if self.death_date and self.death_date < self.onset_date:
            raise ValueError("The date of death is before the onset date.")
        self.meddra_code = term.meddra_code
        return self


class LabResultInput(_PatientRecordInput):
    test: str
    value: float
    unit: str | None = None
    lln: float | None = None
    uln: float | None = None
    collected_on: date
    baseline: bool = False
    baseline_value: float | None = None  # the patient's baseline, for the AST/ALT rule; not stored
    ctcae_term: str | None = None
    ctcae_grade: int | None = None

    @field_validator("test", mode="before")
    @classmethod
    def _test(cls, value):
        test = _choice(value, LAB_TESTS, "Lab test")
        if test is None:
            raise ValueError("Lab test is required.")
        return test

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, value):
        return _text(value, field="Unit", max_length=20, required=False)

    @model_validator(mode="after")
    def _values(self):
        for label, value in (("Value", self.value), ("LLN", self.lln), ("ULN", self.uln),
                             ("Baseline value", self.baseline_value)):
            _finite(value, label)
            if value is not None and value < 0:
                raise ValueError(f"{label} cannot be negative.")
        for label, value in (("LLN", self.lln), ("ULN", self.uln)):
            if value == 0:  # a limit of 0 cannot scale a CTCAE band (ctcae.grade_lab refuses it)
                raise ValueError(f"{label} must be above 0.")
        if self.lln is not None and self.uln is not None and self.lln >= self.uln:
            raise ValueError(f"The lower limit of normal ({self.lln:g}) must be below the upper ({self.uln:g}).")
        if self.unit and self.unit.lower() not in {u.lower() for u in ctcae.units(self.test)}:
            raise ValueError(f"Unit {self.unit!r} is not one ToxWatch can grade {self.test} in; use one of "
                             f"{', '.join(ctcae.units(self.test))}.")
        return self


class DoseEventInput(_PatientRecordInput):
    effective_date: date
    action: str
    dose_mg: float
    every_other_day: bool = False
    adverse_event_id: int | None = None
    reason: str | None = None
    verified_by: str | None = None
    verified_at: datetime | None = None

    @field_validator("adverse_event_id")
    @classmethod
    def _adverse_event_id(cls, value):
        return _record_id(value, "adverse event")

    @field_validator("verified_by", mode="before")
    @classmethod
    def _verified_by(cls, value):
        return _text(value, field="Verified by", max_length=64, required=False)

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value):
        action = _choice(value, DOSE_ACTIONS, "Dose action")
        if action is None:
            raise ValueError("Dose action is required.")
        return action

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value):
        return _text(value, field="Reason", max_length=MAX_NOTE_LENGTH, required=False)

    @model_validator(mode="after")
    def _dose(self):
        _finite(self.dose_mg, "Dose")
        off_drug = self.action in ("hold", "discontinue")
        if off_drug and self.dose_mg != 0:
            raise ValueError(f"A {self.action} has a daily dose of 0 mg.")
        if not off_drug and not 0 < self.dose_mg <= MAX_DAILY_DOSE_MG:
            raise ValueError(f"A {self.action} needs a daily dose above 0 and at most {MAX_DAILY_DOSE_MG:g} mg.")
        return self


class FindingReviewInput(_PatientRecordInput):
    finding_key: str
    rule: str
    decision: str
    comment: str | None = None

    @field_validator("finding_key", mode="before")
    @classmethod
    def _finding_key(cls, value):
        return _text(value, field="Finding key", max_length=40, required=True)

    @field_validator("rule", mode="before")
    @classmethod
    def _rule(cls, value):
        return _text(value, field="Rule", max_length=120, required=True)

    @field_validator("decision", mode="before")
    @classmethod
    def _decision(cls, value):
        decision = _choice(value, FINDING_DECISIONS, "Decision")
        if decision is None:
            raise ValueError("Choose accepted or justified.")
        return decision

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value):
        return _text(value, field="Comment", max_length=MAX_NOTE_LENGTH, required=False)

    @model_validator(mode="after")
    def _needs_comment(self):
        if self.decision == "accepted" and not self.comment:
            raise ValueError("Accepting a finding needs a comment (what was done about it).")
        return self


INPUT_MODELS = {
    "patient": PatientInput, "adverse_event": AdverseEventInput, "lab_result": LabResultInput,
    "dose_event": DoseEventInput, "finding_review": FindingReviewInput,
}


# Built once: every save runs them, and building a statement costs more than running it.
_PATIENT_COLUMNS = select(Patient.id, Patient.record_status, Patient.treatment_start, Patient.planned_dose_mg)
_PATIENT_FOR_WRITE = _PATIENT_COLUMNS.where(Patient.id == bindparam("patient_id")).with_for_update(key_share=True)
_PATIENTS_FOR_WRITE = _PATIENT_COLUMNS.where(Patient.id.in_(bindparam("patient_ids", expanding=True))) \
    .order_by(Patient.id).with_for_update(key_share=True)
_SAME_EVENT = select(AdverseEvent.id).where(
    AdverseEvent.patient_id == bindparam("patient_id"), AdverseEvent.term == bindparam("term"),
    AdverseEvent.onset_date == bindparam("onset_date"), AdverseEvent.record_status == "active").limit(1)
_EVENT_KEYS = select(AdverseEvent.patient_id, AdverseEvent.term, AdverseEvent.onset_date, AdverseEvent.id).where(
    AdverseEvent.patient_id.in_(bindparam("patient_ids", expanding=True)), AdverseEvent.record_status == "active")


def prepare_batch(session, patient_ids: set[int], event_patient_ids: set[int]) -> None:
    """Lock every patient a batch will write about at once, in id order (so two imports cannot deadlock on
    each other's patients), and read the events' (term, onset) of those it will add events to."""
    batch = usable_batch(session)
    if batch is None:
        return
    connection = session.connection()
    for some in in_lists(sorted(i for i in patient_ids | event_patient_ids if i not in batch.patients)):
        for row in connection.execute(_PATIENTS_FOR_WRITE, {"patient_ids": some}):
            batch.patients[row.id] = row
    _read_event_keys(session, batch, [i for i in event_patient_ids if i in batch.patients])


def _read_event_keys(session, batch: WriteBatch, patient_ids: list[int]) -> None:
    """(Only for locked patients: then no one else adds events for them until the transaction ends.)"""
    missing = sorted({i for i in patient_ids if i not in batch.event_keys})
    for some in in_lists(missing):
        keys: dict[int, dict] = {i: {} for i in some}
        for patient_id, term, onset, event_id in session.connection().execute(_EVENT_KEYS, {"patient_ids": some}):
            keys[patient_id].setdefault((term, onset), event_id)
        batch.event_keys.update(keys)  # only once read in full


def lock_patient(session, patient_id: int):
    """The patient row (id, record_status, treatment_start, planned_dose_mg), locked on PostgreSQL until the
    transaction ends: every write about a patient takes this lock, so writes that change the patient's
    derived summary (models/summary.py) follow one another and each sees the last one's result."""
    batch = usable_batch(session)
    if batch is not None and patient_id in batch.patients:
        return batch.patients[patient_id]  # locked earlier in this transaction, and held until it ends
    row = session.connection().execute(_PATIENT_FOR_WRITE, {"patient_id": patient_id}).first()
    if batch is not None and row is not None:
        batch.patients[patient_id] = row
    return row


def check_against_database(session, kind: str, clean: dict, record_id: int | None, today: date) -> None:
    """Rules that need the database or today's date; raises RecordValueError."""
    _not_in_future(kind, clean, today)
    if kind == "patient":
        clash = session.exec(select(Patient.id).where(Patient.mrn == clean["mrn"])).first()
        if clash is not None and clash != record_id:
            raise RecordValueError("mrn", f"MRN {clean['mrn']} is already registered.", clash)
        return
    # Lock the patient row (PostgreSQL; SQLite writes are serialized by BEGIN IMMEDIATE), so two concurrent
    # writes for one patient cannot both pass the duplicate check below. NO KEY UPDATE does not block the
    # KEY SHARE locks of foreign-key checks, so it cannot deadlock with them.
    patient = lock_patient(session, clean["patient_id"])
    if patient is None or patient.record_status != "active":
        raise RecordValueError("patient_id", "The patient does not exist or was entered in error.")
    if kind == "adverse_event":
        _check_adverse_event(session, clean, record_id, patient)
    elif kind == "dose_event":
        if clean.get("adverse_event_id") is not None:
            event = session.get(AdverseEvent, clean["adverse_event_id"])
            if event is None or event.patient_id != patient.id:
                raise RecordValueError("adverse_event_id", "The linked adverse event belongs to another patient.")
        problem = check_dose_record(session, clean, record_id, patient)
        if problem:
            raise RecordValueError("action", problem)
    elif kind == "lab_result" and not clean["baseline"] and clean["collected_on"] < patient.treatment_start:
        clean["baseline"] = True  # a lab before the first dose is a baseline value by definition


def _check_adverse_event(session, clean: dict, record_id: int | None, patient) -> None:
    if clean["onset_date"] < patient.treatment_start and not clean["baseline"]:
        raise RecordValueError(
            "onset_date", f"Onset {clean['onset_date']} is before the treatment start "
                          f"{patient.treatment_start}; mark the event as baseline (pre-existing) if it was.")
    duplicate = _same_event(session, clean)
    if duplicate is not None and duplicate != record_id:
        raise RecordValueError("term", f"{clean['term']} with onset {clean['onset_date']} is already recorded "
                                       "for this patient.", duplicate)
    previous = clean.get("previous_event_id")
    if previous is not None:
        earlier = session.get(AdverseEvent, previous)
        if earlier is None or earlier.patient_id != clean["patient_id"] or earlier.term != clean["term"]:
            raise RecordValueError("previous_event_id", "The continued event is not this patient's "
                                                        f"{clean['term']} record.")


def _same_event(session, clean: dict) -> int | None:
    """An active event of the patient with the same term and onset (the patient is locked)."""
    batch = usable_batch(session)
    if batch is None:
        return session.connection().execute(
            _SAME_EVENT, {k: clean[k] for k in ("patient_id", "term", "onset_date")}).scalar()
    _read_event_keys(session, batch, [clean["patient_id"]])
    return batch.event_keys[clean["patient_id"]].get((clean["term"], clean["onset_date"]))


def _not_in_future(kind: str, clean: dict, today: date) -> None:
    labels = {"treatment_start": "Treatment start", "birth_date": "Birth date", "onset_date": "Onset date",
              "resolved_date": "Resolution date", "death_date": "Date of death", "collected_on": "Collection date",
              "effective_date": "Dose change date"}
    for field, label in labels.items():
        value = clean.get(field)
        if isinstance(value, date) and value > today:
            raise RecordValueError(field, f"{label} {value} is in the future (today is {today}).")

