"""Import lab results from FHIR R4: the Observations of a Bundle (a file, or what a FHIR server returned) become
lab results through the CSV import's write path (csv_import: one transaction, all or nothing, graded, audited).

- An Observation is a lab of this app when one of its codings is a LOINC code seed_data/lab_codes.csv takes;
  other Observations, and ones not final (preliminary, cancelled, entered in error ...), are skipped with a note.
- The patient is the Bundle's Patient its `subject` names, found by its identifier in the clinic's MRN system
  (models.settings.mrn_system), or the patient asked for when the labs were fetched from a server.
- The unit is read from UCUM (valueQuantity.system/code, spelled as this app does by seed_data/lab_units.csv) or
  from its text; it must be one this app grades the test in (the grading has cut points for each, so no value is
  converted on the way in).
- A lab already recorded (same patient, test, day, value and unit), or twice in the Bundle, is not imported
  again: a note says so, so fetching a patient's labs again only adds the new ones.
Every problem reads `resource: path: message` (e.g. `Observation/17: valueQuantity.unit: ...`); any problem
writes nothing.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from models.clinical import ctcae
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.csv_cells import spreadsheet_safe
from models.exchange import codes, csv_import, known_labs
from models.settings import mrn_system
from models.store import records

FINAL_STATUSES = ("final", "amended", "corrected")
CSV_FIELDS = {"mrn": "subject", "test": "code", "value": "valueQuantity.value", "unit": "valueQuantity.unit",
              "lln": "referenceRange[0].low", "uln": "referenceRange[0].high", "collected_on": "effectiveDateTime",
              "record": "(resource)", "file": "(resource)", "patient": "subject"}


@dataclass
class FhirImportReport:
    imported: int = 0
    problems: list[str] = field(default_factory=list)  # "resource: path: message"
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        if not self.ok:
            count = len(self.problems)
            return f"Nothing imported: {count} problem{'s' * (count != 1)}."
        if not self.imported:
            return "Nothing new to import; nothing written."
        labs = f"{self.imported} lab result{'s' * (self.imported != 1)}"
        return f"Dry run: {labs} would be imported; nothing written." if self.dry_run else f"Imported {labs}."


@dataclass
class _Lab:
    label: str            # how a problem names the resource
    mrn: str
    test: str
    value: float
    unit: str | None
    lln: float | None
    uln: float | None
    collected_on: date
    revised: bool         # amended or corrected: it replaces an earlier result of the laboratory


def parse_json(data: bytes | str | dict, name: str = "Bundle") -> tuple[dict | None, str | None]:
    """(the JSON object, None) or (None, a problem in the `resource: path: message` form)."""
    if isinstance(data, dict):
        return data, None
    if not (data.strip() if isinstance(data, (bytes, str)) else data):
        return None, f"{name}: (file): the file is empty"
    try:
        parsed = json.loads(data)
    except RecursionError:
        return None, f"{name}: (file): nested too deeply to be a FHIR Bundle"
    except UnicodeDecodeError:
        return None, f"{name}: (file): not UTF-8 text (FHIR JSON is UTF-8)"
    except ValueError as error:
        return None, f"{name}: (file): not JSON text ({str(error).splitlines()[0]})"
    if not isinstance(parsed, dict):
        return None, f"{name}: (file): a FHIR Bundle is a JSON object, not a {type(parsed).__name__}"
    return parsed, None


def import_bundle(data: bytes | str | dict, actor: records.Actor, *, source: str, dry_run: bool = False,
                  today: date | None = None, url: str | None = None,
                  patient_mrn: str | None = None) -> FhirImportReport:
    """Import the labs of a Bundle (or a single Observation). `source` goes in the audit entry (a file name, a
    server); `patient_mrn`: the labs were fetched for this patient, and any Observation of another is refused."""
    report = FhirImportReport(dry_run=dry_run)
    bundle, problem = parse_json(data)
    if problem:
        report.problems.append(problem)
        return report
    labs = _Reader(report, patient_mrn).read(bundle)
    if report.problems:
        return report
    labs = known_labs.without_duplicates(labs, report, url)
    if report.problems:
        return report
    if not labs:
        report.notes.append("No lab result to import.")
        return report
    written = csv_import.import_files({"labs.csv": _labs_csv(labs)}, actor, dry_run=dry_run, today=today, url=url,
                                      source=f"FHIR: {source}")
    report.problems = [_resource_problem(p, labs) for p in written.problems]
    report.imported = 0 if written.problems else written.counts.get("labs.csv", 0)
    return report


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _items(value) -> list:
    return value if isinstance(value, list) else []


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _finite(value) -> float | None:
    """A JSON number as a float, or None (not a number, a bool, or too large to be one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


class _Reader:
    def __init__(self, report: FhirImportReport, patient_mrn: str | None):
        self.report, self.patient_mrn, self.system = report, patient_mrn, mrn_system()
        self.patients: dict[str, str] = {}  # a reference to a Patient (fullUrl, Patient/id) -> MRN
        self.skipped: dict[str, list[str]] = {}

    def problem(self, label: str, path: str, message: str) -> None:
        self.report.problems.append(f"{label}: {path}: {message}")

    def skip(self, label: str, reason: str) -> None:
        self.skipped.setdefault(reason, []).append(label)

    def read(self, bundle: dict) -> list[_Lab]:
        kind = bundle.get("resourceType")
        if kind == "Observation":
            entries = [{"resource": bundle}]
        elif kind == "Bundle":
            entries = bundle.get("entry") or []
            if not isinstance(entries, list):
                self.problem("Bundle", "entry", "must be a list of entries")
                return []
        else:
            self.problem("Bundle", "resourceType", f"expected a Bundle of Observations, not {kind!r}")
            return []
        resources = [(number, _text(entry.get("fullUrl")), entry.get("resource"))
                     for number, entry in enumerate(entries) if isinstance(entry, dict)
                     and isinstance(entry.get("resource"), dict)]
        for number, full_url, resource in resources:
            if resource.get("resourceType") == "Patient":
                self._patient(full_url, resource)
        labs = [lab for number, _, resource in resources if resource.get("resourceType") == "Observation"
                for lab in [self._observation(number, resource)] if lab is not None]
        for reason, labels in self.skipped.items():
            count = len(labels)
            self.report.notes.append(f"{count} Observation{'s' * (count != 1)} skipped: {reason} ({known_labs.some(labels)}).")
        return labs

    def _patient(self, full_url: str | None, resource: dict) -> None:
        mrns = [_text(i.get("value")) for i in map(_obj, _items(resource.get("identifier")))
                if i.get("system") == self.system and _text(i.get("value"))]
        if not mrns:
            return  # a problem only if one of our Observations names this patient
        for reference in (full_url, f"Patient/{resource['id']}" if _text(resource.get("id")) else None):
            if reference:
                self.patients[reference] = mrns[0]

    def _observation(self, number: int, resource: dict) -> _Lab | None:
        label = f"Observation/{resource['id']}" if _text(resource.get("id")) else f"entry[{number}] Observation"
        test = self._test(resource)
        if test is None:
            self.skip(label, "not one of the lab tests ToxWatch grades (by LOINC code)")
            return None
        status = resource.get("status")
        if status not in FINAL_STATUSES:
            self.skip(label, f"status {status!r}, not a final result")
            return None
        quantity = _obj(resource.get("valueQuantity"))
        if "valueQuantity" not in resource and resource.get("dataAbsentReason") is not None:
            self.skip(label, "no value (dataAbsentReason)")
            return None
        if quantity.get("comparator") is not None:
            self.skip(label, "a value with a comparator (such as < 0.5) is not a number ToxWatch can grade; "
                             "enter it by hand")
            return None
        before = len(self.report.problems)
        mrn = self._mrn(label, resource)
        value_problems = len(self.report.problems)
        value, unit = self._value(label, test, resource.get("valueQuantity"))
        limits = self._limits(label, test, resource.get("referenceRange"), unit) \
            if len(self.report.problems) == value_problems else (None, None)
        collected_on = self._date(label, resource)
        if len(self.report.problems) > before:
            return None
        try:  # what the checks above do not look at must still be valid FHIR R4
            Observation.model_validate(resource)
        except ValidationError as error:
            for detail in error.errors()[:5]:
                path = ".".join(str(part) for part in detail["loc"] if not str(part).startswith("function-"))
                self.problem(label, path or "(resource)", f"not valid FHIR R4: {detail['msg']}")
            return None
        except RecursionError:
            self.problem(label, "(resource)", "nested too deeply to be a FHIR Observation")
            return None
        return _Lab(label, mrn, test, value, unit, *limits, collected_on, status != "final")

    @staticmethod
    def _test(resource: dict) -> str | None:
        codings = _items(_obj(resource.get("code")).get("coding"))
        return next((test for c in map(_obj, codings) if c.get("system") == codes.LOINC
                     for test in [codes.test_for_loinc(str(c.get("code")))] if test), None)

    def _mrn(self, label: str, resource: dict) -> str | None:
        reference = _text(_obj(resource.get("subject")).get("reference"))
        mrn = self.patients.get(reference) if reference else None
        if mrn is None:
            where = f"{reference!r} is not a Patient of this Bundle" if reference else "no subject reference"
            self.problem(label, "subject", f"{where} with an identifier in the clinic's MRN system "
                                           f"({self.system}); ToxWatch cannot tell whose result it is.")
        elif self.patient_mrn is not None and mrn != self.patient_mrn:
            self.problem(label, "subject", f"this result is for MRN {mrn}, not for {self.patient_mrn}, whose "
                                           "results were asked for.")
            return None
        return mrn

    def _unit(self, quantity: dict) -> str | None:
        code = _text(quantity.get("code"))
        if quantity.get("system") == codes.UCUM and code:
            return codes.unit_from_ucum(code) or code
        return _text(quantity.get("unit")) or code

    def _value(self, label: str, test: str, quantity) -> tuple[float | None, str | None]:
        quantity = _obj(quantity)
        value = _finite(quantity.get("value"))
        if value is None:
            self.problem(label, "valueQuantity.value", "a number is required; a result without one cannot be "
                                                       "graded or recorded.")
            return None, None
        return value, self._accepted_unit(label, "valueQuantity.unit", test, self._unit(quantity))

    def _accepted_unit(self, label: str, path: str, test: str, unit: str | None) -> str | None:
        """This app's spelling of a unit it grades the test in (None: no unit; the write path says whether the
        test needs one)."""
        if unit is None:
            return None
        same = ctcae.accepted_unit(test, unit)
        if same is None:
            self.problem(label, path, f"{unit!r} is not a unit ToxWatch grades {LAB_TEST_LABELS[test]} in "
                                      f"({', '.join(ctcae.units(test))}).")
        return same

    def _limits(self, label: str, test: str, ranges, unit: str | None) -> tuple:
        first = _obj(next(iter(_items(ranges)), None))
        limits = []
        for side in ("low", "high"):
            quantity = _obj(first.get(side))
            value = _finite(quantity.get("value"))
            if value is None:
                limits.append(None)
                continue
            path = f"referenceRange[0].{side}"
            own = self._unit(quantity)
            if own is not None and self._accepted_unit(label, path, test, own) not in (unit, None):
                self.problem(label, path, f"the limit's unit {own!r} differs from the value's ({unit or 'none'}).")
            limits.append(value)
        return tuple(limits)

    def _date(self, label: str, resource: dict) -> date | None:
        raw = _text(resource.get("effectiveDateTime")) or _text(_obj(resource.get("effectivePeriod")).get("start"))
        path = "effectiveDateTime" if resource.get("effectiveDateTime") else "effectivePeriod.start"
        if not raw:
            self.problem(label, "effectiveDateTime", "the collection date is required.")
            return None
        try:
            return date.fromisoformat(raw[:10])  # the day as the laboratory wrote it, whatever its time zone
        except ValueError:
            self.problem(label, path, f"{raw!r} is not a date (YYYY-MM-DD).")
            return None


def _number(value: float | None) -> str:
    if value is None:
        return ""
    text = repr(float(value))
    return format(Decimal(text), "f") if "e" in text else text


def _labs_csv(labs: list[_Lab]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["mrn", "test", "value", "unit", "lln", "uln", "collected_on"])
    for lab in labs:
        writer.writerow([spreadsheet_safe(lab.mrn), lab.test, _number(lab.value), lab.unit or "", _number(lab.lln),
                         _number(lab.uln), lab.collected_on.isoformat()])
    return buffer.getvalue().encode("utf-8")


def _resource_problem(problem: str, labs: list[_Lab]) -> str:
    """`labs.csv:LINE: column: message` from the write path -> `resource: path: message` (line 1 is the file)."""
    try:
        _, line, column, message = problem.split(":", 3)
        if int(line) < 2:
            raise ValueError
        lab = labs[int(line) - 2]
    except (ValueError, IndexError):
        return f"Bundle: (import): {problem.split(': ', 2)[-1]}"
    return f"{lab.label}: {CSV_FIELDS.get(column.strip(), column.strip())}: {message.strip()}"
