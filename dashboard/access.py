"""Who may open which page, and the signed-in user of this browser session.

The menu offers each role its own pages, and every page checks again, so a page cannot be reached
around the menu (a forged URL or session).
"""
from __future__ import annotations

import time

import streamlit as st
from sqlalchemy.exc import OperationalError

from models.auth import SignedInUser, current_account, record_sign_out
from models.store.db import DatabaseUnavailableError
from models.settings import idle_timeout_minutes
from models.store.records import Actor

PAGE_ROLES = {  # admin may open every page
    "log_event": ("nurse",),
    "patients": ("nurse", "oncologist", "pharmacist"),
    "cohort": ("oncologist",),
    "dosing_audit": ("pharmacist",),
    "admin": (),
}
USER_KEY, ACTIVITY_KEY, NOTICE_KEY = "user", "last_activity", "sign_in_notice"


def may_open(role: str, page: str) -> bool:
    return role == "admin" or role in PAGE_ROLES[page]


def current_user() -> SignedInUser | None:
    """The signed-in user, or None; signs out a session idle for longer than the timeout."""
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, SignedInUser):
        return None
    now = time.time()
    last = st.session_state.get(ACTIVITY_KEY, now)
    minutes = idle_timeout_minutes()
    if now - last > minutes * 60:
        sign_out(f"Signed out after {minutes:g} minutes without activity. Sign in again to continue.",
                 reason="idle timeout")
        return None
    st.session_state[ACTIVITY_KEY] = now
    # The account may have been disabled or given another role since sign-in: act on it at once. While the
    # database cannot be reached nothing can be read or saved anyway, and the page says so.
    try:
        account = current_account(user.username)
    except (OperationalError, DatabaseUnavailableError):
        return user
    if account is None:
        sign_out("Your account was disabled; ask an administrator.", reason="account disabled")
        return None
    if account != user:
        st.session_state[USER_KEY] = account  # re-scoped: the menu and every page check use the new role
    return account


def sign_in_as(user: SignedInUser) -> None:
    st.session_state[USER_KEY] = user
    st.session_state[ACTIVITY_KEY] = time.time()
    st.session_state.pop(NOTICE_KEY, None)


def sign_out(notice: str | None = None, *, reason: str = "signed out") -> None:
    user = st.session_state.get(USER_KEY)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if isinstance(user, SignedInUser):
        record_sign_out(user.username, reason)
    if notice:
        st.session_state[NOTICE_KEY] = notice


def require_page(page: str) -> SignedInUser:
    """Call first on every page: stops the page unless the signed-in user's role may open it."""
    user = current_user()
    if user is None:
        st.error("Please sign in to see this page.", icon=":material/lock:")
        st.stop()
    if not may_open(user.role, page):
        st.error(f"This page is not available to the {user.role} role.", icon=":material/block:")
        st.stop()
    return user


def actor(user: SignedInUser) -> Actor:
    return Actor(user.username, user.role)
