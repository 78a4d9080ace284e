"""Time to the first treatment-emergent event: cumulative incidence with death as a competing event
(Aalen-Johansen), numbers at risk, exposure-adjusted rates and follow-up (DESIGN.md: follow-up ends at the
analysis date, death, or 30 days after the last dose day of the final exposure period; models/clinical/exposure.py).

Time is in days from the treatment start (day 0). Each exposed patient is followed from day 0 to the first
event of the term (outcome 1), to death without it (outcome 2, the competing event), or to the end of
follow-up (outcome 0, censored)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

DAYS_PER_MONTH = 365.25 / 12
CONFIDENCE = 0.95
CENSORED, EVENT, COMPETING = 0, 1, 2
TIME_COLUMNS = ["patient_id", "days", "outcome", "at_risk_days"]
CURVE_COLUMNS = ["day", "at_risk", "events", "competing", "cumulative_incidence", "ci_low", "ci_high"]


def event_times(first_onsets: pd.Series, followed: pd.DataFrame) -> pd.DataFrame:
    """One row per exposed patient (`followed`: exposure.follow_up() rows of the exposed): days to the first
    onset (patient id -> days from the start) if it falls within follow-up, else to death or the end of
    follow-up. An onset on the day of death is the event, not the competing death."""
    if followed.empty:
        return pd.DataFrame(columns=TIME_COLUMNS)
    ids = followed.index.astype(int)
    onset = pd.Series(first_onsets, dtype=float).reindex(ids)
    length = followed["follow_up_days"].astype(int).values
    hit = onset.notna().values & (onset.values <= length)
    died = followed["died_on"].notna().values
    outcome = np.where(hit, EVENT, np.where(died, COMPETING, CENSORED))
    days = np.where(hit, np.nan_to_num(onset.values), length).astype(int)
    # days at risk: the start day to the outcome day inclusive, less the days between exposure periods
    gaps = followed["gaps"] if "gaps" in followed else pd.Series([()] * len(followed), index=followed.index)
    off = [sum(max(0, min(last, day) - first + 1) for first, last in spans) for spans, day in zip(gaps, days)]
    return pd.DataFrame({"patient_id": ids, "days": days, "outcome": outcome, "at_risk_days": days + 1 - np.array(off)},
                        columns=TIME_COLUMNS)


def aalen_johansen(times: pd.DataFrame) -> pd.DataFrame:
    """Cumulative incidence of the event with death competing, at day 0 and at each day with an event or a
    death; 95% CI from the delta-method variance (Collett, Modelling Survival Data, 3rd ed., p. 411, as
    lifelines' AalenJohansenFitter computes it) on the log(-log) scale. Censoring on a day is applied after
    that day's events."""
    first = {"day": 0, "at_risk": len(times), "events": 0, "competing": 0, "cumulative_incidence": 0.0,
             "ci_low": 0.0, "ci_high": 0.0}
    if times.empty:
        return pd.DataFrame([first], columns=CURVE_COLUMNS)
    counts = pd.crosstab(times["days"], times["outcome"]).reindex(columns=[CENSORED, EVENT, COMPETING], fill_value=0)
    per_day = pd.DataFrame({"events": counts[EVENT], "competing": counts[COMPETING],
                            "at_risk": counts.sum(axis=1)[::-1].cumsum()[::-1]})
    per_day = per_day[(per_day["events"] + per_day["competing"]) > 0]
    rows, steps = [], []  # steps: (F after the day, S before it, n, all events, events of interest)
    incidence, survival = 0.0, 1.0
    for day, row in per_day.iterrows():
        n, d1, d2 = int(row["at_risk"]), int(row["events"]), int(row["competing"])
        incidence += survival * d1 / n
        steps.append((incidence, survival, n, d1 + d2, d1))
        survival *= 1 - (d1 + d2) / n
        low, high = _interval(incidence, _variance(incidence, steps))
        rows.append({"day": int(day), "at_risk": n, "events": d1, "competing": d2,
                     "cumulative_incidence": incidence, "ci_low": low, "ci_high": high})
    if rows and rows[0]["day"] == 0:
        first = rows.pop(0)
    return pd.DataFrame([first, *rows], columns=CURVE_COLUMNS)


def _variance(incidence: float, steps: list[tuple]) -> float:
    total = 0.0
    for f_i, s_before, n, d, d1 in steps:
        if n > d:  # the term is undefined when everyone left at risk has an event that day
            total += (incidence - f_i) ** 2 * d / (n * (n - d))
        total += s_before ** 2 * d1 * (n - d1) / n ** 3 - 2 * (incidence - f_i) * s_before * d1 / n ** 2
    return max(total, 0.0)


def _interval(incidence: float, variance: float) -> tuple[float, float]:
    if incidence <= 0 or incidence >= 1 or variance == 0:
        return incidence, incidence
    z = norm.ppf(1 - (1 - CONFIDENCE) / 2)
    log_log = math.log(-math.log(incidence))
    se = math.sqrt(variance) / (incidence * abs(math.log(incidence)))
    return math.exp(-math.exp(log_log + z * se)), math.exp(-math.exp(log_log - z * se))


def numbers_at_risk(times: pd.DataFrame, days: list[int]) -> pd.DataFrame:
    """For the table under the curve: patients still followed and event-free at each day, and the events and
    deaths so far."""
    rows = [{"day": day, "at_risk": int((times["days"] >= day).sum()),
             "events": int(((times["outcome"] == EVENT) & (times["days"] < day)).sum()),
             "competing": int(((times["outcome"] == COMPETING) & (times["days"] < day)).sum())} for day in days]
    return pd.DataFrame(rows, columns=["day", "at_risk", "events", "competing"])


def incidence_at(curve: pd.DataFrame, day: float) -> float:
    """The cumulative incidence at a day (right-continuous step function)."""
    return float(curve[curve["day"] <= day]["cumulative_incidence"].iloc[-1])


@dataclass(frozen=True)
class ExposureAdjustedRate:
    first_events: int
    patient_months: float
    per_100_patient_months: float | None
    ci_low: float | None
    ci_high: float | None


def exposure_adjusted_rate(times: pd.DataFrame) -> ExposureAdjustedRate:
    """First events per 100 patient-months at risk (to the first event, death or the end of follow-up, without
    the days between exposure periods), with an exact (Poisson) 95% CI."""
    events = int((times["outcome"] == EVENT).sum()) if not times.empty else 0
    # A patient is at risk on the day of treatment start too: days are counted inclusively (day 0 to day t).
    at_risk = times["at_risk_days"].fillna(times["days"] + 1) if "at_risk_days" in times else times["days"] + 1
    months = float(at_risk.sum()) / DAYS_PER_MONTH if not times.empty else 0.0
    if months == 0:
        return ExposureAdjustedRate(events, 0.0, None, None, None)
    low = 0.0 if events == 0 else chi2.ppf(0.025, 2 * events) / 2
    high = chi2.ppf(0.975, 2 * events + 2) / 2
    scale = 100 / months
    return ExposureAdjustedRate(events, round(months, 1), round(events * scale, 2), round(low * scale, 2),
                                round(high * scale, 2))


def median_follow_up_days(followed: pd.DataFrame) -> float | None:
    """Median days of follow-up (treatment start to its end) over the exposed patients."""
    exposed = followed[followed["exposed"].astype(bool)]
    return None if exposed.empty else float(exposed["follow_up_days"].median())
