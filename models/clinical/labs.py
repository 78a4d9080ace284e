"""Lab entry support: default normal ranges per unit (seed_data/lab_reference_ranges.csv) and the
adverse event a graded lab value suggests."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.clinical import ctcae
from models.clinical.reference_data import SEED_DATA_DIR, check_unique, read_csv

RANGES_FILE = SEED_DATA_DIR / "lab_reference_ranges.csv"


@dataclass(frozen=True)
class NormalRange:
    test: str
    unit: str
    lln: float
    uln: float
    source: str
    status: str


def load_ranges(path: str | Path | None = None) -> dict[tuple[str, str], NormalRange]:
    rows = read_csv(path or RANGES_FILE, ["test", "unit", "lln", "uln", "source", "status"])
    check_unique(rows, lambda r: (r.text("test"), r.text("unit").lower()), "test and unit")
    ranges = {}
    for row in rows:
        test = row.choice("test", ctcae.LAB_TESTS)
        unit = row.text("unit")
        if unit.lower() not in {u.lower() for u in ctcae.units(test)}:
            raise row.error(f"{unit!r} is not a unit ToxWatch grades {test} in", "unit")
        lln, uln = row.number("lln", minimum=0), row.number("uln", positive=True)
        if lln >= uln:
            raise row.error("lln must be below uln", "lln")
        ranges[(test, unit.lower())] = NormalRange(test, unit, lln, uln, row.text("source"),
                                                    row.choice("status", ("checked", "check")))
    return ranges


@lru_cache(maxsize=1)
def _ranges() -> dict[tuple[str, str], NormalRange]:
    return load_ranges()


def normal_range(test: str, unit: str | None) -> NormalRange | None:
    """The default LLN/ULN for a test in a unit (editable on entry: the lab's own range wins)."""
    return _ranges().get((test, (unit or ctcae.default_unit(test)).lower()))


@dataclass(frozen=True)
class Suggestion:
    term: str
    grade: int
    note: str | None


def suggested_event(test: str, grade: int | None) -> Suggestion | None:
    """The adverse event a lab grade supports (grade >= 1), with the grading note (e.g. CTCAE v4.03)."""
    if not grade:
        return None
    return Suggestion(ctcae.lab_term(test), grade, ctcae.grade_lab_note(test))
