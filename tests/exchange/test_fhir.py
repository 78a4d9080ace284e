"""FHIR R4 exchange: the export Bundle (validated with fhir.resources' R4B models, coded as the reference says),
the lab import (all or nothing, `resource: path: message`, graded, audited, duplicates not imported twice), and
a round trip through a FHIR server started by the tests (tests/support/fhir_server.py: why our own is there)."""
from __future__ import annotations

import json
import re
import uuid
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlmodel import select

from models.exchange import codes, csv_export, csv_import, fhir_client, fhir_export, fhir_import
from models.settings import DEFAULT_MRN_SYSTEM
from models.store import records
from models.store.db import read_session
from models.store.migrate import upgrade_to_head
from models.store.records import Actor
from models.store.tables import AuditEntry, LabResult
from tests.application.test_cli import run_cli
from tests.support.fhir_server import RunningServer

ADMIN = Actor("ada.admin", "admin")
TODAY = date(2026, 6, 1)
PROBLEM = re.compile(r"(Observation/[^:]+|entry\[\d+\] Observation|Bundle): [^:]+: .+")
AE_GRADE = fhir_export.AE_IG + "ae-grade"


@pytest.fixture(scope="module")
def demo_bundle(demo_sqlite_url):
    return fhir_export.bundle(demo_sqlite_url)


@pytest.fixture(scope="module")
def fhir_server():
    with RunningServer() as base_url:
        yield base_url


def _resources(data: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def _patient(url: str, mrn: str = "P-001", start: date = date(2026, 1, 5)) -> dict:
    return records.register_patient({"mrn": mrn, "name": "Ann Example", "birth_date": date(1960, 3, 2),
                                     "treatment_start": start, "planned_dose_mg": 10}, [], ADMIN, today=TODAY, url=url)


def _observation(**changes) -> dict:
    resource = {"resourceType": "Observation", "id": "hb1", "status": "final",
                "code": {"coding": [{"system": codes.LOINC, "code": "718-7"}]},
                "subject": {"reference": "urn:uuid:p1"}, "effectiveDateTime": "2026-02-03T08:15:00+01:00",
                "valueQuantity": {"value": 7.5, "unit": "g/dL", "system": codes.UCUM, "code": "g/dL"},
                "referenceRange": [{"low": {"value": 12, "unit": "g/dL"}, "high": {"value": 15.5, "unit": "g/dL"}}]}
    return resource | changes


def _bundle(*observations: dict, mrn: str = "P-001") -> dict:
    patient = {"resourceType": "Patient", "identifier": [{"system": DEFAULT_MRN_SYSTEM, "value": mrn}]}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:p1", "resource": patient}] + [{"resource": o} for o in observations]}


def _labs(url: str) -> list[tuple]:
    with read_session(url) as session:
        return [(r.test, r.value, r.unit, r.lln, r.uln, r.collected_on, r.ctcae_grade, r.created_by)
                for r in session.exec(select(LabResult).order_by(LabResult.id))]


# --- export -------------------------------------------------------------------------------------------

def test_export_has_every_active_record_and_validates_as_a_bundle(demo_sqlite_url, demo_bundle):
    files = csv_export.export_files(demo_sqlite_url)
    rows = {name: len(text.splitlines()) - 1 for name, text in files.items()}
    assert fhir_export.resource_counts(demo_bundle) | {} == {
        "Patient": rows["patients.csv"], "AdverseEvent": rows["adverse_events.csv"],
        "Observation": rows["labs.csv"],
        "MedicationStatement": len(_resources(demo_bundle, "MedicationStatement"))}
    conmeds = [m for m in _resources(demo_bundle, "MedicationStatement")
               if m["medicationCodeableConcept"]["text"] != "everolimus Oral Tablet"]
    assert len(conmeds) == rows["conmeds.csv"]
    Bundle.model_validate(demo_bundle)  # the whole Bundle, as a receiving system would parse it
    assert demo_bundle["type"] == "collection" and all("request" not in e for e in demo_bundle["entry"])
    full_urls = {e["fullUrl"] for e in demo_bundle["entry"]}
    assert len(full_urls) == len(demo_bundle["entry"])
    assert all(r in full_urls for e in demo_bundle["entry"] for r in fhir_export._references(e["resource"]))


def test_adverse_events_carry_the_grade_extension_meddra_term_and_suspect_everolimus(demo_bundle):
    events = _resources(demo_bundle, "AdverseEvent")
    grades = {ext["valueCodeableConcept"]["coding"][0]["code"] for e in events for ext in e["extension"]
              if ext["url"] == AE_GRADE}
    assert grades <= {"C41338", "C41339", "C41340", "C41337", "C48275"} and {"C41338", "C41340"} <= grades
    assert all(e["actuality"] == "actual" and e["event"]["text"] for e in events)
    coded = [e for e in events if e["event"].get("coding")]
    assert coded and all(c["system"] == "https://www.meddra.org" for e in coded for c in e["event"]["coding"])
    mucositis = [e for e in coded if e["event"]["text"] == "Mucositis oral"]
    assert mucositis and all(e["event"]["coding"][0]["code"] == "10028130" for e in mucositis)
    statements = {e["fullUrl"]: e["resource"] for e in demo_bundle["entry"]}
    suspects = [e["suspectEntity"][0] for e in events if e.get("suspectEntity")]
    assert suspects and all(statements[s["instance"]["reference"]]["resourceType"] == "MedicationStatement"
                            for s in suspects)
    actions = {ext["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] for e in events
               for ext in e["extension"] if ext["url"].endswith("mitigating-action")}
    assert actions and actions <= {"C49504", "C49501", "C49505", "C49502"}


def test_everolimus_statements_are_dose_intervals_with_holds_between_and_no_unconfirmed_code(demo_bundle):
    everolimus = [m for m in _resources(demo_bundle, "MedicationStatement")
                  if m["medicationCodeableConcept"]["text"] == "everolimus Oral Tablet"]
    assert all("coding" not in m["medicationCodeableConcept"] for m in everolimus)  # RxCUI unconfirmed
    holds = [m for m in everolimus if m["status"] == "on-hold"]
    doses = [m for m in everolimus if m["status"] != "on-hold"]
    assert holds and all("dosage" not in m for m in holds)
    quantities = [m["dosage"][0]["doseAndRate"][0]["doseQuantity"] for m in doses]
    assert all(q["value"] > 0 and q["code"] == "mg" and q["system"] == codes.UCUM for q in quantities)
    assert {m["status"] for m in doses} <= {"active", "completed", "stopped"}


def test_observations_have_loinc_ucum_reference_range_and_grade(demo_bundle):
    observations = _resources(demo_bundle, "Observation")
    loincs = {o["code"]["coding"][0]["code"] for o in observations}
    assert {"718-7", "1920-8", "1742-6", "777-3", "751-8"} <= loincs
    assert "14771-0" not in loincs  # unconfirmed: listed, never sent
    hemoglobin = [o for o in observations if o["code"]["coding"][0]["code"] == "718-7"]
    assert all(o["valueQuantity"]["system"] == codes.UCUM for o in hemoglobin)
    graded = [o for o in hemoglobin if o["component"][0]["valueInteger"] >= 2]
    assert graded and all(o["component"][0]["code"]["text"] == "CTCAE grade (Anemia)" for o in graded)
    assert any("referenceRange" in o for o in observations)


def test_transaction_bundle_has_requests_and_creates_a_patient_only_once(demo_sqlite_url):
    data = fhir_export.bundle(demo_sqlite_url, bundle_type="transaction", mrn="DEMO-00001")
    assert data["type"] == "transaction" and fhir_export.resource_counts(data)["Patient"] == 1
    patient = data["entry"][0]
    assert patient["request"] == {"method": "POST", "url": "Patient",
                                  "ifNoneExist": "identifier=urn%3Atoxwatch%3Amrn%7CDEMO-00001"}
    assert all(e["request"]["method"] == "POST" and "id" not in e["resource"] for e in data["entry"])


def test_entered_in_error_records_are_not_exported(db_url):
    patient = _patient(db_url)
    lab = records.create("lab_result", {"patient_id": patient["id"], "test": "hemoglobin", "value": 9.0,
                                        "unit": "g/dL", "collected_on": date(2026, 2, 1)}, ADMIN, today=TODAY, url=db_url)
    assert fhir_export.resource_counts(fhir_export.bundle(db_url))["Observation"] == 1
    records.mark_entered_in_error("lab_result", lab["id"], lab["version"], "wrong patient", ADMIN, url=db_url)
    assert "Observation" not in fhir_export.resource_counts(fhir_export.bundle(db_url))


# --- import -------------------------------------------------------------------------------------------

def test_import_grades_writes_and_audits_the_labs(db_url):
    _patient(db_url)
    platelets = _observation(id="plt", code={"coding": [{"system": "http://example.org/local", "code": "PLT"},
                                                        {"system": codes.LOINC, "code": "777-3"}]},
                             valueQuantity={"value": 60, "system": codes.UCUM, "code": "10*3/uL"},
                             referenceRange=[])
    other = _observation(id="na", code={"coding": [{"system": codes.LOINC, "code": "2951-2"}]})
    preliminary = _observation(id="pre", status="preliminary")
    report = fhir_import.import_bundle(_bundle(_observation(), platelets, other, preliminary), ADMIN,
                                       source="labs.json", today=TODAY, url=db_url)
    assert report.ok and report.imported == 2, report.problems
    assert report.summary == "Imported 2 lab results."
    assert any("not one of the lab tests" in n for n in report.notes)
    assert any("'preliminary'" in n for n in report.notes)
    assert _labs(db_url) == [("hemoglobin", 7.5, "g/dL", 12.0, 15.5, date(2026, 2, 3), 3, "ada.admin"),
                             ("platelets", 60.0, "10^3/uL", None, None, date(2026, 2, 3), 2, "ada.admin")]
    with read_session(db_url) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "import")).one()
    assert json.loads(entry.detail) == {"source": "FHIR: labs.json", "rows": {"labs.csv": 2}}


def test_the_same_labs_again_are_not_imported_twice(db_url):
    _patient(db_url)
    bundle = _bundle(_observation(), _observation(id="hb-copy"))  # the second is a copy of the first
    first = fhir_import.import_bundle(bundle, ADMIN, source="a", today=TODAY, url=db_url)
    assert first.imported == 1 and first.notes == [
        "1 appear more than once in the file, recorded once: Observation/hb-copy: Hemoglobin 7.5 g/dL on 2026-02-03 "
        "(MRN P-001)."]
    second = fhir_import.import_bundle(bundle, ADMIN, source="a", today=TODAY, url=db_url)
    assert second.ok and second.imported == 0 and len(_labs(db_url)) == 1
    assert second.summary == "Nothing new to import; nothing written."
    assert second.notes[0] == ("2 already recorded in ToxWatch, not recorded again: Hemoglobin 7.5 g/dL on "
                               "2026-02-03 (MRN P-001), Hemoglobin 7.5 g/dL on 2026-02-03 (MRN P-001).")


def test_the_write_path_refuses_a_second_record_of_one_result(db_url):
    """Two imports at once both pass the check before the write: the write path, under the patient's lock,
    refuses the second (and a nurse's double entry)."""
    patient = _patient(db_url)
    lab = {"patient_id": patient["id"], "test": "hemoglobin", "value": 9.0, "unit": "g/dL",
           "collected_on": date(2026, 2, 1)}
    records.create("lab_result", lab, ADMIN, today=TODAY, url=db_url)
    with pytest.raises(records.ValidationFailed, match="Hemoglobin 9 G/DL on 2026-02-01 is already recorded"):
        records.create("lab_result", lab | {"unit": "G/DL"}, ADMIN, today=TODAY, url=db_url)
    records.create("lab_result", lab | {"value": 9.1}, ADMIN, today=TODAY, url=db_url)  # another result
    with pytest.raises(records.ValidationFailed, match="before the patient's birth date 1960-03-02"):
        records.create("lab_result", lab | {"collected_on": date(1959, 1, 1)}, ADMIN, today=TODAY, url=db_url)


@pytest.mark.parametrize(("observation", "expected"), [
    (_observation(valueQuantity={"unit": "g/dL"}), "Observation/hb1: valueQuantity.value: a number is required"),
    (_observation(valueQuantity={"value": 9, "unit": "mg/dL"}),
     "Observation/hb1: valueQuantity.unit: 'mg/dL' is not a unit ToxWatch grades Hemoglobin in (g/dL, g/L, mmol/L)"),
    (_observation(effectiveDateTime="yesterday"), "Observation/hb1: effectiveDateTime: 'yesterday' is not a date"),
    (_observation(effectiveDateTime=None), "Observation/hb1: effectiveDateTime: the collection date is required"),
    (_observation(subject={"reference": "Patient/elsewhere"}),
     "Observation/hb1: subject: 'Patient/elsewhere' is not a Patient of this Bundle"),
    (_observation(valueQuantity={"value": -3, "unit": "g/dL"}), "Observation/hb1: valueQuantity.value: "),
    (_observation(effectiveDateTime="2031-01-01"), "Observation/hb1: effectiveDateTime: "),
    (_observation(referenceRange=[{"low": {"value": 120, "unit": "g/L"}}]),
     "Observation/hb1: referenceRange[0].low: the limit's unit 'g/L' differs from the value's (g/dL)"),
    (_observation(valueQuantity={"value": "7.5"}), "Observation/hb1: valueQuantity.value: a number is required"),
])
def test_a_bad_observation_is_refused_with_its_path_and_nothing_is_written(db_url, observation, expected):
    _patient(db_url)
    good = _observation(id="fine", valueQuantity={"value": 11, "unit": "g/dL"})
    report = fhir_import.import_bundle(_bundle(good, observation), ADMIN, source="x", today=TODAY, url=db_url)
    assert not report.ok and report.imported == 0 and report.summary.startswith("Nothing imported")
    assert any(p.startswith(expected) for p in report.problems), report.problems
    assert all(PROBLEM.fullmatch(p) for p in report.problems), report.problems
    assert _labs(db_url) == []


def test_unregistered_patient_and_non_bundle_files_are_refused(db_url):
    report = fhir_import.import_bundle(_bundle(_observation(), mrn="NOBODY"), ADMIN, source="x", url=db_url)
    assert [p.split(": ", 2)[:2] for p in report.problems] == [["Observation/hb1", "subject"]]
    assert "NOBODY" in report.problems[0]
    assert fhir_import.import_bundle(b"not json", ADMIN, source="x", url=db_url).problems[0].startswith(
        "Bundle: (file): not JSON text")
    assert fhir_import.import_bundle(b"[1]", ADMIN, source="x", url=db_url).problems == [
        "Bundle: (file): a FHIR Bundle is a JSON object, not a list"]
    assert fhir_import.import_bundle({"resourceType": "Patient"}, ADMIN, source="x", url=db_url).problems == [
        "Bundle: resourceType: expected a Bundle of Observations, not 'Patient'"]
    assert _labs(db_url) == []


# --- a FHIR server ------------------------------------------------------------------------------------

def test_round_trip_through_a_fhir_server_gives_identical_labs(demo_sqlite_url, tmp_path, fhir_server, monkeypatch):
    """Export as a transaction, load it into the server, register the patients in an empty database (FHIR's
    Patient has no treatment start), fetch every patient's labs back page by page: the labs are identical."""
    empty_sqlite_url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade_to_head(empty_sqlite_url)
    sent = run_cli("export-fhir", "--server", fhir_server, url=demo_sqlite_url)
    assert sent.returncode == 0, sent.stderr
    assert "in one transaction" in sent.stdout
    files = csv_export.export_files(demo_sqlite_url)
    assert csv_import.import_files({"patients.csv": files["patients.csv"].encode()}, ADMIN,
                                   url=empty_sqlite_url).ok
    monkeypatch.setattr(fhir_client, "PAGE_SIZE", 25)  # most patients' labs come in several pages
    mrns = [line.split(",")[0] for line in files["patients.csv"].splitlines()[1:]]
    for mrn in mrns[1:]:
        report = fhir_import.import_bundle(fhir_client.fetch_patient_labs(fhir_server, mrn), ADMIN,
                                           source=f"server {mrn}", url=empty_sqlite_url, patient_mrn=mrn)
        assert report.ok, report.problems
    one = run_cli("import-fhir", "--server", fhir_server, "--patient", mrns[0], url=empty_sqlite_url)
    assert one.returncode == 0, one.stderr
    assert re.search(r"Imported \d+ lab results\.", one.stdout)
    assert csv_export.export_files(empty_sqlite_url)["labs.csv"] == files["labs.csv"]
    again = run_cli("import-fhir", "--server", fhir_server, "--patient", mrns[0], url=empty_sqlite_url)
    assert again.returncode == 0 and "Nothing new to import" in again.stdout and "already recorded" in again.stdout


def test_server_problems_are_told_plainly(fhir_server):
    with pytest.raises(fhir_client.FhirServerError, match="has no patient with MRN NOBODY"):
        fhir_client.fetch_patient_labs(fhir_server, "NOBODY")
    with pytest.raises(fhir_client.FhirServerError, match="Could not reach the FHIR server"):
        fhir_client.fetch_patient_labs("http://127.0.0.1:9", "P-001")
    with pytest.raises(fhir_client.FhirServerError, match="is not a FHIR server address"):
        fhir_client.fetch_patient_labs("ftp://example.org", "P-001")
    with pytest.raises(fhir_client.FhirServerError, match="answered 400"):
        fhir_client.post_transaction(fhir_server, {"resourceType": "Bundle", "type": "collection"})


def test_cli_import_of_a_bundle_file_refuses_bad_rows_and_writes_nothing(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"  # the write path is the same on PostgreSQL (tested above)
    upgrade_to_head(db_url)
    _patient(db_url)
    path = tmp_path / "labs.json"
    path.write_text(json.dumps(_bundle(_observation(), _observation(id="bad", effectiveDateTime="soon"))))
    refused = run_cli("import-fhir", str(path), url=db_url)
    assert refused.returncode == 1
    assert "Observation/bad: effectiveDateTime: 'soon' is not a date" in refused.stderr
    assert _labs(db_url) == []
    path.write_text(json.dumps(_bundle(_observation())))
    dry = run_cli("import-fhir", str(path), "--dry-run", url=db_url)
    assert dry.returncode == 0 and "Dry run: 1 lab result would be imported" in dry.stdout and _labs(db_url) == []
    assert run_cli("import-fhir", str(path), url=db_url).returncode == 0 and len(_labs(db_url)) == 1
    written = run_cli("export-fhir", str(tmp_path / "out"), url=db_url)
    assert written.returncode == 0 and "Observation 1" in written.stdout
    assert json.loads((tmp_path / "out" / "toxwatch-fhir-bundle.json").read_text())["type"] == "collection"


# --- what a review found ------------------------------------------------------------------------------

def test_labs_fetched_for_one_patient_never_go_to_another(db_url):
    """The MRN asked for does not adopt results whose subject is unknown or another patient's."""
    _patient(db_url, "P-001")
    _patient(db_url, "P-002")
    stranger = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:9.9.9", "value": "H-555"}]}
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:p1", "resource": stranger}, {"resource": _observation()}]}
    report = fhir_import.import_bundle(bundle, ADMIN, source="x", today=TODAY, url=db_url, patient_mrn="P-001")
    assert [p.split(": ")[:2] for p in report.problems] == [["Observation/hb1", "subject"]]
    other = fhir_import.import_bundle(_bundle(_observation(), mrn="P-002"), ADMIN, source="x", today=TODAY,
                                      url=db_url, patient_mrn="P-001")
    assert other.problems == ["Observation/hb1: subject: this result is for MRN P-002, not for P-001, whose results "
                              "were asked for."]
    assert _labs(db_url) == []
    cli = run_cli("import-fhir", "labs.json", "--patient", "P-001", url=db_url)
    assert cli.returncode == 2 and "--server and --patient MRN go together" in cli.stderr


@pytest.mark.parametrize("changes", [
    {"code": []}, {"code": "718-7"}, {"subject": "Patient/1"}, {"subject": {"reference": ["x"]}},
    {"effectiveDateTime": None, "effectivePeriod": "2026-01-01"}, {"valueQuantity": {"value": 10 ** 400}},
    {"valueQuantity": {"value": True, "unit": "g/dL"}}, {"referenceRange": {"low": 1}},
    {"valueQuantity": {"value": 9, "unit": ["g/dL"]}}, {"extension": [{"extension": []}] * 3},
])
def test_malformed_observations_are_problems_not_crashes(db_url, changes):
    _patient(db_url)
    report = fhir_import.import_bundle(_bundle(_observation(**changes)), ADMIN, source="x", today=TODAY, url=db_url)
    assert report.problems or report.notes  # a problem, or skipped (an Observation without a usable code)
    assert all(PROBLEM.fullmatch(p) for p in report.problems), report.problems
    assert report.imported == 0 and _labs(db_url) == []


def test_deep_json_and_a_wrong_importer_are_said_plainly(db_url):
    _patient(db_url)
    assert fhir_import.import_bundle(b"[" * 100_000, ADMIN, source="x", url=db_url).problems == [
        "Bundle: (file): nested too deeply to be a FHIR Bundle"]
    report = fhir_import.import_bundle(_bundle(_observation()), Actor("phil", "pharmacist"), source="x", url=db_url)
    assert report.problems == ["Bundle: (import): A pharmacist cannot import lab result records."]


def test_censored_and_absent_values_are_skipped_and_an_amended_value_needs_the_old_one_corrected(db_url):
    _patient(db_url)
    censored = _observation(id="anc", code={"coding": [{"system": codes.LOINC, "code": "751-8"}]},
                            valueQuantity={"value": 0.5, "comparator": "<", "system": codes.UCUM, "code": "10*9/L"},
                            referenceRange=[])
    absent = {k: v for k, v in _observation(id="none").items() if k != "valueQuantity"} | {
        "dataAbsentReason": {"text": "haemolysed"}}
    report = fhir_import.import_bundle(_bundle(_observation(), censored, absent), ADMIN, source="x", today=TODAY,
                                       url=db_url)
    assert report.imported == 1 and any("comparator" in n and "Observation/anc" in n for n in report.notes)
    assert any("dataAbsentReason" in n for n in report.notes)
    amended = _observation(status="corrected", valueQuantity={"value": 12.0, "unit": "g/dL"})
    refused = fhir_import.import_bundle(_bundle(amended), ADMIN, source="x", today=TODAY, url=db_url)
    assert refused.problems == ["Observation/hb1: status: an amended result, but ToxWatch already holds 7.5 g/dL "
                                "for Hemoglobin on 2026-02-03 for MRN P-001; mark that result entered in error on "
                                "the patient's page, then import again."]
    same_in_g_per_l = _observation(id="hb-gl", valueQuantity={"value": 75, "unit": "g/L"}, referenceRange=[])
    again = fhir_import.import_bundle(_bundle(same_in_g_per_l), ADMIN, source="x", today=TODAY, url=db_url)
    assert again.imported == 0 and "already recorded" in again.notes[0]
    assert [lab[:3] for lab in _labs(db_url)] == [("hemoglobin", 7.5, "g/dL")]


def test_export_codes_units_serious_deaths_and_patients_without_a_start_record(db_url):
    files = {"patients.csv": "mrn,name,birth_date,treatment_start,planned_dose_mg\n+44&77,Ann,,2026-01-05,10\n",
             "adverse_events.csv": "mrn,term,grade,onset_date,resolved_date,serious,attribution,action_taken,notes\n"
                                   "+44&77,Pneumonitis,5,2026-02-01,2026-02-03,no,possible,discontinued,\n",
             "labs.csv": "mrn,test,value,unit,lln,uln,collected_on\n+44&77,hemoglobin,8,mmol/L,,,2026-01-20\n"
                         "+44&77,hemoglobin,9.5,G/DL,,,2026-01-21\n"}
    assert csv_import.import_files({k: v.encode() for k, v in files.items()}, ADMIN, today=TODAY, url=db_url).ok
    data = fhir_export.bundle(db_url, bundle_type="transaction")
    patient, *others = [e for e in data["entry"]]
    assert patient["request"]["ifNoneExist"] == "identifier=urn%3Atoxwatch%3Amrn%7C%2B44%2677"
    assert all(e["request"]["ifNoneExist"].startswith("identifier=urn%3Atoxwatch%3Arecord%7C") for e in others)
    molar, mass = _resources(data, "Observation")
    assert "coding" not in molar["code"] and molar["valueQuantity"] == {"value": 8.0, "unit": "mmol/L",
                                                                         "system": codes.UCUM, "code": "mmol/L"}
    assert mass["code"]["coding"][0]["code"] == "718-7" and mass["valueQuantity"]["code"] == "g/dL"
    event = _resources(data, "AdverseEvent")[0]
    assert event["seriousness"]["coding"][0]["code"] == "serious"  # fatal, whatever was recorded
    statement = _resources(data, "MedicationStatement")[0]
    assert statement["effectivePeriod"] == {"start": "2026-01-05"} and "no start dose record" in \
        statement["note"][0]["text"]
    statement_url = next(e["fullUrl"] for e in data["entry"] if e["resource"] is statement)
    assert event["suspectEntity"][0]["instance"]["reference"] == statement_url


def test_a_transaction_loaded_twice_creates_nothing_the_second_time(db_url, fhir_server):
    patient = _patient(db_url, f"TWICE-{uuid.uuid4().hex[:8]}")  # the server is shared by the module's tests
    records.create("lab_result", {"patient_id": patient["id"], "test": "alt", "value": 50.0, "unit": "U/L",
                                  "collected_on": date(2026, 2, 1)}, ADMIN, today=TODAY, url=db_url)
    data = fhir_export.bundle(db_url, bundle_type="transaction")
    first = fhir_client.post_transaction(fhir_server, data)
    second = fhir_client.post_transaction(fhir_server, data)
    assert {e["response"]["status"] for e in first["entry"]} == {"201 Created"}
    assert {e["response"]["status"] for e in second["entry"]} == {"200 OK"}
    assert [e["response"]["location"] for e in first["entry"]] == [e["response"]["location"] for e in second["entry"]]


@pytest.fixture
def crafted_server():
    """A real HTTP server that answers each path with the JSON the test sets (a FHIR server gone wrong)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            body = json.dumps(answers.get(self.path.split("?")[0], {"resourceType": "OperationOutcome"})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", answers
    server.shutdown()


def test_a_server_that_answers_wrongly_is_refused_plainly(crafted_server):
    base, answers = crafted_server
    patient = {"resourceType": "Patient", "id": "1", "identifier": [{"system": DEFAULT_MRN_SYSTEM, "value": "P-1"}]}
    answers["/Patient"] = {"resourceType": "Bundle", "entry": ["x", {"resource": "x"}, {"resource": patient}]}
    with pytest.raises(fhir_client.FhirServerError, match="answered with a OperationOutcome where a search result"):
        fhir_client.fetch_patient_labs(base, "P-1")
    answers["/Observation"] = {"resourceType": "Bundle", "link": [{"relation": "next", "url": f"{base}/Observation"}]}
    with pytest.raises(fhir_client.FhirServerError, match="do not end"):
        fhir_client.fetch_patient_labs(base, "P-1")
    answers["/Observation"] = {"resourceType": "Bundle", "link": [{"relation": "next", "url": "file:///etc/passwd"}]}
    with pytest.raises(fhir_client.FhirServerError, match="on another server"):
        fhir_client.fetch_patient_labs(base, "P-1")
    answers["/Patient"] = {"resourceType": "Bundle", "entry": [{"resource": patient | {"identifier": []}}]}
    with pytest.raises(fhir_client.FhirServerError, match="has no patient with MRN P-1"):
        fhir_client.fetch_patient_labs(base, "P-1")


def test_a_result_stored_with_its_unit_in_another_case_is_known(db_url):
    """A lab imported from CSV as 'G/DL' and sent again over FHIR in g/dL is the same result: noted, not refused."""
    _patient(db_url)
    stored = "mrn,test,value,unit,lln,uln,collected_on\nP-001,hemoglobin,7.5,G/DL,,,2026-02-03\n"
    assert csv_import.import_files({"labs.csv": stored.encode()}, ADMIN, today=TODAY, url=db_url).ok
    report = fhir_import.import_bundle(_bundle(_observation()), ADMIN, source="x", today=TODAY, url=db_url)
    assert report.ok and report.imported == 0 and "already recorded" in report.notes[0]
