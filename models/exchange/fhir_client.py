"""Read a patient's lab Observations from a FHIR R4 server (REST, JSON): the Patient by its MRN identifier, then
`Observation?patient=ID&code=LOINC,...` page by page (the server's `next` links), returned as one Bundle for
fhir_import. Also POSTs a transaction Bundle (fhir_export) to a server's base URL."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from models.exchange import codes
from models.settings import mrn_system

TIMEOUT_SECONDS = 30
PAGE_SIZE = 200
MAX_PAGES = 500  # a server whose `next` links never end must not keep the import waiting for ever
FHIR_JSON = "application/fhir+json"


class FhirServerError(RuntimeError):
    """The server could not be reached, or answered with an error (the message says which, for the user)."""


def fetch_patient_labs(base_url: str, mrn: str) -> dict:
    """A Bundle (type collection) of the patient's Patient resource and every lab Observation this app takes."""
    base = _base(base_url)
    system = mrn_system()
    found = _get(f"{base}/Patient?" + urllib.parse.urlencode({"identifier": f"{system}|{mrn}"}))
    patients = [e["resource"] for e in found.get("entry", []) if e.get("resource", {}).get("resourceType") == "Patient"]
    if not patients:
        raise FhirServerError(f"The FHIR server has no patient with MRN {mrn} (identifier system {system}).")
    if len(patients) > 1:
        raise FhirServerError(f"The FHIR server has {len(patients)} patients with MRN {mrn}; ToxWatch cannot tell "
                              "which one is meant.")
    patient = patients[0]
    query = urllib.parse.urlencode({"patient": f"Patient/{patient['id']}",
                                    "code": ",".join(f"{codes.LOINC}|{c}" for c in codes.importable_loincs()),
                                    "_count": PAGE_SIZE})
    entries = [{"fullUrl": f"{base}/Patient/{patient['id']}", "resource": patient}]
    link: str | None = f"{base}/Observation?{query}"
    for _ in range(MAX_PAGES):
        if link is None:
            break
        page = _get(link)
        entries += [{"fullUrl": e.get("fullUrl"), "resource": e["resource"]} for e in page.get("entry", [])
                    if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Observation"]
        link = next((l.get("url") for l in page.get("link", []) if l.get("relation") == "next"), None)
    else:
        raise FhirServerError(f"The FHIR server sent more than {MAX_PAGES} pages of results; stopped.")
    for entry in entries[1:]:  # a relative reference from the server names the patient found above
        subject = entry["resource"].get("subject") or {}
        if subject.get("reference") in (f"Patient/{patient['id']}", f"{base}/Patient/{patient['id']}"):
            entry["resource"] = entry["resource"] | {"subject": subject | {"reference": entries[0]["fullUrl"]}}
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def post_transaction(base_url: str, bundle: dict) -> dict:
    """POST a transaction Bundle to the server's base URL; the transaction-response Bundle."""
    return _request(_base(base_url), json.dumps(bundle).encode("utf-8"), "POST")


def _base(base_url: str) -> str:
    parsed = urllib.parse.urlparse(base_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FhirServerError(f"{base_url!r} is not a FHIR server address (http:// or https://, e.g. "
                              "https://fhir.example.org/r4).")
    return base_url.strip().rstrip("/")


def _get(address: str) -> dict:
    return _request(address, None, "GET")


def _request(address: str, body: bytes | None, method: str) -> dict:
    request = urllib.request.Request(address, data=body, method=method,
                                     headers={"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data = response.read()
    except urllib.error.HTTPError as error:
        raise FhirServerError(f"The FHIR server answered {error.code} {error.reason}"
                              f"{_outcome_text(error.read())}.") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FhirServerError(f"Could not reach the FHIR server at {address.split('?')[0]}: {reason}.") from None
    try:
        parsed = json.loads(data)
    except ValueError:
        raise FhirServerError("The FHIR server's answer is not JSON.") from None
    if not isinstance(parsed, dict):
        raise FhirServerError("The FHIR server's answer is not a FHIR resource.")
    return parsed


def _outcome_text(body: bytes) -> str:
    """The diagnostics of an OperationOutcome, if the error came with one."""
    try:
        outcome = json.loads(body)
        issues = [i.get("diagnostics") or (i.get("details") or {}).get("text") for i in outcome.get("issue", [])]
        text = "; ".join(i for i in issues if i)
    except (ValueError, AttributeError):
        return ""
    return f": {text}" if text else ""
