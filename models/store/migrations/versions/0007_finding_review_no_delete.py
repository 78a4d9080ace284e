"""A pharmacist's finding review is never deleted either (it is corrected by a new version), enforced by the
database like the clinical rows (0002).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME, TABLE = "no_delete_finding_review", "finding_review"
MESSAGE = "finding reviews are never deleted; record a new review instead"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # toxwatch_refuse() comes from 0002
        op.execute(f"CREATE TRIGGER {NAME} BEFORE DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION toxwatch_refuse('{MESSAGE}')")
        return
    op.execute(f"CREATE TRIGGER {NAME} BEFORE DELETE ON {TABLE} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP TRIGGER {NAME} ON {TABLE}" if postgres else f"DROP TRIGGER {NAME}")
