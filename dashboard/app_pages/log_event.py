"""Log adverse event: the nurse's fast path for events and labs, and today's work."""
from __future__ import annotations

from datetime import date, datetime, time

import streamlit as st

from dashboard.access import actor, require_page
from dashboard.event_forms import event_actions, event_form, saved_event_notice
from dashboard.import_upload import import_upload
from dashboard.lab_form import lab_entry
from dashboard.labels import show_table
from dashboard.widgets import patient_picker
from models.store import queries

user = require_page("log_event")
st.title("Log adverse event")

MODES = ["Adverse event", "Labs", "Today", "Import CSV"]
st.session_state.setdefault("log_mode", MODES[0])  # set here, not as a default: a lab may switch it
mode = st.segmented_control("What", MODES, key="log_mode", label_visibility="collapsed")

if mode == "Today":
    start_of_day = datetime.combine(date.today(), time.min).astimezone()
    events, labs = queries.logged_since(user.username, start_of_day)
    st.subheader("Logged by you today")
    left, right = st.columns(2)
    left.markdown(f"**Adverse events** ({len(events)})")
    show_table(events.drop(columns=["id", "created_at"]), target=left)
    right.markdown(f"**Labs** ({len(labs)})")
    show_table(labs.drop(columns=["id", "created_at"]), target=right)
    st.subheader("Patients with an open grade ≥ 3 event")
    show_table(queries.open_severe_events())
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
