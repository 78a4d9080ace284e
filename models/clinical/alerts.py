"""Alert rules and the monitoring protocol, as data (seed_data/alert_rules.csv, seed_data/monitoring_protocol.csv),
each row with its source and status.

An alert rule says how urgent its alerts are (tier: act today, this week, for information), its time window in
days where it has one, and what makes an acknowledged alert come back (a higher grade, or a new record). The
monitoring protocol lists, per panel of lab tests, the baseline window before the start and the interval from
one result to the next in each phase of treatment (days from the start). The label gives no intervals
("periodically"): except where a source is named, the intervals are the clinic's policy and say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.clinical.reference_data import SEED_DATA_DIR, ReferenceDataError, check_unique, read_csv
from models.clinical.vocabulary import LAB_TEST_LABELS, LAB_TESTS

RULES_FILE = SEED_DATA_DIR / "alert_rules.csv"
PROTOCOL_FILE = SEED_DATA_DIR / "monitoring_protocol.csv"
TIERS = ("today", "week", "info")
TIER_LABELS = {"today": "Act today", "week": "This week", "info": "For information"}
RETURNS_WHEN = ("higher_grade", "new_record")
RULES = ("pneumonitis_grade_2", "grade_3_event", "stomatitis_grade_2_not_held", "hold_past_limit",
         "lab_grade_3_no_event", "lab_grade_rising", "monitoring_overdue", "audit_deviation_unreviewed",
         "no_assessment", "ace_inhibitor", "steroids_without_pjp", "interaction_now")  # the rules the worklist knows how to evaluate (models/analysis/worklist.py)


@dataclass(frozen=True)
class AlertRule:
    rule: str
    tier: str
    days: int | None          # the rule's time window, where it has one
    returns_when: str         # what brings an acknowledged alert back
    description: str
    source: str
    status: str


@dataclass(frozen=True)
class MonitoringInterval:
    panel: str
    tests: tuple[str, ...]    # every test of the panel is needed for it to count as done
    baseline_days_before_start: int
    from_day: int             # days from the treatment start (0 = the start day)
    to_day: int | None        # inclusive; None = to the end of treatment
    every_days: int
    source: str
    status: str


def load_rules(path: str | Path | None = None) -> dict[str, AlertRule]:
    path = path or RULES_FILE
    rows = read_csv(path, ["rule", "tier", "returns_when", "description", "source", "status"], ["days"])
    check_unique(rows, lambda r: r.text("rule"), "rule")
    rules = {}
    for row in rows:
        name = row.choice("rule", RULES)
        rules[name] = AlertRule(name, row.choice("tier", TIERS), row.integer("days", required=False, minimum=1),
                                row.choice("returns_when", RETURNS_WHEN), row.text("description"),
                                row.text("source"), row.text("status"))
    missing = [name for name in RULES if name not in rules]
    if missing:
        raise ReferenceDataError(path, None, "no row for rule(s): " + ", ".join(missing))
    return rules


PROTOCOL_COLUMNS = ("panel", "tests", "baseline_days_before_start", "from_day", "to_day", "every_days", "source",
                    "status")
# How a problem names a column to the admin who edits the protocol (the file's messages name the column code).
PROTOCOL_COLUMN_WORDS = {"panel": "Panel", "tests": "Lab tests", "baseline_days_before_start":
                         "Baseline: days before the start", "from_day": "From day", "to_day": "To day",
                         "every_days": "Every (days)", "source": "Source", "status": "Status"}


def load_protocol(path: str | Path | None = None) -> tuple[MonitoringInterval, ...]:
    """The protocol file; a problem names its line."""
    path = path or PROTOCOL_FILE
    rows = read_csv(path, [c for c in PROTOCOL_COLUMNS if c != "to_day"], ["to_day"])
    try:
        return protocol_from_rows([{c: row.text(c, required=False) for c in PROTOCOL_COLUMNS} for row in rows])
    except ProtocolError as error:
        line = rows[error.row].line if error.row is not None else None
        raise ReferenceDataError(path, line, error.message, error.column) from None


class ProtocolError(ValueError):
    """A protocol that cannot be used; `row` (0-based) and `column` say where, when one row is at fault."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.row, self.column, self.message = row, column, message

    def __str__(self) -> str:
        where = [f"Row {self.row + 1}"] if self.row is not None else []
        return ": ".join(where + ([PROTOCOL_COLUMN_WORDS.get(self.column, self.column)] if self.column else [])
                         + [self.message])


def _whole(row: dict, index: int, column: str, *, required: bool = True, minimum: int = 0) -> int | None:
    text = str(row.get(column) if row.get(column) is not None else "").strip()
    if not text:
        if required:
            raise ProtocolError("a value is required", index, column)
        return None
    if not text.isdigit() or int(text) < minimum:
        raise ProtocolError(f"{text!r} is not a whole number of at least {minimum}", index, column)
    return int(text)


def protocol_from_rows(rows: list[dict]) -> tuple[MonitoringInterval, ...]:
    """Validated intervals from rows of text (the CSV file, or an admin's edit of it): known tests, whole days,
    and per panel phases from day 0 without gaps or overlaps to an open end, with one list of tests."""
    intervals = []
    for index, row in enumerate(rows):
        panel = str(row.get("panel") or "").strip()
        if not panel:
            raise ProtocolError("a name is required", index, "panel")
        tests = tuple(str(row.get("tests") or "").split())
        unknown = [t for t in tests if t not in LAB_TESTS]
        if not tests or unknown:
            raise ProtocolError(f"{', '.join(map(repr, unknown)) or 'none'} — expected lab tests among "
                                f"{', '.join(LAB_TEST_LABELS.values())}", index, "tests")
        start, end = _whole(row, index, "from_day"), _whole(row, index, "to_day", required=False)
        if end is not None and end < start:
            raise ProtocolError(f"the phase ends (day {end}) before it starts (day {start})", index, "to_day")
        source, status = (str(row.get(c) or "").strip() for c in ("source", "status"))
        if not source or not status:
            raise ProtocolError("source and status are required (say 'clinic policy' where no source gives the "
                                "interval)", index, "source" if not source else "status")
        intervals.append(MonitoringInterval(panel, tests, _whole(row, index, "baseline_days_before_start"), start, end,
                                            _whole(row, index, "every_days", minimum=1), source, status))
    if not intervals:
        raise ProtocolError("the protocol has no rows")
    for panel in dict.fromkeys(i.panel for i in intervals):
        phases = sorted((i for i in intervals if i.panel == panel), key=lambda i: i.from_day)
        if phases[0].from_day != 0 or any(a.to_day is None or b.from_day != a.to_day + 1
                                          for a, b in zip(phases, phases[1:])) or phases[-1].to_day is not None:
            raise ProtocolError(f"the phases of {panel!r} must run from day 0 without gaps or overlaps to an "
                                "open end (the last with no end day)")
        if len({(i.tests, i.baseline_days_before_start) for i in phases}) != 1:
            raise ProtocolError(f"every phase of {panel!r} must list the same tests and baseline days")
    return tuple(intervals)


def protocol_rows(intervals: tuple[MonitoringInterval, ...]) -> list[dict]:
    """The intervals as rows of PROTOCOL_COLUMNS (what an admin edits and what a saved version holds)."""
    return [{"panel": i.panel, "tests": " ".join(i.tests), "baseline_days_before_start": i.baseline_days_before_start,
             "from_day": i.from_day, "to_day": i.to_day, "every_days": i.every_days, "source": i.source,
             "status": i.status} for i in intervals]


@lru_cache(maxsize=1)
def rules() -> dict[str, AlertRule]:
    return load_rules()


@lru_cache(maxsize=1)
def protocol() -> tuple[MonitoringInterval, ...]:
    return load_protocol()


def interval_on(panel: str, day: int, intervals: tuple[MonitoringInterval, ...] | None = None) -> MonitoringInterval:
    """The phase of a panel that a day of treatment falls in."""
    for interval in intervals if intervals is not None else protocol():
        if interval.panel == panel and interval.from_day <= day and (interval.to_day is None or day <= interval.to_day):
            return interval
    raise ValueError(f"no phase of {panel!r} covers day {day}")
