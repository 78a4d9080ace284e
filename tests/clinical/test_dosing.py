"""models.clinical.dosing: dose segments and relative dose intensity (RDI), each expected figure worked out by hand.

RDI (DESIGN.md) = mg actually taken / (planned mg/day x days from treatment start to the earlier of
discontinuation and the analysis date). The period is [start, end): a discontinuation date is the first day
without drug; the analysis date itself is a day on treatment. So with START = 2025-01-01 and
AS_OF = 2025-01-30 the period is Jan 1..Jan 30 = 30 days, and at 10 mg planned 300 mg.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

from models.clinical import dosing
from tests.support.frames import PATIENT_COLUMNS, doses_frame

START = date(2025, 1, 1)
AS_OF = date(2025, 1, 30)

RESULT_COLUMNS = ["patient_id", "mrn", "planned_dose_mg", "current_dose_mg", "days_in_period", "mg_taken",
                  "relative_dose_intensity_pct", "days_held", "reductions", "discontinued_on", "treatment_status"]


def jan(day: int) -> date:
    return date(2025, 1, day)


def patients_frame(*patients: tuple) -> pd.DataFrame:
    """patients: (id, treatment_start[, planned_dose_mg]) (shape of models.store.queries.patients())."""
    rows = [{"id": p[0], "mrn": f"MRN{p[0]:03d}", "name": f"Patient {p[0]}", "birth_date": date(1960, 1, 1),
             "treatment_start": p[1], "planned_dose_mg": p[2] if len(p) > 2 else 10.0, "status": "on_treatment"} for p in patients]
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


def one(*doses: tuple, start: date = START, planned: float = 10.0, as_of: date = AS_OF) -> dict:
    """The single result row of patient 1 with the given dose events."""
    result = dosing.dose_intensity(patients_frame((1, start, planned)), doses_frame(*doses), as_of)
    assert list(result.columns) == RESULT_COLUMNS
    assert len(result) == 1
    return result.iloc[0].to_dict()


# ---------------------------------------------------------------- RDI

def test_no_changes_is_100_percent():
    # 10 mg x 30 days = 300 mg taken / 300 mg planned = 100%
    row = one((1, START, "start", 10.0))
    assert row["days_in_period"] == 30
    assert row["mg_taken"] == 300
    assert row["relative_dose_intensity_pct"] == 100.0
    assert row["days_held"] == 0 and row["reductions"] == 0
    assert row["current_dose_mg"] == 10.0 and row["discontinued_on"] is None


def test_seven_day_hold():
    # Held Jan 11 (first day off) .. resumed Jan 18 (first day back): off Jan 11-17 = 7 days.
    # Taken: Jan 1-10 (10 d) + Jan 18-30 (13 d) = 23 d x 10 mg = 230 mg; 230 / 300 = 76.67% -> 76.7
    row = one((1, START, "start", 10.0), (1, jan(11), "hold", 0.0), (1, jan(18), "resume", 10.0))
    assert row["days_held"] == 7
    assert row["mg_taken"] == 230
    assert row["relative_dose_intensity_pct"] == 76.7
    assert row["reductions"] == 0 and row["current_dose_mg"] == 10.0


def test_reduction_from_10_to_5_half_way_is_75_percent():
    # Jan 1-15: 15 d x 10 mg = 150 mg; Jan 16-30: 15 d x 5 mg = 75 mg; 225 / 300 = 75%
    row = one((1, START, "start", 10.0), (1, jan(16), "reduce", 5.0))
    assert row["mg_taken"] == 225
    assert row["relative_dose_intensity_pct"] == 75.0
    assert row["reductions"] == 1 and row["current_dose_mg"] == 5.0 and row["days_held"] == 0


def test_discontinuation_ends_the_period():
    # Stopped Jan 21 (first day without drug), analysis date Mar 1. Period Jan 1..Jan 20 = 20 days,
    # planned 200 mg; taken 20 x 10 = 200 mg -> 100% (the weeks after stopping are not "missed" doses).
    row = one((1, START, "start", 10.0), (1, jan(21), "discontinue", 0.0), as_of=date(2025, 3, 1))
    assert row["days_in_period"] == 20
    assert row["mg_taken"] == 200
    assert row["relative_dose_intensity_pct"] == 100.0
    assert row["discontinued_on"] == jan(21)
    assert row["days_held"] == 0  # being off drug after discontinuation is not a hold
    assert row["current_dose_mg"] == 0.0  # a discontinued patient takes nothing now


def test_a_restart_after_a_discontinuation_opens_a_second_period():
    # Stopped Jan 11 (first day off), started again Jan 21. Periods Jan 1..10 and Jan 21..30 = 20 days, 200 mg
    # planned (the days between a stop and a restart are not days on treatment); taken 100 + 100 mg -> 100%.
    # On drug now, so not discontinued.
    row = one((1, START, "start", 10.0), (1, jan(11), "discontinue", 0.0), (1, jan(21), "start", 10.0))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (20, 200, 100.0)
    assert row["current_dose_mg"] == 10.0 and row["discontinued_on"] is None
    assert row["days_held"] == 0  # the gap after a discontinuation is not a hold


def test_a_second_discontinuation_after_a_restart_ends_the_period():
    # As above, stopped again Jan 26: periods Jan 1..10 and Jan 21..25 = 15 days, 150 mg planned; taken
    # 100 + 50 mg = 150 mg -> 100%.
    row = one((1, START, "start", 10.0), (1, jan(11), "discontinue", 0.0), (1, jan(21), "start", 10.0),
              (1, jan(26), "discontinue", 0.0))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (15, 150, 100.0)
    assert row["current_dose_mg"] == 0.0 and row["discontinued_on"] == jan(26)


def test_discontinuation_after_a_reduction():
    # Jan 1-10: 10 x 10 = 100; Jan 11-20: 10 x 5 = 50; stopped Jan 21. 150 / (10 mg x 20 d) = 75%
    row = one((1, START, "start", 10.0), (1, jan(11), "reduce", 5.0), (1, jan(21), "discontinue", 0.0),
              as_of=date(2025, 6, 30))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (20, 150, 75.0)
    assert row["reductions"] == 1 and row["current_dose_mg"] == 0.0


def test_discontinuation_on_the_analysis_date():
    # Stop dated Jan 30 = analysis date: Jan 30 is the first day without drug -> period Jan 1..29 = 29 days.
    row = one((1, START, "start", 10.0), (1, AS_OF, "discontinue", 0.0))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (29, 290, 100.0)
    assert row["discontinued_on"] == AS_OF


def test_every_other_day_from_start():
    # 10 mg every other day for 30 days = 15 doses x 10 mg = 150 mg; 150 / 300 = 50%
    row = one((1, START, "start", 10.0, True))
    assert row["mg_taken"] == 150
    assert row["relative_dose_intensity_pct"] == 50.0
    assert row["current_dose_mg"] == 10.0  # the prescribed daily dose, on its dosing days


def test_reduction_to_5_mg_every_other_day():
    # Jan 1-10: 10 d x 10 mg = 100 mg; Jan 11-30: 20 d at 5 mg every other day = 10 doses x 5 = 50 mg.
    # 150 / 300 = 50%
    row = one((1, START, "start", 10.0), (1, jan(11), "reduce", 5.0, True))
    assert row["mg_taken"] == 150
    assert row["relative_dose_intensity_pct"] == 50.0
    assert row["reductions"] == 1 and row["current_dose_mg"] == 5.0


def test_dose_events_after_the_analysis_date_are_ignored():
    # A hold on Feb 5 and a reduction on Feb 15 are after the analysis date (Jan 30): as of Jan 30 the
    # patient took 10 mg every day -> 300 / 300 = 100%, no hold, no reduction, 10 mg now.
    row = one((1, START, "start", 10.0), (1, date(2025, 2, 5), "hold", 0.0),
              (1, date(2025, 2, 15), "reduce", 5.0), (1, date(2025, 3, 1), "discontinue", 0.0))
    assert row["mg_taken"] == 300
    assert row["relative_dose_intensity_pct"] == 100.0
    assert row["days_held"] == 0
    assert row["reductions"] == 0
    assert row["current_dose_mg"] == 10.0
    assert row["discontinued_on"] is None


def test_dose_event_on_the_analysis_date_counts():
    # Reduction dated Jan 30 (the analysis date): Jan 1-29 = 290 mg + Jan 30 at 5 mg = 295; 295/300 = 98.3%
    row = one((1, START, "start", 10.0), (1, AS_OF, "reduce", 5.0))
    assert row["mg_taken"] == 295
    assert row["relative_dose_intensity_pct"] == 98.3
    assert row["reductions"] == 1 and row["current_dose_mg"] == 5.0


def test_planned_dose_5_mg():
    # Planned 5 mg/day: denominator 5 x 30 = 150 mg. Taking 5 mg daily -> 150 mg -> 100%.
    row = one((1, START, "start", 5.0), planned=5.0)
    assert row["planned_dose_mg"] == 5.0
    assert (row["mg_taken"], row["relative_dose_intensity_pct"]) == (150, 100.0)
    # Same plan, escalated to 10 mg on Jan 16: 15 x 5 + 15 x 10 = 225 mg; 225 / 150 = 150%.
    row = one((1, START, "start", 5.0), (1, jan(16), "escalate", 10.0), planned=5.0)
    assert (row["mg_taken"], row["relative_dose_intensity_pct"]) == (225, 150.0)
    assert row["reductions"] == 0 and row["current_dose_mg"] == 10.0


def test_holds_and_reductions_counted():
    # Jan 1-5   10 mg    5 d = 50 mg
    # Jan 6-8   hold     3 d
    # Jan 9-15  5 mg     7 d = 35 mg   (resumed at a reduced dose: a reduction)
    # Jan 16-17 hold     2 d
    # Jan 18-30 2.5 mg  13 d = 32.5 mg (a second reduction)
    # taken 117.5 mg / 300 = 39.17% -> 39.2; held 3 + 2 = 5 days; 2 reductions; 2.5 mg now
    row = one((1, START, "start", 10.0), (1, jan(6), "hold", 0.0), (1, jan(9), "reduce", 5.0),
              (1, jan(16), "hold", 0.0), (1, jan(18), "reduce", 2.5))
    assert row["mg_taken"] == 117.5
    assert row["relative_dose_intensity_pct"] == 39.2
    assert row["days_held"] == 5
    assert row["reductions"] == 2
    assert row["current_dose_mg"] == 2.5


def test_hold_running_on_the_analysis_date():
    # Held from Jan 26: held Jan 26-30 = 5 days (the analysis date counts); taken 25 x 10 = 250 -> 83.3%
    row = one((1, START, "start", 10.0), (1, jan(26), "hold", 0.0))
    assert row["days_held"] == 5
    assert (row["mg_taken"], row["relative_dose_intensity_pct"]) == (250, 83.3)
    assert row["current_dose_mg"] == 0.0


def test_a_hold_that_ends_in_a_discontinuation_ends_the_period_at_the_last_dose():
    # Hold Jan 11, discontinued Jan 21, analysis Feb 28. The last dose was taken Jan 10, so the period is
    # Jan 1..10 = 10 d (100 mg planned); taken 100 mg -> 100%; the hold that led to the stop is outside it.
    row = one((1, START, "start", 10.0), (1, jan(11), "hold", 0.0), (1, jan(21), "discontinue", 0.0),
              as_of=date(2025, 2, 28))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (10, 100, 100.0)
    assert row["days_held"] == 0


def test_a_hold_that_ends_in_a_resume_stays_in_the_period():
    # Hold Jan 11, resumed Jan 21 at 10 mg, analysis Jan 30: period Jan 1..30 = 30 d; taken 200 mg -> 66.7%.
    row = one((1, START, "start", 10.0), (1, jan(11), "hold", 0.0), (1, jan(21), "resume", 10.0))
    assert (row["days_in_period"], row["mg_taken"], row["relative_dose_intensity_pct"]) == (30, 200, 66.7)
    assert row["days_held"] == 10


def test_patient_starting_after_the_analysis_date_is_excluded():
    patients = patients_frame((1, START), (2, AS_OF), (3, date(2025, 1, 31)))
    doses = doses_frame((1, START, "start", 10.0), (2, AS_OF, "start", 10.0), (3, date(2025, 1, 31), "start", 10.0))
    result = dosing.dose_intensity(patients, doses, AS_OF)
    assert list(result["patient_id"]) == [1, 2]
    # patient 2 started on the analysis date: 1 day, 10 mg, 100%
    second = result[result["patient_id"] == 2].iloc[0]
    assert (second["days_in_period"], second["mg_taken"], second["relative_dose_intensity_pct"]) == (1, 10, 100)


def test_nobody_exposed_gives_an_empty_frame_with_the_columns():
    result = dosing.dose_intensity(patients_frame((1, date(2025, 2, 1))), doses_frame(), AS_OF)
    assert result.empty and list(result.columns) == RESULT_COLUMNS


def test_patients_do_not_share_dose_events():
    # Patient 1: 10 mg throughout (100%); patient 2: reduced to 5 mg on Jan 16 (75%).
    patients = patients_frame((1, START), (2, START))
    doses = doses_frame((1, START, "start", 10.0), (2, START, "start", 10.0), (2, jan(16), "reduce", 5.0))
    result = dosing.dose_intensity(patients, doses, AS_OF).set_index("patient_id")
    assert result.loc[1, "relative_dose_intensity_pct"] == 100.0 and result.loc[1, "reductions"] == 0
    assert result.loc[2, "relative_dose_intensity_pct"] == 75.0 and result.loc[2, "reductions"] == 1


# ---------------------------------------------------------------- segments and discontinuation date

def test_dose_segments_of_a_hold():
    history = doses_frame((1, START, "start", 10.0), (1, jan(11), "hold", 0.0), (1, jan(18), "resume", 10.0))
    segments = dosing.dose_segments(history, START, AS_OF)
    assert [(s.start, s.end, s.dose_mg, s.action) for s in segments] == [
        (START, jan(11), 10.0, "start"), (jan(11), jan(18), 0.0, "hold"), (jan(18), jan(31), 10.0, "resume")]
    assert [s.days for s in segments] == [10, 7, 13]  # 30 days in all, Jan 1..Jan 30
    assert [s.mg_taken for s in segments] == [100, 0, 130]


def test_every_other_day_segment_halves_the_mg():
    segment = dosing.DoseSegment(START, jan(21), 5.0, True, "reduce")
    assert segment.days == 20 and segment.mg_taken == 50  # 10 doses x 5 mg


def test_status_and_days_on_treatment_follow_the_dose_records():
    """Issue 16.4: a discontinuation makes the patient discontinued and stops the count of days; a hold makes
    them held; a patient without dose records keeps the status entered; not started yet: 0 days."""
    from models.clinical.dosing import dose_intensity, treatment_state
    from tests.support.frames import DOSE_COLUMNS, PATIENT_COLUMNS

    patients = pd.DataFrame([
        {"id": i, "mrn": f"P{i}", "name": "x", "birth_date": None, "treatment_start": jan(1), "planned_dose_mg": 10.0,
         "status": "on_treatment"} for i in (1, 2, 3, 4)], columns=PATIENT_COLUMNS)
    patients.loc[patients["id"] == 4, ["treatment_start", "status"]] = [jan(31), "held"]
    doses = pd.DataFrame([
        {"id": 1, "patient_id": 1, "mrn": "P1", "effective_date": jan(1), "action": "start", "dose_mg": 10.0},
        {"id": 2, "patient_id": 1, "mrn": "P1", "effective_date": jan(16), "action": "discontinue", "dose_mg": 0.0},
        {"id": 3, "patient_id": 2, "mrn": "P2", "effective_date": jan(1), "action": "start", "dose_mg": 10.0},
        {"id": 4, "patient_id": 2, "mrn": "P2", "effective_date": jan(20), "action": "hold", "dose_mg": 0.0},
    ], columns=DOSE_COLUMNS).assign(every_other_day=False)
    state = treatment_state(patients, dose_intensity(patients, doses, AS_OF))
    assert state.loc[1].to_dict() == {"status": "discontinued", "days_on_treatment": 15}
    assert state.loc[2].to_dict() == {"status": "held", "days_on_treatment": 30}
    assert state.loc[3].to_dict() == {"status": "on_treatment", "days_on_treatment": 30}  # no dose record
    assert state.loc[4].to_dict() == {"status": "held", "days_on_treatment": 0}  # starts tomorrow: as entered
