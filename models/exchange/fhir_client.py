"""Read a patient's lab Observations from a FHIR R4 server (REST, JSON): the Patient by its MRN identifier, then
`Observation?patient=ID&code=LOINC,...` page by page (the server's `next` links), returned as one Bundle for
fhir_import. Also POSTs a transaction Bundle (fhir_export) to a server's base URL."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

from models.exchange import codes
from models.settings import mrn_system

TIMEOUT_SECONDS = 30
PAGE_SIZE = 200
MAX_PAGES = 500  # a server whose `next` links never end must not keep the import waiting for ever
MAX_ANSWER_BYTES = 50_000_000
FHIR_JSON = "application/fhir+json"


class FhirServerError(RuntimeError):
    """The server could not be reached, or answered with an error (the message says which, for the user)."""


def fetch_patient_labs(base_url: str, mrn: str) -> dict:
    """A Bundle (type collection) of the patient's Patient resource and every lab Observation this app takes."""
    base = _base(base_url)
    system = mrn_system()
    found = _bundle(_get(f"{base}/Patient?" + urllib.parse.urlencode({"identifier": f"{system}|{mrn}"})))
    patients = [r for r in _resources(found, "Patient") if _has_identifier(r, system, mrn)]
    if not patients:
        raise FhirServerError(f"The FHIR server has no patient with MRN {mrn} (identifier system {system}).")
    if len(patients) > 1:
        raise FhirServerError(f"The FHIR server has {len(patients)} patients with MRN {mrn}; ToxWatch cannot tell "
                              "which one is meant.")
    patient = patients[0]
    if not isinstance(patient.get("id"), str):
        raise FhirServerError("The FHIR server sent the patient without an id; its results cannot be asked for.")
    query = urllib.parse.urlencode({"patient": f"Patient/{patient['id']}",
                                    "code": ",".join(f"{codes.LOINC}|{c}" for c in codes.importable_loincs()),
                                    "_count": PAGE_SIZE})
    patient_url = f"{base}/Patient/{patient['id']}"
    entries = [{"fullUrl": patient_url, "resource": patient}]
    link: str | None = f"{base}/Observation?{query}"
    seen: set[str] = set()
    while link is not None:
        if link in seen or len(seen) >= MAX_PAGES:
            raise FhirServerError("The FHIR server's result pages do not end (a next link repeats, or more than "
                                  f"{MAX_PAGES} pages); stopped, nothing imported.")
        seen.add(link)
        page = _bundle(_get(_same_server(base, link)))
        entries += [{"resource": _with_subject(r, patient['id'], patient_url)} for r in _resources(page, "Observation")]
        links = [l for l in page.get("link", []) if isinstance(l, dict)] if isinstance(page.get("link"), list) else []
        link = next((l.get("url") for l in links if l.get("relation") == "next" and isinstance(l.get("url"), str)),
                    None)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _bundle(answer: dict) -> dict:
    if answer.get("resourceType") != "Bundle":
        raise FhirServerError(f"The FHIR server answered with a {answer.get('resourceType') or 'document'} "
                              "where a search result (Bundle) was expected.")
    return answer


def _resources(bundle: dict, kind: str) -> list[dict]:
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == kind]


def _has_identifier(patient: dict, system: str, mrn: str) -> bool:
    identifiers = patient.get("identifier") if isinstance(patient.get("identifier"), list) else []
    return any(isinstance(i, dict) and i.get("system") == system and i.get("value") == mrn for i in identifiers)


def _with_subject(observation: dict, patient_id: str, patient_url: str) -> dict:
    """A reference to the patient found, as the server writes it (relative or absolute), points at the Patient
    entry; any other subject stays as it is, so the import refuses it."""
    subject = observation.get("subject")
    if isinstance(subject, dict) and subject.get("reference") in (f"Patient/{patient_id}", patient_url):
        return observation | {"subject": subject | {"reference": patient_url}}
    return observation


def _same_server(base: str, link: str) -> str:
    """A next link is followed only to the server asked (same scheme, host and port)."""
    asked, given = urllib.parse.urlparse(base), urllib.parse.urlparse(link)
    if (given.scheme, given.netloc) != (asked.scheme, asked.netloc):
        raise FhirServerError("The FHIR server's next page is on another server; stopped, nothing imported.")
    return link


def post_transaction(base_url: str, bundle: dict) -> dict:
    """POST a transaction Bundle to the server's base URL; the transaction-response Bundle."""
    answer = _request(_base(base_url), json.dumps(bundle).encode("utf-8"), "POST")
    if answer.get("resourceType") != "Bundle" or answer.get("type") != "transaction-response":
        raise FhirServerError("The FHIR server did not answer with a transaction-response; check what it stored.")
    return answer


def _base(base_url: str) -> str:
    address = base_url.strip()
    try:
        parsed = urllib.parse.urlparse(address)
        parsed.port  # noqa: B018 - reading it checks it ("http://host:abc" raises ValueError)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname \
            or any(c.isspace() for c in address):
        raise FhirServerError(f"{base_url!r} is not a FHIR server address (http:// or https://, e.g. "
                              "https://fhir.example.org/r4).")
    return address.rstrip("/")


def _get(address: str) -> dict:
    return _request(address, None, "GET")


def _request(address: str, body: bytes | None, method: str) -> dict:
    request = urllib.request.Request(address, data=body, method=method,
                                     headers={"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data = response.read(MAX_ANSWER_BYTES + 1)
        if len(data) > MAX_ANSWER_BYTES:
            raise FhirServerError(f"The FHIR server's answer is over {MAX_ANSWER_BYTES // 1_000_000} MB; stopped.")
    except urllib.error.HTTPError as error:
        raise FhirServerError(f"The FHIR server answered {error.code} {error.reason}"
                              f"{_outcome_text(error.read())}.") from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException, ValueError) as error:
        raise FhirServerError(f"Could not reach the FHIR server at {address.split('?')[0]}: "
                              f"{_why_unreachable(getattr(error, 'reason', error))}.") from None
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        raise FhirServerError("The FHIR server's answer is not JSON.") from None
    if not isinstance(parsed, dict):
        raise FhirServerError("The FHIR server's answer is not a FHIR resource.")
    return parsed


def _why_unreachable(reason) -> str:
    """Plain words for what the network said."""
    if isinstance(reason, ConnectionRefusedError):
        return "nothing answers at that address (connection refused)"
    if isinstance(reason, socket.gaierror):
        return "the server's name is not known (check the address)"
    if isinstance(reason, ssl.SSLError):
        return "no secure connection could be made (an https address for a server that speaks http?)"
    if isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason):
        return f"no answer within {TIMEOUT_SECONDS} seconds"
    return str(reason)


def _outcome_text(body: bytes) -> str:
    """The diagnostics of an OperationOutcome, if the error came with one."""
    try:
        outcome = json.loads(body)
        issues = [i.get("diagnostics") or (i.get("details") or {}).get("text") for i in outcome.get("issue", [])]
        text = "; ".join(i for i in issues if isinstance(i, str))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return ""
    return f": {text}" if text else ""
