"""Patients: the roster with the flags a clinician acts on; a row opens the patient."""
from __future__ import annotations

import streamlit as st

from dashboard.access import actor, require_page
from dashboard.cached import roster_table
from dashboard.labels import field_label, show_table
from dashboard.patient_forms import notice, register_form
from dashboard.widgets import patient_picker
from models.analysis import roster
from models.clinical import ctcae
from models.store import records

user = require_page("patients")
st.title("Patients")

may_write = user.role in records.WRITE_ROLES["patient"]
notice()
if may_write:
    with st.expander("Register a patient", icon=":material/person_add:"):
        register_form(actor(user))

chosen = patient_picker("open_patient", label="Open a patient")
if chosen is not None:
    st.switch_page("app_pages/patient_detail.py", query_params={"mrn": chosen["mrn"]})

table = roster_table()
search = st.text_input("Search by MRN or name", placeholder="e.g. DEMO-00012 or Hazel", key="patient_search")
shown = table
if search.strip():
    needle = search.strip().lower()
    shown = table[table["mrn"].str.lower().str.contains(needle, regex=False)
                  | table["name"].str.lower().str.contains(needle, regex=False)]
flagged_only = st.toggle("Only patients with a flag", key="flagged_only")
if flagged_only:
    shown = shown[shown["flags"] != ""]

columns = st.columns(4)
columns[0].metric("Patients", len(table))
columns[1].metric("On treatment", int((table["status"] == "on_treatment").sum()))
columns[2].metric("With an open grade ≥ 3 event", int((table["open_grade_3_plus"] > 0).sum()))
columns[3].metric("Flagged", int((table["flags"] != "").sum()))

term_labels = {roster.term_column(t): roster.term_column(t).removeprefix("worst ") for t in ctcae.BOLERO2_TERMS}
grade_columns = {roster.term_column(t): st.column_config.NumberColumn(
    term_labels[roster.term_column(t)], help=f"Worst {t} grade in the last {roster.RECENT_DAYS} days")
    for t in ctcae.BOLERO2_TERMS}
selection = show_table(shown.drop(columns=["id", "treatment_start"]), labels=term_labels,
                       column_settings={"flags": st.column_config.TextColumn(field_label("flags"), width="medium"),
                                        **grade_columns},
                       on_select="rerun", selection_mode="single-row", key="roster")
st.caption(f"{len(shown)} of {len(table)} patients. Select a row to open the patient. Grades are the worst in "
           f"the last {roster.RECENT_DAYS} days; flags: new grade ≥ 3 event (last {roster.NEW_EVENT_DAYS} days), "
           f"any pneumonitis, a hold longer than {roster.LONG_HOLD_DAYS} days, a lab grade rising.")

rows = selection.selection.rows if selection else []
if rows:
    st.switch_page("app_pages/patient_detail.py", query_params={"mrn": shown.iloc[rows[0]]["mrn"]})
