"""finding reviews

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:48:54.187426
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('finding_review',
    sa.Column('record_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entered_in_error_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.CheckConstraint("decision IN ('accepted', 'justified')", name=op.f('ck_finding_review_decision')),
    sa.CheckConstraint("record_status IN ('active', 'entered_in_error')", name=op.f('ck_finding_review_record_status')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_finding_review_version_positive')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_finding_review_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_review'))
    )
    with op.batch_alter_table('finding_review', schema=None) as batch_op:
        batch_op.create_index('ix_finding_review_key', ['finding_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_review_patient_id'), ['patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('finding_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_review_patient_id'))
        batch_op.drop_index('ix_finding_review_key')

    op.drop_table('finding_review')
