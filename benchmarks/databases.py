"""The databases a run measures: a seeded SQLite file and, optionally, PostgreSQL; and the machine's facts."""
from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from models.demo import is_demo_database, patient_count, seed_demo
from models.settings import PROJECT_ROOT, masked_url
from models.store import queries
from models.store.db import dispose_engine, get_engine
from models.store.migrate import upgrade_to_head

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
SEED = 7
PG_DATABASE = "toxwatch_bench"


class SetupError(RuntimeError):
    """The database cannot be used for the run; the message says why and what to do."""


@dataclass
class Database:
    name: str            # "sqlite" / "postgresql"
    label: str           # for the table heading
    url: str
    seeded: dict = field(default_factory=dict)   # how it was prepared, seed time, row counts
    cleanup: list = field(default_factory=list)  # callables run at the end

    def close(self) -> None:
        dispose_engine(self.url)
        for action in reversed(self.cleanup):
            action()


def _sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def sqlite_database(path: str | None, patients: int, reuse: bool) -> Database:
    """A SQLite file with the cohort: reused when asked and seeded for `patients`; else newly seeded."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    temporary = False
    if path is None:
        if reuse:
            chosen = RESULTS_DIR / f"toxwatch_{patients}.db"
        else:
            handle, name = tempfile.mkstemp(prefix="toxwatch_bench_", suffix=".db", dir=RESULTS_DIR)
            os.close(handle)
            os.unlink(name)
            chosen, temporary = Path(name), True
    else:
        chosen = Path(path).resolve()
    url = f"sqlite:///{chosen}"
    database = Database("sqlite", f"SQLite {sqlite3.sqlite_version} ({_shown_path(chosen)})", url)
    if temporary:
        database.cleanup.append(lambda: [p.unlink(missing_ok=True) for p in _sqlite_files(chosen)])
    if chosen.exists() and not reuse:
        raise SetupError(f"{chosen} exists; pass --reuse to measure it as it is, or delete it to seed anew.")
    _prepare(database, patients, reuse and chosen.exists())
    return database


def postgres_database(url: str, patients: int, reuse: bool) -> Database:
    database = Database("postgresql", f"PostgreSQL ({masked_url(url)})", url)
    _prepare(database, patients, reuse)
    return database


def temporary_postgres(patients: int) -> Database:
    """Start a TemporaryPostgres (tests/support) for the run; stopped and removed at the end."""
    from tests.support.pg_server import TemporaryPostgres, postgres_unavailable_reason

    reason = postgres_unavailable_reason()
    if reason:
        raise SetupError(f"--start-postgres: {reason}")
    server = TemporaryPostgres().start()
    try:
        url = server.create_database(PG_DATABASE)
    except BaseException:
        server.stop()
        raise
    database = Database("postgresql", f"PostgreSQL (temporary server, 127.0.0.1:{server.port})", url)
    database.cleanup.append(server.stop)
    database.seeded["server"] = ("temporary TemporaryPostgres (fsync=off, synchronous_commit=off, "
                                 "full_page_writes=off)")
    try:
        _prepare(database, patients, reuse=False)
    except BaseException:
        database.close()
        raise
    return database


def _prepare(database: Database, patients: int, reuse: bool) -> None:
    url = database.url
    started = time.perf_counter()
    upgrade_to_head(url)
    schema_s = time.perf_counter() - started
    existing = patient_count(url)
    if existing:
        if not reuse:
            raise SetupError(f"{masked_url(url)} already holds {existing} patients; pass --reuse to measure it "
                             "as it is, or give an empty database.")
        if existing != patients or not is_demo_database(url):
            raise SetupError(f"--reuse: {masked_url(url)} holds {existing} patients (demo: "
                             f"{is_demo_database(url)}), not the {patients}-patient demo cohort asked for.")
        database.seeded.update(reused=True, seed_s=None)
    else:
        started = time.perf_counter()
        result = seed_demo(url, patients=patients, seed=SEED, registry=True)
        database.seeded.update(reused=False, seed_s=round(time.perf_counter() - started, 2),
                               seeded_rows={"patients": result.patients, "adverse_events": result.adverse_events,
                                            "labs": result.labs, "doses": result.doses})
    if database.name == "postgresql":
        # What autovacuum does some minutes after a bulk load; measuring while it churns through 1.7 million
        # new rows would measure the background job, not the app.
        started = time.perf_counter()
        with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        database.seeded["vacuum_s"] = round(time.perf_counter() - started, 2)
    database.seeded["schema_s"] = round(schema_s, 2)
    database.seeded["rows"] = queries.table_counts(url)
    database.seeded["summary_rows"] = _scalar(url, "SELECT COUNT(*) FROM term_onset_summary")
    database.seeded["server_version"] = server_version(url)
    if database.name == "sqlite":
        path = Path(get_engine(url).url.database)
        database.seeded["file_mb"] = round(sum(p.stat().st_size for p in _sqlite_files(path) if p.exists())
                                           / 1e6, 1)


def _scalar(url: str, sql: str):
    with get_engine(url).connect() as connection:
        return connection.execute(text(sql)).scalar()


def server_version(url: str) -> str:
    if url.startswith("sqlite"):
        return _scalar(url, "SELECT sqlite_version()")
    return _scalar(url, "SHOW server_version")


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def machine_facts() -> dict:
    import pandas
    import sqlalchemy
    import streamlit

    facts = {
        "when_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "streamlit": streamlit.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "load_start": load_average(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    try:
        import psycopg

        facts["psycopg"] = psycopg.__version__
    except ImportError:
        pass
    return facts


def load_average() -> str | None:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
