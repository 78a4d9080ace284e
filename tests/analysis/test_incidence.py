"""models.analysis.incidence: exact CIs and p-values (checked against scipy.stats.binomtest), the signal rule, the
treatment-emergent window at its edges, worst grade per patient, reference lookup and plain-language reading.

The DataFrames are built by hand with the columns models.store.queries returns (dates as datetime.date objects in
object columns); no database is needed.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from scipy.stats import binomtest, fisher_exact

from models.analysis import incidence
from models.analysis.incidence import Comparison, clopper_pearson, compare, format_p, reading
from models.store import queries
from tests.support.frames import doses_frame, patients_frame

INTERIM = "bolero2_interim_2012"
AS_OF = date(2025, 12, 31)
START = date(2025, 1, 1)

EVENT_COLUMNS = ["id", "patient_id", "mrn", "term", "grade", "onset_date", "resolved_date", "serious",
                 "attribution", "action_taken", "source", "baseline", "created_by", "created_at"]


# ---------------------------------------------------------------- frame builders (shape of models.store.queries)

def events_frame(*events: tuple) -> pd.DataFrame:
    """events: (patient_id, term, grade, onset_date[, baseline]); ids are 1..n in order."""
    rows = []
    for i, event in enumerate(events, 1):
        patient_id, term, grade, onset = event[:4]
        baseline = event[4] if len(event) > 4 else False
        rows.append({"id": i, "patient_id": patient_id, "mrn": f"MRN{patient_id:03d}", "term": term,
                     "grade": grade, "onset_date": onset, "resolved_date": None, "serious": False,
                     "attribution": "possible", "action_taken": None, "source": "reported",
                     "baseline": baseline, "created_by": "test", "created_at": None})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def starts_only(patients: pd.DataFrame) -> pd.DataFrame:
    return doses_frame(*[(row.id, row.treatment_start, "start", 10.0) for row in patients.itertuples()])


def kept_ids(events, patients, doses, as_of=AS_OF) -> set[int]:
    return set(incidence.treatment_emergent(events, patients, doses, as_of)["id"])


def row_of(rows: list[dict], term: str) -> dict:
    matches = [r for r in rows if r["term"] == term]
    assert len(matches) == 1, f"{term!r} appears {len(matches)} times"
    return matches[0]


# ---------------------------------------------------------------- Clopper-Pearson against scipy

CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (1, 10), (3, 10), (0, 40), (40, 40), (17, 40), (1, 482),
         (270, 482), (482, 482)]


@pytest.mark.parametrize("k,n", CASES)
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = clopper_pearson(k, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_clopper_pearson_ends_are_exact_at_k_0_and_k_n():
    # k = 0: lower bound exactly 0; k = n: upper bound exactly 1 (not 0.999...).
    assert clopper_pearson(0, 25)[0] == 0.0
    assert clopper_pearson(25, 25)[1] == 1.0
    # n = 1: k = 0 -> [0, 0.975]; k = 1 -> [0.025, 1] (alpha / 2 = 0.025 on the open side).
    assert clopper_pearson(0, 1) == pytest.approx((0.0, 0.975))
    assert clopper_pearson(1, 1) == pytest.approx((0.025, 1.0))


@pytest.mark.parametrize("n", [0, -1])
def test_no_exposed_patients_raises(n):
    with pytest.raises(ValueError, match="n >= 1"):
        clopper_pearson(0, n)
    with pytest.raises(ValueError):
        compare(0, n, 56.0)


@pytest.mark.parametrize("k,n,reference_pct", [(0, 1, 56.0), (1, 1, 56.0), (0, 20, 8.0), (20, 20, 8.0),
                                               (3, 10, 33.0), (30, 40, 56.0), (1, 40, 33.0), (5, 482, 3.0)])
def test_compare_counts_ci_and_p_value_match_scipy(k, n, reference_pct):
    """Without the trial's size: the central two-sided binomial p (twice the smaller tail, at most 1)."""
    result = compare(k, n, reference_pct, "a source")
    p0 = reference_pct / 100
    ci = binomtest(k, n, p0).proportion_ci(method="exact")
    central = min(1.0, 2 * min(binomtest(k, n, p0, alternative="less").pvalue,
                               binomtest(k, n, p0, alternative="greater").pvalue))
    assert (result.patients, result.exposed) == (k, n)
    assert result.pct == pytest.approx(round(100 * k / n, 2))
    # percentages are rounded to 2 decimals
    assert result.ci_low_pct == pytest.approx(100 * ci.low, abs=0.005)
    assert result.ci_high_pct == pytest.approx(100 * ci.high, abs=0.005)
    assert result.p_value == pytest.approx(central, rel=1e-9)
    assert result.reference_pct == reference_pct and result.reference_source == "a source"


@pytest.mark.parametrize("k,n,reference_pct,arm_n", [(57, 120, 56.0, 482), (0, 120, 8.0, 482), (1, 120, 0.0, 482),
                                                     (30, 40, 56.0, 482), (5, 20, 33.0, 100)])
def test_with_the_trial_arm_size_the_p_value_is_fishers_exact_test(k, n, reference_pct, arm_n):
    """The trial's rate is an estimate too: k/n against round(p0 x N)/N, two-sided (scipy's fisher_exact)."""
    result = compare(k, n, reference_pct, reference_n=arm_n)
    events = round(reference_pct / 100 * arm_n)
    assert result.p_value == pytest.approx(fisher_exact([[k, n - k], [events, arm_n - events]]).pvalue, rel=1e-12)
    assert result.reference_n == arm_n
    assert result.signal == ("consistent" if result.p_value >= 0.05 else
                             "higher" if k / n > reference_pct / 100 else "lower")


def test_the_signal_follows_the_p_value_never_consistent_beside_p_below_005():
    for k in range(0, 61):
        result = compare(k, 120, 56.0, reference_n=482)
        assert (result.signal != "consistent") == (result.p_value < 0.05), (k, result)


def test_holm_matches_a_hand_computation_and_adjusts_signals():
    from models.analysis.incidence import holm

    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.5])
    # sorted .005 .01 .03 .04 .5: x5 .025, x4 .04, x3 .09, x2 .08 -> .09 (monotone), x1 .5
    rows = incidence.adjust_for_multiplicity([{"term": "A", "any_grade": compare(30, 40, 56.0)},
                                              {"term": "B", "any_grade": compare(8, 40, 33.0)},
                                              {"term": "C", "any_grade": compare(1, 40, None)}])
    a, b = rows[0]["any_grade"], rows[1]["any_grade"]
    low, high = sorted((a, b), key=lambda c: c.p_value)
    assert low.p_adjusted == pytest.approx(min(1, 2 * low.p_value))   # two tests: the smaller p doubled,
    assert high.p_adjusted == pytest.approx(max(low.p_adjusted, high.p_value))  # the larger kept (or raised)
    assert rows[2]["any_grade"].p_adjusted is None and rows[2]["any_grade"].signal_adjusted == "no reference"
    assert {a.signal_adjusted, b.signal_adjusted} <= {"higher", "lower", "consistent"}


def test_a_term_nobody_recorded_is_not_recorded_rather_than_lower():
    result = compare(0, 121, 5.0, reference_n=482, recorded=False)
    assert (result.signal, result.p_value) == ("not recorded", None)


# ---------------------------------------------------------------- the signal rule

@pytest.mark.parametrize("k,n,reference_pct,expected", [
    (30, 40, 56.0, "higher"),      # CI 58.8-87.3% lies wholly above 56%
    (38, 40, 56.0, "higher"),      # CI 83.1-99.4%
    (1, 40, 33.0, "lower"),        # CI 0.06-13.2% lies wholly below 33%
    (0, 40, 33.0, "lower"),        # CI 0-8.8%
    (22, 40, 56.0, "consistent"),  # CI 38.5-70.7% contains 56%
    (0, 1, 56.0, "consistent"),    # CI 0-97.5%: one patient can never show a signal
    (1, 1, 56.0, "consistent"),    # CI 2.5-100%
    (3, 40, 8.0, "consistent"),    # 7.5% vs 8%
])
def test_signal_rule(k, n, reference_pct, expected):
    result = compare(k, n, reference_pct)
    assert result.signal == expected
    # the same rule, from scipy's interval
    ci = binomtest(k, n).proportion_ci(method="exact")
    p0 = reference_pct / 100
    independent = "higher" if ci.low > p0 else "lower" if ci.high < p0 else "consistent"
    assert independent == expected


def test_higher_signal_means_small_p_value_and_consistent_means_not():
    assert compare(38, 40, 56.0).p_value < 0.001
    assert compare(22, 40, 56.0).p_value == pytest.approx(1.0)


def test_no_reference_gives_no_signal_and_no_p_value():
    result = compare(3, 10, None)
    assert result.signal == "no reference"
    assert result.p_value is None and result.reference_pct is None
    # the cohort's own figures are still there
    assert result.pct == 30.0
    ci = binomtest(3, 10).proportion_ci(method="exact")
    assert result.ci_low_pct == pytest.approx(100 * ci.low, abs=0.005)
    assert result.ci_high_pct == pytest.approx(100 * ci.high, abs=0.005)


def test_a_zero_percent_reference_is_tested_with_its_arm_size_and_not_without():
    # without N, one event against "0%" would be "impossible": no test, no signal
    assert (compare(2, 20, 0.0).signal, compare(2, 20, 0.0).p_value) == ("no reference", None)
    # with N = 482: 1 of 120 against 0 of 482 is well within chance
    one = compare(1, 120, 0.0, reference_n=482)
    assert one.signal == "consistent" and one.p_value > 0.05


def test_as_report_has_the_json_contract_keys():
    report = compare(3, 10, 56.0, "src").as_report()
    assert list(report) == ["patients", "exposed", "pct", "ci_low_pct", "ci_high_pct", "reference_pct",
                            "reference_n", "window_days", "p_value", "p_adjusted", "signal", "signal_adjusted"]
    assert (report["patients"], report["exposed"]) == (3, 10)


# ---------------------------------------------------------------- treatment-emergent window

def test_onset_on_treatment_start_counts_and_day_before_does_not():
    patients = patients_frame(START)
    events = events_frame((1, "Fatigue", 1, START), (1, "Fatigue", 1, START - timedelta(days=1)))
    assert kept_ids(events, patients, starts_only(patients)) == {1}


def test_window_ends_30_days_after_the_last_dose_day():
    stop = date(2025, 3, 1)  # the last dose was taken on 2025-02-28
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0), (1, stop, "discontinue", 0.0))
    events = events_frame(
        (1, "Fatigue", 1, stop),                          # 1: day of discontinuation
        (1, "Fatigue", 1, stop + timedelta(days=29)),     # 2: 2025-03-30, the last counted day
        (1, "Fatigue", 1, stop + timedelta(days=30)),     # 3: 2025-03-31, one day too late
        (1, "Fatigue", 1, stop + timedelta(days=200)),    # 4: long after
    )
    assert date(2025, 2, 28) + timedelta(days=30) == date(2025, 3, 30)
    assert kept_ids(events, patients, doses) == {1, 2}


def test_a_hold_that_ends_in_a_discontinuation_ends_the_window_30_days_after_the_last_dose():
    # Held on day 20, discontinued on day 60: the last dose was on day 19, so onsets count to day 49; the
    # day-85 onset the old rule (30 days after the discontinuation record) counted is out.
    patients = patients_frame(START)
    day = lambda n: START + timedelta(days=n)  # noqa: E731
    doses = doses_frame((1, START, "start", 10.0), (1, day(20), "hold", 0.0), (1, day(60), "discontinue", 0.0))
    events = events_frame((1, "Fatigue", 1, day(49)), (1, "Fatigue", 1, day(50)), (1, "Fatigue", 1, day(85)))
    assert kept_ids(events, patients, doses) == {1}


def test_discontinuation_is_taken_as_known_on_the_analysis_date():
    # Stopped 2025-06-01. As of 2025-05-31 the stop lies in the future: the window runs to the analysis
    # date. As of 2025-08-15 it is known: the last dose was 05-31, the window ends 06-30, 07-01 is out.
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0), (1, date(2025, 6, 1), "discontinue", 0.0))
    events = events_frame((1, "Fatigue", 1, date(2025, 5, 31)), (1, "Fatigue", 1, date(2025, 6, 30)),
                          (1, "Fatigue", 1, date(2025, 7, 1)))
    assert kept_ids(events, patients, doses, as_of=date(2025, 5, 31)) == {1}
    assert kept_ids(events, patients, doses, as_of=date(2025, 8, 15)) == {1, 2}


def test_onset_after_analysis_date_does_not_count():
    as_of = date(2025, 6, 30)
    patients = patients_frame(START)
    events = events_frame((1, "Fatigue", 1, as_of), (1, "Fatigue", 1, as_of + timedelta(days=1)))
    assert kept_ids(events, patients, starts_only(patients), as_of=as_of) == {1}


def test_analysis_date_before_stop_plus_30_caps_the_window():
    # stop 2025-03-01 -> window would run to 2025-03-31, but the analysis date 2025-03-10 comes first.
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0), (1, date(2025, 3, 1), "discontinue", 0.0))
    events = events_frame((1, "Fatigue", 1, date(2025, 3, 10)), (1, "Fatigue", 1, date(2025, 3, 15)))
    assert kept_ids(events, patients, doses, as_of=date(2025, 3, 10)) == {1}


def test_patient_starting_after_analysis_date_is_not_exposed():
    as_of = date(2025, 6, 30)
    patients = patients_frame(START, as_of, as_of + timedelta(days=1))  # 3rd starts the day after
    events = events_frame((1, "Fatigue", 2, date(2025, 2, 1)), (2, "Fatigue", 2, as_of),
                          (3, "Fatigue", 2, as_of + timedelta(days=1)))
    doses = starts_only(patients)
    assert kept_ids(events, patients, doses, as_of=as_of) == {1, 2}
    n, rows = incidence.incidence_table(events, patients, doses, as_of, INTERIM)
    assert n == 1  # a start on the analysis date has no day of follow-up yet: it adds nothing to any rate
    fatigue = row_of(rows, "Fatigue")["any_grade"]
    assert (fatigue.patients, fatigue.exposed) == (1, 1)
    # The not-yet-exposed patient's event stays out even when the analysis date moves past their start.
    later = as_of + timedelta(days=10)
    n, rows = incidence.incidence_table(events, patients, doses, later, INTERIM)
    assert n == 3 and row_of(rows, "Fatigue")["any_grade"].patients == 3


def test_no_exposed_patients_gives_an_empty_table():
    patients = patients_frame(date(2026, 1, 1))
    events = events_frame((1, "Fatigue", 1, date(2026, 1, 5)))
    assert incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM) == (0, [])


def test_baseline_events_do_not_count_even_after_start():
    patients = patients_frame(START)
    events = events_frame((1, "Fatigue", 2, date(2025, 2, 1), True),    # flagged pre-existing
                          (1, "Anemia", 1, date(2025, 2, 1), False))
    assert kept_ids(events, patients, starts_only(patients)) == {2}
    n, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    assert row_of(rows, "Fatigue")["any_grade"].patients == 0
    assert row_of(rows, "Anemia")["any_grade"].patients == 1


def test_queries_keep_only_active_records(monkeypatch):
    # Entered-in-error rows are dropped by models.store.queries (incidence.py relies on that): check the SQL.
    captured = []
    monkeypatch.setattr(queries, "_frame", lambda statement, url, **kwargs: captured.append(statement))
    queries.adverse_events("sqlite://")
    queries.patients("sqlite://")
    queries.dose_events("sqlite://")
    events_sql, patients_sql, doses_sql = (
        str(s.compile(compile_kwargs={"literal_binds": True})).split("WHERE", 1)[1] for s in captured)
    assert "adverse_event.record_status = 'active'" in events_sql
    assert "patient.record_status = 'active'" in events_sql
    assert "patient.record_status = 'active'" in patients_sql
    assert "dose_event.record_status = 'active'" in doses_sql


def test_cohort_incidence_reads_the_query_frames(monkeypatch):
    patients = patients_frame(START, START)
    events = events_frame((1, "Mucositis oral", 2, date(2025, 2, 1)))
    monkeypatch.setattr(queries, "patients", lambda url=None: patients)
    monkeypatch.setattr(queries, "adverse_events", lambda url=None: events)
    monkeypatch.setattr(queries, "dose_events", lambda url=None: starts_only(patients))
    n, rows = incidence.cohort_incidence("unused://", as_of=AS_OF, reference_set=INTERIM)
    assert n == 2 and row_of(rows, "Mucositis oral")["any_grade"].patients == 1


# ---------------------------------------------------------------- worst grade per patient

def test_worst_grade_per_patient_counts_each_patient_once():
    patients = patients_frame(START, START, START, START)
    events = events_frame(
        (1, "Mucositis oral", 1, date(2025, 1, 10)),
        (1, "Mucositis oral", 3, date(2025, 1, 20)),   # patient 1: grade 1 then grade 3
        (2, "Mucositis oral", 2, date(2025, 1, 12)),
        (2, "Mucositis oral", 2, date(2025, 3, 12)),   # patient 2: two grade-2 episodes
        (3, "Mucositis oral", 3, date(2025, 2, 1)),
        (3, "Mucositis oral", 1, date(2025, 2, 20)),   # patient 3: grade 3 then grade 1 (worst is 3)
    )
    n, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    row = row_of(rows, "Mucositis oral")
    assert n == 4
    assert (row["any_grade"].patients, row["any_grade"].exposed, row["any_grade"].pct) == (3, 4, 75.0)
    assert (row["grade_3_plus"].patients, row["grade_3_plus"].pct) == (2, 50.0)


def test_grade_3_from_outside_the_window_does_not_raise_worst_grade():
    stop = date(2025, 3, 1)
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0), (1, stop, "discontinue", 0.0))
    events = events_frame((1, "Pneumonitis", 1, date(2025, 2, 1)),
                          (1, "Pneumonitis", 3, stop + timedelta(days=31)))
    _, rows = incidence.incidence_table(events, patients, doses, AS_OF, INTERIM)
    row = row_of(rows, "Pneumonitis")
    assert row["any_grade"].patients == 1 and row["grade_3_plus"].patients == 0


# ---------------------------------------------------------------- reference lookup and table shape

def test_mucositis_reference_values_in_the_interim_set():
    patients = patients_frame(*[START] * 10)
    events = events_frame(*[(i, "Mucositis oral", 1, date(2025, 2, 1)) for i in range(1, 4)])
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    row = row_of(rows, "Mucositis oral")
    assert row["any_grade"].reference_pct == 56
    assert row["grade_3_plus"].reference_pct == 8
    # the interim set gives the arm's size (482): Fisher's exact test against 270/482 and 39/482
    assert row["any_grade"].p_value == pytest.approx(fisher_exact([[3, 7], [270, 212]]).pvalue)
    assert row["grade_3_plus"].p_value == pytest.approx(fisher_exact([[0, 10], [39, 443]]).pvalue)
    assert row["any_grade"].reference_source.startswith("seed document (BOLERO-2 interim analysis")


def test_term_without_reference_gives_no_reference():
    patients = patients_frame(START, START)
    events = events_frame((1, "Diarrhea", 3, date(2025, 2, 1)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    row = row_of(rows, "Diarrhea")
    for band in ("any_grade", "grade_3_plus"):
        assert row[band].signal == "no reference"
        assert row[band].p_value is None and row[band].reference_pct is None
        assert row[band].reference_source is None
    assert row["any_grade"].patients == 1 and row["grade_3_plus"].patients == 1


def test_table_lists_reference_terms_without_events_and_orders_bolero2_terms_first():
    patients = patients_frame(START, START)
    events = events_frame((1, "Diarrhea", 1, date(2025, 2, 1)), (2, "Fatigue", 1, date(2025, 2, 1)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    terms = [r["term"] for r in rows]
    # the 7 interim reference terms (in the dashboard's BOLERO-2 order), then the observed extra term
    assert terms == ["Mucositis oral", "Pneumonitis", "Hyperglycemia", "Anemia",
                     "Aspartate aminotransferase increased", "Fatigue", "Dyspnea", "Diarrhea"]
    pneumonitis = row_of(rows, "Pneumonitis")["any_grade"]
    assert (pneumonitis.patients, pneumonitis.pct, pneumonitis.ci_low_pct) == (0, 0.0, 0.0)


def test_long_frame_has_two_bands_per_term():
    patients = patients_frame(START, START)
    events = events_frame((1, "Diarrhea", 1, date(2025, 2, 1)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, INTERIM)
    frame = incidence.long_frame(rows)
    assert len(frame) == 2 * len(rows)
    assert list(frame.columns) == ["term", "band", "patients", "exposed", "pct", "ci_low_pct", "ci_high_pct",
                                   "reference_pct", "reference_text", "reference_n", "window_days", "p_value",
                                   "signal", "p_adjusted", "signal_adjusted", "reference_source", "caveats",
                                   "reading"]
    diarrhea = frame[frame["term"] == "Diarrhea"]
    assert list(diarrhea["band"]) == ["Any grade", "Grade ≥ 3"]
    assert list(diarrhea["patients"]) == [1, 0]
    assert diarrhea["reading"].str.contains("no reference").all()


# ---------------------------------------------------------------- plain language

def test_reading_of_a_clearly_higher_cohort():
    # 38 of 40 (95%) vs 56%: CI 83.1-99.4%, p = 5.7e-08
    text = reading("Mucositis oral", "Any grade", compare(38, 40, 56.0))
    assert text.startswith("Mucositis oral (any grade): 95% of 40")
    assert "vs 56% in the reference" in text
    assert "higher" in text and "p < 0.001" in text


def test_reading_of_consistent_and_no_reference():
    consistent = reading("Fatigue", "Grade ≥ 3", compare(22, 40, 56.0))
    assert "consistent" in consistent and "p = 1.000" in consistent and "grade ≥ 3" in consistent
    missing = reading("Diarrhea", "Any grade", compare(1, 2, None))
    assert "no reference" in missing and "p " not in missing.split(";")[1]


@pytest.mark.parametrize("p_value,expected", [
    (None, "— (not tested)"), (5.7e-08, "p < 0.001"), (0.000999, "p < 0.001"), (0.001, "p = 0.001"),
    (0.016436, "p = 0.016"), (1.0, "p = 1.000"),
])
def test_format_p(p_value, expected):
    assert format_p(p_value) == expected


def test_comparison_is_frozen():
    result = compare(1, 2, None)
    assert isinstance(result, Comparison)
    with pytest.raises(Exception):
        result.signal = "higher"  # type: ignore[misc]


def test_no_dose_records_at_all_leaves_the_window_open_to_the_analysis_date():
    patients = patients_frame(START)
    events = events_frame((1, "Fatigue", 1, date(2025, 11, 30)))
    assert kept_ids(events, patients, doses_frame()) == {1}
    n, rows = incidence.incidence_table(events_frame(), patients, doses_frame(), AS_OF, INTERIM)
    assert n == 1 and all(r["any_grade"].patients == 0 for r in rows)


# ---------------------------------------------------------------- windows, published text, caveats (issue 17.4, 17.7)

def test_a_windowed_reference_counts_onsets_within_its_window_among_patients_followed_through_it():
    # SWISH: grade >= 2 stomatitis within 8 weeks (56 days). Analysis on day 70 of patients 1-3, day 40 of 4-5.
    early, late = START, START + timedelta(days=30)
    as_of = START + timedelta(days=70)
    patients = patients_frame(early, early, early, late, late)
    events = events_frame(
        (1, "Mucositis oral", 2, early + timedelta(days=10)),   # inside the window: counts
        (2, "Mucositis oral", 2, early + timedelta(days=60)),   # after day 56: counted in whole follow-up only
        (4, "Mucositis oral", 2, late + timedelta(days=20)),    # inside, though followed only 40 days: counts
    )                                                           # 3: no event, followed 70 days; 5: 40 days, none
    doses = starts_only(patients)
    _, rows = incidence.incidence_table(events, patients, doses, as_of, "swish_2017")
    g2 = row_of(rows, "Mucositis oral")["grade_2_plus"]
    assert (g2.window_days, g2.patients, g2.exposed) == (56, 2, 4), "patient 5 is not followed 56 days"
    assert g2.reference_pct == 2.4
    # SWISH's arm: 85 patients, 2 with grade >= 2 (round(2.4% x 85) = 2): Fisher's exact test of 2/4 against 2/85
    assert g2.reference_n == 85
    assert g2.p_value == pytest.approx(fisher_exact([[2, 2], [2, 83]]).pvalue, rel=1e-12)
    assert any("first 8 weeks" in caveat for caveat in g2.caveats)
    assert "first 8 weeks" in reading("Mucositis oral", "Grade ≥ 2", g2)
    # The report's JSON keeps window_days; a whole-follow-up band has none.
    assert g2.as_report()["window_days"] == 56
    assert row_of(rows, "Mucositis oral")["any_grade"].window_days == 56  # SWISH's any-grade figure is at 8 weeks
    _, interim = incidence.incidence_table(events, patients, doses, as_of, INTERIM)
    assert row_of(interim, "Mucositis oral")["any_grade"].as_report()["window_days"] is None
    assert row_of(interim, "Mucositis oral")["any_grade"].patients == 3


def test_a_reference_published_as_a_range_or_bound_is_shown_as_text_and_never_tested():
    patients = patients_frame(START, START)
    events = events_frame((1, "Pneumonitis", 3, date(2025, 2, 1)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), AS_OF, "ballet")
    pneumonitis = row_of(rows, "Pneumonitis")
    for band, text in (("any_grade", "2-6"), ("grade_3_plus", "0-1")):
        c = pneumonitis[band]
        assert (c.reference_pct, c.reference_text, c.p_value, c.signal) == (None, text, None, "no reference")
        assert c.as_report()["reference_pct"] is None
        assert f"vs {text}% in the reference; published as a range or bound" in reading("Pneumonitis", "Any grade", c)


def test_caveats_name_the_grouped_term_the_severe_band_and_short_follow_up_beside_a_lower_rate():
    # 40 patients, 2 with stomatitis (5% vs BOLERO-2's 56%: lower), followed 30 days.
    as_of = START + timedelta(days=30)
    patients = patients_frame(*[START] * 40)
    events = events_frame((1, "Mucositis oral", 1, START + timedelta(days=5)),
                          (2, "Mucositis oral", 3, START + timedelta(days=6)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), as_of, INTERIM)
    any_grade = row_of(rows, "Mucositis oral")["any_grade"]
    assert any_grade.signal == "lower"
    text = " ".join(any_grade.caveats)
    assert "grouped BOLERO-2 figure (67%" in text
    assert "median follow-up is 1.0 months; the reference's is not known here" in text
    g3 = row_of(rows, "Mucositis oral")["grade_3_plus"]
    assert "whether its figure includes grade 4" in " ".join(g3.caveats), "the interim figure does not say"
    _, later = incidence.incidence_table(events, patients, starts_only(patients), as_of, "bolero2_18month")
    g3_18 = row_of(later, "Mucositis oral")["grade_3_plus"]
    assert "grade 3 and 4 combined" in " ".join(g3_18.caveats)
    lower = row_of(later, "Mucositis oral")["any_grade"]
    assert "the reference's is 18 months (to be checked" in " ".join(lower.caveats)
    consistent = row_of(rows, "Pneumonitis")["any_grade"]
    assert not any("follow-up" in caveat for caveat in consistent.caveats), "only beside a lower rate"


def test_a_patient_starting_today_adds_nothing_to_any_rate():
    as_of = date(2025, 6, 30)
    patients = patients_frame(START, as_of)
    events = events_frame((2, "Fatigue", 3, as_of))
    n, rows = incidence.incidence_table(events, patients, starts_only(patients), as_of, INTERIM)
    fatigue = row_of(rows, "Fatigue")
    assert n == 1 and (fatigue["any_grade"].patients, fatigue["any_grade"].exposed) == (0, 1)


def test_a_windowed_rate_says_when_it_leans_high_and_nobody_through_the_window_is_not_compared():
    # Analysis on day 20: nobody has been followed 56 days; patient 1 had the event on day 5, so n = 1.
    as_of = START + timedelta(days=20)
    patients = patients_frame(START, START, START)
    events = events_frame((1, "Mucositis oral", 2, START + timedelta(days=5)))
    _, rows = incidence.incidence_table(events, patients, starts_only(patients), as_of, "swish_2017")
    g2 = row_of(rows, "Mucositis oral")["grade_2_plus"]
    assert (g2.patients, g2.exposed) == (1, 1)
    assert any("1 of the 1 patients are counted because they had the event before being followed for 8 weeks"
               in caveat for caveat in g2.caveats)
    g3 = row_of(rows, "Mucositis oral")["grade_3_plus"]  # SWISH's 0% at 8 weeks; nobody through the window
    assert (g3.exposed, g3.p_value, g3.signal) == (0, None, "no reference")
    assert "nobody followed through the reference's window yet" in reading("Mucositis oral", "Grade ≥ 3", g3)
