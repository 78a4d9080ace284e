"""Page rerun times through streamlit's AppTest, as a signed-in oncologist (a forged session, as the page
tests do): the cohort page, and the patient page of the patient with the most adverse events."""
from __future__ import annotations

import os
import time

from sqlalchemy import func, select

from benchmarks.timing import summary
from models import settings
from models.auth import SignedInUser
from models.store.db import get_engine
from models.store.tables import AdverseEvent, Patient

APP = str(settings.PROJECT_ROOT / "dashboard" / "app.py")
COHORT_PAGE = "app_pages/cohort.py"
PATIENT_PAGE = "app_pages/patient_detail.py"
WARM_UPS = 2
RUNS = 7
ROLE = "oncologist"


class PageError(RuntimeError):
    pass


def busiest_patient(url: str) -> tuple[str, int]:
    """(MRN, active adverse events) of the patient with the most active adverse events."""
    statement = select(Patient.mrn, func.count(AdverseEvent.id).label("events")) \
        .join(AdverseEvent, AdverseEvent.patient_id == Patient.id) \
        .where(AdverseEvent.record_status == "active", Patient.record_status == "active") \
        .group_by(Patient.mrn).order_by(func.count(AdverseEvent.id).desc(), Patient.mrn).limit(1)
    with get_engine(url).connect() as connection:
        mrn, events = connection.execute(statement).one()
    return mrn, int(events)


def _check(app, what: str) -> None:
    if app.exception:
        details = [" | ".join([e.value, *(line.strip() for line in e.stack_trace[-3:])]) for e in app.exception]
        raise PageError(f"{what}: exception: {details}")
    errors = [e.value for e in app.error]
    if errors:
        raise PageError(f"{what}: error shown: {errors}")


def _clear_caches() -> None:
    import streamlit as st
    from streamlit.logger import set_log_level

    # Outside a Streamlit runtime, streamlit warns "No runtime found" / "missing ScriptRunContext" on every
    # cache call made from this thread; those warnings are expected here.
    set_log_level("ERROR")

    st.cache_data.clear()
    st.cache_resource.clear()


def _time_reruns(app, what: str) -> dict:
    for _ in range(WARM_UPS):
        app.run()
        _check(app, what)
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        app.run()
        samples.append((time.perf_counter() - started) * 1000)
        _check(app, what)
    return summary(samples)


def measure(url: str) -> dict:
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    previous = os.environ.get(settings.DATABASE_URL_ENV)
    os.environ[settings.DATABASE_URL_ENV] = url
    _clear_caches()
    try:
        results = {}
        app = AppTest.from_file(APP, default_timeout=600)
        app.session_state["user"] = SignedInUser(ROLE, f"Benchmark {ROLE}", ROLE)
        app.run()
        _check(app, "app start")
        set_log_level("ERROR")  # AppTest's first run applies streamlit's config, log level included
        app.switch_page(COHORT_PAGE)
        started = time.perf_counter()
        app.run()
        first_ms = (time.perf_counter() - started) * 1000
        _check(app, "cohort page")
        if [t.value for t in app.title] != ["Cohort vs BOLERO-2"] or not app.dataframe:
            raise PageError(f"cohort page: unexpected content (titles {[t.value for t in app.title]})")
        results["cohort_page"] = {**_time_reruns(app, "cohort page"), "first_run_ms": round(first_ms, 1)}

        mrn, events = busiest_patient(url)
        app = AppTest.from_file(APP, default_timeout=600)
        app.session_state["user"] = SignedInUser(ROLE, f"Benchmark {ROLE}", ROLE)
        app.run()
        _check(app, "app start")
        app.query_params["mrn"] = mrn
        app.switch_page(PATIENT_PAGE)
        started = time.perf_counter()
        app.run()
        first_ms = (time.perf_counter() - started) * 1000
        _check(app, "patient page")
        titles = [t.value.replace("\\", "") for t in app.title]  # markdown-escaped: DEMO\-00091
        if not titles or mrn not in titles[0]:
            raise PageError(f"patient page: the title does not name {mrn}: {titles}")
        results["patient_page"] = {**_time_reruns(app, "patient page"), "first_run_ms": round(first_ms, 1),
                                   "mrn": mrn, "adverse_events": events}
        return results
    finally:
        _clear_caches()
        if previous is None:
            os.environ.pop(settings.DATABASE_URL_ENV, None)
        else:
            os.environ[settings.DATABASE_URL_ENV] = previous
