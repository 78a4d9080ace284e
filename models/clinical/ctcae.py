"""CTCAE v5.0 catalogue (terms, grade definitions, synonyms) and lab-value grading.

Everything clinical comes from seed_data (ctcae_terms.csv, ctcae_synonyms.csv, lab_grading.csv), each
row with its source; this module only validates and applies it. The files are read once, on first use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from models.clinical.reference_data import SEED_DATA_DIR, ReferenceDataError, check_unique, read_csv
from models.clinical.vocabulary import LAB_TESTS  # noqa: F401 - also read as ctcae.LAB_TESTS

TERMS_FILE = SEED_DATA_DIR / "ctcae_terms.csv"
SYNONYMS_FILE = SEED_DATA_DIR / "ctcae_synonyms.csv"
LAB_GRADING_FILE = SEED_DATA_DIR / "lab_grading.csv"

# The BOLERO-2 everolimus class toxicities, in the order the dashboard shows them.
BOLERO2_TERMS: tuple[str, ...] = (
    "Mucositis oral", "Pneumonitis", "Hyperglycemia", "Anemia", "Aspartate aminotransferase increased",
    "Alanine aminotransferase increased", "Fatigue", "Dyspnea",
)

STATUSES = ("checked", "check")  # "check": not yet verified against the shared reference

OPERATORS = ("<", "<=", ">", ">=")
RELATIVE_TO = ("absolute", "lln", "uln", "baseline", "reference")  # reference = R of the AST/ALT rule
APPLIES_WHEN = ("any", "baseline_normal", "baseline_abnormal")
YES_NO = ("yes", "no")
# Boundaries are compared with a relative tolerance: 3.0 * 0.1 is 0.30000000000000004 in floats.
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Term:
    name: str
    meddra_code: int
    grades: dict[int, str] = field(hash=False)  # defined grades only; treat as read-only
    status: str  # "checked", or "check" when any of its rows is unverified
    source: str

    @property
    def defined_grades(self) -> tuple[int, ...]:
        return tuple(sorted(self.grades))

    @property
    def checked(self) -> bool:
        return self.status == "checked"


@dataclass(frozen=True)
class LabBand:
    """Grade `grade` applies when `value <operator> cutoff x limit` (limit = 1 for absolute cut points)."""

    grade: int
    operator: str
    cutoff: float
    relative_to: str
    applies_when: str
    version: str
    source: str


@dataclass(frozen=True)
class LabTest:
    name: str
    ctcae_term: str
    units: tuple[str, ...]  # default unit first
    unit_required: bool
    note: str | None
    versions: tuple[str, ...]
    bands: dict[str, tuple[LabBand, ...]] = field(hash=False)  # normalised unit -> bands, highest grade first


class UnknownTermError(ValueError, KeyError):
    """A name that is neither a CTCAE term of the catalogue nor a listed synonym."""

    __str__ = ValueError.__str__  # KeyError would quote the message


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _unit_key(unit: str) -> str:
    # micro sign and Greek mu both mean "u" in the unit names of the file
    return "".join(unit.split()).casefold().replace("\u00b5", "u").replace("\u03bc", "u")


# ---------------------------------------------------------------- loaders (path arguments for tests)

def load_terms(path: str | Path | None = None) -> dict[str, Term]:
    """ctcae_terms.csv -> {term name: Term}, in file order."""
    rows = read_csv(path or TERMS_FILE, ["term", "meddra_code", "grade", "definition", "source", "status"])
    check_unique(rows, lambda r: (_key(r.text("term")), r.text("grade")), "term and grade")
    collected: dict[str, dict] = {}
    for row in rows:
        name = row.text("term")
        code = row.integer("meddra_code", minimum=10000000, maximum=99999999)
        grade = row.integer("grade", minimum=1, maximum=5)
        status = row.choice("status", STATUSES)
        source = row.text("source")
        entry = collected.setdefault(name, {"code": code, "grades": {}, "statuses": [], "sources": [],
                                            "line": row.line})
        if entry["code"] != code:
            raise row.error(f"MedDRA code {code} differs from {entry['code']} on line {entry['line']}",
                            "meddra_code")
        if row.text("definition", required=False):  # empty definition = grade not defined ("-")
            entry["grades"][grade] = row.text("definition")
        entry["statuses"].append(status)
        if source not in entry["sources"]:
            entry["sources"].append(source)
    if not collected:
        raise ReferenceDataError(path or TERMS_FILE, None, "no terms")
    terms = {}
    for name, e in collected.items():
        if not e["grades"]:
            raise ReferenceDataError(path or TERMS_FILE, e["line"], f"term {name!r} has no defined grade")
        status = "check" if "check" in e["statuses"] else "checked"
        terms[name] = Term(name, e["code"], dict(sorted(e["grades"].items())), status, "; ".join(e["sources"]))
    return terms


def load_synonyms(path: str | Path | None = None, terms: dict[str, Term] | None = None) -> dict[str, str]:
    """ctcae_synonyms.csv -> {synonym: term name}; every term must exist in the catalogue."""
    terms = load_terms() if terms is None else terms
    by_key = {_key(name): name for name in terms}
    rows = read_csv(path or SYNONYMS_FILE, ["synonym", "term", "source"])
    check_unique(rows, lambda r: _key(r.text("synonym")), "synonym")
    synonyms = {}
    for row in rows:
        synonym, target = row.text("synonym"), row.text("term")
        row.text("source")
        if target not in terms:
            raise row.error(f"unknown CTCAE term {target!r}", "term")
        if _key(synonym) in by_key:
            raise row.error(f"{synonym!r} is itself a CTCAE term", "synonym")
        synonyms[synonym] = target
    return synonyms


def load_lab_grading(path: str | Path | None = None, terms: dict[str, Term] | None = None) -> dict[str, LabTest]:
    """lab_grading.csv -> {test: LabTest}. Each row is one grade band of one test and unit."""
    terms = load_terms() if terms is None else terms
    path = path or LAB_GRADING_FILE
    rows = read_csv(path, ["test", "ctcae_term", "unit", "default_unit", "unit_required", "grade", "operator",
                           "cutoff", "relative_to", "applies_when", "version", "source"], ["note"])
    check_unique(rows, lambda r: (r.text("test"), _unit_key(r.text("unit")), r.text("grade"),
                                  r.text("applies_when")), "test, unit, grade and applies_when")
    per_test: dict[str, dict] = {}
    for row in rows:
        test = row.choice("test", LAB_TESTS)
        band = LabBand(
            grade=row.integer("grade", minimum=1, maximum=4),  # grade 5 never follows from a number
            operator=row.choice("operator", OPERATORS),
            cutoff=row.number("cutoff", positive=True),
            relative_to=row.choice("relative_to", RELATIVE_TO),
            applies_when=row.choice("applies_when", APPLIES_WHEN),
            version=row.text("version"),
            source=row.text("source"),
        )
        if band.relative_to == "baseline" and band.applies_when != "baseline_abnormal":
            raise row.error("a band relative to the baseline must apply when baseline_abnormal", "applies_when")
        if row.text("ctcae_term") not in terms:
            raise row.error(f"unknown CTCAE term {row.text('ctcae_term')!r}", "ctcae_term")
        fixed = {"ctcae_term": row.text("ctcae_term"), "unit_required": row.choice("unit_required", YES_NO),
                 "note": row.text("note", required=False)}
        entry = per_test.setdefault(test, {**fixed, "line": row.line, "units": {}, "default": None})
        for column, value in fixed.items():
            if entry[column] != value:
                raise row.error(f"{value!r} differs from {entry[column]!r} on line {entry['line']} "
                                f"(must be the same on every row of a test)", column)
        unit = row.text("unit")
        unit_bands = entry["units"].setdefault(_unit_key(unit), {"name": unit, "bands": [], "default": None})
        is_default = row.choice("default_unit", YES_NO) == "yes"
        if unit_bands["default"] is None:
            unit_bands["default"] = is_default
        elif unit_bands["default"] != is_default:
            raise row.error(f"default_unit differs between rows of unit {unit!r}", "default_unit")
        unit_bands["bands"].append(band)
    missing = [t for t in LAB_TESTS if t not in per_test]
    if missing:
        raise ReferenceDataError(path, None, f"no grading rows for test(s): {', '.join(missing)}")
    return {test: _lab_test(path, test, per_test[test]) for test in LAB_TESTS}


def _lab_test(path, test: str, entry: dict) -> LabTest:
    defaults = [u["name"] for u in entry["units"].values() if u["default"]]
    if len(defaults) != 1:
        raise ReferenceDataError(path, entry["line"], f"test {test!r} needs exactly one default unit, "
                                                      f"found {len(defaults)}", "default_unit")
    units = tuple(defaults + [u["name"] for u in entry["units"].values() if not u["default"]])
    bands = {key: tuple(sorted(u["bands"], key=lambda b: -b.grade)) for key, u in entry["units"].items()}
    versions = tuple(dict.fromkeys(b.version for bs in bands.values() for b in bs))
    return LabTest(test, entry["ctcae_term"], units, entry["unit_required"] == "yes", entry["note"] or None,
                   versions, bands)


@dataclass(frozen=True)
class _Catalogue:
    terms: dict[str, Term]
    lookup: dict[str, str]  # casefolded name or synonym -> term name
    synonyms: dict[str, str]
    lab_tests: dict[str, LabTest]


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    terms = load_terms()
    synonyms = load_synonyms(terms=terms)
    lab_tests = load_lab_grading(terms=terms)
    missing = [t for t in BOLERO2_TERMS if t not in terms]
    if missing:
        raise ReferenceDataError(TERMS_FILE, None, f"BOLERO-2 term(s) missing: {', '.join(missing)}")
    lookup = {_key(name): name for name in terms}
    lookup.update({_key(s): t for s, t in synonyms.items()})
    return _Catalogue(terms, lookup, synonyms, lab_tests)


def clear_cache() -> None:
    """Forget the loaded files (after editing seed_data in a running process)."""
    _catalogue.cache_clear()


# ---------------------------------------------------------------- terms

def terms() -> list[Term]:
    """All CTCAE terms of the catalogue, in file order."""
    return list(_catalogue().terms.values())


def synonyms() -> dict[str, str]:
    """{synonym: CTCAE term} as listed in ctcae_synonyms.csv."""
    return dict(_catalogue().synonyms)


def resolve_term(name: str | None) -> str | None:
    """The CTCAE term for a term name or synonym (case-insensitive), or None if unknown."""
    if not isinstance(name, str):
        return None
    return _catalogue().lookup.get(_key(name))


def get_term(name_or_synonym: str) -> Term:
    """The Term for a name or synonym; UnknownTermError (a ValueError) if unknown."""
    resolved = resolve_term(name_or_synonym)
    if resolved is None:
        raise UnknownTermError(f"unknown CTCAE term or synonym {name_or_synonym!r} "
                               f"(see seed_data/ctcae_terms.csv and ctcae_synonyms.csv)")
    return _catalogue().terms[resolved]


def ordered_terms() -> list[str]:
    """Term names: the BOLERO-2 terms first (in BOLERO2_TERMS order), then the rest alphabetically."""
    rest = sorted((n for n in _catalogue().terms if n not in BOLERO2_TERMS), key=str.casefold)
    return list(BOLERO2_TERMS) + rest


# ---------------------------------------------------------------- lab grading

def _spec(test: str) -> LabTest:
    spec = _catalogue().lab_tests.get(test.strip().casefold()) if isinstance(test, str) else None
    if spec is None:
        raise ValueError(f"unknown lab test {test!r}; expected one of {', '.join(LAB_TESTS)}")
    return spec


def lab_term(test: str) -> str:
    """The CTCAE term a lab test grades (e.g. hemoglobin -> Anemia)."""
    return _spec(test).ctcae_term


def accepted_unit(test: str, unit: str | None) -> str | None:
    """This app's spelling of a unit the test is graded in, matched as the grading matches it (case, spaces,
    micro sign), or None when the test is not graded in it."""
    if unit is None or not str(unit).strip():
        return None
    key = _unit_key(str(unit))
    return next((u for u in _spec(test).units if _unit_key(u) == key), None)


def default_unit(test: str) -> str:
    return _spec(test).units[0]


def units(test: str) -> list[str]:
    """Accepted units of a test, default first."""
    return list(_spec(test).units)


def grade_lab_note(test: str) -> str | None:
    """A caveat to show with a value-derived grade (e.g. glucose uses CTCAE v4.03 cut points)."""
    return _spec(test).note


def _number(value, name: str, *, positive: bool = False) -> float | None:
    """None for missing (None, empty text, NaN); ValueError for anything else that is not a valid number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if number < 0 or (positive and number == 0):
        raise ValueError(f"{name} must be {'greater than 0' if positive else 'non-negative'}, not {value!r}")
    return number


def _holds(value: float, operator: str, threshold: float) -> bool:
    equal = math.isclose(value, threshold, rel_tol=_REL_TOL, abs_tol=1e-12)
    if operator == "<":
        return value < threshold and not equal
    if operator == "<=":
        return value < threshold or equal
    if operator == ">":
        return value > threshold and not equal
    return value > threshold or equal  # ">="


def grade_lab(test: str, value, unit: str | None, *, lln=None, uln=None, baseline=None) -> int | None:
    """The CTCAE grade a lab value supports on its own (0 = no grade), or None when it cannot be graded.

    None: missing value, missing or unknown unit (AST/ALT accept a missing unit: they grade by ratio),
    or a limit (LLN, ULN) that the deciding band needs is missing. Bands are tried from the highest grade
    down, so a band that needs no missing limit is still graded (hemoglobin 7.5 g/dL -> 3 without LLN).
    AST/ALT: R = ULN, or the baseline when it is above ULN; then grade 1 starts at >= 1.5 x baseline.
    ValueError: unknown test, negative value or baseline, non-positive LLN/ULN, non-numeric input.
    """
    spec = _spec(test)
    number = _number(value, "value")
    limits = {"absolute": 1.0, "lln": _number(lln, "lln", positive=True),
              "uln": _number(uln, "uln", positive=True), "baseline": _number(baseline, "baseline")}
    if number is None:
        return None
    if unit is None or (isinstance(unit, float) and math.isnan(unit)) or not str(unit).strip():  # NaN: pandas
        if spec.unit_required:
            return None
        unit = spec.units[0]
    bands = spec.bands.get(_unit_key(str(unit)))
    if bands is None:
        return None
    base, upper = limits["baseline"], limits["uln"]
    if base is None:
        state = "baseline_normal"  # no baseline: the baseline-normal rule of CTCAE
    elif upper is None:
        state = None  # cannot tell whether the baseline is abnormal
    else:
        state = "baseline_abnormal" if _holds(base, ">", upper) else "baseline_normal"
    limits["reference"] = None if state is None else (base if state == "baseline_abnormal" else upper)
    for band in bands:
        if band.applies_when != "any":
            if state is None:
                return None
            if band.applies_when != state:
                continue
        limit = limits[band.relative_to]
        if limit is None:
            return None  # this band can neither be confirmed nor ruled out
        if _holds(number, band.operator, band.cutoff * limit):
            return band.grade
    return 0


def grade_bands(test: str, unit: str | None, *, lln: float | None = None,
                uln: float | None = None) -> list[tuple[int, float, float | None]]:
    """(grade, low, high) value ranges of each grade, for drawing behind a lab trend; high None = open.

    AST/ALT are drawn as multiples of ULN, so pass uln=1 for them (the baseline-normal rule). Bands that
    need a missing limit are left out.
    """
    spec = _spec(test)
    bands = spec.bands.get(_unit_key(unit or spec.units[0]), ())
    limits = {"absolute": 1.0, "lln": lln, "uln": uln, "reference": uln}
    edges = []
    for band in bands:  # highest grade first
        if band.applies_when not in ("any", "baseline_normal") or limits.get(band.relative_to) is None:
            continue
        edges.append((band.grade, band.operator, band.cutoff * limits[band.relative_to]))
    result, previous = [], None
    for grade, operator, threshold in edges:
        if operator.startswith("<"):  # low values are worse: the band ends where the worse one starts
            result.append((grade, previous if previous is not None else 0.0, threshold))
        else:
            result.append((grade, threshold, previous))
        previous = threshold
    return sorted(result)
