"""Sign in: the only page before a user is known."""
from __future__ import annotations

import streamlit as st

from dashboard.access import LINKED_MRN_KEY, NOTICE_KEY, client_address, sign_in_as
from dashboard.state import ensure_database
from models import auth
from models.demo import demo_accounts_exist

st.title("Sign in to ToxWatch")
status = ensure_database()

if mrn := st.query_params.get("mrn"):  # a link to a patient: opened after sign-in (app.py)
    st.session_state[LINKED_MRN_KEY] = mrn
if notice := st.session_state.get(NOTICE_KEY):
    st.info(notice, icon=":material/schedule:")
if demo_accounts_exist():  # read now: an admin may have disabled the demo accounts since the start
    st.info("Demo database: sign in as **nurse**, **oncologist**, **pharmacist** or **admin** with the "
            "password **demo**. Every patient here is fictional.", icon=":material/science:")
elif auth.user_count() == 0:
    st.warning("This database has no accounts yet. On the server, create the first administrator with "
               "`python -m models users add NAME --role admin`.", icon=":material/person_add:")

with st.form("sign_in", enter_to_submit=True):
    username = st.text_input("Username", autocomplete="username")
    password = st.text_input("Password", type="password", autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", type="primary")

if submitted:
    result = auth.sign_in(username, password, client=client_address())
    if result.user is None:
        st.error(result.message, icon=":material/error:")
    else:
        sign_in_as(result.user)
        st.rerun()
