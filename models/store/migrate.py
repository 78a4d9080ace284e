"""Schema upgrades with Alembic. The schema is never changed by create_all on a live database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from models.settings import database_url
from models.store.db import get_engine, write_session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be escaped for configparser (URL-encoded passwords).
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(url: str | None = None) -> bool:
    """Bring the schema to the newest revision. Returns True when something was applied."""
    if current_revision(url) == head_revision():
        return False
    config = alembic_config(url)
    # Two app processes may start at once: serialise them (BEGIN IMMEDIATE on SQLite, an advisory
    # lock on PostgreSQL) and look again under the lock.
    with write_session(url) as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")
        if MigrationContext.configure(connection).get_current_revision() == head_revision():
            return False
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True
