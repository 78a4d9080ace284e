"""The idle lock: when the idle timeout passes, the page is hidden in the browser at once (not on the next click)
and asks the same user's password again.

A fragment checks the time every few seconds without counting as activity. When the time is up it hides the
page with CSS and shows a password form in front of it. The page itself is not rerun, so whatever the user
had typed into a form stays in the browser, unsent; after the right password the page shows again as it was.
The server enforces the timeout on its own: any rerun of the page after it (a form sent with Enter behind the
lock, say) signs the session out (dashboard/access.py), keeping the typed values for the same user.
"""
from __future__ import annotations

import time

import streamlit as st

from dashboard.access import ACTIVITY_KEY, client_address, idle_expired, sign_out
from dashboard.widgets import escape_markdown
from models import auth
from models.auth import SignedInUser
from models.settings import idle_timeout_minutes
from models.store.db import DatabaseUnavailableError

LOCKED_KEY = "idle_locked"
LOCK_CONTAINER = "idle_lock"
# The lock covers the whole window with an opaque layer, and the page below is hidden too (for screen readers
# and find-in-page); the lock's own box is made visible again (a child may be visible in a hidden parent).
_HIDE_PAGE = f"""<style>
[data-testid="stMain"], [data-testid="stSidebar"], [data-testid="stHeader"] {{ visibility: hidden; }}
.st-key-{LOCK_CONTAINER} {{ visibility: visible; position: fixed; inset: 0; z-index: 1000000;
  background: var(--background-color, #fff); padding: 12vh max(1.5rem, calc(50vw - 15rem)) 0; }}
</style>"""


def check_interval_seconds(now: float | None = None) -> float:
    """When the browser should ask next: just after the time left runs out (every run of the page, which is
    activity, sets it anew), so an idle page asks once instead of every few seconds; at least 2 s apart."""
    now = time.time() if now is None else now
    left = idle_timeout_minutes() * 60 - (now - st.session_state.get(ACTIVITY_KEY, now))
    return max(2.0, left + 1.0)


def watch_idle(user: SignedInUser) -> None:
    @st.fragment(run_every=check_interval_seconds())
    def _lock_when_idle() -> None:
        if not idle_expired() and not st.session_state.get(LOCKED_KEY):
            return
        if not st.session_state.get(LOCKED_KEY):
            st.session_state[LOCKED_KEY] = True
            auth.record_sign_out(user.username, "idle timeout (page hidden)")
        with st.container(key=LOCK_CONTAINER):
            # Markdown, not st.html: a style-only st.html is hoisted and outlives the fragment's next run.
            st.markdown(_HIDE_PAGE, unsafe_allow_html=True)
            _unlock_form(user)

    _lock_when_idle()


def _unlock_form(user: SignedInUser) -> None:
    minutes = f"{idle_timeout_minutes():g}"
    st.markdown("**Signed out after " + minutes + " minutes without activity.** The page is hidden. Enter the "
                "password of " + escape_markdown(user.username) + " to go on where you were; anything typed "
                "and not yet saved is still there.")
    with st.form("idle_unlock", enter_to_submit=True):
        password = st.text_input("Password", type="password", autocomplete="current-password")
        unlock = st.form_submit_button("Sign in again", type="primary")
    if st.button("Sign out (someone else will use this computer)"):
        sign_out("You are signed out.")
        st.rerun(scope="app")
    if not unlock:
        return
    try:
        result = auth.sign_in(user.username, password, client=client_address())
    except DatabaseUnavailableError as error:
        st.error(str(error), icon=":material/cloud_off:")
        return
    if result.user is None or result.user.username != user.username:
        st.error(result.message or auth.WRONG_CREDENTIALS, icon=":material/error:")
        return
    st.session_state.pop(LOCKED_KEY, None)
    st.session_state[ACTIVITY_KEY] = time.time()
    st.rerun(scope="fragment")  # only the lock goes: the page below was never rerun, its fields are as typed
