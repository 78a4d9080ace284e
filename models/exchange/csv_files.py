"""The CSV files the app imports and exports (DESIGN.md "Command line"): their names, columns, and the kind
of record each holds. Import and export share them, so an export re-imports unchanged."""
from __future__ import annotations

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("mrn", "name", "birth_date", "treatment_start", "planned_dose_mg"),
    "adverse_events.csv": ("mrn", "term", "grade", "onset_date", "resolved_date", "serious", "attribution",
                           "action_taken", "notes"),
    "labs.csv": ("mrn", "test", "value", "unit", "lln", "uln", "collected_on"),
    "doses.csv": ("mrn", "date", "action", "dose_mg", "reason"),
}
FILES = tuple(COLUMNS)
KINDS = {"patients.csv": "patient", "adverse_events.csv": "adverse_event", "labs.csv": "lab_result",
         "doses.csv": "dose_event"}
