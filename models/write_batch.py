"""A write batch: many creates in one transaction (an import) with less work per row.

records.batched_writes opens one on a session. Outside a SAVEPOINT the write path then
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

_SESSION_KEY = "toxwatch_write_batch"


class WriteBatch:
    def __init__(self, holds_inserts: bool):
        self.patients: dict[int, object] = {}                         # locked patient rows
        self.event_keys: dict[int, dict[tuple[str, date], int]] = {}   # patient -> (term, onset) -> event id
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

    def note_event(self, event: dict) -> None:
        keys = self.event_keys.get(event["patient_id"])
        if keys is not None:
            keys.setdefault((event["term"], event["onset_date"]), event["id"])


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
