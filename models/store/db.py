"""Engine and sessions.

One engine per database URL per process (cached); callers open a short session per action.
SQLite gets WAL, foreign keys and a busy timeout on every connection, and write transactions start with
BEGIN IMMEDIATE so that a read-then-write transaction cannot fail half way with "database is locked".
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.engine import make_url
from sqlmodel import Session

from models.settings import database_url

SQLITE_BUSY_TIMEOUT_MS = 15_000
PING_AFTER_IDLE_S = 1.0
_WRITE_OPTION = "toxwatch_write"
# PostgreSQL: deadlock, serialization failure, lock not available, statement cancelled (a time-out): the
# server is there, the transaction lost to another one and can simply be run again.
WAIT_AND_RETRY_STATES = {"40P01", "40001", "55P03", "57014"}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or is locked; the message is meant for the user."""


def database_problem(error: Exception) -> str:
    """A user-facing sentence for a connection failure or a lock time-out (never the raw driver text)."""
    original = getattr(error, "orig", error)
    text = str(original).lower()
    if "locked" in text or "busy" in text or getattr(original, "sqlstate", None) in WAIT_AND_RETRY_STATES:
        return ("The database is busy with other changes (they got in each other's way or took too long); "
                "nothing was saved. Your entry is still here: try again in a moment.")
    return ("The database cannot be reached right now; nothing was saved. Your entry is still here: try again "
            "when the connection is back.")


IN_LIST_SIZE = 500  # values per "IN (...)" list: far below SQLite's 32,766 parameters, few statements


def in_lists(values: list) -> Iterator[list]:
    """`values` in slices for statements with an IN list."""
    for start in range(0, len(values), IN_LIST_SIZE):
        yield values[start:start + IN_LIST_SIZE]


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def get_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def dispose_engine(url: str | None = None) -> None:
    """Close and forget the engine of a URL (tests use this when they drop a database)."""
    url = database_url(url)
    with _engines_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: str) -> Engine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    # hide_parameters: an error message or log line never carries a statement's values (a password hash, say)
    engine = create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Like pool_pre_ping, but only for a connection that sat unused in the pool for a while: pinging on
    every checkout costs a round trip per save, and a connection used a moment ago is alive. A dead one (the
    server restarted) is replaced before the page uses it; should the server restart within that moment,
    the next write is refused with a clear message and the one after works."""
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        checked_in_at = record.info.get("checked_in_at")  # None: just connected
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool drops this connection and opens a fresh one
            raise DisconnectionError(f"stale pooled connection: {error}") from error


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writes can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # REPLACE deletes the row it replaces; only with recursive triggers does that delete meet the
        # no-delete guards (INSERT OR REPLACE would otherwise rewrite an audit entry or a clinical row).
        cursor.execute("PRAGMA recursive_triggers=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster commits
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A short read-only session; ORM objects must not leave it (return plain data instead)."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        yield session


_sqlite_writers: dict[str, threading.Lock] = {}


@contextmanager
def write_session(url: str | None = None) -> Iterator[Session]:
    """A write transaction: committed when the block ends, rolled back on any exception."""
    base = get_engine(url)
    engine = base.execution_options(**{_WRITE_OPTION: True})
    if not is_sqlite(base):
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
        return
    # SQLite allows one writer at a time. Writers of this process queue on a lock that wakes the next one
    # as soon as the database is free, instead of sleeping in SQLite's busy handler (long tail latencies);
    # other processes are still kept apart by BEGIN IMMEDIATE and the busy timeout.
    with _engines_lock:
        lock = _sqlite_writers.setdefault(str(base.url), threading.Lock())
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked (busy with other writes)"))
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    finally:
        lock.release()
