"""Who may open which page, and the signed-in user of this browser session.

The menu offers each role its own pages, and every page checks again, so a page cannot be reached
around the menu (a forged URL or session).
"""
from __future__ import annotations

import time

import streamlit as st
from sqlalchemy.exc import OperationalError

from dashboard.widgets import escape_markdown
from models.auth import SignedInUser, current_account, record_sign_out
from models.store.db import DatabaseUnavailableError
from models.settings import client_address_header, idle_timeout_minutes
from models.store.records import Actor

PAGE_ROLES = {  # admin may open every page
    "worklist": ("nurse", "oncologist", "pharmacist"),
    "log_event": ("nurse",),
    "patients": ("nurse", "oncologist", "pharmacist"),
    "cohort": ("oncologist",),
    "dosing_audit": ("pharmacist",),
    "admin": (),
}
USER_KEY, ACTIVITY_KEY, NOTICE_KEY = "user", "last_activity", "sign_in_notice"
PAGE_KEY, KEPT_KEY, RESUME_KEY = "current_page", "kept_entries", "resume_page"
LINKED_MRN_KEY = "linked_mrn"  # a patient link (?mrn=) opened before sign-in, followed after it
# Keys of the entry forms' fields (and their forms' counters, "..._form_n"): what a user typed, kept through an
# idle sign-out and given back to the same user after sign-in. Buttons and uploads are not in this list: their
# state cannot be set, only clicked.
ENTRY_KEY_PREFIXES = ("reg_", "ev_", "lab_", "dose_", "fix_", "changed_on_", "resolve_", "edit_", "event_", "log_",
                      "undo_reason", "review_", "verify_choice", "new_", "med_")


def may_open(role: str, page: str) -> bool:
    return role == "admin" or role in PAGE_ROLES[page]


def current_user() -> SignedInUser | None:
    """The signed-in user, or None; signs out a session idle for longer than the timeout."""
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, SignedInUser):
        return None
    now = time.time()
    minutes = idle_timeout_minutes()
    if idle_expired(now):
        kept = sign_out(f"Signed out after {minutes:g} minutes without activity. Sign in again to continue.",
                        reason="idle timeout", keep_entries=True)
        if kept:
            st.session_state[NOTICE_KEY] += (" What you had typed is kept, not saved: sign in again as "
                                             + escape_markdown(user.username) + " to get it back.")
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


def client_address() -> str | None:
    """The browser's address for sign-in throttling: the proxy's header when one is configured, else the address
    the server sees (None on this computer)."""
    header = client_address_header()
    if header and (forwarded := st.context.headers.get(header)):
        # The last entry is the one the proxy itself appended; the ones before it came from the browser.
        return forwarded.split(",")[-1].strip()[:100] or None
    return st.context.ip_address


def idle_expired(now: float | None = None) -> bool:
    """True once the signed-in session has had no activity for longer than the idle timeout."""
    now = time.time() if now is None else now
    return now - st.session_state.get(ACTIVITY_KEY, now) > idle_timeout_minutes() * 60


def sign_in_as(user: SignedInUser) -> None:
    """Start the session; entries kept from this user's idle sign-out come back (another user's are dropped)."""
    kept = st.session_state.pop(KEPT_KEY, None)
    linked = st.session_state.pop(LINKED_MRN_KEY, None)
    st.session_state.pop(NOTICE_KEY, None)
    if linked and may_open(user.role, "patients"):
        st.session_state[RESUME_KEY] = ("patient_detail", linked)
    if kept and kept["username"] == user.username:
        st.session_state.update(kept["entries"])
        if kept["page"]:
            st.session_state[RESUME_KEY] = kept["page"]
    st.session_state[USER_KEY] = user
    st.session_state[ACTIVITY_KEY] = time.time()


def sign_out(notice: str | None = None, *, reason: str = "signed out", keep_entries: bool = False) -> bool:
    """Forget the session. With keep_entries (an idle time-out) the entry fields' values and the page are kept
    aside for the same user's next sign-in; returns True when there were any."""
    user = st.session_state.get(USER_KEY)
    entries = {key: value for key, value in st.session_state.items()
               if key.startswith(ENTRY_KEY_PREFIXES) or (key.endswith("_form_n") and isinstance(value, int))}
    page = st.session_state.get(PAGE_KEY)  # (url path, MRN of a patient page or None)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if isinstance(user, SignedInUser):
        record_sign_out(user.username, reason)
        if keep_entries and entries:
            st.session_state[KEPT_KEY] = {"username": user.username, "entries": entries, "page": page}
    if notice:
        st.session_state[NOTICE_KEY] = notice
    return bool(keep_entries and entries and isinstance(user, SignedInUser))


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
