"""CSV import (all or nothing) and export, in the format of DESIGN.md "Command line".

Import reads patients.csv, adverse_events.csv, labs.csv and doses.csv (any may be absent; in that order, so
later files can name patients of the same import by MRN). Every row goes through records.create inside ONE
write transaction, batched (records.batched_writes: audit entries and summary refreshes written at the end);
a refused row does not stop the checking of the rest (see _Run._create for when a row needs its own
SAVEPOINT). Any problem, or a dry run, rolls the whole transaction back: nothing is written.
Problems read `file:line: column: message` (line = physical line, the header is line 1; column "record" =
the row as a whole, "file" = the whole file). Export writes the same four files, so an export re-imports unchanged.
"""
from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from models import records
from models.db import get_engine, write_session
from models.tables import AdverseEvent, AuditEntry, DoseEvent, LabResult, Patient

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("mrn", "name", "birth_date", "treatment_start", "planned_dose_mg"),
    "adverse_events.csv": ("mrn", "term", "grade", "onset_date", "resolved_date", "serious", "attribution",
                           "action_taken", "notes"),
    "labs.csv": ("mrn", "test", "value", "unit", "lln", "uln", "collected_on"),
    "doses.csv": ("mrn", "date", "action", "dose_mg", "reason"),
}
FILES = tuple(COLUMNS)
KINDS = {"patients.csv": "patient", "adverse_events.csv": "adverse_event", "labs.csv": "lab_result",
         "doses.csv": "dose_event"}
_FILE_OF = {kind: name for name, kind in KINDS.items()}
MAX_FILE_BYTES = 50 * 1024 * 1024
# Every row is one validated write inside one transaction that holds the write lock (a few ms per row), so a
# huge file would block every other user's writes for long: such files are split and imported in parts.
MAX_ROWS = 100_000
# Record fields whose CSV column has another name; fields with no column are about the row ("record").
_FIELD_COLUMNS = {"patient_id": "mrn", "effective_date": "date", "death_date": "resolved_date",
                  "meddra_code": "term", "baseline_value": "value"}
# Whole-record rules of record_rules, by how their message starts -> the column they are about.
_MESSAGE_COLUMNS = {
    "patient": (("Birth date", "birth_date"), ("Treatment start", "treatment_start")),
    "adverse_event": (("Grade 5", "resolved_date"), ("Grade", "grade"), ("Resolution date", "resolved_date"),
                      ("The date of death", "resolved_date")),
    "lab_result": (("Value", "value"), ("LLN", "lln"), ("ULN", "uln"), ("The lower limit", "lln"),
                   ("Unit", "unit")),
    "dose_event": (("A ", "dose_mg"), ("Dose", "dose_mg")),
}
_HINTS = {"action_taken": " The CDISC values DOSE NOT CHANGED, DRUG INTERRUPTED, DOSE REDUCED and DRUG "
                          "WITHDRAWN are accepted too."}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_YES_NO = {"yes": True, "y": True, "no": False, "n": False}


@dataclass
class ImportReport:
    counts: dict[str, int] = field(default_factory=dict)  # file -> rows created (would be, in a dry run)
    problems: list[str] = field(default_factory=list)     # "file:line: column: message"
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)        # ignored files, baseline events ...

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    @property
    def summary(self) -> str:
        if not self.ok:
            files = list(dict.fromkeys(p.split(":", 1)[0] for p in self.problems))
            count = len(self.problems)
            return f"Nothing imported: {count} problem{'s' * (count != 1)} in {', '.join(files)}."
        total = sum(self.counts.values())
        detail = ", ".join(f"{name} {n}" for name, n in self.counts.items()) or "no files"
        if self.dry_run:
            return f"Dry run: {total} rows would be imported ({detail}); nothing written."
        return f"Imported {total} rows ({detail})."


class _Problems:
    def __init__(self):
        self.items: list[tuple[int, int, str]] = []

    def add(self, name: str, line: int, column: str, message: str) -> None:
        order = FILES.index(name) if name in FILES else len(FILES)
        self.items.append((order, line, f"{name}:{line}: {column}: {message}"))

    def sorted(self) -> list[str]:
        return [text for _, _, text in sorted(self.items, key=lambda item: item[:2])]


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    failed: set[str] = field(default_factory=set)                  # columns whose cell could not be read

    def fail(self, column: str, message: str) -> None:
        self.problems.append((column, message))
        self.failed.add(column)

    def raw(self, column: str) -> str:
        return self.cells[column]

    def date(self, column: str, *, required: bool = False) -> date | None:
        text = self.cells[column].strip()
        if not text:
            if required:
                self.fail(column, "Required; the cell is empty.")
            return None
        if not _DATE.fullmatch(text):
            self.fail(column, f"Not a date in YYYY-MM-DD form: {_show(text)}.")
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.fail(column, f"No such date: {_show(text)}.")
            return None

    def number(self, column: str, *, required: bool = False) -> float | None:
        text = self.cells[column].strip()
        if not text:
            if required:
                self.fail(column, "Required; the cell is empty.")
            return None
        if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
            hint = " (use a point as the decimal separator)" if re.fullmatch(r"[+-]?\d+,\d+", text) else ""
            self.fail(column, f"Not a number: {_show(text)}{hint}.")
            return None
        return float(text)

    def integer(self, column: str) -> int | None:
        text = self.cells[column].strip()
        if not text:
            self.fail(column, "Required; the cell is empty.")
            return None
        if not re.fullmatch(r"[+-]?\d{1,6}", text):
            self.fail(column, f"Not a whole number: {_show(text)}.")
            return None
        return int(text)

    def yes_no(self, column: str) -> bool | None:
        text = self.cells[column].strip().lower()
        if text and text not in _YES_NO:
            self.fail(column, f"Must be yes or no (got {_show(self.cells[column].strip())}).")
        return _YES_NO.get(text)


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _printable(text: str) -> str:
    return text if text.isprintable() and len(text) <= 40 else _show(text)


class _RowRefused(Exception):
    pass


class _NeedsSavepoints(Exception):
    """The database refused a row that was not in a SAVEPOINT: the import runs again with one per row."""


class _Rollback(Exception):
    pass


# --- import -------------------------------------------------------------------------------------------

@records.database_errors  # the database went away mid-import: records.DatabaseUnavailable, nothing written
def import_folder(folder: str | Path, actor: records.Actor, *, dry_run: bool = False, today: date | None = None,
                  url: str | None = None) -> ImportReport:
    """Import the CSV files of a folder. Other *.csv files are problems (a misnamed file would otherwise be
    skipped silently); other files and hidden ones are ignored with a note. A missing folder raises
    FileNotFoundError / NotADirectoryError."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"No such folder: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"Not a folder: {folder}")
    files: dict[str, bytes | str] = {}
    notes = []
    for path in sorted(folder.iterdir()):
        if path.name in COLUMNS:
            files[path.name] = _read_bytes(path)
        elif path.name.startswith(".") or path.is_dir() or path.suffix.lower() != ".csv":
            notes.append(f"ignored {path.name} (not one of the CSV files import reads)")
        else:
            files[path.name] = b""  # reported as an unexpected file
    report = _import(files, actor, dry_run=dry_run, today=today, url=url, source=str(folder),
                     empty_message=f"{folder}:1: file: none of {', '.join(FILES)} is in this folder.")
    report.notes[:0] = notes
    return report


@records.database_errors
def import_files(files: dict[str, bytes], actor: records.Actor, *, dry_run: bool = False,
                 today: date | None = None, url: str | None = None) -> ImportReport:
    """Import uploaded files (file name -> raw bytes); names other than the four CSV files are problems."""
    return _import(dict(files), actor, dry_run=dry_run, today=today, url=url, source="upload",
                   empty_message=f"upload:1: file: no files; upload any of {', '.join(FILES)}.")


def _read_bytes(path: Path) -> bytes | str:
    """The file's bytes, or a message why it cannot be read (never reads more than the limit)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _too_big(size)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return f"Cannot be read: {error.strerror or error}."
    return _too_big(len(data)) if len(data) > MAX_FILE_BYTES else data


def _too_big(size: int) -> str:
    return (f"The file is {size / 1024 / 1024:.1f} MB, over the {MAX_FILE_BYTES // 1024 // 1024} MB limit; "
            "split it and import the parts one after the other.")


def _import(files: dict[str, bytes | str], actor, *, dry_run, today, url, source, empty_message) -> ImportReport:
    try:
        return _attempt(files, actor, dry_run=dry_run, today=today, url=url, source=source,
                        empty_message=empty_message, savepoints=False)
    except (_NeedsSavepoints, records.HeldRowsRefused):
        return _attempt(files, actor, dry_run=dry_run, today=today, url=url, source=source,
                        empty_message=empty_message, savepoints=True)


def _attempt(files: dict[str, bytes | str], actor, *, dry_run, today, url, source, empty_message,
             savepoints: bool) -> ImportReport:
    problems = _Problems()
    tables: dict[str, list[_Row] | None] = {}
    for name, data in files.items():
        if name not in COLUMNS:
            close = difflib.get_close_matches(name.lower(), FILES, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.add(_label(name), 1, "file", f"Not one of the files import reads{hint}: "
                                                  f"{', '.join(FILES)}; rename it or leave it out.")
        elif isinstance(data, str):
            problems.add(name, 1, "file", data)
            tables[name] = None
        elif len(data) > MAX_FILE_BYTES:
            problems.add(name, 1, "file", _too_big(len(data)))
            tables[name] = None
        else:
            tables[name] = _parse(name, data, problems)
    report = ImportReport(dry_run=dry_run)
    if not files:
        report.problems = [empty_message]
        return report
    try:
        with write_session(url) as session:
            run = _Run(session, actor, today or date.today(), problems, report, savepoints)
            with records.batched_writes(session):  # its end sends every row, so the database checks them all
                run.load_all(tables)
            if problems.items or dry_run:
                raise _Rollback
            session.add(AuditEntry(username=actor.username, action="import",
                                   detail=json.dumps({"source": source, "rows": report.counts})))
    except _Rollback:
        pass
    report.problems = problems.sorted()
    return report


def _decode(name: str, data: bytes, problems: _Problems) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.add(name, 1, "file", "UTF-16 text, not UTF-8; save the file as CSV UTF-8.")
        return None
    if data.startswith(b"PK\x03\x04"):
        problems.add(name, 1, "file", "An Excel workbook or other zip file, not CSV text; save it as CSV UTF-8.")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.add(name, line, "file", f"Not UTF-8 text (byte 0x{data[error.start]:02X} on line {line}); "
                                         "save the file as CSV UTF-8. Nothing in the file was read.")
        return None


def _parse(name: str, data: bytes, problems: _Problems) -> list[_Row] | None:
    """The data rows of a file by column name, or None when the file cannot be read at all."""
    expected = COLUMNS[name]
    text = _decode(name, data, problems)
    if text is None:
        return None
    if not text.strip():
        problems.add(name, 1, "file", f"The file is empty; it needs at least the header row: {','.join(expected)}.")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_Row] = []
    try:
        header = next(reader)
        columns = [cell.strip().lower() for cell in header]
        if not _header_ok(name, columns, problems):
            return None
        previous = reader.line_num
        for cells in reader:
            first, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (and rows of empty cells, as spreadsheets leave them) are skipped
            if len(cells) != len(columns):
                joined = (f"; a quote that is never closed may have joined lines {first}-{previous}"
                          if previous > first else "")
                problems.add(name, first, "record", f"{len(cells)} cells, but the header has {len(columns)} "
                                                    f"columns{joined}.")
                continue
            rows.append(_Row(first, dict(zip(columns, cells))))
            if len(rows) > MAX_ROWS:
                problems.add(name, first, "file", f"More than {MAX_ROWS:,} rows; split the file and import the "
                                                  "parts one after the other.")
                return None
    except csv.Error as error:
        problems.add(name, reader.line_num, "record", f"Not readable as CSV: {error}; the rest of the file "
                                                      "was not read.")
    return rows


def _header_ok(name: str, columns: list[str], problems: _Problems) -> bool:
    expected = COLUMNS[name]
    before = len(problems.items)
    if not any(columns):
        problems.add(name, 1, "record", f"Line 1 must be the header row: {','.join(expected)}.")
        return False
    for position, column in enumerate(columns, 1):
        if not column:
            problems.add(name, 1, "record", f"Header cell {position} is empty; every column needs a name.")
        elif column not in expected:
            problems.add(name, 1, _label(column), f"Unknown column; {name} has the columns {','.join(expected)}.")
        elif columns.index(column) != position - 1:
            problems.add(name, 1, column, f"The column appears twice in the header (cells "
                                          f"{columns.index(column) + 1} and {position}).")
    for column in expected:
        if column not in columns:
            problems.add(name, 1, column, f"Missing column; the header must name {','.join(expected)}.")
    return len(problems.items) == before


def _label(text: str) -> str:
    """A column or file name as written, quoted when it could break the `file:line: column:` format."""
    safe = re.sub(r"[^\w .()/+-]", "?", text[:80])
    return text if safe == text and text else f"'{safe}'"


class _Run:
    """One import inside one write transaction."""

    def __init__(self, session, actor: records.Actor, today: date, problems: _Problems, report: ImportReport,
                 savepoints: bool):
        self.session, self.actor, self.today, self.problems, self.report = session, actor, today, problems, report
        self.savepoints = savepoints
        self.patients: dict[str, tuple[int, date]] = {}  # active patients by MRN, database and this import
        self.inactive: set[str] = set()
        self.in_file: dict[str, int] = {}                  # MRN -> its line in patients.csv
        self.refused: dict[str, int] = {}                  # MRN -> line of its refused patients.csv row
        self.patients_unreadable = False
        for mrn, pid, start, status in session.exec(
                select(Patient.mrn, Patient.id, Patient.treatment_start, Patient.record_status)):
            if status == "active":
                self.patients[mrn] = (pid, start)
            else:
                self.inactive.add(mrn)

    def load(self, name: str, rows: list[_Row] | None) -> None:
        kind = KINDS[name]
        if rows is None:
            self.patients_unreadable |= kind == "patient"
            return
        self.report.counts[name] = 0
        if self.actor.role not in records.WRITE_ROLES[kind]:
            self.problems.add(name, 1, "file", f"A {self.actor.role} cannot import {kind.replace('_', ' ')} records.")
            return
        if kind == "lab_result":  # baseline labs (before the first dose) first, for the AST/ALT baseline rule
            rows = sorted(rows, key=lambda r: r.cells["collected_on"].strip() or "9999")
        for row in rows:
            values = getattr(self, f"_{kind}")(row)
            created = self._create(kind, row, values)
            if created is not None:
                self.report.counts[name] += 1
                self._after(kind, row, created)
            order = {column: position for position, column in enumerate(COLUMNS[name])}
            for column, message in sorted(row.problems, key=lambda p: order.get(p[0], len(order))):
                self.problems.add(name, row.line, column, message)

    def load_all(self, tables: dict[str, list[_Row] | None]) -> None:
        """patients.csv first (the other files may name its patients), then every patient the other files
        name is locked at once (see records.prepare_batch), then the other files in order."""
        if "patients.csv" in tables:
            self.load("patients.csv", tables["patients.csv"])
        others = {name: rows for name, rows in tables.items() if name != "patients.csv"}

        def named(rows: list[_Row] | None) -> set[int]:
            return {self.patients[mrn][0] for mrn in (r.cells["mrn"].strip() for r in rows or [])
                    if mrn in self.patients}

        # Row by row every row is in a SAVEPOINT, where the batch is not used: no event keys to read then.
        events = named(others.get("adverse_events.csv")) if not self.savepoints else set()
        records.prepare_batch(self.session, set().union(*map(named, others.values())), events)
        for name in FILES:
            if name in others:
                self.load(name, others[name])

    def _create(self, kind: str, row: _Row, values: dict) -> dict | None:
        # A row goes in a SAVEPOINT (a round trip each way on PostgreSQL) only when it may have to be undone:
        # a cell could not be read (it is still written, to check the rest, then undone). A refusal by the
        # validation comes before any write; a refusal by the database itself is rare and starts the import
        # again with a SAVEPOINT around every row.
        guarded = self.savepoints or bool(row.problems)
        try:
            with self.session.begin_nested() if guarded else contextlib.nullcontext():
                try:
                    created = self._write(kind, values, guarded)
                except records.ValidationFailed as error:
                    for problem in error.problems:
                        column = _column(kind, problem)
                        if column not in row.failed:  # not "X is required" for a cell that could not be read
                            row.problems.append((column, problem.message + _HINTS.get(column, "")))
                    raise _RowRefused from None
                except (IntegrityError, DataError) as error:
                    row.problems.append(("record", "The database refused the row: "
                                                   f"{str(error.orig).splitlines()[0]}"))
                    raise _RowRefused from None
                if row.problems:
                    raise _RowRefused  # a cell could not be read: check the rest, then undo the row
                return created
        except _RowRefused:
            return None

    def _write(self, kind: str, values: dict, guarded: bool) -> dict:
        try:
            return records.create(kind, values, self.actor, today=self.today, session=self.session)
        except (records.RefusedByDatabase, IntegrityError, DataError):
            if not guarded:
                raise _NeedsSavepoints from None
            raise

    def _after(self, kind: str, row: _Row, created: dict) -> None:
        if kind == "patient":
            self.patients[created["mrn"]] = (created["id"], created["treatment_start"])
            self.in_file[created["mrn"]] = row.line
            self.refused.pop(created["mrn"], None)
        elif kind == "adverse_event" and created["baseline"]:
            self.report.notes.append(f"adverse_events.csv:{row.line}: onset {created['onset_date']} is before "
                                     "the treatment start: pre-existing (baseline), not treatment-emergent.")

    def _patient_of(self, row: _Row) -> tuple[int, date] | None:
        mrn = row.cells["mrn"].strip()
        if not mrn:
            row.fail("mrn", "MRN is required.")
        elif mrn in self.patients:
            return self.patients[mrn]
        elif mrn in self.refused:
            row.fail("mrn", f"The patient {_printable(mrn)} was refused (patients.csv line {self.refused[mrn]}).")
        elif mrn in self.inactive:
            row.fail("mrn", f"MRN {mrn} belongs to a patient record marked entered in error.")
        else:
            where = ("; patients.csv does not list it either" if "patients.csv" in self.report.counts
                     else "; patients.csv could not be read" if self.patients_unreadable else "")
            row.fail("mrn", f"No patient with MRN {_show(mrn)} in the database{where}.")
        return None

    def _patient(self, row: _Row) -> dict:
        values = {"mrn": row.raw("mrn"), "name": row.raw("name"), "birth_date": row.date("birth_date"),
                  "treatment_start": row.date("treatment_start", required=True),
                  "planned_dose_mg": row.number("planned_dose_mg")}
        mrn = row.cells["mrn"].strip()
        if mrn in self.in_file:
            row.fail("mrn", f"MRN {mrn} is already in patients.csv (line {self.in_file[mrn]}).")
        elif mrn and mrn not in self.patients and mrn not in self.inactive:
            self.refused.setdefault(mrn, row.line)  # until it is created
        return _present(values)

    def _adverse_event(self, row: _Row) -> dict:
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

    def _lab_result(self, row: _Row) -> dict:
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

    def _dose_event(self, row: _Row) -> dict:
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


def _column(kind: str, problem: records.Problem) -> str:
    field_name = problem.field.split(".")[0]
    if field_name in _FIELD_COLUMNS:
        return _FIELD_COLUMNS[field_name]
    if field_name in COLUMNS[_FILE_OF[kind]]:
        return field_name
    for start, column in _MESSAGE_COLUMNS.get(kind, ()):
        if problem.message.startswith(start):
            return column
    return "record"


# --- export -------------------------------------------------------------------------------------------

def export_files(url: str | None = None) -> dict[str, str]:
    """The four CSV files (name -> text) of the active records, in the import format."""
    return {name: _csv_text(name, rows) for name, rows in _export_rows(url).items()}


def export_folder(folder: str | Path, *, url: str | None = None) -> dict[str, int]:
    """Write the four CSV files into a folder (created if needed; the files are replaced).
    Returns the number of data rows per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = _export_rows(url)
    for name, data in rows.items():
        temporary = folder / f".{name}.tmp"
        temporary.write_text(_csv_text(name, data), encoding="utf-8", newline="")
        os.replace(temporary, folder / name)
    return {name: len(data) for name, data in rows.items()}


def _csv_text(name: str, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS[name])
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _export_rows(url: str | None) -> dict[str, list[list[str]]]:
    active = "active"
    statements = {
        "patients.csv": select(Patient.mrn, Patient.name, Patient.birth_date, Patient.treatment_start,
                               Patient.planned_dose_mg, Patient.id).where(Patient.record_status == active),
        "adverse_events.csv": select(Patient.mrn, AdverseEvent.term, AdverseEvent.grade, AdverseEvent.onset_date,
                                     AdverseEvent.resolved_date, AdverseEvent.death_date, AdverseEvent.serious,
                                     AdverseEvent.attribution, AdverseEvent.action_taken, AdverseEvent.notes,
                                     AdverseEvent.id)
        .join(Patient, Patient.id == AdverseEvent.patient_id).where(AdverseEvent.record_status == active),
        "labs.csv": select(Patient.mrn, LabResult.test, LabResult.value, LabResult.unit, LabResult.lln,
                           LabResult.uln, LabResult.collected_on, LabResult.id)
        .join(Patient, Patient.id == LabResult.patient_id).where(LabResult.record_status == active),
        "doses.csv": select(Patient.mrn, DoseEvent.effective_date, DoseEvent.action, DoseEvent.dose_mg,
                            DoseEvent.reason, DoseEvent.id)
        .join(Patient, Patient.id == DoseEvent.patient_id).where(DoseEvent.record_status == active),
    }
    result = {}
    with get_engine(url).connect() as connection:
        if connection.dialect.name == "postgresql":  # one snapshot for all four files
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            for name, statement in statements.items():
                fetched = [tuple(row) for row in connection.execute(
                    statement.where(Patient.record_status == active))]
                result[name] = [_export_row(name, row) for row in _ordered(name, fetched)]
    return result


def _ordered(name: str, rows: list[tuple]) -> list[tuple]:
    """In Python, not SQL: text order must not depend on the database's collation."""
    date_position = {"patients.csv": None, "adverse_events.csv": 3, "labs.csv": 6, "doses.csv": 1}[name]
    return sorted(rows, key=lambda r: (r[0], r[date_position] if date_position else date.min, r[-1]))


def _export_row(name: str, row: tuple) -> list[str]:
    row = row[:-1]  # the id only orders the rows
    if name == "adverse_events.csv":
        mrn, term, grade, onset, resolved, death, *rest = row
        row = (mrn, term, grade, onset, death if grade == 5 and death else resolved, *rest)
    return [_cell(value) for value in row]
