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
from models.clinical.vocabulary import LAB_TESTS

RULES_FILE = SEED_DATA_DIR / "alert_rules.csv"
PROTOCOL_FILE = SEED_DATA_DIR / "monitoring_protocol.csv"
TIERS = ("today", "week", "info")
TIER_LABELS = {"today": "Act today", "week": "This week", "info": "For information"}
RETURNS_WHEN = ("higher_grade", "new_record")
RULES = ("pneumonitis_grade_2", "grade_3_event", "stomatitis_grade_2_not_held", "hold_past_limit",
         "lab_grade_3_no_event", "lab_grade_rising", "monitoring_overdue", "audit_deviation_unreviewed",
         "no_assessment")  # the rules the worklist knows how to evaluate (models/analysis/worklist.py)


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


def load_protocol(path: str | Path | None = None) -> tuple[MonitoringInterval, ...]:
    path = path or PROTOCOL_FILE
    rows = read_csv(path, ["panel", "tests", "baseline_days_before_start", "from_day", "every_days", "source",
                           "status"], ["to_day"])
    check_unique(rows, lambda r: (r.text("panel"), r.text("from_day")), "panel and from_day")
    intervals = []
    for row in rows:
        tests = tuple(row.text("tests").split())
        unknown = [t for t in tests if t not in LAB_TESTS]
        if unknown:
            raise row.error(f"unknown lab test(s) {', '.join(map(repr, unknown))}; expected {', '.join(LAB_TESTS)}",
                            "tests")
        start, end = row.integer("from_day", minimum=0), row.integer("to_day", required=False, minimum=0)
        if end is not None and end < start:
            raise row.error(f"to_day {end} is before from_day {start}", "to_day")
        intervals.append(MonitoringInterval(row.text("panel"), tests, row.integer("baseline_days_before_start",
                                                                                   minimum=0),
                                            start, end, row.integer("every_days", minimum=1), row.text("source"),
                                            row.text("status")))
    for panel in {i.panel for i in intervals}:
        phases = sorted((i for i in intervals if i.panel == panel), key=lambda i: i.from_day)
        if phases[0].from_day != 0 or any(a.to_day is None or b.from_day != a.to_day + 1
                                          for a, b in zip(phases, phases[1:])) or phases[-1].to_day is not None:
            raise ReferenceDataError(path, None, f"the phases of {panel!r} must run from day 0 without gaps or "
                                                 "overlaps to an open end")
        if len({(i.tests, i.baseline_days_before_start) for i in phases}) != 1:
            raise ReferenceDataError(path, None, f"every phase of {panel!r} must list the same tests and baseline")
    return tuple(intervals)


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
