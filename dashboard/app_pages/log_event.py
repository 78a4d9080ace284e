"""Log adverse event: the nurse's fast path for events and labs, and today's work."""
from __future__ import annotations

from datetime import date, datetime, time
from functools import partial

import streamlit as st

from dashboard.access import actor, require_page
from dashboard.event_forms import event_actions, event_form, saved_event_notice
from dashboard.import_upload import import_upload
from dashboard.lab_form import lab_entry
from dashboard.labels import show_table
from dashboard.widgets import choose_for_logging, patient_picker
from models.store import queries

user = require_page("log_event")


def open_selected(key: str, frame, mode: str) -> None:
    """A row chosen in Today (a callback, before the next run): its patient, and an event's record, open."""
    rows = st.session_state[key].selection.rows
    if rows:
        row = frame.iloc[rows[0]]
        choose_for_logging(int(row["patient_id"]), mode, int(row["id"]) if mode == "Adverse event" else None)


MODES = {"Adverse event": "Log adverse event", "Labs": "Record labs", "Today": "Today's entries",
         "Import CSV": "Import CSV"}  # mode -> the page's title in it
# The title and the modes share a row: the event form below fits one laptop screen.
title, modes = st.columns([3, 2], vertical_alignment="center")
st.session_state.setdefault("log_mode", "Adverse event")  # set here, not as a default: a lab may switch it
mode = modes.segmented_control("What", list(MODES), key="log_mode", label_visibility="collapsed") or "Adverse event"
title.title(MODES[mode])

if mode == "Today":
    start_of_day = datetime.combine(date.today(), time.min).astimezone()
    events, labs = queries.logged_since(user.username, start_of_day)
    st.caption("Select a row to open its record.")
    left, right = st.columns(2)
    left.markdown(f"**Adverse events logged by you today** ({len(events)})")
    shown = {"labels": {"record_status": "Status"}, "selection_mode": "single-row"}
    show_table(events.drop(columns=["id", "patient_id", "created_at"]), target=left, key="today_events",
               on_select=partial(open_selected, "today_events", events, "Adverse event"), **shown)
    right.markdown(f"**Labs recorded by you today** ({len(labs)})")
    show_table(labs.drop(columns=["id", "patient_id", "created_at"]), target=right, key="today_labs",
               on_select=partial(open_selected, "today_labs", labs, "Labs"), **shown)
    st.subheader("Patients with an open grade ≥ 3 event")
    severe = queries.open_severe_events()
    show_table(severe.drop(columns=["id", "patient_id"]), key="today_severe",
               on_select=partial(open_selected, "today_severe", severe, "Adverse event"), **shown)
    st.stop()

if mode == "Import CSV":
    import_upload(actor(user), "nurse_import")
    st.stop()

patient = patient_picker("log_patient")
if patient is None:
    st.caption("Choose a patient to log an adverse event or a lab.")
    st.stop()

if mode == "Labs":
    lab_entry(patient, actor(user))
else:
    saved_event_notice(patient, actor(user))
    event_form(patient, actor(user))
    event_actions(patient, actor(user))
