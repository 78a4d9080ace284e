"""What one CSV row means as a record: the values records.create gets from its cells, the patient its MRN
names (in the database or earlier in the same import), and which CSV column a refusal is about."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from models.exchange.csv_files import COLUMNS, KINDS
from models.exchange.csv_reading import CsvRow, printable, show
from models.store import records
from models.store.record_inputs import mrn_key_text
from models.store.tables import LabResult, Patient

_FILE_OF = {kind: name for name, kind in KINDS.items()}
# Record fields whose CSV column has another name; fields with no column are about the row ("record").
_FIELD_COLUMNS = {"patient_id": "mrn", "effective_date": "date", "death_date": "resolved_date",
                  "meddra_code": "term", "baseline_value": "value"}
# Whole-record rules of record_inputs, by how their message starts -> the column they are about.
_MESSAGE_COLUMNS = {
    "patient": (("Birth date", "birth_date"), ("Treatment start", "treatment_start")),
    "adverse_event": (("Grade 5", "resolved_date"), ("Grade", "grade"), ("Resolution date", "resolved_date"),
                      ("The date of death", "resolved_date")),
    "lab_result": (("Value", "value"), ("LLN", "lln"), ("ULN", "uln"), ("The lower limit", "lln"),
                   ("Unit", "unit")),
    "dose_event": (("A ", "dose_mg"), ("Dose", "dose_mg")),
}
HINTS = {"action_taken": " The CDISC values DOSE NOT CHANGED, DRUG INTERRUPTED, DOSE REDUCED and DRUG "
                         "WITHDRAWN are accepted too."}


class RowValues:
    """Turns the rows of one import into record values, knowing the patients by MRN as the import goes."""

    def __init__(self, session):
        self.session = session
        self.patients: dict[str, tuple[int, date]] = {}  # active patients by MRN, database and this import
        self.inactive: set[str] = set()
        self.in_file: dict[str, int] = {}                  # MRN -> its line in patients.csv
        self.refused: dict[str, int] = {}                  # MRN -> line of its refused patients.csv row
        self.patients_file_read = False                    # patients.csv was in the import and readable
        self.patients_unreadable = False
        for mrn, pid, start, status in session.exec(
                select(Patient.mrn, Patient.id, Patient.treatment_start, Patient.record_status)):
            if status == "active":
                self.patients[mrn] = (pid, start)
            else:
                self.inactive.add(mrn)

    def of(self, kind: str, row: CsvRow) -> dict:
        return getattr(self, f"_{kind}")(row)

    def patient_created(self, created: dict, line: int) -> None:
        self.patients[created["mrn"]] = (created["id"], created["treatment_start"])
        self.in_file[created["mrn"]] = line
        self.refused.pop(created["mrn"], None)

    def patient_ids_named(self, rows: list[CsvRow] | None) -> set[int]:
        return {self.patients[mrn][0] for mrn in (mrn_key_text(r.cells["mrn"].strip()) for r in rows or [])
                if mrn in self.patients}

    def _patient_of(self, row: CsvRow) -> tuple[int, date] | None:
        mrn = mrn_key_text(row.cells["mrn"].strip())  # as the patient's MRN was stored
        if not mrn:
            row.fail("mrn", "MRN is required.")
        elif mrn in self.patients:
            return self.patients[mrn]
        elif mrn in self.refused:
            row.fail("mrn", f"The patient {printable(mrn)} was refused (patients.csv line {self.refused[mrn]}).")
        elif mrn in self.inactive:
            row.fail("mrn", f"MRN {mrn} belongs to a patient record marked entered in error.")
        else:
            where = ("; patients.csv does not list it either" if self.patients_file_read
                     else "; patients.csv could not be read" if self.patients_unreadable else "")
            row.fail("mrn", f"No patient with MRN {show(mrn)} in the database{where}.")
        return None

    def _patient(self, row: CsvRow) -> dict:
        values = {"mrn": row.raw("mrn"), "name": row.raw("name"), "birth_date": row.date("birth_date"),
                  "treatment_start": row.date("treatment_start", required=True),
                  "planned_dose_mg": row.number("planned_dose_mg")}
        mrn = row.cells["mrn"].strip()
        if mrn in self.in_file:
            row.fail("mrn", f"MRN {mrn} is already in patients.csv (line {self.in_file[mrn]}).")
        elif mrn and mrn not in self.patients and mrn not in self.inactive:
            self.refused.setdefault(mrn, row.line)  # until it is created
        return _present(values)

    def _adverse_event(self, row: CsvRow) -> dict:
        patient = self._patient_of(row)
        values = {"term": row.raw("term"), "grade": row.integer("grade"),
                  "onset_date": row.date("onset_date", required=True), "resolved_date": row.date("resolved_date"),
                  "serious": row.yes_no("serious"), "attribution": row.raw("attribution"),
                  "action_taken": row.raw("action_taken"), "notes": row.raw("notes")}
        if patient is not None:
            values["patient_id"] = patient[0]
            # DESIGN: an imported event with onset before the treatment start is pre-existing (baseline).
            values["baseline"] = values["onset_date"] is not None and values["onset_date"] < patient[1]
        if values["grade"] == 5:  # the CSV has no date-of-death column: a fatal event ends with the death
            if values["resolved_date"] is not None:
                values.update(death_date=values["resolved_date"], outcome="fatal")
            elif "resolved_date" not in row.failed:
                row.fail("resolved_date", "Grade 5 (death): give the date of death as resolved_date.")
        return _present(values)

    def _lab_result(self, row: CsvRow) -> dict:
        patient = self._patient_of(row)
        values = {"test": row.raw("test"), "value": row.number("value", required=True), "unit": row.raw("unit"),
                  "lln": row.number("lln"), "uln": row.number("uln"),
                  "collected_on": row.date("collected_on", required=True)}
        if patient is not None:
            values["patient_id"] = patient[0]
            values["baseline_value"] = self._baseline_value(patient, values["test"], values["collected_on"])
        return _present(values)

    def _baseline_value(self, patient: tuple[int, date], test: str, collected_on: date | None) -> float | None:
        """AST/ALT are graded against the baseline when it is above ULN: the latest value before the first dose."""
        test = test.strip().lower()
        if test not in ("ast", "alt") or collected_on is None or collected_on < patient[1]:
            return None
        return self.session.scalar(
            select(LabResult.value).where(LabResult.patient_id == patient[0], LabResult.test == test,
                                          LabResult.record_status == "active",
                                          LabResult.collected_on < patient[1])
            .order_by(LabResult.collected_on.desc(), LabResult.id.desc()).limit(1))

    def _dose_event(self, row: CsvRow) -> dict:
        patient = self._patient_of(row)
        off_drug = row.cells["action"].strip().lower() in ("hold", "discontinue")
        values = {"effective_date": row.date("date", required=True), "action": row.raw("action"),
                  "dose_mg": row.number("dose_mg", required=not off_drug), "reason": row.raw("reason")}
        if values["dose_mg"] is None and off_drug and "dose_mg" not in row.failed:
            values["dose_mg"] = 0.0  # empty = off drug
        if patient is not None:
            values["patient_id"] = patient[0]
        return _present(values)


def _present(values: dict) -> dict:
    """Leave out what is missing, so defaults apply and records reports what is required."""
    return {k: v for k, v in values.items() if v is not None}


def column_of(kind: str, problem: records.Problem) -> str:
    """The CSV column a refusal of the record is about ("record" for the row as a whole)."""
    field_name = problem.field.split(".")[0]
    if field_name in _FIELD_COLUMNS:
        return _FIELD_COLUMNS[field_name]
    if field_name in COLUMNS[_FILE_OF[kind]]:
        return field_name
    for start, column in _MESSAGE_COLUMNS.get(kind, ()):
        if problem.message.startswith(start):
            return column
    return "record"
