"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 12:16:44.095467
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_setting',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_app_setting'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_sign_ins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("role IN ('nurse', 'oncologist', 'pharmacist', 'admin')", name=op.f('ck_app_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('record_type', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_audit_entry_record', ['record_type', 'record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_username'), ['username'], unique=False)

    op.create_table('patient',
    sa.Column('record_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entered_in_error_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('treatment_start', sa.Date(), nullable=False),
    sa.Column('planned_dose_mg', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('dexamethasone_prophylaxis', sa.Boolean(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.CheckConstraint("record_status IN ('active', 'entered_in_error')", name=op.f('ck_patient_record_status')),
    sa.CheckConstraint("status IN ('on_treatment', 'held', 'discontinued')", name=op.f('ck_patient_status')),
    sa.CheckConstraint('planned_dose_mg > 0 AND planned_dose_mg <= 20', name=op.f('ck_patient_planned_dose_range')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_patient_version_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient')),
    sa.UniqueConstraint('mrn', name=op.f('uq_patient_mrn'))
    )
    op.create_table('adverse_event',
    sa.Column('record_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entered_in_error_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('term', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('meddra_code', sa.Integer(), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('resolved_date', sa.Date(), nullable=True),
    sa.Column('death_date', sa.Date(), nullable=True),
    sa.Column('serious', sa.Boolean(), nullable=False),
    sa.Column('attribution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('action_taken', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('baseline', sa.Boolean(), nullable=False),
    sa.Column('previous_event_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.CheckConstraint("action_taken IS NULL OR action_taken IN ('none', 'held', 'reduced', 'discontinued')", name=op.f('ck_adverse_event_action_taken')),
    sa.CheckConstraint("attribution IS NULL OR attribution IN ('unrelated', 'unlikely', 'possible', 'probable', 'definite')", name=op.f('ck_adverse_event_attribution')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('recovering', 'recovered', 'recovered_with_sequelae', 'not_recovered', 'fatal', 'unknown')", name=op.f('ck_adverse_event_outcome')),
    sa.CheckConstraint("record_status IN ('active', 'entered_in_error')", name=op.f('ck_adverse_event_record_status')),
    sa.CheckConstraint("source IN ('reported', 'lab')", name=op.f('ck_adverse_event_source')),
    sa.CheckConstraint('grade < 5 OR death_date IS NOT NULL', name=op.f('ck_adverse_event_grade5_death_date')),
    sa.CheckConstraint('grade BETWEEN 1 AND 5', name=op.f('ck_adverse_event_grade_range')),
    sa.CheckConstraint('resolved_date IS NULL OR resolved_date >= onset_date', name=op.f('ck_adverse_event_resolution_order')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_adverse_event_version_positive')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_adverse_event_patient_id_patient')),
    sa.ForeignKeyConstraint(['previous_event_id'], ['adverse_event.id'], name=op.f('fk_adverse_event_previous_event_id_adverse_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_event'))
    )
    with op.batch_alter_table('adverse_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_adverse_event_patient_term', ['patient_id', 'term'], unique=False)

    op.create_table('lab_result',
    sa.Column('record_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entered_in_error_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('test', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('lln', sa.Float(), nullable=True),
    sa.Column('uln', sa.Float(), nullable=True),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('baseline', sa.Boolean(), nullable=False),
    sa.Column('ctcae_term', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('ctcae_grade', sa.Integer(), nullable=True),
    sa.CheckConstraint("record_status IN ('active', 'entered_in_error')", name=op.f('ck_lab_result_record_status')),
    sa.CheckConstraint("test IN ('hemoglobin', 'ast', 'alt', 'glucose_fasting', 'platelets', 'neutrophils')", name=op.f('ck_lab_result_test')),
    sa.CheckConstraint('ctcae_grade IS NULL OR ctcae_grade BETWEEN 0 AND 4', name=op.f('ck_lab_result_ctcae_grade_range')),
    sa.CheckConstraint('value >= 0', name=op.f('ck_lab_result_value_non_negative')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_lab_result_version_positive')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_lab_result_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_result'))
    )
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_result_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_lab_result_patient_test_date', ['patient_id', 'test', 'collected_on'], unique=False)

    op.create_table('dose_event',
    sa.Column('record_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entered_in_error_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('dose_mg', sa.Float(), nullable=False),
    sa.Column('every_other_day', sa.Boolean(), nullable=False),
    sa.Column('adverse_event_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('verified_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(action IN ('hold', 'discontinue')) = (dose_mg = 0)", name=op.f('ck_dose_event_zero_dose_only_off_drug')),
    sa.CheckConstraint("action IN ('start', 'hold', 'resume', 'reduce', 'escalate', 'discontinue')", name=op.f('ck_dose_event_action')),
    sa.CheckConstraint("record_status IN ('active', 'entered_in_error')", name=op.f('ck_dose_event_record_status')),
    sa.CheckConstraint('dose_mg >= 0 AND dose_mg <= 20', name=op.f('ck_dose_event_dose_range')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_dose_event_version_positive')),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_event.id'], name=op.f('fk_dose_event_adverse_event_id_adverse_event')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_dose_event_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dose_event'))
    )
    with op.batch_alter_table('dose_event', schema=None) as batch_op:
        batch_op.create_index('ix_dose_event_patient_date', ['patient_id', 'effective_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_dose_event_patient_id'), ['patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dose_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dose_event_patient_id'))
        batch_op.drop_index('ix_dose_event_patient_date')

    op.drop_table('dose_event')
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.drop_index('ix_lab_result_patient_test_date')
        batch_op.drop_index(batch_op.f('ix_lab_result_patient_id'))

    op.drop_table('lab_result')
    with op.batch_alter_table('adverse_event', schema=None) as batch_op:
        batch_op.drop_index('ix_adverse_event_patient_term')
        batch_op.drop_index(batch_op.f('ix_adverse_event_patient_id'))

    op.drop_table('adverse_event')
    op.drop_table('patient')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_username'))
        batch_op.drop_index('ix_audit_entry_record')
        batch_op.drop_index(batch_op.f('ix_audit_entry_patient_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))

    op.drop_table('audit_entry')
    op.drop_table('app_user')
    op.drop_table('app_setting')
