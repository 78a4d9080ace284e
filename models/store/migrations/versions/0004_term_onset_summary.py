"""term onset summary

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:02:34.537515
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('term_onset_summary',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('term', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('first_onset', sa.Date(), nullable=False),
    sa.Column('first_onset_grade_2', sa.Date(), nullable=True),
    sa.Column('first_onset_grade_3', sa.Date(), nullable=True),
    sa.Column('worst_grade', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_term_onset_summary_patient_id_patient')),
    sa.PrimaryKeyConstraint('patient_id', 'term', name=op.f('pk_term_onset_summary'))
    )
    # Fill it from the events already there (plain SQL: this migration must not depend on later code).
    op.execute("""
        INSERT INTO term_onset_summary (patient_id, term, first_onset, first_onset_grade_2,
                                        first_onset_grade_3, worst_grade)
        SELECT e.patient_id, e.term, MIN(e.onset_date),
               MIN(CASE WHEN e.grade >= 2 THEN e.onset_date END),
               MIN(CASE WHEN e.grade >= 3 THEN e.onset_date END), MAX(e.grade)
        FROM adverse_event e JOIN patient p ON p.id = e.patient_id
        WHERE e.record_status = 'active' AND e.baseline = false AND e.onset_date >= p.treatment_start
              AND p.record_status = 'active'
        GROUP BY e.patient_id, e.term
    """)


def downgrade() -> None:
    op.drop_table('term_onset_summary')
