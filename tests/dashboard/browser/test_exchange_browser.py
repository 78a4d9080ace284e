"""An admin exchanges data in the standards in Chromium: downloads the FHIR Bundle (built when the button is
clicked) and the SDTM zip, and imports a lab result from a FHIR Bundle upload, checked first, for a patient of
this run alone (on the writable copy of the demo database)."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from models.exchange import codes
from models.settings import DEFAULT_MRN_SYSTEM
from models.store import queries
from tests.dashboard.browser.test_app_browser import sign_in
from tests.dashboard.browser.test_nurse_flow import TIMEOUT_MS, new_patient, shows
from tests.support.browser import download_by_clicking, open_from_menu, wait_for_app_idle

pytestmark = pytest.mark.browser


def test_admin_downloads_fhir_and_sdtm_and_imports_labs_from_a_fhir_bundle(page, writable_demo, tmp_path):
    app_url, url = writable_demo
    patient = new_patient(url)
    collected = (date.today() - timedelta(days=3)).isoformat()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient",
                                                "identifier": [{"system": DEFAULT_MRN_SYSTEM, "value": patient.mrn}]}},
        {"resource": {"resourceType": "Observation", "id": "alt-1", "status": "final",
                      "code": {"coding": [{"system": codes.LOINC, "code": "1742-6"}]},
                      "subject": {"reference": "urn:uuid:p"}, "effectiveDateTime": collected,
                      "valueQuantity": {"value": 180, "unit": "U/L", "system": codes.UCUM, "code": "U/L"},
                      "referenceRange": [{"high": {"value": 35, "unit": "U/L"}}]}}]}
    (tmp_path / "labs.json").write_text(json.dumps(bundle))

    sign_in(page, app_url, "admin")
    page.get_by_role("heading", level=1).first.wait_for(timeout=TIMEOUT_MS)
    open_from_menu(page, "Admin")
    page.get_by_text("Import / export", exact=True).click()
    wait_for_app_idle(page)

    fhir = download_by_clicking(page, page.get_by_role("button", name="FHIR Bundle (collection)"))
    exported = json.loads(open(fhir.path(), encoding="utf-8").read())
    patients = [e for e in exported["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert exported["type"] == "collection" and len(patients) == len(queries.patients(url))
    page.get_by_role("button", name="Build the SDTM datasets").click()
    wait_for_app_idle(page)
    sdtm = download_by_clicking(page, page.get_by_role("button", name="SDTM datasets (zip)"))
    names = set(zipfile.ZipFile(io.BytesIO(open(sdtm.path(), "rb").read())).namelist())
    assert {"dm.xpt", "ae.xpt", "ex.xpt", "lb.xpt", "cm.xpt", "adae.xpt", "define.json", "define.md"} <= names

    page.locator("[data-testid='stFileUploader']").filter(has_text="FHIR Bundle (JSON)").locator(
        "input[type='file']").set_input_files(str(tmp_path / "labs.json"))
    expect(page.locator("[data-testid='stFileChipIconSpinner']")).to_have_count(0, timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    page.get_by_role("button", name="Check (dry run)", exact=True).last.click()
    shows(page, "From labs.json: Dry run: 1 lab result would be imported; nothing written.")
    assert queries.labs(url, patient_id=patient.id).empty
    page.get_by_role("button", name="Import lab results", exact=True).click()
    shows(page, "From labs.json: Imported 1 lab result.")
    labs = queries.labs(url, patient_id=patient.id)
    assert list(zip(labs["test"], labs["value"], labs["ctcae_grade"])) == [("alt", 180.0, 3)]
