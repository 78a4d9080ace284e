"""The Admin page's FHIR server import (AppTest, against the FHIR server the tests start): the confirmation
names the patient, bad input changes nothing, a server that cannot be reached is said plainly."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard.widgets import plain
from models.exchange import codes, fhir_client
from models.settings import DEFAULT_MRN_SYSTEM
from models.store import queries, records
from tests.dashboard.pages.test_pages import open_app
from tests.support.fhir_server import RunningServer

ADMIN_PAGE = "app_pages/admin.py"


@pytest.fixture(scope="module")
def fhir_server():
    with RunningServer() as base_url:
        yield base_url


def _fetch(app, server: str, mrn: str, button: str = "Fetch and import lab results"):
    app.text_input(key="admin_exchange_fhir_server_url").input(server)
    app.text_input(key="admin_exchange_fhir_server_mrn").input(mrn)
    next(b for b in app.button if b.label == button).click()
    return app.run()


def test_admin_fetches_a_patients_labs_from_a_fhir_server(monkeypatch, demo_copy_url, fhir_server):
    mrn = "FHIR-PAGE-1"
    patient = records.create("patient", {"mrn": mrn, "name": "Page Test", "treatment_start": date.today() -
                                         timedelta(days=60)}, records.Actor("admin", "admin"), url=demo_copy_url)
    fhir_client.post_transaction(fhir_server, {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p", "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "identifier": [{"system": DEFAULT_MRN_SYSTEM, "value": mrn}]}},
        {"fullUrl": "urn:uuid:o", "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": codes.LOINC, "code": "718-7"}]},
                      "subject": {"reference": "urn:uuid:p"},
                      "effectiveDateTime": (date.today() - timedelta(days=2)).isoformat(),
                      "valueQuantity": {"value": 9.2, "unit": "g/dL", "system": codes.UCUM, "code": "g/dL"}}}]})
    app = open_app(monkeypatch, demo_copy_url, ADMIN_PAGE)

    _fetch(app, fhir_server, "")
    assert [e.value for e in app.error] == ["Give the server address and the patient's MRN; nothing was fetched."]
    _fetch(app, fhir_server, "NOT-REGISTERED")
    assert [e.value for e in app.error] == ["No patient with MRN NOT-REGISTERED in ToxWatch; register the patient "
                                            "first. Nothing was fetched."]
    _fetch(app, "http://127.0.0.1:abc", mrn.lower())  # an MRN in another case is the same patient
    assert [e.value for e in app.error] == [plain("'http://127.0.0.1:abc' is not a FHIR server address (http:// or "
                                                  "https://, e.g. https://fhir.example.org/r4).") + " Nothing was imported."]
    _fetch(app, "http://127.0.0.1:9", mrn)
    assert any(e.value.startswith("Could not reach the FHIR server") and e.value.endswith("Nothing was imported.")
               for e in app.error)
    assert queries.labs(demo_copy_url, patient_id=patient["id"]).empty

    _fetch(app, fhir_server, mrn, "Fetch and check (dry run)")
    assert [s.value for s in app.success] == [f"MRN {mrn}: Dry run: 1 lab result would be imported; nothing written."]
    assert queries.labs(demo_copy_url, patient_id=patient["id"]).empty
    _fetch(app, fhir_server, mrn)
    assert [s.value for s in app.success] == [f"MRN {mrn}: Imported 1 lab result."]
    labs = queries.labs(demo_copy_url, patient_id=patient["id"])
    assert list(zip(labs["test"], labs["value"], labs["ctcae_grade"])) == [("hemoglobin", 9.2, 2)]
    _fetch(app, fhir_server, mrn)  # again: already recorded, not twice
    assert [s.value for s in app.info] == [f"MRN {mrn}: Nothing new to import; nothing written."]
    assert any("already recorded" in c.value for c in app.caption)
    assert len(queries.labs(demo_copy_url, patient_id=patient["id"])) == 1


def test_the_sdtm_zip_is_built_on_request_and_a_value_the_format_refuses_is_said(monkeypatch, demo_copy_url):
    app = open_app(monkeypatch, demo_copy_url, ADMIN_PAGE)
    assert not [b for b in app.get("download_button") if b.proto.label == "SDTM datasets (zip)"]
    next(b for b in app.button if b.label == "Build the SDTM datasets").click()
    app.run()
    assert not app.error and any(c.value.startswith("Built with the records as of") for c in app.caption)
    patient = records.register_patient({"mrn": "LONG-1", "name": "Long Reason", "treatment_start": date.today() -
                                        timedelta(days=30)}, [], records.Actor("admin", "admin"), url=demo_copy_url)
    records.create("dose_event", {"patient_id": patient["id"], "effective_date": date.today() - timedelta(days=5),
                                  "action": "reduce", "dose_mg": 5, "reason": "x" * 300},
                   records.Actor("admin", "admin"), url=demo_copy_url)
    next(b for b in app.button if b.label == "Build the SDTM datasets").click()
    app.run()
    assert any("EXADJ" in e.value and e.value.endswith("Nothing was exported.") for e in app.error)
