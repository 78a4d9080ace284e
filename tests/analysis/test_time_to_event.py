"""models.analysis.time_to_event: the Aalen-Johansen cumulative incidence with death as a competing event and its
log(-log) CI (worked by hand, equal to 1 - Kaplan-Meier with Greenwood's variance when nobody dies, and against
lifelines' AalenJohansenFitter on random data and on the demo cohort), the step lookup, numbers at risk,
exposure-adjusted rates with the exact Poisson CI, event_times() (event, competing death, censoring at the end of
follow-up) and the median follow-up over exposure.follow_up().

Outcomes: 0 censored, 1 the event, 2 death without it (competing). DataFrames are built by hand with the columns
models.store.queries returns (dates as datetime.date objects in object columns).
"""
from __future__ import annotations

import math
import random
import warnings
from datetime import date, timedelta
from fractions import Fraction

import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from scipy import stats
from scipy.optimize import brentq

from models.analysis import cohort, incidence
from models.analysis.time_to_event import (COMPETING, CURVE_COLUMNS, DAYS_PER_MONTH, EVENT, TIME_COLUMNS,
                                           ExposureAdjustedRate, aalen_johansen, event_times,
                                           exposure_adjusted_rate, incidence_at, median_follow_up_days,
                                           numbers_at_risk)
from models.clinical import exposure
from tests.conftest import DEMO_TODAY
from tests.support.frames import doses_frame, events_frame, patients_frame

AS_OF = date(2025, 12, 31)
START = date(2025, 1, 1)
Z = stats.norm.ppf(0.975)


# ---------------------------------------------------------------- builders

def day(n: int) -> date:
    return START + timedelta(days=n)


def times_frame(events=(), censored=(), deaths=()) -> pd.DataFrame:
    """event_times()-shaped rows: events (outcome 1) get ids 1.., censorings (0) 101.., deaths (2) 201.."""
    rows = [{"patient_id": i, "days": d, "outcome": 1} for i, d in enumerate(events, 1)]
    rows += [{"patient_id": 100 + i, "days": d, "outcome": 0} for i, d in enumerate(censored, 1)]
    rows += [{"patient_id": 200 + i, "days": d, "outcome": 2} for i, d in enumerate(deaths, 1)]
    return pd.DataFrame(rows, columns=TIME_COLUMNS)


def row_at(curve: pd.DataFrame, on: int) -> pd.Series:
    rows = curve[(curve["day"] == on) & ((curve["events"] + curve["competing"]) > 0)]
    assert len(rows) == 1, f"expected one step row on day {on}:\n{curve}"
    return rows.iloc[0]


def log_log_interval(incidence_value: float, variance: float) -> tuple[float, float]:
    """The delta-method interval on log(-log F): F ** exp(+z se) (low) to F ** exp(-z se) (high), with
    se = sqrt(Var F) / (F |log F|)."""
    se = math.sqrt(variance) / (incidence_value * abs(math.log(incidence_value)))
    return incidence_value ** math.exp(Z * se), incidence_value ** math.exp(-Z * se)


def follow_up_of(patients, doses, deaths, as_of=AS_OF) -> pd.DataFrame:
    periods = exposure.exposure_periods(patients, doses, as_of)
    return exposure.follow_up(patients, periods, pd.Series(deaths, dtype=object), as_of)


# ---------------------------------------------------------------- worked by hand, no competing death

# Five patients: events on days 3, 3 and 10; censored on days 5 and 12; nobody dies, so the Aalen-Johansen
# estimate is 1 - Kaplan-Meier:
#   day 3:  at risk 5, 2 events -> F(3)  = 0 + 1 * 2/5          = 0.4 ; S = 3/5
#   day 5:  censored: no step; at risk drops to 2 (days 10 and 12)
#   day 10: at risk 2, 1 event  -> F(10) = 0.4 + 3/5 * 1/2      = 0.7 ; S = 3/10
# Variance (Collett p. 411; with one cause it is Greenwood's, S^2 * sum d / (n (n - d))):
#   day 3:  (3/5)^2 * 2/(5*3)                     = 0.048  (= 0.4 * 0.6 / 5, binomial)
#   day 10: (3/10)^2 * (2/15 + 1/(2*1))           = 0.09 * 19/30 = 0.057
HAND = times_frame(events=[3, 3, 10], censored=[5, 12])


def test_aalen_johansen_on_hand_worked_data():
    curve = aalen_johansen(HAND)
    assert list(curve.columns) == CURVE_COLUMNS
    first = curve.iloc[0]
    assert (first["day"], first["at_risk"], first["events"], first["competing"]) == (0, 5, 0, 0)
    assert first["cumulative_incidence"] == first["ci_low"] == first["ci_high"] == 0.0
    assert list(curve["day"]) == [0, 3, 10], "a censoring day adds no step"
    day3, day10 = row_at(curve, 3), row_at(curve, 10)
    assert (day3["at_risk"], day3["events"], day3["competing"]) == (5, 2, 0)
    assert (day10["at_risk"], day10["events"], day10["competing"]) == (2, 1, 0)
    assert day3["cumulative_incidence"] == pytest.approx(0.4)
    assert day10["cumulative_incidence"] == pytest.approx(0.7)


def test_log_log_ci_on_hand_worked_data():
    curve = aalen_johansen(HAND)
    for on, value, variance in ((3, 0.4, 0.048), (10, 0.7, 0.057)):
        low, high = log_log_interval(value, variance)
        row = row_at(curve, on)
        assert row["ci_low"] == pytest.approx(low, abs=1e-12)
        assert row["ci_high"] == pytest.approx(high, abs=1e-12)
    # The same, as numbers (4 decimals).
    assert (row_at(curve, 3)["ci_low"], row_at(curve, 3)["ci_high"]) == (pytest.approx(0.0520, abs=1e-4),
                                                                         pytest.approx(0.7528, abs=1e-4))
    assert (row_at(curve, 10)["ci_low"], row_at(curve, 10)["ci_high"]) == (pytest.approx(0.0979, abs=1e-4),
                                                                           pytest.approx(0.9467, abs=1e-4))


# ---------------------------------------------------------------- worked by hand, with a competing death

# Seven patients: events on days 2, 2, 4 and 8; a death without the event on day 4; censored on days 5 and 10.
# F = cumulative incidence of the event, S = overall event-free survival (either kind ends it), just before.
#   day 2: n = 7, d1 = 2, d2 = 0: F = 0     + 1   * 2/7 = 2/7  ; S = 1 * (1 - 2/7)         = 5/7
#   day 4: n = 5, d1 = 1, d2 = 1: F = 2/7   + 5/7 * 1/5 = 3/7  ; S = 5/7 * (1 - 2/5)       = 3/7
#   day 5: censored: no step; at risk drops to 2 (days 8 and 10)
#   day 8: n = 2, d1 = 1, d2 = 0: F = 3/7   + 3/7 * 1/2 = 9/14 ; S = 3/7 * (1 - 1/2)       = 3/14
# Treating the death as censored instead (1 - KM) would give 1 - (5/7)(4/5)(1/2) = 5/7 > 9/14 on day 8.
# Variance at day t, summed over the step days i <= t (F_i after day i, S_i- before it, d = d1 + d2):
#   (F_t - F_i)^2 d / (n (n - d)) + S_i-^2 d1 (n - d1) / n^3 - 2 (F_t - F_i) S_i- d1 / n^2
#   day 2: 0 + 1 * 2*5/7^3 - 0                                                           = 10/343
#   day 4: i=2: (1/7)^2 * 2/35 + 10/343 - 2 (1/7) * 2/49  = 2/1715 + 50/1715 - 20/1715    = 32/1715
#          i=4: 0 + (5/7)^2 * 1*4/125 - 0                  = 28/1715;  total 60/1715      = 12/343
#   day 8: i=2: (5/14)^2 * 2/35 + 10/343 - 2 (5/14) * 2/49 = 5/686 + 20/686 - 20/686      = 5/686
#          i=4: (3/14)^2 * 2/15 + 4/245 - 2 (3/14)(5/7) * 1/25 = 3/490 + 8/490 - 6/490    = 1/98
#          i=8: 0 + (3/7)^2 * 1*1/8 - 0                                                  = 9/392
#          total 20/2744 + 28/2744 + 63/2744                                             = 111/2744
COMPETING_HAND = times_frame(events=[2, 2, 4, 8], censored=[5, 10], deaths=[4])


def test_aalen_johansen_with_a_competing_death_worked_by_hand():
    curve = aalen_johansen(COMPETING_HAND)
    assert list(curve["day"]) == [0, 2, 4, 8]
    steps = [(row_at(curve, on)["at_risk"], row_at(curve, on)["events"], row_at(curve, on)["competing"])
             for on in (2, 4, 8)]
    assert steps == [(7, 2, 0), (5, 1, 1), (2, 1, 0)]
    assert list(curve["cumulative_incidence"]) == pytest.approx([0, 2 / 7, 3 / 7, 9 / 14], abs=1e-12)
    assert incidence_at(curve, 8) < 5 / 7, "below 1 - KM with the death censored"


def test_aalen_johansen_ci_with_a_competing_death_worked_by_hand():
    curve = aalen_johansen(COMPETING_HAND)
    assert Fraction(2, 1715) + Fraction(50, 1715) - Fraction(20, 1715) + Fraction(28, 1715) == Fraction(12, 343)
    assert Fraction(5, 686) + Fraction(1, 98) + Fraction(9, 392) == Fraction(111, 2744)
    for on, value, variance in ((2, 2 / 7, 10 / 343), (4, 3 / 7, 12 / 343), (8, 9 / 14, 111 / 2744)):
        low, high = log_log_interval(value, variance)
        row = row_at(curve, on)
        assert row["ci_low"] == pytest.approx(low, abs=1e-12)
        assert row["ci_high"] == pytest.approx(high, abs=1e-12)
    assert (row_at(curve, 8)["ci_low"], row_at(curve, 8)["ci_high"]) == (pytest.approx(0.1703, abs=1e-4),
                                                                         pytest.approx(0.8956, abs=1e-4))


def test_a_death_with_no_event_that_day_adds_a_row_but_no_incidence():
    # Day 1: a death (n = 4): F stays 0, S = 3/4. Day 3: an event, n = 3: F = 3/4 * 1/3 = 1/4.
    curve = aalen_johansen(times_frame(events=[3], censored=[9, 9], deaths=[1]))
    assert list(curve["day"]) == [0, 1, 3]
    assert (row_at(curve, 1)["events"], row_at(curve, 1)["competing"]) == (0, 1)
    assert row_at(curve, 1)["cumulative_incidence"] == 0.0
    assert row_at(curve, 1)["ci_low"] == row_at(curve, 1)["ci_high"] == 0.0
    assert row_at(curve, 3)["cumulative_incidence"] == pytest.approx(1 / 4)


def test_deaths_only_give_zero_incidence_everywhere():
    curve = aalen_johansen(times_frame(censored=[40], deaths=[5, 20]))
    assert list(curve["day"]) == [0, 5, 20]
    assert list(curve["competing"]) == [0, 1, 1]
    assert (curve[["cumulative_incidence", "ci_low", "ci_high"]] == 0).all().all()


def test_censoring_on_an_event_day_is_applied_after_that_days_events():
    # Day 4: one event and one patient censored; the censored patient is still at risk on day 4:
    #   F(4) = 1/3 (were censoring applied first it would be 1/2).
    # Day 6: the last patient at risk has the event: F(6) = 1/3 + 2/3 * 1 = 1.
    curve = aalen_johansen(times_frame(events=[4, 6], censored=[4]))
    day4, day6 = row_at(curve, 4), row_at(curve, 6)
    assert day4["at_risk"] == 3
    assert day4["cumulative_incidence"] == pytest.approx(1 / 3)
    assert day6["at_risk"] == 1
    assert day6["cumulative_incidence"] == pytest.approx(1.0)


def test_no_events_gives_zero_everywhere():
    curve = aalen_johansen(times_frame(censored=[5, 30, 90]))
    assert len(curve) == 1
    assert curve.iloc[0]["at_risk"] == 3
    for on in (0, 5, 89, 10_000):
        assert incidence_at(curve, on) == 0.0
    assert (curve[["cumulative_incidence", "ci_low", "ci_high"]] == 0).all().all()


def test_an_empty_cohort_gives_the_zero_curve():
    curve = aalen_johansen(times_frame())
    assert len(curve) == 1 and curve.iloc[0]["at_risk"] == 0
    assert incidence_at(curve, 100) == 0.0


def test_everyone_with_the_event_reaches_100_percent():
    curve = aalen_johansen(times_frame(events=[2, 7, 7, 20]))
    assert list(curve["day"]) == [0, 2, 7, 20]
    assert list(curve["cumulative_incidence"]) == pytest.approx([0, 1 / 4, 3 / 4, 1.0])
    assert incidence_at(curve, 20) == pytest.approx(1.0)
    assert incidence_at(curve, 365) == pytest.approx(1.0)
    last = curve.iloc[-1]
    assert last["ci_low"] <= last["cumulative_incidence"] <= last["ci_high"] <= 1.0


def test_an_event_on_the_first_day_counts_at_day_0():
    # Day 0: 1 event of 4: F = 1/4, S = 3/4; day 5: 1 of 3: F = 1/4 + 3/4 * 1/3 = 1/2.
    curve = aalen_johansen(times_frame(events=[0, 5], censored=[10, 10]))
    assert list(curve["day"]) == [0, 5], "the day-0 row carries that day's events"
    assert curve.iloc[0]["events"] == 1
    assert incidence_at(curve, 0) == pytest.approx(1 / 4)
    assert incidence_at(curve, 4) == pytest.approx(1 / 4)
    assert incidence_at(curve, 5) == pytest.approx(1 / 2)


def test_incidence_at_is_a_right_continuous_step_function():
    curve = aalen_johansen(HAND)
    assert incidence_at(curve, 0) == 0.0
    assert incidence_at(curve, 2.999) == 0.0
    assert incidence_at(curve, 3) == pytest.approx(0.4)
    assert incidence_at(curve, 5) == pytest.approx(0.4)   # censoring does not move the curve
    assert incidence_at(curve, 9.5) == pytest.approx(0.4)
    assert incidence_at(curve, 10) == pytest.approx(0.7)
    assert incidence_at(curve, 12) == pytest.approx(0.7)
    assert incidence_at(curve, 1_000) == pytest.approx(0.7)


# ---------------------------------------------------------------- with no competing event: 1 - Kaplan-Meier

def reference_km(times: pd.DataFrame) -> list[tuple[int, int, int, float, float]]:
    """Textbook Kaplan-Meier with Greenwood's sum, written independently: (day, at risk, events,
    1 - S, Var(1 - S) = S^2 * sum d / (n (n - d))) per event day."""
    records = list(zip(times["days"], times["outcome"] == 1))
    out, survival, greenwood = [], 1.0, 0.0
    for on in sorted({d for d, e in records if e}):
        n = sum(1 for d, _ in records if d >= on)
        d_events = sum(1 for d, e in records if d == on and e)
        survival *= (n - d_events) / n
        if n > d_events:
            greenwood += d_events / (n * (n - d_events))
        out.append((on, n, d_events, 1 - survival, survival ** 2 * greenwood))
    return out


def random_times(seed: int, n: int, p_event: float = 0.55) -> pd.DataFrame:
    """Event (1) or censored (0) on days 0..60, with ties; nobody dies."""
    rng = random.Random(seed)
    rows = [{"patient_id": i, "days": rng.randint(0, 60), "outcome": int(rng.random() < p_event)} for i in range(n)]
    return pd.DataFrame(rows, columns=TIME_COLUMNS)


@pytest.mark.parametrize("seed,n", [(1, 8), (2, 25), (3, 60), (4, 200), (5, 3)])
def test_without_competing_deaths_it_is_one_minus_kaplan_meier(seed, n):
    times = random_times(seed, n)
    curve = aalen_johansen(times)
    steps = curve[curve["events"] > 0]
    expected = reference_km(times)
    assert len(steps) == len(expected) and len(curve) == len(expected) + (0 not in set(steps["day"]))
    for row, (on, at_risk, events, value, variance) in zip(steps.itertuples(), expected):
        assert (row.day, row.at_risk, row.events, row.competing) == (on, at_risk, events, 0)
        assert row.cumulative_incidence == pytest.approx(value, abs=1e-12)
        if 0 < value < 1 and variance > 0:  # the delta-method variance is Greenwood's here
            low, high = log_log_interval(value, variance)
            assert row.ci_low == pytest.approx(low, abs=1e-9)
            assert row.ci_high == pytest.approx(high, abs=1e-9)


@pytest.mark.parametrize("seed,n", [(11, 12), (12, 40), (13, 150)])
def test_without_competing_deaths_it_matches_scipy_ecdf(seed, n):
    times = random_times(seed, n)
    events = times["outcome"] == 1
    assert events.any() and not events.all(), "the seed should give events and censoring"
    result = stats.ecdf(stats.CensoredData(uncensored=times[events]["days"].to_numpy(float),
                                           right=times[~events]["days"].to_numpy(float)))
    for row in aalen_johansen(times).itertuples():
        assert row.cumulative_incidence == pytest.approx(1 - float(result.sf.evaluate(row.day)), abs=1e-12)


# ---------------------------------------------------------------- against lifelines' AalenJohansenFitter

def lifelines_fit(durations, outcomes, variance: bool = True) -> AalenJohansenFitter:
    # ci_labels: lifelines gives its first label to exp(-exp(log(-log F) + z se)), the LOWER limit (its default
    # names, "..._upper_0.95" first, are the wrong way round), so name them by what they hold.
    return AalenJohansenFitter(calculate_variance=variance).fit(
        pd.Series(durations, dtype=float), pd.Series(outcomes, dtype=int), event_of_interest=EVENT,
        ci_labels=["low", "high"])


def random_competing_times(seed: int, n: int, ties_between_kinds: bool) -> pd.DataFrame:
    """Events (1), deaths (2) and censorings (0) on days 1..80, plus one patient censored on day 100 (so the last
    day is never one where everyone left at risk has an event: lifelines' variance is undefined there). Without
    ties_between_kinds, no day holds both an event and a death (ties of one kind are fine)."""
    rng = random.Random(seed)
    last = 15 if ties_between_kinds else 80
    kind_of_day = {on: rng.choice([EVENT, EVENT, COMPETING]) for on in range(1, last + 1)}
    rows = []
    for i in range(n):
        outcome = rng.choice([0, 1, 1, 2])
        if outcome and not ties_between_kinds:
            on = rng.choice([d for d, kind in kind_of_day.items() if kind == outcome])
        else:
            on = rng.randint(1, last)
        rows.append({"patient_id": i, "days": on, "outcome": outcome})
    rows.append({"patient_id": n, "days": 100, "outcome": 0})
    return pd.DataFrame(rows, columns=TIME_COLUMNS)


@pytest.mark.parametrize("seed,n", [(30, 10), (32, 40), (33, 150), (34, 400)])
def test_matches_lifelines_incidence_and_ci_without_ties_between_kinds(seed, n):
    # lifelines jitters times tied between an event and a death, and forces its first row (day 0) to 0: so no
    # such ties, and nothing happens on day 0.
    times = random_competing_times(seed, n, ties_between_kinds=False)
    assert (times["outcome"] == COMPETING).any() and (times["outcome"] == EVENT).any()
    fitted = lifelines_fit(times["days"], times["outcome"])
    estimate = fitted.cumulative_density_.iloc[:, 0]
    interval = fitted.confidence_interval_
    steps = aalen_johansen(times).iloc[1:]
    assert set(steps["day"]) == set(times.loc[times["outcome"] > 0, "days"])
    for row in steps.itertuples():
        assert row.cumulative_incidence == pytest.approx(float(estimate.loc[row.day]), abs=1e-9)
        if 0 < row.cumulative_incidence < 1:
            assert row.ci_low == pytest.approx(float(interval.loc[row.day, "low"]), abs=1e-9)
            assert row.ci_high == pytest.approx(float(interval.loc[row.day, "high"]), abs=1e-9)
        else:  # F = 0 (only deaths so far): the model gives the degenerate interval [0, 0]
            assert row.ci_low == row.ci_high == row.cumulative_incidence


def shifted_for_lifelines(times: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Durations + 1 (so nothing happens at lifelines' time 0, whose CIF it forces to 0), and each competing
    death half a day earlier still, so that no event and death share a time and lifelines need not jitter.

    This leaves the Aalen-Johansen estimate unchanged at every integer day. On a day with n at risk, d1 events and
    d2 deaths, the estimate rises by S * d1/n and S becomes S * (n - d1 - d2)/n. With the deaths moved just
    before: S * (1 - d2/n) first, then the events among n - d2 at risk add S * (1 - d2/n) * d1/(n - d2) =
    S * d1/n, and S * (n - d2)/n * (n - d2 - d1)/(n - d2) = S * (n - d1 - d2)/n: the same. The order of the two
    kinds within a day does not matter; censorings stay on the day itself, after both, as in the model. (The
    variance does change, as its d/(n (n - d)) term does, so only point estimates are compared this way.)"""
    durations = times["days"].astype(float) + 1 - 0.5 * (times["outcome"] == COMPETING)
    return durations, times["outcome"].astype(int)


def assert_same_as_shifted_lifelines(times: pd.DataFrame) -> int:
    """Compares the point estimate at every integer day from 0 to the last; returns how many days differ from 0."""
    fitted = lifelines_fit(*shifted_for_lifelines(times), variance=False)
    estimate = fitted.cumulative_density_.iloc[:, 0]
    curve = aalen_johansen(times)
    positive = 0
    for on in range(0, int(times["days"].max()) + 1):
        ours = incidence_at(curve, on)
        assert ours == pytest.approx(float(estimate.asof(on + 1)), abs=1e-9), f"day {on}"
        positive += ours > 0
    return positive


@pytest.mark.parametrize("seed,n", [(41, 20), (42, 80), (43, 300)])
def test_matches_lifelines_with_ties_between_kinds_after_the_half_day_shift(seed, n):
    times = random_competing_times(seed, n, ties_between_kinds=True)
    kinds = times[times["outcome"] > 0].groupby("days")["outcome"].nunique()
    assert (kinds > 1).any(), "the seed should give a day with both an event and a death"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Tied event times")  # the shift leaves no tie to jitter
        assert assert_same_as_shifted_lifelines(times) > 0


@pytest.mark.parametrize("term", ["Mucositis oral", "Pneumonitis"])
def test_demo_cohort_matches_lifelines_at_every_day(demo_sqlite_url, term):
    analysis = cohort.analyse(demo_sqlite_url, as_of=DEMO_TODAY)
    times = analysis.event_times(term)
    assert len(times) == analysis.exposed > 0
    assert (times["outcome"] == EVENT).sum() >= 5, "the demo cohort should have some of these events"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Tied event times")
        assert assert_same_as_shifted_lifelines(times) > 0


@pytest.mark.parametrize("seed,n", [(21, 5), (22, 30), (23, 120), (24, 2), (25, 1)])
def test_ci_contains_the_estimate_and_stays_in_0_1(seed, n):
    curve = aalen_johansen(random_competing_times(seed, n, ties_between_kinds=True))
    assert ((curve["ci_low"] >= 0) & (curve["ci_high"] <= 1)).all(), curve
    assert ((curve["ci_low"] <= curve["cumulative_incidence"] + 1e-12)
            & (curve["cumulative_incidence"] <= curve["ci_high"] + 1e-12)).all(), curve
    assert curve["cumulative_incidence"].is_monotonic_increasing
    inner = curve[(curve["cumulative_incidence"] > 0) & (curve["cumulative_incidence"] < 1)]
    assert (inner["ci_low"] < inner["cumulative_incidence"]).all()
    assert (inner["cumulative_incidence"] < inner["ci_high"]).all()


# ---------------------------------------------------------------- numbers at risk

def test_numbers_at_risk_on_a_small_example():
    # Events on days 3, 3 and 10, a death on day 7, censored on days 5 and 12. At a day: at risk = still followed
    # (days >= that day); events and deaths strictly before it.
    times = times_frame(events=[3, 3, 10], censored=[5, 12], deaths=[7])
    table = numbers_at_risk(times, [0, 3, 4, 8, 11, 13])
    assert list(table.columns) == ["day", "at_risk", "events", "competing"]
    assert table.values.tolist() == [[0, 6, 0, 0],
                                     [3, 6, 0, 0],   # day-3 events are still at risk on day 3
                                     [4, 4, 2, 0],   # 5, 7, 10, 12
                                     [8, 2, 2, 1],   # 10, 12; the death on day 7 counted
                                     [11, 1, 3, 1],  # 12
                                     [13, 0, 3, 1]]


def test_numbers_at_risk_of_nobody():
    assert numbers_at_risk(times_frame(), [0, 30]).values.tolist() == [[0, 0, 0, 0], [30, 0, 0, 0]]


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


def test_exposure_adjusted_rate_counts_a_death_as_time_at_risk_not_as_an_event():
    # HAND plus a death on day 20: 38 + 21 = 59 days, still 3 first events.
    rate = exposure_adjusted_rate(times_frame(events=[3, 3, 10], censored=[5, 12], deaths=[20]))
    months = 59 / DAYS_PER_MONTH
    assert rate.first_events == 3
    assert rate.patient_months == round(months, 1) == 1.9
    assert rate.per_100_patient_months == pytest.approx(round(300 / months, 2))


def test_exposure_adjusted_rate_with_no_events_has_a_zero_lower_bound():
    times = times_frame(censored=[29, 59])  # 30 + 60 = 90 days at risk
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
    assert exposure_adjusted_rate(times_frame()) == ExposureAdjustedRate(0, 0.0, None, None, None)


# ---------------------------------------------------------------- event_times

def test_event_times_event_competing_death_and_censoring():
    # 1: dies on day 20 with the event's onset that day   -> the event, day 20
    # 2: dies on day 20 without the event                 -> competing death, day 20
    # 3: no death, no event, followed to the analysis date -> censored at 364 (Jan 1 to Dec 31)
    # 4: discontinued on day 41 (last dose day 40, follow-up to day 70); onset on day 71 -> censored at 70
    # 5: the same stop; onset on day 70, the last day followed -> the event, day 70
    # 6: dies on day 20; an onset on day 25 (after death) -> competing death, day 20
    # 7: onset on the day of treatment start -> the event, day 0
    patients = patients_frame(*[START] * 7)
    doses = doses_frame((4, day(41), "discontinue", 0.0), (5, day(41), "discontinue", 0.0))
    followed = follow_up_of(patients, doses, {1: day(20), 2: day(20), 6: day(20)})
    assert list(followed["follow_up_days"]) == [20, 20, 364, 70, 70, 20, 364]
    onsets = pd.Series({1: 20, 4: 71, 5: 70, 6: 25, 7: 0, 99: 3})  # 99: not followed, ignored
    times = event_times(onsets, followed).set_index("patient_id")
    assert list(times.columns) == ["days", "outcome", "at_risk_days"]
    assert (times["at_risk_days"] == times["days"] + 1).all(), "no restart: every day from the start is at risk"
    assert times[["days", "outcome"]].to_dict("index") == {1: {"days": 20, "outcome": 1}, 2: {"days": 20, "outcome": 2},
                                      3: {"days": 364, "outcome": 0}, 4: {"days": 70, "outcome": 0},
                                      5: {"days": 70, "outcome": 1}, 6: {"days": 20, "outcome": 2},
                                      7: {"days": 0, "outcome": 1}}


def test_event_times_of_nobody_followed():
    times = event_times(pd.Series(dtype=float), follow_up_of(patients_frame(), doses_frame(), {}))
    assert list(times.columns) == TIME_COLUMNS and times.empty


def test_time_to_event_pipeline_with_treatment_emergent_events_after_stopping_and_death():
    # Patient 1 stops on day 40 (last dose day 39): an onset on day 70 (31 days later) is not treatment-emergent;
    # follow-up ends on day 69. Patient 2 dies on day 20 (grade 5 pneumonitis): a competing death for mucositis.
    # Patient 3: mucositis on day 7. Patient 4 started on the analysis date: not exposed, no row.
    patients = patients_frame(START, START, START, AS_OF)
    events = events_frame((1, "Mucositis oral", 1, day(70)),
                          (2, "Pneumonitis", 5, day(15), day(20)),
                          (3, "Mucositis oral", 2, day(7)),
                          (4, "Mucositis oral", 2, AS_OF))
    doses = doses_frame((1, day(40), "discontinue", 0.0))
    periods = exposure.exposure_periods(patients, doses, AS_OF)
    deaths = events[events["death_date"].notna()].groupby("patient_id")["death_date"].min()
    followed = exposure.follow_up(patients, periods, deaths, AS_OF)
    onsets = incidence.CohortOnsets(incidence.onsets_from_events(events, patients, periods), followed)
    times = event_times(onsets.first_onsets("Mucositis oral", 1), onsets.followed).set_index("patient_id")
    assert times[["days", "outcome"]].to_dict("index") == {1: {"days": 69, "outcome": 0}, 2: {"days": 20, "outcome": 2},
                                      3: {"days": 7, "outcome": 1}}
    # Pneumonitis for patient 2: the onset (day 15) comes first, so it is the event, not the death.
    pneumonitis = event_times(onsets.first_onsets("Pneumonitis", 3), onsets.followed).set_index("patient_id")
    assert pneumonitis.loc[2, ["days", "outcome"]].tolist() == [15, 1]

    inside = events_frame((1, "Mucositis oral", 1, day(69)))  # 30 days after the last dose day: counts
    kept = incidence.treatment_emergent(inside, patients, doses, AS_OF)
    onsets = incidence.CohortOnsets(incidence.onsets_from_events(kept, patients, periods), followed)
    times = event_times(onsets.first_onsets("Mucositis oral", 1), onsets.followed).set_index("patient_id")
    assert times.loc[1, ["days", "outcome"]].tolist() == [69, 1]


# ---------------------------------------------------------------- median follow-up

def test_median_follow_up_over_follow_up_output_counts_only_the_exposed():
    # Follow-up days are end - start (the start day itself is day 0):
    #   1: started 10 days before the analysis date       -> 10
    #   2: started 20 days before                          -> 20
    #   3: started Jan 1, discontinued Jan 3 (last dose day Jan 2): follow-up to Feb 1 -> 31
    #   4: started on the analysis date: 0 days, not exposed; 5: starts after it: not followed
    patients = patients_frame(AS_OF - timedelta(days=10), AS_OF - timedelta(days=20), START, AS_OF,
                              AS_OF + timedelta(days=1))
    followed = follow_up_of(patients, doses_frame((3, day(2), "discontinue", 0.0)), {})
    assert followed["follow_up_days"].to_dict() == {1: 10, 2: 20, 3: 31, 4: 0}
    assert median_follow_up_days(followed) == 20.0
    assert median_follow_up_days(followed.drop(index=3)) == 15.0  # two exposed: mean of the middle two


def test_median_follow_up_of_nobody_is_none():
    assert median_follow_up_days(follow_up_of(patients_frame(AS_OF), doses_frame(), {})) is None
    assert median_follow_up_days(follow_up_of(patients_frame(), doses_frame(), {})) is None


def test_the_days_between_exposure_periods_are_not_time_at_risk():
    """A patient stopped on day 20 (last dose day 19, counted to day 49) and restarted on day 120: days 50-119
    are follow-up but no onset there counts, so the exposure-adjusted rate leaves them out."""
    from models.analysis import incidence
    from models.clinical import exposure

    as_of = day(200)
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0), (1, day(20), "discontinue", 0.0), (1, day(120), "start", 10.0))
    periods = exposure.exposure_periods(patients, doses, as_of)
    followed = exposure.follow_up(patients, periods, pd.Series(dtype=object), as_of)
    assert followed.at[1, "gaps"] == ((50, 119),)
    onsets = incidence.CohortOnsets(incidence.onsets_from_events(
        events_frame((1, "Fatigue", 1, day(80)), (1, "Fatigue", 1, day(150))), patients, periods), followed)
    times = event_times(onsets.first_onsets("Fatigue", 1), onsets.followed)
    assert (int(times.at[0, "days"]), int(times.at[0, "outcome"])) == (150, 1), "the day-80 onset is in the gap"
    assert int(times.at[0, "at_risk_days"]) == 151 - 70
    rate = exposure_adjusted_rate(times)
    assert rate.patient_months == round(81 / DAYS_PER_MONTH, 1)
