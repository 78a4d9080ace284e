"""The last countable day on the onset summary, and an index the cohort counts read alone.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("term_onset_summary") as batch:
        batch.add_column(sa.Column("counted_until", sa.Date(), nullable=True))
    # Fill it from the dose records already there (plain SQL: this migration must not depend on later code).
    plus_30_days = "date(MIN(d.effective_date), '+30 days')" if op.get_bind().dialect.name == "sqlite" \
        else "MIN(d.effective_date) + 30"
    op.execute(f"""
        UPDATE term_onset_summary SET counted_until = (
            SELECT {plus_30_days} FROM dose_event d
            WHERE d.patient_id = term_onset_summary.patient_id AND d.record_status = 'active'
                  AND d.action = 'discontinue')
    """)
    op.create_index("ix_term_onset_summary_counts", "term_onset_summary",
                    ["term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "counted_until"])


def downgrade() -> None:
    op.drop_index("ix_term_onset_summary_counts", table_name="term_onset_summary")
    with op.batch_alter_table("term_onset_summary") as batch:
        batch.drop_column("counted_until")
