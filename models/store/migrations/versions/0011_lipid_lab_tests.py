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

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NAME = "ck_lab_result_test"
BEFORE = ("hemoglobin", "ast", "alt", "glucose_fasting", "platelets", "neutrophils")
AFTER = BEFORE + ("cholesterol_total", "triglycerides")


def _condition(tests: tuple[str, ...]) -> str:
    return "test IN (" + ", ".join(f"'{t}'" for t in tests) + ")"


def _replace(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE lab_result DROP CONSTRAINT {NAME}")
        op.execute(f"ALTER TABLE lab_result ADD CONSTRAINT {NAME} CHECK ({_condition(new)})")
        return
    definition = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'lab_result'")
                                    ).scalar_one()
    if definition.count(_condition(old)) != 1:
        raise RuntimeError(f"lab_result's definition does not hold {_condition(old)!r} once; not changed")
    version = connection.execute(text("PRAGMA schema_version")).scalar_one()
    connection.execute(text("PRAGMA writable_schema = ON"))
    connection.execute(text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'lab_result'"),
                       {"sql": definition.replace(_condition(old), _condition(new))})
    connection.execute(text(f"PRAGMA schema_version = {int(version) + 1}"))
    connection.execute(text("PRAGMA writable_schema = OFF"))
    problems = connection.execute(text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"integrity check after editing lab_result: {problems}")


def upgrade() -> None:
    _replace(BEFORE, AFTER)


def downgrade() -> None:
    # Clinical rows are never removed: with lipid results stored there is no way back.
    stored = op.get_bind().execute(text("SELECT count(*) FROM lab_result WHERE test IN "
                                        "('cholesterol_total', 'triglycerides')")).scalar_one()
    if stored:
        raise RuntimeError(f"{stored} lipid lab results are stored; a downgrade below 0011 would refuse them")
    _replace(AFTER, BEFORE)
