"""Local accounts: argon2 password hashes, roles, sign-in with throttling, and their audit entries.

Passwords are never logged, shown or stored in clear; only the argon2 hash is kept.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func
from sqlmodel import select

from models.clinical.vocabulary import ROLES
from models.store import sign_in_throttle as throttle
from models.store.db import read_session, write_session
from models.store.tables import AuditEntry, User, utc_now

FAILED_SIGN_IN_DELAY_S = 0.5  # slows guessing; tests set it to 0
MIN_PASSWORD_LENGTH = 12
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4 guessability score: 3 = "safely unguessable" for online guessing
MAX_DISPLAY_NAME_LENGTH = 200
# Words of this place a guesser tries first; a password built on them is refused like a common one.
CONTEXT_WORDS = ("toxwatch", "everolimus", "afinitor", "exemestane", "oncology", "clinic", "nurse", "oncologist",
                 "pharmacist", "admin", "demo", "password")
# ASCII characters that read alike; usernames are compared with them folded (after lower case).
_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "_": "-", ".": "-"})
DEMO_PASSWORD = "demo"
WRONG_CREDENTIALS = "Unknown username or wrong password."

_hasher = PasswordHasher()
# Verified against for an unknown username, so it takes as long as a wrong password (no enumeration by time).
_DUMMY_HASH = _hasher.hash("no account has this password")


class AccountError(ValueError):
    """A refused account change; the message is meant for the user."""


@dataclass(frozen=True)
class SignedInUser:
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class SignInResult:
    user: SignedInUser | None
    message: str | None = None


@dataclass(frozen=True)
class UserSummary:
    username: str
    display_name: str
    role: str
    active: bool
    locked_until: datetime | None  # the username's sign-in wait, while it runs
    created_at: datetime


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_username(username: str) -> str:
    username = (username or "").strip()
    if not username or len(username) > 64 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in username):
        raise AccountError("A username is 1-64 letters a-z, digits, dots, dashes or underscores.")
    return username


def _look_alike(username: str) -> str:
    """What a username looks like to a reader: case and look-alike characters folded ("N0ra" ~ "nora")."""
    folded = username.lower().translate(_CONFUSABLE)
    return folded.replace("rn", "m").replace("vv", "w")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    return role


def _check_password(password: str, *, username: str = "", display_name: str = "",
                    allow_short: bool = False) -> str:
    """At least MIN_PASSWORD_LENGTH characters, not blank, and not guessable: zxcvbn (common passwords,
    dictionary words, keyboard runs, dates) scores it with the account's names and this place's words."""
    from zxcvbn import zxcvbn

    if not password or not password.strip():
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters, not only spaces.")
    if allow_short:  # the demo accounts' published password
        return password
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    words = [username, *display_name.split(), *CONTEXT_WORDS]
    result = zxcvbn(password[:100], user_inputs=[w.lower() for w in words if w])
    if result["score"] < MIN_PASSWORD_SCORE:
        why = result["feedback"].get("warning") or "it is easy to guess"
        raise AccountError(f"That password is too easy to guess ({why.rstrip('.')}); use a longer phrase of "
                           "unrelated words.")
    return password


def _check_display_name(display_name: str | None, username: str) -> str:
    shown = (display_name or username).strip() or username
    if len(shown) > MAX_DISPLAY_NAME_LENGTH or not shown.isprintable():
        raise AccountError(f"A display name is at most {MAX_DISPLAY_NAME_LENGTH} printable characters.")
    return shown


def _audit(session, actor: str, action: str, username: str, detail: dict | None = None,
           before: dict | None = None, after: dict | None = None) -> None:
    session.add(AuditEntry(username=actor, action=action, record_type="user", detail=json.dumps(
        {"account": username, **(detail or {})}), before=json.dumps(before) if before else None,
        after=json.dumps(after) if after else None))


def _summary(user: User, waits: dict[str, datetime] | None = None) -> UserSummary:
    return UserSummary(user.username, user.display_name, user.role, user.active,
                       (waits or {}).get(throttle.account_key(user.username)), user.created_at)


def _public(user: User) -> dict:
    return {"role": user.role, "active": user.active, "display_name": user.display_name}


def add_user(username: str, role: str, password: str, *, actor: str, display_name: str | None = None,
             url: str | None = None, allow_short_password: bool = False) -> UserSummary:
    username, role = _check_username(username), _check_role(role)
    shown = _check_display_name(display_name, username)
    _check_password(password, username=username, display_name=shown, allow_short=allow_short_password)
    with write_session(url) as session:
        clash = next((name for name in session.exec(select(User.username)).all()
                      if _look_alike(name) == _look_alike(username)), None)
        if clash is not None:
            detail = "is taken" if clash.lower() == username.lower() else f"looks like the existing {clash!r}"
            raise AccountError(f"The username {username!r} {detail}.")
        user = User(username=username, display_name=shown, role=role, password_hash=hash_password(password))
        session.add(user)
        session.flush()
        _audit(session, actor, "create", username, after=_public(user))
        return _summary(user)


def list_users(url: str | None = None) -> list[UserSummary]:
    waits = {t.key: t.blocked_until for t in throttle.throttles(url, now=utc_now()) if t.blocked_until}
    with read_session(url) as session:
        return [_summary(u, waits) for u in session.exec(select(User).order_by(User.username)).all()]


def sign_in_throttles(url: str | None = None) -> list[throttle.Throttle]:
    return throttle.throttles(url, now=utc_now())


def unlock(key: str, *, actor: str, url: str | None = None) -> bool:
    """An administrator clears a username's or a client address's failed sign-ins (audited)."""
    with write_session(url) as session:
        cleared = throttle.clear(session.connection(), key)
        if cleared:
            kind, _, name = key.partition(":")
            _audit(session, actor, "unlock", name, {"throttle": kind})
        return cleared


def user_count(url: str | None = None) -> int:
    with read_session(url) as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def _change(username: str, actor: str, url: str | None, action_detail: str, apply) -> UserSummary:
    with write_session(url) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise AccountError(f"No account named {username!r}.")
        before = _public(user)
        apply(user)
        throttle.clear(session.connection(), throttle.account_key(username))  # an admin's change ends any wait
        _keep_an_admin(session, user, before)
        user.version += 1
        session.add(user)
        _audit(session, actor, "update", username, {"change": action_detail}, before, _public(user))
        return _summary(user)


def _keep_an_admin(session, user: User, before: dict) -> None:
    """Refuse to demote or disable the last active admin: nobody could manage accounts any more."""
    if not (before["role"] == "admin" and before["active"]) or (user.role == "admin" and user.active):
        return
    others = session.exec(select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id)
                          .with_for_update()).all()  # two admins demoting each other at once: one waits
    if not others:
        raise AccountError(f"{user.username} is the only active admin; make another account admin first, "
                           "or nobody could manage accounts.")


def set_role(username: str, role: str, *, actor: str, url: str | None = None) -> UserSummary:
    _check_role(role)
    return _change(username, actor, url, "role", lambda user: setattr(user, "role", role))


def set_active(username: str, active: bool, *, actor: str, url: str | None = None) -> UserSummary:
    if not active and username == actor:
        raise AccountError("You cannot disable your own account.")

    def apply(user: User) -> None:
        user.active = active
    return _change(username, actor, url, "enabled" if active else "disabled", apply)


def reset_password(username: str, password: str, *, actor: str, url: str | None = None) -> UserSummary:
    _check_password(password, username=username)

    def apply(user: User) -> None:
        user.password_hash = hash_password(password)
    return _change(username, actor, url, "password reset", apply)


def sign_in(username: str, password: str, *, client: str | None = None, url: str | None = None) -> SignInResult:
    """Check a username and password from a client address. An unknown name and a wrong password get the
    same message, take as long and are throttled alike (per username and per address, in the database)."""
    username = (username or "").strip()[:200]
    if not username.isprintable():  # a NUL byte would reach the database driver (PostgreSQL refuses it)
        username = username.encode("unicode_escape").decode("ascii")[:200]
    attempt_keys = throttle.keys(username, client)
    now = utc_now()
    with read_session(url) as session:
        waiting = throttle.blocked_until(session.connection(), attempt_keys, now)
        user = session.exec(select(User.id, User.username, User.display_name, User.role, User.password_hash)
                            .where(User.username == username)).first() if username and not waiting else None
    if waiting:
        result = SignInResult(None, _wait_message(waiting, now))
    else:
        # The slow hash check runs outside the transaction; the outcome is then judged under the throttle rows'
        # locks (PostgreSQL FOR UPDATE, SQLite's write lock), so parallel guesses cannot slip past the limit.
        correct = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
        with write_session(url) as session:
            result = _judge_attempt(session.connection(), user, username, correct, attempt_keys, now)
    if result.user is None and FAILED_SIGN_IN_DELAY_S:
        time.sleep(FAILED_SIGN_IN_DELAY_S)
    return result


def _judge_attempt(connection, user, username: str, correct: bool, attempt_keys: list[str],
                   now: datetime) -> SignInResult:
    audit = AuditEntry.__table__.insert()
    waiting = throttle.blocked_until(connection, attempt_keys, now, lock=True)
    if waiting:  # a guess that finished first started a wait
        return SignInResult(None, _wait_message(waiting, now))
    if not correct:
        waiting = throttle.count_failure(connection, attempt_keys, now)
        connection.execute(audit, _audit_row(username[:64] or "(blank)", "sign_in_failed",
                                             {"reason": "wrong credentials"}))
        return SignInResult(None, _wait_message(waiting, now) if waiting else WRONG_CREDENTIALS)
    active = connection.execute(select(User.active).where(User.id == user.id)).scalar_one()
    if not active:
        connection.execute(audit, _audit_row(user.username, "sign_in_failed", {"reason": "account disabled"}))
        return SignInResult(None, "This account is disabled; ask an administrator.")
    throttle.clear(connection, attempt_keys[0])
    connection.execute(audit, _audit_row(user.username, "sign_in", None))
    return SignInResult(SignedInUser(user.username, user.display_name, user.role))


def _audit_row(username: str, action: str, detail: dict | None) -> dict:
    return {"at": utc_now(), "username": username, "action": action, "record_type": "user",
            "detail": json.dumps(detail) if detail else None}


def current_account(username: str, *, url: str | None = None) -> SignedInUser | None:
    """The account as it is now (role and name may have changed since sign-in), or None when it is disabled
    or gone: one read by the unique username, made on every rerun of a signed-in session."""
    with read_session(url) as session:
        row = session.exec(select(User.username, User.display_name, User.role, User.active)
                           .where(User.username == username)).first()
    if row is None or not row.active:
        return None
    return SignedInUser(row.username, row.display_name, row.role)


def record_sign_out(username: str, reason: str, *, url: str | None = None) -> None:
    with write_session(url) as session:
        session.add(AuditEntry(username=username, action="sign_out", record_type="user",
                               detail=json.dumps({"reason": reason})))


def _verify(password_hash: str | None, password: str) -> bool:
    if not password_hash or not password:
        return False
    password = password[:1024]  # argon2 hashes any length; this bounds the work a request can ask for
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _wait_message(until: datetime, now: datetime) -> str:
    seconds = max(1, round((until - now).total_seconds()))
    wait = f"{seconds} seconds" if seconds < 90 else f"{round(seconds / 60)} minutes"
    return (f"Too many failed sign-ins for this username or from this computer. Try again in {wait}, or ask "
            "an administrator to unlock it.")


def create_demo_users(session) -> None:
    """The four demo accounts (password "demo"), created inside seed-demo's transaction."""
    for role in ROLES:
        if not session.exec(select(User).where(User.username == role)).first():
            session.add(User(username=role, display_name=f"Demo {role}", role=role,
                             password_hash=hash_password(DEMO_PASSWORD)))
