"""The sentence a user reads when the database fails (models.store.db.database_problem): never the driver's text."""
from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from models.store.db import database_problem


@pytest.mark.parametrize("original", [
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.LockNotAvailable("could not obtain lock on row"),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    sqlite3.OperationalError("database is locked"),
])
def test_a_lost_race_or_a_time_out_says_try_again_in_a_moment(original):
    message = database_problem(OperationalError("UPDATE patient ...", {}, original))
    assert message.startswith("The database is busy with other changes")
    assert "nothing was saved" in message and "try again in a moment" in message
    assert str(original) not in message


@pytest.mark.parametrize("original", [
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.OperationalError("connection refused"),
    sqlite3.OperationalError("unable to open database file"),
])
def test_a_lost_connection_says_the_database_cannot_be_reached(original):
    message = database_problem(OperationalError("SELECT 1", {}, original))
    assert message.startswith("The database cannot be reached right now; nothing was saved.")
    assert str(original) not in message


def test_no_traceback_or_statement_value_reaches_a_user_or_the_log(db_url):
    """Streamlit shows clinic users no stack trace, and a database error never carries a statement's values
    (a password hash, a patient's name) into a message or the server log."""
    import tomllib

    from models.settings import PROJECT_ROOT
    from models.store.db import get_engine

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert get_engine(db_url).hide_parameters is True
