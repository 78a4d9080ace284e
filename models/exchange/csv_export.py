"""CSV export of the active records, in the import format (csv_files.py), so an export re-imports unchanged."""
from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import select

from models.csv_cells import spreadsheet_safe
from models.exchange.csv_files import EXPORT_COLUMNS
from models.store.db import get_engine
from models.store.tables import AdverseEvent, ConcomitantMedication, DoseEvent, LabResult, Patient


def export_files(url: str | None = None) -> dict[str, str]:
    """The CSV files (name -> text) of the active records, in the import format."""
    return {name: _csv_text(name, rows) for name, rows in _export_rows(url).items()}


def export_folder(folder: str | Path, *, url: str | None = None) -> dict[str, int]:
    """Write the CSV files into a folder (created if needed; the files are replaced).
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
    writer.writerow(EXPORT_COLUMNS[name])
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):  # a moment (UTC; SQLite hands it back without its zone)
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return spreadsheet_safe(str(value))  # text: never a formula in a spreadsheet (the import undoes it)


def _export_rows(url: str | None) -> dict[str, list[list[str]]]:
    active = "active"
    statements = {
        "patients.csv": select(Patient.mrn, Patient.name, Patient.birth_date, Patient.treatment_start,
                               Patient.planned_dose_mg, Patient.status, Patient.notes, Patient.id).where(Patient.record_status == active),
        "adverse_events.csv": select(Patient.mrn, AdverseEvent.term, AdverseEvent.grade, AdverseEvent.onset_date,
                                     AdverseEvent.resolved_date, AdverseEvent.serious, AdverseEvent.attribution,
                                     AdverseEvent.action_taken, AdverseEvent.notes, AdverseEvent.death_date,
                                     AdverseEvent.outcome, AdverseEvent.source, AdverseEvent.baseline,
                                     AdverseEvent.previous_event_id, AdverseEvent.id)
        .join(Patient, Patient.id == AdverseEvent.patient_id).where(AdverseEvent.record_status == active),
        "labs.csv": select(Patient.mrn, LabResult.test, LabResult.value, LabResult.unit, LabResult.lln,
                           LabResult.uln, LabResult.collected_on, LabResult.id)
        .join(Patient, Patient.id == LabResult.patient_id).where(LabResult.record_status == active),
        "doses.csv": select(Patient.mrn, DoseEvent.effective_date, DoseEvent.action, DoseEvent.dose_mg,
                            DoseEvent.reason, DoseEvent.every_other_day, DoseEvent.adverse_event_id,
                            DoseEvent.verified_by, DoseEvent.verified_at, DoseEvent.id)
        .join(Patient, Patient.id == DoseEvent.patient_id).where(DoseEvent.record_status == active),
        "conmeds.csv": select(Patient.mrn, ConcomitantMedication.drug, ConcomitantMedication.dose,
                              ConcomitantMedication.route, ConcomitantMedication.start_date,
                              ConcomitantMedication.stop_date, ConcomitantMedication.indication,
                              ConcomitantMedication.notes, ConcomitantMedication.adverse_event_id,
                              ConcomitantMedication.id)
        .join(Patient, Patient.id == ConcomitantMedication.patient_id)
        .where(ConcomitantMedication.record_status == active),
    }
    result = {}
    with get_engine(url).connect() as connection:
        if connection.dialect.name == "postgresql":  # one snapshot for all the files
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            fetched = {name: [tuple(row) for row in connection.execute(statement.where(Patient.record_status == active))]
                       for name, statement in statements.items()}
    # A link names the linked event by its term, onset and grade (ids differ from one database to another).
    events = {row[-1]: (row[1], row[3], row[2]) for row in fetched["adverse_events.csv"]}
    for name, rows in fetched.items():
        result[name] = [_export_row(name, row, events) for row in _ordered(name, rows)]
    return result


def _ordered(name: str, rows: list[tuple]) -> list[tuple]:
    """In Python, not SQL: text order must not depend on the database's collation. Within a patient by date,
    then by id, so that a record comes after the one it continues."""
    date_position = {"patients.csv": None, "adverse_events.csv": 3, "labs.csv": 6, "doses.csv": 1,
                     "conmeds.csv": 4}[name]
    return sorted(rows, key=lambda r: (r[0], r[date_position] if date_position else date.min, r[-1]))


def _export_row(name: str, row: tuple, events: dict[int, tuple[str, date, int]]) -> list[str]:
    row = row[:-1]  # the id only orders the rows
    if name == "adverse_events.csv":
        *fields, previous = row
        _, onset, grade = events.get(previous, (None, None, None))
        row = (*fields, onset, grade)
    elif name == "doses.csv":
        *fields, event, verified_by, verified_at = row
        row = (*fields, *events.get(event, (None, None, None)), verified_by, verified_at)
    elif name == "conmeds.csv":
        *fields, event = row
        row = (*fields, *events.get(event, (None, None, None)))
    return [_cell(value) for value in row]
