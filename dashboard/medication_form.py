"""Concomitant medications on the patient page: the Medications tab's table, recording a medication, and for
one record: stop it, correct it, or mark it entered in error (never deleted).

Every widget key names the patient (or the record, which belongs to one patient), so nothing typed for one
patient shows up on another's page. User text (drug as typed, dose, indication, notes) reaches Markdown
elements only through plain()."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.labels import code_label, download_for_people, show_table
from dashboard.widgets import date_field, plain, read_dates, saved_then_rerun, show_notice, show_problems
from models.clinical import medications
from models.clinical.vocabulary import MEDICATION_ROUTES
from models.store import queries, records

COUNTER, NOTICE = "medication_form_n", "medication_notice"
MEDICATIONS_TAB_NEXT = "medications_tab_next"  # set on a save: the patient page opens on the Medications tab
CHOSEN = "med_choice_"                       # + patient id: the record acted on below the table
OPENED_VERSIONS = "opened_medication_versions"  # the version each record had when the user opened it
OTHER = "(another drug)"                     # the drug box's choice for a name not in the catalogue
TABLE_COLUMNS = ["drug", "in_catalogue", "classes", "dose", "route", "start_date", "stop_date", "indication",
                 "notes"]


def notice() -> None:
    show_notice(NOTICE)


def medication_table(meds: pd.DataFrame, mrn: str) -> None:
    """The patient's records (models.analysis.patient_view's medications) as people read them, and their CSV."""
    shown = meds.reindex(columns=TABLE_COLUMNS)
    if not meds.empty:
        shown = shown.assign(stop_date=[("ongoing" if is_open else stop)
                                        for stop, is_open in zip(meds["stop_date"], meds["open"])])
    show_table(shown)
    download_for_people("Download medications CSV", shown, file_name=f"{mrn}_medications_{date.today()}.csv",
                        key="download_medications")
    if meds.empty:
        st.caption("No medications recorded for this patient.")


# --- the drug ---------------------------------------------------------------------------------------------

def _drug_label(name: str) -> str:
    if name == OTHER:
        return "Another drug, not in the catalogue: type its name"
    drug = medications.find(name)
    return f"{name} ({', '.join(drug.synonyms)})" if drug is not None and drug.synonyms else name


def _drug_picker(key: str, *, current: str | None = None, listed: bool = True):
    """The drug: a catalogue drug, or a name typed in full. Returns (drug as it will be saved, its catalogue
    entry or None); (None, None) while there is none. Outside the form, so the route below follows the drug
    and the form says at once what the catalogue makes of a typed name."""
    names = sorted((drug.name for drug in medications.catalogue_drugs()), key=str.casefold)
    options = [OTHER] + names  # first, so that it is found without scrolling
    index = None if current is None else (options.index(current) if listed and current in names else 0)
    choice = st.selectbox("Drug", options, index=index, key=key, format_func=_drug_label, filter_mode="contains",
                          placeholder="Type or choose a drug from the catalogue",
                          help="Catalogue drugs are checked against the interaction rules; synonyms are listed "
                               "with their drug. Choose the first entry to type a drug the catalogue lacks.")
    if choice is None:
        st.caption("Not in the list? Choose the first entry, “Another drug, not in the catalogue”, and type it.")
        return None, None
    if choice != OTHER:
        drug = medications.find(choice)
        classes = ", ".join(medications.class_label(c) for c in drug.classes)
        st.caption(plain("Interaction class: " + (classes or "none")
                         + (" · reported by the patient" if drug.patient_reported else "")))
        return drug.name, drug
    typed = st.text_input("Drug, as written", value="" if listed or current is None else current,
                          key=key + "_text", max_chars=200, placeholder="The drug's name as prescribed")
    text = " ".join(typed.split())  # the write path keeps single spaces
    if not text:
        st.caption("Type the drug's name.")
        return None, None
    found = medications.find(text)
    if found is not None:
        st.info(plain("“" + text + "” is the catalogue's " + found.name + ": it is saved as " + found.name
                      + " and checked for interactions."), icon=":material/info:")
        return found.name, found
    st.warning(plain("“" + text + "” is not in the catalogue: it is saved as typed and therefore not checked for "
                     "interactions."), icon=":material/warning:")
    return text, None


def _route_box(key: str, default: str | None, target=None) -> str | None:
    """The route shown is the route saved: the catalogue drug's by default, "Not recorded" when empty."""
    return (target or st).selectbox("Route", MEDICATION_ROUTES, key=key, format_func=code_label,
                                    index=MEDICATION_ROUTES.index(default) if default in MEDICATION_ROUTES else None,
                                    placeholder="Not recorded")


def _event_box(patient_id: int, key: str, current: int | None = None, target=None) -> int | None:
    events = queries.event_records(patient_id)
    labels = {int(row.id): f"{row.onset_date} · {row.term} · grade {row.grade}" for row in events.itertuples()}
    options = [None, *labels]
    return (target or st).selectbox("Adverse event it treats", options, key=key,
                                    index=options.index(current) if current in options else 0,
                                    format_func=lambda i: "No linked event" if i is None else labels[i])


def _typed(value) -> str:
    """A stored text for an input field: '' when missing."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _describe(row) -> str:
    state = "ongoing" if pd.isna(row.stop_date) else f"stopped {row.stop_date}"
    return f"{row.drug} · from {row.start_date} ({state})"


# --- recording one ----------------------------------------------------------------------------------------

def record_form(patient: dict, who: records.Actor) -> None:
    pid = int(patient["id"])
    n = st.session_state.setdefault(COUNTER, 0)
    drug, found = _drug_picker(f"med_drug_{pid}_{n}")
    if drug is None:
        st.caption("Choose a drug to record it.")
        return
    with st.form(f"med_form_{pid}_{n}", enter_to_submit=False):
        first, second = st.columns(2)
        dose = first.text_input("Dose", key=f"med_dose_{pid}_{n}", max_chars=100,
                                placeholder="As written, e.g. 10 mL 4 times daily")
        # Keyed by the drug: another drug starts from its own route, never the one chosen for the last.
        route = _route_box(f"med_route_{pid}_{n}_{found.name if found else OTHER}",
                           found.route if found else None, second)
        first, second = st.columns(2)
        start = date_field("Start", f"med_start_{pid}_{n}", value=date.today(), target=first)
        stop = date_field("Stop (empty while ongoing)", f"med_stop_{pid}_{n}", target=second)
        first, second = st.columns(2)
        indication = first.text_input("Indication", key=f"med_indication_{pid}_{n}", max_chars=200)
        event_id = _event_box(pid, f"med_event_{pid}_{n}", target=second)
        notes = st.text_area("Notes", key=f"med_notes_{pid}_{n}", max_chars=5000, height=68)
        submitted = st.form_submit_button("Record medication", type="primary", icon=":material/medication:")
    if not submitted:
        return
    dates = read_dates({"start_date": ("Start", start, True), "stop_date": ("Stop", stop, False)})
    if dates is None:
        return
    values = {"patient_id": pid, "drug": drug, "dose": dose, "route": route, **dates, "indication": indication,
              "adverse_event_id": event_id, "notes": notes}
    try:
        saved = records.create("concomitant_medication", values, who)
    except records.DuplicateRecord as error:
        show_problems(error)
        st.button("Open the existing record", key=f"med_open_existing_{pid}", on_click=_choose,
                  args=(pid, error.existing_id))
        return
    except records.RecordError as error:
        show_problems(error)
        return
    unlisted = "" if saved["in_catalogue"] else " (not in the catalogue: not checked for interactions)"
    _saved(patient, "Recorded for " + patient["mrn"] + ": " + saved["drug"] + unlisted + " from "
                     + str(saved["start_date"]) + _until(saved["stop_date"]) + ".", fresh_form=COUNTER)


def _until(stop) -> str:
    return ", ongoing" if stop is None or pd.isna(stop) else " to " + str(stop)


def _choose(patient_id: int, record_id: int) -> None:
    """Open one of the patient's records below the table (a button callback, before the next run)."""
    st.session_state[CHOSEN + str(patient_id)] = record_id


# --- one record: stop, correct, entered in error -----------------------------------------------------------

def medication_actions(patient: dict, who: records.Actor) -> None:
    pid = int(patient["id"])
    meds = queries.medications(patient_id=pid)
    if meds.empty:
        return
    by_id = {int(row.id): row for row in meds.itertuples()}
    key = CHOSEN + str(pid)
    if st.session_state.get(key) not in by_id:
        st.session_state.pop(key, None)
    chosen = st.selectbox("Medication record to change", list(by_id), index=None, key=key,
                          format_func=lambda i: _describe(by_id[i]),
                          placeholder="Choose a record to stop it, correct it or mark it entered in error")
    if chosen is None:
        return
    row = by_id[chosen]
    version = st.session_state.setdefault(OPENED_VERSIONS, {}).setdefault(chosen, int(row.version))
    actions = ["Stop", "Correct", "Entered in error"] if pd.isna(row.stop_date) else ["Correct", "Entered in error"]
    what = st.segmented_control("Change", actions, default=actions[0], key=f"med_action_{chosen}")
    if what == "Stop":
        _stop_form(patient, row, version, who)
    elif what == "Correct":
        _correct_form(patient, row, version, who)
    elif what == "Entered in error":
        _error_form(patient, row, version, who)


def _refused(error: records.RecordError, row) -> None:
    """A write refused: its problems shown; when someone changed the record meanwhile, the next try starts from
    the version stored now."""
    show_problems(error)
    if isinstance(error, records.StaleRecord):
        st.session_state.get(OPENED_VERSIONS, {}).pop(int(row.id), None)


def _after_write(patient: dict, row, message: str) -> None:
    st.session_state.get(OPENED_VERSIONS, {}).pop(int(row.id), None)
    st.session_state.pop(CHOSEN + str(int(patient["id"])), None)
    _saved(patient, message)


def _saved(patient: dict, message: str, **options) -> None:
    st.session_state[MEDICATIONS_TAB_NEXT] = "Medications"
    st.session_state.pop(f"patient_tabs_{int(patient['id'])}", None)  # so that the default applies
    saved_then_rerun(NOTICE, message, **options)


def _stop_form(patient: dict, row, version: int, who: records.Actor) -> None:
    with st.form(f"med_stop_form_{row.id}", enter_to_submit=False):
        stop = date_field("Stopped on (the last day taken)", f"med_stop_on_{row.id}_{version}", value=date.today())
        if not st.form_submit_button("Stop", type="primary"):
            return
    dates = read_dates({"stop_date": ("Stopped on", stop, True)})
    if dates is None:
        return
    try:
        records.update("concomitant_medication", int(row.id), version, dates, who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(patient, row, "Stopped " + row.drug + " (from " + str(row.start_date) + ") for " + patient["mrn"]
                 + " on " + str(dates["stop_date"]) + ".")


def _correct_form(patient: dict, row, version: int, who: records.Actor) -> None:
    st.caption("Correct a mistake in this record. A change of dose ends this record (Stop) and starts a new one.")
    keys = f"{row.id}_{version}"  # after someone else's save the fields show the stored values, not old text
    drug, found = _drug_picker(f"med_fix_drug_{keys}", current=row.drug, listed=bool(row.in_catalogue))
    if drug is None:
        return
    with st.form(f"med_fix_form_{row.id}", enter_to_submit=False):
        first, second = st.columns(2)
        dose = first.text_input("Dose", value=_typed(row.dose), key=f"med_fix_dose_{keys}", max_chars=100)
        # the stored route, unless another catalogue drug is chosen: then that drug's (shown, so saved as seen)
        route = _route_box(f"med_fix_route_{keys}_{found.name if found else OTHER}",
                           row.route if found is None or found.name == row.drug else found.route, second)
        first, second = st.columns(2)
        start = date_field("Start", f"med_fix_start_{keys}", value=row.start_date, target=first)
        stop = date_field("Stop (empty while ongoing)", f"med_fix_stop_{keys}",
                          value=None if pd.isna(row.stop_date) else row.stop_date, target=second)
        first, second = st.columns(2)
        indication = first.text_input("Indication", value=_typed(row.indication), key=f"med_fix_indication_{keys}",
                                      max_chars=200)
        linked = None if pd.isna(row.adverse_event_id) else int(row.adverse_event_id)
        event_id = _event_box(int(patient["id"]), f"med_fix_event_{keys}", linked, target=second)
        notes = st.text_area("Notes", value=_typed(row.notes), key=f"med_fix_notes_{keys}", max_chars=5000, height=68)
        if not st.form_submit_button("Save correction", type="primary"):
            return
    dates = read_dates({"start_date": ("Start", start, True), "stop_date": ("Stop", stop, False)})
    if dates is None:
        return
    changes = {"drug": drug, "dose": dose, "route": route, **dates, "indication": indication,
               "adverse_event_id": event_id, "notes": notes}
    try:
        saved = records.update("concomitant_medication", int(row.id), version, changes, who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(patient, row, "Corrected the " + saved["drug"] + " record (from " + str(saved["start_date"]) + ") of "
                 + patient["mrn"] + ".")


def _error_form(patient: dict, row, version: int, who: records.Actor) -> None:
    with st.form(f"med_error_form_{row.id}", enter_to_submit=False):
        reason = st.text_input("Why was it entered in error?", key=f"med_error_reason_{row.id}", max_chars=2000)
        if not st.form_submit_button("Mark entered in error"):
            return
    try:
        records.mark_entered_in_error("concomitant_medication", int(row.id), version, reason, who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(patient, row, "Marked the " + row.drug + " record (from " + str(row.start_date) + ") of "
                 + patient["mrn"] + " entered in error; it stays in the audit trail.")


# Reference tables' columns ("source" and "status" hold codes in other tables and would be reworded there).
REFERENCE_LABELS = {"label": "Class", "rule": "Rule", "consequence": "What the label asks", "reference": "Source",
                    "reference_status": "Status", "drug": "Drug", "classes": "Classes", "synonyms": "Also found as",
                    "patient_reported": "Patient-reported"}


def interaction_classes_table() -> None:
    """seed_data/interaction_classes.csv as people read it (the dosing audit and Admin > Reference data)."""
    show_table(pd.DataFrame([{"label": c.label, "rule": c.rule or "", "consequence": c.consequence,
                              "reference": c.source, "reference_status": c.status}
                             for c in medications.interaction_classes().values()]), labels=REFERENCE_LABELS)
