"""The one vocabulary of what people read: a label for every field a table, CSV download or chart shows, words
for every stored code, and one format per kind of value (dates YYYY-MM-DD, times in UTC, empty cells blank,
grades and record numbers as whole numbers, Yes/No, lab tests by their clinical names).

Pages show tables through `show_table` and offer them for download through `download_for_people`; charts and
forms take their titles from `field_label` and their options' wording from `code_label`. Text a user typed
is never changed. No Streamlit at import, so charts and tests use this module alone.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from models.clinical.vocabulary import LAB_TEST_LABELS
from models.csv_cells import safe_frame

FIELD_LABELS: dict[str, str] = {
    # who and which record
    "id": "Record", "patient_id": "Patient record", "mrn": "MRN", "name": "Name", "birth_date": "Born",
    "username": "User", "display_name": "Display name", "role": "Role", "active": "Active",
    "locked_until": "Locked until (UTC)", "created_by": "Logged by", "created_at": "Logged at (UTC)",
    "updated_by": "Changed by", "updated_at": "Changed at (UTC)", "verified_by": "Verified by",
    "record_status": "Record status", "entered_in_error_reason": "Reason entered in error", "version": "Version",
    # patients and treatment
    "treatment_start": "Treatment start", "planned_dose_mg": "Planned mg/day", "status": "Status",
    "days_on_treatment": "Days on treatment", "current_dose_mg": "Current mg/day",
    "relative_dose_intensity_pct": "RDI %", "open_grade_3_plus": "Open grade ≥3",
    "days_since_assessment": "Days since last assessment", "flags": "Flags",
    "notes": "Notes",
    # concomitant medications
    "drug": "Drug", "in_catalogue": "From the catalogue", "dose": "Dose", "route": "Route", "start_date": "Start",
    "stop_date": "Stop", "indication": "Indication", "classes": "Interaction class",
    # adverse events
    "term": "CTCAE term", "meddra_code": "MedDRA code", "grade": "Grade", "onset_date": "Onset",
    "resolved_date": "Resolved", "death_date": "Date of death", "serious": "Serious",
    "attribution": "Attribution", "action_taken": "Action taken", "outcome": "Outcome", "source": "Source",
    "baseline": "Pre-existing (baseline)", "previous_event_id": "Continues record",
    # labs
    "test": "Test", "value": "Value", "unit": "Unit", "lln": "LLN", "uln": "ULN", "collected_on": "Collected",
    "ctcae_term": "CTCAE term (from the value)", "ctcae_grade": "CTCAE grade",
    # doses and the dosing audit
    "effective_date": "Date", "action": "Action", "dose_mg": "mg/day", "every_other_day": "Every other day",
    "adverse_event_id": "Linked event record", "reason": "Reason", "rule": "Rule applied",
    "rule_status": "Rule status", "expected": "Expected (label rule)", "actual": "What the dose record shows",
    "review": "Review", "held_since": "Held since", "days_held": "Days held", "reductions": "Reductions",
    "days_in_period": "Days in period", "mg_taken": "mg taken", "discontinued_on": "Discontinued on",
    "treatment_status": "Status (from the dose record)",
    "decision": "Decision", "comment": "Comment",
    # dose rules (Admin -> Reference data)
    "rule_id": "Rule", "term_group": "Toxicity", "terms": "CTCAE terms", "grade_min": "From grade",
    "grade_max": "To grade", "resume_when_grade_at_most": "Resume when grade is at most", "resume_dose": "Resume at",
    "recurrence_action": "On recurrence", "max_hold_days": "Longest hold (days)",
    "every_other_day_allowed": "Every other day allowed", "rule_set": "Rule set", "grades": "Grades",
    "more_than_required": "More than required",
    # cohort comparison
    "band": "Band", "patients": "Patients", "exposed": "Exposed", "pct": "Cohort %", "ci_low_pct": "95% CI low %",
    "ci_high_pct": "95% CI high %", "reference_pct": "Reference %", "p_value": "p (unadjusted)", "p_adjusted": "p (Holm-adjusted)",
    "signal_adjusted": "Signal after adjustment", "reference_n": "Reference arm n", "window_days": "Window (days)",
    "signal": "Signal", "reference_source": "Reference source", "reading": "In words",
    "first_events": "First events", "patient_months": "Patient-months at risk",
    "per_100_patient_months": "First events per 100 patient-months", "ci_low": "95% CI low", "ci_high": "95% CI high",
    # audit trail
    "at": "When (UTC)", "record_type": "Record type", "record_id": "Record changed", "before": "Before",
    "after": "After", "detail": "Detail", "table": "Table", "records": "Records",
    # reference data (Admin)
    "grades_defined": "Grades defined", "reference_set": "Reference set", "trial_term": "Term in the trial",
    "arm": "Arm", "arm_n": "Arm size (n)", "any_grade_pct": "Any grade %", "grade_2_plus_pct": "Grade ≥2 %",
    "grade_3_plus_pct": "Grade ≥3 %", "verified": "Verified", "grade_3_plus_definition": "Grade ≥3 figure counts",
    "time_window": "Time window", "caveat": "Caveat", "grading": "Graded with", "grading_status": "Grading status",
    "median_follow_up_months": "Median follow-up (months)", "follow_up_status": "Follow-up status",
    "reference_text": "Reference as published", "caveats": "Caveats",
}
# Stored codes whose words are not the code itself with its first letter raised.
CODE_LABELS: dict[str, str] = {
    "on_treatment": "On treatment", "entered_in_error": "Entered in error",
    "none": "Dose not changed",  # action taken (CDISC DOSE NOT CHANGED); "None" would read as a missing value
    "none_if_tolerable": "No change if tolerable",  # a dose rule's action
    "lab": "From a lab value",    # an adverse event's source
    "oral_rinse": "Oral rinse (swish and spit)",  # a medication's route
    "check": "To be checked",     # a reference row not yet verified against the shared reference sheet
    **LAB_TEST_LABELS,
}
# Reference sets by their name in seed_data/reference_rates.csv (and `report incidence --reference NAME`).
REFERENCE_SET_TITLES = {
    "bolero2_interim_2012": "BOLERO-2, interim analysis (2012)", "bolero2_18month": "BOLERO-2, 18-month follow-up",
    "bolero2_grouped_stomatitis": "BOLERO-2, stomatitis terms grouped", "ballet": "BALLET (expanded access)",
    "brawo": "BRAWO (routine care)", "desiree": "DESIREE", "rugo_2016_pooled": "Rugo 2016, pooled trials",
    "swish_2017": "SWISH (2017, dexamethasone mouthwash)",
}
# Columns whose cells are stored codes ("on_treatment", "glucose_fasting", "check wording"): shown in words.
CODE_COLUMNS = {"status", "treatment_status", "action", "action_taken", "attribution", "outcome", "source",
                "record_status", "role", "record_type", "decision", "test", "resume_dose", "recurrence_action",
                "rule_status", "route"}
# Columns of user text (or JSON of it): never changed, whatever they look like.
TEXT_COLUMNS = {"name", "mrn", "notes", "reason", "comment", "drug", "dose", "indication", "entered_in_error_reason", "detail", "review",
                "username", "display_name", "created_by", "updated_by", "verified_by", "before", "after"}
# Whole numbers (grades, record numbers, days) that a missing cell would otherwise turn into 2.0, 17.0.
INTEGER_COLUMNS = {"grade", "ctcae_grade", "id", "patient_id", "record_id", "previous_event_id", "adverse_event_id",
                   "grade_min", "grade_max", "resume_when_grade_at_most", "max_hold_days", "days_held",
                   "days_since_assessment", "days_on_treatment", "version", "arm_n"}
# Moments (stored in UTC); every other date-like column holds a clinical date.
TIMESTAMP_COLUMNS = {"created_at", "updated_at", "at", "locked_until"}
NUMBER_FORMATS = {"relative_dose_intensity_pct": "%.0f", "pct": "%.1f", "ci_low_pct": "%.1f", "ci_high_pct": "%.1f",
                  "reference_pct": "%g", "patient_months": "%.1f", "per_100_patient_months": "%.2f",
                  "ci_low": "%.2f", "ci_high": "%.2f"}
WIDE_COLUMNS = {"expected", "actual", "reference_source", "flags", "before", "after", "detail", "notes"}
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
STORED_CODE = re.compile(r"[a-z][a-z0-9_ ]*")  # what a code looks like; other text in a code column is kept


def field_label(field: str) -> str:
    """What people read for a field (a humane fallback for one not listed, never the raw name)."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    return field.replace("_", " ").capitalize() if IDENTIFIER.fullmatch(field) else field


def code_label(code: str | None) -> str:
    """Words for a stored code: "on_treatment" -> "On treatment", "glucose_fasting" -> "Fasting glucose"."""
    if code is None:
        return ""
    return CODE_LABELS.get(code, code.replace("_", " ").capitalize())


def reference_set_title(name: str) -> str:
    return REFERENCE_SET_TITLES.get(name) or name.replace("_", " ")


def _missing(value) -> bool:
    return value is None or (not isinstance(value, (str, bytes, list, dict)) and bool(pd.isna(value)))


def _utc(moment: datetime) -> datetime:
    """Stored moments are UTC; naive ones (SQLite) already are."""
    return moment.astimezone(timezone.utc) if moment.tzinfo is not None else moment


def cell_text(field: str, value) -> str:
    """One value as people read it (the tables' rule for a single cell): '' when missing."""
    if _missing(value):
        return ""
    if field in CODE_COLUMNS and isinstance(value, str) and STORED_CODE.fullmatch(value):
        return code_label(value)
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return f"{_utc(value):%Y-%m-%d %H:%M}" if field in TIMESTAMP_COLUMNS else f"{value:%Y-%m-%d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.15g}"  # every digit that was stored, without a trailing ".0"
    return str(value)


def values_text(snapshot: str | None) -> str:
    """An audit entry's JSON snapshot of a record as people read it: "Grade: 2; Onset: 2026-01-05; ..."
    (empty values left out). Text that is not a JSON object is shown as it is."""
    if _missing(snapshot) or not str(snapshot).strip():
        return ""
    try:
        values = json.loads(snapshot)
    except ValueError:
        return str(snapshot)
    if not isinstance(values, dict):
        return str(snapshot)
    return "; ".join(f"{field_label(field)}: {cell_text(field, value)}" for field, value in values.items()
                     if not _missing(value) and value != "")


def _people_column(field: str, column: pd.Series) -> pd.Series:
    if field in TEXT_COLUMNS:
        return column.map(lambda v: "" if _missing(v) else str(v))
    if field in INTEGER_COLUMNS and (pd.api.types.is_numeric_dtype(column) or column.isna().all()) \
            and not pd.api.types.is_bool_dtype(column):
        return pd.to_numeric(column, errors="coerce").round().astype("Int64")
    if field in TIMESTAMP_COLUMNS and not pd.api.types.is_datetime64_any_dtype(column) and column.notna().any():
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        if parsed.notna().sum() == column.notna().sum():  # every moment readable: show them alike
            column = parsed
    if pd.api.types.is_datetime64_any_dtype(column):
        if field in TIMESTAMP_COLUMNS:
            times = column.dt.tz_convert("UTC") if column.dt.tz is not None else column
            return times.map(lambda v: "" if pd.isna(v) else f"{v:%Y-%m-%d %H:%M}")
        return column.map(lambda v: "" if pd.isna(v) else f"{v:%Y-%m-%d}")
    if column.dtype == object or pd.api.types.is_bool_dtype(column) or pd.api.types.is_string_dtype(column):
        # each distinct value once: a registry's tables repeat a few codes and dates over thousands of rows
        words = {value: cell_text(field, value) for value in column.dropna().unique()}
        shown = column.map(words).astype(object)
        return shown.where(shown.notna(), "")
    return column  # numbers: kept as numbers (they sort), a missing one shows blank (show_table)


def people_table(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """`frame` as people read it: every header a label, every cell in its format. `labels` names columns the
    vocabulary cannot know (one per CTCAE term, say) or that mean something narrower on one page."""
    labels = labels or {}
    headers = [labels.get(field) or field_label(field) for field in frame.columns]
    if len(set(headers)) != len(headers):
        repeated = sorted({h for h in headers if headers.count(h) > 1})
        raise ValueError(f"two columns would read the same: {repeated}; name them apart in `labels`")
    return pd.DataFrame({header: _people_column(field, frame[field]).reset_index(drop=True)
                         for header, field in zip(headers, frame.columns)})


def csv_for_people(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """A download meant for people (not for re-import): the table's headers and cell wording, with numbers
    unrounded (the screen rounds some for reading), and no text cell a spreadsheet would run as a formula."""
    return safe_frame(people_table(frame, labels)).to_csv(index=False)


def download_for_people(button: str, frame: pd.DataFrame, *, file_name: str, labels: dict[str, str] | None = None,
                        target=None, **options):
    """A download button for csv_for_people(frame). The file is built when the button is clicked, not on
    every rerun of the page."""
    import streamlit as st

    return (target or st).download_button(button, lambda: csv_for_people(frame, labels), file_name=file_name,
                                          mime="text/csv", **options)


def column_config(frame: pd.DataFrame, labels: dict[str, str] | None = None, **extra) -> dict:
    """Streamlit column settings by label: number formats and wide text columns; `extra` by field name."""
    import streamlit as st

    labels = labels or {}
    config = {}
    for field in frame.columns:
        shown = labels.get(field) or field_label(field)
        if field in extra:
            config[shown] = extra[field]
        elif field in NUMBER_FORMATS and pd.api.types.is_numeric_dtype(frame[field]) \
                and not pd.api.types.is_bool_dtype(frame[field]):
            config[shown] = st.column_config.NumberColumn(shown, format=NUMBER_FORMATS[field])
        elif field in WIDE_COLUMNS:
            config[shown] = st.column_config.TextColumn(shown, width="large")
    return config


def show_table(frame: pd.DataFrame, *, labels: dict[str, str] | None = None, column_settings: dict | None = None,
               target=None, **dataframe_options):
    """st.dataframe of people_table(frame): labelled, formatted, missing cells blank. `column_settings` are
    st.column_config entries by field name; `target` a container (a column, say)."""
    import streamlit as st

    options = {"hide_index": True, "width": "stretch", "placeholder": "", **dataframe_options}
    return (target or st).dataframe(people_table(frame, labels),
                                    column_config=column_config(frame, labels, **(column_settings or {})),
                                    **options)
