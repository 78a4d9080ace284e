"""The one write path for clinical records (patients, adverse events, labs, dose events, medications, reviews).

Every create, update and "entered in error" validates the whole record, writes it, and appends one
AuditEntry with the values before and after, in the same transaction. Nothing is ever deleted. Each row
has a version: an update names the version it was based on, and a stale one is refused, not applied.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from pydantic import ValidationError
from sqlalchemy import update as sql_update
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel, select

from models.clinical import ctcae
from models.store import summary
from models.store.db import write_session
from models.store.record_checks import check_against_database, lock_patient, prepare_batch  # noqa: F401
# The errors and the batch are part of this module's API: callers name them as records.X.
from models.store.record_errors import (Actor, DatabaseUnavailable, DuplicateRecord,  # noqa: F401
                                        HeldRowsRefused, NotPermitted, Problem, RecordError, RecordNotFound,
                                        RefusedByDatabase, StaleRecord, ValidationFailed, database_errors)
from models.store.input_models import INPUT_MODELS
from models.store.record_inputs import RecordValueError
from models.store.tables import (RECORD_TABLES, AdverseEvent, AuditEntry, DoseEvent, LabResult, Patient,  # noqa: F401
                                 fixed_defaults, utc_now)
from models.store.write_batch import (INSERTS, batch_of, batched_writes, close_batch, hold_insert,  # noqa: F401
                                      open_batch, usable_batch)

WRITE_ROLES = {
    "patient": {"nurse", "oncologist", "admin"},
    "adverse_event": {"nurse", "oncologist", "admin"},
    "lab_result": {"nurse", "oncologist", "admin"},
    "dose_event": {"pharmacist", "oncologist", "admin"},
    "finding_review": {"pharmacist", "admin"},
    "alert_review": {"nurse", "oncologist", "pharmacist", "admin"},
    "concomitant_medication": {"nurse", "oncologist", "pharmacist", "admin"},
}
VERIFY_ROLES = {"pharmacist", "admin"}
REGISTRATION_START = "Recorded at registration"  # the reason of the start dose register_patient records
SYSTEM_COLUMNS = {"id", "record_status", "entered_in_error_reason", "version", "created_by", "created_at",
                  "updated_by", "updated_at"}
READ_ONLY_AFTER_CREATE = {"patient_id"}


@contextmanager
def _transaction(url: str | None, session: Session | None) -> Iterator[Session]:
    """The caller's transaction (e.g. an all-or-nothing import), or a new one of our own."""
    if session is not None:
        yield session
    else:
        with write_session(url) as own:
            yield own


@database_errors
def create(kind: str, values: dict, actor: Actor, *, today: date | None = None, url: str | None = None,
           session: Session | None = None, _registration: bool = False, carried_verification: bool = False) -> dict:
    """`carried_verification`: an import brings a dose record with the verification it had where it came
    from (by someone else than the importer, who is a pharmacist or an admin)."""
    table = _table_for(kind, actor, registration=_registration)
    clean = _validate(kind, values)
    verified = bool(clean.get("verified_by") or clean.get("verified_at"))
    if verified and actor.role not in VERIFY_ROLES:
        raise NotPermitted("Only a pharmacist verifies dose records.")
    carried = carried_verification and clean.get("verified_by") not in (None, actor.username) \
        and clean.get("verified_at") is not None
    if verified and not carried:  # four eyes: the author never verifies
        raise NotPermitted("A dose record is verified by a pharmacist other than the one who records it; "
                           "save it unverified.")
    with _transaction(url, session) as session:
        _check(session, kind, clean, None, today)
        _derive(kind, clean)
        after = _insert(session, table, kind, clean | {"created_by": actor.username, "created_at": utc_now()})
        _note_in_batch(session, kind, after)
        _refresh_derived(session, kind, None, after)
        _append_audit(session, actor, "create", kind, after["id"], _patient_id(kind, after), None, after)
        return after


@database_errors
def update(kind: str, record_id: int, expected_version: int, changes: dict, actor: Actor, *,
           today: date | None = None, url: str | None = None, session: Session | None = None,
           _registration: bool = False) -> dict:
    table = _table_for(kind, actor, registration=_registration)
    forbidden = (set(changes) & (SYSTEM_COLUMNS | READ_ONLY_AFTER_CREATE)) - {"entered_in_error_reason"}
    if forbidden:
        raise ValidationFailed([Problem(f, f"{f} cannot be changed here.") for f in sorted(forbidden)])
    if ({"verified_by", "verified_at"} & set(changes)) and actor.role not in VERIFY_ROLES:
        raise NotPermitted("Only a pharmacist verifies dose records.")
    with _transaction(url, session) as session:
        before = _locked_current(session, table, kind, record_id, expected_version)
        if before["record_status"] != "active":
            raise StaleRecord("This record is marked entered in error and can no longer be edited.")
        merged = {k: v for k, v in before.items() if k not in SYSTEM_COLUMNS} | changes
        if kind == "dose_event" and before.get("verified_by") and not {"verified_by", "verified_at"} & set(changes) \
                and any(before.get(k) != v for k, v in changes.items()):
            merged |= {"verified_by": None, "verified_at": None}  # a changed record needs verifying again
        clean = _validate(kind, merged)
        _check(session, kind, clean, record_id, today)
        _derive(kind, clean)
        values = {k: v for k, v in clean.items() if k not in READ_ONLY_AFTER_CREATE}
        after = _apply_update(session, table, kind, record_id, expected_version, values, actor, "update", before)
        if kind == "patient":
            _follow_registration_start(session, after, actor, today)
        return after


def _follow_registration_start(session, patient: dict, actor: Actor, today: date | None) -> None:
    """The start dose a registration recorded follows a corrected treatment start or planned dose."""
    start = session.exec(select(DoseEvent.id, DoseEvent.version, DoseEvent.effective_date, DoseEvent.dose_mg).where(
        DoseEvent.patient_id == patient["id"], DoseEvent.action == "start", DoseEvent.record_status == "active",
        DoseEvent.reason == REGISTRATION_START)).first()
    if start is not None and (start.effective_date, start.dose_mg) != (patient["treatment_start"],
                                                                       patient["planned_dose_mg"]):
        update("dose_event", start.id, start.version, {"effective_date": patient["treatment_start"],
                                                       "dose_mg": patient["planned_dose_mg"]},
               actor, today=today, session=session, _registration=True)


@database_errors
def mark_entered_in_error(kind: str, record_id: int, expected_version: int, reason: str, actor: Actor, *,
                          url: str | None = None, session: Session | None = None) -> dict:
    table = _table_for(kind, actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed([Problem("reason", "Say why the record was entered in error.")])
    if len(reason) > 2000:
        raise ValidationFailed([Problem("reason", "Keep the reason under 2000 characters.")])
    with _transaction(url, session) as session:
        before = _locked_current(session, table, kind, record_id, expected_version)
        if before["record_status"] == "entered_in_error":
            raise StaleRecord("This record is already marked entered in error.")
        if kind != "patient":  # the same record-then-patient lock order as update()
            lock_patient(session, before["patient_id"])
        return _apply_update(session, table, kind, record_id, expected_version,
                             {"record_status": "entered_in_error", "entered_in_error_reason": reason},
                             actor, "entered_in_error", before)


def get(kind: str, record_id: int, *, url: str | None = None) -> dict:
    from models.store.db import read_session

    with read_session(url) as session:
        row = session.get(RECORD_TABLES[kind], record_id)
        if row is None:
            raise RecordNotFound(f"No {kind.replace('_', ' ')} with id {record_id}.")
        return _snapshot(row)


# --- internals ----------------------------------------------------------------------------------------

def _table_for(kind: str, actor: Actor, *, registration: bool = False) -> type[SQLModel]:
    if kind not in RECORD_TABLES:
        raise ValueError(f"unknown record type {kind!r}")
    # A registration states the first dose: whoever registers records it. Later dose changes need the role.
    if registration and kind == "dose_event":
        return RECORD_TABLES[kind]
    if actor.role not in WRITE_ROLES[kind]:
        raise NotPermitted(f"A {actor.role} cannot write {kind.replace('_', ' ')} records.")
    return RECORD_TABLES[kind]


def _validate(kind: str, values: dict) -> dict:
    try:
        model = INPUT_MODELS[kind].model_validate(values)
    except ValidationError as error:
        raise ValidationFailed([_problem(e) for e in error.errors()]) from None
    return model.model_dump()


def _problem(error: dict) -> Problem:
    field = ".".join(str(part) for part in error.get("loc", ())) or "record"
    message = error.get("msg", "is not valid")
    message = message.removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = f"{field.replace('_', ' ').capitalize()} is required."
    elif error.get("type") == "extra_forbidden":
        message = f"{field} is not a field of this record."
    elif not message.endswith("."):
        message = f"{field.replace('_', ' ').capitalize()}: {message}."
    return Problem(field, message)


def _check(session, kind: str, clean: dict, record_id: int | None, today: date | None) -> None:
    try:
        check_against_database(session, kind, clean, record_id, today or date.today())
    except RecordValueError as error:
        problem = Problem(error.field, str(error))
        if error.existing_id is not None:
            raise DuplicateRecord(problem, error.existing_id) from None
        raise ValidationFailed([problem]) from None


def _derive(kind: str, clean: dict) -> None:
    """Values the record carries but the user does not type: CTCAE codes and lab grades."""
    if kind == "adverse_event":
        clean["meddra_code"] = ctcae.get_term(clean["term"]).meddra_code
    if kind == "lab_result":
        clean["ctcae_term"] = ctcae.lab_term(clean["test"])
        baseline_value = clean.pop("baseline_value", None)
        clean["ctcae_grade"] = ctcae.grade_lab(clean["test"], clean["value"], clean["unit"], lln=clean["lln"],
                                               uln=clean["uln"], baseline=baseline_value)


def _insert(session, table: type[SQLModel], kind: str, values: dict) -> dict:
    """One INSERT with a Core statement (an ORM flush per save costs more Python time than the write itself);
    returns the new row as a snapshot."""
    row = fixed_defaults(table) | values  # created_at (a default factory) is in values
    unknown = set(row) - set(table.model_fields)
    if unknown:
        raise ValueError(f"not columns of {kind}: {sorted(unknown)}")
    batch = usable_batch(session)
    # Not patients: the MRN check of the next patient row would send a held one at once.
    if batch is not None and batch.holds_inserts and kind != "patient":
        hold_insert(session, batch, table, row)  # every row of a kind has the same keys (executemany needs it)
        return {column: row.get(column) for column in table.model_fields}
    try:
        result = session.connection().execute(INSERTS[table], row)
    except (IntegrityError, DataError) as error:
        raise _refusal(kind, row, error, "record") from None
    row["id"] = result.inserted_primary_key[0]
    return {column: row.get(column) for column in table.model_fields}


def _refusal(kind: str, values: dict, error: Exception, what: str) -> RefusedByDatabase:
    """A constraint the checks before it did not catch (two users racing past the MRN check, say)."""
    text = str(error.orig)
    if kind == "patient" and ("uq_patient_mrn" in text or "patient.mrn" in text):  # PostgreSQL / SQLite
        return RefusedByDatabase([Problem("mrn", f"MRN {values['mrn']} is already registered.")])
    return RefusedByDatabase([Problem("record", f"The database refused the {what}: {text.splitlines()[0]}")])


def _locked_current(session, table, kind: str, record_id: int, expected_version: int) -> dict:
    statement = select(table).where(table.id == record_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(key_share=True)  # FOR NO KEY UPDATE: see check_against_database
    row = session.exec(statement).first()
    if row is None:
        raise RecordNotFound(f"No {kind.replace('_', ' ')} with id {record_id}.")
    if row.version != expected_version:
        raise StaleRecord(_stale_message(row))
    return _snapshot(row)


def _apply_update(session, table, kind: str, record_id: int, expected_version: int, values: dict,
                  actor: Actor, action: str, before: dict) -> dict:
    now = utc_now()
    try:
        result = session.execute(
            sql_update(table).where(table.id == record_id, table.version == expected_version)
            .values(**values, version=expected_version + 1, updated_by=actor.username, updated_at=now)
            .execution_options(synchronize_session=False))
    except (IntegrityError, DataError) as error:
        raise _refusal(kind, {**before, **values}, error, "change") from None
    if result.rowcount != 1:  # someone else's update landed between our read and our write
        raise StaleRecord("Someone else changed this record while you were editing it. Reload it and "
                          "apply your change again.")
    after = {**before, **values, "version": expected_version + 1, "updated_by": actor.username,
             "updated_at": now}
    if (batch := batch_of(session)) is not None:
        batch.forget(_patient_id(kind, after))
    _refresh_derived(session, kind, before, after)
    _append_audit(session, actor, action, kind, record_id, _patient_id(kind, after), before, after)
    return after


def _note_in_batch(session, kind: str, created: dict) -> None:
    """Keep a write batch's memory of the patient true (see models/store/write_batch.py)."""
    batch = batch_of(session)
    if batch is None or kind == "patient":
        return
    if usable_batch(session) is None:  # inside a SAVEPOINT: it may be rolled back, so read the patient again
        batch.forget(created["patient_id"])
    elif kind == "adverse_event":
        batch.note_event(created)
    elif kind == "lab_result":
        batch.note_lab(created)


def _creation_changes_summary(kind: str, created: dict) -> bool:
    """A new patient, or a new event that is not pre-existing."""
    return kind == "patient" or (kind == "adverse_event" and not created["baseline"])


def _refresh_derived(session, kind: str, before: dict | None, after: dict) -> None:
    """Keep the onset summary in step with the events and the patient, in the same transaction
    (in a write batch: once per patient, when the batch ends)."""
    if before is None:
        if not _creation_changes_summary(kind, after):
            return
        if (batch := usable_batch(session)) is not None:
            batch.summary_patients.add(_patient_id(kind, after))
            return
    if kind == "patient":
        summary.refresh_patient(session, after["id"])
    elif kind == "adverse_event" and before is None:
        summary.add_event(session, after)
    elif kind == "adverse_event":
        terms = tuple({after["term"], before["term"]})
        summary.refresh_patient(session, after["patient_id"], terms)


def _stale_message(row) -> str:
    who = row.updated_by or row.created_by
    when = row.updated_at or row.created_at
    stamp = when.strftime("%Y-%m-%d %H:%M UTC") if isinstance(when, datetime) else str(when)
    return (f"This record was changed by {who} at {stamp} after you opened it (now version {row.version}). "
            "Reload it to see their change, then apply yours again.")


def _snapshot(row) -> dict:
    return {column: getattr(row, column) for column in row.__class__.model_fields}


def _patient_id(kind: str, values: dict) -> int | None:
    return values.get("id") if kind == "patient" else values.get("patient_id")


def _json(values: dict | None) -> str | None:
    if values is None:
        return None
    return json.dumps({k: _plain(v) for k, v in values.items()}, sort_keys=True)


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _append_audit(session, actor: Actor, action: str, kind: str, record_id: int, patient_id: int | None,
                  before: dict | None, after: dict | None) -> None:
    entry = {"at": utc_now(), "username": actor.username, "action": action, "record_type": kind,
             "record_id": record_id, "patient_id": patient_id, "before": _json(before), "after": _json(after),
             "detail": None}
    batch = usable_batch(session)
    if batch is not None:
        batch.audit_rows.append(entry)
    else:
        session.connection().execute(INSERTS[AuditEntry], entry)


# The workflows that write several records at once live next door; callers name them as records.X.
from models.store.record_workflows import (change_grade, mouthwash_record, register_patient,  # noqa: E402,F401
                                           verify_dose_event)
