"""Sign-in throttling in the database, per username and per client address (models/store/sign_in_throttle.py);
the per-account lock-out columns go. Counting unknown usernames in process memory made a restart or a
second app instance behave differently from a real account.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("sign_in_throttle",
                    sa.Column("key", sa.String(300), nullable=False),
                    sa.Column("failures", sa.Integer, nullable=False),
                    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")))
    with op.batch_alter_table("app_user") as table:
        table.drop_column("failed_sign_ins")
        table.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.add_column(sa.Column("failed_sign_ins", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("sign_in_throttle")
