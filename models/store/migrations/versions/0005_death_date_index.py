"""Index the few adverse events that carry a date of death (cohort follow-up reads them on every analysis).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: almost every event has no death date, so the index stays tiny.
    op.create_index("ix_adverse_event_death_date", "adverse_event", ["patient_id", "death_date"],
                    postgresql_where=sa.text("death_date IS NOT NULL"),
                    sqlite_where=sa.text("death_date IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_adverse_event_death_date", table_name="adverse_event")
