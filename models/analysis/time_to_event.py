"""Time to the first treatment-emergent event: Kaplan-Meier cumulative incidence, exposure-adjusted rates
and follow-up (DESIGN.md: censored at the analysis date, death, or 30 days after discontinuation)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from scipy.stats import chi2

from models.clinical.definitions import FOLLOW_UP_AFTER_STOP_DAYS

DAYS_PER_MONTH = 365.25 / 12
Z_95 = 1.959963984540054


def first_discontinuations(doses: pd.DataFrame, as_of: date) -> pd.Series:
    """Per patient id: the first discontinuation on or before the analysis date."""
    return doses[(doses["action"] == "discontinue") & (doses["effective_date"] <= as_of)] \
        .groupby("patient_id")["effective_date"].min()


def observation_end(patients: pd.DataFrame, events: pd.DataFrame, doses: pd.DataFrame, as_of: date) -> pd.Series:
    """Per exposed patient id: the last day observed (analysis date, death, or stop + 30 days)."""
    deaths = events[events["death_date"].notna()].groupby("patient_id")["death_date"].min() \
        if "death_date" in events.columns else pd.Series(dtype=object)
    return observation_end_from(patients, first_discontinuations(doses, as_of), deaths, as_of)


def observation_end_from(patients: pd.DataFrame, stops: pd.Series, deaths: pd.Series, as_of: date) -> pd.Series:
    exposed = patients[patients["treatment_start"] <= as_of]["id"].astype(int)
    ends = pd.Series([as_of] * len(exposed), index=exposed.values, dtype=object)
    stop_limit = exposed.map(stops).map(
        lambda stop: stop + timedelta(days=FOLLOW_UP_AFTER_STOP_DAYS) if isinstance(stop, date) else as_of)
    death_limit = exposed.map(deaths).map(lambda death: death if isinstance(death, date) and death <= as_of
                                          else as_of)
    for limit in (stop_limit, death_limit):
        values = pd.Series(limit.values, index=exposed.values, dtype=object)
        ends = ends.where(ends <= values, values)
    return ends


def first_event_times(emergent: pd.DataFrame, patients: pd.DataFrame, ends: pd.Series, term: str,
                      min_grade: int = 1) -> pd.DataFrame:
    """One row per exposed patient: days from treatment start to the first event of the term (event=True)
    or to the end of observation (event=False)."""
    hits = emergent[(emergent["term"] == term) & (emergent["grade"] >= min_grade)] \
        .groupby("patient_id")["onset_date"].min()
    return event_times_from(hits, patients, ends)


def event_times_from(first_onsets: pd.Series, patients: pd.DataFrame, ends: pd.Series) -> pd.DataFrame:
    """As first_event_times, from each patient's first onset (patient id -> date)."""
    columns = ["patient_id", "days", "event"]
    if ends.empty:
        return pd.DataFrame(columns=columns)
    starts = pd.to_datetime(patients.set_index("id")["treatment_start"].reindex(ends.index))
    end = pd.to_datetime(pd.Series(ends.values, index=ends.index))
    onset = pd.to_datetime(pd.Series(first_onsets, dtype=object).reindex(ends.index))
    event = onset.notna() & (onset <= end)
    days = ((onset.where(event, end)) - starts).dt.days
    days = days.where(event, days.clip(lower=0))
    return pd.DataFrame({"patient_id": ends.index, "days": days.astype(int).values, "event": event.values},
                        columns=columns)


def kaplan_meier(times: pd.DataFrame) -> pd.DataFrame:
    """Cumulative incidence 1 - S(t) at each event day, with a 95% CI (Greenwood, log-log transform).
    Starts at day 0 with 0; censoring at a day is applied after that day's events."""
    columns = ["day", "at_risk", "events", "cumulative_incidence", "ci_low", "ci_high"]
    rows = [{"day": 0, "at_risk": len(times), "events": 0, "cumulative_incidence": 0.0, "ci_low": 0.0,
             "ci_high": 0.0}]
    if times.empty:
        return pd.DataFrame(rows, columns=columns)
    per_day = times.groupby("days")["event"].agg(["size", "sum"]).sort_index()
    # at risk on a day: everyone whose time is that day or later
    at_risk_by_day = per_day["size"][::-1].cumsum()[::-1]
    survival, greenwood = 1.0, 0.0
    for day, deaths, at_risk in zip(per_day.index, per_day["sum"], at_risk_by_day):
        deaths, at_risk = int(deaths), int(at_risk)
        if deaths == 0:
            continue
        survival *= 1 - deaths / at_risk
        if at_risk > deaths:
            greenwood += deaths / (at_risk * (at_risk - deaths))
        low, high = _loglog_interval(survival, greenwood)
        rows.append({"day": int(day), "at_risk": at_risk, "events": deaths,
                     "cumulative_incidence": 1 - survival, "ci_low": 1 - high, "ci_high": 1 - low})
    return pd.DataFrame(rows, columns=columns)


def _loglog_interval(survival: float, greenwood: float) -> tuple[float, float]:
    if survival <= 0:
        return 0.0, 0.0
    if survival >= 1 or greenwood == 0:
        return survival, survival
    log_s = math.log(survival)
    half_width = Z_95 * math.sqrt(greenwood) / abs(log_s)
    return survival ** math.exp(half_width), survival ** math.exp(-half_width)


def incidence_at(curve: pd.DataFrame, day: float) -> float:
    """The KM cumulative incidence at a day (step function)."""
    return float(curve[curve["day"] <= day]["cumulative_incidence"].iloc[-1])


@dataclass(frozen=True)
class ExposureAdjustedRate:
    first_events: int
    patient_months: float
    per_100_patient_months: float | None
    ci_low: float | None
    ci_high: float | None


def exposure_adjusted_rate(times: pd.DataFrame) -> ExposureAdjustedRate:
    """First events per 100 patient-months at risk, with an exact (Poisson) 95% CI."""
    events = int(times["event"].sum()) if not times.empty else 0
    # A patient is at risk on the day of treatment start too, hence + 1 day of exposure.
    months = float((times["days"] + 1).sum()) / DAYS_PER_MONTH if not times.empty else 0.0
    if months == 0:
        return ExposureAdjustedRate(events, 0.0, None, None, None)
    low = 0.0 if events == 0 else chi2.ppf(0.025, 2 * events) / 2
    high = chi2.ppf(0.975, 2 * events + 2) / 2
    scale = 100 / months
    return ExposureAdjustedRate(events, round(months, 1), round(events * scale, 2), round(low * scale, 2),
                                round(high * scale, 2))


def median_follow_up_days(patients: pd.DataFrame, ends: pd.Series) -> float | None:
    """Median days observed (treatment start to the end of observation) over exposed patients."""
    if ends.empty:
        return None
    starts = pd.to_datetime(patients.set_index("id")["treatment_start"].reindex(ends.index))
    days = (pd.to_datetime(pd.Series(ends.values, index=ends.index)) - starts).dt.days + 1
    return float(days.median())
