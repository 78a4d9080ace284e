"""The monitoring protocol in force: the newest version an admin saved (monitoring_protocol_version), else the
default of seed_data/monitoring_protocol.csv. A save validates the whole protocol, stores it as a new version
and writes its audit entry in the same transaction; an old version is never changed."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from models.clinical import alerts as alert_data
from models.store.db import get_engine, write_session
from models.store.record_errors import Actor, NotPermitted, Problem, ValidationFailed, database_errors
from models.store.tables import AuditEntry, MonitoringProtocolVersion

EDIT_ROLES = {"admin"}


@dataclass(frozen=True)
class ProtocolInForce:
    intervals: tuple[alert_data.MonitoringInterval, ...]
    version: int | None            # None: the default file
    saved_by: str | None
    saved_at: datetime | None
    comment: str | None

    def describe(self) -> str:
        """How a result names the protocol it used."""
        if self.version is None:
            return "the default protocol shipped with ToxWatch"
        return f"version {self.version}, saved by {self.saved_by} on {self.saved_at:%Y-%m-%d}"


def in_force(url: str | None = None) -> ProtocolInForce:
    with get_engine(url).connect() as connection:
        row = connection.execute(select(MonitoringProtocolVersion).order_by(MonitoringProtocolVersion.id.desc())
                                 .limit(1)).first()
    if row is None:
        return ProtocolInForce(alert_data.protocol(), None, None, None, None)
    intervals = alert_data.protocol_from_rows(json.loads(row.protocol))
    return ProtocolInForce(intervals, row.id, row.created_by, row.created_at, row.comment)


@database_errors
def save(rows: list[dict], actor: Actor, *, comment: str | None = None, url: str | None = None) -> int:
    """A new version from an admin's rows (the PROTOCOL_COLUMNS as text); ValidationFailed names the row and
    column of each problem, and nothing is written."""
    if actor.role not in EDIT_ROLES:
        raise NotPermitted("Only an administrator may change the monitoring protocol.")
    try:
        intervals = alert_data.protocol_from_rows(rows)
    except alert_data.ProtocolError as error:
        raise ValidationFailed([Problem(error.column or "protocol", str(error) + ". Nothing was saved.")]) from None
    clean = alert_data.protocol_rows(intervals)
    with write_session(url) as session:
        before = in_force_rows(session)
        version = MonitoringProtocolVersion(protocol=json.dumps(clean), comment=(comment or "").strip() or None,
                                            created_by=actor.username)
        session.add(version)
        session.flush()
        session.add(AuditEntry(username=actor.username, action="update", record_type="monitoring_protocol",
                               record_id=version.id, before=json.dumps(before), after=json.dumps(clean),
                               detail=version.comment))
        return int(version.id)


def in_force_rows(session) -> list[dict]:
    latest = session.exec(select(MonitoringProtocolVersion.protocol).order_by(MonitoringProtocolVersion.id.desc())
                          .limit(1)).first()
    return json.loads(latest[0] if isinstance(latest, tuple) else latest) if latest else \
        alert_data.protocol_rows(alert_data.protocol())
