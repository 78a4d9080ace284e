"""Total cholesterol and triglycerides join the lab tests (the label's lipid monitoring; CTCAE Cholesterol high
and Hypertriglyceridemia): the lab_result.test CHECK constraint lists them.

PostgreSQL replaces the constraint. SQLite cannot alter a constraint; widening the list of allowed values
only admits more rows, so the table's stored definition is edited in place, the documented way for such a
change (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes"); the table, its
triggers and its rows stay as they are.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text

from models.store.schema_edits import replace_check, values_condition

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NAME = "ck_lab_result_test"
BEFORE = ("hemoglobin", "ast", "alt", "glucose_fasting", "platelets", "neutrophils")
AFTER = BEFORE + ("cholesterol_total", "triglycerides")


def _replace(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    replace_check("lab_result", NAME, values_condition("test", old), values_condition("test", new))


def upgrade() -> None:
    _replace(BEFORE, AFTER)


def downgrade() -> None:
    # Clinical rows are never removed: with lipid results stored there is no way back.
    stored = op.get_bind().execute(text("SELECT count(*) FROM lab_result WHERE test IN "
                                        "('cholesterol_total', 'triglycerides')")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} lipid lab results are stored; a downgrade below 0011 would refuse them")
    _replace(AFTER, BEFORE)
