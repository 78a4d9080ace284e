"""Heavy read models cached across reruns. Each cache key includes the database's data version (it moves
with every write), so a cached result is never older than the last save."""
from __future__ import annotations

from datetime import date

import streamlit as st

from models import cohort, queries, roster
from models.settings import database_url


@st.cache_data(max_entries=64, show_spinner=False)
def _cohort_analysis(url: str, version: int, as_of: date, reference_set: str,
                     chosen: cohort.CohortFilter) -> cohort.CohortAnalysis:
    return cohort.analyse(url, as_of=as_of, reference_set=reference_set, chosen=chosen)


def cohort_analysis(*, as_of: date, reference_set: str, chosen: cohort.CohortFilter) -> cohort.CohortAnalysis:
    url = database_url()
    return _cohort_analysis(url, queries.data_version(url), as_of, reference_set, chosen)


@st.cache_data(max_entries=8, show_spinner="Loading the roster…")
def _roster(url: str, version: int, as_of: date):
    return roster.roster(url, as_of=as_of)


def roster_table(as_of: date | None = None):
    url = database_url()
    return _roster(url, queries.data_version(url), as_of or date.today()).copy()
