"""The CSV files the app imports and exports (DESIGN.md "Command line"): their names, columns, and the kind
of record each holds. Import and export share them, so an export re-imports unchanged.

COLUMNS are DESIGN's columns, which every file must have. OPTIONAL_COLUMNS carry the rest of what a clinician
entered (a patient's status, an event's outcome, the links between records, a dose's verification ...): the
export writes them after DESIGN's columns, and the import reads them when a file has them. Links name the
linked record by stable keys (its term, onset and grade), never by row id."""
from __future__ import annotations

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("mrn", "name", "birth_date", "treatment_start", "planned_dose_mg"),
    "adverse_events.csv": ("mrn", "term", "grade", "onset_date", "resolved_date", "serious", "attribution",
                           "action_taken", "notes"),
    "labs.csv": ("mrn", "test", "value", "unit", "lln", "uln", "collected_on"),
    "doses.csv": ("mrn", "date", "action", "dose_mg", "reason"),
    # `drug` is a catalogue name or synonym (seed_data/medications.csv) or free text, marked as such
    "conmeds.csv": ("mrn", "drug", "dose", "route", "start_date", "stop_date", "indication"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("status", "notes"),
    # previous_*: the record of the same term this one continues (a change of grade)
    "adverse_events.csv": ("death_date", "outcome", "source", "baseline", "previous_onset_date", "previous_grade"),
    "labs.csv": (),
    # event_*: the patient's adverse event the dose action answers
    "doses.csv": ("every_other_day", "event_term", "event_onset_date", "event_grade", "verified_by", "verified_at"),
    # event_*: the patient's adverse event the medicine treats
    "conmeds.csv": ("notes", "event_term", "event_onset_date", "event_grade"),
}
# Columns of earlier versions' exports, still read so that those files import; never written. The yes/no
# mouthwash flag: "yes" becomes the dexamethasone mouthwash record from the treatment start, as migration 0016
# turned the stored flags into records.
LEGACY_COLUMNS: dict[str, tuple[str, ...]] = {"patients.csv": ("dexamethasone_prophylaxis",)}
EXPORT_COLUMNS = {name: COLUMNS[name] + OPTIONAL_COLUMNS[name] for name in COLUMNS}
FILES = tuple(COLUMNS)
KINDS = {"patients.csv": "patient", "adverse_events.csv": "adverse_event", "labs.csv": "lab_result",
         "doses.csv": "dose_event", "conmeds.csv": "concomitant_medication"}
