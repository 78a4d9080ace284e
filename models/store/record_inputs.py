"""What a valid clinical record is, field by field: the Pydantic input models of every kind of record.

records.py validates every create and update with these (and record_checks.py against the database), so the
rules are stated once.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from models.clinical import ctcae
from models.clinical.vocabulary import (ACTIONS_TAKEN, ALERT_DECISIONS, AE_OUTCOMES, AE_SOURCES, ATTRIBUTIONS, CDISC_ACTIONS_TAKEN,
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


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(text: str) -> date:
    """A date written YYYY-MM-DD, read strictly (a form field or a CSV cell): nothing is guessed or replaced.
    The ValueError says what is wrong ("Not a date in YYYY-MM-DD form", "No such date")."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("Not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("No such date") from None


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


def mrn_key_text(mrn: str) -> str:
    """An MRN as stored: NFKC-normalised (full-width and compatibility forms folded) and without invisible
    format characters (zero-width space, word joiner, right-to-left override ...), so what looks alike is
    alike. Two MRNs that differ only in case are one patient (record_checks compares them case-folded)."""
    folded = unicodedata.normalize("NFKC", mrn)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


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
    notes: str | None = None

    @field_validator("mrn", mode="before")
    @classmethod
    def _mrn(cls, value):
        value = _text(mrn_key_text(value) if isinstance(value, str) else value, field="MRN", max_length=64,
                      required=True)
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
            article = "An" if self.action[0] in "aeiou" else "A"
            raise ValueError(f"{article} {self.action} needs a daily dose above 0 and at most {MAX_DAILY_DOSE_MG:g} mg.")
        return self


class _ReviewInput(_PatientRecordInput):
    """Someone's answer to what the app raised (an audit finding, a worklist alert): a rule, a decision, a comment."""
    DECISIONS: ClassVar[tuple[str, ...]] = ()
    rule: str
    decision: str
    comment: str | None = None

    @field_validator("rule", mode="before")
    @classmethod
    def _rule(cls, value):
        return _text(value, field="Rule", max_length=120, required=True)

    @field_validator("decision", mode="before")
    @classmethod
    def _decision(cls, value):
        decision = _choice(value, cls.DECISIONS, "Decision")
        if decision is None:
            raise ValueError("Choose " + " or ".join(cls.DECISIONS) + ".")
        return decision

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value):
        return _text(value, field="Comment", max_length=MAX_NOTE_LENGTH, required=False)


class FindingReviewInput(_ReviewInput):
    DECISIONS = FINDING_DECISIONS
    finding_key: str

    @field_validator("finding_key", mode="before")
    @classmethod
    def _finding_key(cls, value):
        return _text(value, field="Finding key", max_length=40, required=True)

    @model_validator(mode="after")
    def _needs_comment(self):
        if self.decision == "accepted" and not self.comment:
            raise ValueError("Accepting a finding needs a comment (what was done about it).")
        if self.decision == "justified" and not self.comment:
            raise ValueError("Justifying a finding needs a comment (why it was clinically right).")
        return self


class AlertReviewInput(_ReviewInput):
    DECISIONS = ALERT_DECISIONS
    subject: str

    @field_validator("rule", mode="after")
    @classmethod
    def _known_rule(cls, value):
        from models.clinical.alerts import RULES

        if value not in RULES:
            raise ValueError(f"Rule {value!r} is not a worklist rule.")
        return value
    record_type: str | None = None
    record_id: int | None = None
    severity: int = 0
    snooze_until: date | None = None

    @field_validator("subject", mode="before")
    @classmethod
    def _subject(cls, value):
        return _text(value, field="Alert", max_length=120, required=True)

    @model_validator(mode="after")
    def _snooze_needs_reason_and_end(self):
        if self.decision == "snoozed" and not self.comment:
            raise ValueError("Snoozing an alert needs a reason.")
        if self.decision == "snoozed" and self.snooze_until is None:
            raise ValueError("Snoozing an alert needs an end date.")
        if self.decision == "acknowledged" and self.snooze_until is not None:
            raise ValueError("An acknowledgement has no end date; snooze the alert instead.")
        return self

