"""Schema edits that Alembic's batch mode would do by copying a table: kept here so that migrations share one
tested way to widen the list of values a CHECK constraint allows."""
from __future__ import annotations

from alembic import op
from sqlalchemy import text


def values_condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def replace_check(table: str, name: str, old: str, new: str) -> None:
    """Replace the CHECK condition `old` of `table` by `new`. PostgreSQL replaces the constraint. SQLite cannot
    alter a constraint; a change that only admits more rows edits the table's stored definition in place, the
    documented way for such a change (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema
    Changes"): the table, its triggers and its rows stay as they are."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({new})")
        return
    definition = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
                                    {"table": table}).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"{table}'s definition does not hold {old!r} once; not changed")
    version = connection.execute(text("PRAGMA schema_version")).scalar_one()
    connection.execute(text("PRAGMA writable_schema = ON"))
    connection.execute(text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :table"),
                       {"sql": definition.replace(old, new), "table": table})
    connection.execute(text(f"PRAGMA schema_version = {int(version) + 1}"))
    connection.execute(text("PRAGMA writable_schema = OFF"))
    problems = connection.execute(text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"integrity check after editing {table}: {problems}")
