"""Adverse-event entry and correction widgets for the Log adverse event page."""
from __future__ import annotations

from datetime import date
from functools import partial

import pandas as pd
import streamlit as st

from dashboard.labels import code_label, show_table
from dashboard.widgets import (date_field, escape_markdown, plain, read_dates, saved_then_rerun, show_notice,
                               show_problems, term_label)
from models.clinical import ctcae
from models.clinical.vocabulary import ACTIONS_TAKEN, AE_OUTCOMES, ATTRIBUTIONS
from models.store import queries, records

TERM = "event_term"                  # the CTCAE term box (outside the form: it decides the grades)
CLEAR_TERM = "event_term_clear"      # set by a save: the next run starts with no term
FORM_COUNTER = "event_form_n"        # a new form (fresh fields) after each save
PREFILL = "event_prefill"            # term/grade/onset handed over from a lab value
LAST_SAVED = "last_saved_event"
NOTICE = "event_notice"
CHOSEN = "event_choice"              # the record acted on below the form
OPENED_VERSIONS = "opened_event_versions"  # the version each record had when the user opened it
GRADES = "event_grades"
_GRADE_COLUMNS = ("<style>.st-key-" + GRADES + " [data-testid='stRadioGroup'] { display: grid; grid-auto-flow: column;"
                  " grid-auto-columns: minmax(0, 1fr); column-gap: 1rem; align-items: start; }</style>")


def prefill_event(patient_id: int, term: str, grade: int, onset: date, source: str = "lab") -> None:
    """Hand a lab-derived event to the event form, for that patient only. A button callback: it runs before
    the next script run, when widget values may still be set."""
    st.session_state[PREFILL] = {"patient_id": patient_id, "term": term, "grade": grade, "onset": onset,
                                 "source": source}
    st.session_state[TERM] = term
    st.session_state["log_mode"] = "Adverse event"
    st.session_state[FORM_COUNTER] = st.session_state.get(FORM_COUNTER, 0) + 1


def _grade_radio(label_text: str, term: str, key: str, default: int | None = None, *,
                 horizontal: bool = False) -> int | None:
    entry = ctcae.get_term(term)
    grades = entry.grades
    options = sorted(grades)
    unverified = entry.status == "check"
    if unverified:  # in place of the label, so the form keeps its height
        st.caption("**" + label_text + "** · these definitions were transcribed and are still to be checked "
                   "against the CTCAE v5.0 document")
    return st.radio(label_text, options, index=options.index(default) if default in options else None,
                    key=key, format_func=lambda g: f"Grade {g}", captions=[grades[g] for g in options],
                    horizontal=horizontal, label_visibility="collapsed" if unverified else "visible")


def event_form(patient: dict, who: records.Actor) -> None:
    prefill = st.session_state.get(PREFILL) or {}
    if prefill and prefill["patient_id"] != patient["id"]:  # another patient's lab value: not for this one
        st.session_state.pop(PREFILL, None)
        prefill = {}
    # No term until one is chosen, and none after a save: a typed name that is no term, then Enter, leaves no
    # term (never the first of the list, nor the last one saved) and nothing to save.
    if st.session_state.pop(CLEAR_TERM, False):
        st.session_state[TERM] = None
    # Substring filter: fuzzy matching let "Alopecia" then Enter pick another term. Required: no clear button
    # for Tab to land on between the term and its grades.
    term = st.selectbox("CTCAE term", ctcae.ordered_terms(), index=None, key=TERM, format_func=term_label,
                        filter_mode="contains", required=True, placeholder="Type or choose a CTCAE term",
                        help="BOLERO-2 toxicities first; synonyms such as Stomatitis are listed with their term.")
    if term is None:
        st.caption("Choose a CTCAE term to grade it.")
        return
    n = st.session_state.setdefault(FORM_COUNTER, 0)
    with st.form(f"event_form_{n}", enter_to_submit=True):
        # Keyed by the term: another term starts with no grade chosen (a grade 4 must not carry over).
        # Grades side by side in equal columns, as the CTCAE table prints them: the form fits a laptop screen.
        st.html(_GRADE_COLUMNS)
        with st.container(key=GRADES):
            grade = _grade_radio("CTCAE v5 grade", term, f"ev_grade_{n}_{term}",
                                 prefill.get("grade") if prefill.get("term") == term else None, horizontal=True)
        first, second, third, fourth = st.columns([1, 1, 1, 1.4], vertical_alignment="bottom")
        onset = date_field("Onset", f"ev_onset_{n}", value=prefill.get("onset", date.today()), target=first)
        resolved = date_field("Resolved (empty while ongoing)", f"ev_resolved_{n}", target=second)
        death = date_field("Date of death (grade 5 only)", f"ev_death_{n}", target=third)
        serious = fourth.checkbox("Serious adverse event", key=f"ev_serious_{n}")
        baseline = fourth.checkbox("Pre-existing before treatment (baseline)", key=f"ev_baseline_{n}")
        first, second, third = st.columns(3, vertical_alignment="bottom")
        attribution = first.selectbox("Attribution to everolimus", ATTRIBUTIONS, index=None,
                                      format_func=code_label, key=f"ev_attribution_{n}")
        action = second.selectbox("Action taken with everolimus", ACTIONS_TAKEN, index=None, format_func=code_label,
                                  key=f"ev_action_{n}")
        notes = third.text_area("Notes", key=f"ev_notes_{n}", max_chars=5000, height=68)
        submitted = st.form_submit_button("Save event", type="primary", icon=":material/save:")
    if not submitted:
        return
    dates = read_dates({"onset_date": ("Onset", onset, True),
                        "resolved_date": ("Resolved", resolved, False),
                        "death_date": ("Date of death", death, False)})
    if grade is None:
        st.error("Choose a CTCAE grade.", icon=":material/error:")
    if grade is None or dates is None:
        return
    values = {"patient_id": patient["id"], "term": term, "grade": grade, **dates, "serious": serious, "attribution": attribution,
              "action_taken": action, "baseline": baseline, "notes": notes,
              "source": prefill.get("source", "reported")}
    try:
        saved = records.create("adverse_event", values, who)
    except records.DuplicateRecord as error:
        show_problems(error)
        st.button("Open the existing record", key="open_duplicate", on_click=choose_event, args=(error.existing_id,))
    except records.RecordError as error:
        show_problems(error)
    else:
        st.session_state[LAST_SAVED] = {**saved, "mrn": patient["mrn"], "name": patient["name"]}
        st.session_state[FORM_COUNTER] = n + 1
        st.session_state[CLEAR_TERM] = True
        st.session_state.pop(PREFILL, None)
        st.rerun()


def saved_event_notice(patient: dict, who: records.Actor) -> None:
    """The event just saved, with its undo path (entered in error, with a reason). Both belong to that
    patient's record: they name it, and go as soon as another patient is chosen."""
    show_notice(NOTICE)
    saved = st.session_state.get(LAST_SAVED)
    if not saved:
        return
    if saved["patient_id"] != patient["id"]:
        st.session_state.pop(LAST_SAVED, None)
        st.session_state.pop("undo_reason", None)
        return
    message, undo = st.columns([3, 2])  # side by side: the form below stays on one screen
    message.success(plain(f"Saved for {saved['mrn']} ({saved['name']}): {saved['term']} grade {saved['grade']}, "
                          f"onset {saved['onset_date']}."), icon=":material/check_circle:")
    with undo.expander(plain(f"Undo: mark this {saved['term']} record of {saved['mrn']} entered in error")):
        reason = st.text_input("Reason", key="undo_reason", placeholder="e.g. wrong patient")
        if st.button("Mark entered in error", key="undo_saved"):
            _mark_in_error(saved["id"], saved["version"], reason, who)


def _mark_in_error(event_id: int, version: int, reason: str, who: records.Actor) -> None:
    try:
        records.mark_entered_in_error("adverse_event", event_id, version, reason, who)
    except records.RecordError as error:
        show_problems(error)
        return
    st.session_state.pop(LAST_SAVED, None)
    st.session_state.get(OPENED_VERSIONS, {}).pop(event_id, None)
    saved_then_rerun(NOTICE, "Marked entered in error; the record stays in the audit trail.")


def _opened_version(row) -> int:
    """The version the user saw first: an edit based on it is refused if someone changed it since."""
    opened = st.session_state.setdefault(OPENED_VERSIONS, {})
    return opened.setdefault(int(row.id), int(row.version))


def _refused(error: records.RecordError, row) -> None:
    """A write on a record refused: its problems shown; when someone changed it meanwhile, the next try starts
    from the version stored now."""
    show_problems(error)
    if isinstance(error, records.StaleRecord):
        st.session_state.get(OPENED_VERSIONS, {}).pop(int(row.id), None)


def _after_write(event_id: int, message: str, *, then_choose: int | None = None) -> None:
    """After a change of a record: a fresh list (new labels), the saved-event banner gone (its record and
    version have moved on, so its Undo would be refused as "changed by" the user), and `then_choose` open."""
    st.session_state.get(OPENED_VERSIONS, {}).pop(event_id, None)
    st.session_state.pop(LAST_SAVED, None)
    st.session_state.pop(CHOSEN, None)
    if then_choose is not None:
        st.session_state[CHOSEN] = then_choose
    saved_then_rerun(NOTICE, message)


def event_actions(patient: dict, who: records.Actor) -> None:
    """The patient's events, and for one of them: change grade, correct, or mark entered in error."""
    events = queries.event_records(patient["id"])
    st.subheader(escape_markdown(f"Adverse events of {patient['mrn']}"))
    if events.empty:
        st.caption("No adverse events recorded for this patient yet.")
        return
    st.caption("Select a record's row to change its grade, resolve, correct or mark it entered in error.")
    table_key = f"patient_events_{patient['id']}"  # per patient: a selection never carries over to another
    show_table(events[["term", "grade", "onset_date", "resolved_date", "serious", "attribution", "action_taken",
                       "source", "baseline", "notes", "created_by"]], key=table_key, selection_mode="single-row",
               on_select=partial(_choose_row, table_key, events["id"].astype(int).tolist()))
    by_id = {int(row.id): row for row in events.itertuples()}
    if st.session_state.get(CHOSEN) not in by_id:
        st.session_state.pop(CHOSEN, None)
    chosen = st.selectbox("Record to change", list(by_id), index=None, key=CHOSEN,
                          placeholder="Choose a record to change its grade, correct it or mark it in error",
                          format_func=lambda i: _describe(by_id[i]))
    if chosen is None:
        return
    row = by_id[chosen]
    version = _opened_version(row)
    actions = ["Change grade", "Resolve", "Correct", "Entered in error"] if pd.isna(row.resolved_date) else \
        ["Correct", "Entered in error"]
    what = st.segmented_control("Change", actions, default=actions[0], key=f"event_action_{chosen}")
    if what == "Change grade":
        _change_grade_form(row, version, who)
    elif what == "Resolve":
        _resolve_form(row, version, who)
    elif what == "Correct":
        _correct_form(row, version, who)
    elif what == "Entered in error":
        with st.form(f"error_form_{chosen}"):
            reason = st.text_input("Why was it entered in error?")
            if st.form_submit_button("Mark entered in error"):
                _mark_in_error(chosen, version, reason, who)


def _choose_row(table_key: str, ids: list[int]) -> None:
    """A row ticked in the patient's table opens that record below it (a callback, before the next run)."""
    rows = st.session_state[table_key].selection.rows
    if rows:
        st.session_state[CHOSEN] = ids[rows[0]]


def choose_event(event_id: int) -> None:
    """Open one of the patient's records in the Adverse event mode (a button callback, from a lab value)."""
    st.session_state.pop("last_saved_lab", None)
    st.session_state["log_mode"] = "Adverse event"
    st.session_state[CHOSEN] = event_id


def _describe(row) -> str:
    state = "open" if pd.isna(row.resolved_date) else f"resolved {row.resolved_date}"
    return f"{row.onset_date} · {row.term} · grade {row.grade} ({state})"


def _change_grade_form(row, version: int, who: records.Actor) -> None:
    with st.form(f"change_grade_{row.id}"):
        st.caption("Ends this record the day before the change (the same day for a change on the onset day) and "
                   "opens a new record with the new grade from the day of the change.")
        grade = _grade_radio("New grade", row.term, f"new_grade_{row.id}")
        changed_on = date_field("Date of the change", f"changed_on_{row.id}", value=date.today())
        if not st.form_submit_button("Change grade", type="primary"):
            return
    dates = read_dates({"changed_on": ("Date of the change", changed_on, True)})
    if grade is None:
        st.error("Choose the new grade.", icon=":material/error:")
    if grade is None or dates is None:
        return
    try:
        ended, opened = records.change_grade(int(row.id), version, grade, dates["changed_on"], who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(int(row.id), f"{row.term}: grade {row.grade} ended {ended['resolved_date']}; grade {grade} from "
                              f"{opened['onset_date']}.", then_choose=int(opened["id"]))


def _resolve_form(row, version: int, who: records.Actor) -> None:
    with st.form(f"resolve_{row.id}"):
        first, second = st.columns(2)
        resolved = date_field("Resolved on", f"resolve_on_{row.id}", value=date.today(), target=first)
        outcome = second.selectbox("Outcome", AE_OUTCOMES, format_func=code_label, key=f"resolve_outcome_{row.id}",
                                   index=AE_OUTCOMES.index(row.outcome) if row.outcome in AE_OUTCOMES else None,
                                   placeholder="Choose the outcome")
        if not st.form_submit_button("Resolve", type="primary"):
            return
    dates = read_dates({"resolved_date": ("Resolved on", resolved, True)})
    if dates is None:
        return
    try:
        records.update("adverse_event", int(row.id), version, {**dates, "outcome": outcome}, who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(int(row.id), f"{row.term} grade {row.grade} resolved on {dates['resolved_date']}.")


def _correct_form(row, version: int, who: records.Actor) -> None:
    with st.form(f"correct_{row.id}"):
        st.caption("Correct a mistake in this record. For a clinical change of grade use Change grade.")
        first, second = st.columns(2)
        grade = first.selectbox("Grade", sorted(ctcae.get_term(row.term).grades), key=f"fix_grade_{row.id}",
                                index=sorted(ctcae.get_term(row.term).grades).index(row.grade))
        onset = date_field("Onset", f"fix_onset_{row.id}", value=row.onset_date, target=second)
        first, second = st.columns(2)
        resolved = date_field("Resolved (empty while ongoing)", f"fix_resolved_{row.id}",
                              value=None if pd.isna(row.resolved_date) else row.resolved_date, target=first)
        outcome = second.selectbox("Outcome", AE_OUTCOMES, format_func=code_label, key=f"fix_outcome_{row.id}",
                                   index=AE_OUTCOMES.index(row.outcome) if row.outcome in AE_OUTCOMES else None)
        first, second = st.columns(2)
        attribution = first.selectbox("Attribution", ATTRIBUTIONS, format_func=code_label, key=f"fix_attr_{row.id}",
                                      index=ATTRIBUTIONS.index(row.attribution)
                                      if row.attribution in ATTRIBUTIONS else None)
        action = second.selectbox("Action taken", ACTIONS_TAKEN, format_func=code_label, key=f"fix_action_{row.id}",
                                  index=ACTIONS_TAKEN.index(row.action_taken)
                                  if row.action_taken in ACTIONS_TAKEN else None)
        serious = st.checkbox("Serious adverse event", value=bool(row.serious), key=f"fix_serious_{row.id}")
        notes = st.text_area("Notes", value=row.notes or "", key=f"fix_notes_{row.id}", max_chars=5000)
        if not st.form_submit_button("Save correction", type="primary"):
            return
    dates = read_dates({"onset_date": ("Onset", onset, True), "resolved_date": ("Resolved", resolved, False)})
    if dates is None:
        return
    changes = {"grade": grade, **dates, "outcome": outcome,
               "attribution": attribution, "action_taken": action, "serious": serious, "notes": notes}
    try:
        records.update("adverse_event", int(row.id), version, changes, who)
    except records.RecordError as error:
        _refused(error, row)
        return
    _after_write(int(row.id), f"Corrected the {row.term} record.")
