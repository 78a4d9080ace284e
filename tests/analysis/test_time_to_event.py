"""models.analysis.time_to_event: Kaplan-Meier cumulative incidence with its Greenwood log-log CI (worked by hand, and
against two independent implementations), the step lookup, exposure-adjusted rates with the exact Poisson
CI, the end of observation (analysis date, death, 30 days after discontinuation) and median follow-up.

DataFrames are built by hand with the columns models.store.queries returns (dates as datetime.date objects).
"""
from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import brentq

from models.analysis import incidence
from models.analysis.time_to_event import (DAYS_PER_MONTH, ExposureAdjustedRate, exposure_adjusted_rate,
                                           first_event_times, incidence_at, kaplan_meier, median_follow_up_days,
                                           observation_end)
from tests.support.frames import PATIENT_COLUMNS, doses_frame

AS_OF = date(2025, 12, 31)
START = date(2025, 1, 1)

EVENT_COLUMNS = ["id", "patient_id", "mrn", "term", "grade", "onset_date", "resolved_date", "death_date",
                 "serious", "attribution", "action_taken", "source", "baseline", "created_by", "created_at"]


def patients_frame(*starts: date) -> pd.DataFrame:
    rows = [{"id": i, "mrn": f"MRN{i:03d}", "name": f"Patient {i}", "birth_date": date(1960, 1, 1),
             "treatment_start": start, "planned_dose_mg": 10.0, "status": "on_treatment",
             "dexamethasone_prophylaxis": None} for i, start in enumerate(starts, 1)]
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


def events_frame(*events: tuple) -> pd.DataFrame:
    """events: (patient_id, term, grade, onset_date[, death_date])."""
    rows = []
    for i, event in enumerate(events, 1):
        patient_id, term, grade, onset = event[:4]
        death = event[4] if len(event) > 4 else None
        rows.append({"id": i, "patient_id": patient_id, "mrn": f"MRN{patient_id:03d}", "term": term,
                     "grade": grade, "onset_date": onset, "resolved_date": death, "death_date": death,
                     "serious": grade >= 3, "attribution": "possible", "action_taken": None,
                     "source": "reported", "baseline": False, "created_by": "test", "created_at": None})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def times_frame(events: list[int], censored: list[int]) -> pd.DataFrame:
    rows = [{"patient_id": i, "days": d, "event": True} for i, d in enumerate(events, 1)]
    rows += [{"patient_id": 100 + i, "days": d, "event": False} for i, d in enumerate(censored, 1)]
    return pd.DataFrame(rows, columns=["patient_id", "days", "event"])


def row_at(curve: pd.DataFrame, day: int) -> pd.Series:
    rows = curve[(curve["day"] == day) & (curve["events"] > 0)]
    assert len(rows) == 1, f"expected one event row on day {day}:\n{curve}"
    return rows.iloc[0]


# ---------------------------------------------------------------- Kaplan-Meier worked by hand

# Five patients: events on days 3, 3 and 10; censored on days 5 and 12.
#   day 3:  at risk 5 (everyone), 2 events  -> S(3)  = 1 - 2/5          = 3/5  -> cumulative incidence 0.4
#   day 5:  censored, no event               -> no step; at risk drops to 2 (days 10 and 12)
#   day 10: at risk 2, 1 event               -> S(10) = 3/5 * (1 - 1/2)  = 3/10 -> cumulative incidence 0.7
#   Greenwood sums: day 3: 2 / (5 * 3) = 2/15; day 10: 2/15 + 1 / (2 * 1) = 19/30
HAND = times_frame(events=[3, 3, 10], censored=[5, 12])


def test_kaplan_meier_on_hand_worked_data():
    curve = kaplan_meier(HAND)
    assert list(curve.columns) == ["day", "at_risk", "events", "cumulative_incidence", "ci_low", "ci_high"]
    first = curve.iloc[0]
    assert (first["day"], first["at_risk"], first["events"]) == (0, 5, 0)
    assert first["cumulative_incidence"] == first["ci_low"] == first["ci_high"] == 0.0
    assert list(curve["day"]) == [0, 3, 10], "a censoring day adds no step"
    day3, day10 = row_at(curve, 3), row_at(curve, 10)
    assert (day3["at_risk"], day3["events"]) == (5, 2)
    assert (day10["at_risk"], day10["events"]) == (2, 1)
    assert day3["cumulative_incidence"] == pytest.approx(1 - 3 / 5)
    assert day10["cumulative_incidence"] == pytest.approx(1 - 3 / 10)


def test_kaplan_meier_log_log_ci_on_hand_worked_data():
    # Log-log interval of S: S ** exp(+-z * sqrt(greenwood) / |log S|); the cumulative incidence's is 1 - that.
    z = stats.norm.ppf(0.975)
    curve = kaplan_meier(HAND)
    for day, survival, greenwood in ((3, 3 / 5, 2 / 15), (10, 3 / 10, 19 / 30)):
        h = z * math.sqrt(greenwood) / abs(math.log(survival))
        low_s, high_s = survival ** math.exp(h), survival ** math.exp(-h)
        row = row_at(curve, day)
        assert row["ci_low"] == pytest.approx(1 - high_s, abs=1e-9)
        assert row["ci_high"] == pytest.approx(1 - low_s, abs=1e-9)
    # The same, as numbers (4 decimals).
    assert row_at(curve, 3)["ci_low"] == pytest.approx(0.1182, abs=1e-4)
    assert row_at(curve, 3)["ci_high"] == pytest.approx(0.8743, abs=1e-4)
    assert row_at(curve, 10)["ci_low"] == pytest.approx(0.2808, abs=1e-4)
    assert row_at(curve, 10)["ci_high"] == pytest.approx(0.9877, abs=1e-4)


def test_censoring_on_an_event_day_is_applied_after_that_days_events():
    # Day 4: one event and one patient censored; the censored patient is still at risk on day 4:
    #   S(4) = 1 - 1/3 = 2/3 (were censoring applied first it would be 1 - 1/2).
    # Day 6: the last patient at risk has the event: S(6) = 0.
    curve = kaplan_meier(times_frame(events=[4, 6], censored=[4]))
    day4, day6 = row_at(curve, 4), row_at(curve, 6)
    assert day4["at_risk"] == 3
    assert day4["cumulative_incidence"] == pytest.approx(1 / 3)
    assert day6["at_risk"] == 1
    assert day6["cumulative_incidence"] == pytest.approx(1.0)


def test_no_events_gives_zero_everywhere():
    curve = kaplan_meier(times_frame(events=[], censored=[5, 30, 90]))
    assert len(curve) == 1
    assert curve.iloc[0]["at_risk"] == 3
    for day in (0, 5, 89, 10_000):
        assert incidence_at(curve, day) == 0.0
    assert (curve[["cumulative_incidence", "ci_low", "ci_high"]] == 0).all().all()


def test_an_empty_cohort_gives_the_zero_curve():
    curve = kaplan_meier(times_frame(events=[], censored=[]))
    assert len(curve) == 1 and curve.iloc[0]["at_risk"] == 0
    assert incidence_at(curve, 100) == 0.0


def test_everyone_with_the_event_reaches_100_percent():
    curve = kaplan_meier(times_frame(events=[2, 7, 7, 20], censored=[]))
    assert list(curve["day"]) == [0, 2, 7, 20]
    assert list(curve["cumulative_incidence"]) == pytest.approx([0, 1 / 4, 3 / 4, 1.0])
    assert incidence_at(curve, 20) == pytest.approx(1.0)
    assert incidence_at(curve, 365) == pytest.approx(1.0)
    last = curve.iloc[-1]
    assert last["ci_low"] <= last["cumulative_incidence"] <= last["ci_high"] <= 1.0


def test_an_event_on_the_first_day_counts_at_day_0():
    curve = kaplan_meier(times_frame(events=[0, 5], censored=[10, 10]))
    assert incidence_at(curve, 0) == pytest.approx(1 / 4)
    assert incidence_at(curve, 4) == pytest.approx(1 / 4)
    assert incidence_at(curve, 5) == pytest.approx(1 - (3 / 4) * (2 / 3))


def test_incidence_at_is_a_right_continuous_step_function():
    curve = kaplan_meier(HAND)
    assert incidence_at(curve, 0) == 0.0
    assert incidence_at(curve, 2.999) == 0.0
    assert incidence_at(curve, 3) == pytest.approx(0.4)
    assert incidence_at(curve, 5) == pytest.approx(0.4)   # censoring does not move the curve
    assert incidence_at(curve, 9.5) == pytest.approx(0.4)
    assert incidence_at(curve, 10) == pytest.approx(0.7)
    assert incidence_at(curve, 12) == pytest.approx(0.7)
    assert incidence_at(curve, 1_000) == pytest.approx(0.7)


# ---------------------------------------------------------------- against independent implementations

def reference_km(times: pd.DataFrame) -> list[tuple[int, int, int, float, float, float]]:
    """Textbook KM with Greenwood's variance and the log-log (Kalbfleisch-Prentice) interval, written
    independently: (day, at risk, events, cumulative incidence, CI low, CI high) per event day."""
    z = stats.norm.ppf(0.975)
    records = sorted(zip(times["days"], times["event"]))
    out, survival, greenwood = [], 1.0, 0.0
    for day in sorted({d for d, e in records if e}):
        n = sum(1 for d, _ in records if d >= day)
        d_events = sum(1 for d, e in records if d == day and e)
        survival *= (n - d_events) / n
        if survival > 0:
            greenwood += d_events / (n * (n - d_events))
            theta = math.log(-math.log(survival))
            se = math.sqrt(greenwood) / abs(math.log(survival))
            s_low, s_high = math.exp(-math.exp(theta + z * se)), math.exp(-math.exp(theta - z * se))
        else:
            s_low = s_high = 0.0
        out.append((day, n, d_events, 1 - survival, 1 - s_high, 1 - s_low))
    return out


def random_times(seed: int, n: int) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = [{"patient_id": i, "days": rng.randint(0, 60), "event": rng.random() < 0.55} for i in range(n)]
    return pd.DataFrame(rows, columns=["patient_id", "days", "event"])


@pytest.mark.parametrize("seed,n", [(1, 8), (2, 25), (3, 60), (4, 200), (5, 3)])
def test_kaplan_meier_matches_an_independent_greenwood_log_log(seed, n):
    times = random_times(seed, n)
    curve = kaplan_meier(times).iloc[1:]  # without the day-0 start row
    expected = reference_km(times)
    assert len(curve) == len(expected)
    for row, (day, at_risk, events, cum, low, high) in zip(curve.itertuples(), expected):
        assert (row.day, row.at_risk, row.events) == (day, at_risk, events)
        assert row.cumulative_incidence == pytest.approx(cum, abs=1e-12)
        if 0 < cum < 1:
            assert row.ci_low == pytest.approx(low, abs=1e-9)
            assert row.ci_high == pytest.approx(high, abs=1e-9)


@pytest.mark.filterwarnings("ignore:The confidence interval is undefined:RuntimeWarning")
@pytest.mark.parametrize("seed,n", [(11, 12), (12, 40), (13, 150)])
def test_kaplan_meier_matches_scipy_ecdf_log_log(seed, n):
    times = random_times(seed, n)
    assert times["event"].any() and not times["event"].all(), "the seed should give events and censoring"
    data = stats.CensoredData(uncensored=times[times["event"]]["days"].to_numpy(float),
                              right=times[~times["event"]]["days"].to_numpy(float))
    result = stats.ecdf(data)
    ci = result.sf.confidence_interval(0.95, method="log-log")
    for row in kaplan_meier(times).iloc[1:].itertuples():
        survival = float(result.sf.evaluate(row.day))
        assert row.cumulative_incidence == pytest.approx(1 - survival, abs=1e-12)
        if 0 < survival < 1:
            assert row.ci_low == pytest.approx(1 - float(ci.high.evaluate(row.day)), abs=1e-9)
            assert row.ci_high == pytest.approx(1 - float(ci.low.evaluate(row.day)), abs=1e-9)


@pytest.mark.parametrize("seed,n", [(21, 5), (22, 30), (23, 120), (24, 2), (25, 1)])
def test_ci_contains_the_estimate_and_stays_in_0_1(seed, n):
    curve = kaplan_meier(random_times(seed, n))
    assert ((curve["ci_low"] >= 0) & (curve["ci_high"] <= 1)).all(), curve
    assert ((curve["ci_low"] <= curve["cumulative_incidence"] + 1e-12)
            & (curve["cumulative_incidence"] <= curve["ci_high"] + 1e-12)).all(), curve
    assert curve["cumulative_incidence"].is_monotonic_increasing
    inner = curve[(curve["cumulative_incidence"] > 0) & (curve["cumulative_incidence"] < 1)]
    assert (inner["ci_low"] < inner["cumulative_incidence"]).all()
    assert (inner["cumulative_incidence"] < inner["ci_high"]).all()


# ---------------------------------------------------------------- exposure-adjusted rate, exact Poisson CI

def poisson_exact(k: int) -> tuple[float, float]:
    """The exact 95% limits for a Poisson count k from their definition: P(X >= k | low) = 0.025 and
    P(X <= k | high) = 0.025, solved numerically (no chi-square shortcut)."""
    low = 0.0 if k == 0 else brentq(lambda mu: stats.poisson.sf(k - 1, mu) - 0.025, 1e-9, 10 * k + 10)
    high = brentq(lambda mu: stats.poisson.cdf(k, mu) - 0.025, 1e-9, 10 * k + 20)
    return low, high


def test_exposure_adjusted_rate_on_hand_worked_data():
    rate = exposure_adjusted_rate(HAND)
    # At risk from the day of treatment start (day 0) through the event or censoring day, both inclusive:
    # (3+1) + (3+1) + (10+1) + (5+1) + (12+1) = 38 days.
    months = 38 / (365.25 / 12)
    assert DAYS_PER_MONTH == pytest.approx(30.4375)
    assert rate.first_events == 3
    assert rate.patient_months == round(months, 1) == 1.2
    assert rate.per_100_patient_months == pytest.approx(round(300 / months, 2))
    # Chi-square form of the exact Poisson limits, computed here for k = 3 ...
    low, high = stats.chi2.ppf(0.025, 6) / 2, stats.chi2.ppf(0.975, 8) / 2
    assert rate.ci_low == pytest.approx(round(100 * low / months, 2))
    assert rate.ci_high == pytest.approx(round(100 * high / months, 2))
    # ... and the same limits from the Poisson definition.
    low_def, high_def = poisson_exact(3)
    assert rate.ci_low == pytest.approx(100 * low_def / months, abs=0.006)
    assert rate.ci_high == pytest.approx(100 * high_def / months, abs=0.006)
    assert rate.ci_low < rate.per_100_patient_months < rate.ci_high


def test_exposure_adjusted_rate_with_no_events_has_a_zero_lower_bound():
    times = times_frame(events=[], censored=[29, 59])  # 30 + 60 = 90 days at risk
    months = 90 / DAYS_PER_MONTH
    rate = exposure_adjusted_rate(times)
    assert rate.first_events == 0
    assert rate.per_100_patient_months == 0.0 and rate.ci_low == 0.0
    # For 0 events the exact upper limit is -ln(0.025) = 3.689 events.
    assert rate.ci_high == pytest.approx(round(100 * -math.log(0.025) / months, 2))
    assert rate.ci_high == pytest.approx(round(100 * stats.chi2.ppf(0.975, 2) / 2 / months, 2))
    assert rate.ci_high == pytest.approx(100 * poisson_exact(0)[1] / months, abs=0.006)


@pytest.mark.parametrize("k", [1, 2, 5, 17, 60])
def test_exposure_adjusted_rate_ci_matches_the_poisson_definition(k):
    times = times_frame(events=[10] * k, censored=[200] * 40)
    months = (11 * k + 201 * 40) / DAYS_PER_MONTH
    rate = exposure_adjusted_rate(times)
    assert rate.first_events == k
    assert rate.patient_months == round(months, 1)
    assert rate.per_100_patient_months == pytest.approx(round(100 * k / months, 2))
    low, high = poisson_exact(k)
    assert rate.ci_low == pytest.approx(100 * low / months, abs=0.006)
    assert rate.ci_high == pytest.approx(100 * high / months, abs=0.006)


def test_exposure_adjusted_rate_without_anyone_at_risk_is_undefined():
    assert exposure_adjusted_rate(times_frame(events=[], censored=[])) == \
        ExposureAdjustedRate(0, 0.0, None, None, None)


# ---------------------------------------------------------------- end of observation

def test_observation_end_is_the_earliest_of_analysis_date_death_and_30_days_after_stopping():
    patients = patients_frame(START, START, START, START, START, START, START, AS_OF + timedelta(days=1),
                              AS_OF)
    stop = date(2025, 6, 1)
    late_stop = AS_OF - timedelta(days=10)     # + 30 days is after the analysis date
    death = date(2025, 3, 15)
    events = events_frame(
        (4, "Pneumonitis", 5, date(2025, 3, 1), death),                       # 4: died
        (5, "Pneumonitis", 5, date(2025, 6, 20), date(2025, 6, 25)),         # 5: stopped, then died earlier
        (7, "Pneumonitis", 5, date(2025, 2, 1), AS_OF + timedelta(days=5)),  # 7: death after the analysis
        (1, "Fatigue", 1, date(2025, 2, 1)),                                   # no death date: no effect
    )
    doses = doses_frame(
        (2, stop, "discontinue", 0.0),
        (3, late_stop, "discontinue", 0.0),
        (5, stop, "discontinue", 0.0),
        (6, AS_OF + timedelta(days=1), "discontinue", 0.0),   # after the analysis date: not yet
        (1, START, "start", 10.0),
    )
    ends = observation_end(patients, events, doses, AS_OF)
    assert set(ends.index) == {1, 2, 3, 4, 5, 6, 7, 9}, "only exposed patients (start <= analysis date)"
    assert ends[1] == AS_OF
    assert ends[2] == stop + timedelta(days=30) == date(2025, 7, 1)
    assert ends[3] == AS_OF
    assert ends[4] == death
    assert ends[5] == date(2025, 6, 25)       # death before stop + 30
    assert ends[6] == AS_OF
    assert ends[7] == AS_OF
    assert ends[9] == AS_OF                   # started on the analysis date


def test_observation_end_uses_the_first_discontinuation():
    patients = patients_frame(START)
    doses = doses_frame((1, date(2025, 5, 1), "discontinue", 0.0), (1, date(2025, 4, 1), "discontinue", 0.0))
    assert observation_end(patients, events_frame(), doses, AS_OF)[1] == date(2025, 5, 1)


def test_observation_end_exactly_30_days_after_stopping_on_the_analysis_date():
    patients = patients_frame(START)
    doses = doses_frame((1, AS_OF - timedelta(days=30), "discontinue", 0.0))
    assert observation_end(patients, events_frame(), doses, AS_OF)[1] == AS_OF


# ---------------------------------------------------------------- first event times

def test_first_event_times_counts_the_first_event_up_to_the_end_of_observation():
    patients = patients_frame(START, START, START, START, START)
    ends = pd.Series({1: AS_OF, 2: AS_OF, 3: date(2025, 3, 1), 4: AS_OF, 5: date(2025, 2, 1)}, dtype=object)
    events = events_frame(
        (1, "Mucositis oral", 1, date(2025, 1, 20)),
        (1, "Mucositis oral", 2, date(2025, 1, 11)),   # patient 1's first: day 10
        (2, "Fatigue", 2, date(2025, 1, 5)),           # another term: censored at the end
        (3, "Mucositis oral", 1, date(2025, 3, 2)),    # the day after the end of observation: not counted
        (4, "Mucositis oral", 1, START),               # on the day of treatment start: day 0
        (5, "Mucositis oral", 3, date(2025, 2, 1)),    # on the last observed day: counted
    )
    times = first_event_times(events, patients, ends, "Mucositis oral").set_index("patient_id")
    assert list(times.columns) == ["days", "event"]
    assert len(times) == 5
    assert (times.loc[1, "days"], times.loc[1, "event"]) == (10, True)
    assert (times.loc[2, "days"], times.loc[2, "event"]) == ((AS_OF - START).days, False)
    assert (times.loc[3, "days"], times.loc[3, "event"]) == ((date(2025, 3, 1) - START).days, False)
    assert (times.loc[4, "days"], times.loc[4, "event"]) == (0, True)
    assert (times.loc[5, "days"], times.loc[5, "event"]) == (31, True)


def test_first_event_times_with_a_minimum_grade():
    patients = patients_frame(START, START)
    ends = pd.Series({1: AS_OF, 2: AS_OF}, dtype=object)
    events = events_frame((1, "Pneumonitis", 1, date(2025, 1, 3)), (1, "Pneumonitis", 3, date(2025, 2, 1)),
                          (2, "Pneumonitis", 2, date(2025, 1, 10)))
    times = first_event_times(events, patients, ends, "Pneumonitis", min_grade=3).set_index("patient_id")
    assert (times.loc[1, "days"], times.loc[1, "event"]) == (31, True)
    assert times.loc[2, "event"] == False  # noqa: E712 (numpy bool)
    anyg = first_event_times(events, patients, ends, "Pneumonitis").set_index("patient_id")
    assert (anyg.loc[1, "days"], anyg.loc[2, "days"]) == (2, 9)


def test_time_to_event_pipeline_with_treatment_emergent_events_after_stopping_and_death():
    # Patient 1 stops on day 40: an event 30 days later counts, one 31 days later does not.
    # Patient 2 dies on day 20 (grade 5 pneumonitis), so is censored then for mucositis.
    patients = patients_frame(START, START, START)
    stop = START + timedelta(days=40)
    events = events_frame((1, "Mucositis oral", 1, stop + timedelta(days=31)),
                          (2, "Pneumonitis", 5, START + timedelta(days=15), START + timedelta(days=20)),
                          (3, "Mucositis oral", 2, START + timedelta(days=7)))
    doses = doses_frame((1, stop, "discontinue", 0.0))
    ends = observation_end(patients, events, doses, AS_OF)
    emergent = incidence.treatment_emergent(events, patients, doses, AS_OF)
    times = first_event_times(emergent, patients, ends, "Mucositis oral").set_index("patient_id")
    assert (times.loc[1, "days"], bool(times.loc[1, "event"])) == (70, False)
    assert (times.loc[2, "days"], bool(times.loc[2, "event"])) == (20, False)
    assert (times.loc[3, "days"], bool(times.loc[3, "event"])) == (7, True)

    inside = events_frame((1, "Mucositis oral", 1, stop + timedelta(days=30)))
    emergent = incidence.treatment_emergent(inside, patients, doses, AS_OF)
    times = first_event_times(emergent, patients, ends, "Mucositis oral").set_index("patient_id")
    assert (times.loc[1, "days"], bool(times.loc[1, "event"])) == (70, True)


# ---------------------------------------------------------------- median follow-up

def test_median_follow_up_counts_days_observed_inclusive():
    patients = patients_frame(START, START, START)
    # Observed days, counting the day of treatment start: 10, 20 and 31.
    ends = pd.Series({1: START + timedelta(days=9), 2: START + timedelta(days=19),
                      3: START + timedelta(days=30)}, dtype=object)
    assert median_follow_up_days(patients, ends) == 20.0
    assert median_follow_up_days(patients, ends.drop(3)) == 15.0  # even count: mean of the middle two


def test_median_follow_up_from_observation_end():
    patients = patients_frame(START, date(2025, 12, 1), AS_OF + timedelta(days=3))
    doses = doses_frame((1, date(2025, 1, 31), "discontinue", 0.0))
    ends = observation_end(patients, events_frame(), doses, AS_OF)
    # patient 1: Jan 1 to Mar 2 (stop + 30) = 61 days; patient 2: Dec 1 to Dec 31 = 31 days; 3 not exposed.
    assert median_follow_up_days(patients, ends) == (61 + 31) / 2


def test_median_follow_up_of_nobody_is_none():
    assert median_follow_up_days(patients_frame(), pd.Series(dtype=object)) is None
