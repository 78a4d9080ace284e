"""Schema upgrades with Alembic. The schema is never changed by create_all on a live database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

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


def _may_change_schema(url: str | None) -> bool:
    with get_engine(url).connect() as connection:
        if connection.dialect.name != "postgresql":
            return True
        return bool(connection.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar())


def current_revision(url: str | None = None) -> str | None:
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class SchemaNeedsOwner(RuntimeError):
    """The schema is behind and the connected role may not change it (the app role on PostgreSQL)."""


def upgrade_to_head(url: str | None = None) -> bool:
    """Bring the schema to the newest revision. Returns True when something was applied."""
    current = current_revision(url)
    if current == head_revision():
        return False
    if not _may_change_schema(url):
        raise SchemaNeedsOwner(
            f"The database schema is at revision {current or 'none'} and this version of ToxWatch needs "
            f"{head_revision()}. The app's role may not change the schema: run `python -m models init` with the "
            "database owner's URL, then start the app again.")
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
