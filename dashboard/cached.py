"""Heavy read models cached across reruns. Each cache key includes the database's data version (it moves
with every write), so a cached result is never older than the last save."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import streamlit as st

from dashboard import charts
from models.analysis import cohort, dose_audit, patient_view, roster, worklist
from models.settings import database_url
from models.store import queries


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


@dataclass(frozen=True)
class PatientReview:
    course: patient_view.PatientCourse | None
    chart_spec: dict | None      # Vega-Lite, built once per data version (Altair objects are slow to build)
    events: object               # DataFrame
    labs: object                 # DataFrame


@st.cache_data(max_entries=256, show_spinner=False)
def _patient_review(url: str, version: int, patient_id: int, as_of: date) -> PatientReview:
    course = patient_view.patient_course(patient_id, as_of, url)
    chart = charts.patient_course_chart(course) if course is not None else None
    return PatientReview(course, chart.to_dict(validate=False) if chart is not None else None,
                         queries.adverse_events(url, patient_id=patient_id), queries.labs(url, patient_id=patient_id))


def patient_review(patient_id: int, as_of: date | None = None) -> PatientReview:
    url = database_url()
    return _patient_review(url, queries.data_version(url), int(patient_id), as_of or date.today())


@st.cache_data(max_entries=16, show_spinner="Auditing the dose records…")
def _dosing_audit(url: str, version: int, as_of: date, grace_days: int, rule_set: str):
    return dose_audit.cohort_audit(url, as_of=as_of, grace_days=grace_days, rule_set=rule_set)


def dosing_audit(*, as_of: date, grace_days: int, rule_set: str) -> dose_audit.CohortAudit:
    """The cohort's dosing audit on one rule set, recomputed only after a write."""
    url = database_url()
    return _dosing_audit(url, queries.data_version(url), as_of, grace_days, rule_set)


@st.cache_data(max_entries=8, show_spinner="Looking for patients who need attention…")
def _worklist(url: str, version: int, as_of: date) -> list[worklist.Alert]:
    return worklist.alerts(url, as_of=as_of)


def worklist_alerts(as_of: date | None = None) -> list[worklist.Alert]:
    """Every alert of the day, computed once per data version for every session; the reviews (which do not move
    the data version) are applied fresh on each run."""
    url = database_url()
    day = as_of or date.today()
    return worklist.reviewed(_worklist(url, queries.data_version(url), day), queries.alert_reviews(url), day)
