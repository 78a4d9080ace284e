"""The label's dose-modification rules as data (seed_data/dose_rules.csv), loaded and validated.

A pharmacist may adjust the file to local protocol; the dosing audit shows the version it applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.clinical import ctcae
from models.clinical.reference_data import SEED_DATA_DIR, check_unique, read_csv

RULES_FILE = SEED_DATA_DIR / "dose_rules.csv"
ACTIONS = ("none", "none_if_tolerable", "consider_hold", "hold", "discontinue", "hold_or_discontinue")
RESUME_DOSES = ("same", "lower", "consider_lower")
RECURRENCE_ACTIONS = ("resume_lower", "discontinue")
STATUSES = ("checked", "check wording")
COLUMNS = ["rule_id", "term_group", "terms", "grade_min", "grade_max", "action", "resume_when_grade_at_most",
           "resume_dose", "recurrence", "recurrence_action", "max_hold_days", "every_other_day_allowed",
           "version", "source", "status"]


@dataclass(frozen=True)
class DoseRule:
    rule_id: str
    term_group: str
    terms: tuple[str, ...]
    grade_min: int
    grade_max: int
    action: str
    resume_when_grade_at_most: int | None
    resume_dose: str | None
    recurrence_action: str | None    # what a recurrence at the same grade calls for
    max_hold_days: int | None
    every_other_day_allowed: bool
    version: str
    source: str
    status: str

    def describe(self) -> str:
        grades = f"grade {self.grade_min}" if self.grade_min == self.grade_max else \
            f"grade {self.grade_min}-{self.grade_max}"
        return f"{self.rule_id} ({self.term_group}, {grades})"

    def expected(self, recurrence: bool = False) -> str:
        """The required action in words, as the audit shows it."""
        if recurrence and self.recurrence_action == "discontinue":
            return "discontinue (recurrence at the same grade)"
        if self.action in ("discontinue",):
            return "discontinue permanently"
        if self.action in ("none", "none_if_tolerable"):
            base = "no change" if self.action == "none" else "no change if tolerable; if held, resume after " \
                                                               f"grade <= {self.resume_when_grade_at_most}"
            if recurrence and self.recurrence_action == "resume_lower":
                return f"{base}; a recurrence resumes one step lower"
            return base
        verb = "consider withholding" if self.action == "consider_hold" else "withhold"
        dose = {"same": "at the same dose", "lower": "one step lower",
                "consider_lower": "at the same dose or one step lower"}.get(self.resume_dose or "", "")
        if recurrence and self.recurrence_action == "resume_lower":
            dose = "one step lower (recurrence)"
        limit = f"; discontinue if not recovered within {self.max_hold_days} days" if self.max_hold_days else ""
        return f"{verb} within the grace period until grade <= {self.resume_when_grade_at_most}, resume {dose}{limit}"


def load_rules(path: str | Path | None = None) -> tuple[DoseRule, ...]:
    rows = read_csv(path or RULES_FILE, COLUMNS)
    check_unique(rows, lambda r: r.text("rule_id"), "rule_id")
    rules = []
    for row in rows:
        terms = tuple(t.strip() for t in row.text("terms", required=False).split(";") if t.strip())
        for term in terms:
            if ctcae.resolve_term(term) != term:
                raise row.error(f"{term!r} is not a CTCAE term of seed_data/ctcae_terms.csv", "terms")
        grade_min = row.integer("grade_min", minimum=1, maximum=5)
        grade_max = row.integer("grade_max", minimum=grade_min, maximum=5)
        action = row.choice("action", ACTIONS)
        resume_when = row.integer("resume_when_grade_at_most", required=False, minimum=0, maximum=4)
        if action in ("hold", "consider_hold", "none_if_tolerable") and resume_when is None:
            raise row.error("a hold needs the grade to recover to", "resume_when_grade_at_most")
        resume_dose = row.text("resume_dose", required=False) or None
        if resume_dose is not None and resume_dose not in RESUME_DOSES:
            raise row.error(f"{resume_dose!r} is not one of {', '.join(RESUME_DOSES)}", "resume_dose")
        recurrence = row.text("recurrence", required=False)
        recurrence_action = row.text("recurrence_action", required=False) or None
        if recurrence not in ("", "same_grade"):
            raise row.error("only 'same_grade' recurrences are understood", "recurrence")
        if bool(recurrence) != bool(recurrence_action):
            raise row.error("recurrence and recurrence_action go together", "recurrence_action")
        if recurrence_action is not None and recurrence_action not in RECURRENCE_ACTIONS:
            raise row.error(f"{recurrence_action!r} is not one of {', '.join(RECURRENCE_ACTIONS)}",
                            "recurrence_action")
        max_hold = row.integer("max_hold_days", required=False, minimum=1)
        rules.append(DoseRule(row.text("rule_id"), row.text("term_group"), terms, grade_min, grade_max, action,
                              resume_when, resume_dose, recurrence_action, max_hold,
                              row.choice("every_other_day_allowed", ("yes", "no")) == "yes",
                              row.text("version"), row.text("source"), row.choice("status", STATUSES)))
    _check_overlaps(rows, rules)
    return tuple(rules)


def _check_overlaps(rows, rules: list[DoseRule]) -> None:
    """Refuse, at the line of the later row, a term and grade two rules cover."""
    seen: dict[tuple[str, int], str] = {}
    for row, rule in zip(rows, rules):
        for term in rule.terms:
            for grade in range(rule.grade_min, rule.grade_max + 1):
                if (term, grade) in seen:
                    raise row.error(f"{term} grade {grade} is covered by both {seen[(term, grade)]} and "
                                    f"{rule.rule_id}")
                seen[(term, grade)] = rule.rule_id


@lru_cache(maxsize=1)
def rules() -> tuple[DoseRule, ...]:
    return load_rules()


def rule_for(term: str, grade: int) -> DoseRule | None:
    return next((r for r in rules() if term in r.terms and r.grade_min <= grade <= r.grade_max), None)


def rules_version() -> str:
    versions = sorted({r.version for r in rules()})
    return ", ".join(versions)


def every_other_day_allowed(term: str | None, grade: int | None) -> bool:
    rule = rule_for(term, grade) if term and grade else None
    return bool(rule and rule.every_other_day_allowed)
