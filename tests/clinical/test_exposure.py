"""models.clinical.exposure (DESIGN.md, "Clinical definitions"), on hand-built cohorts: exposure periods and their
last dose day (discontinuation, hold then discontinuation, two holds, a restart, a stop on the start day, records
after the analysis date), the 30-day treatment-emergent window (in_periods() and
incidence.treatment_emergent()), follow-up (the earliest of the analysis date, death and 30 days after the
final last dose day), who is left out and why, dose intensity counted only inside the periods, and the
windowed counts of incidence.CohortOnsets.

Day n means n days after the treatment start (the start is day 0). Frames have the columns models.store.queries
returns, dates as datetime.date objects.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from models.analysis import incidence
from models.clinical import exposure
from models.clinical.dosing import dose_intensity
from models.clinical.exposure import (LEFT_OUT_DIED_ON_START, LEFT_OUT_NO_FOLLOW_UP, LEFT_OUT_NOT_STARTED,
                                      exposure_periods, follow_up, in_periods, left_out)
from tests.support.frames import doses_frame, events_frame, patients_frame

START = date(2025, 1, 1)
AS_OF = date(2025, 12, 31)   # day 364


# ---------------------------------------------------------------- builders

def day(n: int) -> date:
    return START + timedelta(days=n)


def one_patient(*doses: tuple, start: date = START) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patient 1 starting on `start` with a start record at 10 mg, then doses (day, action, mg)."""
    return patients_frame(start), doses_frame((1, start, "start", 10.0),
                                              *[(1, day(n), action, mg) for n, action, mg in doses])


def periods_of(patients, doses, as_of=AS_OF) -> list[tuple]:
    """(patient, period, start, last dose day, counted until) per period."""
    periods = exposure_periods(patients, doses, as_of)
    return [tuple(row) for row in periods[exposure.PERIOD_COLUMNS].itertuples(index=False)]


def counted(patients, doses, onset_days: list[int], as_of=AS_OF, patient_id: int = 1) -> list[bool]:
    """in_periods() for onsets of one patient on the given days."""
    periods = exposure_periods(patients, doses, as_of)
    days = pd.Series([day(n) for n in onset_days], dtype=object)
    return in_periods(pd.Series([patient_id] * len(days)), days, periods).tolist()


def emergent_days(patients, doses, onset_days: list[int], as_of=AS_OF) -> list[int]:
    """The onset days of patient 1 that incidence.treatment_emergent() keeps."""
    events = events_frame(*[(1, "Mucositis oral", 1, day(n)) for n in onset_days])
    kept = incidence.treatment_emergent(events, patients, doses, as_of)
    return [(onset - START).days for onset in kept["onset_date"]]


def followed_of(patients, doses, deaths: dict | None = None, as_of=AS_OF) -> pd.DataFrame:
    periods = exposure_periods(patients, doses, as_of)
    return follow_up(patients, periods, pd.Series(deaths or {}, dtype=object), as_of)


# ---------------------------------------------------------------- periods and the treatment-emergent window

def test_one_open_period_runs_to_the_analysis_date():
    patients, doses = one_patient((10, "reduce", 5.0), (50, "hold", 0.0), (60, "resume", 5.0))
    assert periods_of(patients, doses) == [(1, 1, START, None, AS_OF)]
    # Without any dose record: the same single open period.
    assert periods_of(patients, doses_frame()) == [(1, 1, START, None, AS_OF)]
    assert counted(patients, doses, [-1, 0, 55, 364, 365]) == [False, True, True, True, False]
    periods = exposure_periods(patients, doses, AS_OF)
    missing = in_periods(pd.Series([1]), pd.Series([None], dtype=object), periods)
    assert missing.tolist() == [False]
    followed = followed_of(patients, doses)
    assert followed.loc[1, ["follow_up_end", "follow_up_days", "exposed"]].tolist() == [AS_OF, 364, True]
    assert followed.loc[1, "died_on"] is None


def test_a_discontinuation_ends_the_period_the_day_before():
    # Discontinued on day 40: last dose day 39; onsets count to day 69 (30 days after, inclusive).
    patients, doses = one_patient((40, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(39), day(69))]
    assert counted(patients, doses, [39, 40, 69, 70]) == [True, True, True, False]
    assert emergent_days(patients, doses, [39, 69, 70, 100]) == [39, 69]
    followed = followed_of(patients, doses)
    assert followed.loc[1, ["follow_up_end", "follow_up_days", "exposed"]].tolist() == [day(69), 69, True]


def test_hold_then_discontinue_ends_the_period_the_day_before_the_hold():
    # Held on day 20, discontinued on day 60: the last dose was on day 19, so onsets count to day 49; a day-85
    # onset (within 30 days of the discontinuation itself) is not counted.
    patients, doses = one_patient((20, "hold", 0.0), (60, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(19), day(49))]
    assert counted(patients, doses, [19, 49, 50, 85]) == [True, True, False, False]
    assert emergent_days(patients, doses, [30, 49, 50, 85]) == [30, 49]
    assert followed_of(patients, doses).loc[1, "follow_up_end"] == day(49)


def test_two_holds_in_a_row_then_discontinue_count_from_the_first_hold():
    patients, doses = one_patient((20, "hold", 0.0), (35, "hold", 0.0), (60, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(19), day(49))]
    assert counted(patients, doses, [49, 50, 64]) == [True, False, False]
    # A resume between the holds ends the first: the last dose day is then the day before the second hold.
    patients, doses = one_patient((20, "hold", 0.0), (28, "resume", 5.0), (35, "hold", 0.0),
                                  (60, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(34), day(64))]
    assert counted(patients, doses, [64, 65]) == [True, False]


def test_a_restart_after_a_discontinuation_opens_a_second_period():
    # Discontinued on day 30 (last dose day 29, counted to day 59), resumed on day 100: a second, open period.
    patients, doses = one_patient((30, "discontinue", 0.0), (100, "resume", 5.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(29), day(59)), (1, 2, day(100), None, AS_OF)]
    # Day 59: 30 days after the first period; 60 and 99: in the gap, more than 30 days after it; 100 and 200: in
    # the restart period.
    assert counted(patients, doses, [59, 60, 99, 100, 200]) == [True, False, False, True, True]
    assert emergent_days(patients, doses, [60, 99, 100, 200]) == [100, 200]
    # Follow-up runs to the end of the final period: here the analysis date.
    followed = followed_of(patients, doses)
    assert followed.loc[1, ["follow_up_end", "follow_up_days"]].tolist() == [AS_OF, 364]


def test_a_restart_stopped_again_ends_follow_up_30_days_after_its_own_last_dose_day():
    patients, doses = one_patient((30, "discontinue", 0.0), (100, "start", 10.0), (150, "hold", 0.0),
                                  (170, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(29), day(59)), (1, 2, day(100), day(149), day(179))]
    assert counted(patients, doses, [179, 180]) == [True, False]
    assert followed_of(patients, doses).loc[1, ["follow_up_end", "follow_up_days"]].tolist() == [day(179), 179]


def test_records_after_the_analysis_date_are_ignored():
    # A discontinuation after the analysis date: still open as of then.
    patients, doses = one_patient(((AS_OF - START).days + 3, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, None, AS_OF)]
    # The same record as of a later date ends the period (last dose day Jan 2, 2026; counted until the later date).
    later = AS_OF + timedelta(days=10)
    assert periods_of(patients, doses, later) == [(1, 1, START, AS_OF + timedelta(days=2), later)]
    # As of day 50, a discontinuation on day 60 has not happened yet; as of day 70 it has.
    patients, doses = one_patient((60, "discontinue", 0.0))
    assert periods_of(patients, doses, day(50)) == [(1, 1, START, None, day(50))]
    assert periods_of(patients, doses, day(70)) == [(1, 1, START, day(59), day(70))]
    assert counted(patients, doses, [70, 71], as_of=day(70)) == [True, False]
    # A restart after the analysis date does not open a period yet: follow-up ends 30 days after day 29.
    patients, doses = one_patient((30, "discontinue", 0.0), (365, "resume", 10.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(29), day(59))]
    assert followed_of(patients, doses).loc[1, "follow_up_end"] == day(59)


def test_a_discontinuation_on_the_start_day():
    # The day before the discontinuation is the day before the start: no day in the period, and onsets count for
    # the 30 days after that last dose day, i.e. from the start (day 0) to day 29.
    patients, doses = one_patient((0, "discontinue", 0.0))
    assert periods_of(patients, doses) == [(1, 1, START, day(-1), day(29))]
    assert counted(patients, doses, [-1, 0, 29, 30]) == [False, True, True, False]
    followed = followed_of(patients, doses)
    assert followed.loc[1, ["follow_up_end", "follow_up_days", "exposed"]].tolist() == [day(29), 29, True]


def test_patients_starting_after_the_analysis_date_have_no_period():
    patients = patients_frame(START, AS_OF, AS_OF + timedelta(days=1))
    periods = exposure_periods(patients, doses_frame(), AS_OF)
    assert list(periods["patient_id"]) == [1, 2]
    assert periods.loc[periods["patient_id"] == 2, ["start", "counted_until"]].values.tolist() == [[AS_OF, AS_OF]]


# ---------------------------------------------------------------- follow-up and who is left out

def test_follow_up_ends_at_the_earliest_of_analysis_date_death_and_30_days_after_the_final_last_dose_day():
    patients = patients_frame(*[START] * 8, AS_OF, AS_OF + timedelta(days=1), day(100))
    doses = doses_frame(
        (2, day(100), "discontinue", 0.0),                          # 2: last dose day 99 -> day 129
        (3, AS_OF - timedelta(days=10), "discontinue", 0.0),        # 3: + 30 days is after the analysis date
        (5, day(100), "discontinue", 0.0),                          # 5: and died on day 120
        (6, day(100), "discontinue", 0.0),                          # 6: and died on day 140, after follow-up
        (8, AS_OF - timedelta(days=29), "discontinue", 0.0),        # 8: last dose day + 30 = the analysis date
    )
    deaths = {4: day(50), 5: day(120), 6: day(140), 7: AS_OF + timedelta(days=5), 11: day(100)}
    followed = followed_of(patients, doses, deaths)
    assert list(followed.columns) == exposure.FOLLOW_UP_COLUMNS
    assert list(followed.index) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11], "10 starts after the analysis date"
    table = {pid: (row.follow_up_end, row.follow_up_days, row.died_on, bool(row.exposed))
             for pid, row in followed.iterrows()}
    assert table == {
        1: (AS_OF, 364, None, True),
        2: (day(129), 129, None, True),
        3: (AS_OF, 364, None, True),
        4: (day(50), 50, day(50), True),
        5: (day(120), 120, day(120), True),
        6: (day(129), 129, None, True),        # died after follow-up ended: not a death within it
        7: (AS_OF, 364, None, True),           # death after the analysis date: not known then
        8: (AS_OF, 364, None, True),
        9: (AS_OF, 0, None, False),            # starts on the analysis date: no day of follow-up yet
        11: (day(100), 0, day(100), False),    # died on the day of the start
    }
    assert left_out(patients, followed, AS_OF) == {LEFT_OUT_NOT_STARTED: 1, LEFT_OUT_NO_FOLLOW_UP: 1,
                                                   LEFT_OUT_DIED_ON_START: 1}


def test_a_patient_starting_on_the_analysis_date_is_not_exposed_and_left_out_says_why():
    patients = patients_frame(AS_OF)
    followed = followed_of(patients, doses_frame((1, AS_OF, "start", 10.0)))
    assert followed.loc[1, ["follow_up_days", "exposed"]].tolist() == [0, False]
    assert left_out(patients, followed, AS_OF) == {LEFT_OUT_NO_FOLLOW_UP: 1}
    assert LEFT_OUT_NO_FOLLOW_UP == "started on the analysis date (no day of follow-up yet)"
    # A day later they are exposed with one day of follow-up, and nobody is left out.
    later = followed_of(patients, doses_frame((1, AS_OF, "start", 10.0)), as_of=AS_OF + timedelta(days=1))
    assert later.loc[1, ["follow_up_days", "exposed"]].tolist() == [1, True]
    assert left_out(patients, later, AS_OF + timedelta(days=1)) == {}


def test_a_patient_starting_after_the_analysis_date_is_left_out_as_not_started():
    patients = patients_frame(START, AS_OF + timedelta(days=1), AS_OF + timedelta(days=30))
    followed = followed_of(patients, doses_frame())
    assert list(followed.index) == [1]
    assert left_out(patients, followed, AS_OF) == {LEFT_OUT_NOT_STARTED: 2}


def test_death_on_the_start_day():
    patients = patients_frame(START, START)
    followed = followed_of(patients, doses_frame(), {1: START, 2: day(1)})
    assert followed.loc[1, ["follow_up_end", "follow_up_days", "died_on", "exposed"]].tolist() == \
        [START, 0, START, False]
    assert followed.loc[2, ["follow_up_end", "follow_up_days", "died_on", "exposed"]].tolist() == \
        [day(1), 1, day(1), True]
    assert left_out(patients, followed, AS_OF) == {LEFT_OUT_DIED_ON_START: 1}


def test_death_dates_as_timestamps_are_read_as_dates():
    # queries.death_dates() parses its dates; follow_up() takes them as Timestamps too.
    patients = patients_frame(START)
    followed = followed_of(patients, doses_frame(), {1: pd.Timestamp(day(50))})
    assert followed.loc[1, ["follow_up_end", "follow_up_days", "died_on"]].tolist() == [day(50), 50, day(50)]


# ---------------------------------------------------------------- dose intensity inside the periods

def intensity_of(patients, doses, as_of=AS_OF) -> dict:
    row = dose_intensity(patients, doses, as_of).set_index("patient_id").loc[1]
    return {"days": int(row["days_in_period"]), "mg": float(row["mg_taken"]),
            "rdi": row["relative_dose_intensity_pct"]}


def test_dose_intensity_after_a_hold_then_discontinuation_stops_at_the_last_dose_day():
    # 10 mg on days 0-9, 5 mg on days 10-19, held from day 20, discontinued on day 60. Last dose day 19:
    # 20 days on treatment, 10*10 + 5*10 = 150 mg of a planned 10*20 = 200 mg: RDI 75%.
    # (Counting the held days to the discontinuation would give 150 / 600 = 25%.)
    patients, doses = one_patient((10, "reduce", 5.0), (20, "hold", 0.0), (60, "discontinue", 0.0))
    assert intensity_of(patients, doses) == {"days": 20, "mg": 150.0, "rdi": 75.0}


def test_dose_intensity_over_a_restart_leaves_out_the_gap():
    # 10 mg on days 0-29, discontinued on day 30 (last dose day 29): 30 days, 300 mg. Resumed at 5 mg on day 100,
    # as of day 139: days 100-139, 40 days (the analysis date counts), 200 mg. The gap (days 30-99) is not on
    # treatment: RDI = (300 + 200) / (10 * (30 + 40)) = 500 / 700 = 71.4%.
    patients, doses = one_patient((30, "discontinue", 0.0), (100, "resume", 5.0))
    assert intensity_of(patients, doses, day(139)) == {"days": 70, "mg": 500.0, "rdi": round(100 * 500 / 700, 1)}
    assert round(100 * 500 / 700, 1) == 71.4


def test_dose_intensity_of_a_discontinuation_on_the_start_day_is_undefined():
    patients, doses = one_patient((0, "discontinue", 0.0))
    assert intensity_of(patients, doses) == {"days": 0, "mg": 0.0, "rdi": None}


# ---------------------------------------------------------------- CohortOnsets with a time window

def test_windowed_count_takes_onsets_within_56_days_among_those_followed_56_days_or_with_the_event():
    # Follow-up lengths come from the start date (analysis date AS_OF) or a discontinuation:
    #   1: followed 100 days, onset day 10          -> k and n
    #   2: followed 100 days, onset day 56          -> k and n (within 56 days, inclusive)
    #   3: followed 100 days, onset day 57          -> n only
    #   4: followed 30 days, no event               -> neither
    #   5: discontinued day 10 (last dose day 9, followed 39 days), onset day 20 -> k and n
    #   6: followed exactly 56 days, no event       -> n
    #   7: followed 55 days, no event               -> neither
    #   8: followed 100 days, grade 1 on day 5, grade 3 on day 60 -> k and n at any grade; n only at grade >= 3
    def started(days_before: int) -> date:
        return AS_OF - timedelta(days=days_before)

    patients = patients_frame(started(100), started(100), started(100), started(30), started(200), started(56),
                              started(55), started(100))
    onset = {pid: patients.loc[pid - 1, "treatment_start"] for pid in range(1, 9)}
    events = events_frame((1, "Mucositis oral", 2, onset[1] + timedelta(days=10)),
                          (2, "Mucositis oral", 1, onset[2] + timedelta(days=56)),
                          (3, "Mucositis oral", 3, onset[3] + timedelta(days=57)),
                          (5, "Mucositis oral", 3, onset[5] + timedelta(days=20)),
                          (8, "Mucositis oral", 1, onset[8] + timedelta(days=5)),
                          (8, "Mucositis oral", 3, onset[8] + timedelta(days=60)),
                          (4, "Pneumonitis", 1, onset[4] + timedelta(days=3)))
    doses = doses_frame((5, onset[5] + timedelta(days=10), "discontinue", 0.0))
    periods = exposure_periods(patients, doses, AS_OF)
    followed = follow_up(patients, periods, pd.Series(dtype=object), AS_OF)
    assert followed["follow_up_days"].tolist() == [100, 100, 100, 30, 39, 56, 55, 100]
    onsets = incidence.CohortOnsets(incidence.onsets_from_events(events, patients, periods), followed)
    assert onsets.exposed == 8
    assert onsets.count("Mucositis oral", 1) == (5, 8)          # 1, 2, 3, 5, 8 of everyone exposed
    assert onsets.count("Mucositis oral", 1, window_days=56) == (4, 6)   # k: 1, 2, 5, 8; n: 1, 2, 3, 5, 6, 8
    assert onsets.count("Mucositis oral", 3, window_days=56) == (1, 6)   # k: 5 (day 20); n: 1, 2, 3, 5, 6, 8
    assert onsets.count("Mucositis oral", 3) == (3, 8)          # 3, 5, 8
    # Patient 4, followed only 30 days, has pneumonitis on day 3: in k, and so in n: n = 1, 2, 3, 4, 6, 8.
    assert onsets.count("Pneumonitis", 1, window_days=56) == (1, 6)


@pytest.mark.parametrize("window,expected", [(30, (1, 7)), (31, (1, 6))])
def test_windowed_count_at_the_follow_up_boundary(window, expected):
    # Two patients: 1 followed 30 days without an event, 2 followed 100 days with an onset on day 3;
    # plus five more followed 100 days without the event. With W = 30 patient 1 reaches it, with W = 31 not.
    patients = patients_frame(AS_OF - timedelta(days=30), *[AS_OF - timedelta(days=100)] * 6)
    events = events_frame((2, "Fatigue", 1, AS_OF - timedelta(days=97)))
    periods = exposure_periods(patients, doses_frame(), AS_OF)
    followed = follow_up(patients, periods, pd.Series(dtype=object), AS_OF)
    onsets = incidence.CohortOnsets(incidence.onsets_from_events(events, patients, periods), followed)
    assert onsets.count("Fatigue", 1, window_days=window) == expected
