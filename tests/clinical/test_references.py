"""models.clinical.references: reference rate sets, landmarks, and validation of their files."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from models.clinical import references as refs
from models.clinical.reference_data import ReferenceDataError

INTERIM, LATER = "bolero2_interim_2012", "bolero2_18month"


def test_reference_sets_default_first():
    sets = refs.reference_sets()
    assert refs.DEFAULT_REFERENCE_SET == INTERIM == sets[0]
    assert sets == [INTERIM, LATER, "bolero2_grouped_stomatitis", "swish_2017", "brawo", "rugo_2016_pooled",
                    "desiree", "ballet"]


def test_bolero2_rows_are_kept_completely():
    all_rows = refs.load_rates()
    assert sum(r.reference_set == INTERIM for r in all_rows) == 13
    assert sum(r.reference_set == LATER for r in all_rows) == 21
    everolimus = refs.rates(INTERIM)
    assert [r.ctcae_term for r in everolimus] == [
        "Mucositis oral", "Fatigue", "Dyspnea", "Anemia", "Hyperglycemia", "Aspartate aminotransferase increased",
        "Pneumonitis"]
    assert {r.arm for r in everolimus} == {"everolimus+exemestane"} and {r.arm_n for r in everolimus} == {482}
    assert refs.rates(INTERIM) == refs.rates(INTERIM, "everolimus+exemestane")
    assert len(refs.rates(INTERIM, "placebo+exemestane")) == 6
    assert len(refs.rates(INTERIM, "*")) == 13
    assert refs.arms(INTERIM) == ["everolimus+exemestane", "placebo+exemestane"]


@pytest.mark.parametrize("set_name,term,band,expected", [
    (INTERIM, "Mucositis oral", "any", 56.0), (INTERIM, "Stomatitis", "grade_3_plus", 8.0),
    (INTERIM, "Fatigue", "any", 33.0), (INTERIM, "AST increased", "any", 13.0),
    (INTERIM, "Pneumonitis", "grade_3_plus", 3.0), (INTERIM, "Mucositis oral", "grade_2_plus", None),
    (INTERIM, "Diarrhea", "any", None),  # not in the interim set: no reference
    (LATER, "Rash", "any", 39.0), (LATER, "Decreased appetite", "any", 31.0), (LATER, "Fatigue", "grade_3_plus", None),
    (LATER, "Anemia", "grade_3_plus", 8.0), (LATER, "Thrombocytopenia", "any", 13.0),
    ("bolero2_grouped_stomatitis", "Mucositis oral", "any", 67.0),
    ("bolero2_grouped_stomatitis", "Mucositis oral", "grade_2_plus", 33.0),
    ("bolero2_grouped_stomatitis", "Mucositis oral", "grade_3_plus", 8.0),
    ("swish_2017", "Mucositis oral", "grade_2_plus", 2.4), ("swish_2017", "Mucositis oral", "any", 21.0),
    ("swish_2017", "Mucositis oral", "grade_3_plus", 0.0),
    ("brawo", "Mucositis oral", "any", 41.5), ("brawo", "Mucositis oral", "grade_3_plus", 2.3),
    ("rugo_2016_pooled", "Mucositis oral", "any", 67.0), ("rugo_2016_pooled", "Mucositis oral", "grade_3_plus", 9.0),
    ("desiree", "Mucositis oral", "grade_2_plus", 46.1), ("ballet", "Pneumonitis", "any", None),
])
def test_rate(set_name, term, band, expected):
    assert refs.rate(set_name, term, band) == expected


def test_rate_of_another_arm():
    assert refs.rate("desiree", "Mucositis oral", "grade_2_plus", arm="everolimus 2.5 -> 10 mg escalation") == 28.8
    assert refs.rate(LATER, "Stomatitis", "any", arm="placebo+exemestane") == 12.0
    assert refs.rate(LATER, "Pneumonitis", "grade_3_plus", arm="Placebo+Exemestane") == 0.0
    assert refs.rate(INTERIM, "Fatigue", "any", arm="no such arm") is None


def test_less_than_values_are_kept_as_text_with_a_bound_not_a_number():
    row = refs.reference_rate(INTERIM, "Anemia", arm="placebo+exemestane")
    assert row.grade_3_plus_text == "<1" and row.grade_3_plus_pct is None
    assert row.bounds("grade_3_plus") == (0.0, 1.0) and row.is_bound("grade_3_plus")
    assert refs.rate(INTERIM, "Anemia", "grade_3_plus", arm="placebo+exemestane") is None
    exact = refs.reference_rate(INTERIM, "Anemia")
    assert exact.bounds("grade_3_plus") == (5.0, 5.0) and not exact.is_bound("grade_3_plus")
    assert exact.bounds("grade_2_plus") == (None, None) and not exact.is_bound("grade_2_plus")


def test_ranges_are_kept_as_text_with_bounds():
    row = refs.reference_rate("ballet", "Pneumonitis")
    assert (row.any_grade_text, row.any_grade_pct, row.bounds("any")) == ("2-6", None, (2.0, 6.0))
    assert row.bounds("grade_3_plus") == (0.0, 1.0) and row.arm_n == 2131


def test_row_metadata():
    swish = refs.reference_rate("swish_2017", "Stomatitis")
    assert (swish.arm_n, swish.time_window, swish.set) == (85, "8 weeks", "swish_2017")
    assert "dexamethasone" in swish.notes and "Lancet Oncol 2017" in swish.source
    interim = refs.reference_rate(INTERIM, "Mucositis oral")
    assert interim.trial_term == "Stomatitis" and interim.verified == "yes" and interim.is_verified
    later = refs.reference_rate(LATER, "Anemia")
    assert later.verified == "yes (grade 3/4 combined)"
    assert refs.reference_rate("bolero2_grouped_stomatitis", "Mucositis oral").arm_n is None  # not published


def test_citation():
    assert "Baselga et al. NEJM 2012" in refs.citation(INTERIM)
    assert "Yardley et al. Adv Ther 2013" in refs.citation(LATER)
    assert refs.citation("desiree").startswith("DESIREE")  # its second row says "same"
    assert "Rugo et al., Ann Oncol 2016" in refs.citation("rugo_2016_pooled")


def test_bad_queries():
    with pytest.raises(ValueError, match="unknown reference set 'bolero3'"):
        refs.rates("bolero3")
    with pytest.raises(ValueError, match="unknown band 'grade_4'"):
        refs.rate(INTERIM, "Anemia", "grade_4")
    with pytest.raises(ValueError, match="unknown CTCAE term or synonym 'Headache'"):
        refs.rate(INTERIM, "Headache", "any")
    with pytest.raises(ValueError, match="unknown band"):
        refs.reference_rate(INTERIM, "Anemia").pct("all")


def test_landmarks():
    everything = refs.landmarks()
    assert len(everything) == 6
    stomatitis = refs.landmarks("Stomatitis")
    assert [lm.term for lm in stomatitis] == ["Mucositis oral"] * 4
    onset = stomatitis[0]
    assert (onset.landmark, onset.value, onset.unit) == ("median time to onset of grade>=2", 15.5, "days")
    plateau = next(lm for lm in stomatitis if lm.landmark == "incidence plateau")
    assert (plateau.value, plateau.unit, plateau.qualifier) == (6.0, "weeks", "about")
    assert {(lm.value, lm.pct_of_events) for lm in stomatitis if lm.pct_of_events} == {(8.0, 89.0), (5.0, 75.2)}
    (pneumonitis,) = refs.landmarks("Pneumonitis")
    assert pneumonitis.value is None and pneumonitis.qualifier == "qualitative"
    general = [lm for lm in everything if lm.term is None]
    assert [(lm.value, lm.unit) for lm in general] == [(7.0, "days")]
    assert refs.landmarks("Fatigue") == []


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


def _expect(loader, path: Path, line: int | None, *words: str):
    with pytest.raises(ReferenceDataError) as info:
        loader(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:" if line else f"{path}:"), message
    assert info.value.line == line
    for word in words:
        assert word in message, message


def test_valid_copy_loads(tmp_path):
    path = _copy(refs.RATES_FILE, tmp_path / "rates.csv", lambda rows: None)
    assert refs.load_rates(path) == refs.load_rates()


def test_original_bolero2_file_layout_is_accepted(tmp_path):
    # the optional columns may be absent, as in the shared bolero2_rates.csv
    def edit(rows):
        keep = [rows[0].index(c) for c in ("reference_set", "ctcae_term", "trial_term", "arm", "arm_n",
                                           "any_grade_pct", "grade_3_plus_pct", "source", "verified")]
        rows[:] = [[r[i] for i in keep] for r in rows[:35]]  # header + the 34 BOLERO-2 rows
    rates = refs.load_rates(_copy(refs.RATES_FILE, tmp_path / "rates.csv", edit))
    assert len(rates) == 34 and {r.reference_set for r in rates} == {INTERIM, LATER}
    assert all(r.grade_2_plus_pct is None and r.notes == "" for r in rates)


@pytest.mark.parametrize("edit,line,words", [
    (_set(1, "any_grade_pct", "fifty"), 2, ["any_grade_pct", "'fifty' is not a percentage"]),
    (_set(1, "any_grade_pct", "156"), 2, ["any_grade_pct", "above 100"]),
    (_set(1, "grade_3_plus_pct", "8-2"), 2, ["grade_3_plus_pct", "'8-2' is not a percentage"]),
    (_set(1, "grade_3_plus_pct", "-3"), 2, ["grade_3_plus_pct"]),
    (_set(2, "arm_n", "482.5"), 3, ["arm_n", "not a whole number"]),
    (_set(2, "arm_n", "0"), 3, ["arm_n", "out of range"]),
    (_set(2, "ctcae_term", "Stomatitis"), 3, ["ctcae_term", "unknown CTCAE term 'Stomatitis'",
                                              "did you mean 'Mucositis oral'"]),
    (_set(2, "verified", ""), 3, ["verified", "value is required"]),
    (_set(1, "source", "same"), 2, ["source", "first row of a set must carry its full source"]),
    (lambda rows: rows.insert(3, list(rows[1])), 4, ["duplicate reference_set, ctcae_term and arm (first on line 2)"]),
    (lambda rows: rows.insert(3, rows[1][:4]), 4, ["expected 14 fields, found 4"]),
    (lambda rows: [r.pop(rows[0].index("arm")) for r in rows[::-1]], 1, ["missing column(s): arm"]),
])
def test_malformed_rates_file(tmp_path, edit, line, words):
    _expect(refs.load_rates, _copy(refs.RATES_FILE, tmp_path / "rates.csv", edit), line, *words)


def test_rates_row_without_any_rate_and_missing_default_set(tmp_path):
    def blank(rows):
        for column in ("any_grade_pct", "grade_2_plus_pct", "grade_3_plus_pct"):
            rows[5][rows[0].index(column)] = ""
    _expect(refs.load_rates, _copy(refs.RATES_FILE, tmp_path / "a.csv", blank), 6, "no rate in any band")

    def drop_default(rows):
        rows[:] = [r for r in rows if r[0] != INTERIM]
    _expect(refs.load_rates, _copy(refs.RATES_FILE, tmp_path / "b.csv", drop_default), None,
            "default reference set 'bolero2_interim_2012' is missing")


@pytest.mark.parametrize("edit,line,words", [
    (_set(1, "value", "two weeks"), 2, ["value", "'two weeks' is not a number"]),
    (_set(1, "unit", "months"), 2, ["unit", "'months' is not one of days, weeks"]),
    (_set(1, "term", "Stomatitis"), 2, ["term", "unknown CTCAE term 'Stomatitis'"]),
    (_set(3, "pct_of_events", "189"), 4, ["pct_of_events", "above 100"]),
    (_set(2, "qualifier", "roughly"), 3, ["qualifier", "'roughly' is not one of"]),
    (_set(5, "value", "3"), 6, ["value", "a qualitative landmark has no value"]),
    (_set(2, "value", ""), 3, ["value", "value is required"]),
    (lambda rows: rows.append(list(rows[1])), 8, ["duplicate term, landmark and population (first on line 2)"]),
    (lambda rows: [r.pop(rows[0].index("source")) for r in rows[::-1]], 1, ["missing column(s): source"]),
])
def test_malformed_landmarks_file(tmp_path, edit, line, words):
    _expect(refs.load_landmarks, _copy(refs.LANDMARKS_FILE, tmp_path / "landmarks.csv", edit), line, *words)


def test_error_names_a_quoted_multiline_field_by_its_first_line(tmp_path):
    path = tmp_path / "landmarks.csv"
    text = refs.LANDMARKS_FILE.read_text(encoding="utf-8").splitlines()
    text.insert(2, 'Fatigue,"a landmark\nspanning lines",any,x,days,,,pop,src')
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    _expect(refs.load_landmarks, path, 3, "value", "'x' is not a number")


def test_time_windows_severe_bands_and_set_facts_are_read_from_the_data():
    swish = refs.reference_rate("swish_2017", "Mucositis oral")
    assert (swish.time_window, swish.window_days) == ("8 weeks", 56)
    assert refs.reference_rate("desiree", "Mucositis oral").window_days == 84
    assert refs.reference_rate(refs.DEFAULT_REFERENCE_SET, "Mucositis oral").window_days is None
    assert refs.reference_rate("brawo", "Mucositis oral").grade_3_plus_definition == "grade 3"
    assert refs.reference_rate("bolero2_18month", "Anemia").grade_3_plus_definition == "grade 3-4"
    facts = refs.set_facts("bolero2_18month")
    assert (facts.grading, facts.median_follow_up_months) == ("CTCAE v3.0", 18)
    assert facts.grading_status.startswith("to be checked") and facts.follow_up_status.startswith("to be checked")
    assert refs.set_facts(refs.DEFAULT_REFERENCE_SET).median_follow_up_months is None
    assert {lm.grade_band for lm in refs.landmarks("Mucositis oral")} == {"any", "grade_2_plus"}


@pytest.mark.parametrize("column,value,message", [
    ("time_window", "eight weeks", "is not a time window"),
    ("grade_3_plus_definition", "grade 4", "is not one of"),
])
def test_a_bad_window_or_severe_band_is_refused_with_the_row_named(tmp_path, column, value, message):
    import csv

    rows = list(csv.DictReader(refs.RATES_FILE.open(encoding="utf-8")))
    rows[0][column] = value
    path = tmp_path / "rates.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(refs.ReferenceDataError, match=message) as error:
        refs.load_rates(path)
    assert ":2:" in str(error.value) and column in str(error.value)
