"""Every page renders real data from the database (streamlit.testing AppTest)."""
from __future__ import annotations

import json

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from models import settings
from models.auth import SignedInUser
from models.store import queries
from models.store.db import read_session
from models.store.tables import AuditEntry
from dashboard.widgets import plain
from tests.support.shown import shown_table

APP = str(settings.PROJECT_ROOT / "dashboard" / "app.py")
PAGES = {
    "app_pages/worklist.py": "Worklist",
    "app_pages/log_event.py": "Log adverse event",
    "app_pages/patients.py": "Patients",
    "app_pages/cohort.py": "Cohort vs BOLERO-2",
    "app_pages/dosing_audit.py": "Dosing audit",
    "app_pages/admin.py": "Admin",
}


def signed_in_account(url: str, role: str) -> SignedInUser:
    """The account named after `role` (the demo's, or one made here on another database), as it signs in:
    every rerun re-reads the account, so a session for an account the database lacks is signed out."""
    from models import auth

    if auth.current_account(role, url=url) is None:
        auth.add_user(role, role, "a long enough passphrase", actor="test", display_name=f"Demo {role}", url=url)
    return auth.current_account(role, url=url)


def open_app(monkeypatch, url: str, page: str | None = None, role: str = "admin") -> AppTest:
    """The app as a signed-in user of `role` (a session as the sign-in page leaves it)."""
    monkeypatch.setenv(settings.DATABASE_URL_ENV, url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["user"] = signed_in_account(url, role)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.mark.parametrize("page,title", PAGES.items())
def test_each_page_renders_on_the_demo_cohort(monkeypatch, demo_sqlite_url, page, title):
    app = open_app(monkeypatch, demo_sqlite_url, page)
    assert [t.value for t in app.title] == [title]
    if page.endswith("log_event.py"):  # the nurse's page starts with the patient picker
        assert len(app.selectbox(key="log_patient").options) == 120
    else:
        assert app.dataframe, "every page shows a table from the database"


def test_patients_roster_lists_every_patient_and_search_filters(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, "app_pages/patients.py")
    assert len(app.dataframe[0].value) == len(queries.patients(demo_sqlite_url)) == 120
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Patients"] == "120"
    app.text_input(key="patient_search").input("DEMO-00012").run()
    assert list(app.dataframe[0].value["MRN"]) == ["DEMO-00012"]
    app.text_input(key="patient_search").input("no such patient").run()
    assert len(app.dataframe[0].value) == 0


def test_cohort_page_compares_with_the_default_reference(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, "app_pages/cohort.py")
    assert app.selectbox[0].value == "bolero2_interim_2012"
    table = shown_table(app, "Band")
    stomatitis = table[(table["term"] == "Mucositis oral") & (table["band"] == "Any grade")].iloc[0]
    assert stomatitis["reference_pct"] == "56" and stomatitis["exposed"] == 120
    assert stomatitis["ci_low_pct"] <= stomatitis["pct"] <= stomatitis["ci_high_pct"]
    assert {"higher", "lower", "consistent", "no reference"} >= set(table["signal"])


def test_admin_shows_reference_data_with_status_and_sources(monkeypatch, demo_sqlite_url):
    app = open_app(monkeypatch, demo_sqlite_url, "app_pages/admin.py")
    frames = [frame.value for frame in app.dataframe]
    terms = next(f for f in frames if "MedDRA code" in f.columns)
    assert {"Checked", "To be checked"} == set(terms["Status"])
    rates = next(f for f in frames if "Verified" in f.columns)
    assert "BOLERO-2, 18-month follow-up" in set(rates["Reference set"])
    assert rates["Reference source"].str.len().min() > 0
    assert any("bolero2_18month (BOLERO-2, 18-month follow-up)" in c.value for c in app.caption)


def test_pages_render_on_an_empty_database(monkeypatch, db_url):
    for page, title in PAGES.items():
        app = open_app(monkeypatch, db_url, page)
        assert [t.value for t in app.title] == [title]


def _no_database_yet(monkeypatch, tmp_path) -> None:
    """No database URL set anywhere, and the default SQLite file does not exist yet (a first start)."""
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.setattr(settings, "SECRETS_PATH", tmp_path / "none.toml")
    monkeypatch.setattr(settings, "DEFAULT_SQLITE_PATH", tmp_path / "data" / "toxwatch.db")


def test_first_run_on_the_default_database_loads_the_demo_and_says_so(monkeypatch, tmp_path):
    _no_database_yet(monkeypatch, tmp_path)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Sign in to ToxWatch"]
    assert any("First run" in s.value and "120 fictional patients" in s.value for s in app.success)
    assert (tmp_path / "data" / "toxwatch.db").exists()
    assert len(queries.patients(settings.default_database_url())) == 120


def test_a_malformed_reference_file_stops_the_app_with_file_and_line(monkeypatch, tmp_path, demo_sqlite_url):
    from models.clinical import dose_rules

    folder = tmp_path / "dose_rules"
    folder.mkdir()
    broken = folder / "us-current.csv"
    lines = dose_rules.RULES_FILE.read_text().splitlines()
    lines[3] = lines[3].replace(",hold,", ",pause,", 1)
    broken.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(dose_rules, "RULES_DIR", folder)
    dose_rules.rule_sets.cache_clear()
    try:
        monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_sqlite_url)
        app = AppTest.from_file(APP, default_timeout=60)
        app.run()
        assert not app.exception
        # shown as plain text: the path's underscores escaped, so Markdown leaves them alone
        assert any(plain(f"{broken}:4: action:") in e.value for e in app.error), [e.value for e in app.error]
    finally:
        dose_rules.rule_sets.cache_clear()


def test_the_default_database_with_a_real_account_gets_no_demo(monkeypatch, tmp_path):
    """`models init` and `users add chief --role admin` on the default file, then the app: no demo patients,
    no demo accounts, and the sign-in page does not advertise the demo password."""
    from models import auth
    from models.store.migrate import upgrade_to_head

    _no_database_yet(monkeypatch, tmp_path)
    url = settings.default_database_url()
    upgrade_to_head(url)
    auth.add_user("chief", "admin", "a long enough passphrase", actor="cli", url=url)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception
    assert [u.username for u in auth.list_users(url)] == ["chief"]
    assert len(queries.patients(url)) == 0
    assert not any("demo" in i.value.lower() for i in app.info), [i.value for i in app.info]


def test_the_sign_in_page_names_the_demo_accounts_only_while_they_exist(monkeypatch, demo_copy_url):
    from models import auth

    monkeypatch.setenv(settings.DATABASE_URL_ENV, demo_copy_url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert any("password **demo**" in i.value for i in app.info)
    auth.add_user("chief", "admin", "a long enough passphrase", actor="admin", url=demo_copy_url)
    for name in ("nurse", "oncologist", "pharmacist", "admin"):
        auth.set_active(name, False, actor="chief", url=demo_copy_url)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not any("demo" in i.value.lower() and "password" in i.value.lower() for i in app.info)


def test_only_the_session_that_created_the_database_is_told_so(monkeypatch, tmp_path):
    _no_database_yet(monkeypatch, tmp_path)
    first = AppTest.from_file(APP, default_timeout=120)
    first.run()
    assert any("First run" in s.value for s in first.success)
    second = AppTest.from_file(APP, default_timeout=120)  # another browser, same server process
    second.run()
    assert not second.exception
    assert not any("First run" in s.value for s in second.success)


def test_admin_page_refuses_to_demote_the_only_admin_and_says_why(monkeypatch, db_url):
    from models import auth

    auth.add_user("admin", "admin", "long enough pw", actor="setup", url=db_url)
    auth.add_user("nora", "nurse", "long enough pw", actor="setup", url=db_url)
    app = open_app(monkeypatch, db_url, "app_pages/admin.py")
    app.selectbox(key="target_user").select("admin").run()
    next(box for box in app.selectbox if box.label == "Role" and box.value == "admin").select("nurse")
    next(b for b in app.button if b.label == "Apply changes to admin").click().run()
    assert not app.exception
    assert any("admin is the only active admin" in e.value and "Applied before the error: nothing" in e.value
               for e in app.error), [e.value for e in app.error]
    assert {u.username: u.role for u in auth.list_users(db_url)} == {"admin": "admin", "nora": "nurse"}


def test_admin_change_form_belongs_to_the_chosen_user_and_applies_only_what_changed(monkeypatch, db_url):
    """Make nora admin; then choose olga and only disable her: olga must stay a nurse (the role field had
    carried nora's new role over to olga, and 'apply' made her admin)."""
    from models import auth

    auth.add_user("admin", "admin", "long enough pw", actor="setup", url=db_url)
    auth.add_user("nora", "nurse", "long enough pw", actor="setup", url=db_url)
    auth.add_user("olga", "nurse", "long enough pw", actor="setup", url=db_url)
    app = open_app(monkeypatch, db_url, "app_pages/admin.py")

    def change_form(name):
        app.selectbox(key="target_user").select(name).run()
        role = next(box for box in app.selectbox if box.label == "Role" and box.key is None)
        state = next(radio for radio in app.radio if radio.label == "Account")
        return role, state, next(b for b in app.button if b.label == f"Apply changes to {name}")

    role, state, apply = change_form("nora")
    assert (role.value, state.value) == ("nurse", "enabled")
    role.select("admin")
    apply.click().run()
    assert any(s.value == "nora: role admin." for s in app.success), [s.value for s in app.success]

    role, state, apply = change_form("olga")
    assert (role.value, state.value) == ("nurse", "enabled"), "the fields show olga's own values"
    state.set_value("disabled")
    apply.click().run()
    assert not app.exception
    assert {u.username: (u.role, u.active) for u in auth.list_users(db_url)} == {
        "admin": ("admin", True), "nora": ("admin", True), "olga": ("nurse", False)}
    with read_session(db_url) as session:
        changes = [json.loads(e.detail)["change"] for e in session.exec(
            select(AuditEntry).where(AuditEntry.action == "update", AuditEntry.record_type == "user")).all()]
    assert changes == ["role", "disabled"], "only what the admin changed is applied and audited"


def test_admin_sees_failed_sign_ins_and_clears_one(monkeypatch, db_url):
    from models import auth
    from models.store import sign_in_throttle as throttle

    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)
    auth.add_user("nora", "nurse", "long enough pw", actor="setup", url=db_url)
    for n in range(throttle.FREE_FAILURES[throttle.ACCOUNT]):
        auth.sign_in("nora", f"guess {n}", client="198.51.100.4", url=db_url)
    app = open_app(monkeypatch, db_url, "app_pages/admin.py")
    waits = next(e.value for e in app.dataframe if "Username or address" in e.value.columns)
    assert dict(zip(waits["Username or address"], waits["Kind"])) == {
        "nora": "Username", "198.51.100.4": "Computer (address)"}
    assert list(waits["Failures in a row"]) == [5, 5]
    assert list(waits["Locked until (UTC)"].str.len() > 10) == [True, False]  # a day and a time; the computer waits not
    form_box = next(b for b in app.selectbox if b.label == "Clear the failed sign-ins of")
    assert form_box.format_func("account:nora") == "username nora"
    form_box.select("account:nora")
    next(b for b in app.button if b.label == "Clear failed sign-ins").click().run()
    assert not app.exception
    assert any(s.value == "Cleared the failed sign-ins of username nora." for s in app.success)
    assert auth.sign_in("nora", "long enough pw", url=db_url).user is not None


def test_a_username_in_a_button_label_is_shown_as_typed(monkeypatch, db_url):
    """Button labels are Markdown: "a_b_" would show as an italic "b"."""
    from models import auth

    auth.add_user("a_b_", "nurse", "long enough pw", actor="setup", url=db_url)
    app = open_app(monkeypatch, db_url, "app_pages/admin.py")
    app.selectbox(key="target_user").select("a_b_").run()
    assert any(b.label == r"Apply changes to a\_b\_" for b in app.button), [b.label for b in app.button]
