"""Published reference rate sets (BOLERO-2 and others) and timing landmarks, with their sources.

Data: seed_data/reference_rates.csv, seed_data/reference_sets.csv (what a whole set was graded with and
its follow-up) and seed_data/timing_landmarks.csv. A published figure is kept as
the text it was published as ("8", "<1", "2-6"); only an exact figure becomes a number. "<1" or a range
gives no point value (pct None) but its bounds are available: a reference rate is never invented.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.clinical import ctcae
from models.clinical.reference_data import SEED_DATA_DIR, CsvRow, ReferenceDataError, check_unique, read_csv

RATES_FILE = SEED_DATA_DIR / "reference_rates.csv"
LANDMARKS_FILE = SEED_DATA_DIR / "timing_landmarks.csv"
SETS_FILE = SEED_DATA_DIR / "reference_sets.csv"
DEFAULT_REFERENCE_SET = "bolero2_interim_2012"
DEFAULT_ARM = "everolimus+exemestane"
BANDS = ("any", "grade_2_plus", "grade_3_plus")
LANDMARK_QUALIFIERS = ("", "about", "qualitative")
_EXACT = re.compile(r"^\d+(\.\d+)?$")
_BELOW = re.compile(r"^<\s*(\d+(\.\d+)?)$")
_RANGE = re.compile(r"^(\d+(\.\d+)?)\s*-\s*(\d+(\.\d+)?)$")
_WINDOW = re.compile(r"^(\d+) (days|weeks)$")
SEVERE_BAND_DEFINITIONS = ("grade 3-4", "grade 3")  # as the source gives its grade >= 3 figure


@dataclass(frozen=True)
class ReferenceRate:
    reference_set: str
    ctcae_term: str
    trial_term: str
    arm: str
    arm_n: int | None
    any_grade_pct: float | None
    any_grade_text: str
    grade_2_plus_pct: float | None
    grade_2_plus_text: str
    grade_3_plus_pct: float | None
    grade_3_plus_text: str  # raw, e.g. "<1"
    time_window: str  # "" = whole study; e.g. "8 weeks"
    source: str  # as in the file ("same" = the set's first source, see citation())
    verified: str  # as in the file, e.g. "yes (grade 3/4 combined)"
    notes: str
    grade_3_plus_definition: str = ""  # "grade 3-4", "grade 3" (no grade 4 figure) or "" (not stated)
    caveat: str = ""  # what a reader must know when comparing with this row

    @property
    def window_days(self) -> int | None:
        """The time window in days ("8 weeks" -> 56), or None for the whole study."""
        match = _WINDOW.match(self.time_window)
        if not match:
            return None
        return int(match.group(1)) * (7 if match.group(2) == "weeks" else 1)

    @property
    def set(self) -> str:
        return self.reference_set

    @property
    def is_verified(self) -> bool:
        return self.verified.lower().startswith("yes")

    def text(self, band: str) -> str:
        return getattr(self, _band_attr(band) + "_text")

    def pct(self, band: str) -> float | None:
        """The exact published percentage, or None ("no reference": empty, "<1", a range)."""
        return getattr(self, _band_attr(band) + "_pct")

    def bounds(self, band: str) -> tuple[float | None, float | None]:
        """(low, high) the published figure allows: "8" -> (8, 8); "<1" -> (0, 1); "2-6" -> (2, 6)."""
        return _parse_pct(self.text(band))[1:]

    def is_bound(self, band: str) -> bool:
        """True when the figure is an inequality or a range rather than a point value."""
        low, high = self.bounds(band)
        return low is not None and self.pct(band) is None


@dataclass(frozen=True)
class Landmark:
    term: str | None  # None: not specific to one term (e.g. dose interruptions)
    landmark: str
    grade_band: str  # the curve it belongs on: "any" or "grade_2_plus" ("" when not about one term)
    value: float | None  # None for a qualitative statement
    unit: str  # days or weeks
    qualifier: str  # "", "about" or "qualitative"
    pct_of_events: float | None  # e.g. 89 (% of first episodes within the landmark)
    population: str
    source: str


def _band_attr(band: str) -> str:
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; expected one of {', '.join(BANDS)}")
    return "any_grade" if band == "any" else band


def _parse_pct(text: str) -> tuple[float | None, float | None, float | None]:
    """(exact pct, low, high) of a published figure; ValueError if it is not one of the known shapes."""
    if not text:
        return None, None, None
    if _EXACT.match(text):
        return float(text), float(text), float(text)
    if m := _BELOW.match(text):
        return None, 0.0, float(m.group(1))
    if m := _RANGE.match(text):
        low, high = float(m.group(1)), float(m.group(3))
        if low <= high:
            return None, low, high
    raise ValueError(f"{text!r} is not a percentage, '<N' or 'N-M'")


def _pct_column(row: CsvRow, column: str) -> tuple[float | None, str]:
    text = row.text(column, required=False)
    try:
        exact, _, high = _parse_pct(text)
    except ValueError as exc:
        raise row.error(str(exc), column) from None
    if high is not None and high > 100:
        raise row.error(f"{text!r} is above 100", column)
    return exact, text


# ---------------------------------------------------------------- loaders (path arguments for tests)

def load_rates(path: str | Path | None = None) -> tuple[ReferenceRate, ...]:
    """reference_rates.csv -> ReferenceRate rows in file order (validated)."""
    path = path or RATES_FILE
    rows = read_csv(path, ["reference_set", "ctcae_term", "trial_term", "arm", "arm_n", "any_grade_pct",
                           "grade_3_plus_pct", "source", "verified"],
                    ["grade_2_plus_pct", "time_window", "notes", "grade_3_plus_definition", "caveat"])
    check_unique(rows, lambda r: (r.text("reference_set"), r.text("ctcae_term"), r.text("arm").casefold()),
                 "reference_set, ctcae_term and arm")
    known_terms = {t.name for t in ctcae.terms()}
    first_source: dict[str, str] = {}
    rates = []
    for row in rows:
        name, term = row.text("reference_set"), row.text("ctcae_term")
        if term not in known_terms:
            hint = ctcae.resolve_term(term)
            raise row.error(f"unknown CTCAE term {term!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                            "ctcae_term")
        source = row.text("source")
        if name not in first_source:
            if source.lower().startswith("same"):  # shorthand for the set's first source
                raise row.error("the first row of a set must carry its full source, not 'same'", "source")
            first_source[name] = source
        any_pct, any_text = _pct_column(row, "any_grade_pct")
        g2_pct, g2_text = _pct_column(row, "grade_2_plus_pct")
        g3_pct, g3_text = _pct_column(row, "grade_3_plus_pct")
        if not (any_text or g2_text or g3_text):
            raise row.error("no rate in any band", "any_grade_pct")
        window = row.text("time_window", required=False)
        if window and not _WINDOW.match(window):
            raise row.error(f"{window!r} is not a time window such as '8 weeks' or '56 days'", "time_window")
        severe = row.text("grade_3_plus_definition", required=False)
        if severe and severe not in SEVERE_BAND_DEFINITIONS:
            raise row.error(f"{severe!r} is not one of {', '.join(map(repr, SEVERE_BAND_DEFINITIONS))}",
                            "grade_3_plus_definition")
        rates.append(ReferenceRate(
            name, term, row.text("trial_term"), row.text("arm"), row.integer("arm_n", required=False, minimum=1),
            any_pct, any_text, g2_pct, g2_text, g3_pct, g3_text, window,
            source, row.text("verified"), row.text("notes", required=False), severe,
            row.text("caveat", required=False)))
    if not any(r.reference_set == DEFAULT_REFERENCE_SET for r in rates):
        raise ReferenceDataError(path, None, f"the default reference set {DEFAULT_REFERENCE_SET!r} is missing")
    return tuple(rates)


def load_landmarks(path: str | Path | None = None) -> tuple[Landmark, ...]:
    """timing_landmarks.csv -> Landmark rows in file order (validated)."""
    rows = read_csv(path or LANDMARKS_FILE, ["term", "landmark", "value", "unit", "source"],
                    ["qualifier", "pct_of_events", "population", "grade_band"])
    check_unique(rows, lambda r: (r.text("term", required=False), r.text("landmark"),
                                  r.text("population", required=False)), "term, landmark and population")
    known_terms = {t.name for t in ctcae.terms()}
    result = []
    for row in rows:
        term = row.text("term", required=False) or None
        if term is not None and term not in known_terms:
            raise row.error(f"unknown CTCAE term {term!r}", "term")
        qualifier = row.text("qualifier", required=False)
        if qualifier not in LANDMARK_QUALIFIERS:
            raise row.error(f"{qualifier!r} is not one of {', '.join(map(repr, LANDMARK_QUALIFIERS))}",
                            "qualifier")
        qualitative = qualifier == "qualitative"
        if qualitative and row.text("value", required=False):
            raise row.error("a qualitative landmark has no value", "value")
        value = row.number("value", required=not qualitative, minimum=0)
        unit = row.choice("unit", ("days", "weeks")) if value is not None else row.text("unit", required=False)
        band = row.text("grade_band", required=False)
        if band and band not in BANDS:
            raise row.error(f"{band!r} is not one of {', '.join(BANDS)}", "grade_band")
        result.append(Landmark(term, row.text("landmark"), band or "any", value, unit, qualifier,
                               row.number("pct_of_events", required=False, minimum=0, maximum=100),
                               row.text("population", required=False), row.text("source")))
    return tuple(result)


@dataclass(frozen=True)
class SetFacts:
    """What holds for a whole reference set: the grading it used and its median follow-up, each with its status."""
    reference_set: str
    grading: str                          # e.g. "CTCAE v3.0"; "" = not in the reference data
    grading_status: str
    median_follow_up_months: float | None
    follow_up_status: str
    source: str


def load_set_facts(path: str | Path | None = None) -> dict[str, SetFacts]:
    rows = read_csv(path or SETS_FILE, ["reference_set", "grading_status", "follow_up_status", "source"],
                    ["grading", "median_follow_up_months"])
    check_unique(rows, lambda r: r.text("reference_set"), "reference_set")
    return {row.text("reference_set"): SetFacts(
        row.text("reference_set"), row.text("grading", required=False), row.text("grading_status"),
        row.number("median_follow_up_months", required=False, minimum=0), row.text("follow_up_status"),
        row.text("source")) for row in rows}


@lru_cache(maxsize=1)
def _set_facts() -> dict[str, SetFacts]:
    return load_set_facts()


def set_facts(set_name: str) -> SetFacts:
    """The set's grading and follow-up; a set missing from reference_sets.csv has neither in the data."""
    _set_rows(set_name)
    return _set_facts().get(set_name) or SetFacts(set_name, "", "not in the reference data", None,
                                                   "not in the reference data", "")


@lru_cache(maxsize=1)
def _rates() -> tuple[ReferenceRate, ...]:
    return load_rates()


@lru_cache(maxsize=1)
def _landmarks() -> tuple[Landmark, ...]:
    return load_landmarks()


def clear_cache() -> None:
    _rates.cache_clear()
    _landmarks.cache_clear()
    _set_facts.cache_clear()


# ---------------------------------------------------------------- queries

def reference_sets() -> list[str]:
    """Names of the reference sets: the default first, then file order."""
    names = list(dict.fromkeys(r.reference_set for r in _rates()))
    names.remove(DEFAULT_REFERENCE_SET)
    return [DEFAULT_REFERENCE_SET] + names


def _set_rows(set_name: str) -> list[ReferenceRate]:
    rows = [r for r in _rates() if r.reference_set == set_name]
    if not rows:
        raise ValueError(f"unknown reference set {set_name!r}; expected one of {', '.join(reference_sets())}")
    return rows


def arms(set_name: str) -> list[str]:
    """Arms of a set in file order; the first is the set's primary (everolimus) arm."""
    return list(dict.fromkeys(r.arm for r in _set_rows(set_name)))


def rates(set_name: str, arm: str | None = None) -> list[ReferenceRate]:
    """Rows of one arm of a set. arm None = the set's primary arm ("everolimus+exemestane" for the
    BOLERO-2 sets; sets such as SWISH name their single arm differently); arm "*" = every arm."""
    rows = _set_rows(set_name)
    if arm == "*":
        return rows
    wanted = (arm or arms(set_name)[0]).casefold()
    return [r for r in rows if r.arm.casefold() == wanted]


def reference_rate(set_name: str, term: str, arm: str | None = None) -> ReferenceRate | None:
    """The row of a term (name or synonym) in one arm of a set, or None when the set has no such row."""
    resolved = ctcae.get_term(term).name
    return next((r for r in rates(set_name, arm) if r.ctcae_term == resolved), None)


def rate(set_name: str, term: str, band: str, arm: str | None = None) -> float | None:
    """The published percentage for a term and band ("any", "grade_2_plus", "grade_3_plus"), or None
    when there is no exact published figure (no row, empty, "<1" or a range): None = "no reference"."""
    _band_attr(band)
    row = reference_rate(set_name, term, arm)
    return None if row is None else row.pct(band)


def citation(set_name: str) -> str:
    """The full source of a set: the source of its first row (later rows may say "same")."""
    return _set_rows(set_name)[0].source


def landmarks(term: str | None = None) -> list[Landmark]:
    """Published time landmarks; for a term (name or synonym) only that term's."""
    if term is None:
        return list(_landmarks())
    resolved = ctcae.get_term(term).name
    return [lm for lm in _landmarks() if lm.term == resolved]
