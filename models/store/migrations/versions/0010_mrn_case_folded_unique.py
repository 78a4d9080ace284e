"""Two MRNs that differ only in case are one patient: the write path refuses the second (record_checks), and
this index refuses it too when two users register them at the same moment (both past that check).

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "uq_patient_mrn_folded"  # records._refusal names the MRN for any "uq_patient_mrn..." violation


def upgrade() -> None:
    op.execute(f"CREATE UNIQUE INDEX {NAME} ON patient (lower(mrn))")


def downgrade() -> None:
    op.execute(f"DROP INDEX {NAME}")
