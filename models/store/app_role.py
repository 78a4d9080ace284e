"""PostgreSQL: the role the app runs as owns nothing and holds only the privileges it needs.

The owner role (the one `init` runs as) creates the tables and their guards; the app role can read, insert
and update, but cannot TRUNCATE, DELETE a record, rewrite the audit trail, disable a trigger (only an owner
can) or change the schema. `python -m models init --app-role NAME` creates the role or checks it, and grants
exactly the privileges below, again on every run (a new table of a later version gets them too).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql
from sqlalchemy import text

from models.store.db import get_engine, is_sqlite

# Privileges per table; every other table of the schema gets DEFAULT_PRIVILEGES.
DEFAULT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
TABLE_PRIVILEGES = {
    "audit_entry": ("SELECT", "INSERT"),              # append-only (the triggers of 0002 say so too)
    "monitoring_protocol_version": ("SELECT", "INSERT"),  # append-only (0015's triggers)
    "alembic_version": ("SELECT",),                   # the app checks the schema's revision, never moves it
    "term_onset_summary": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # derived rows, rebuilt by the write path
}
ALL_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class AppRoleError(ValueError):
    """The app role cannot be made safe as asked; the message is meant for the operator."""


@dataclass(frozen=True)
class AppRoleReport:
    role: str
    created: bool
    tables: int


def ensure_app_role(url: str | None, role: str, password: Callable[[], str]) -> AppRoleReport:
    """Create the login role `role` (asking `password()` only then) or check an existing one, grant it what
    the app needs on every table of the schema, and verify it can do nothing more."""
    engine = get_engine(url)
    if is_sqlite(engine):
        raise AppRoleError("An app role is a PostgreSQL feature; SQLite is a file the app owns.")
    if not _ROLE_NAME.fullmatch(role):
        raise AppRoleError("An app role name is 1-63 lower-case letters, digits or underscores.")
    with engine.begin() as connection:
        owner = connection.execute(text("SELECT current_user")).scalar_one()
        if role == owner:
            raise AppRoleError(f"The app role must not be the owner role {owner!r} that runs init.")
        created = _create_or_check(connection, role, password)
        tables = _grant(connection, role)
        _verify(connection, role, tables)
    return AppRoleReport(role, created, len(tables))


def _create_or_check(connection, role: str, password: Callable[[], str]) -> bool:
    found = connection.execute(text(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, "
        "pg_has_role(:role, current_user, 'USAGE') FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if found is None:
        secret = password()
        if not secret:
            raise AppRoleError(f"A password is needed to create the app role {role!r}.")
        # A utility statement takes no bound parameters: psycopg quotes the literal.
        _run(connection, "CREATE ROLE {role} LOGIN PASSWORD {password}", role=sql.Identifier(role),
             password=sql.Literal(secret))
        return True
    powers = [name for name, held in zip(("SUPERUSER", "CREATEROLE", "CREATEDB", "BYPASSRLS", "REPLICATION",
                                          "membership of the owner role"), found) if held]
    if powers:
        raise AppRoleError(f"The app role {role!r} has {', '.join(powers)}; it must hold only table privileges. "
                           "Use another role, or remove those with ALTER ROLE / REVOKE.")
    owned = connection.execute(text(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :role "
        "AND c.relnamespace = current_schema()::regnamespace"), {"role": role}).scalar_one()
    if owned:
        raise AppRoleError(f"The app role {role!r} owns {owned} objects of this schema; it must own nothing.")
    return False


def _grant(connection, role: str) -> list[str]:
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    database = connection.execute(text("SELECT current_database()")).scalar_one()
    tables = list(connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"), {"schema": schema}).scalars())
    names = {"role": sql.Identifier(role), "schema": sql.Identifier(schema), "database": sql.Identifier(database)}
    for statement in ("REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
                      "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
                      "GRANT CONNECT ON DATABASE {database} TO {role}",
                      "GRANT USAGE ON SCHEMA {schema} TO {role}",
                      "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"):
        _run(connection, statement, **names)
    for table in tables:
        privileges = sql.SQL(", ").join(map(sql.SQL, TABLE_PRIVILEGES.get(table, DEFAULT_PRIVILEGES)))
        _run(connection, "GRANT {privileges} ON {schema}.{table} TO {role}", privileges=privileges,
             table=sql.Identifier(table), **names)
    # PostgreSQL before 15 lets every role create tables in the public schema.
    if connection.execute(text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
                          {"role": role, "schema": schema}).scalar_one():
        _run(connection, "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC", **names)
    return tables


def _run(connection, template: str, **parts) -> None:
    """A utility statement built with psycopg's quoting, on the transaction's own driver connection."""
    statement = sql.SQL(template).format(**parts)
    connection.connection.driver_connection.execute(statement)


def _verify(connection, role: str, tables: list[str]) -> None:
    """Read the privileges back from the server: exactly the ones granted, none more."""
    extra = []
    for table in tables:
        allowed = set(TABLE_PRIVILEGES.get(table, DEFAULT_PRIVILEGES))
        for privilege in ALL_TABLE_PRIVILEGES:
            held = connection.execute(text("SELECT has_table_privilege(:role, :table, :privilege)"),
                                      {"role": role, "table": table, "privilege": privilege}).scalar_one()
            if held != (privilege in allowed):
                extra.append(f"{table}: {privilege} {'held' if held else 'missing'}")
    if connection.execute(text("SELECT has_schema_privilege(:role, current_schema(), 'CREATE')"),
                          {"role": role}).scalar_one():
        extra.append("the schema: CREATE held")
    if extra:
        raise AppRoleError(f"The app role {role!r} does not have exactly the app's privileges (through PUBLIC "
                           f"or another role): {'; '.join(extra)}.")
