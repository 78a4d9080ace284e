"""Sign-in, role menus and page guards (AppTest, including forged sessions)."""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from models import auth, settings
from models.auth import SignedInUser
from models.store import queries
from tests.dashboard.pages.test_pages import APP, PAGES

MENU = {
    "nurse": {"Worklist", "Log adverse event", "Patients"},
    "oncologist": {"Worklist", "Patients", "Cohort vs BOLERO-2"},
    "pharmacist": {"Worklist", "Dosing audit", "Patients"},
    "admin": {"Worklist", "Log adverse event", "Patients", "Cohort vs BOLERO-2", "Dosing audit", "Admin"},
}


@pytest.fixture(autouse=True)
def _no_sign_in_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)


def new_app(monkeypatch, url: str) -> AppTest:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, url)
    return AppTest.from_file(APP, default_timeout=60)


def sign_in(app: AppTest, username: str, password: str) -> AppTest:
    inputs = {field.label: field for field in app.text_input}
    inputs["Username"].input(username)
    inputs["Password"].input(password)
    app.button[0].click().run()
    return app


def test_the_first_page_asks_to_sign_in_and_shows_the_demo_hint(monkeypatch, demo_sqlite_url):
    app = new_app(monkeypatch, demo_sqlite_url)
    app.run()
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert any("password **demo**" in info.value for info in app.info)
    assert not app.dataframe, "no clinical data before sign-in"


def test_no_demo_hint_and_a_first_admin_hint_on_a_database_without_accounts(monkeypatch, db_url):
    app = new_app(monkeypatch, db_url)
    app.run()
    assert not any("demo" in info.value for info in app.info)
    assert any("users add NAME --role admin" in warning.value for warning in app.warning)


def test_a_wrong_password_is_refused_with_one_message(monkeypatch, demo_sqlite_url):
    app = sign_in(new_app(monkeypatch, demo_sqlite_url).run(), "nurse", "not-the-password")
    assert [e.value for e in app.error] == [auth.WRONG_CREDENTIALS]
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    app = sign_in(new_app(monkeypatch, demo_sqlite_url).run(), "nobody-here", "demo")
    assert [e.value for e in app.error] == [auth.WRONG_CREDENTIALS]


@pytest.mark.parametrize("role,home", [("nurse", "Worklist"), ("oncologist", "Worklist"),
                                       ("pharmacist", "Dosing audit"), ("admin", "Admin")])
def test_each_demo_user_signs_in_to_their_home_page(monkeypatch, demo_sqlite_url, role, home):
    app = sign_in(new_app(monkeypatch, demo_sqlite_url).run(), role, "demo")
    assert not app.exception, [e.value for e in app.exception]
    assert [t.value for t in app.title] == [home]
    assert any(f"({role})" in caption.value for caption in app.sidebar.caption)


@pytest.mark.parametrize("role", sorted(MENU))
@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_page_refuses_a_role_it_is_not_for_even_with_a_forged_session(monkeypatch, demo_sqlite_url,
                                                                         role, page):
    """Run the page module directly, around the menu, with a session claiming `role`."""
    monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_sqlite_url)
    app = AppTest.from_file(str(settings.PROJECT_ROOT / "dashboard" / page), default_timeout=60)
    app.session_state["user"] = SignedInUser(role, role, role)
    app.session_state["last_activity"] = time.time()
    app.run()
    allowed = PAGES[page] in MENU[role]
    refused = [e.value for e in app.error if "not available to the" in e.value]
    assert bool(refused) != allowed
    if not allowed:
        assert not app.dataframe and not app.title, "a refused page shows nothing else"


def test_a_page_without_a_signed_in_user_shows_nothing(monkeypatch, demo_sqlite_url):
    monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_sqlite_url)
    app = AppTest.from_file(str(settings.PROJECT_ROOT / "dashboard" / "app_pages" / "patients.py"))
    app.run()
    assert [e.value for e in app.error] == ["Please sign in to see this page."]
    assert not app.dataframe


def test_an_idle_session_is_signed_out(monkeypatch, demo_sqlite_url):
    monkeypatch.setenv(settings.IDLE_TIMEOUT_ENV, "30")
    app = new_app(monkeypatch, demo_sqlite_url)
    app.session_state["user"] = SignedInUser("nurse", "Demo nurse", "nurse")
    app.session_state["last_activity"] = time.time() - 31 * 60
    app.run()
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert any("30 minutes without activity" in info.value for info in app.info)


def test_sign_out_returns_to_the_sign_in_page(monkeypatch, demo_sqlite_url):
    app = sign_in(new_app(monkeypatch, demo_sqlite_url).run(), "pharmacist", "demo")
    assert [t.value for t in app.title] == ["Dosing audit"]
    next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert "user" not in app.session_state


def test_user_typed_text_is_shown_as_typed_not_as_markdown(monkeypatch, db_url):
    shown = "**Boss** [click](http://example.invalid)"
    auth.add_user("boss", "nurse", "a long enough passphrase", actor="test", display_name=shown, url=db_url)
    app = new_app(monkeypatch, db_url)
    app.session_state["user"] = SignedInUser("boss", shown, "nurse")
    app.run()
    caption = next(c.value for c in app.sidebar.caption if "Signed in as" in c.value)
    # escaped, and the bare link broken by a word joiner (Markdown finds bare links after reading escapes)
    assert r"\*\*Boss\*\* \[click\]\(http" + "\u2060" + r"\://example\.invalid\)" in caption


def test_admin_filters_the_audit_trail_by_user_and_record_type(monkeypatch, demo_sqlite_url):
    auth.sign_in("pharmacist", "wrong-password", url=demo_sqlite_url)
    app = new_app(monkeypatch, demo_sqlite_url)
    app.session_state["user"] = SignedInUser("admin", "Demo admin", "admin")
    app.run()
    trail_user = next(box for box in app.selectbox if box.label == "User" and "(all)" in box.options)
    trail_user.select("pharmacist").run()
    kind = next(box for box in app.selectbox if box.label == "Record type")
    kind.set_value("user").run()
    trail = next(frame.value for frame in app.dataframe if "Action" in frame.value.columns)
    assert len(trail) >= 1
    assert set(trail["User"]) == {"pharmacist"} and set(trail["Record type"]) == {"User"}
    assert "Sign in failed" in set(trail["Action"])
    assert any(button.label == "Download audit trail CSV" for button in app.get("download_button"))


# --- a signed-in session follows its account ---------------------------------------------------------------

def _session_of(monkeypatch, url: str, username: str, role: str) -> AppTest:
    auth.add_user("chief", "admin", "a long enough passphrase", actor="test", url=url)
    auth.add_user(username, role, "a long enough passphrase", actor="test", url=url)
    app = new_app(monkeypatch, url)
    app.session_state["user"] = auth.current_account(username, url=url)
    app.session_state["last_activity"] = time.time()
    return app.run()


def test_a_disabled_account_is_signed_out_at_its_next_click(monkeypatch, db_url):
    app = _session_of(monkeypatch, db_url, "nora", "nurse")
    assert [t.value for t in app.title] == ["Worklist"]
    auth.set_active("nora", False, actor="chief", url=db_url)
    app.run()  # any click reruns the page
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert any("account was disabled" in i.value for i in app.info), [i.value for i in app.info]
    assert "user" not in app.session_state
    trail = queries.audit_trail(db_url, username="nora")
    assert "account disabled" in " ".join(trail["detail"].dropna())


def test_a_demoted_oncologist_loses_the_cohort_page_at_once(monkeypatch, db_url):
    app = _session_of(monkeypatch, db_url, "olive", "oncologist")
    app.switch_page("app_pages/cohort.py").run()
    assert [t.value for t in app.title] == ["Cohort vs BOLERO-2"]
    auth.set_role("olive", "nurse", actor="chief", url=db_url)
    app.run()
    assert not app.title or app.title[0].value != "Cohort vs BOLERO-2"
    assert any("not available to the nurse role" in e.value for e in app.error) or \
        [t.value for t in app.title] == ["Worklist"]
    assert app.session_state["user"].role == "nurse"


def test_a_sign_in_attempt_by_a_disabled_account_is_in_the_audit_trail(db_url):
    auth.add_user("chief", "admin", "a long enough passphrase", actor="test", url=db_url)
    auth.add_user("nora", "nurse", "a long enough passphrase", actor="test", url=db_url)
    auth.set_active("nora", False, actor="chief", url=db_url)
    assert auth.sign_in("nora", "a long enough passphrase", url=db_url).user is None
    trail = queries.audit_trail(db_url, username="nora")
    assert list(trail["action"])[:1] == ["sign_in_failed"] and "account disabled" in trail["detail"].iloc[0]


def test_a_form_sent_after_the_idle_timeout_saves_nothing_and_comes_back_to_the_same_user(monkeypatch, db_url):
    """The nurse's form reaches the server after the timeout (Enter behind the lock, or a click just before
    the browser hid the page): the session is signed out, nothing is saved, and the same user's next sign-in
    brings back the page with what was typed. Another user signing in on that browser gets none of it."""
    from tests.dashboard.pages.test_pages import signed_in_account

    monkeypatch.setenv(settings.IDLE_TIMEOUT_ENV, "30")
    for role in ("admin", "nurse"):
        signed_in_account(db_url, role)
    app = new_app(monkeypatch, db_url)
    app.session_state["user"] = auth.current_account("admin", url=db_url)
    app.run()
    app.switch_page("app_pages/admin.py").run()
    app.text_input(key="new_username").input("typed-before-timeout")
    app.text_input(key="new_display_name").input("Typed Name")
    app.session_state["last_activity"] = time.time() - 31 * 60
    next(b for b in app.button if b.label == "Add user").click().run()
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert any("What you had typed is kept, not saved: sign in again as admin" in i.value for i in app.info)
    assert "typed-before-timeout" not in {u.username for u in auth.list_users(db_url)}

    sign_in(app, "admin", "a long enough passphrase")
    assert [t.value for t in app.title] == ["Admin"], "back on the page the time-out left"
    assert app.text_input(key="new_username").value == "typed-before-timeout"
    assert app.text_input(key="new_display_name").value == "Typed Name"
    assert "typed-before-timeout" not in {u.username for u in auth.list_users(db_url)}

    # Someone else on the same browser: the kept entries are dropped, not shown to them.
    app.session_state["last_activity"] = time.time() - 31 * 60
    app.run()
    sign_in(app, "nurse", "a long enough passphrase")
    assert [t.value for t in app.title] == ["Worklist"]
    assert "new_username" not in app.session_state and "kept_entries" not in app.session_state


def test_a_patient_link_opened_before_sign_in_is_followed_after_it(monkeypatch, demo_sqlite_url):
    app = new_app(monkeypatch, demo_sqlite_url)
    app.query_params["mrn"] = "DEMO-00012"
    app.run()
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    sign_in(app, "oncologist", "demo")
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.title) == 1 and app.title[0].value.endswith(r"DEMO\-00012"), [t.value for t in app.title]


def test_log_event_and_record_lab_open_with_the_patient_of_the_page(monkeypatch, demo_sqlite_url):
    from tests.dashboard.pages.test_pages import open_app

    app = open_app(monkeypatch, demo_sqlite_url, role="nurse")
    app.query_params["mrn"] = "DEMO-00012"
    app.switch_page("app_pages/patient_detail.py").run()
    next(b for b in app.button if b.label == "Record lab").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert [t.value for t in app.title] == ["Record labs"], "the title says the mode"
    assert app.session_state["log_patient"] == queries.patient_id_for_mrn("DEMO-00012", demo_sqlite_url)
    assert app.session_state["log_mode"] == "Labs"
    assert any(w.label == "Test" for w in app.selectbox), "the lab form, for that patient"
