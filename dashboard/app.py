"""ToxWatch entry point: `streamlit run dashboard/app.py`."""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only dashboard/ on the path; the pages import models/ and dashboard/ as packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402

from dashboard.state import ensure_database  # noqa: E402

st.set_page_config(page_title="ToxWatch", page_icon=":material/monitor_heart:", layout="wide")

report = ensure_database()

PAGES = {
    "Clinic": [
        st.Page("app_pages/log_event.py", title="Log adverse event", icon=":material/edit_note:"),
        st.Page("app_pages/patients.py", title="Patients", icon=":material/groups:", default=True),
    ],
    "Review": [
        st.Page("app_pages/cohort.py", title="Cohort vs BOLERO-2", icon=":material/query_stats:"),
        st.Page("app_pages/dosing_audit.py", title="Dosing audit", icon=":material/medication:"),
    ],
    "Settings": [
        st.Page("app_pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"),
    ],
}

with st.sidebar:
    st.markdown("**ToxWatch** · everolimus toxicity monitor")
    if report.demo_database:
        st.caption("Demo database: every patient is synthetic and fictional.")

page = st.navigation(PAGES)
if report.first_run_message and not st.session_state.get("first_run_message_shown"):
    st.session_state["first_run_message_shown"] = True
    st.success(report.first_run_message, icon=":material/database:")
page.run()
