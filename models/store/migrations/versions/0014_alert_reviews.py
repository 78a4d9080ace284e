"""Alert reviews: someone's acknowledgement or snooze of a worklist alert, a record like the others (never
deleted). A review does not move the data version: the alerts computed from the clinical records stay cached,
and the worklist applies the reviews, a cheap read, on every run.

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "alert_review"
NO_DELETE = "no_delete_alert_review"
MESSAGE = "alert reviews are never deleted; record a new review instead"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("record_status", sa.String(length=20), nullable=False),
        sa.Column("entered_in_error_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("record_type", sa.String(length=30), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("snooze_until", sa.Date(), nullable=True),
        sa.CheckConstraint("decision IN ('acknowledged', 'snoozed')", name=op.f("ck_alert_review_decision")),
        sa.CheckConstraint("decision <> 'snoozed' OR snooze_until IS NOT NULL",
                           name=op.f("ck_alert_review_snooze_has_end")),
        sa.CheckConstraint("record_status IN ('active', 'entered_in_error')",
                           name=op.f("ck_alert_review_record_status")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_alert_review_version_positive")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_alert_review_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_review")),
    )
    op.create_index("ix_alert_review_alert", TABLE, ["patient_id", "rule", "subject"])
    op.create_index(op.f("ix_alert_review_patient_id"), TABLE, ["patient_id"])
    if op.get_bind().dialect.name == "postgresql":  # toxwatch_refuse() from 0002
        op.execute(f"CREATE TRIGGER {NO_DELETE} BEFORE DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION toxwatch_refuse('{MESSAGE}')")
        return
    op.execute(f"CREATE TRIGGER {NO_DELETE} BEFORE DELETE ON {TABLE} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} alert reviews are stored; they are records and are not dropped")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {NO_DELETE} ON {TABLE}")
    op.drop_index(op.f("ix_alert_review_patient_id"), table_name=TABLE)
    op.drop_index("ix_alert_review_alert", table_name=TABLE)
    op.drop_table(TABLE)
