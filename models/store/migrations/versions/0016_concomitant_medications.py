"""Concomitant medications: a record per medicine and course (never deleted, moves the data version). The
patient's yes/no "dexamethasone mouthwash" flag becomes a record: a patient flagged yes gets a "Dexamethasone
mouthwash" record starting on the treatment start (the flag meant prophylaxis from the start; SWISH starts it on
day 1) with no stop date, since none was recorded, and a note saying where it came from. "No" and "not recorded"
leave no record. Each migrated record has its audit entry, by the migration. Then the flag column goes.

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLE = "concomitant_medication"
NO_DELETE = "no_delete_concomitant_medication"
MESSAGE = "clinical records are never deleted; mark them entered in error instead"
BUMP = "UPDATE data_version SET version = version + 1 WHERE id = 1"
ROUTES = ("oral", "oral_rinse", "intravenous", "intramuscular", "subcutaneous", "inhaled", "intranasal", "topical",
          "transdermal", "other")
MIGRATION_USER = "migration-0016"
MOUTHWASH = "Dexamethasone mouthwash"  # its name in seed_data/medications.csv
MIGRATED_NOTE = ("Recorded from the patient's former yes/no 'Dexamethasone mouthwash' flag: start taken as the "
                 "treatment start; the stop date was not recorded.")


def upgrade() -> None:
    routes = ", ".join(f"'{r}'" for r in ROUTES)
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
        sa.Column("drug", sa.String(length=200), nullable=False),
        sa.Column("in_catalogue", sa.Boolean(), nullable=False),
        sa.Column("dose", sa.String(length=100), nullable=True),
        sa.Column("route", sa.String(length=20), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("stop_date", sa.Date(), nullable=True),
        sa.Column("indication", sa.String(length=200), nullable=True),
        sa.Column("adverse_event_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint("stop_date IS NULL OR stop_date >= start_date",
                           name=op.f("ck_concomitant_medication_stop_after_start")),
        sa.CheckConstraint(f"route IS NULL OR route IN ({routes})", name=op.f("ck_concomitant_medication_route")),
        sa.CheckConstraint("record_status IN ('active', 'entered_in_error')",
                           name=op.f("ck_concomitant_medication_record_status")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_concomitant_medication_version_positive")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"],
                                name=op.f("fk_concomitant_medication_patient_id_patient")),
        sa.ForeignKeyConstraint(["adverse_event_id"], ["adverse_event.id"],
                                name=op.f("fk_concomitant_medication_adverse_event_id_adverse_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concomitant_medication")),
    )
    op.create_index("ix_concomitant_medication_patient_start", TABLE, ["patient_id", "start_date"])
    op.create_index(op.f("ix_concomitant_medication_patient_id"), TABLE, ["patient_id"])
    if op.get_bind().dialect.name == "postgresql":  # toxwatch_refuse() from 0002, the bump function from 0008
        op.execute(f"CREATE TRIGGER {NO_DELETE} BEFORE DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION toxwatch_refuse('{MESSAGE}')")
        op.execute(f"CREATE TRIGGER bump_data_version_{TABLE} AFTER INSERT OR UPDATE ON {TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION toxwatch_bump_data_version()")
    else:
        op.execute(f"CREATE TRIGGER {NO_DELETE} BEFORE DELETE ON {TABLE} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER bump_data_version_{TABLE}_{event.lower()} AFTER {event} ON {TABLE} "
                       f"BEGIN {BUMP}; END")
    _records_from_flag()
    # Not batch mode: it would copy the patient table and lose its triggers. SQLite 3.35+ drops a plain column.
    op.drop_column("patient", "dexamethasone_prophylaxis")


def _records_from_flag() -> None:
    connection = op.get_bind()
    patient = sa.table("patient", sa.column("id", sa.Integer), sa.column("treatment_start", sa.Date),
                       sa.column("dexamethasone_prophylaxis", sa.Boolean))
    flagged = connection.execute(sa.select(patient.c.id, patient.c.treatment_start)
                                 .where(patient.c.dexamethasone_prophylaxis.is_(True)).order_by(patient.c.id)).all()
    # Typed, so dates and times are stored as SQLAlchemy stores them on each backend.
    medication = sa.table(TABLE, sa.column("id", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)),
                          sa.column("start_date", sa.Date), sa.column("in_catalogue", sa.Boolean),
                          *(sa.column(c) for c in ("record_status", "version", "created_by", "patient_id", "drug",
                                                   "route", "indication", "notes")))
    audit = sa.table("audit_entry", sa.column("at", sa.DateTime(timezone=True)), *(sa.column(c) for c in (
        "username", "action", "record_type", "record_id", "patient_id", "before", "after", "detail")))
    now = datetime.now(timezone.utc)
    for patient_id, start in flagged:
        values = {"record_status": "active", "version": 1, "created_by": MIGRATION_USER, "created_at": now,
                  "patient_id": patient_id, "drug": MOUTHWASH, "in_catalogue": True, "route": "oral_rinse",
                  "start_date": start, "indication": "Stomatitis prophylaxis", "notes": MIGRATED_NOTE}
        record_id = connection.execute(medication.insert().values(**values).returning(medication.c.id)).scalar_one()
        after = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()} | {"id": record_id}
        connection.execute(audit.insert().values(
            at=now, username=MIGRATION_USER, action="create", record_type=TABLE, record_id=record_id,
            patient_id=patient_id, before=None, after=json.dumps(after, sort_keys=True),
            detail="migration 0016: the dexamethasone mouthwash flag became a medication record"))


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text(
        f"SELECT count(*) FROM {TABLE} WHERE created_by <> '{MIGRATION_USER}'")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} medication records are stored; they are records and are not dropped")
    op.add_column("patient", sa.Column("dexamethasone_prophylaxis", sa.Boolean(), nullable=True))
    op.execute(f"UPDATE patient SET dexamethasone_prophylaxis = TRUE WHERE id IN (SELECT patient_id FROM {TABLE} "
               f"WHERE created_by = '{MIGRATION_USER}' AND record_status = 'active')")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {NO_DELETE} ON {TABLE}")
        op.execute(f"DROP TRIGGER bump_data_version_{TABLE} ON {TABLE}")
    op.drop_table(TABLE)
