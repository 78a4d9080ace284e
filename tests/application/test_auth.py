"""Accounts and sign-in (models.auth) on SQLite and PostgreSQL: argon2 hashes, lock-out, audit entries,
the demo accounts and the `users` command line."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlmodel import select

from models import auth
from models.auth import AccountError, SignedInUser
from models.settings import PROJECT_ROOT
from models.store.db import dispose_engine, get_engine, read_session
from models.store import sign_in_throttle as throttle
from models.store.tables import AuditEntry, SignInThrottle, User
from tests.conftest import DEMO_TODAY

PASSWORD = "correct horse battery"
OTHER_PASSWORD = "tr0ub4dor&3-staple"
ADMIN = "ada"


@pytest.fixture(autouse=True)
def _fast_and_isolated_sign_ins(monkeypatch):
    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)


def _audits(url: str, action: str | None = None) -> list[dict]:
    with read_session(url) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        entries = [{"username": r.username, "action": r.action, "record_type": r.record_type,
                    "detail": json.loads(r.detail) if r.detail else None,
                    "before": json.loads(r.before) if r.before else None,
                    "after": json.loads(r.after) if r.after else None} for r in rows]
    return [e for e in entries if action is None or e["action"] == action]


def _user_row(url: str, username: str) -> User:
    with read_session(url) as session:
        return session.exec(select(User).where(User.username == username)).one()


def _all_text(url: str, table: str) -> str:
    """Every value of every column of a table, as one string."""
    with get_engine(url).connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM {table}")).all()
    return "\n".join(repr(value) for row in rows for value in row)


def _add(url: str, username: str = "nora", role: str = "nurse", password: str = PASSWORD, **kwargs):
    return auth.add_user(username, role, password, actor=ADMIN, url=url, **kwargs)


# --- storing accounts -----------------------------------------------------------------------------------

def test_add_user_stores_an_argon2_hash_never_the_password(db_url):
    summary = _add(db_url, display_name="Nora Nurse")
    assert (summary.username, summary.role, summary.active, summary.display_name) == (
        "nora", "nurse", True, "Nora Nurse")
    assert not hasattr(summary, "password_hash")
    row = _user_row(db_url, "nora")
    assert row.password_hash.startswith("$argon2")
    assert PASSWORD not in row.password_hash
    assert PasswordHasher().verify(row.password_hash, PASSWORD)
    created = _audits(db_url, "create")
    assert len(created) == 1
    assert (created[0]["username"], created[0]["record_type"], created[0]["detail"]["account"]) == (
        ADMIN, "user", "nora")
    assert created[0]["before"] is None
    assert created[0]["after"] == {"role": "nurse", "active": True, "display_name": "Nora Nurse"}

    # Sign in right and wrong, change the password: neither password shows up anywhere.
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is not None
    assert auth.sign_in("nora", OTHER_PASSWORD + "x", url=db_url).user is None
    auth.reset_password("nora", OTHER_PASSWORD, actor=ADMIN, url=db_url)
    everything = _all_text(db_url, "app_user") + _all_text(db_url, "audit_entry")
    assert "$argon2" in everything  # the scan does read the hash column
    for secret in (PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD + "x"):
        assert secret not in everything


def test_two_users_with_one_password_get_different_hashes(db_url):
    _add(db_url, "nora")
    _add(db_url, "olga", "oncologist")
    assert _user_row(db_url, "nora").password_hash != _user_row(db_url, "olga").password_hash  # salted


@pytest.mark.parametrize(("username", "role", "password", "words"), [
    ("nora", "surgeon", PASSWORD, ["Unknown role 'surgeon'", "nurse", "admin"]),
    ("nora", "nurse", "short12", ["at least 12 characters"]),
    ("nora", "nurse", "", ["at least 12 characters"]),
    ("no ra", "nurse", PASSWORD, ["username", "letters a-z, digits"]),
    ("", "nurse", PASSWORD, ["username"]),
    ("x" * 65, "nurse", PASSWORD, ["1-64"]),
], ids=["bad-role", "short-password", "no-password", "space-in-name", "blank-name", "long-name"])
def test_bad_account_input_is_refused(db_url, username, role, password, words):
    with pytest.raises(AccountError) as refused:
        auth.add_user(username, role, password, actor=ADMIN, url=db_url)
    for word in words:
        assert word in str(refused.value)
    assert auth.user_count(db_url) == 0
    assert _audits(db_url) == []


@pytest.mark.parametrize("password", ["password", "12345678", " " * 8, "password1234", "passwordpassword",
                                      "123456789012", "qwertyuiopas", "toxwatch2026!", "Everolimus123",
                                      "nora12345678"])
def test_common_and_context_passwords_are_refused_even_for_an_admin(db_url, password):
    with pytest.raises(AccountError, match="at least 12 characters|too easy to guess"):
        auth.add_user("nora", "admin", password, actor=ADMIN, display_name="Nora Nurse", url=db_url)
    assert auth.user_count(db_url) == 0


def test_a_long_unrelated_phrase_is_accepted(db_url):
    assert auth.add_user("nora", "admin", "violet kettle harbour sings", actor=ADMIN, url=db_url).role == "admin"


@pytest.mark.parametrize("look_alike", ["NORA", "n0ra", "nora", "Nora", "nоra"])  # the last has a Cyrillic o
def test_a_username_that_looks_like_an_existing_one_is_refused(db_url, look_alike):
    _add(db_url, "nora")
    with pytest.raises(AccountError, match="is taken|looks like|letters a-z"):
        auth.add_user(look_alike, "admin", PASSWORD, actor=ADMIN, url=db_url)
    assert [u.username for u in auth.list_users(db_url)] == ["nora"]


def test_a_display_name_over_200_characters_is_a_message_not_a_traceback(db_url):
    with pytest.raises(AccountError, match="at most 200"):
        auth.add_user("nora", "nurse", PASSWORD, actor=ADMIN, display_name="N" * 201, url=db_url)


def test_a_nul_byte_in_the_sign_in_username_is_a_wrong_credential(db_url):
    _add(db_url, "nora")
    result = auth.sign_in("no\x00ra", PASSWORD, url=db_url)
    assert result.user is None and result.message == auth.WRONG_CREDENTIALS


def test_an_unknown_username_takes_as_long_as_a_wrong_password(db_url, monkeypatch):
    """Verified against a dummy argon2 hash: the medians differ by less than 20% (it was ~950 vs ~500 ms)."""
    import statistics
    import time

    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)
    monkeypatch.setitem(throttle.FREE_FAILURES, throttle.ACCOUNT, 10_000)  # measure the check, not the wait
    monkeypatch.setitem(throttle.FREE_FAILURES, throttle.CLIENT, 10_000)
    _add(db_url, "nora")

    def median_seconds(username: str) -> float:
        times = []
        for _ in range(9):
            started = time.perf_counter()
            auth.sign_in(username, "not the password", url=db_url)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known, unknown = median_seconds("nora"), median_seconds("nobody")
    assert abs(known - unknown) / max(known, unknown) < 0.2, (known, unknown)


def test_duplicate_username_is_refused_whatever_its_case(db_url):
    _add(db_url, "nora")
    for name in ("nora", "Nora", "NORA"):
        with pytest.raises(AccountError) as refused:
            _add(db_url, name, "oncologist")
        assert "is taken" in str(refused.value) and repr(name) in str(refused.value)
    assert [u.username for u in auth.list_users(db_url)] == ["nora"]
    assert len(_audits(db_url)) == 1


# --- sign-in --------------------------------------------------------------------------------------------

def test_sign_in_with_the_right_password(db_url):
    _add(db_url, display_name="Nora Nurse")
    result = auth.sign_in("  nora ", PASSWORD, url=db_url)
    assert result.user == SignedInUser("nora", "Nora Nurse", "nurse") and result.message is None
    entries = _audits(db_url, "sign_in")
    assert [(e["username"], e["record_type"]) for e in entries] == [("nora", "user")]


def test_wrong_password_and_unknown_username_get_the_same_message(db_url):
    _add(db_url)
    wrong = auth.sign_in("nora", "not-the-password", url=db_url)
    unknown = auth.sign_in("nobody", PASSWORD, url=db_url)
    blank = auth.sign_in("nora", "", url=db_url)
    assert wrong.user is None and unknown.user is None and blank.user is None
    assert wrong.message == unknown.message == blank.message == auth.WRONG_CREDENTIALS
    failures = _audits(db_url, "sign_in_failed")
    assert [e["username"] for e in failures] == ["nora", "nobody", "nora"]
    assert all(e["detail"] == {"reason": "wrong credentials"} for e in failures)
    assert _audits(db_url, "sign_in") == []
    assert {t.key: t.failures for t in auth.sign_in_throttles(db_url)} == {
        "account:nora": 2, "account:nobody": 1, "client:unknown": 3}


FREE = throttle.FREE_FAILURES[throttle.ACCOUNT]


def _later(monkeypatch, seconds: float) -> None:
    moment = auth.utc_now() + timedelta(seconds=seconds)
    monkeypatch.setattr(auth, "utc_now", lambda: moment)


def test_repeated_failures_make_the_username_wait_longer_each_time_even_for_the_right_password(db_url,
                                                                                               monkeypatch):
    _add(db_url)
    messages = [auth.sign_in("nora", f"guess-{n}", client="10.0.0.7", url=db_url).message for n in range(FREE)]
    assert messages[:-1] == [auth.WRONG_CREDENTIALS] * (FREE - 1)
    assert messages[-1].startswith("Too many failed sign-ins") and "30 seconds" in messages[-1]
    waiting = auth.sign_in("nora", PASSWORD, client="10.0.0.7", url=db_url)
    assert waiting.user is None and waiting.message.startswith("Too many failed sign-ins")
    assert auth.sign_in("nora", PASSWORD, client="10.0.0.8", url=db_url).user is None  # per username
    assert _audits(db_url, "sign_in") == []
    assert auth.list_users(db_url)[0].locked_until is not None

    # The wait ends by itself; the next failure waits twice as long.
    _later(monkeypatch, 31)
    assert "1 minutes" not in (again := auth.sign_in("nora", "guess-again", url=db_url).message)
    assert "60 seconds" in again
    _later(monkeypatch, 31 + 61)
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is not None
    assert auth.list_users(db_url)[0].locked_until is None
    assert "account:nora" not in {t.key for t in auth.sign_in_throttles(db_url)}  # cleared by the success


def test_the_wait_grows_exponentially_to_a_cap():
    waits = [throttle.wait_after(throttle.ACCOUNT, n) for n in range(1, 16)]
    assert waits[:FREE - 1] == [None] * (FREE - 1)
    assert [w.total_seconds() for w in waits[FREE - 1:FREE + 4]] == [30, 60, 120, 240, 480]
    assert waits[-1] == throttle.LONGEST_WAIT == timedelta(minutes=15)
    assert throttle.wait_after(throttle.CLIENT, FREE) is None  # a shared ward computer is allowed more


def test_a_client_address_that_guesses_many_usernames_waits(db_url):
    client_free = throttle.FREE_FAILURES[throttle.CLIENT]
    _add(db_url)
    for n in range(client_free):
        auth.sign_in(f"user{n}", "guess", client="192.0.2.9", url=db_url)
    refused = auth.sign_in("nora", PASSWORD, client="192.0.2.9", url=db_url)
    assert refused.user is None and refused.message.startswith("Too many failed sign-ins")
    assert auth.sign_in("nora", PASSWORD, client="192.0.2.10", url=db_url).user is not None  # another computer


def test_the_throttle_is_kept_in_the_database_not_in_the_process(db_url):
    """A restart (a fresh engine) or a second app instance sees the same counts."""
    for n in range(FREE):
        auth.sign_in("ghost", f"guess-{n}", url=db_url)
    dispose_engine(db_url)
    assert auth.sign_in("GHOST", PASSWORD, url=db_url).message.startswith("Too many failed")  # any case
    with read_session(db_url) as session:
        assert session.get(SignInThrottle, "account:ghost").failures == FREE


def test_an_administrator_can_unlock_a_username_or_an_address(db_url):
    _add(db_url)
    _add(db_url, ADMIN, "admin")
    for n in range(FREE):
        auth.sign_in("nora", f"guess-{n}", client="10.0.0.7", url=db_url)
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is None
    assert auth.unlock("account:nora", actor=ADMIN, url=db_url) is True
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is not None
    assert auth.unlock("account:nora", actor=ADMIN, url=db_url) is False  # nothing left to clear
    assert auth.unlock("client:10.0.0.7", actor=ADMIN, url=db_url) is True
    unlocks = _audits(db_url, "unlock")
    assert [(e["username"], e["detail"]) for e in unlocks] == [
        (ADMIN, {"account": "nora", "throttle": "account"}), (ADMIN, {"account": "10.0.0.7", "throttle": "client"})]
    # A password reset ends a wait too.
    for n in range(FREE):
        auth.sign_in("nora", f"guess-{n}", client="10.0.0.8", url=db_url)
    auth.reset_password("nora", OTHER_PASSWORD, actor=ADMIN, url=db_url)
    assert auth.sign_in("nora", OTHER_PASSWORD, url=db_url).user is not None


def test_an_unknown_username_waits_like_a_real_one(db_url):
    _add(db_url)
    real = [auth.sign_in("nora", f"guess-{n}", client="a", url=db_url).message for n in range(FREE + 1)]
    ghost = [auth.sign_in("ghost", f"guess-{n}", client="b", url=db_url).message for n in range(FREE + 1)]
    assert real == ghost  # nothing tells a real account from a made-up one
    assert ghost[-1].startswith("Too many failed") and ghost[0] == auth.WRONG_CREDENTIALS


def test_a_disabled_account_is_refused(db_url):
    _add(db_url)
    _add(db_url, ADMIN, "admin")
    auth.set_active("nora", False, actor=ADMIN, url=db_url)
    refused = auth.sign_in("nora", PASSWORD, url=db_url)
    assert refused.user is None and "disabled" in refused.message
    # Without the right password nothing is revealed about the account.
    assert auth.sign_in("nora", "wrong-password", url=db_url).message == auth.WRONG_CREDENTIALS
    assert _audits(db_url, "sign_in") == []
    auth.set_active("nora", True, actor=ADMIN, url=db_url)
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is not None


def test_sign_in_failure_and_sign_out_leave_audit_entries(db_url):
    _add(db_url)
    auth.sign_in("nora", "wrong-password", url=db_url)
    auth.sign_in("nora", PASSWORD, url=db_url)
    auth.record_sign_out("nora", "signed out", url=db_url)
    auth.record_sign_out("nora", "idle timeout", url=db_url)
    entries = [e for e in _audits(db_url) if e["action"] != "create"]
    assert [(e["username"], e["action"], e["record_type"]) for e in entries] == [
        ("nora", "sign_in_failed", "user"), ("nora", "sign_in", "user"), ("nora", "sign_out", "user"),
        ("nora", "sign_out", "user")]
    assert [e["detail"]["reason"] for e in entries[2:]] == ["signed out", "idle timeout"]


# --- administration -------------------------------------------------------------------------------------

def test_role_activity_and_password_changes_are_audited(db_url):
    _add(db_url)
    version = _user_row(db_url, "nora").version

    assert auth.set_role("nora", "oncologist", actor=ADMIN, url=db_url).role == "oncologist"
    assert auth.set_active("nora", False, actor=ADMIN, url=db_url).active is False
    auth.reset_password("nora", OTHER_PASSWORD, actor=ADMIN, url=db_url)
    updates = _audits(db_url, "update")
    assert [(e["username"], e["record_type"], e["detail"]) for e in updates] == [
        (ADMIN, "user", {"account": "nora", "change": "role"}),
        (ADMIN, "user", {"account": "nora", "change": "disabled"}),
        (ADMIN, "user", {"account": "nora", "change": "password reset"})]
    assert (updates[0]["before"]["role"], updates[0]["after"]["role"]) == ("nurse", "oncologist")
    assert (updates[1]["before"]["active"], updates[1]["after"]["active"]) == (True, False)
    assert updates[2]["before"] == updates[2]["after"] == {"role": "oncologist", "active": False,
                                                           "display_name": "nora"}
    assert _user_row(db_url, "nora").version == version + 3

    auth.set_active("nora", True, actor=ADMIN, url=db_url)
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is None  # the old password no longer works
    assert auth.sign_in("nora", OTHER_PASSWORD, url=db_url).user == SignedInUser("nora", "nora", "oncologist")


def test_the_last_active_admin_cannot_be_demoted_or_disabled(db_url):
    _add(db_url, ADMIN, "admin")
    _add(db_url, "bob", "admin")
    _add(db_url)
    auth.set_role("bob", "oncologist", actor=ADMIN, url=db_url)  # another admin is left: allowed
    trail = _audits(db_url)
    with pytest.raises(AccountError, match="ada is the only active admin"):
        auth.set_role(ADMIN, "nurse", actor="bob", url=db_url)
    with pytest.raises(AccountError, match="ada is the only active admin"):
        auth.set_active(ADMIN, False, actor="bob", url=db_url)
    assert _user_row(db_url, ADMIN).role == "admin" and _user_row(db_url, ADMIN).active
    assert _audits(db_url) == trail
    auth.set_role("nora", "admin", actor=ADMIN, url=db_url)
    assert auth.set_active(ADMIN, False, actor="nora", url=db_url).active is False  # now there is another


def test_refused_administration_changes_nothing(db_url):
    _add(db_url, ADMIN, "admin")
    _add(db_url)
    trail = _audits(db_url)
    with pytest.raises(AccountError) as refused:
        auth.set_active(ADMIN, False, actor=ADMIN, url=db_url)
    assert "cannot disable your own account" in str(refused.value)
    with pytest.raises(AccountError) as refused:
        auth.set_role("nora", "surgeon", actor=ADMIN, url=db_url)
    assert "Unknown role" in str(refused.value)
    with pytest.raises(AccountError) as refused:
        auth.reset_password("nora", "short", actor=ADMIN, url=db_url)
    assert "at least 12" in str(refused.value)
    with pytest.raises(AccountError) as refused:
        auth.set_role("nobody", "nurse", actor=ADMIN, url=db_url)
    assert "No account named 'nobody'" in str(refused.value)
    assert _audits(db_url) == trail
    assert [(u.username, u.role, u.active) for u in auth.list_users(db_url)] == [
        (ADMIN, "admin", True), ("nora", "nurse", True)]
    assert auth.sign_in("nora", PASSWORD, url=db_url).user is not None
    # Another administrator may disable this one.
    _add(db_url, "root2", "admin")
    assert auth.set_active(ADMIN, False, actor="root2", url=db_url).active is False


# --- demo accounts --------------------------------------------------------------------------------------

def test_seed_demo_creates_the_four_demo_accounts(db_url):
    from models.demo import seed_demo

    seed_demo(db_url, patients=3, seed=1, today=DEMO_TODAY)
    users = auth.list_users(db_url)
    assert sorted((u.username, u.role, u.active) for u in users) == [
        ("admin", "admin", True), ("nurse", "nurse", True), ("oncologist", "oncologist", True),
        ("pharmacist", "pharmacist", True)]
    for role in ("nurse", "oncologist", "pharmacist", "admin"):
        assert _user_row(db_url, role).password_hash.startswith("$argon2")
        result = auth.sign_in(role, auth.DEMO_PASSWORD, url=db_url)
        assert result.user is not None and result.user.role == role, result.message
    assert auth.sign_in("nurse", "wrong", url=db_url).user is None


def test_seed_demo_refuses_a_database_with_an_account(db_url):
    """Demo accounts share the published password 'demo': they never join a real account."""
    from models.demo import DatabaseNotEmptyError, seed_demo

    auth.add_user("chief", "admin", "a long enough passphrase", actor="cli", url=db_url)
    with pytest.raises(DatabaseNotEmptyError, match="1 account"):
        seed_demo(db_url, patients=3, seed=1, today=DEMO_TODAY)
    assert [u.username for u in auth.list_users(db_url)] == ["chief"]


def test_a_database_that_is_not_a_demo_has_no_accounts(db_url):
    assert auth.user_count(db_url) == 0 and auth.list_users(db_url) == []
    result = auth.sign_in("admin", auth.DEMO_PASSWORD, url=db_url)
    assert result.user is None and result.message == auth.WRONG_CREDENTIALS


# --- command line ---------------------------------------------------------------------------------------

def _cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", "--database-url", url, *args], input=stdin,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_users_command_adds_lists_and_disables(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    try:
        added = _cli(url, "users", "add", "carla", "--role", "nurse", stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        assert "Added carla (nurse)." in added.stdout
        assert PASSWORD not in added.stdout + added.stderr

        listed = _cli(url, "users", "list")
        assert listed.returncode == 0, listed.stderr
        assert "carla\tnurse\tactive\tcarla" in listed.stdout.splitlines()

        assert auth.sign_in("carla", PASSWORD, url=url).user == SignedInUser("carla", "carla", "nurse")

        disabled = _cli(url, "users", "disable", "carla")
        assert disabled.returncode == 0, disabled.stderr
        assert "carla is now disabled." in disabled.stdout
        assert "carla\tnurse\tdisabled\tcarla" in _cli(url, "users", "list").stdout.splitlines()
        assert "disabled" in auth.sign_in("carla", PASSWORD, url=url).message

        short = _cli(url, "users", "add", "dora", "--role", "nurse", stdin="short\n")
        assert short.returncode == 1 and "at least 12 characters" in short.stderr
        taken = _cli(url, "users", "add", "CARLA", "--role", "admin", stdin=PASSWORD + "\n")
        assert taken.returncode == 1 and "is taken" in taken.stderr
        missing = _cli(url, "users", "disable", "nobody")
        assert missing.returncode == 1 and "No account named 'nobody'" in missing.stderr
        assert [u.username for u in auth.list_users(url)] == ["carla"]

        changes = [e for e in _audits(url) if e["record_type"] == "user" and e["action"] in ("create", "update")]
        assert [(e["action"], e["username"].startswith("cli")) for e in changes] == [
            ("create", True), ("update", True)]
        assert PASSWORD not in _all_text(url, "audit_entry") + _all_text(url, "app_user")
    finally:
        dispose_engine(url)


def test_parallel_wrong_guesses_lock_the_account_and_the_right_one_then_fails(db_url, monkeypatch):
    """30 guesses at once: each failure is counted atomically, so the lock-out holds and the right password
    right after them is refused (all 30 were checked and the right one signed in before)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(auth, "FAILED_SIGN_IN_DELAY_S", 0)
    _add(db_url, "nora")
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: auth.sign_in("nora", f"wrong guess {i}", url=db_url), range(30)))
    assert all(r.user is None for r in results)
    assert sum("Too many failed sign-ins" in r.message for r in results) >= 30 - FREE
    after = auth.sign_in("nora", PASSWORD, url=db_url)
    assert after.user is None and "Too many failed sign-ins" in after.message
    assert auth.list_users(db_url)[0].locked_until is not None
