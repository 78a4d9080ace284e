"""CSV import, all or nothing, in the format of DESIGN.md "Command line".

Import reads patients.csv, adverse_events.csv, labs.csv, doses.csv and conmeds.csv (any may be absent; in that
order, so later files can name patients and events of the same import). Every row goes through records.create inside ONE
write transaction, batched (records.batched_writes: audit entries and summary refreshes written at the end);
a refused row does not stop the checking of the rest (see _Run._create for when a row needs its own
SAVEPOINT). Any problem, or a dry run, rolls the whole transaction back: nothing is written.
Problems read `file:line: column: message` (csv_reading.py).
"""
from __future__ import annotations

import contextlib
import difflib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError

from models.exchange.csv_files import COLUMNS, EXPORT_COLUMNS, FILES, KINDS
from models.exchange.csv_reading import CsvRow, Problems, parse, quoted_name, read_bytes
from models.exchange.csv_rows import HINTS, RowValues, column_of
from models.store import records
from models.store.db import write_session
from models.store.tables import AuditEntry


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


class _RowRefused(Exception):
    pass


class _NeedsSavepoints(Exception):
    """The database refused a row that was not in a SAVEPOINT: the import runs again with one per row."""


class _Rollback(Exception):
    pass


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
            files[path.name] = read_bytes(path)
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
                 today: date | None = None, url: str | None = None, source: str = "upload") -> ImportReport:
    """Import uploaded files (file name -> raw bytes); names other than the CSV files are problems. `source`
    is what the audit entry says the rows came from."""
    return _import(dict(files), actor, dry_run=dry_run, today=today, url=url, source=source,
                   empty_message=f"upload:1: file: no files; upload any of {', '.join(FILES)}.")


def _import(files: dict[str, bytes | str], actor, *, dry_run, today, url, source, empty_message) -> ImportReport:
    try:
        return _attempt(files, actor, dry_run=dry_run, today=today, url=url, source=source,
                        empty_message=empty_message, savepoints=False)
    except (_NeedsSavepoints, records.HeldRowsRefused):
        return _attempt(files, actor, dry_run=dry_run, today=today, url=url, source=source,
                        empty_message=empty_message, savepoints=True)


def _attempt(files: dict[str, bytes | str], actor, *, dry_run, today, url, source, empty_message,
             savepoints: bool) -> ImportReport:
    problems = Problems()
    tables: dict[str, list[CsvRow] | None] = {}
    for name, data in files.items():
        if name not in COLUMNS:
            close = difflib.get_close_matches(name.lower(), FILES, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.add(quoted_name(name), 1, "file", f"Not one of the files import reads{hint}: "
                                                  f"{', '.join(FILES)}; rename it or leave it out.")
        elif isinstance(data, str):
            problems.add(name, 1, "file", data)
            tables[name] = None
        else:
            tables[name] = parse(name, data, problems)
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


class _Run:
    """One import inside one write transaction: loads the files in order and writes each row."""

    def __init__(self, session, actor: records.Actor, today: date, problems: Problems, report: ImportReport,
                 savepoints: bool):
        self.session, self.actor, self.today, self.problems, self.report = session, actor, today, problems, report
        self.savepoints = savepoints
        self.values = RowValues(session, actor)

    def load(self, name: str, rows: list[CsvRow] | None) -> None:
        kind = KINDS[name]
        if rows is None:
            self.values.patients_unreadable |= kind == "patient"
            return
        self.report.counts[name] = 0
        self.values.patients_file_read |= kind == "patient"
        if self.actor.role not in records.WRITE_ROLES[kind]:
            self.problems.add(name, 1, "file", f"A {self.actor.role} cannot import {kind.replace('_', ' ')} records.")
            return
        if kind == "lab_result":  # baseline labs (before the first dose) first, for the AST/ALT baseline rule
            rows = sorted(rows, key=lambda r: r.cells["collected_on"].strip() or "9999")
        order = {column: position for position, column in enumerate(EXPORT_COLUMNS[name])}
        for row in rows:
            created = self._create(kind, row, self.values.of(kind, row))
            if created is not None:
                self.report.counts[name] += 1
                self._after(kind, row, created)
            for column, message in sorted(row.problems, key=lambda p: order.get(p[0], len(order))):
                self.problems.add(name, row.line, column, message)

    def load_all(self, tables: dict[str, list[CsvRow] | None]) -> None:
        """patients.csv first (the other files may name its patients), then every patient the other files
        name is locked at once (see records.prepare_batch), then the other files in order."""
        if "patients.csv" in tables:
            self.load("patients.csv", tables["patients.csv"])
        others = {name: rows for name, rows in tables.items() if name != "patients.csv"}
        named = self.values.patient_ids_named
        # Row by row every row is in a SAVEPOINT, where the batch is not used: no event keys to read then.
        events = named(others.get("adverse_events.csv")) if not self.savepoints else set()
        records.prepare_batch(self.session, set().union(*map(named, others.values())), events)
        for name in FILES:
            if name in others:
                self.load(name, others[name])

    def _create(self, kind: str, row: CsvRow, values: dict) -> dict | None:
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
                        column = column_of(kind, problem, row)
                        if column not in row.failed:  # not "X is required" for a cell that could not be read
                            row.problems.append((column, problem.message + HINTS.get(column, "")))
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
            # A verification in the file was made where the file came from (csv_rows checked who imports it).
            return records.create(kind, values, self.actor, today=self.today, session=self.session,
                                  carried_verification=kind == "dose_event")
        except (records.RefusedByDatabase, IntegrityError, DataError):
            if not guarded:
                raise _NeedsSavepoints from None
            raise

    def _after(self, kind: str, row: CsvRow, created: dict) -> None:
        if kind == "patient":
            self.values.patient_created(created, row.line)
            if row.line in self.values.mouthwash_lines:
                records.create("concomitant_medication", {**records.mouthwash_record(created["treatment_start"]),
                                                          "patient_id": created["id"]}, self.actor, today=self.today,
                               session=self.session)
        if kind == "adverse_event":
            self.values.event_created(created)
        if kind == "adverse_event" and created["baseline"]:
            self.report.notes.append(f"adverse_events.csv:{row.line}: onset {created['onset_date']} is before "
                                     "the treatment start: pre-existing (baseline), not treatment-emergent.")
