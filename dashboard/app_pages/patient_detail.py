"""One patient's course on one screen: events, dose and labs on one time axis, and a summary card."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.access import actor, may_open, require_page
from dashboard.widgets import open_log_page
from dashboard.cached import patient_review
from dashboard.dose_form import dose_form
from dashboard.dose_form import notice as dose_notice
from dashboard.labels import download_for_people, show_table
from dashboard.medication_form import MEDICATIONS_TAB_NEXT, medication_actions, medication_table, record_form
from dashboard.medication_form import notice as medication_notice
from dashboard.patient_forms import edit_form, notice
from dashboard.widgets import escape_markdown, plain
from dashboard.labels import code_label

from models.store import queries, records


def worklist_record_text(patient_id: int, record_type: str | None, record_id: int | None) -> str:
    """The record an alert names, in words, as its patient's tables show it (empty when it names none)."""
    if record_type == "adverse_event":
        rows = queries.event_records(patient_id)
        row = rows[rows["id"] == record_id]
        if not row.empty:
            r = row.iloc[0]
            state = "open" if pd.isna(r["resolved_date"]) else f"resolved {r['resolved_date']}"
            return f". The record: {r['term']} grade {r['grade']}, onset {r['onset_date']} ({state}), in the Adverse events tab."
    if record_type == "lab_result":
        return ". The result is in the Labs tab."
    if record_type == "dose_event":
        return ". The dose record is in the Doses tab."
    if record_type == "concomitant_medication":
        return ". The medication is in the Medications tab."
    return ""


user = require_page("patients")
st.page_link("app_pages/patients.py", label="All patients", icon=":material/arrow_back:")

mrn = st.query_params.get("mrn", "")
patient_id = queries.patient_id_for_mrn(mrn) if mrn else None
review = patient_review(patient_id) if patient_id else None
course = review.course if review else None
if course is None:
    st.title("Patient")
    st.warning("No patient with that MRN. Choose one on the Patients page." if mrn else
               "Choose a patient on the Patients page.")
    st.stop()

patient, summary = course.patient, course.summary
st.title(escape_markdown(f"{patient['name']} · {patient['mrn']}"))
notice()
dose_notice()
from_worklist = st.session_state.pop("worklist_record", None)
if from_worklist is not None and from_worklist[0] == patient["mrn"]:
    st.info("From the worklist: " + plain(from_worklist[3]) + plain(worklist_record_text(
        int(patient_id), from_worklist[1], from_worklist[2])), icon=":material/checklist:")
born = f"born {patient['birth_date']}, " if patient["birth_date"] else ""
st.badge(code_label(summary["status"]), color={"on_treatment": "green", "held": "orange"}.get(summary["status"], "gray"))
st.caption(f"{born}treatment start {patient['treatment_start']} · planned {patient['planned_dose_mg']:g} mg/day")

if may_open(user.role, "log_event"):
    log_event, record_lab, _ = st.columns((1, 1, 4))
    for column, label, mode, icon in ((log_event, "Log event", "Adverse event", ":material/edit_note:"),
                                      (record_lab, "Record lab", "Labs", ":material/lab_research:")):
        if column.button(label, icon=icon, key=f"open_{mode}"):
            open_log_page(int(patient_id), mode)

cards = st.columns(5)
cards[0].metric("Days on treatment", summary["days_on_treatment"],
                help="From the start to today, or to the last dose day after a discontinuation")
current = summary["current_dose_mg"]
cards[1].metric("Current dose", "—" if current is None else f"{current:g} mg/day")
rdi = summary["relative_dose_intensity_pct"]
cards[2].metric("Relative dose intensity", "—" if rdi is None or pd.isna(rdi) else f"{rdi:.0f}%",
                help="mg taken / (planned mg/day × days from start to the earlier of stop and today)")
cards[3].metric("Days held · reductions", f"{summary['days_held']} · {summary['reductions']}")
cards[4].metric("Open adverse events", summary["open_events"])

left, right = st.columns(2)
with left:
    st.markdown("**Worst grade so far** (treatment-emergent)")
    worst = pd.DataFrame(list(summary["worst_grade_by_term"].items()), columns=["term", "grade"])
    show_table(worst, labels={"grade": "Worst grade"}) if not worst.empty else st.caption("No adverse events.")
with right:
    st.markdown("**Last labs**")
    last = pd.DataFrame(summary["last_labs"], columns=["test", "value", "unit", "collected_on", "grade"])
    show_table(last, labels={"grade": "CTCAE grade"}) if not last.empty else st.caption("No labs.")

if review.chart_spec is not None:
    st.vega_lite_chart(review.chart_spec, width="content")
    st.caption("Day 1 is the first everolimus dose; hover for dates. Bars run from onset to resolution (open "
               "records to today), coloured by CTCAE grade; ◆ marks a serious event. Shaded lab bands are CTCAE "
               "grades (fasting glucose: CTCAE v4.03 cut points)."
               + (" Medication bars run from start to stop (ongoing ones to today): purple when an interaction "
                  "rule of the dosing audit applies to the drug, grey for a drug typed as free text (not "
                  "checked); one that began before the axis starts at its edge." if not course.medications.empty
                  else ""))
else:
    st.info("Nothing recorded for this patient yet: no adverse events, doses or labs.")

# After a medication is saved the page opens on its tab again, with the confirmation there too.
events_tab, labs_tab, doses_tab, medications_tab = st.tabs(
    ["Adverse events", "Labs", "Doses", "Medications"], key=f"patient_tabs_{patient_id}",
    default=st.session_state.pop(MEDICATIONS_TAB_NEXT, None), on_change="rerun")
for tab, frame, name in ((events_tab, review.events, "adverse_events"), (labs_tab, review.labs, "labs"),
                         (doses_tab, course.dose_events, "doses")):
    with tab:
        shown = frame.drop(columns=[c for c in ("patient_id", "mrn") if c in frame.columns])
        show_table(shown)
        download_for_people(f"Download {name.replace('_', ' ')} CSV", shown,
                            file_name=f"{patient['mrn']}_{name}_{date.today()}.csv", key=f"download_{name}")
with medications_tab:
    medication_notice()
    medication_table(course.medications, patient["mrn"])
    if user.role in records.WRITE_ROLES["concomitant_medication"]:
        with st.expander("Record a medication", icon=":material/medication:"):
            record_form({**patient, "id": int(patient_id)}, actor(user))
        medication_actions({**patient, "id": int(patient_id)}, actor(user))

if user.role in records.WRITE_ROLES["dose_event"]:
    with st.expander("Record a dose change", icon=":material/medication:"):
        dose_form({**patient, "id": int(patient_id)}, actor(user))
if user.role in records.WRITE_ROLES["patient"]:
    with st.expander("Edit patient", icon=":material/edit:"):
        edit_form(int(patient_id), actor(user))
