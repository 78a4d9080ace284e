"""Persistence: engine and sessions, tables, Alembic migrations, the one write path (validation against the
database, attribution, audit trail, "entered in error"), the write batch, the onset summary kept by that
path, and the read queries the pages and analyses use.

Imports models.settings, models.clinical and this package; never analysis, exchange or the app layer."""
