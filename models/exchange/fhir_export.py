"""FHIR R4 export: a Bundle of Patient, AdverseEvent, Observation (labs) and MedicationStatement (everolimus dose
intervals and holds, concomitant medications), built as JSON and validated with fhir.resources' R4B models,
whose elements for these resources are those of R4 4.0.1 (shared reference fhir.md §6).

- `collection` (a file to keep or hand over) or `transaction` (to POST to a server's base URL: every entry has
  its request; a Patient is created only if none has its MRN, `ifNoneExist`).
- AdverseEvent: the CTCAE term in `event` (MedDRA code where known), the grade in the AE Clinical Research R4
  backport IG's `ae-grade` extension (NCI Thesaurus), resolution date and action taken in its `resolve-date` and
  `mitigating-action` extensions; seriousness, outcome, and the everolimus MedicationStatement taken at onset
  as `suspectEntity` with the attribution as causality.
- Observation: LOINC code, the value in UCUM, the reference range, and the CTCAE grade the value supports as
  a component.
- Codes come from models/exchange/codes.py (seed_data); a code marked unconfirmed is sent as text only.
Exemestane is not recorded in this app, so it is not exported. Entered-in-error records are never exported.
"""
from __future__ import annotations

import json
import os
import urllib.parse
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class

from models.clinical import ctcae
from models.clinical.dose_intervals import DoseRecord, dose_intervals
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.exchange import codes
from models.exchange.snapshot import read_snapshot
from models.settings import mrn_system

AE_IG = "http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/"
FHIR_VERSION = "4.0.1"
RECORD_SYSTEM = "urn:toxwatch:record"  # identifiers of the exported records (a name-based UUID of the record)
BUNDLE_TYPES = ("collection", "transaction")
ROUTE_TEXT = {"oral": "Oral", "oral_rinse": "Oral rinse"}


class FhirValidationError(ValueError):
    """A resource the export built does not validate (a defect of the export, never of the user's data)."""


def bundle(url: str | None = None, *, bundle_type: str = "collection", mrn: str | None = None,
           now: datetime | None = None) -> dict:
    """The Bundle (a JSON-ready dict) of every active patient, or of one (`mrn`)."""
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"bundle type must be one of {', '.join(BUNDLE_TYPES)}")
    data = read_snapshot(url, mrn=mrn)
    builder = _Builder(bundle_type, mrn_system())
    by_patient = {name: _group(rows) for name, rows in data.items() if name != "patients"}
    for patient in data["patients"]:
        pid = patient["id"]
        builder.patient(patient)
        statements = builder.everolimus(patient, by_patient["doses"].get(pid, []))
        for event in by_patient["adverse_events"].get(pid, []):
            builder.adverse_event(patient, event, statements)
        for lab in by_patient["labs"].get(pid, []):
            builder.observation(patient, lab)
        for medication in by_patient["medications"].get(pid, []):
            builder.medication(patient, medication)
    result = {"resourceType": "Bundle", "type": bundle_type,
              "timestamp": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
              "meta": {"tag": [{"system": "urn:toxwatch:fhir-version", "code": FHIR_VERSION}]},
              "entry": builder.entries}
    validate(result)
    return result


def bundle_bytes(url: str | None = None, *, bundle_type: str = "collection", mrn: str | None = None) -> bytes:
    return json.dumps(bundle(url, bundle_type=bundle_type, mrn=mrn), indent=1, ensure_ascii=False).encode("utf-8")


def write_bundle(target: str | Path, url: str | None = None, *, bundle_type: str = "collection") -> tuple[Path, dict]:
    """Write the Bundle to `target`: a file ending in .json, or a folder (created if needed) that gets
    toxwatch-fhir-bundle.json. Returns the path and the number of resources per type."""
    target = Path(target)
    path = target if target.suffix.lower() == ".json" else target / "toxwatch-fhir-bundle.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bundle(url, bundle_type=bundle_type)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
    return path, resource_counts(data)


def resource_counts(data: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in data.get("entry", []):
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def validate(data: dict) -> None:
    """Validate every resource with its fhir.resources R4B model, and what the models leave out: a transaction
    entry needs its request, and every reference inside the Bundle must name one of its entries."""
    problems = []
    full_urls = {entry.get("fullUrl") for entry in data.get("entry", [])}
    for number, entry in enumerate(data.get("entry", [])):
        resource = entry["resource"]
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as error:  # pydantic's ValidationError, or an unknown resource type
            problems.append(f"entry[{number}] {resource['resourceType']}: {error}")
        if data["type"] == "transaction" and not entry.get("request"):
            problems.append(f"entry[{number}]: a transaction entry needs a request")
        for reference in _references(resource):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                problems.append(f"entry[{number}]: reference {reference} names no entry of the Bundle")
    if problems:
        raise FhirValidationError("; ".join(problems[:5]))


def _references(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


def _group(rows: list[dict]) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["patient_id"], []).append(row)
    return grouped


def _serious(event: dict) -> bool:
    """Serious as recorded, and always when the event was fatal: death is a seriousness criterion (ICH E2A)."""
    return bool(event["serious"]) or event["grade"] == 5 or event["death_date"] is not None


def _day(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _coding(code: codes.Code | None) -> dict | None:
    """A CodeableConcept of one coding, or text only when the code is not confirmed (no code in the file)."""
    if code is None:
        return None
    if code.code is None or code.status == "unconfirmed":
        return {"text": code.display}
    return {"coding": [{"system": code.system, "code": code.code, "display": code.display}], "text": code.display}


def _quantity(value: float, unit: str | None) -> dict:
    quantity = {"value": float(value)}
    if unit:
        quantity["unit"] = unit
        ucum = codes.ucum(unit)
        if ucum:
            quantity |= {"system": codes.UCUM, "code": ucum}
    return quantity


class _Builder:
    def __init__(self, bundle_type: str, system: str):
        self.bundle_type, self.system = bundle_type, system
        self.entries: list[dict] = []
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, system)

    def _add(self, resource: dict, key: str) -> str:
        """Add a resource; every one has an identifier (the Patient its MRN, the others the record's), so a
        transaction loaded twice creates nothing the second time (`ifNoneExist`)."""
        identity = uuid.uuid5(self.namespace, key)
        full_url = f"urn:uuid:{identity}"
        entry = {"fullUrl": full_url}
        if "identifier" not in resource:
            record = {"system": RECORD_SYSTEM, "value": str(identity)}
            resource = {"resourceType": resource["resourceType"],
                        "identifier": record if resource["resourceType"] == "AdverseEvent" else [record]} | resource
        if self.bundle_type == "collection":
            resource = {"resourceType": resource["resourceType"], "id": str(identity)} | resource
        else:
            identifier = resource["identifier"] if isinstance(resource["identifier"], dict) else resource["identifier"][0]
            condition = urllib.parse.urlencode({"identifier": f"{identifier['system']}|{identifier['value']}"})
            entry["request"] = {"method": "POST", "url": resource["resourceType"], "ifNoneExist": condition}
        entry["resource"] = resource
        self.entries.append(entry)
        return full_url

    def _subject(self, patient: dict) -> dict:
        return {"reference": patient["_full_url"]}

    def patient(self, patient: dict) -> None:
        resource = {"resourceType": "Patient", "identifier": [{"system": self.system, "value": patient["mrn"]}],
                    "name": [{"text": patient["name"]}]}
        if patient["birth_date"]:
            resource["birthDate"] = _day(patient["birth_date"])
        patient["_full_url"] = self._add(resource, f"patient:{patient['mrn']}")

    def everolimus(self, patient: dict, doses: list[dict]) -> list[tuple]:
        """One MedicationStatement per dose interval and per hold; returns (start, end, full URL) of the dose
        intervals, for the AdverseEvents' suspect entity."""
        records = [DoseRecord(d["id"], d["effective_date"], d["action"], d["dose_mg"], bool(d["every_other_day"]),
                              d["reason"]) for d in doses]
        taken = []
        medication = _coding(codes.code("rxnorm", "everolimus"))
        for interval in dose_intervals(records, treatment_start=patient["treatment_start"],
                                       planned_dose_mg=patient["planned_dose_mg"]):
            stopped = interval.closed_by is not None and interval.closed_by.action == "discontinue"
            status = "stopped" if stopped else "on-hold" if interval.kind == "hold" else (
                "active" if interval.end is None else "completed")
            period = {"start": _day(interval.start)} | ({"end": _day(interval.end)} if interval.end else {})
            resource = {"resourceType": "MedicationStatement", "status": status,
                        "medicationCodeableConcept": medication, "subject": self._subject(patient),
                        "effectivePeriod": period}
            reasons = [r.reason for r in ((interval.opened_by if interval.kind == "hold" else None),
                                          (interval.closed_by if stopped else None)) if r is not None and r.reason]
            if reasons:
                resource["statusReason"] = [{"text": reason} for reason in dict.fromkeys(reasons)]
            if interval.opened_by.id is None:
                resource["note"] = [{"text": "From the treatment start and planned dose: no start dose record."}]
            if interval.kind == "dose":
                every = 2 if interval.every_other_day else 1
                text = f"{interval.dose_mg:g} mg once {'every other day' if every == 2 else 'daily'}, by mouth"
                resource["dosage"] = [{"text": text, "route": {"text": "Oral"},
                                       "timing": {"repeat": {"frequency": 1, "period": every, "periodUnit": "d"}},
                                       "doseAndRate": [{"doseQuantity": _quantity(interval.dose_mg, "mg") |
                                                        {"system": codes.UCUM, "code": "mg"}}]}]
            full_url = self._add(resource, f"everolimus:{patient['mrn']}:{interval.opened_by.id}")
            if interval.kind == "dose":
                taken.append((interval.start, interval.end, full_url))
        return taken

    def adverse_event(self, patient: dict, event: dict, statements: list[tuple]) -> None:
        extensions = [{"url": AE_IG + "ae-grade",
                       "valueCodeableConcept": _coding(codes.code("ctcae_grade", event["grade"])) |
                       {"text": f"CTCAE v5.0 grade {event['grade']}"}}]
        if event["resolved_date"]:
            extensions.append({"url": AE_IG + "resolve-date", "valueDateTime": _day(event["resolved_date"])})
        action = codes.code("aeacn", event["action_taken"])
        if action is not None:
            extensions.append({"url": AE_IG + "mitigating-action",
                               "extension": [{"url": "item", "valueCodeableConcept": _coding(action)}]})
        coding = {"system": codes.MEDDRA, "code": str(event["meddra_code"]), "display": event["term"]} \
            if event["meddra_code"] else None
        resource = {"resourceType": "AdverseEvent", "extension": extensions, "actuality": "actual",
                    "event": ({"coding": [coding]} if coding else {}) | {"text": event["term"]},
                    "subject": self._subject(patient), "date": _day(event["onset_date"]),
                    "recordedDate": _day(event["created_at"]),
                    "seriousness": _coding(codes.code("seriousness", "yes" if _serious(event) else "no"))}
        outcome = codes.code("fhir_outcome", event["outcome"])
        if outcome is not None:
            resource["outcome"] = _coding(outcome)
        onset = event["onset_date"]
        suspect = next((url for start, end, url in statements if start <= onset and (end is None or onset <= end)),
                       None)
        if suspect is not None and not event["baseline"]:
            entity = {"instance": {"reference": suspect}}
            relatedness = codes.code("fhir_relatedness", event["attribution"])
            if relatedness is not None:
                entity["causality"] = [{"assessment": _coding(relatedness) | {"text": event["attribution"].title()},
                                        "productRelatedness": event["attribution"]}]
            resource["suspectEntity"] = [entity]
        self._add(resource, f"adverse-event:{patient['mrn']}:{event['id']}")

    def observation(self, patient: dict, lab: dict) -> None:
        code = codes.export_code(lab["test"])
        unit = ctcae.accepted_unit(lab["test"], lab["unit"]) or lab["unit"]
        concept = {"text": LAB_TEST_LABELS[lab["test"]]}
        if unit is None or unit in code.units:  # 718-7 is hemoglobin by mass: not for a value in mmol/L
            concept = {"coding": [{"system": codes.LOINC, "code": code.loinc, "display": code.loinc_name}]} | concept
        resource = {"resourceType": "Observation", "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                              "code": "laboratory", "display": "Laboratory"}]}],
                    "code": concept, "subject": self._subject(patient), "effectiveDateTime": _day(lab["collected_on"]),
                    "valueQuantity": _quantity(lab["value"], unit)}
        limits = {}
        if lab["lln"] is not None:
            limits["low"] = _quantity(lab["lln"], unit)
        if lab["uln"] is not None:
            limits["high"] = _quantity(lab["uln"], unit)
        if limits:
            resource["referenceRange"] = [limits]
        if lab["ctcae_grade"] is not None:
            term = lab["ctcae_term"] or ctcae.lab_term(lab["test"])
            resource["component"] = [{"code": {"text": f"CTCAE grade ({term})"},
                                      "valueInteger": int(lab["ctcae_grade"])}]
        self._add(resource, f"lab:{patient['mrn']}:{lab['id']}")

    def medication(self, patient: dict, medication: dict) -> None:
        stopped = medication["stop_date"] is not None
        period = {"start": _day(medication["start_date"])} | ({"end": _day(medication["stop_date"])} if stopped else {})
        resource = {"resourceType": "MedicationStatement", "status": "completed" if stopped else "active",
                    "medicationCodeableConcept": {"text": medication["drug"]}, "subject": self._subject(patient),
                    "effectivePeriod": period}
        dosage = {}
        if medication["dose"]:
            dosage["text"] = medication["dose"]
        if medication["route"]:
            dosage["route"] = {"text": ROUTE_TEXT.get(medication["route"], medication["route"].replace("_", " ")
                                                      .capitalize())}
        if dosage:
            resource["dosage"] = [dosage]
        if medication["indication"]:
            resource["reasonCode"] = [{"text": medication["indication"]}]
        self._add(resource, f"medication:{patient['mrn']}:{medication['id']}")
