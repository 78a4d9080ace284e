"""The label's dose-modification rules as data: one rule set per file of seed_data/dose_rules/ (the file's
name is the rule set's name, and every row says it), loaded and validated.

`us-current` (the default) is the current US label, `us-2012` the label at BOLERO-2's approval. A clinic's
local protocol is a copy of a file under a new name with that name in its rule_set column; the setting
TOXWATCH_DOSE_RULE_SET makes it the default. The dosing audit names the rule set on every result.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.clinical import ctcae
from models.clinical.reference_data import SEED_DATA_DIR, ReferenceDataError, check_unique, read_csv
from models.settings import dose_rule_set

RULES_DIR = SEED_DATA_DIR / "dose_rules"
DEFAULT_RULE_SET = "us-current"
RULES_FILE = RULES_DIR / f"{DEFAULT_RULE_SET}.csv"
ACTIONS = ("none", "none_if_tolerable", "consider_hold", "hold", "discontinue", "hold_or_discontinue")
RESUME_DOSES = ("same", "lower", "consider_lower")
RECURRENCE_ACTIONS = ("resume_lower", "discontinue", "consider_discontinue")
STATUSES = ("confirmed", "checked", "check wording", "check against current label")
COLUMNS = ["rule_id", "rule_set", "term_group", "terms", "grade_min", "grade_max", "action",
           "resume_when_grade_at_most", "resume_dose", "recurrence", "recurrence_action", "max_hold_days",
           "every_other_day_allowed", "version", "source", "status"]


@dataclass(frozen=True)
class DoseRule:
    rule_id: str
    rule_set: str
    term_group: str
    terms: tuple[str, ...]
    grade_min: int
    grade_max: int
    action: str
    resume_when_grade_at_most: int | None  # None: held until the event resolves
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
        if recurrence and self.recurrence_action == "consider_discontinue":
            return "consider discontinuing (recurrence at the same grade)"
        if self.action in ("discontinue",):
            return "discontinue permanently"
        if self.action in ("none", "none_if_tolerable"):
            base = "no change" if self.action == "none" else "no change if tolerable; if held, resume after " \
                                                               f"grade <= {self.resume_when_grade_at_most}"
            if recurrence and self.recurrence_action == "resume_lower":
                return f"{base}; a recurrence resumes one step lower"
            return base
        verb = "consider withholding" if self.action == "consider_hold" else "withhold"
        lower = "one step lower (or every other day below the lowest step)" if self.every_other_day_allowed \
            else "one step lower"
        dose = {"same": "at the same dose", "lower": lower,
                "consider_lower": f"at the same dose or {lower}"}.get(self.resume_dose or "", "")
        if recurrence and self.recurrence_action == "resume_lower":
            dose = f"{lower} (recurrence)"
        until = "it resolves" if self.resume_when_grade_at_most is None else \
            f"grade <= {self.resume_when_grade_at_most}"
        limit = f"; discontinue if not recovered within {self.max_hold_days} days" if self.max_hold_days else ""
        return f"{verb} within the grace period until {until}, resume {dose}{limit}"


def load_rules(path: str | Path | None = None) -> tuple[DoseRule, ...]:
    """One rule set's file. Its rows all name the rule set the file is named after."""
    path = Path(path or RULES_FILE)
    rows = read_csv(path, COLUMNS)
    check_unique(rows, lambda r: r.text("rule_id"), "rule_id")
    if not rows:
        raise ReferenceDataError(path, None, "no rules")
    rules = []
    for row in rows:
        if row.text("rule_set") != path.stem:
            raise row.error(f"the rule set is named after its file: {path.stem!r}, not {row.text('rule_set')!r} "
                            "(a copy for a local protocol gets its own file name and rule_set)", "rule_set")
        rules.append(_rule(row, path.stem))
    _check_overlaps(rows, rules)
    return tuple(rules)


HOLD_ACTIONS = ("hold", "consider_hold", "none_if_tolerable")  # the actions after which the drug resumes
NO_TERM = "-"  # the terms cell of a rule for a toxicity no CTCAE term here names (hypersensitivity)


def _rule(row, rule_set: str) -> DoseRule:
    """One row, refused at its line when a cell is missing or means nothing for the row's action (a rule that
    loaded with a blank where the audit needs a value would judge silently by a default)."""
    cell = row.text("terms", required=False)
    terms = () if cell == NO_TERM else tuple(t.strip() for t in cell.split(";") if t.strip())
    if not terms and cell != NO_TERM:
        raise row.error(f"name the CTCAE terms, or {NO_TERM!r} when no term here names the toxicity", "terms")
    for term in terms:
        if ctcae.resolve_term(term) != term:
            raise row.error(f"{term!r} is not a CTCAE term of seed_data/ctcae_terms.csv", "terms")
    grade_min = row.integer("grade_min", minimum=1, maximum=5)
    grade_max = row.integer("grade_max", minimum=grade_min, maximum=5)
    action = row.choice("action", ACTIONS)
    resumes = action in HOLD_ACTIONS
    until = row.text("resume_when_grade_at_most", required=False)
    if resumes and not until:
        raise row.error("a hold names the grade to recover to, or 'resolved'", "resume_when_grade_at_most")
    resume_when = None if until in ("", "resolved") else row.integer("resume_when_grade_at_most", minimum=0,
                                                                      maximum=grade_min - 1)
    resume_dose = row.text("resume_dose", required=False) or None
    if resumes and resume_dose not in RESUME_DOSES:
        raise row.error(f"a hold resumes at one of {', '.join(RESUME_DOSES)}", "resume_dose")
    recurrence = row.text("recurrence", required=False)
    recurrence_action = row.text("recurrence_action", required=False) or None
    if recurrence not in ("", "same_grade"):
        raise row.error("only 'same_grade' recurrences are understood", "recurrence")
    if bool(recurrence) != bool(recurrence_action):
        raise row.error("recurrence and recurrence_action go together", "recurrence_action")
    if recurrence_action is not None and recurrence_action not in RECURRENCE_ACTIONS:
        raise row.error(f"{recurrence_action!r} is not one of {', '.join(RECURRENCE_ACTIONS)}", "recurrence_action")
    max_hold = row.integer("max_hold_days", required=False, minimum=1)
    if not resumes:
        for column in ("resume_when_grade_at_most", "resume_dose", "recurrence", "max_hold_days"):
            if row.text(column, required=False):
                raise row.error(f"means nothing for the action {action!r}: leave it empty", column)
    every_other_day = row.choice("every_other_day_allowed", ("yes", "no")) == "yes"
    halves = resume_dose in ("lower", "consider_lower") or recurrence_action == "resume_lower"
    if every_other_day and not halves:
        raise row.error("every other day is a step below the lowest dose: only a rule that resumes lower allows "
                        "it", "every_other_day_allowed")
    return DoseRule(row.text("rule_id"), rule_set, row.text("term_group"), terms, grade_min, grade_max, action,
                    resume_when, resume_dose, recurrence_action, max_hold, every_other_day, row.text("version"),
                    row.text("source"), row.choice("status", STATUSES))


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
def rule_sets() -> dict[str, tuple[DoseRule, ...]]:
    """Every rule set of seed_data/dose_rules/, by name (the default first)."""
    paths = sorted(RULES_DIR.glob("*.csv"), key=lambda p: (p.stem != DEFAULT_RULE_SET, p.stem))
    if not paths:
        raise ReferenceDataError(RULES_DIR, None, "no rule set files (*.csv)")
    return {path.stem: load_rules(path) for path in paths}


def default_rule_set() -> str:
    """The setting's rule set if there is one, else us-current."""
    name = dose_rule_set() or DEFAULT_RULE_SET
    if name not in rule_sets():
        raise ValueError(f"The dose rule set {name!r} (TOXWATCH_DOSE_RULE_SET) is not one of "
                         f"{', '.join(rule_sets())} in {RULES_DIR}.")
    return name


def rules(rule_set: str | None = None) -> tuple[DoseRule, ...]:
    name = rule_set or default_rule_set()
    if name not in rule_sets():
        raise ValueError(f"Unknown dose rule set {name!r}; choose one of {', '.join(rule_sets())}.")
    return rule_sets()[name]


def rule_for(term: str, grade: int, rule_set: str | None = None) -> DoseRule | None:
    return next((r for r in rules(rule_set) if term in r.terms and r.grade_min <= grade <= r.grade_max), None)


def rules_version(rule_set: str | None = None) -> str:
    versions = sorted({r.version for r in rules(rule_set)})
    return ", ".join(versions)


def describe_rule_set(rule_set: str | None = None) -> str:
    """How a result names the rules it used: "us-current (version 2026-11)"."""
    name = rule_set or default_rule_set()
    return f"{name} (version {rules_version(name)})"


def every_other_day_allowed(term: str | None, grade: int | None, rule_set: str | None = None) -> bool:
    rule = rule_for(term, grade, rule_set) if term and grade else None
    return bool(rule and rule.every_other_day_allowed)


def rule_table(rule_set: str | None = None) -> list[dict]:
    """The rules of a set as rows for a table: what each requires in words, with its source and status."""
    return [{"rule_id": rule.rule_id, "rule_set": rule.rule_set, "term_group": rule.term_group,
             "terms": "; ".join(rule.terms) or "(no CTCAE term tracked)",
             "grades": f"{rule.grade_min}" if rule.grade_min == rule.grade_max else f"{rule.grade_min}-{rule.grade_max}",
             "expected": rule.expected(), "every_other_day_allowed": rule.every_other_day_allowed,
             "version": rule.version, "status": rule.status, "source": rule.source} for rule in rules(rule_set)]
