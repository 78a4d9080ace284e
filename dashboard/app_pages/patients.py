"""Patients: the roster, and one patient's events, labs and doses."""
from __future__ import annotations

import streamlit as st

from dashboard.access import actor, require_page
from dashboard.patient_forms import edit_form, notice, register_form
from dashboard.widgets import escape_markdown
from models import queries, records
from models.vocabulary import label

user = require_page("patients")
st.title("Patients")

may_write = user.role in records.WRITE_ROLES["patient"]
notice()
if may_write:
    with st.expander("Register a patient", icon=":material/person_add:"):
        register_form(actor(user))

roster = queries.roster()
roster["status"] = roster["status"].map(label)
search = st.text_input("Search by MRN or name", placeholder="e.g. DEMO-00012 or Hazel", key="patient_search")
shown = roster
if search.strip():
    needle = search.strip().lower()
    shown = roster[roster["mrn"].str.lower().str.contains(needle, regex=False)
                   | roster["name"].str.lower().str.contains(needle, regex=False)]

columns = st.columns(4)
columns[0].metric("Patients", len(roster))
columns[1].metric("On treatment", int((roster["status"] == label("on_treatment")).sum()))
columns[2].metric("Dose held now", int((roster["status"] == label("held")).sum()))
columns[3].metric("With an open grade ≥ 3 event", int((roster["open_grade_3_plus"] > 0).sum()))

selection = st.dataframe(
    shown.drop(columns=["id"]), hide_index=True, width="stretch", on_select="rerun",
    selection_mode="single-row", key="roster",
    column_config={
        "mrn": "MRN", "name": "Name", "treatment_start": st.column_config.DateColumn("Treatment start"),
        "days_on_treatment": "Days on treatment", "planned_dose_mg": "Planned mg/day",
        "current_dose_mg": "Current mg/day", "status": "Status", "open_events": "Open events",
        "open_grade_3_plus": "Open grade ≥3", "worst_grade_30d": "Worst grade (30 d)",
        "relative_dose_intensity_pct": st.column_config.NumberColumn("RDI %", format="%.0f"),
        "last_lab": st.column_config.DateColumn("Last lab"),
    })
st.caption(f"{len(shown)} of {len(roster)} patients. Select a row to open the patient.")

rows = selection.selection.rows if selection else []
if rows:
    patient = shown.iloc[rows[0]]
    st.subheader(escape_markdown(f"{patient['name']} · {patient['mrn']}"))
    st.caption(f"Treatment start {patient['treatment_start']:%Y-%m-%d} · day {patient['days_on_treatment']} · "
               f"{patient['current_dose_mg']:g} mg/day now · status {patient['status'].lower()}")
    if may_write:
        with st.expander("Edit patient", icon=":material/edit:"):
            edit_form(int(patient["id"]), actor(user))
    events, labs, doses = st.tabs(["Adverse events", "Labs", "Doses"])
    events.dataframe(queries.adverse_events(patient_id=int(patient["id"])).drop(columns=["patient_id", "mrn"]),
                     hide_index=True, width="stretch")
    labs.dataframe(queries.labs(patient_id=int(patient["id"])).drop(columns=["patient_id"]),
                   hide_index=True, width="stretch")
    doses.dataframe(queries.dose_events(patient_id=int(patient["id"])).drop(columns=["patient_id", "mrn"]),
                    hide_index=True, width="stretch")
