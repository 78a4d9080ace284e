"""conmeds.csv through the import (SQLite and PostgreSQL): every bad row named by its line and column, all or
nothing, links to the event a medicine treats; the round trip is in test_csv_transfer.py."""
from __future__ import annotations

from tests.exchange.test_csv_transfer import NURSE, PATIENTS, _import, _refused
from models.store import queries

EVENTS = """mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes
P-001,Pneumonitis,2,2026-03-01,,no,,,
"""
HEADER = "mrn,drug,dose,route,start_date,stop_date,indication,event_term,event_onset_date,event_grade\n"


def test_conmeds_import_with_a_link_and_free_text(db_url):
    report = _import(db_url, {"patients.csv": PATIENTS, "adverse_events.csv": EVENTS, "conmeds.csv": HEADER +
                              "P-001,Prednisone,50 mg daily,oral,2026-03-02,,Pneumonitis,Pneumonitis,2026-03-01,2\n"
                              "P-002,my own herbal mix,,,2026-02-03,2026-02-10,,,,\n"}, NURSE)
    assert report.ok, report.problems
    rows = queries.medications(db_url).sort_values("mrn")
    assert list(zip(rows["mrn"], rows["drug"], rows["in_catalogue"])) == [
        ("P-001", "Prednisone", True), ("P-002", "my own herbal mix", False)]
    assert rows["adverse_event_id"].notna().tolist() == [True, False]


def test_every_bad_conmeds_row_is_named_and_nothing_is_written(db_url):
    assert _import(db_url, {"patients.csv": PATIENTS}).ok
    problems = _refused(db_url, {"conmeds.csv": HEADER +
                                 "P-001,Fluconazole,,oral,2026-03-10,2026-03-01,,,,\n"
                                 "P-001,Fluconazole,,by mouth,2026-03-10,,,,,\n"
                                 "P-009,Fluconazole,,,2026-03-10,,,,,\n"
                                 ",Fluconazole,,,2026-03-10,,,,,\n"
                                 "P-001,,,,2026-03-10,,,,,\n"
                                 "P-001,Ketoconazole,,,2026-13-01,,,,,\n"
                                 "P-001,Ketoconazole,,,2026-05-01,,,Pneumonitis,2026-03-01,2\n"
                                 "P-002,Ritonavir,,,2026-03-01,,,,,\n"
                                 "P-002,ritonavir,,,2026-03-05,,,,,\n"})
    assert problems == [
        "conmeds.csv:2: stop_date: Stop date 2026-03-01 is before the start date 2026-03-10.",
        "conmeds.csv:3: route: Route must be one of: oral, oral rinse, intravenous, intramuscular, subcutaneous, "
        "inhaled, intranasal, topical, transdermal, other (got 'by mouth').",
        "conmeds.csv:4: mrn: No patient with MRN 'P-009' in the database.",
        "conmeds.csv:5: mrn: MRN is required.",
        "conmeds.csv:6: drug: Drug is required.",
        "conmeds.csv:7: start_date: No such date: '2026-13-01'.",
        "conmeds.csv:8: event_onset_date: No Pneumonitis grade 2 with onset 2026-03-01 for this patient earlier in "
        "adverse_events.csv or in the database.",
        "conmeds.csv:10: drug: Ritonavir is already recorded for this patient from 2026-03-01 and not stopped; "
        "stop or correct that record instead of adding an overlapping one.",
    ]
    assert queries.medications(db_url).empty


def test_an_earlier_versions_patients_csv_with_the_mouthwash_flag_still_imports(db_url):
    """Exports made before the flag became a record had a dexamethasone_prophylaxis column: "yes" becomes the
    mouthwash record from the treatment start (as migration 0016 did), "no" and empty record nothing."""
    old = ("mrn,name,birth_date,treatment_start,planned_dose_mg,status,dexamethasone_prophylaxis,notes\n"
           "P-001,Ann,,2026-01-05,10,on_treatment,yes,\nP-002,Bob,,2026-02-01,10,on_treatment,no,\n"
           "P-003,Cy,,2026-02-01,10,on_treatment,,\n")
    report = _import(db_url, {"patients.csv": old}, NURSE)
    assert report.ok, report.problems
    rows = queries.medications(db_url)
    assert list(zip(rows["mrn"], rows["drug"], rows["start_date"].astype(str), rows["route"])) == [
        ("P-001", "Dexamethasone mouthwash", "2026-01-05", "oral_rinse")]
