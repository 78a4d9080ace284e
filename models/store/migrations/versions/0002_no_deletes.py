"""Clinical rows are never deleted and the audit trail is append-only, enforced by the database.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CLINICAL_TABLES = ("patient", "adverse_event", "lab_result", "dose_event")
NO_DELETE = "clinical records are never deleted; mark them entered in error instead"
APPEND_ONLY = "the audit trail is append-only"


def _guards() -> list[tuple[str, str, str]]:
    """(trigger name, table, event, message) for every guarded operation."""
    guards = [(f"no_delete_{table}", table, "DELETE", NO_DELETE) for table in CLINICAL_TABLES]
    guards += [("no_update_audit_entry", "audit_entry", "UPDATE", APPEND_ONLY),
               ("no_delete_audit_entry", "audit_entry", "DELETE", APPEND_ONLY)]
    return guards


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION toxwatch_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '%', TG_ARGV[0];
            END $$;
        """)
        for name, table, event, message in _guards():
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION toxwatch_refuse('{message}')")
        return
    for name, table, event, message in _guards():
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, _event, _message in _guards():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION toxwatch_refuse()")
