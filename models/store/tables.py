"""Database tables (SQLModel). Constraints live in the database too, as the last line of defence.

Clinical rows are never deleted: they carry `record_status` ("active" / "entered_in_error"), a `version`
for optimistic concurrency, and who created / last changed them and when.
"""
from __future__ import annotations

import functools
from datetime import date, datetime, timezone

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, MetaData, Text, text
from sqlmodel import Field, SQLModel

from models.clinical.vocabulary import (ACTIONS_TAKEN, AE_OUTCOMES, AE_SOURCES, ATTRIBUTIONS, DOSE_ACTIONS,
                                        ALERT_DECISIONS, FINDING_DECISIONS, LAB_TESTS, MEDICATION_ROUTES, PATIENT_STATUSES, RECORD_STATUSES, ROLES, sql_in)

# Stable constraint names, so Alembic migrations can refer to them on every backend.
SQLModel.metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@functools.cache
def fixed_defaults(table: type[SQLModel]) -> dict:
    """The fixed values a new row of `table` takes for the columns it is not given (a value from a default
    factory, such as created_at, is not fixed: the caller gives it)."""
    return {name: field.default for name, field in table.model_fields.items()
            if name != "id" and not field.is_required() and field.default_factory is None}


def _timestamp(nullable: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class ClinicalRecord(SQLModel):
    """Columns every clinical row carries."""
    record_status: str = Field(default="active", max_length=20)
    entered_in_error_reason: str | None = Field(default=None, sa_type=Text)
    version: int = Field(default=1)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


def _clinical_checks() -> tuple:
    return (
        CheckConstraint(sql_in("record_status", RECORD_STATUSES), name="record_status"),
        CheckConstraint("version >= 1", name="version_positive"),
    )


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint(sql_in("role", ROLES), name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    password_hash: str | None = Field(default=None, max_length=255)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    version: int = Field(default=1)


class Patient(ClinicalRecord, table=True):
    __table_args__ = (
        CheckConstraint(sql_in("status", PATIENT_STATUSES), name="status"),
        CheckConstraint("planned_dose_mg > 0 AND planned_dose_mg <= 20", name="planned_dose_range"),
        *_clinical_checks(),
        # MRNs differing only in case are one patient, also when two users register them at once (0010).
        Index("uq_patient_mrn_folded", text("lower(mrn)"), unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    birth_date: date | None = None
    treatment_start: date
    planned_dose_mg: float = Field(default=10.0)
    status: str = Field(default="on_treatment", max_length=20)
    notes: str | None = Field(default=None, sa_type=Text)


class AdverseEvent(ClinicalRecord, table=True):
    __tablename__ = "adverse_event"
    __table_args__ = (
        CheckConstraint("grade BETWEEN 1 AND 5", name="grade_range"),
        CheckConstraint("resolved_date IS NULL OR resolved_date >= onset_date", name="resolution_order"),
        CheckConstraint(f"attribution IS NULL OR {sql_in('attribution', ATTRIBUTIONS)}", name="attribution"),
        CheckConstraint(f"action_taken IS NULL OR {sql_in('action_taken', ACTIONS_TAKEN)}",
                        name="action_taken"),
        CheckConstraint(f"outcome IS NULL OR {sql_in('outcome', AE_OUTCOMES)}", name="outcome"),
        CheckConstraint(sql_in("source", AE_SOURCES), name="source"),
        CheckConstraint("grade < 5 OR death_date IS NOT NULL", name="grade5_death_date"),
        *_clinical_checks(),
        Index("ix_adverse_event_patient_term", "patient_id", "term"),
        Index("ix_adverse_event_death_date", "patient_id", "death_date",
              postgresql_where=text("death_date IS NOT NULL"), sqlite_where=text("death_date IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    term: str = Field(max_length=120)
    meddra_code: int | None = None
    grade: int
    onset_date: date
    resolved_date: date | None = None
    death_date: date | None = None
    serious: bool = Field(default=False)
    attribution: str | None = Field(default=None, max_length=20)
    action_taken: str | None = Field(default=None, max_length=20)
    outcome: str | None = Field(default=None, max_length=30)
    source: str = Field(default="reported", max_length=20)
    # Pre-existing at treatment start: kept for the record, never treatment-emergent.
    baseline: bool = Field(default=False)
    # The record this one continues after a change of grade (oncology convention: one grade per record).
    previous_event_id: int | None = Field(default=None, foreign_key="adverse_event.id")
    notes: str | None = Field(default=None, sa_type=Text)


class LabResult(ClinicalRecord, table=True):
    __tablename__ = "lab_result"
    __table_args__ = (
        CheckConstraint(sql_in("test", LAB_TESTS), name="test"),
        CheckConstraint("value >= 0", name="value_non_negative"),
        CheckConstraint("ctcae_grade IS NULL OR ctcae_grade BETWEEN 0 AND 4", name="ctcae_grade_range"),
        *_clinical_checks(),
        Index("ix_lab_result_patient_test_date", "patient_id", "test", "collected_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    test: str = Field(max_length=30)
    value: float
    unit: str | None = Field(default=None, max_length=20)
    lln: float | None = None
    uln: float | None = None
    collected_on: date
    baseline: bool = Field(default=False)
    ctcae_term: str | None = Field(default=None, max_length=120)
    ctcae_grade: int | None = None


class DoseEvent(ClinicalRecord, table=True):
    __tablename__ = "dose_event"
    __table_args__ = (
        CheckConstraint(sql_in("action", DOSE_ACTIONS), name="action"),
        CheckConstraint("dose_mg >= 0 AND dose_mg <= 20", name="dose_range"),
        CheckConstraint("(action IN ('hold', 'discontinue')) = (dose_mg = 0)", name="zero_dose_only_off_drug"),
        *_clinical_checks(),
        Index("ix_dose_event_patient_date", "patient_id", "effective_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    effective_date: date
    action: str = Field(max_length=20)
    dose_mg: float
    every_other_day: bool = Field(default=False)
    adverse_event_id: int | None = Field(default=None, foreign_key="adverse_event.id")
    reason: str | None = Field(default=None, sa_type=Text)
    verified_by: str | None = Field(default=None, max_length=64)
    verified_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ConcomitantMedication(ClinicalRecord, table=True):
    """A medicine (or a patient-reported item such as grapefruit) the patient takes besides everolimus and
    exemestane, from start to stop (open while stop is empty). `drug` is a catalogue name
    (seed_data/medications.csv) or free text as typed, `in_catalogue` says which (derived on every write)."""
    __tablename__ = "concomitant_medication"
    __table_args__ = (
        CheckConstraint("stop_date IS NULL OR stop_date >= start_date", name="stop_after_start"),
        CheckConstraint(f"route IS NULL OR {sql_in('route', MEDICATION_ROUTES)}", name="route"),
        *_clinical_checks(),
        Index("ix_concomitant_medication_patient_start", "patient_id", "start_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    drug: str = Field(max_length=200)
    in_catalogue: bool = Field(default=False)
    dose: str | None = Field(default=None, max_length=100)   # as written: "10 mL 4 times daily"
    route: str | None = Field(default=None, max_length=20)
    start_date: date
    stop_date: date | None = None
    indication: str | None = Field(default=None, max_length=200)
    # The adverse event it treats (corticosteroids for pneumonitis, say).
    adverse_event_id: int | None = Field(default=None, foreign_key="adverse_event.id")
    notes: str | None = Field(default=None, sa_type=Text)


class AuditEntry(SQLModel, table=True):
    """Append-only trail of every write and sign-in."""
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_record", "record_type", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True), index=True)
    username: str = Field(max_length=64, index=True)
    action: str = Field(max_length=30)
    record_type: str | None = Field(default=None, max_length=30)
    record_id: int | None = None
    patient_id: int | None = Field(default=None, index=True)
    before: str | None = Field(default=None, sa_type=Text)  # JSON
    after: str | None = Field(default=None, sa_type=Text)   # JSON
    detail: str | None = Field(default=None, sa_type=Text)


class AppSetting(SQLModel, table=True):
    """Facts about this database, e.g. whether seed-demo filled it (demo mode)."""
    __tablename__ = "app_setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per username or client address and the wait they started (models/store/sign_in_throttle.py)."""
    __tablename__ = "sign_in_throttle"

    key: str = Field(primary_key=True, max_length=300)   # "account:<username>" or "client:<address>"
    failures: int
    last_failure_at: datetime = Field(sa_type=DateTime(timezone=True))
    blocked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class DataVersion(SQLModel, table=True):
    """One row whose counter the database bumps in every transaction that writes a record (migration 0008):
    it moves in commit order, so caches keyed on it are never older than the last commit of any instance."""
    __tablename__ = "data_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(primary_key=True)
    version: int = Field(sa_type=BigInteger)


class FindingReview(ClinicalRecord, table=True):
    """A pharmacist's review of one dosing-audit finding: accepted (with a comment) or justified."""
    __tablename__ = "finding_review"
    __table_args__ = (
        CheckConstraint(sql_in("decision", FINDING_DECISIONS), name="decision"),
        *_clinical_checks(),
        Index("ix_finding_review_key", "finding_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    finding_key: str = Field(max_length=40)     # "event:<id>" or "hold:<id>" (models.analysis.dose_audit)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    rule: str = Field(max_length=120)
    decision: str = Field(max_length=20)
    comment: str | None = Field(default=None, sa_type=Text)


class AlertReview(ClinicalRecord, table=True):
    """Someone's answer to a worklist alert: acknowledged (optional comment) or snoozed (a reason and an end
    date). The alert stays quiet until its cause worsens (models/analysis/worklist.py), or the snooze ends."""
    __tablename__ = "alert_review"
    __table_args__ = (
        CheckConstraint(sql_in("decision", ALERT_DECISIONS), name="decision"),
        CheckConstraint("decision <> 'snoozed' OR snooze_until IS NOT NULL", name="snooze_has_end"),
        *_clinical_checks(),
        Index("ix_alert_review_alert", "patient_id", "rule", "subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    rule: str = Field(max_length=120)
    subject: str = Field(max_length=120)        # what the alert is about: a term, a test, a panel, a record
    record_type: str | None = Field(default=None, max_length=30)
    record_id: int | None = None                # the record that raised it
    severity: int = Field(default=0)            # the grade (or 0) when it was reviewed
    decision: str = Field(max_length=20)
    comment: str | None = Field(default=None, sa_type=Text)
    snooze_until: date | None = None


class MonitoringProtocolVersion(SQLModel, table=True):
    """An admin's version of the monitoring protocol (the rows of seed_data/monitoring_protocol.csv, as JSON);
    the newest is in force. Append-only: a change is a new version."""
    __tablename__ = "monitoring_protocol_version"

    id: int | None = Field(default=None, primary_key=True)
    protocol: str = Field(sa_type=Text)         # JSON list of rows (models.clinical.alerts.PROTOCOL_COLUMNS)
    comment: str | None = Field(default=None, sa_type=Text)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class TermOnsetSummary(SQLModel, table=True):
    """Derived, kept in step by the write path: per patient and CTCAE term, the first onset at any grade,
    at grade >= 2 and at grade >= 3 among the events that can be treatment-emergent (active, not baseline,
    onset on or after treatment start). With each patient's exposure periods, cohort incidence for any
    analysis date follows from these dates without reading every event (models/analysis/cohort.py)."""
    __tablename__ = "term_onset_summary"

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    term: str = Field(max_length=120, primary_key=True)
    first_onset: date
    first_onset_grade_2: date | None = None
    first_onset_grade_3: date | None = None
    worst_grade: int


# The kinds of record the write path writes, by the name its callers use.
RECORD_TABLES: dict[str, type[SQLModel]] = {
    "patient": Patient, "adverse_event": AdverseEvent, "lab_result": LabResult, "dose_event": DoseEvent,
    "finding_review": FindingReview, "alert_review": AlertReview, "concomitant_medication": ConcomitantMedication,
}
