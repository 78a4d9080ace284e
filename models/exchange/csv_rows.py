"""What one CSV row means as a record: the values records.create gets from its cells, the patient its MRN
names (in the database or earlier in the same import), the adverse event a link names by its term, onset and
grade (likewise), and which CSV column a refusal is about."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from models.clinical import ctcae
from models.exchange.csv_files import EXPORT_COLUMNS, KINDS
from models.exchange.csv_reading import CsvRow, printable, show
from models.store import records
from models.store.record_inputs import mrn_key_text
from models.store.tables import AdverseEvent, LabResult, Patient, User

_FILE_OF = {kind: name for name, kind in KINDS.items()}
# Record fields whose CSV column has another name; fields with no column are about the row ("record").
_FIELD_COLUMNS = {"patient_id": "mrn", "effective_date": "date", "death_date": "resolved_date",
                  "meddra_code": "term", "baseline_value": "value", "previous_event_id": "previous_onset_date",
                  "adverse_event_id": "event_onset_date", "in_catalogue": "drug"}
# Whole-record rules of record_inputs, by how their message starts -> the column they are about.
_MESSAGE_COLUMNS = {
    "patient": (("Birth date", "birth_date"), ("Treatment start", "treatment_start")),
    "adverse_event": (("Grade 5", "resolved_date"), ("Grade", "grade"), ("Resolution date", "resolved_date"),
                      ("The date of death", "resolved_date")),
    "lab_result": (("Value", "value"), ("LLN", "lln"), ("ULN", "uln"), ("The lower limit", "lln"),
                   ("Unit", "unit")),
    "dose_event": (("A ", "dose_mg"), ("An ", "dose_mg"), ("Dose", "dose_mg")),
    "concomitant_medication": (("Stop date", "stop_date"), ("Start date", "start_date")),
}
HINTS = {"action_taken": " The CDISC values DOSE NOT CHANGED, DRUG INTERRUPTED, DOSE REDUCED and DRUG "
                         "WITHDRAWN are accepted too."}


class RowValues:
    """Turns the rows of one import into record values, knowing the patients by MRN as the import goes."""

    def __init__(self, session, actor: records.Actor):
        self.session, self.actor = session, actor
        self.events: dict[tuple[int, str, date, int], list[int]] = {}  # events of this import by their key
        self._verifiers: dict[str, str] | None = None
        self.patients: dict[str, tuple[int, date]] = {}  # active patients by MRN, database and this import
        self.inactive: set[str] = set()
        self.in_file: dict[str, int] = {}                  # MRN -> its line in patients.csv
        self.refused: dict[str, int] = {}                  # MRN -> line of its refused patients.csv row
        self.patients_file_read = False                    # patients.csv was in the import and readable
        self.patients_unreadable = False
        self.mouthwash_lines: set[int] = set()             # patients.csv lines whose mouthwash flag says yes
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

    def event_created(self, created: dict) -> None:
        key = (created["patient_id"], created["term"], created["onset_date"], created["grade"])
        self.events.setdefault(key, []).append(created["id"])

    def _event_named(self, row: CsvRow, patient_id: int, term_column: str | None, onset_column: str,
                     grade_column: str, *, term: str | None = None) -> int | None:
        """The id of the patient's adverse event a link names (term, onset, grade), from this import or the
        database; None when the row links to nothing. A link to no record, or to two, is the row's problem."""
        columns = [c for c in (term_column, onset_column, grade_column) if c]
        if not any(row.raw(c).strip() for c in columns):
            return None
        missing = [c for c in columns if not row.raw(c).strip()]
        if missing:
            row.fail(missing[0], f"A link needs {', '.join(columns)}; {missing[0]} is empty.")
            return None
        if term_column:
            term = ctcae.resolve_term(row.raw(term_column))
            if term is None:
                row.fail(term_column, f"{show(row.raw(term_column).strip())} is not a CTCAE term or synonym known here.")
        onset, grade = row.date(onset_column), row.integer(grade_column)
        if term is None or onset is None or grade is None:
            return None
        found = self.events.get((patient_id, term, onset, grade)) or list(self.session.scalars(
            select(AdverseEvent.id).where(AdverseEvent.patient_id == patient_id, AdverseEvent.term == term,
                                          AdverseEvent.onset_date == onset, AdverseEvent.grade == grade,
                                          AdverseEvent.record_status == "active")))
        described = f"{term} grade {grade} with onset {onset}"
        if not found:
            row.fail(onset_column, f"No {described} for this patient earlier in adverse_events.csv or in the "
                                   "database.")
            return None
        if len(found) > 1:
            row.fail(onset_column, f"{len(found)} records are {described} for this patient; the link cannot "
                                   "tell which one it means.")
            return None
        return found[0]

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
                  "planned_dose_mg": row.number("planned_dose_mg"), "status": row.raw("status"),
                  "notes": row.raw("notes")}
        if row.yes_no("dexamethasone_prophylaxis"):  # an earlier version's export (csv_files.LEGACY_COLUMNS)
            self.mouthwash_lines.add(row.line)
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
                  "action_taken": row.raw("action_taken"), "notes": row.raw("notes"), "outcome": row.raw("outcome"),
                  "source": row.raw("source")}
        baseline = row.yes_no("baseline")
        if patient is not None:
            values["patient_id"] = patient[0]
            # DESIGN: an imported event with onset before the treatment start is pre-existing (baseline).
            values["baseline"] = baseline if baseline is not None else (
                values["onset_date"] is not None and values["onset_date"] < patient[1])
            values["previous_event_id"] = self._event_named(
                row, patient[0], None, "previous_onset_date", "previous_grade", term=ctcae.resolve_term(values["term"]))
        if row.has("death_date"):
            values["death_date"] = row.date("death_date")
        elif values["grade"] == 5:  # DESIGN's columns have no date of death: a fatal event ends with the death
            if values["resolved_date"] is not None:
                values.update(death_date=values["resolved_date"], outcome=values["outcome"] or "fatal")
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
                  "dose_mg": row.number("dose_mg", required=not off_drug), "reason": row.raw("reason"),
                  "every_other_day": row.yes_no("every_other_day")}
        values.update(self._verification(row, values["effective_date"]))
        if values["dose_mg"] is None and off_drug and "dose_mg" not in row.failed:
            values["dose_mg"] = 0.0  # empty = off drug
        if patient is not None:
            values["patient_id"] = patient[0]
            values["adverse_event_id"] = self._event_named(row, patient[0], "event_term", "event_onset_date",
                                                           "event_grade")
        return _present(values)

    def _concomitant_medication(self, row: CsvRow) -> dict:
        patient = self._patient_of(row)
        values = {"drug": row.raw("drug"), "dose": row.raw("dose"), "route": row.raw("route"),
                  "start_date": row.date("start_date", required=True), "stop_date": row.date("stop_date"),
                  "indication": row.raw("indication"), "notes": row.raw("notes")}
        if patient is not None:
            values["patient_id"] = patient[0]
            values["adverse_event_id"] = self._event_named(row, patient[0], "event_term", "event_onset_date",
                                                           "event_grade")
        return _present(values)

    def _verification(self, row: CsvRow, effective: date | None) -> dict:
        """A verification carried over from where the file came from: who and when, both or neither. Only a
        pharmacist or an admin imports one; the verifier is a pharmacist or admin account of this database other
        than the importer (four eyes), and the time lies between the dose's date and now."""
        who, when = row.raw("verified_by").strip(), row.moment("verified_at")
        if not who and when is None:
            return {}
        if not who or when is None:
            if "verified_at" not in row.failed:
                row.fail("verified_by" if not who else "verified_at",
                         "A verification needs both verified_by and verified_at.")
            return {}
        account = self.verifiers().get(who.casefold())
        if self.actor.role not in records.VERIFY_ROLES:
            row.fail("verified_by", f"A {self.actor.role} cannot import a dose record's verification; only a "
                                    "pharmacist or an admin can (or leave verified_by and verified_at empty).")
        elif account is None:
            row.fail("verified_by", f"{show(who)} is no active pharmacist or admin account here; create the account "
                                    "first, or leave verified_by and verified_at empty.")
        elif account.casefold() == self.actor.username.casefold():
            row.fail("verified_by", "A dose record is verified by someone other than the one who records it; "
                                    f"{account} imports this file.")
        elif (effective is not None and when.date() < effective) or when > datetime.now(timezone.utc):
            row.fail("verified_at", f"The verification time {when.isoformat()} is before the dose's date or in the "
                                    "future.")
        else:
            return {"verified_by": account, "verified_at": when}
        return {}

    def verifiers(self) -> dict[str, str]:
        """Active pharmacist and admin accounts, by case-folded username (read once per import)."""
        if self._verifiers is None:
            self._verifiers = {name.casefold(): name for name in self.session.scalars(
                select(User.username).where(User.active, User.role.in_(sorted(records.VERIFY_ROLES))))}
        return self._verifiers


def _present(values: dict) -> dict:
    """Leave out what is missing, so defaults apply and records reports what is required."""
    return {k: v for k, v in values.items() if v is not None}


def column_of(kind: str, problem: records.Problem, row: CsvRow) -> str:
    """The CSV column of the row a refusal of the record is about ("record" for the row as a whole)."""
    column = _column_of(kind, problem)
    # A file with the date-of-death column gives the date there, not in resolved_date.
    death = problem.field.startswith("death_date") or problem.message.startswith(("Grade 5", "The date of death"))
    return "death_date" if column == "resolved_date" and death and row.has("death_date") else column


def _column_of(kind: str, problem: records.Problem) -> str:
    field_name = problem.field.split(".")[0]
    if field_name in _FIELD_COLUMNS:
        return _FIELD_COLUMNS[field_name]
    if field_name in EXPORT_COLUMNS[_FILE_OF[kind]]:
        return field_name
    for start, column in _MESSAGE_COLUMNS.get(kind, ()):
        if problem.message.startswith(start):
            return column
    return "record"
