"""Creatinine joins the lab tests (renal function: the label's monitoring before the start and periodically;
CTCAE Creatinine increased): the lab_result.test CHECK constraint lists it.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text

from models.store.schema_edits import replace_check, values_condition

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NAME = "ck_lab_result_test"
BEFORE = ("hemoglobin", "ast", "alt", "glucose_fasting", "platelets", "neutrophils", "cholesterol_total",
          "triglycerides")
AFTER = BEFORE + ("creatinine",)


def upgrade() -> None:
    replace_check("lab_result", NAME, values_condition("test", BEFORE), values_condition("test", AFTER))


def downgrade() -> None:
    # Clinical rows are never removed: with creatinine results stored there is no way back.
    stored = op.get_bind().execute(text("SELECT count(*) FROM lab_result WHERE test = 'creatinine'")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} creatinine results are stored; a downgrade below 0013 would refuse them")
    replace_check("lab_result", NAME, values_condition("test", AFTER), values_condition("test", BEFORE))
