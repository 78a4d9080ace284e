"""ToxWatch entry point: `streamlit run dashboard/app.py`."""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only dashboard/ on the path; the pages import models/ and dashboard/ as packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from dashboard.access import PAGE_KEY, RESUME_KEY, current_user, may_open, sign_out  # noqa: E402
from dashboard.idle_lock import watch_idle  # noqa: E402
from models.store.db import database_problem  # noqa: E402
from dashboard.state import ensure_database, take_first_run_message  # noqa: E402
from dashboard.widgets import escape_markdown  # noqa: E402

# Printing a page (the browser's Print, e.g. to PDF for a tumour board): no sidebar, toolbar or buttons, the page's
# full width, charts scaled to the paper and kept whole on one sheet. Tables are Streamlit's scrolling grids, which
# print the rows in view only: their CSV downloads hold every row.
PRINT_STYLE = """
@page { size: A4; margin: 12mm; }
@media print {
  [data-testid='stSidebar'], [data-testid='stHeader'], [data-testid='stToolbar'], [data-testid='stDecoration'],
  [data-testid='stStatusWidget'], [data-testid='stDownloadButton'], [data-testid='stFileUploader'],
  [data-testid='stSidebarCollapsedControl'] { display: none !important; }
  [data-testid='stAppViewContainer'], [data-testid='stMain'], [data-testid='stMainBlockContainer'] {
    margin: 0 !important; padding: 0 !important; max-width: 100% !important; width: 100% !important; }
  [data-testid='stVegaLiteChart'], [data-testid='stDataFrame'], [data-testid='stTable'], [data-testid='stMetric'] {
    break-inside: avoid; max-width: 100% !important; }
  [data-testid='stVegaLiteChart'] svg, [data-testid='stVegaLiteChart'] canvas {
    max-width: 100% !important; height: auto !important; }
}
"""
st.set_page_config(page_title="ToxWatch", page_icon=":material/monitor_heart:", layout="wide")
# Less empty band above the title (Streamlit leaves 6rem): a nurse's whole form fits a 1440x900 laptop screen.
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 3rem; }" + PRINT_STYLE + "</style>")

# (page key for access, file, title, icon, menu section), in menu order; section None = not in the menu.
PAGES = [
    ("worklist", "app_pages/worklist.py", "Worklist", ":material/checklist:", "Clinic"),
    ("log_event", "app_pages/log_event.py", "Log adverse event", ":material/edit_note:", "Clinic"),
    ("patients", "app_pages/patients.py", "Patients", ":material/groups:", "Clinic"),
    ("patients", "app_pages/patient_detail.py", "Patient", ":material/person:", None),
    ("cohort", "app_pages/cohort.py", "Cohort vs BOLERO-2", ":material/query_stats:", "Review"),
    ("dosing_audit", "app_pages/dosing_audit.py", "Dosing audit", ":material/medication:", "Review"),
    ("admin", "app_pages/admin.py", "Admin", ":material/admin_panel_settings:", "Settings"),
]
HOME_PAGE = {"nurse": "worklist", "oncologist": "worklist", "pharmacist": "dosing_audit", "admin": "admin"}

status = ensure_database()
user = current_user()

if user is None:
    page = st.navigation([st.Page("app_pages/sign_in.py", title="Sign in", icon=":material/login:")],
                         position="hidden")
else:
    menu: dict[str, list] = {}
    for key, path, title, icon, section in PAGES:
        if may_open(user.role, key):
            menu.setdefault(section or "Clinic", []).append(st.Page(
                path, title=title, icon=icon, visibility="visible" if section else "hidden",
                default=key == HOME_PAGE[user.role] and section is not None))
    page = st.navigation(menu)
    # Back to the page an idle sign-out left (or a patient link opened before sign-in), with its patient.
    resume_path, resume_mrn = st.session_state.pop(RESUME_KEY, None) or (None, None)
    target = next((p for pages in menu.values() for p in pages if p.url_path == resume_path), None)
    if target is not None and (resume_path, resume_mrn) != (page.url_path, st.query_params.get("mrn")):
        st.switch_page(target, query_params={"mrn": resume_mrn} if resume_mrn else None)
    st.session_state[PAGE_KEY] = (page.url_path, st.query_params.get("mrn"))
    with st.sidebar:
        st.markdown("**ToxWatch** · everolimus toxicity monitor")
        st.caption(f"Signed in as {escape_markdown(user.display_name)} ({user.role})")
        if status.demo_database:
            st.caption("Demo database: every patient is synthetic and fictional.")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out("You are signed out.")
            st.rerun()

if user is not None:
    watch_idle(user)
if first_run := take_first_run_message(status):
    st.success(first_run, icon=":material/database:")
try:
    page.run()
except OperationalError as error:
    # The database went away or stayed locked mid-page: say so and keep every widget's input; the next
    # rerun reconnects (models/store/db.py replaces a dead pooled connection), so nothing needs a restart.
    st.error(database_problem(error), icon=":material/cloud_off:")
