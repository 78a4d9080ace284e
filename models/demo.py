"""Loading the synthetic demo cohort into an empty database, and the demo-mode flag."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select, text
from sqlmodel import SQLModel

from models.auth import create_demo_users
from models.clinical.vocabulary import ROLES
from models.store import summary as onset_summary
from models.store.db import read_session, write_session
from models.store.tables import (AdverseEvent, AppSetting, AuditEntry, ConcomitantMedication, DoseEvent, LabResult,
                                 Patient, User, fixed_defaults, utc_now)

DEMO_MODE_KEY = "demo_mode"
_BATCH = 5_000


class DatabaseNotEmptyError(RuntimeError):
    pass


@dataclass(frozen=True)
class SeedSummary:
    patients: int
    adverse_events: int
    labs: int
    doses: int


def is_demo_database(url: str | None = None) -> bool:
    with read_session(url) as session:
        setting = session.get(AppSetting, DEMO_MODE_KEY)
        return setting is not None and setting.value == "true"


def is_empty(url: str | None = None) -> bool:
    """No patient and no account: the only kind of database the demo may fill."""
    with read_session(url) as session:
        return not session.scalar(select(func.count()).select_from(Patient)) and \
            not session.scalar(select(func.count()).select_from(User))


def demo_accounts_exist(url: str | None = None) -> bool:
    """The database is a demo and its demo accounts (password "demo") are still there and enabled: only then
    may the sign-in page mention them."""
    with read_session(url) as session:
        setting = session.get(AppSetting, DEMO_MODE_KEY)
        if setting is None or setting.value != "true":
            return False
        names = session.exec(select(User.username).where(User.username.in_(ROLES), User.active.is_(True))).all()
        return len(names) > 0


def patient_count(url: str | None = None) -> int:
    with read_session(url) as session:
        return session.scalar(select(func.count()).select_from(Patient)) or 0


def seed_demo(url: str | None = None, *, patients: int = 120, seed: int = 7,
              today: date | None = None, registry: bool = False) -> SeedSummary:
    """Fill an empty database with the demo cohort and the demo accounts in one transaction; refuse one that
    holds patients or accounts (demo accounts, with their published password, never join real ones)."""
    from seed_data.demo_cohort import SEED_USER, generate

    cohort = generate(patients=patients, seed=seed, today=today, registry=registry)
    with write_session(url) as session:
        existing = session.scalar(select(func.count()).select_from(Patient))
        if existing:
            raise DatabaseNotEmptyError(
                f"The database already holds {existing} patients; seed-demo only fills an empty database.")
        accounts = session.scalar(select(func.count()).select_from(User))
        if accounts:
            raise DatabaseNotEmptyError(
                f"The database already has {accounts} account{'s' * (accounts != 1)}; seed-demo only fills a "
                "database with no accounts and no patients (its demo accounts share the password 'demo').")
        connection = session.connection()
        for table, rows in ((Patient, cohort.patients), (AdverseEvent, cohort.adverse_events),
                            (LabResult, cohort.labs), (DoseEvent, cohort.doses),
                            (ConcomitantMedication, cohort.medications)):
            _bulk_insert(connection, table, rows, {"created_by": SEED_USER, "created_at": utc_now()})
        if connection.dialect.name == "postgresql":
            # Ids were given explicitly: move each sequence past them.
            for table in ("patient", "adverse_event", "lab_result", "dose_event", "concomitant_medication"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
        onset_summary.rebuild(session)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")  # plans for the new row counts now, not when autovacuum runs
        session.merge(AppSetting(key=DEMO_MODE_KEY, value="true"))
        create_demo_users(session)
        summary = SeedSummary(len(cohort.patients), len(cohort.adverse_events), len(cohort.labs),
                              len(cohort.doses))
        session.add(AuditEntry(username=SEED_USER, action="seed_demo",
                               detail=json.dumps({"seed": seed, **summary.__dict__})))
    return summary


def _bulk_insert(connection, table: type[SQLModel], rows: list[dict], common: dict) -> None:
    """Insert many rows (all with the same keys), each with `common` and the table's defaults for what it
    leaves out: PostgreSQL's COPY (an INSERT per row is ~10x slower there), batched INSERTs on SQLite."""
    if not rows:
        return
    fixed = fixed_defaults(table) | common
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), _BATCH):
            connection.execute(insert(table), [fixed | row for row in rows[start:start + _BATCH]])
        return
    names = [name for name in table.model_fields if name in rows[0] or name in fixed]
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    cursor = connection.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {table.__tablename__} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] if name in row else fixed[name] for name in names])
