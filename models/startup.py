"""What the app does once per process before showing a page: bring the schema up to date and, on the
embedded default database only, load the demo cohort the very first time (while it has no account and no
patient)."""
from __future__ import annotations

from dataclasses import dataclass

from models.demo import SeedSummary, is_empty, seed_demo
from models.settings import DatabaseChoice, database_choice
from models.store.migrate import upgrade_to_head


@dataclass(frozen=True)
class StartupReport:
    url: str
    schema_created_or_upgraded: bool
    demo_loaded: SeedSummary | None


def check_reference_data() -> None:
    """Load every seed_data file now, so a malformed one stops the app at start with file:line."""
    from models.clinical import ctcae, dose_rules, labs, references

    ctcae.terms()
    ctcae.grade_lab("hemoglobin", 12.0, "g/dL", lln=12.0)
    references.reference_sets()
    references.landmarks()
    dose_rules.rule_sets()
    dose_rules.default_rule_set()  # the setting names a rule set that exists
    labs.normal_range("hemoglobin", None)


def prepare_database(choice: DatabaseChoice | None = None) -> StartupReport:
    check_reference_data()
    choice = choice or database_choice()
    changed = upgrade_to_head(choice.url)
    loaded = None
    if choice.is_default and is_empty(choice.url):  # never beside real accounts or patients
        loaded = seed_demo(choice.url)
    return StartupReport(choice.url, changed, loaded)
