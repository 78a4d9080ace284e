"""A write batch: many creates in one transaction (an import) with less work per row.

batched_writes opens one on a session. Outside a SAVEPOINT the write path then
- locks each patient once and reads their events' (term, onset) once for the duplicate check, and keeps
  both until the transaction ends (the lock keeps other writers of that patient out until then);
- collects the audit entries, and the patients whose onset summary needs a refresh, for the end;
- on PostgreSQL, where every statement is a network round trip, holds the records' INSERTs back (ids taken
  from the tables' sequences) and sends them many rows per statement before any other statement runs.
Inside a SAVEPOINT every write goes straight to the database and the batch forgets that patient: nothing a
rolled-back savepoint did may be remembered.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import NamedTuple

from sqlalchemy import bindparam, event, func, insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel

from models.store import summary
from models.store.record_errors import HeldRowsRefused
from models.store.tables import RECORD_TABLES, AuditEntry

_SESSION_KEY = "toxwatch_write_batch"


class Episode(NamedTuple):
    """An adverse-event record as the overlap check needs it (record_checks.overlapping_episode)."""
    id: int
    term: str
    grade: int
    onset_date: date
    resolved_date: date | None
    previous_event_id: int | None


class WriteBatch:
    def __init__(self, holds_inserts: bool):
        self.patients: dict[int, object] = {}                         # locked patient rows
        self.event_keys: dict[int, list[Episode]] = {}                 # patient -> its active event records
        self.lab_keys: dict[int, dict[tuple, int]] = {}                # patient -> lab_key -> lab id
        self.audit_rows: list[dict] = []
        self.summary_patients: set[int] = set()
        self.holds_inserts = holds_inserts
        self.held_rows: dict[type, list[dict]] = {}                    # table -> rows with ids, not yet sent
        self.free_ids: dict[type, list[int]] = {}                      # ids taken from a table's sequence
        self.id_blocks: dict[type, int] = {}                           # how many ids the last take was
        self.suspended = False                                         # sending rows or taking ids

    @contextmanager
    def suspend(self) -> Iterator[None]:
        """The batch's own statements (sending held rows, taking ids) must not set it off again."""
        self.suspended = True
        try:
            yield
        finally:
            self.suspended = False

    def forget(self, patient_id: int) -> None:
        """A write the batch did not follow (inside a SAVEPOINT, or an update): read the patient again."""
        self.patients.pop(patient_id, None)
        self.event_keys.pop(patient_id, None)
        self.lab_keys.pop(patient_id, None)

    def note_lab(self, lab: dict) -> None:
        keys = self.lab_keys.get(lab["patient_id"])
        if keys is not None:
            keys[lab_key(lab["test"], lab["collected_on"], lab["value"], lab.get("unit"))] = lab["id"]

    def note_event(self, event: dict) -> None:
        keys = self.event_keys.get(event["patient_id"])
        if keys is not None:
            keys.append(Episode(event["id"], event["term"], event["grade"], event["onset_date"],
                                event.get("resolved_date"), event.get("previous_event_id")))


def lab_key(test: str, collected_on: date, value: float, unit: str | None) -> tuple:
    """What makes two lab records one result (record_checks refuses the second)."""
    return test, collected_on, round(float(value), 9), (unit or "").casefold()


def open_batch(session, holds_inserts: bool) -> WriteBatch:
    batch = WriteBatch(holds_inserts)
    session.info[_SESSION_KEY] = batch
    return batch


def close_batch(session) -> None:
    session.info.pop(_SESSION_KEY, None)


def batch_of(session) -> WriteBatch | None:
    """The session's batch, inside a SAVEPOINT or not (to tell it what it must forget)."""
    return session.info.get(_SESSION_KEY)


def usable_batch(session) -> WriteBatch | None:
    """The session's batch where a write may rely on it and leave work to it: outside a SAVEPOINT."""
    batch = session.info.get(_SESSION_KEY)
    return None if batch is None or session.in_nested_transaction() else batch


# Built once: every save runs them, and building a statement costs more than running it.
INSERTS = {table: insert(table.__table__) for table in [*RECORD_TABLES.values(), AuditEntry]}
TABLES_IN_KEY_ORDER = sorted(RECORD_TABLES.values(), key=lambda t: SQLModel.metadata.sorted_tables.index(t.__table__))
NEXT_IDS = {table: select(func.nextval(func.pg_get_serial_sequence(table.__tablename__, "id")))
             .select_from(func.generate_series(1, bindparam("block"))) for table in RECORD_TABLES.values()}


@contextmanager
def batched_writes(session: Session) -> Iterator[None]:
    """Many creates in `session` (an import) with less work per row; see this module's docstring. Call
    prepare_batch with the patients first. The audit entries and summary refreshes are written when the
    block ends. On PostgreSQL the records' INSERTs are held back and sent many rows per statement before any
    other statement runs, so every read sees them, but a refusal of one surfaces later, as HeldRowsRefused:
    the caller must then redo the work row by row (exchange/csv_import does). If the block raises, the caller rolls the
    transaction back."""
    connection = session.connection()
    batch = open_batch(session, holds_inserts=connection.dialect.name == "postgresql")

    def send_held_rows(*_args) -> None:  # also runs before a SAVEPOINT: that is a statement too
        send_held_rows_of(connection, batch)

    if batch.holds_inserts:
        event.listen(connection, "before_execute", send_held_rows)
    try:
        yield
        send_held_rows_of(connection, batch)
        if batch.audit_rows:
            connection.execute(INSERTS[AuditEntry], batch.audit_rows)
        summary.refresh_patients(session, sorted(batch.summary_patients))
    finally:
        if batch.holds_inserts:
            event.remove(connection, "before_execute", send_held_rows)
        close_batch(session)


def send_held_rows_of(connection, batch) -> None:
    if batch.suspended or not batch.held_rows:
        return
    try:
        with batch.suspend():
            for table in TABLES_IN_KEY_ORDER:  # a patient before their events, an event before a dose naming it
                rows = batch.held_rows.pop(table, None)
                if rows:
                    connection.execute(INSERTS[table], rows)
    except (IntegrityError, DataError) as error:
        raise HeldRowsRefused(f"The database refused a record: {str(error.orig).splitlines()[0]}") from error


def hold_insert(session, batch, table: type[SQLModel], row: dict) -> None:
    """Hold a row back (see batched_writes); its id comes from the table's sequence, a block at a time (the
    block grows, so a small import leaves few ids unused)."""
    free = batch.free_ids.setdefault(table, [])
    if not free:
        block = batch.id_blocks[table] = min(1024, 2 * batch.id_blocks.get(table, 4))
        with batch.suspend():  # taking ids does not read the held rows
            free += session.connection().execute(NEXT_IDS[table], {"block": block}).scalars().all()
        free.reverse()
    row["id"] = free.pop()
    batch.held_rows.setdefault(table, []).append(row)
