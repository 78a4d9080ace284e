"""The onset summary loses counted_until and the index built for counting with it: which onsets are
treatment-emergent now follows from each patient's exposure periods (models/clinical/exposure.py: the last
dose day, a hold before the stop, a restart), which one date per patient cannot hold.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_term_onset_summary_counts", table_name="term_onset_summary")
    with op.batch_alter_table("term_onset_summary") as batch:
        batch.drop_column("counted_until")


def downgrade() -> None:
    with op.batch_alter_table("term_onset_summary") as batch:
        batch.add_column(sa.Column("counted_until", sa.Date(), nullable=True))
    op.create_index("ix_term_onset_summary_counts", "term_onset_summary",
                    ["term", "first_onset", "first_onset_grade_2", "first_onset_grade_3", "counted_until"])
