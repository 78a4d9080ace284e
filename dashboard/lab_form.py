"""Lab entry: the value is graded by CTCAE as it is typed, and a graded value offers its adverse event."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.event_forms import choose_event, prefill_event
from dashboard.labels import show_table
from dashboard.widgets import date_field, plain, read_dates, show_problems
from models.clinical import ctcae, labs
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.store import queries, records

LAB_SAVED = "last_saved_lab"
LAB_FORM_COUNTER = "lab_form_n"  # a fresh value field after each save (the old one would show the saved value)
RECENT_LABS = 10


def lab_entry(patient: dict, who: records.Actor) -> None:
    _offer_event(patient)
    entry, recent = st.columns((3, 2))
    with entry:
        _lab_form(patient, who)
    with recent:
        st.markdown("**Recent labs of this patient**")
        latest = queries.labs(patient_id=patient["id"]).tail(RECENT_LABS).iloc[::-1]
        if latest.empty:
            st.caption("No labs recorded yet.")
        else:
            show_table(latest.assign(test=latest["test"].map(LAB_TEST_LABELS))[
                ["collected_on", "test", "value", "unit", "ctcae_grade"]])


def _lab_form(patient: dict, who: records.Actor) -> None:
    n = st.session_state.setdefault(LAB_FORM_COUNTER, 0)
    first, second, third = st.columns(3)
    test = first.selectbox("Test", ctcae.LAB_TESTS, format_func=LAB_TEST_LABELS.get, key="lab_test")
    unit = second.selectbox("Unit", ctcae.units(test), key=f"lab_unit_{test}")
    collected = date_field("Collected on", "lab_collected", value=date.today(), target=third)
    limits = labs.normal_range(test, unit)
    first, second, third = st.columns(3)
    value = first.number_input(f"Value ({unit})", min_value=0.0, value=None, step=0.1, format="%.2f",
                               key=f"lab_value_{test}_{n}")
    # Keyed per unit, so the defaults follow the unit; the laboratory's own range may be typed over them.
    lln = second.number_input("Lower limit of normal", min_value=0.0, value=limits.lln if limits else None,
                              format="%.2f", key=f"lab_lln_{test}_{unit}")
    uln = third.number_input("Upper limit of normal", min_value=0.0, value=limits.uln if limits else None,
                             format="%.2f", key=f"lab_uln_{test}_{unit}")
    baseline = queries.baseline_lab_value(patient["id"], test) if test in ("ast", "alt") else None

    grade = None
    if value is not None:
        try:
            grade = ctcae.grade_lab(test, value, unit, lln=lln, uln=uln, baseline=baseline)
        except ValueError as error:
            st.error(str(error), icon=":material/error:")
        _show_grade(test, grade, baseline, uln)

    if st.button("Save lab", type="primary", icon=":material/save:", disabled=value is None):
        dates = read_dates({"collected_on": ("Collected on", collected, True)})
        if dates is None:
            return
        try:
            saved = records.create("lab_result", {
                "patient_id": patient["id"], "test": test, "value": value, "unit": unit, "lln": lln, "uln": uln,
                **dates, "baseline_value": baseline}, who)
        except records.RecordError as error:
            show_problems(error)
        else:
            st.session_state[LAB_SAVED] = {**saved, "mrn": patient["mrn"]}
            st.session_state[LAB_FORM_COUNTER] = n + 1
            st.rerun()


def _show_grade(test: str, grade: int | None, baseline: float | None, uln: float | None) -> None:
    term = ctcae.lab_term(test)
    if grade is None:
        st.warning("This value cannot be graded: a needed limit of normal is missing.", icon=":material/help:")
        return
    note = ctcae.grade_lab_note(test)
    abnormal = baseline is not None and uln is not None and baseline > uln  # CTCAE: graded against it then
    basis = f" (relative to the abnormal baseline {baseline:g})" if abnormal and grade else ""
    text = f"CTCAE grade {grade}: {term}{basis}" if grade else f"Within normal limits for {term} (grade 0)"
    (st.warning if grade else st.info)(text + (f". {note.capitalize()}." if note else "."),
                                       icon=":material/lab_research:")


def _offer_event(patient: dict) -> None:
    """After a graded lab: offer the matching adverse event when none of that term is open."""
    saved = st.session_state.get(LAB_SAVED)
    if not saved or saved["patient_id"] != patient["id"]:
        return
    label = LAB_TEST_LABELS[saved["test"]]
    st.success(plain(f"Saved {label} {saved['value']:g} {saved['unit'] or ''} for {saved['mrn']} "
                     f"(collected {saved['collected_on']})."), icon=":material/check_circle:")
    suggestion = labs.suggested_event(saved["test"], saved["ctcae_grade"])
    if not suggestion:
        return
    open_event = queries.open_event(patient["id"], suggestion.term)
    if open_event is not None:
        st.info(plain(f"{suggestion.term} is already open for {saved['mrn']}: grade {open_event['grade']} since "
                      f"{open_event['onset_date']}. This value suggests grade {suggestion.grade}."),
                icon=":material/info:")
        if open_event["grade"] != suggestion.grade:
            st.button(f"Change the grade of the open {suggestion.term} record", key="change_from_lab",
                      on_click=choose_event, args=(open_event["id"],), icon=":material/edit:")
        return
    note = f" ({suggestion.note})" if suggestion.note else ""
    st.button(f"Log {suggestion.term} grade {suggestion.grade} from this value{note}",
              on_click=_start_event, args=(patient["id"], suggestion.term, suggestion.grade, saved["collected_on"]),
              icon=":material/add_alert:", key="log_from_lab")


def _start_event(patient_id: int, term: str, grade: int, onset: date) -> None:
    st.session_state.pop(LAB_SAVED, None)
    prefill_event(patient_id, term, grade, onset)
