"""Concurrent writes through models.store.records on SQLite (WAL) and PostgreSQL.

20 threads x 50 writes each, released together by a barrier: adverse-event creates (mostly valid, a few
deliberate duplicates across threads and a few invalid ones), dose-change sequences for each thread's own
patient (a few invalid steps), and updates of two shared records with the version each thread read (so
many are refused as stale). Afterwards every call either returned a record or raised a RecordError with a
message, the row and audit counts match the successful writes exactly, and the shared records went
through one unbroken chain of versions: nobody's change was overwritten silently.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from models.settings import DOSE_STEPS_ENV
from models.store import queries, records
from models.store.db import read_session
from models.store.records import (Actor, DatabaseUnavailable, DuplicateRecord, RecordError, StaleRecord,
                                  ValidationFailed)
from models.store.tables import AdverseEvent, AuditEntry, DoseEvent, Patient

THREADS = 20
WRITES_PER_THREAD = 50
START = date(2023, 6, 1)
TODAY = date(2026, 6, 1)
WARD_PATIENTS = 4                      # patients whose events every thread logs (contention on their rows)
DUPLICATE_KEYS = 10                    # (patient, term, onset) keys that four threads each try to log
DUP_TERM = "Fatigue"                   # kept out of the distinct events, so only the duplicate keys use it
TERMS = ("Mucositis oral", "Pneumonitis", "Hyperglycemia", "Anemia", "Dyspnea", "Diarrhea", "Nausea",
         "Rash maculo-papular", "Anorexia")
NURSE = Actor("nina.nurse", "nurse")
ONCOLOGIST = Actor("omar.onc", "oncologist")
ADMIN = Actor("ada.admin", "admin")

# One thread's dose changes in order: (action, daily dose, valid?). The invalid ones are refused and leave
# the sequence as it was, so the valid step after them still fits.
DOSE_PLAN = (
    ("start", 10.0, True), ("hold", 0.0, True), ("resume", 10.0, True), ("resume", 10.0, False),
    ("reduce", 5.0, True), ("reduce", 5.0, False), ("hold", 0.0, True), ("resume", 5.0, True),
    ("escalate", 7.0, False), ("escalate", 10.0, True), ("reduce", 2.5, True), ("hold", 5.0, False),
    ("discontinue", 0.0, True), ("hold", 0.0, False), ("start", 10.0, True),
)
N_EVENT_OPS = 20                       # 16 distinct + 2 duplicate keys + 2 invalid
N_UPDATE_OPS = WRITES_PER_THREAD - N_EVENT_OPS - len(DOSE_PLAN)  # shared-record updates


@dataclass
class Outcome:
    thread: int
    op: str                 # event / dup_event / bad_event / dose / bad_dose / update_event / update_patient
    key: object = None
    result: dict | None = None
    error: BaseException | None = None
    seconds: float = 0.0


@dataclass
class World:
    url: str
    ward: list[int] = field(default_factory=list)          # patient ids shared by every thread's events
    own: list[int] = field(default_factory=list)           # one patient per thread for dose changes
    shared_event: int = 0                                   # the adverse event every thread edits
    shared_patient: int = 0                                 # the patient record every thread edits
    setup_creates: Counter = field(default_factory=Counter)


# --- the plan of each thread ----------------------------------------------------------------------------

def _event_ops(world: World, thread: int) -> list[tuple]:
    ops = []
    for j in range(16):  # distinct (patient, term, onset): valid
        values = {"patient_id": world.ward[thread % WARD_PATIENTS], "term": TERMS[(thread + j) % len(TERMS)],
                  "grade": 1 + (j % 3), "onset_date": START + timedelta(days=thread * 50 + j),
                  "resolved_date": START + timedelta(days=thread * 50 + j),  # one-day episodes: none overlaps
                  "notes": f"thread {thread} event {j}"}
        ops.append(("event", None, values))
    for key in (thread % DUPLICATE_KEYS, (thread + 3) % DUPLICATE_KEYS):  # each key tried by four threads
        values = {"patient_id": world.ward[0], "term": DUP_TERM, "grade": 1,
                  "onset_date": START + timedelta(days=1000 + key),
                  "resolved_date": START + timedelta(days=1000 + key), "notes": f"thread {thread} duplicate {key}"}
        ops.append(("dup_event", key, values))
    ops.append(("bad_event", "grade", {"patient_id": world.ward[1], "term": "Nausea", "grade": 4,
                                       "onset_date": START + timedelta(days=thread * 50 + 40)}))
    ops.append(("bad_event", "future", {"patient_id": world.ward[2], "term": "Diarrhea", "grade": 2,
                                        "onset_date": TODAY + timedelta(days=thread + 1)}))
    return ops


def _dose_ops(world: World, thread: int) -> list[tuple]:
    patient = world.own[thread]
    return [("dose" if valid else "bad_dose", step,
             {"patient_id": patient, "effective_date": START + timedelta(days=10 * step), "action": action,
              "dose_mg": dose, "reason": f"thread {thread} step {step}"})
            for step, (action, dose, valid) in enumerate(DOSE_PLAN)]


def _update_ops(thread: int) -> list[tuple]:
    ops = []
    for j in range(N_UPDATE_OPS):
        if j % 3 == 2:
            ops.append(("update_patient", j, {"notes": f"patient note by thread {thread} op {j}"}))
        else:
            ops.append(("update_event", j, {"notes": f"event note by thread {thread} op {j}",
                                            "attribution": ("possible", "probable", "unlikely")[(thread + j) % 3]}))
    return ops


def _interleave(thread: int, *queues: list[tuple]) -> list[tuple]:
    """Merge the queues in a random (seeded) order, keeping the order inside each queue."""
    rng = random.Random(thread)
    queues = [list(q) for q in queues]
    merged = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        merged.append(queue.pop(0))
    return merged


def _run_op(world: World, thread: int, op: str, key, values: dict) -> Outcome:
    outcome = Outcome(thread, op, key)
    started = time.perf_counter()
    try:
        if op in ("event", "dup_event", "bad_event"):
            outcome.result = records.create("adverse_event", values, NURSE, today=TODAY, url=world.url)
        elif op in ("dose", "bad_dose"):
            outcome.result = records.create("dose_event", values, ONCOLOGIST, today=TODAY, url=world.url)
        else:
            kind, record_id = (("adverse_event", world.shared_event) if op == "update_event"
                               else ("patient", world.shared_patient))
            read = records.get(kind, record_id, url=world.url)  # what this user saw when opening the form
            outcome.result = records.update(kind, record_id, read["version"], values, ONCOLOGIST, today=TODAY,
                                            url=world.url)
    except BaseException as error:  # noqa: BLE001 - the test reports every kind of failure
        outcome.error = error
    outcome.seconds = time.perf_counter() - started
    return outcome


def _worker(world: World, thread: int, barrier: threading.Barrier) -> list[Outcome]:
    plan = _interleave(thread, _event_ops(world, thread), _dose_ops(world, thread), _update_ops(thread))
    assert len(plan) == WRITES_PER_THREAD
    barrier.wait()
    return [_run_op(world, thread, op, key, values) for op, key, values in plan]


# --- setup and reading back -------------------------------------------------------------------------------

def _setup(url: str) -> World:
    world = World(url)

    def patient(mrn: str) -> int:
        world.setup_creates["patient"] += 1
        return records.create("patient", {"mrn": mrn, "name": f"Person {mrn}", "birth_date": date(1960, 1, 1),
                                          "treatment_start": START, "planned_dose_mg": 10.0},
                              ADMIN, today=TODAY, url=url)["id"]

    world.ward = [patient(f"WARD-{n}") for n in range(WARD_PATIENTS)]
    world.own = [patient(f"OWN-{n:02d}") for n in range(THREADS)]
    world.shared_patient = patient("SHARED")
    world.shared_event = records.create(
        "adverse_event", {"patient_id": world.shared_patient, "term": "Pneumonitis", "grade": 2,
                          "onset_date": START + timedelta(days=5)}, NURSE, today=TODAY, url=url)["id"]
    world.setup_creates["adverse_event"] += 1
    return world


def _count(url: str, table) -> int:
    with read_session(url) as session:
        return session.scalar(select(func.count()).select_from(table))


def _audit_rows(url: str) -> list[dict]:
    with read_session(url) as session:
        return [{"id": a.id, "action": a.action, "record_type": a.record_type, "record_id": a.record_id,
                 "before": json.loads(a.before) if a.before else None,
                 "after": json.loads(a.after) if a.after else None}
                for a in session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]


def _comparable(snapshot: dict) -> dict:
    """An audit snapshot with its timestamps as naive UTC text (SQLite reads them back without "+00:00")."""
    return {k: (v.removesuffix("+00:00") if k in ("created_at", "updated_at") and isinstance(v, str) else v)
            for k, v in snapshot.items()}


def _describe(outcome: Outcome) -> str:
    return (f"thread {outcome.thread} {outcome.op} {outcome.key!r}: {type(outcome.error).__name__}: "
            f"{str(outcome.error)[:300]}")


# --- the test ---------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_twenty_threads_writing_at_once_lose_nothing_and_overwrite_nothing(db_url, monkeypatch):
    monkeypatch.setenv(DOSE_STEPS_ENV, "10,5,2.5")
    world = _setup(db_url)
    audits_before = len(_audit_rows(db_url))
    assert audits_before == sum(world.setup_creates.values())

    barrier = threading.Barrier(THREADS, timeout=60)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(_worker, world, thread, barrier) for thread in range(THREADS)]
        outcomes = [o for future in futures for o in future.result(timeout=110)]
    elapsed = time.perf_counter() - started
    assert len(outcomes) == THREADS * WRITES_PER_THREAD

    # 1. Every call returned a record or raised a RecordError with a message: no raw database errors.
    unexpected = [_describe(o) for o in outcomes if o.error is not None and not isinstance(o.error, RecordError)]
    assert not unexpected, f"{len(unexpected)} calls failed with a non-RecordError:\n" + "\n".join(unexpected[:20])
    blank = [_describe(o) for o in outcomes if o.error is not None and not str(o.error).strip()]
    assert not blank, "RecordErrors without a message:\n" + "\n".join(blank)

    # 2. Each kind of write had the outcome its data calls for. A lock wait past the busy timeout may refuse
    #    any write with DatabaseUnavailable (a clear message; nothing saved): allowed, but counted and shown.
    busy = [o for o in outcomes if isinstance(o.error, DatabaseUnavailable)]
    assert len(busy) <= len(outcomes) // 20, f"{len(busy)} writes timed out waiting for the database"
    busy_dose_threads = {o.thread for o in busy if o.op in ("dose", "bad_dose")}
    by_op: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_op.setdefault(outcome.op, []).append(outcome)
    wrong = [_describe(o) for o in by_op["event"] + by_op["dose"] if o.error is not None
             and not isinstance(o.error, DatabaseUnavailable) and o.thread not in busy_dose_threads]
    assert not wrong, "valid creates were refused:\n" + "\n".join(wrong[:20])
    wrong = [f"thread {o.thread} {o.op} {o.key!r} succeeded" if o.error is None else _describe(o)
             for o in by_op["bad_event"] + by_op["bad_dose"] if not isinstance(o.error, ValidationFailed)
             and not isinstance(o.error, DatabaseUnavailable) or isinstance(o.error, DuplicateRecord)]
    assert not wrong, "invalid creates were not refused as invalid:\n" + "\n".join(wrong[:20])
    for key in range(DUPLICATE_KEYS):  # four threads tried each key: exactly one record, three duplicates
        tries = [o for o in by_op["dup_event"] if o.key == key]
        assert len(tries) == 4
        landed = sum(o.error is None for o in tries)
        timed_out = sum(isinstance(o.error, DatabaseUnavailable) for o in tries)
        assert landed == 1 or (landed == 0 and timed_out), [_describe(o) for o in tries]
        assert all(isinstance(o.error, (DuplicateRecord, DatabaseUnavailable)) for o in tries
                   if o.error is not None), [_describe(o) for o in tries]
    for op in ("update_event", "update_patient"):
        refused = [_describe(o) for o in by_op[op] if o.error is not None
                   and not isinstance(o.error, (StaleRecord, DatabaseUnavailable))]
        assert not refused, f"{op}: refused for another reason than a stale version:\n" + "\n".join(refused[:20])
        assert any(o.error is None for o in by_op[op]), f"{op}: no update landed at all"

    # 3. Rows created == successful creates, per table; one audit entry per successful write, per action.
    created = Counter()
    for outcome in outcomes:
        if outcome.error is None and outcome.op in ("event", "dup_event", "bad_event"):
            created["adverse_event"] += 1
        elif outcome.error is None and outcome.op in ("dose", "bad_dose"):
            created["dose_event"] += 1
    updated = Counter({kind: sum(o.error is None for o in by_op[op])
                       for kind, op in (("adverse_event", "update_event"), ("patient", "update_patient"))})
    assert _count(db_url, AdverseEvent) == world.setup_creates["adverse_event"] + created["adverse_event"]
    assert _count(db_url, DoseEvent) == created["dose_event"]
    assert _count(db_url, Patient) == world.setup_creates["patient"]
    audits = _audit_rows(db_url)
    audit_counts = Counter((a["action"], a["record_type"]) for a in audits)
    expected_counts = Counter({("create", kind): n for kind, n in (world.setup_creates + created).items()})
    expected_counts += Counter({("update", kind): n for kind, n in updated.items()})
    assert audit_counts == expected_counts

    # ... and each successful write has its own audit entry (same record, same resulting version).
    audit_keys = Counter((a["action"], a["record_type"], a["record_id"], a["after"]["version"])
                         for a in audits[audits_before:])
    write_keys = Counter()
    for outcome in outcomes:
        if outcome.error is None:
            action = "update" if outcome.op.startswith("update") else "create"
            kind = {"update_event": "adverse_event", "update_patient": "patient", "dose": "dose_event",
                    "bad_dose": "dose_event"}.get(outcome.op, "adverse_event")
            write_keys[(action, kind, outcome.result["id"], outcome.result["version"])] += 1
    assert audit_keys == write_keys

    # 4. The shared records: version == 1 + successful updates, their values are the last update's, and the
    #    audit trail is one unbroken chain (each update started from the values the previous one left).
    for kind, record_id, op in (("adverse_event", world.shared_event, "update_event"),
                                ("patient", world.shared_patient, "update_patient")):
        landed = sorted((o for o in by_op[op] if o.error is None), key=lambda o: o.result["version"])
        assert [o.result["version"] for o in landed] == list(range(2, len(landed) + 2)), \
            f"{kind}: two updates were based on the same version"
        final = records.get(kind, record_id, url=db_url)
        assert final["version"] == 1 + len(landed)
        last = landed[-1]
        expected = next(v for o, k, v in _update_ops(last.thread) if k == last.key)
        assert {k: final[k] for k in expected} == expected
        chain = [a for a in audits if a["record_type"] == kind and a["record_id"] == record_id]
        assert [a["action"] for a in chain] == ["create"] + ["update"] * len(landed)
        for previous, entry in itertools.pairwise(chain):
            assert _comparable(entry["before"]) == _comparable(previous["after"]), \
                f"{kind}: an update did not start from the state the previous write left"
            assert entry["after"]["version"] == entry["before"]["version"] + 1
        assert chain[-1]["after"]["notes"] == final["notes"]

    slowest = max(o.seconds for o in outcomes)
    print(f"\n{db_url.split(':')[0]}: {len(outcomes)} writes in {elapsed:.1f} s (slowest call {slowest:.2f} s); "
          f"creates {dict(created)}, updates {dict(updated)}, stale "
          f"{sum(isinstance(o.error, StaleRecord) for o in outcomes)}, duplicates "
          f"{sum(isinstance(o.error, DuplicateRecord) for o in outcomes)}, timed out {len(busy)}")
    assert elapsed < 60, f"{THREADS * WRITES_PER_THREAD} writes took {elapsed:.0f} s"


def test_a_write_that_waits_past_the_busy_timeout_is_refused_clearly_and_leaves_no_trace(tmp_path, monkeypatch):
    """SQLite: another process holds the write lock longer than the busy timeout. The write raises
    DatabaseUnavailable (a RecordError with a message for the user), not OperationalError, and writes nothing."""
    import sqlite3

    from models.store import db
    from models.store.db import dispose_engine
    from models.store.migrate import upgrade_to_head

    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    patient = records.create("patient", {"mrn": "LOCK-1", "name": "Locked Out", "treatment_start": START},
                             ADMIN, today=TODAY, url=url)
    dispose_engine(url)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)  # read when the engine connects
    audits = queries.audit_count(url)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        for call in (lambda: records.create("adverse_event", {"patient_id": patient["id"], "term": "Fatigue",
                                                              "grade": 1, "onset_date": START}, NURSE,
                                            today=TODAY, url=url),
                     lambda: records.update("patient", patient["id"], 1, {"notes": "changed"}, ADMIN,
                                            today=TODAY, url=url)):
            started = time.perf_counter()
            with pytest.raises(DatabaseUnavailable) as refused:
                call()
            assert time.perf_counter() - started < 10
            assert "nothing was saved" in str(refused.value)
    finally:
        blocker.rollback()
        blocker.close()
    assert _count(url, AdverseEvent) == 0
    assert records.get("patient", patient["id"], url=url)["version"] == 1
    assert queries.audit_count(url) == audits
    dispose_engine(url)


def test_the_data_version_moves_in_commit_order_across_two_app_instances(db_url):
    """Two engines stand for two app instances. Transaction A adds a patient and stays open while B adds one
    and commits. Whatever a reader sees, one data version always means one set of committed rows: a cache
    keyed on the version can never serve a page without a row committed later (with max(audit_entry.id) as
    the version, A's commit added rows and left the version where B had put it)."""
    from sqlalchemy import create_engine, text

    from models.store.queries import data_version

    def insert(connection, mrn: str) -> None:
        connection.execute(text(
            "INSERT INTO patient (mrn, name, treatment_start, planned_dose_mg, status, record_status, version, "
            "created_by, created_at) VALUES (:mrn, 'P', '2026-01-05', 10, 'on_treatment', 'active', 1, 't', "
            ":now)"), {"mrn": mrn, "now": "2026-01-05 09:00:00"})
        connection.execute(text("INSERT INTO audit_entry (at, username, action, record_type) "
                                "VALUES (:now, 't', 'create', 'patient')"), {"now": "2026-01-05 09:00:00"})

    seen: dict[int, int] = {}

    def look() -> None:
        version, patients = data_version(db_url), _count(db_url, Patient)
        assert seen.setdefault(version, patients) == patients, \
            f"version {version} stands for {seen[version]} patients and for {patients}"

    instance_a, instance_b = create_engine(db_url), create_engine(db_url)
    try:
        look()
        first = instance_a.connect()
        first_transaction = first.begin()
        insert(first, "A-1")
        look()

        def commit_b() -> None:
            with instance_b.begin() as second:
                insert(second, "B-1")
        second_writer = threading.Thread(target=commit_b)
        second_writer.start()
        second_writer.join(timeout=2)  # PostgreSQL: B commits now; SQLite: B waits for A's write lock
        look()
        first_transaction.commit()
        first.close()
        second_writer.join(timeout=30)
        assert not second_writer.is_alive()
        look()
        assert _count(db_url, Patient) == 2
    finally:
        instance_a.dispose()
        instance_b.dispose()


def test_the_data_version_moves_with_records_and_not_with_sign_ins(db_url):
    """A sign-in writes only to the audit trail: the pages' caches stay warm. Any record written moves it."""
    from models import auth
    from models.store.queries import data_version

    auth.add_user("nora", "nurse", "correct horse battery staple", actor="t", url=db_url)
    before = data_version(db_url)
    assert auth.sign_in("nora", "correct horse battery staple", url=db_url).user is not None
    assert data_version(db_url) == before
    patient = records.create("patient", {"mrn": "V-1", "name": "Versioned", "treatment_start": START}, ADMIN,
                             today=TODAY, url=db_url)
    assert data_version(db_url) > before
    moved = data_version(db_url)
    records.update("patient", patient["id"], 1, {"notes": "changed"}, ADMIN, today=TODAY, url=db_url)
    assert data_version(db_url) > moved
