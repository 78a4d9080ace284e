"""A data version that moves in commit order: one counter row, bumped by the database in every transaction
that writes a record. Pages key their caches on it. max(audit_entry.id) did not do: PostgreSQL hands out
sequence ids at insert time, so a transaction that began first and committed last could add an older id
than one another app instance had already read, and that instance kept serving the page without it.

On PostgreSQL the bump takes the counter row's lock until commit, so two writers bump it one after the
other, in the order they commit. SQLite has one writer at a time anyway.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

VERSIONED_TABLES = ("patient", "adverse_event", "lab_result", "dose_event", "finding_review")
BUMP = "UPDATE data_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table("data_version", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("version", sa.BigInteger, nullable=False),
                    sa.CheckConstraint("id = 1", name=op.f("ck_data_version_single_row")))
    op.execute("INSERT INTO data_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION toxwatch_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {BUMP};
                RETURN NULL;
            END $$;
        """)
        for table in VERSIONED_TABLES:  # once per statement: a 10,000-row import bumps it once
            op.execute(f"CREATE TRIGGER bump_data_version_{table} AFTER INSERT OR UPDATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION toxwatch_bump_data_version()")
        return
    for table in VERSIONED_TABLES:
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER bump_data_version_{table}_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN {BUMP}; END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in VERSIONED_TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER bump_data_version_{table} ON {table}")
        else:
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER bump_data_version_{table}_{event}")
    if postgres:
        op.execute("DROP FUNCTION toxwatch_bump_data_version()")
    op.drop_table("data_version")
