"""Sign-in throttling kept in the database, per username and per client address.

Failed sign-ins are counted under two keys, the username (lower case, whether or not such an account exists,
so nothing tells a real account from a made-up one) and the client address. A few failures are free; after
that each failure makes the key wait twice as long as the last one, up to a cap. A wait ends by itself, a
successful sign-in clears the username's count, and an administrator can clear any key. Because the counts
live in the database they survive a restart and hold across app instances.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite

from models.store.db import read_session
from models.store.tables import SignInThrottle

ACCOUNT, CLIENT = "account", "client"
FREE_FAILURES = {ACCOUNT: 5, CLIENT: 20}  # a shared ward computer sees many people's typos
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)  # a count with no failure for this long starts again


@dataclass(frozen=True)
class Throttle:
    key: str
    kind: str        # ACCOUNT or CLIENT
    name: str        # the username (lower case) or the client address
    failures: int
    blocked_until: datetime | None


def keys(username: str, client: str | None) -> list[str]:
    """The keys of one attempt, always in this order (two attempts lock rows in the same order: no deadlock)."""
    return [f"{ACCOUNT}:{username.lower()}", f"{CLIENT}:{client or 'unknown'}"]


def account_key(username: str) -> str:
    return keys(username, None)[0]


def wait_after(kind: str, failures: int) -> timedelta | None:
    """How long a key waits after its `failures`-th failure in a row: none while the failures are free, then
    FIRST_WAIT doubling with every further failure, at most LONGEST_WAIT."""
    beyond = failures - FREE_FAILURES[kind]
    if beyond < 0:
        return None
    return min(FIRST_WAIT * 2 ** min(beyond, 20), LONGEST_WAIT)


def blocked_until(connection, attempt_keys: list[str], now: datetime, *, lock: bool = False) -> datetime | None:
    """The latest wait among the keys still running at `now`, or None. With lock=True the rows are locked
    for the rest of the transaction (a right password is then judged after the wrong guesses before it)."""
    statement = select(SignInThrottle.blocked_until).where(SignInThrottle.key.in_(attempt_keys)) \
        .order_by(SignInThrottle.key)
    if lock:
        statement = statement.with_for_update()
    waits = [aware(until) for until in connection.execute(statement).scalars() if until is not None]
    running = [until for until in waits if until > now]
    return max(running) if running else None


def count_failure(connection, attempt_keys: list[str], now: datetime) -> datetime | None:
    """Add one failure to each key atomically (an upsert that returns the new count) and start its wait;
    returns the longest wait now running, or None."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = SignInThrottle.__table__
    longest = None
    for key in attempt_keys:
        stale = now - FORGET_AFTER
        upsert = dialect.insert(table).values(key=key, failures=1, last_failure_at=now)
        upsert = upsert.on_conflict_do_update(index_elements=[table.c.key], set_={
            "failures": _restart_if_stale(table, stale),
            "last_failure_at": now,
        }).returning(table.c.failures)
        failures = connection.execute(upsert).scalar_one()
        wait = wait_after(key.partition(":")[0], failures)
        if wait is not None:
            until = now + wait
            connection.execute(table.update().where(table.c.key == key).values(blocked_until=until))
            longest = max(longest or until, until)
    return longest


def _restart_if_stale(table, stale: datetime):
    return case((table.c.last_failure_at < stale, 1), else_=table.c.failures + 1)


def clear(connection, key: str) -> bool:
    """Forget a key's failures (a successful sign-in, an administrator's unlock). True when there were any."""
    table = SignInThrottle.__table__
    return connection.execute(table.update().where(table.c.key == key, table.c.failures > 0)
                              .values(failures=0, blocked_until=None)).rowcount > 0


def throttles(url: str | None = None, *, now: datetime) -> list[Throttle]:
    """Keys with failures that still count (for the Admin page), the waiting ones first."""
    with read_session(url) as session:
        rows = session.execute(select(SignInThrottle)).scalars().all()
    found = []
    for row in rows:
        if not row.failures or aware(row.last_failure_at) < now - FORGET_AFTER and not (row.blocked_until and aware(row.blocked_until) > now):
            continue
        kind, _, name = row.key.partition(":")
        until = aware(row.blocked_until) if row.blocked_until and aware(row.blocked_until) > now else None
        found.append(Throttle(row.key, kind, name, row.failures, until))
    return sorted(found, key=lambda t: (t.blocked_until is None, t.kind, t.name))


def aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
