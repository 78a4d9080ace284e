"""What a valid concomitant-medication record is, field by field (the other kinds are in record_inputs.py)."""
from __future__ import annotations

from datetime import date

from pydantic import field_validator, model_validator

from models.clinical import medications
from models.clinical.vocabulary import MEDICATION_ROUTES
from models.store.record_inputs import EARLIEST_DATE, MAX_NOTE_LENGTH, _PatientRecordInput, _record_id, _text


class ConcomitantMedicationInput(_PatientRecordInput):
    drug: str
    in_catalogue: bool = False   # derived from the drug: a catalogue name (or synonym) or free text
    dose: str | None = None
    route: str | None = None
    start_date: date
    stop_date: date | None = None
    indication: str | None = None
    adverse_event_id: int | None = None
    notes: str | None = None

    @field_validator("drug", mode="before")
    @classmethod
    def _drug(cls, value):
        value = _text(value, field="Drug", max_length=200, required=True)
        return " ".join(value.split())

    @field_validator("dose", mode="before")
    @classmethod
    def _dose(cls, value):
        return _text(value, field="Dose", max_length=100, required=False)

    @field_validator("route", mode="before")
    @classmethod
    def _route(cls, value):
        """A route code, or its words ("oral rinse"), in any case."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        code = str(value).strip().lower().replace(" ", "_")
        if code not in MEDICATION_ROUTES:
            words = ", ".join(route.replace("_", " ") for route in MEDICATION_ROUTES)
            raise ValueError(f"Route must be one of: {words} (got {value!r}).")
        return code

    @field_validator("indication", mode="before")
    @classmethod
    def _indication(cls, value):
        return _text(value, field="Indication", max_length=200, required=False)

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value):
        return _text(value, field="Notes", max_length=MAX_NOTE_LENGTH, required=False)

    @field_validator("adverse_event_id")
    @classmethod
    def _adverse_event_id(cls, value):
        return _record_id(value, "adverse event")

    @model_validator(mode="after")
    def _catalogue_and_dates(self):
        found = medications.find(self.drug)
        self.in_catalogue = found is not None
        if found is not None:
            self.drug = found.name  # a synonym or another case is stored as the catalogue names it
        if self.start_date < EARLIEST_DATE:
            raise ValueError(f"Start date {self.start_date} is before {EARLIEST_DATE.year}.")
        if self.stop_date is not None and self.stop_date < self.start_date:
            raise ValueError(f"Stop date {self.stop_date} is before the start date {self.start_date}.")
        return self
