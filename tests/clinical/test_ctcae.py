"""models.clinical.ctcae: catalogue loading/validation and grade_lab at every band boundary."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from models.clinical import ctcae
from models.clinical.reference_data import ReferenceDataError


# ---------------------------------------------------------------- grade_lab, band by band

HEMOGLOBIN = [  # (value, unit, lln, expected)
    (12.0, "g/dL", 12, 0), (11.99, "g/dL", 12, 1), (10.0, "g/dL", 12, 1), (9.99, "g/dL", 12, 2),
    (8.0, "g/dL", 12, 2), (7.99, "g/dL", 12, 3), (0, "g/dL", 12, 3),
    (120, "g/L", 120, 0), (119.9, "g/L", 120, 1), (100, "g/L", 120, 1), (99.9, "g/L", 120, 2),
    (80, "g/L", 120, 2), (79.9, "g/L", 120, 3),
    (7.4, "mmol/L", 7.4, 0), (7.39, "mmol/L", 7.4, 1), (6.2, "mmol/L", 7.4, 1), (6.19, "mmol/L", 7.4, 2),
    (4.9, "mmol/L", 7.4, 2), (4.89, "mmol/L", 7.4, 3),
]


@pytest.mark.parametrize("value,unit,lln,expected", HEMOGLOBIN)
def test_hemoglobin_bands(value, unit, lln, expected):
    assert ctcae.grade_lab("hemoglobin", value, unit, lln=lln) == expected


@pytest.mark.parametrize("value,unit,expected", [
    (10.0, "g/dL", None), (11, "g/dL", None), (9.99, "g/dL", 2), (7.5, "g/dL", 3),
    (100, "g/L", None), (99.9, "g/L", 2), (79.9, "g/L", 3),
    (6.2, "mmol/L", None), (6.19, "mmol/L", 2), (4.89, "mmol/L", 3),
])
def test_hemoglobin_without_lln_grades_only_bands_that_need_no_lln(value, unit, expected):
    assert ctcae.grade_lab("hemoglobin", value, unit) == expected


def test_hemoglobin_absolute_band_wins_over_a_low_lln():
    # LLN 9.5 below the 10.0 cut point: 9.7 is >= LLN but still "<10.0 - 8.0" (grade 2)
    assert ctcae.grade_lab("hemoglobin", 9.7, "g/dL", lln=9.5) == 2


TRANSAMINASE_NORMAL_BASELINE = [  # ULN 40
    (40, 0), (40.01, 1), (120, 1), (120.01, 2), (200, 2), (200.01, 3), (800, 3), (800.01, 4), (10, 0),
]


@pytest.mark.parametrize("test", ["ast", "alt"])
@pytest.mark.parametrize("value,expected", TRANSAMINASE_NORMAL_BASELINE)
def test_transaminase_bands_with_normal_or_no_baseline(test, value, expected):
    assert ctcae.grade_lab(test, value, "U/L", uln=40) == expected
    assert ctcae.grade_lab(test, value, "U/L", uln=40, baseline=30) == expected
    assert ctcae.grade_lab(test, value, "U/L", uln=40, baseline=40) == expected  # = ULN is normal


TRANSAMINASE_ABNORMAL_BASELINE = [  # ULN 40, baseline 60: R = 60, grade 1 from 1.5 x 60 = 90
    (50, 0), (89.99, 0), (90, 1), (180, 1), (180.01, 2), (300, 2), (300.01, 3), (1200, 3), (1200.01, 4),
]


@pytest.mark.parametrize("test", ["ast", "alt"])
@pytest.mark.parametrize("value,expected", TRANSAMINASE_ABNORMAL_BASELINE)
def test_transaminase_bands_with_abnormal_baseline(test, value, expected):
    assert ctcae.grade_lab(test, value, "U/L", uln=40, baseline=60) == expected


@pytest.mark.parametrize("test", ["ast", "alt"])
def test_transaminase_unit_is_optional_and_case_insensitive(test):
    assert ctcae.grade_lab(test, 130, None, uln=40) == 2
    assert ctcae.grade_lab(test, 130, "", uln=40) == 2
    assert ctcae.grade_lab(test, 130, math.nan, uln=40) == 2  # an empty pandas cell
    assert ctcae.grade_lab(test, 130, "u/l", uln=40) == 2
    assert ctcae.grade_lab(test, 130, "mg/dL", uln=40) is None  # a wrong unit is not ignored


@pytest.mark.parametrize("test", ["ast", "alt"])
def test_transaminase_missing_limits(test):
    assert ctcae.grade_lab(test, 900, "U/L") is None
    assert ctcae.grade_lab(test, 900, "U/L", baseline=60) is None  # abnormal or not needs the ULN


def test_transaminase_ratio_boundaries_survive_float_rounding():
    uln = 0.7
    assert 3.0 * uln != 2.1  # the float product is not exactly 2.1, which is the trap
    assert ctcae.grade_lab("ast", 2.1, "U/L", uln=uln) == 1
    assert ctcae.grade_lab("ast", 2.1 + 1e-6, "U/L", uln=uln) == 2
    baseline = 1.1  # abnormal; 1.5 x 1.1 = 1.6500000000000001 in floats
    assert 1.5 * baseline != 1.65
    assert ctcae.grade_lab("alt", 1.65, "U/L", uln=uln, baseline=baseline) == 1
    assert ctcae.grade_lab("alt", 1.6499, "U/L", uln=uln, baseline=baseline) == 0


GLUCOSE = [
    (100, "mg/dL", 100, 0), (100.1, "mg/dL", 100, 1), (160, "mg/dL", 100, 1), (160.01, "mg/dL", 100, 2),
    (250, "mg/dL", 100, 2), (250.01, "mg/dL", 100, 3), (500, "mg/dL", 100, 3), (500.01, "mg/dL", 100, 4),
    (5.5, "mmol/L", 5.5, 0), (5.6, "mmol/L", 5.5, 1), (8.9, "mmol/L", 5.5, 1), (8.91, "mmol/L", 5.5, 2),
    (13.9, "mmol/L", 5.5, 2), (13.91, "mmol/L", 5.5, 3), (27.8, "mmol/L", 5.5, 3), (27.81, "mmol/L", 5.5, 4),
]


@pytest.mark.parametrize("value,unit,uln,expected", GLUCOSE)
def test_glucose_fasting_bands(value, unit, uln, expected):
    assert ctcae.grade_lab("glucose_fasting", value, unit, uln=uln) == expected


def test_glucose_without_uln_and_its_v403_note():
    assert ctcae.grade_lab("glucose_fasting", 150, "mg/dL") is None
    assert ctcae.grade_lab("glucose_fasting", 160.01, "mg/dL") == 2
    assert ctcae.grade_lab("glucose_fasting", 30, "mmol/L") == 4
    assert ctcae.grade_lab("glucose_fasting", 200, None, uln=100) is None  # unit required
    assert ctcae.grade_lab_note("glucose_fasting") == "graded with CTCAE v4.03 fasting-glucose cut points"
    assert ctcae._spec("glucose_fasting").versions == ("CTCAE v4.03",)


COUNTS = {  # test: (lln, [(value, expected)])
    "platelets": (150, [(150, 0), (149.9, 1), (75, 1), (74.9, 2), (50, 2), (49.9, 3), (25, 3), (24.9, 4)]),
    "neutrophils": (2.0, [(2.0, 0), (1.99, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4),
                          (0, 4)]),
}


@pytest.mark.parametrize("unit", ["10^9/L", "10^3/uL", "10^3/µL", " 10^9/l "])
@pytest.mark.parametrize("test", sorted(COUNTS))
def test_count_bands_in_every_unit(test, unit):
    lln, cases = COUNTS[test]
    assert [ctcae.grade_lab(test, v, unit, lln=lln) for v, _ in cases] == [e for _, e in cases]


@pytest.mark.parametrize("test,value,expected", [
    ("platelets", 75, None), ("platelets", 74.9, 2), ("neutrophils", 1.5, None), ("neutrophils", 0.4, 4),
])
def test_counts_without_lln(test, value, expected):
    assert ctcae.grade_lab(test, value, "10^9/L") == expected


@pytest.mark.parametrize("test,unit,value,expected", [
    ("hemoglobin", "g/dl", 7.0, 3), ("hemoglobin", "G/L", 90, 2), ("hemoglobin", "MMOL/L", 4.0, 3),
    ("glucose_fasting", "MG/DL", 300, 3), ("glucose_fasting", "Mmol/l", 9.0, 2), ("platelets", "10^3/UL", 60, 2),
    ("neutrophils", "10^9/l", 0.7, 3),
])
def test_units_are_case_insensitive(test, unit, value, expected):
    canonical = next(u for u in ctcae.units(test) if u.casefold() == unit.casefold())
    assert canonical != unit
    assert ctcae.grade_lab(test, value, unit, lln=200, uln=100) == expected
    assert ctcae.grade_lab(test, value, canonical, lln=200, uln=100) == expected


@pytest.mark.parametrize("test,unit", [
    ("hemoglobin", "mg/dL"), ("hemoglobin", None), ("hemoglobin", ""), ("platelets", "/mm3"),
    ("neutrophils", "cells"), ("glucose_fasting", "g/L"),
])
def test_unknown_or_missing_unit_gives_none(test, unit):
    assert ctcae.grade_lab(test, 1, unit, lln=2, uln=2) is None


@pytest.mark.parametrize("value", [None, "", "  ", math.nan])
def test_missing_value_gives_none(value):
    assert ctcae.grade_lab("hemoglobin", value, "g/dL", lln=12) is None


def test_nan_limits_count_as_missing_and_numeric_text_is_accepted():
    assert ctcae.grade_lab("hemoglobin", 11, "g/dL", lln=math.nan) is None
    assert ctcae.grade_lab("hemoglobin", "9.5", "g/dL", lln="12") == 2
    assert ctcae.grade_lab("Hemoglobin ", 9.5, "g/dL") == 2  # test names are case-insensitive


@pytest.mark.parametrize("kwargs,match", [
    ({"test": "sodium", "value": 1}, "unknown lab test 'sodium'"),
    ({"test": None, "value": 1}, "unknown lab test None"),
    ({"test": "hemoglobin", "value": -1}, "value must be non-negative"),
    ({"test": "hemoglobin", "value": "abc"}, "value must be a number"),
    ({"test": "hemoglobin", "value": True}, "value must be a number"),
    ({"test": "hemoglobin", "value": math.inf}, "value must be finite"),
    ({"test": "hemoglobin", "value": 9, "lln": -12}, "lln must be greater than 0"),
    ({"test": "ast", "value": 9, "uln": 0}, "uln must be greater than 0"),
    ({"test": "ast", "value": 9, "uln": 40, "baseline": -1}, "baseline must be non-negative"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    test, value = kwargs.pop("test"), kwargs.pop("value")
    with pytest.raises(ValueError, match=match):
        ctcae.grade_lab(test, value, "g/dL", **kwargs)


# ---------------------------------------------------------------- lab metadata

def test_lab_metadata():
    assert ctcae.LAB_TESTS == ("hemoglobin", "ast", "alt", "glucose_fasting", "platelets", "neutrophils",
                               "cholesterol_total", "triglycerides", "creatinine")
    assert {t: ctcae.lab_term(t) for t in ctcae.LAB_TESTS} == {
        "hemoglobin": "Anemia", "ast": "Aspartate aminotransferase increased",
        "alt": "Alanine aminotransferase increased", "glucose_fasting": "Hyperglycemia",
        "platelets": "Platelet count decreased", "neutrophils": "Neutrophil count decreased",
        "cholesterol_total": "Cholesterol high", "triglycerides": "Hypertriglyceridemia",
        "creatinine": "Creatinine increased"}
    assert ctcae.units("hemoglobin") == ["g/dL", "g/L", "mmol/L"]
    assert ctcae.units("glucose_fasting") == ["mg/dL", "mmol/L"]
    assert ctcae.units("platelets") == ["10^9/L", "10^3/uL"]
    assert ctcae.units("ast") == ["U/L"]
    assert ctcae.units("cholesterol_total") == ctcae.units("triglycerides") == ["mg/dL", "mmol/L"]
    assert ctcae.units("creatinine") == ["mg/dL", "umol/L"]
    assert [ctcae.default_unit(t) for t in ctcae.LAB_TESTS] == ["g/dL", "U/L", "U/L", "mg/dL", "10^9/L", "10^9/L",
                                                              "mg/dL", "mg/dL", "mg/dL"]
    assert [ctcae.grade_lab_note(t) for t in ctcae.LAB_TESTS[:6] if t != "glucose_fasting"] == [None] * 5
    for test in ("cholesterol_total", "triglycerides", "creatinine"):  # their status is shown with the grade
        assert ctcae.grade_lab_note(test) == "CTCAE v5.0 cut points transcribed from memory (status check)"


@pytest.mark.parametrize("test, value, unit, uln, grade", [
    ("cholesterol_total", 210, "mg/dL", 200, 1), ("cholesterol_total", 300, "mg/dL", 200, 1),
    ("cholesterol_total", 301, "mg/dL", 200, 2), ("cholesterol_total", 401, "mg/dL", 200, 3),
    ("cholesterol_total", 501, "mg/dL", 200, 4), ("cholesterol_total", 180, "mg/dL", 200, 0),
    ("cholesterol_total", 10.4, "mmol/L", 5.2, 3), ("cholesterol_total", 13.0, "mmol/L", None, 4),
    ("triglycerides", 149, "mg/dL", None, 0), ("triglycerides", 150, "mg/dL", None, 1),
    ("triglycerides", 301, "mg/dL", None, 2), ("triglycerides", 501, "mg/dL", None, 3),
    ("triglycerides", 1001, "mg/dL", None, 4), ("triglycerides", 3.5, "mmol/L", None, 2),
    ("triglycerides", 11.5, "mmol/L", None, 4),
])
def test_lipids_are_graded_by_ctcae_v5_cut_points_in_either_unit(test, value, unit, uln, grade):
    """ctcae_v5_more_labs.md: Cholesterol high > ULN / 300 / 400 / 500 mg/dL (7.75 / 10.34 / 12.92 mmol/L);
    Hypertriglyceridemia 150 / 300 / 500 / 1000 mg/dL (1.71 / 3.42 / 5.7 / 11.4 mmol/L)."""
    assert ctcae.grade_lab(test, value, unit, uln=uln) == grade


@pytest.mark.parametrize("value, unit, uln, baseline, grade", [
    (0.9, "mg/dL", 1.0, None, 0), (1.2, "mg/dL", 1.0, None, 1), (1.5, "mg/dL", 1.0, None, 1),
    (1.6, "mg/dL", 1.0, None, 2), (3.1, "mg/dL", 1.0, None, 3), (6.1, "mg/dL", 1.0, None, 4),
    (150, "umol/L", 90, None, 2), (1.2, None, 1.0, None, 1),
    # baseline above ULN: grades 2 and 3 are multiples of the baseline (1.5 here), grade 4 stays x ULN
    (2.0, "mg/dL", 1.0, 1.5, 1), (2.3, "mg/dL", 1.0, 1.5, 2), (4.6, "mg/dL", 1.0, 1.5, 3),
    (6.1, "mg/dL", 1.0, 1.5, 4),
])
def test_creatinine_is_graded_against_uln_or_an_abnormal_baseline(value, unit, uln, baseline, grade):
    """ctcae_v5_more_labs.md: Creatinine increased G1 > ULN - 1.5 x ULN; G2 > 1.5 - 3.0 x baseline or x ULN;
    G3 > 3.0 x baseline or 3.0 - 6.0 x ULN; G4 > 6.0 x ULN; the baseline counts when above ULN."""
    assert ctcae.grade_lab("creatinine", value, unit, uln=uln, baseline=baseline) == grade


def test_a_cholesterol_within_the_first_band_needs_the_uln():
    assert ctcae.grade_lab("cholesterol_total", 250, "mg/dL") is None  # grade 0 or 1 depends on the ULN
    assert ctcae.grade_lab("cholesterol_total", 350, "mg/dL") == 2     # above 300 whatever the ULN


def test_lab_metadata_refuses_an_unknown_test():
    with pytest.raises(ValueError, match="unknown lab test"):
        ctcae.units("sodium")


# ---------------------------------------------------------------- catalogue

def test_catalogue_terms_and_status():
    by_name = {t.name: t for t in ctcae.terms()}
    assert len(by_name) == 18
    checked = {"Mucositis oral", "Pneumonitis", "Hyperglycemia", "Anemia", "Aspartate aminotransferase increased",
               "Alanine aminotransferase increased", "Fatigue", "Dyspnea", "Platelet count decreased",
               "Neutrophil count decreased"}
    assert {n for n, t in by_name.items() if t.checked} == checked
    assert {n for n, t in by_name.items() if t.status == "check"} == {
        "Diarrhea", "Rash maculo-papular", "Anorexia", "Nausea", "Cholesterol high", "Hypertriglyceridemia",
        "Febrile neutropenia", "Creatinine increased"}  # the last four from ctcae_v5_more_labs.md, from memory
    febrile = by_name["Febrile neutropenia"]
    assert (febrile.meddra_code, sorted(febrile.grades)) == (10016288, [3, 4, 5])
    assert febrile.grades[3].startswith("ANC < 1000/mm3 with a single temperature > 38.3 C (101 F)")
    assert (by_name["Cholesterol high"].meddra_code, sorted(by_name["Cholesterol high"].grades)) == (10008661, [1, 2, 3, 4])
    assert (by_name["Hypertriglyceridemia"].meddra_code, len(by_name["Hypertriglyceridemia"].grades)) == (10020869, 5)
    assert all("not verified" in by_name[n].source for n in ("Diarrhea", "Nausea"))
    assert all("ctcae_v5_terms.json" in by_name[n].source for n in checked)


def test_term_fields_transcribed_from_the_shared_json():
    mucositis = ctcae.get_term("Mucositis oral")
    assert mucositis.meddra_code == 10028130
    assert mucositis.grades[3] == "Severe pain; interfering with oral intake"
    assert mucositis.defined_grades == (1, 2, 3, 4, 5)
    assert ctcae.get_term("Fatigue").defined_grades == (1, 2, 3)  # grades 4 and 5 are "-"
    ast = ctcae.get_term("Aspartate aminotransferase increased")
    assert ast.meddra_code == 10003481 and ast.defined_grades == (1, 2, 3, 4) and 5 not in ast.grades
    assert ctcae.get_term("Anemia").grades[2] == "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80 g/L"
    assert ctcae.get_term("Rash maculo-papular").defined_grades == (1, 2, 3)


@pytest.mark.parametrize("name,expected", [
    ("Stomatitis", "Mucositis oral"), ("stomatitis", "Mucositis oral"), ("  Oral   mucositis ", "Mucositis oral"),
    ("AST increased", "Aspartate aminotransferase increased"), ("alt INCREASED", "Alanine aminotransferase increased"),
    ("Thrombocytopenia", "Platelet count decreased"), ("Neutropenia", "Neutrophil count decreased"),
    ("Decreased appetite", "Anorexia"), ("Rash", "Rash maculo-papular"), ("PNEUMONITIS", "Pneumonitis"),
])
def test_synonyms_and_names_resolve_case_insensitively(name, expected):
    assert ctcae.resolve_term(name) == expected
    assert ctcae.get_term(name).name == expected


def test_unknown_term():
    assert ctcae.resolve_term("Headache") is None
    assert ctcae.resolve_term(None) is None
    with pytest.raises(ValueError, match="unknown CTCAE term or synonym 'Headache'"):
        ctcae.get_term("Headache")
    with pytest.raises(KeyError):  # also a KeyError, for dict-like callers
        ctcae.get_term("Headache")


def test_ordered_terms():
    ordered = ctcae.ordered_terms()
    assert ordered[:8] == list(ctcae.BOLERO2_TERMS)
    assert ordered[0] == "Mucositis oral" and ordered[7] == "Dyspnea"
    assert ordered[8:] == sorted(ordered[8:], key=str.casefold)
    assert sorted(ordered) == sorted(t.name for t in ctcae.terms())


def test_synonyms_listing_and_every_lab_term_is_in_the_catalogue():
    syn = ctcae.synonyms()
    assert syn["Stomatitis"] == "Mucositis oral" and len(syn) == 10
    names = {t.name for t in ctcae.terms()}
    assert {ctcae.lab_term(t) for t in ctcae.LAB_TESTS} <= names
    assert set(ctcae.BOLERO2_TERMS) <= names


# ---------------------------------------------------------------- malformed files

def _copy(src: Path, dst: Path, edit) -> Path:
    with src.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    edit(rows)
    with dst.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dst


def _set(row_index: int, column: str, value: str):
    def edit(rows):
        rows[row_index][rows[0].index(column)] = value
    return edit


def _expect(loader, path: Path, line: int | None, *words: str, **kwargs):
    with pytest.raises(ReferenceDataError) as info:
        loader(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:" if line else f"{path}:"), message
    assert info.value.path == str(path) and info.value.line == line
    for word in words:
        assert word in message, message


def test_valid_copies_load_like_the_defaults(tmp_path):
    terms = ctcae.load_terms(_copy(ctcae.TERMS_FILE, tmp_path / "t.csv", lambda rows: None))
    assert [t.name for t in terms.values()] == [t.name for t in ctcae.terms()]
    lab = ctcae.load_lab_grading(_copy(ctcae.LAB_GRADING_FILE, tmp_path / "l.csv", lambda rows: None))
    assert lab["hemoglobin"].units == ("g/dL", "g/L", "mmol/L")


@pytest.mark.parametrize("edit,line,words", [
    (_set(3, "grade", "6"), 4, ["grade", "out of range 1..5"]),
    (_set(3, "grade", "two"), 4, ["grade", "not a whole number"]),
    (_set(5, "status", "verified"), 6, ["status", "'verified' is not one of checked, check"]),
    (_set(2, "meddra_code", "10028131"), 3, ["meddra_code", "differs from 10028130 on line 2"]),
    (_set(2, "meddra_code", "abc"), 3, ["meddra_code", "not a whole number"]),
    (_set(4, "source", ""), 5, ["source", "value is required"]),
    (lambda rows: rows.insert(4, list(rows[2])), 5, ["duplicate term and grade (first on line 3)"]),
    (lambda rows: rows.insert(4, rows[2][:3]), 5, ["expected 6 fields, found 3"]),
    (lambda rows: [r.pop(3) for r in rows], 1, ["missing column(s): definition"]),
    (lambda rows: rows[0].__setitem__(5, "statuss"), 1, ["missing column(s): status"]),
])
def test_malformed_terms_file(tmp_path, edit, line, words):
    _expect(ctcae.load_terms, _copy(ctcae.TERMS_FILE, tmp_path / "terms.csv", edit), line, *words)


def test_terms_file_with_a_term_without_defined_grade(tmp_path):
    def edit(rows):
        rows.append(["Headache", "10019211", "1", "", "x", "check"])
    path = _copy(ctcae.TERMS_FILE, tmp_path / "terms.csv", edit)
    _expect(ctcae.load_terms, path, len(ctcae.TERMS_FILE.read_text().splitlines()) + 1,
            "'Headache' has no defined grade")


def test_missing_and_empty_files(tmp_path):
    _expect(ctcae.load_terms, tmp_path / "absent.csv", None, "file not found")
    (tmp_path / "empty.csv").write_text("\n\n")
    _expect(ctcae.load_terms, tmp_path / "empty.csv", None, "file is empty")


@pytest.mark.parametrize("edit,line,words", [
    (_set(1, "term", "Mucositis"), 2, ["term", "unknown CTCAE term 'Mucositis'"]),
    (lambda rows: rows.append(["STOMATITIS", "Mucositis oral", "x"]), 12, ["duplicate synonym (first on line 2)"]),
    (lambda rows: rows.append(["fatigue", "Dyspnea", "x"]), 12, ["synonym", "'fatigue' is itself a CTCAE term"]),
    (_set(3, "source", ""), 4, ["source", "value is required"]),
])
def test_malformed_synonyms_file(tmp_path, edit, line, words):
    _expect(ctcae.load_synonyms, _copy(ctcae.SYNONYMS_FILE, tmp_path / "syn.csv", edit), line, *words)


@pytest.mark.parametrize("edit,line,words", [
    (_set(2, "cutoff", "ten"), 3, ["cutoff", "'ten' is not a number"]),
    (_set(2, "cutoff", "-10"), 3, ["cutoff", "must be greater than 0"]),
    (_set(2, "operator", "=<"), 3, ["operator", "'=<' is not one of"]),
    (_set(2, "grade", "5"), 3, ["grade", "out of range 1..4"]),
    (_set(2, "test", "sodium"), 3, ["test", "'sodium' is not one of"]),
    (_set(2, "relative_to", "median"), 3, ["relative_to"]),
    (_set(2, "ctcae_term", "Anaemia"), 3, ["ctcae_term", "unknown CTCAE term 'Anaemia'"]),
    (_set(2, "ctcae_term", "Fatigue"), 3, ["ctcae_term", "differs from 'Anemia' on line 2"]),
    (_set(2, "default_unit", "no"), 3, ["default_unit", "differs between rows"]),
    (_set(2, "applies_when", "sometimes"), 3, ["applies_when"]),
    (_set(10, "relative_to", "baseline"), 11, ["applies_when", "relative to the baseline"]),
    (lambda rows: rows.insert(3, list(rows[2])), 4, ["duplicate test, unit, grade and applies_when (first on line 3)"]),
    (lambda rows: [r.pop(7) for r in rows], 1, ["missing column(s): cutoff"]),
    (lambda rows: [r.append("x") for r in rows], 1, ["unknown column(s): x"]),
])
def test_malformed_lab_grading_file(tmp_path, edit, line, words):
    _expect(ctcae.load_lab_grading, _copy(ctcae.LAB_GRADING_FILE, tmp_path / "lab.csv", edit), line, *words)


def test_lab_grading_file_structure_errors(tmp_path):
    def drop_neutrophils(rows):
        rows[:] = [r for r in rows if r[0] != "neutrophils"]
    path = _copy(ctcae.LAB_GRADING_FILE, tmp_path / "lab.csv", drop_neutrophils)
    _expect(ctcae.load_lab_grading, path, None, "no grading rows for test(s): neutrophils")

    def two_defaults(rows):
        for r in rows[1:]:
            if r[0] == "hemoglobin":
                r[3] = "yes"
    path = _copy(ctcae.LAB_GRADING_FILE, tmp_path / "lab2.csv", two_defaults)
    _expect(ctcae.load_lab_grading, path, 2, "exactly one default unit, found 3")


def test_reference_data_error_is_a_value_error_with_location():
    err = ReferenceDataError("x.csv", 7, "bad", "grade")
    assert isinstance(err, ValueError)
    assert str(err) == "x.csv:7: grade: bad"
    assert (err.path, err.line, err.column, err.message) == ("x.csv", 7, "grade", "bad")


def test_design_interface_models_ctcae_grade_lab():
    """DESIGN.md's "Python interface used by other tools" names models.ctcae.grade_lab."""
    from models.ctcae import grade_lab as public

    assert public is ctcae.grade_lab
    assert public("hemoglobin", 7.5, "g/dL") == 3
