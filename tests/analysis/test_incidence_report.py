"""`python -m models report incidence` on the demo cohort, on SQLite and PostgreSQL: the exact JSON shape
of DESIGN.md, the same numbers as models.analysis.cohort.incidence_report, and an independent recount from the
database (plain SQL, the clinical definitions re-implemented here), CSV, reference sets and bad input."""
from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta

import pytest
from scipy.stats import binomtest, fisher_exact
from sqlalchemy import text

from models.analysis import cohort
from models.settings import PROJECT_ROOT
from models.store.db import get_engine
from tests.conftest import DEMO_TODAY

AS_OF = "2026-11-01"
DEFAULT_SET = "bolero2_interim_2012"
RATES_CSV = PROJECT_ROOT / "seed_data" / "reference_rates.csv"
COMPARISON_KEYS = {"patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct", "reference_n",
                   "window_days", "p_value", "p_adjusted", "signal", "signal_adjusted"}
SIGNALS = {"higher", "lower", "consistent", "no reference", "not recorded"}
BANDS = ("any_grade", "grade_3_plus")
CSV_COLUMNS = ["reference_set", "as_of", "n_patients", "term", "band", "patients", "exposed", "pct", "ci_low_pct",
               "ci_high_pct", "reference_pct", "reference_n", "window_days", "p_value", "signal", "p_adjusted",
               "signal_adjusted"]


def run_report(url: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "models", "--database-url", url, "report", "incidence", *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def json_report(url: str, *args: str) -> dict:
    result = run_report(url, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def reports(demo_url) -> dict:
    """The CLI's outputs, run once per backend (each run is a new Python process)."""
    return {"json": json_report(demo_url, "--as-of", AS_OF),
            "csv": run_report(demo_url, "--as-of", AS_OF, "--format", "csv"),
            "18month": json_report(demo_url, "--as-of", AS_OF, "--reference", "bolero2_18month")}


# ---------------------------------------------------------------- an independent recount

def _day(value) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def recount(url: str, as_of: date) -> tuple[int, dict[str, dict[int, int]]]:
    """(exposed patients, {term: {patient_id: worst grade}}) by DESIGN.md's definitions, from plain SQL: exposed
    = started before the analysis date (a day of follow-up; no deaths in these cohorts); an onset counts in an
    exposure period or up to 30 days after its last dose day (the day before the stop, or before the holds that
    led into it); a restart opens a new period."""
    with get_engine(url).connect() as connection:
        patients = connection.execute(text(
            "SELECT id, treatment_start FROM patient WHERE record_status = 'active'")).all()
        doses = connection.execute(text(
            "SELECT patient_id, effective_date, action, dose_mg FROM dose_event "
            "WHERE record_status = 'active' ORDER BY patient_id, effective_date, id")).all()
        events = connection.execute(text(
            "SELECT patient_id, term, grade, onset_date, baseline, death_date FROM adverse_event "
            "WHERE record_status = 'active'")).all()
    assert all(death is None for *_, death in events), "the recount assumes no deaths"
    starts = {pid: _day(start) for pid, start in patients if _day(start) < as_of}
    windows: dict[int, list[list]] = {pid: [[start, as_of]] for pid, start in starts.items()}
    state: dict[int, tuple[bool, date | None]] = {pid: (True, None) for pid in starts}  # (on drug, off since)
    for pid, when, action, dose in doses:
        when = _day(when)
        if pid not in starts or when > as_of:
            continue
        on_drug, off_since = state[pid]
        if action == "hold":
            state[pid] = (on_drug, off_since or when) if on_drug else (False, None)
        elif action == "discontinue":
            if on_drug:
                last_dose = max(windows[pid][-1][0], off_since or when) - timedelta(days=1)
                windows[pid][-1][1] = min(as_of, last_dose + timedelta(days=30))
            state[pid] = (False, None)
        else:
            if not on_drug and dose > 0:
                windows[pid].append([when, as_of])
            state[pid] = (True, None)
    worst: dict[str, dict[int, int]] = defaultdict(dict)
    for pid, term, grade, onset, baseline, _ in events:
        onset = _day(onset)
        if pid not in starts or baseline:
            continue
        if any(begin <= onset <= end for begin, end in windows[pid]) and onset >= starts[pid]:
            worst[term][pid] = max(grade, worst[term].get(pid, 0))
    return len(starts), worst


def arm_sizes(reference_set: str) -> dict[str, int | None]:
    """The primary arm's size per term, straight from the CSV file."""
    with RATES_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["reference_set"] == reference_set]
    primary = rows[0]["arm"]
    return {r["ctcae_term"]: int(r["arm_n"]) if r["arm_n"] else None for r in rows if r["arm"] == primary}


def recorded_terms(url: str) -> set[str]:
    with get_engine(url).connect() as connection:
        return {term for (term,) in connection.execute(text(
            "SELECT DISTINCT term FROM adverse_event WHERE record_status = 'active'"))}


def expected_p(k: int, n: int, p0: float, arm_n: int | None) -> float | None:
    """DESIGN.md: Fisher's exact test against round(p0 x N)/N with the arm size, else the central binomial p."""
    if arm_n:
        events = round(p0 * arm_n)
        return fisher_exact([[k, n - k], [events, arm_n - events]]).pvalue
    if not 0 < p0 < 1:
        return None
    tails = binomtest(k, n, p0, alternative="less").pvalue, binomtest(k, n, p0, alternative="greater").pvalue
    return min(1.0, 2 * min(tails))


def hand_holm(p_values: list[float]) -> list[float]:
    m, order = len(p_values), sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, previous = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        previous = max(previous, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = previous
    return adjusted


def expected_signal(p: float | None, rate: float, p0: float) -> str:
    if p is None:
        return "no reference"
    return "consistent" if p >= 0.05 or rate == p0 else ("higher" if rate > p0 else "lower")


def published(reference_set: str) -> dict[str, dict[str, float | None]]:
    """The primary (first-listed) arm's exact figures of a set, read straight from the CSV file."""
    with RATES_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["reference_set"] == reference_set]
    primary = rows[0]["arm"]

    def exact(text_value: str) -> float | None:
        try:
            return float(text_value)
        except ValueError:
            return None  # empty, "<1", "2-6": no point value

    return {r["ctcae_term"]: {"any_grade": exact(r["any_grade_pct"]), "grade_3_plus": exact(r["grade_3_plus_pct"])}
            for r in rows if r["arm"] == primary}


def check_against_recount(report: dict, url: str, as_of: date, reference_set: str) -> None:
    exposed, worst = recount(url, as_of)
    figures, sizes, recorded, tested = published(reference_set), arm_sizes(reference_set), recorded_terms(url), []
    assert report["n_patients"] == exposed
    by_term = {row["term"]: row for row in report["rows"]}
    assert len(by_term) == len(report["rows"]), "each term once"
    assert set(by_term) == set(worst) | set(figures), "every observed term and every reference term"
    for term, row in by_term.items():
        grades = worst.get(term, {})
        for band, min_grade in (("any_grade", 1), ("grade_3_plus", 3)):
            got = row[band]
            k = sum(1 for g in grades.values() if g >= min_grade)
            assert got["patients"] == k, (term, band)
            assert got["pct"] == pytest.approx(100 * k / exposed, abs=0.005 + 1e-9)
            ci = binomtest(k, exposed).proportion_ci(confidence_level=0.95, method="exact")
            assert got["ci_low_pct"] == pytest.approx(100 * ci.low, abs=0.005 + 1e-9), (term, band)
            assert got["ci_high_pct"] == pytest.approx(100 * ci.high, abs=0.005 + 1e-9), (term, band)
            reference = figures.get(term, {}).get(band)
            assert got["reference_pct"] == reference, (term, band)
            if term not in recorded:
                assert (got["p_value"], got["signal"]) == (None, "not recorded"), (term, band)
                continue
            if reference is None:
                assert (got["p_value"], got["signal"]) == (None, "no reference")
                continue
            p0 = reference / 100
            assert got["reference_n"] == sizes.get(term)
            p = expected_p(k, exposed, p0, sizes.get(term))
            assert got["p_value"] == pytest.approx(p, rel=1e-9), (term, band)
            assert got["signal"] == expected_signal(p, k / exposed, p0), (term, band, got)
            tested.append((got, k / exposed, p0))
    for (got, rate, p0), adjusted in zip(tested, hand_holm([got["p_value"] for got, _, _ in tested])):
        assert got["p_adjusted"] == pytest.approx(adjusted, rel=1e-9)
        assert got["signal_adjusted"] == expected_signal(adjusted, rate, p0)


# ---------------------------------------------------------------- the JSON contract

def test_json_has_exactly_the_documented_shape(reports):
    report = reports["json"]
    assert set(report) == {"reference_set", "as_of", "n_patients", "rows"}
    assert report["reference_set"] == DEFAULT_SET
    assert report["as_of"] == AS_OF
    assert type(report["n_patients"]) is int and report["n_patients"] == 120
    assert isinstance(report["rows"], list) and len(report["rows"]) >= 7
    for row in report["rows"]:
        assert set(row) == {"term", "any_grade", "grade_3_plus"}, row
        assert isinstance(row["term"], str) and row["term"]
        for band in BANDS:
            c = row[band]
            assert set(c) == COMPARISON_KEYS, (row["term"], band, c)
            assert type(c["patients"]) is int and 0 <= c["patients"] <= report["n_patients"]
            for key in ("pct", "ci_low_pct", "ci_high_pct"):
                assert type(c[key]) is float, (row["term"], band, key, c[key])
                assert 0.0 <= c[key] <= 100.0
            assert c["ci_low_pct"] <= c["pct"] <= c["ci_high_pct"]
            assert c["reference_pct"] is None or (type(c["reference_pct"]) is float
                                                  and 0 <= c["reference_pct"] <= 100)
            assert c["p_value"] is None or (type(c["p_value"]) is float and 0 <= c["p_value"] <= 1)
            assert c["signal"] in SIGNALS and c["signal_adjusted"] in SIGNALS
            if c["signal"] != "not recorded":
                assert (c["signal"] == "no reference") == (c["reference_pct"] is None or c["p_value"] is None)
            assert (c["p_adjusted"] is None) == (c["p_value"] is None)
            assert c["exposed"] == report["n_patients"]
        assert row["grade_3_plus"]["patients"] <= row["any_grade"]["patients"]


def test_reference_pct_is_null_where_the_set_has_no_figure(reports):
    rows = {row["term"]: row for row in reports["json"]["rows"]}
    figures = published(DEFAULT_SET)
    observed_only = [t for t in rows if t not in figures]
    assert observed_only, "the demo cohort has terms BOLERO-2's interim set does not list"
    for term in observed_only:
        for band in BANDS:
            assert rows[term][band]["reference_pct"] is None
            assert rows[term][band]["p_value"] is None
            assert rows[term][band]["signal"] == "no reference"
    assert rows["Mucositis oral"]["any_grade"]["reference_pct"] == 56.0
    assert rows["Mucositis oral"]["grade_3_plus"]["reference_pct"] == 8.0


def test_json_equals_the_python_interface(reports, demo_url):
    expected = cohort.incidence_report(demo_url, as_of=date.fromisoformat(AS_OF))
    assert reports["json"] == json.loads(json.dumps(expected))


def test_json_agrees_with_an_independent_recount(reports, demo_url):
    assert date.fromisoformat(AS_OF) == DEMO_TODAY
    check_against_recount(reports["json"], demo_url, DEMO_TODAY, DEFAULT_SET)
    rows = {row["term"]: row for row in reports["json"]["rows"]}
    assert rows["Mucositis oral"]["any_grade"]["patients"] > 0


def test_an_earlier_analysis_date_recounts_too(demo_url):
    # Mid-way through accrual: fewer patients exposed, shorter follow-up, other numbers.
    as_of = date(2026, 3, 1)
    report = json_report(demo_url, "--as-of", as_of.isoformat())
    assert 0 < report["n_patients"] < 120
    check_against_recount(report, demo_url, as_of, DEFAULT_SET)


def test_before_anyone_started_there_is_nothing_to_report(demo_url):
    report = json_report(demo_url, "--as-of", "2020-01-01")
    assert report == {"reference_set": DEFAULT_SET, "as_of": "2020-01-01", "n_patients": 0, "rows": []}


# ---------------------------------------------------------------- CSV, reference sets, bad input

def test_csv_has_one_row_per_term_and_band_with_the_json_values(reports):
    result = reports["csv"]
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == CSV_COLUMNS
    rows = list(reader)
    report = reports["json"]
    assert len(rows) == 2 * len(report["rows"])
    assert [(r["term"], r["band"]) for r in rows] == [(row["term"], band) for row in report["rows"]
                                                       for band in BANDS]
    by_key = {(r["term"], r["band"]): r for r in rows}
    for row in report["rows"]:
        for band in BANDS:
            line, c = by_key[(row["term"], band)], row[band]
            assert (line["reference_set"], line["as_of"], int(line["n_patients"])) == (DEFAULT_SET, AS_OF, 120)
            assert int(line["patients"]) == c["patients"]
            for key in ("pct", "ci_low_pct", "ci_high_pct"):
                assert float(line[key]) == c[key]
            assert (line["reference_pct"] == "") == (c["reference_pct"] is None)
            if c["reference_pct"] is not None:
                assert float(line["reference_pct"]) == c["reference_pct"]
            assert (line["p_value"] == "") == (c["p_value"] is None)
            if c["p_value"] is not None:
                assert math.isclose(float(line["p_value"]), c["p_value"], rel_tol=1e-12)
            assert line["signal"] == c["signal"]


def test_another_reference_set_changes_reference_pct(reports, demo_url):
    interim = {row["term"]: row for row in reports["json"]["rows"]}
    later = reports["18month"]
    assert later["reference_set"] == "bolero2_18month"
    assert later["n_patients"] == reports["json"]["n_patients"]
    rows = {row["term"]: row for row in later["rows"]}
    assert rows["Mucositis oral"]["any_grade"]["reference_pct"] == 59.0
    assert interim["Mucositis oral"]["any_grade"]["reference_pct"] == 56.0
    assert rows["Fatigue"]["grade_3_plus"]["reference_pct"] is None      # not published in that set
    assert interim["Fatigue"]["grade_3_plus"]["reference_pct"] == 3.0
    # The cohort's own counts do not depend on the reference.
    for term in set(rows) & set(interim):
        for band in BANDS:
            assert rows[term][band]["patients"] == interim[term][band]["patients"]
    check_against_recount(later, demo_url, DEMO_TODAY, "bolero2_18month")


def test_unknown_reference_set_exits_2_with_a_clear_message(demo_url):
    result = run_report(demo_url, "--as-of", AS_OF, "--reference", "bolero3", "--format", "json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown reference set 'bolero3'" in result.stderr
    assert DEFAULT_SET in result.stderr and "bolero2_18month" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_analysis_date_and_missing_format_are_refused(demo_url):
    result = run_report(demo_url, "--as-of", "01/11/2026", "--format", "json")
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr
    result = run_report(demo_url, "--as-of", AS_OF)
    assert result.returncode == 2 and "--format" in result.stderr
