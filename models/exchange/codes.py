"""The codes the FHIR and SDTM exchanges use, as data, every row with its source and status:
seed_data/lab_codes.csv (LOINC and SDTM LB codes of each lab test), seed_data/lab_units.csv (this app's unit
spellings in UCUM and in CDISC UNIT), seed_data/lab_unit_conversions.csv (factors between units of one test)
and seed_data/exchange_codes.csv (CTCAE grades, seriousness, outcomes, relatedness, AEACN, AEOUT, AEREL,
RxNorm). A code marked unconfirmed is listed, never sent ("not used", or an empty code).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from models.clinical import ctcae
from models.clinical.reference_data import SEED_DATA_DIR, check_unique, read_csv
from models.clinical.vocabulary import LAB_TESTS

LAB_CODES_FILE = SEED_DATA_DIR / "lab_codes.csv"
LAB_UNITS_FILE = SEED_DATA_DIR / "lab_units.csv"
CONVERSIONS_FILE = SEED_DATA_DIR / "lab_unit_conversions.csv"
EXCHANGE_CODES_FILE = SEED_DATA_DIR / "exchange_codes.csv"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
MEDDRA = "https://www.meddra.org"
LOINC_USES = ("export and import", "import", "not used")
VOCABULARIES = ("ctcae_grade", "seriousness", "fhir_outcome", "fhir_relatedness", "aeacn", "aeout", "aerel",
                "rxnorm")


@dataclass(frozen=True)
class LabCode:
    test: str
    loinc: str
    loinc_name: str
    use: str
    units: tuple[str, ...]   # the units the code's property (mass, counts, activity per volume) is written in
    lbtestcd: str
    lbtest: str
    lbcat: str
    loinc_status: str
    sdtm_status: str


@dataclass(frozen=True)
class Code:
    system: str | None
    code: str | None
    display: str
    status: str


@lru_cache(maxsize=1)
def lab_codes() -> tuple[LabCode, ...]:
    rows = read_csv(LAB_CODES_FILE, ["test", "loinc", "loinc_name", "use", "units", "lbtestcd", "lbtest", "lbcat",
                                     "loinc_source", "loinc_status", "sdtm_source", "sdtm_status"])
    check_unique(rows, lambda r: r.text("loinc"), "loinc")
    result = tuple(LabCode(r.choice("test", LAB_TESTS), r.text("loinc"), r.text("loinc_name"),
                           r.choice("use", LOINC_USES), tuple(u.strip() for u in r.text("units").split(";")),
                           r.text("lbtestcd"), r.text("lbtest"), r.text("lbcat"),
                           r.text("loinc_status"), r.text("sdtm_status")) for r in rows)
    for row, code in zip(rows, result):
        if len(code.lbtestcd) > 8 or len(code.lbtest) > 40:
            raise row.error("LBTESTCD is at most 8 characters and LBTEST at most 40", "lbtestcd")
        unknown = [u for u in code.units if u not in ctcae.units(code.test)]
        if unknown:
            raise row.error(f"{', '.join(unknown)}: not a unit {code.test} is graded in", "units")
    exported = [c.test for c in result if c.use == "export and import"]
    for test in LAB_TESTS:
        if exported.count(test) != 1:
            raise rows[0].error(f"lab test {test!r} needs exactly one code used for export", "use")
    return result


def export_code(test: str) -> LabCode:
    """The one LOINC code a test is sent with (and its SDTM LB codes)."""
    return next(c for c in lab_codes() if c.test == test and c.use == "export and import")


def test_for_loinc(loinc: str) -> str | None:
    """The lab test an incoming LOINC code means, or None (unknown, or a code this app does not take)."""
    return next((c.test for c in lab_codes() if c.loinc == loinc and c.use != "not used"), None)


def importable_loincs() -> list[str]:
    return [c.loinc for c in lab_codes() if c.use != "not used"]


@lru_cache(maxsize=1)
def _units() -> dict[str, tuple[str, str, str]]:
    rows = read_csv(LAB_UNITS_FILE, ["unit", "ucum", "cdisc_unit", "source", "status"])
    check_unique(rows, lambda r: r.text("unit"), "unit")
    check_unique(rows, lambda r: r.text("ucum"), "ucum")
    return {r.text("unit"): (r.text("ucum"), r.text("cdisc_unit"), r.text("status")) for r in rows}


def ucum(unit: str | None) -> str | None:
    """This app's unit in UCUM, or None when the file does not list it (`unit` as the app spells it: see
    ctcae.accepted_unit)."""
    return _units().get(unit, (None,))[0] if unit else None


def cdisc_unit(unit: str | None) -> str | None:
    return _units().get(unit, (None, None))[1] if unit else None


def unit_from_ucum(code: str | None) -> str | None:
    """This app's spelling of a UCUM unit, or None."""
    return next((unit for unit, (ucum_code, _, _) in _units().items() if ucum_code == code), None)


@lru_cache(maxsize=1)
def _conversions() -> dict[tuple[str, str, str], float]:
    rows = read_csv(CONVERSIONS_FILE, ["test", "from_unit", "to_unit", "factor", "source", "status"])
    check_unique(rows, lambda r: (r.text("test"), r.text("from_unit"), r.text("to_unit")), "test and units")
    factors = {}
    for r in rows:
        factor = r.number("factor", positive=True)
        factors[(r.choice("test", LAB_TESTS), r.text("from_unit"), r.text("to_unit"))] = factor
        factors[(r.text("test"), r.text("to_unit"), r.text("from_unit"))] = 1 / factor
    return factors


def conversion_factor(test: str, from_unit: str | None, to_unit: str) -> float | None:
    """The factor that turns a value of `test` in `from_unit` into `to_unit` (1 for the same unit), or None when
    seed_data/lab_unit_conversions.csv has none."""
    if from_unit == to_unit:
        return 1.0
    return _conversions().get((test, from_unit or "", to_unit))


def standard_factor(test: str, unit: str | None) -> float | None:
    """The factor that turns a value of `test` in `unit` (in any spelling the grading accepts) into the test's
    standard unit, its default one (1 when it is in it), or None without a unit or a known factor."""
    if not unit:
        return None
    return conversion_factor(test, ctcae.accepted_unit(test, unit) or unit, ctcae.default_unit(test))


@lru_cache(maxsize=1)
def _exchange_codes() -> dict[tuple[str, str], Code]:
    rows = read_csv(EXCHANGE_CODES_FILE, ["vocabulary", "value", "system", "code", "display", "source", "status"])
    check_unique(rows, lambda r: (r.text("vocabulary"), r.text("value")), "vocabulary and value")
    return {(r.choice("vocabulary", VOCABULARIES), r.text("value")):
            Code(r.text("system", required=False) or None, r.text("code", required=False) or None,
                 r.text("display"), r.text("status")) for r in rows}


def code(vocabulary: str, value) -> Code | None:
    """The code of one of this app's values in a vocabulary (e.g. code("aeacn", "held")), or None."""
    if value is None:
        return None
    return _exchange_codes().get((vocabulary, str(value)))


def vocabulary(name: str) -> dict[str, Code]:
    return {value: c for (vocab, value), c in _exchange_codes().items() if vocab == name}


def value_for(vocabulary_name: str, code_value: str) -> str | None:
    """This app's value for an incoming code of a vocabulary, or None."""
    return next((value for value, c in vocabulary(vocabulary_name).items() if c.code == code_value), None)
