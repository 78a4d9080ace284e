"""The monitoring protocol in force (models/store/protocols.py) on SQLite and PostgreSQL: the default file until an
admin saves a version; a save is validated whole (row and column named, nothing written), audited, append-only,
and the worklist's schedule follows it."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from models.analysis import worklist
from models.clinical import alerts as alert_data
from models.store import protocols, queries, records
from models.store.db import get_engine

ADMIN = records.Actor("admin", "admin")
NURSE = records.Actor("nurse", "nurse")


def test_the_default_file_is_in_force_until_an_admin_saves_a_version(db_url):
    current = protocols.in_force(db_url)
    assert current.version is None and current.intervals == alert_data.protocol()
    assert current.describe() == "the default protocol shipped with ToxWatch"
    rows = alert_data.protocol_rows(current.intervals)
    blood = next(r for r in rows if r["panel"] == "Blood count")
    blood["every_days"] = "14"
    blood["status"] = "clinic policy (changed by the haematology lead)"
    number = protocols.save(rows, ADMIN, comment="fortnightly counts", url=db_url)
    saved = protocols.in_force(db_url)
    assert saved.version == number and saved.saved_by == "admin" and saved.comment == "fortnightly counts"
    assert alert_data.interval_on("Blood count", 40, saved.intervals).every_days == 14
    trail = queries.audit_trail(db_url, record_type="monitoring_protocol")
    assert len(trail) == 1 and trail.iloc[0]["username"] == "admin"
    after = {row["panel"]: row for row in json.loads(trail.iloc[0]["after"])}
    assert after["Blood count"]["every_days"] == 14


@pytest.mark.parametrize("edit, words", [
    (lambda rows: rows[0].update(every_days="0"), "Row 1: Every (days): '0' is not a whole number of at least 1"),
    (lambda rows: rows[2].update(tests="hemoglobin sodium"), "Row 3: Lab tests: 'sodium' — expected lab tests among "
                                                             "Hemoglobin, AST"),
    (lambda rows: rows[1].update(to_day="20"), "Row 2: To day: the phase ends (day 20) before it starts (day 29)"),
    (lambda rows: rows[0].update(to_day="20"), "the phases of 'Fasting glucose' must run from day 0 without gaps"),
    (lambda rows: rows[3].update(source=""), "Row 4: Source: source and status are required"),
    (lambda rows: rows.clear(), "the protocol has no rows"),
])
def test_a_bad_protocol_is_refused_with_the_row_and_nothing_is_written(db_url, edit, words):
    rows = alert_data.protocol_rows(alert_data.protocol())
    edit(rows)
    with pytest.raises(records.ValidationFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        protocols.save(rows, ADMIN, url=db_url)
    assert protocols.in_force(db_url).version is None
    assert queries.audit_trail(db_url, record_type="monitoring_protocol").empty


def test_only_an_admin_changes_it_and_an_old_version_is_never_changed(db_url):
    rows = alert_data.protocol_rows(alert_data.protocol())
    with pytest.raises(records.NotPermitted):
        protocols.save(rows, NURSE, url=db_url)
    protocols.save(rows, ADMIN, url=db_url)
    for statement in ("UPDATE monitoring_protocol_version SET comment = 'x'", "DELETE FROM monitoring_protocol_version"):
        with pytest.raises(Exception, match="never changed or deleted"):
            with get_engine(db_url).begin() as connection:
                connection.execute(text(statement))


def test_the_worklist_schedule_follows_the_version_in_force(db_url):
    start, today = date(2026, 1, 5), date(2026, 6, 1)
    pid = records.create("patient", {"mrn": "P-1", "name": "Protocol Test", "treatment_start": start}, NURSE,
                         today=today, url=db_url)["id"]
    records.create("lab_result", {"patient_id": pid, "test": "creatinine", "value": 0.8, "unit": "mg/dL", "uln": 1.1,
                                  "collected_on": today - timedelta(days=40)}, NURSE, today=today, url=db_url)

    def renal():
        return [a for a in worklist.worklist(db_url, as_of=today) if a.rule == "monitoring_overdue"
                and a.subject.startswith("Renal function")]

    assert renal() == [], "every 90 days by default: done 40 days ago"
    rows = alert_data.protocol_rows(alert_data.protocol())
    next(r for r in rows if r["panel"] == "Renal function")["every_days"] = "30"
    protocols.save(rows, ADMIN, url=db_url)
    assert len(renal()) == 1, "every 30 days now: overdue"
