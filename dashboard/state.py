"""Process-wide app state: the prepared database (cached per URL) and what to tell the user about it."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import streamlit as st

from sqlalchemy.exc import OperationalError

from models.clinical.reference_data import ReferenceDataError
from models.demo import is_demo_database
from models.settings import DatabaseChoice, database_choice, masked_url
from models.startup import prepare_database
from models.store.db import DatabaseUnavailableError, database_problem
from models.store.migrate import SchemaNeedsOwner
from dashboard.widgets import plain


@dataclass(frozen=True)
class DatabaseStatus:
    url: str
    demo_database: bool
    first_run_message: str | None


@st.cache_resource(show_spinner="Preparing the database…")
def _prepare(choice: DatabaseChoice) -> DatabaseStatus:
    url = choice.url
    report = prepare_database(choice)
    message = None
    if report.demo_loaded is not None:
        loaded = report.demo_loaded
        message = (f"First run: created the database ({masked_url(url)}) and loaded the synthetic demo "
                   f"cohort: {loaded.patients} fictional patients, {loaded.adverse_events} adverse events, "
                   f"{loaded.labs} lab results and {loaded.doses} dose events.")
    elif report.schema_created_or_upgraded:
        message = f"The database schema at {masked_url(url)} was created or upgraded to the current version."
    return DatabaseStatus(url, is_demo_database(url), message)


def ensure_database() -> DatabaseStatus:
    """Prepare the configured database once per process; on failure explain and stop the page."""
    choice = database_choice()
    url = choice.url
    try:
        return _prepare(choice)
    except OperationalError as error:
        st.error(database_problem(error), icon=":material/cloud_off:")
    except SchemaNeedsOwner as error:
        st.error(str(error), icon=":material/update:")
    except ReferenceDataError as error:
        st.error(plain(f"A reference data file is malformed, so ToxWatch will not start: {error}"),
                 icon=":material/error:")
    except (DatabaseUnavailableError, OSError) as error:
        st.error(plain(f"The database cannot be reached: {error}"), icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - any driver error must reach the user as a message
        st.error(plain(f"The database at {masked_url(url)} could not be prepared: {type(error).__name__}: {error}"),
                 icon=":material/error:")
    st.stop()


_announced: set[str] = set()
_announced_lock = threading.Lock()


def take_first_run_message(status: DatabaseStatus) -> str | None:
    """The first-run message, for the one browser session whose start prepared the database; later
    sessions did not see that happen and are not told it did."""
    if not status.first_run_message:
        return None
    with _announced_lock:
        if status.url in _announced:
            return None
        _announced.add(status.url)
    return status.first_run_message
