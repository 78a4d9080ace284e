"""Monitoring protocol versions: an admin's edit of the monitoring protocol is a new version, never a change of
an old one (append-only, like the audit trail), and moves the data version.

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLE = "monitoring_protocol_version"
MESSAGE = "monitoring protocol versions are never changed or deleted; save a new version instead"
BUMP = "UPDATE data_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_protocol_version")),
    )
    if op.get_bind().dialect.name == "postgresql":  # toxwatch_refuse() from 0002, the bump function from 0008
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER no_{event.lower()}_{TABLE} BEFORE {event} ON {TABLE} "
                       f"FOR EACH ROW EXECUTE FUNCTION toxwatch_refuse('{MESSAGE}')")
        op.execute(f"CREATE TRIGGER bump_data_version_{TABLE} AFTER INSERT ON {TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION toxwatch_bump_data_version()")
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER no_{event.lower()}_{TABLE} BEFORE {event} ON {TABLE} "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
    op.execute(f"CREATE TRIGGER bump_data_version_{TABLE}_insert AFTER INSERT ON {TABLE} BEGIN {BUMP}; END")


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} monitoring protocol versions are stored; they are not dropped")
    op.drop_table(TABLE)
