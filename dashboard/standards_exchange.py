"""The Admin page's standards exchange: FHIR R4 Bundle downloads, lab results in from a FHIR Bundle or server,
and the CDISC SDTM datasets. Files are built when their button is clicked, not on every rerun."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.labels import code_label, show_table
from dashboard.widgets import plain
from models.exchange import codes, fhir_client, fhir_export, fhir_import, known_labs, sdtm
from models.settings import database_url, mrn_system
from models.store import records


def standards_exchange(who: records.Actor, key: str) -> None:
    url = database_url()
    st.markdown("**FHIR R4**")
    st.caption("Every active record in the format hospital systems exchange (HL7 FHIR R4): patients, adverse "
               "events with their CTCAE grade, lab results with their standard codes, everolimus doses and holds, "
               "and other medications. A collection is a file to keep or send; a transaction is the form to load "
               "into a FHIR server (loading it twice adds nothing). Patients are identified by MRN in the "
               "identifier system " + plain(mrn_system()) + " (setting TOXWATCH_MRN_SYSTEM).")
    collection, transaction = st.columns(2)
    collection.download_button("FHIR Bundle (collection)", lambda: fhir_export.bundle_bytes(url),
                               file_name="toxwatch-fhir-bundle.json", mime="application/fhir+json",
                               key=f"{key}_fhir_collection", on_click="ignore", icon=":material/download:")
    transaction.download_button("FHIR Bundle (transaction)",
                                lambda: fhir_export.bundle_bytes(url, bundle_type="transaction"),
                                file_name="toxwatch-fhir-transaction.json", mime="application/fhir+json",
                                key=f"{key}_fhir_transaction", on_click="ignore", icon=":material/download:")
    _fhir_lab_import(who, key)
    st.divider()
    st.markdown("**CDISC SDTM**")
    st.caption("The datasets a research office or sponsor reads (CDISC SDTM): demographics (DM), adverse events "
               "(AE), everolimus exposure (EX), labs (LB) and other medications (CM), with an analysis dataset of "
               "the adverse events (ADAE: treatment-emergent as ToxWatch counts them, as of today) and a "
               "description of every variable and code (define.json, define.md), in one zip. Pseudonymous: no "
               "names, MRNs or birth dates.")
    fmt = st.radio("Format", ["xpt", "json"], horizontal=True, key=f"{key}_sdtm_format",
                   format_func={"xpt": "SAS XPORT v5 (.xpt)", "json": "CDISC Dataset-JSON v1.1"}.get)
    built_key = f"{key}_sdtm_built"
    if st.button("Build the SDTM datasets", key=f"{key}_sdtm_build", icon=":material/dataset:"):
        try:  # built here, not on the download's click, so that a value the format refuses is said on the page
            with st.spinner("Building the SDTM datasets ..."):
                built = st.session_state.setdefault(built_key, {})
                built[fmt] = (date.today(), sdtm.sdtm_archive(fmt=fmt, url=url, as_of=date.today()))
        except sdtm.SdtmExportError as error:
            st.session_state.get(built_key, {}).pop(fmt, None)
            st.error(plain(str(error)) + " Nothing was exported.")
        except records.DatabaseUnavailable as error:
            st.error(plain(str(error)), icon=":material/cloud_off:")
    built = st.session_state.get(built_key, {}).get(fmt)
    if built is not None:
        st.download_button("SDTM datasets (zip)", built[1], file_name=f"toxwatch-sdtm-{fmt}.zip",
                           mime="application/zip", key=f"{key}_sdtm_{fmt}", on_click="ignore",
                           icon=":material/download:")
        st.caption("Built with the records as of " + built[0].isoformat() + "; build again after changes.")


def _fhir_lab_import(who: records.Actor, key: str) -> None:
    st.markdown("**Lab results from FHIR**")
    st.caption("Lab results from the hospital's system as a FHIR Bundle (JSON): those of ToxWatch's lab tests are "
               "graded and recorded for the patient with their MRN; nothing is written unless every one is "
               "valid. A result already recorded (same patient, test, day and value) is not recorded again. "
               "Check first: the dry run lists every problem and writes nothing.")
    upload = st.file_uploader("FHIR Bundle (JSON)", type="json", key=f"{key}_fhir_file")
    if upload is not None:
        check, load = st.columns(2)
        dry_run = check.button("Check (dry run)", key=f"{key}_fhir_check", icon=":material/fact_check:")
        do_import = load.button("Import lab results", key=f"{key}_fhir_import", type="primary",
                                icon=":material/upload:")
        if dry_run or do_import:
            _run(lambda: fhir_import.import_bundle(upload.getvalue(), who, source=upload.name, dry_run=dry_run),
                 "From " + plain(upload.name) + ": ")
    with st.form(f"{key}_fhir_server", enter_to_submit=False):
        st.caption("Or fetch one patient's lab results from the hospital's FHIR R4 server.")
        address, patient = st.columns([3, 1])
        base_url = address.text_input("FHIR server address", placeholder="https://fhir.example.org/r4",
                                      key=f"{key}_fhir_server_url")
        mrn = patient.text_input("Patient MRN", key=f"{key}_fhir_server_mrn")
        check, load = st.columns(2)
        check_server = check.form_submit_button("Fetch and check (dry run)", icon=":material/fact_check:")
        fetch = load.form_submit_button("Fetch and import lab results", type="primary",
                                        icon=":material/cloud_download:")
    if check_server or fetch:
        if not base_url.strip() or not mrn.strip():
            st.error("Give the server address and the patient's MRN; nothing was fetched.")
            return
        registered = known_labs.registered_mrn(mrn)
        if registered is None:
            st.error("No patient with MRN " + plain(mrn.strip()) + " in ToxWatch; register the patient first. "
                     "Nothing was fetched.")
            return

        def fetch_and_import():
            with st.spinner("Asking the FHIR server for MRN " + plain(registered) + "'s lab results ..."):
                bundle = fhir_client.fetch_patient_labs(base_url, registered)
            return fhir_import.import_bundle(bundle, who, source=f"{base_url.strip()} MRN {registered}",
                                             patient_mrn=registered, dry_run=check_server)

        _run(fetch_and_import, "MRN " + plain(registered) + ": ")


def _run(action, subject: str) -> None:
    """Run an import and show its outcome, naming whose or which file's labs it was."""
    try:
        report = action()
    except fhir_client.FhirServerError as error:
        st.error(plain(str(error)) + " Nothing was imported.", icon=":material/cloud_off:")
        return
    except records.DatabaseUnavailable as error:
        st.error(plain(str(error)), icon=":material/cloud_off:")
        return
    show = st.error if not report.ok else st.success if report.imported or report.dry_run else st.info
    show(subject + report.summary)
    for note in report.notes:
        st.caption(plain(note))
    if report.problems:
        st.code("\n".join(report.problems), language=None, wrap_lines=True)


def exchange_codes_tables() -> None:
    """The codes the exchanges send, with their status (Reference data tab)."""
    st.markdown("**Lab test codes** (seed_data/lab_codes.csv: LOINC for FHIR, LBTESTCD for SDTM)")
    show_table(pd.DataFrame([{"test": code_label(c.test), "loinc": c.loinc, "loinc_name": c.loinc_name, "use": c.use,
                              "loinc_status": c.loinc_status, "sdtm_code": c.lbtestcd, "sdtm_name": c.lbtest,
                              "sdtm_category": c.lbcat, "sdtm_status": c.sdtm_status} for c in codes.lab_codes()]),
               labels=EXCHANGE_LABELS)
    st.markdown("**Exchange codes** (seed_data/exchange_codes.csv: grades, seriousness, outcomes, relatedness, "
                "CDISC AEACN/AEOUT/AEREL, RxNorm; an unconfirmed code is sent as text only)")
    show_table(pd.DataFrame([{"vocabulary": VOCABULARY_LABELS[name], "value": code_label(value), "code": c.code or "—", "display": c.display,
                              "code_status": c.status} for name in codes.VOCABULARIES
                             for value, c in codes.vocabulary(name).items()]), labels=EXCHANGE_LABELS)


VOCABULARY_LABELS = {"ctcae_grade": "CTCAE grade (FHIR ae-grade)", "seriousness": "Seriousness (FHIR)",
                     "fhir_outcome": "Outcome (FHIR)", "fhir_relatedness": "Attribution (FHIR causality)",
                     "aeacn": "Action taken (SDTM AEACN)", "aeout": "Outcome (SDTM AEOUT)",
                     "aerel": "Attribution (SDTM AEREL)", "rxnorm": "Drug (RxNorm)"}
EXCHANGE_LABELS = {"test": "Lab test", "loinc": "LOINC", "loinc_name": "LOINC name", "use": "Used for",
                   "loinc_status": "LOINC status", "sdtm_code": "SDTM test code", "sdtm_name": "SDTM test name",
                   "sdtm_category": "SDTM category", "sdtm_status": "SDTM status", "vocabulary": "Vocabulary",
                   "value": "ToxWatch value", "code": "Code", "display": "Sent as", "code_status": "Status"}
