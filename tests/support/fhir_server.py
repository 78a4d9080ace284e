"""A FHIR R4 server for the tests, run in its own process (`python -m tests.support.fhir_server --port N`).

Why our own: HAPI FHIR needs a jar from Maven, which this machine cannot reach; fhirsnake (PyPI) serves files but
has no search parameters and no transactions; fhirstarter is a framework without transactions. So this is a small
server on Starlette + uvicorn (both come with Streamlit) that does what a real one does for our exchange, strictly:
- validates every resource it is given with fhir.resources' R4B models (400 with an OperationOutcome);
- `POST /` a transaction Bundle: all or nothing, server-assigned ids, `ifNoneExist` conditional creates, urn:uuid
  references rewritten to the new ids, a transaction-response;
- `GET /Patient?identifier=system|value`, `GET /Observation?patient=&code=system|code,...&_count=`, paged with
  `next` links; an unknown search parameter is refused (400), as with `Prefer: handling=strict`;
- `GET /{type}/{id}`, `POST /{type}`, `GET /metadata`. Data lives in memory for the life of the process.
"""
from __future__ import annotations

import argparse
import urllib.parse
import threading
import uuid

from fhir.resources.R4B import get_fhir_model_class
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SEARCH_PARAMETERS = {"Patient": {"identifier", "_count", "_getpagesoffset"},
                     "Observation": {"identifier", "patient", "subject", "code", "_count", "_getpagesoffset"},
                     "AdverseEvent": {"identifier", "subject", "_count", "_getpagesoffset"},
                     "MedicationStatement": {"identifier", "subject", "_count", "_getpagesoffset"}}
STORE: dict[str, dict[str, dict]] = {}
BY_IDENTIFIER: dict[tuple, set[str]] = {}  # (type, system, value) -> ids
LOCK = threading.Lock()
FHIR_JSON = "application/fhir+json"


def _outcome(status: int, message: str) -> JSONResponse:
    return JSONResponse({"resourceType": "OperationOutcome",
                         "issue": [{"severity": "error", "code": "invalid", "diagnostics": message}]},
                        status_code=status, media_type=FHIR_JSON)


def _validated(resource) -> str | None:
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return "not a FHIR resource"
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception as error:  # unknown type, or pydantic's ValidationError
        return f"{resource.get('resourceType')}: {str(error).splitlines()[0]} {str(error).splitlines()[1:3]}"
    return None


def _rewrite(node, ids: dict[str, str]):
    if isinstance(node, dict):
        return {k: (ids.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, ids))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, ids) for v in node]
    return node


def _identifiers(resource: dict) -> list[dict]:
    given = resource.get("identifier", [])
    return [given] if isinstance(given, dict) else given  # one Identifier in R4's AdverseEvent, else a list


def _stored(kind: str, resource: dict, new_id: str) -> dict:
    resource = dict(resource) | {"id": new_id, "meta": {"versionId": "1"}}
    STORE.setdefault(kind, {})[new_id] = resource
    for identifier in _identifiers(resource):
        BY_IDENTIFIER.setdefault((kind, identifier.get("system"), identifier.get("value")), set()).add(new_id)
    return resource


def _matches(kind: str, query: dict[str, str]) -> list[dict]:
    if "identifier" in query:
        system, _, value = query["identifier"].rpartition("|")
        if system:
            ids = BY_IDENTIFIER.get((kind, system, value), set())
        else:
            ids = set().union(*[i for (k, _, v), i in BY_IDENTIFIER.items() if k == kind and v == value])
        found = [STORE[kind][i] for i in sorted(ids)]
    else:
        found = list(STORE.get(kind, {}).values())
    for name in ("patient", "subject"):
        if name in query:
            wanted = query[name] if "/" in query[name] else f"Patient/{query[name]}"
            found = [r for r in found if (r.get("subject") or {}).get("reference") == wanted]
    if "code" in query:
        wanted = {tuple(c.rpartition("|")[::2]) for c in query["code"].split(",")}
        found = [r for r in found if any((c.get("system", ""), c.get("code")) in wanted
                                         or ("", c.get("code")) in wanted for c in (r.get("code") or {}).get("coding", []))]
    return found


async def search(request: Request) -> JSONResponse:
    kind = request.path_params["kind"]
    query = dict(request.query_params)
    unknown = set(query) - SEARCH_PARAMETERS.get(kind, set())
    if unknown:
        return _outcome(400, f"unknown search parameter(s) for {kind}: {', '.join(sorted(unknown))}")
    count, offset = int(query.pop("_count", 50)), int(query.pop("_getpagesoffset", 0))
    with LOCK:
        found = _matches(kind, query)
    page = found[offset:offset + count]
    base = str(request.base_url).rstrip("/")
    links = [{"relation": "self", "url": str(request.url)}]
    if offset + count < len(found):
        params = dict(request.query_params) | {"_getpagesoffset": str(offset + count), "_count": str(count)}
        links.append({"relation": "next", "url": f"{base}/{kind}?" + "&".join(f"{k}={v}" for k, v in params.items())})
    return JSONResponse({"resourceType": "Bundle", "type": "searchset", "total": len(found), "link": links,
                         "entry": [{"fullUrl": f"{base}/{kind}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                                   for r in page]}, media_type=FHIR_JSON)


async def read(request: Request) -> JSONResponse:
    resource = STORE.get(request.path_params["kind"], {}).get(request.path_params["id"])
    return JSONResponse(resource, media_type=FHIR_JSON) if resource else _outcome(404, "not found")


async def create(request: Request) -> JSONResponse:
    resource = await request.json()
    problem = _validated(resource)
    if problem or resource.get("resourceType") != request.path_params["kind"]:
        return _outcome(400, problem or "resourceType does not match the URL")
    with LOCK:
        stored = _stored(resource["resourceType"], resource, str(uuid.uuid4()))
    return JSONResponse(stored, status_code=201, media_type=FHIR_JSON)


async def transaction(request: Request) -> JSONResponse:
    bundle = await request.json()
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        return _outcome(400, "POST to the base URL takes a transaction Bundle")
    entries = bundle.get("entry", [])
    for number, entry in enumerate(entries):  # all or nothing: check everything before storing anything
        request_part = entry.get("request") or {}
        if request_part.get("method") != "POST" or request_part.get("url") != entry.get("resource", {}).get("resourceType"):
            return _outcome(400, f"entry[{number}]: only POST of the entry's own resource type is supported")
        problem = _validated(entry.get("resource"))
        if problem:
            return _outcome(400, f"entry[{number}]: {problem}")
    with LOCK:
        ids, responses, pending = {}, [], []
        for entry in entries:
            kind = entry["resource"]["resourceType"]
            condition = entry["request"].get("ifNoneExist")
            existing = _matches(kind, dict(urllib.parse.parse_qsl(condition))) if condition else []
            if len(existing) > 1:
                return _outcome(412, f"ifNoneExist {condition} matches {len(existing)} resources")
            new_id = existing[0]["id"] if existing else str(uuid.uuid4())
            if entry.get("fullUrl"):
                ids[entry["fullUrl"]] = f"{kind}/{new_id}"
            pending.append((kind, entry, new_id, bool(existing)))
        for kind, entry, new_id, exists in pending:
            if not exists:
                _stored(kind, _rewrite(entry["resource"], ids), new_id)
            responses.append({"response": {"status": "200 OK" if exists else "201 Created",
                                           "location": f"{kind}/{new_id}/_history/1"}})
    return JSONResponse({"resourceType": "Bundle", "type": "transaction-response", "entry": responses},
                        media_type=FHIR_JSON)


async def metadata(request: Request) -> JSONResponse:
    return JSONResponse({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                         "fhirVersion": "4.0.1", "format": ["json"], "date": "2026-12-01"}, media_type=FHIR_JSON)


app = Starlette(routes=[
    Route("/", transaction, methods=["POST"]),
    Route("/metadata", metadata, methods=["GET"]),
    Route("/{kind}", search, methods=["GET"]),
    Route("/{kind}", create, methods=["POST"]),
    Route("/{kind}/{id}", read, methods=["GET"]),
])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()


class RunningServer:
    """`with RunningServer() as base_url:` the server in a child process on a free port, stopped at the end."""

    def __enter__(self) -> str:
        import subprocess
        import sys
        import time
        import urllib.request
        from pathlib import Path

        from tests.support.browser import free_port

        port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.fhir_server", "--port", str(port)],
                                        cwd=Path(__file__).resolve().parents[2])
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/metadata", timeout=2):
                    return base
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("the test FHIR server did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
