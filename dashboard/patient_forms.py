"""Register and edit patients (Patients page)."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.widgets import date_field, read_dates, saved_then_rerun, show_notice, show_problems
from dashboard.labels import code_label
from models.clinical import ctcae, labs
from models.clinical.vocabulary import LAB_TEST_LABELS, PATIENT_STATUSES
from models.store import queries, records

DOSES_MG = (10.0, 7.5, 5.0, 2.5)
COUNTER, NOTICE, OPENED = "patient_form_n", "patient_notice", "opened_patient_versions"


def notice() -> None:
    show_notice(NOTICE)


def register_form(who: records.Actor) -> None:
    n = st.session_state.setdefault(COUNTER, 0)
    with st.form(f"register_{n}", enter_to_submit=False):
        first, second = st.columns(2)
        mrn = first.text_input("MRN", max_chars=64, key=f"reg_mrn_{n}")
        name = second.text_input("Name", max_chars=200, key=f"reg_name_{n}")
        first, second, third = st.columns(3)
        birth = date_field("Birth date", f"reg_birth_{n}", target=first)
        start = date_field("Treatment start (first everolimus dose)", f"reg_start_{n}", value=date.today(),
                           target=second)
        dose = third.selectbox("Planned daily dose (mg)", DOSES_MG, key=f"reg_dose_{n}")
        mouthwash = st.checkbox("Dexamethasone mouthwash from the treatment start (SWISH prophylaxis)",
                                key=f"reg_mouthwash_{n}",
                                help="Saves a medication record: Dexamethasone mouthwash, oral rinse, from the "
                                     "treatment start date above, not stopped. Other medicines go in the patient's "
                                     "Medications tab.")
        notes = st.text_area("Notes", max_chars=5000, key=f"reg_notes_{n}", height=68)
        st.markdown("**Baseline labs** (optional). Graded against the default normal range of each test "
                    "(Admin > Reference data); to record a laboratory's own range, use Labs after registering.")
        columns = st.columns(3)
        values = {}
        for index, test in enumerate(ctcae.LAB_TESTS):
            unit = ctcae.default_unit(test)
            values[test] = columns[index % 3].number_input(f"{LAB_TEST_LABELS[test]} ({unit})", min_value=0.0,
                                                           value=None, format="%.2f", key=f"reg_{test}_{n}")
        submitted = st.form_submit_button("Register patient", type="primary", icon=":material/person_add:")
    if not submitted:
        return
    dates = read_dates({"birth_date": ("Birth date", birth, False),
                        "treatment_start": ("Treatment start", start, True)})
    if dates is None:
        return
    baseline = []
    for test, value in values.items():
        if value is not None:
            limits = labs.normal_range(test, None)
            baseline.append({"test": test, "value": value, "unit": limits.unit, "lln": limits.lln,
                             "uln": limits.uln, "collected_on": dates["treatment_start"]})
    try:
        saved = records.register_patient(
            {"mrn": mrn, "name": name, **dates, "planned_dose_mg": dose, "notes": notes}, baseline, who,
            medications=[records.mouthwash_record(dates["treatment_start"])] if mouthwash else [])
    except records.RecordError as error:
        show_problems(error)
        return
    rinse = ", dexamethasone mouthwash from the start" if mouthwash else ""
    saved_then_rerun(NOTICE, f"Registered {saved['mrn']} ({saved['name']}): everolimus {saved['planned_dose_mg']:g} "
                             f"mg/day from {saved['treatment_start']}{rinse}, {len(baseline)} baseline lab value(s).",
                     fresh_form=COUNTER)


def edit_form(patient_id: int, who: records.Actor) -> None:
    current = queries.patient_record(patient_id)
    if current is None:
        return
    opened = st.session_state.setdefault(OPENED, {})
    version = opened.setdefault(patient_id, current["version"])
    with st.form(f"edit_patient_{patient_id}"):
        first, second = st.columns(2)
        mrn = first.text_input("MRN", value=current["mrn"], max_chars=64)
        name = second.text_input("Name", value=current["name"], max_chars=200)
        first, second, third, fourth = st.columns(4)
        # Keyed by the version too: after someone else's save the fields show the stored dates, not old text.
        birth = date_field("Birth date", f"edit_birth_{patient_id}_{version}", value=current["birth_date"],
                           target=first)
        start = date_field("Treatment start", f"edit_start_{patient_id}_{version}", value=current["treatment_start"],
                           target=second)
        dose = third.selectbox("Planned daily dose (mg)", DOSES_MG,
                               index=DOSES_MG.index(current["planned_dose_mg"])
                               if current["planned_dose_mg"] in DOSES_MG else 0)
        status = fourth.selectbox("Status", PATIENT_STATUSES, index=PATIENT_STATUSES.index(current["status"]),
                                  format_func=code_label)
        notes = st.text_area("Notes", value=current["notes"] or "", max_chars=5000, height=68)
        if not st.form_submit_button("Save changes", type="primary"):
            return
    dates = read_dates({"birth_date": ("Birth date", birth, False), "treatment_start": ("Treatment start", start, True)})
    if dates is None:
        return
    changes = {"mrn": mrn, "name": name, **dates, "planned_dose_mg": dose,
               "status": status, "notes": notes}
    try:
        records.update("patient", patient_id, version, changes, who)
    except records.RecordError as error:
        show_problems(error)
        if isinstance(error, records.StaleRecord):
            opened.pop(patient_id, None)
        return
    opened.pop(patient_id, None)
    saved_then_rerun(NOTICE, f"Saved the changes to {mrn}.")
