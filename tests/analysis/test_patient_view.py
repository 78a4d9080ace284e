"""The oncologist's review read models on SQLite and PostgreSQL: one patient's course
(models.analysis.patient_view.patient_course) and the roster with its flags (models.analysis.roster.roster).

Every record goes through models.store.records, as the app writes it. Expected figures are worked out by hand.
Day on treatment: START = day 1, so with START = 2026-01-01 and AS_OF = 2026-04-10 today is day 100 and an
open record (or the current dose) runs to day 101, the start of tomorrow.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from models.analysis import patient_view, roster
from models.store import records
from models.store.records import Actor

NURSE = Actor("nurse", "nurse")
PHARMACIST = Actor("pharmacist", "pharmacist")
ADMIN = Actor("admin", "admin")

START = date(2026, 1, 1)
AS_OF = date(2026, 4, 10)  # day 100


def day(n: int) -> date:
    """The date of day n on treatment (day 1 = START; day 0 = the day before)."""
    return START + timedelta(days=n - 1)


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


# --- writing records as the app does ----------------------------------------------------------------------

def patient(url: str, mrn: str, start: date = START, **values) -> dict:
    return records.create("patient", {"mrn": mrn, "name": f"Patient {mrn}", "birth_date": date(1958, 5, 5),
                                      "treatment_start": start, **values}, NURSE, today=AS_OF, url=url)


def event(url: str, pid: int, term: str, grade: int, onset: date, resolved: date | None = None,
          **values) -> dict:
    return records.create("adverse_event", {"patient_id": pid, "term": term, "grade": grade, "onset_date": onset,
                                            "resolved_date": resolved, **values}, NURSE, today=AS_OF, url=url)


def dose(url: str, pid: int, when: date, action: str, mg: float, **values) -> dict:
    return records.create("dose_event", {"patient_id": pid, "effective_date": when, "action": action,
                                         "dose_mg": mg, **values}, PHARMACIST, today=AS_OF, url=url)


def lab(url: str, pid: int, test: str, value: float, when: date, *, today: date = AS_OF, **limits) -> dict:
    units = {"hemoglobin": "g/dL", "ast": "U/L", "alt": "U/L"}
    return records.create("lab_result", {"patient_id": pid, "test": test, "value": value, "unit": units[test],
                                         "collected_on": when, **limits}, NURSE, today=today, url=url)


def hemoglobin(url: str, pid: int, value: float, when: date, **kw) -> dict:
    return lab(url, pid, "hemoglobin", value, when, lln=12.0, uln=16.0, **kw)


# --- one patient's course ---------------------------------------------------------------------------------

@pytest.fixture
def course_patient(db_url):
    """A patient with every kind of record (see the expected figures in the tests)."""
    pid = patient(db_url, "PV-001")["id"]
    # pre-existing fatigue grade 2 (day -11 .. day 10): on the chart, never in "worst grade so far"
    event(db_url, pid, "Fatigue", 2, day(-11), day(10), baseline=True)
    # stomatitis grade 1 from day 15, worse (grade 2) from day 25: the first record ends on day 24
    first = event(db_url, pid, "Mucositis oral", 1, day(15))
    _, second = records.change_grade(first["id"], first["version"], 2, day(25), NURSE, today=AS_OF, url=db_url)
    records.update("adverse_event", second["id"], second["version"], {"resolved_date": day(45)}, NURSE,
                   today=AS_OF, url=db_url)
    pneumonitis = event(db_url, pid, "Pneumonitis", 3, day(39), day(64), serious=True)
    event(db_url, pid, "Fatigue", 1, day(79))  # still open today
    wrong = event(db_url, pid, "Dyspnea", 4, day(50))
    records.mark_entered_in_error("adverse_event", wrong["id"], wrong["version"], "Other patient's record",
                                  NURSE, url=db_url)
    # 10 mg from day 1; held days 41-50 for the pneumonitis; 5 mg from day 51
    dose(db_url, pid, day(1), "start", 10.0)
    dose(db_url, pid, day(41), "hold", 0.0, adverse_event_id=pneumonitis["id"], reason="Pneumonitis grade 3")
    dose(db_url, pid, day(51), "reduce", 5.0, adverse_event_id=pneumonitis["id"])
    # baseline labs (before the first dose), then on treatment
    lab(db_url, pid, "ast", 30.0, day(-2), uln=40.0)
    hemoglobin(db_url, pid, 13.0, day(-2))
    lab(db_url, pid, "ast", 130.0, day(39), uln=40.0)   # 3.25 x ULN: grade 2
    lab(db_url, pid, "alt", 100.0, day(39), uln=40.0)   # 2.5 x ULN: grade 1
    hemoglobin(db_url, pid, 9.5, day(74))               # < 10 g/dL: grade 2
    return db_url, pid


def test_summary_figures_match_the_records(course_patient):
    url, pid = course_patient
    course = patient_view.patient_course(pid, as_of=AS_OF, url=url)
    summary = course.summary
    assert course.as_of == AS_OF and course.patient["mrn"] == "PV-001"
    assert summary["days_on_treatment"] == 100
    assert summary["status"] == "on_treatment" and summary["planned_dose_mg"] == 10.0
    assert summary["current_dose_mg"] == 5.0
    # taken: 40 days x 10 mg + 10 days held + 50 days (day 51..100) x 5 mg = 650 mg of 100 x 10 mg planned
    assert summary["relative_dose_intensity_pct"] == pytest.approx(65.0)
    assert summary["days_held"] == 10
    assert summary["reductions"] == 1
    assert summary["open_events"] == 1  # the fatigue from day 79
    assert summary["serious_events"] == 1
    # treatment-emergent only (the baseline fatigue grade 2 and the entered-in-error dyspnea do not count),
    # in the catalogue's order (BOLERO-2 terms first)
    assert list(summary["worst_grade_by_term"].items()) == [("Mucositis oral", 2), ("Pneumonitis", 3),
                                                            ("Fatigue", 1)]
    assert summary["last_labs"] == [
        {"test": "hemoglobin", "label": "Hemoglobin", "value": 9.5, "unit": "g/dL", "collected_on": day(74),
         "grade": 2},
        {"test": "ast", "label": "AST", "value": 130.0, "unit": "U/L", "collected_on": day(39), "grade": 2},
        {"test": "alt", "label": "ALT", "value": 100.0, "unit": "U/L", "collected_on": day(39), "grade": 1},
    ]


def test_event_bars_run_from_onset_day_to_the_day_after_resolution(course_patient):
    url, pid = course_patient
    events = patient_view.patient_course(pid, as_of=AS_OF, url=url).events
    bars = [(r.term, r.grade, r.start_day, r.end_day, bool(r.open), bool(r.serious), bool(r.baseline))
            for r in events.itertuples()]
    assert bars == [
        ("Fatigue", 2, -11, 11, False, False, True),
        ("Mucositis oral", 1, 15, 25, False, False, False),  # ended by the grade change on day 25
        ("Mucositis oral", 2, 25, 46, False, False, False),
        ("Pneumonitis", 3, 39, 65, False, True, False),
        ("Fatigue", 1, 79, 101, True, False, False),         # open: to today (day 100) + 1
    ]
    assert events.loc[1, "resolved_date"] == day(24)
    assert events.loc[4, "resolved_date"] is None
    assert "Dyspnea" not in set(events["term"])


def test_dose_segments_follow_the_dose_records(course_patient):
    url, pid = course_patient
    course = patient_view.patient_course(pid, as_of=AS_OF, url=url)
    segments = [tuple(row) for row in course.doses[["start_day", "end_day", "start_date", "end_date", "dose_mg",
                                                    "action", "held"]].itertuples(index=False)]
    assert segments == [
        (1, 41, day(1), day(40), 10.0, "start", False),
        (41, 51, day(41), day(50), 0.0, "hold", True),
        (51, 101, day(51), day(100), 5.0, "reduce", False),
    ]
    assert list(course.dose_events["action"]) == ["start", "hold", "reduce"]


def test_labs_are_placed_on_the_day_axis_and_ast_alt_plotted_as_multiples_of_uln(course_patient):
    url, pid = course_patient
    labs = patient_view.patient_course(pid, as_of=AS_OF, url=url).labs
    rows = {(r.test, r.day): r for r in labs.itertuples()}
    assert set(rows) == {("ast", -2), ("hemoglobin", -2), ("ast", 39), ("alt", 39), ("hemoglobin", 74)}
    ast = rows[("ast", 39)]
    assert (ast.value, ast.plotted, ast.plotted_unit, ast.grade, ast.label) == (130.0, 3.25, "x ULN", 2, "AST")
    assert rows[("ast", -2)].plotted == pytest.approx(0.75) and bool(rows[("ast", -2)].baseline)
    assert rows[("alt", 39)].plotted == pytest.approx(2.5) and rows[("alt", 39)].grade == 1
    hgb = rows[("hemoglobin", 74)]
    assert (hgb.plotted, hgb.plotted_unit, hgb.grade, bool(hgb.baseline)) == (9.5, "g/dL", 2, False)
    assert rows[("hemoglobin", -2)].grade == 0 and bool(rows[("hemoglobin", -2)].baseline)


def test_a_patient_with_nothing_recorded(db_url):
    pid = patient(db_url, "PV-EMPTY", start=date(2026, 3, 1))["id"]
    course = patient_view.patient_course(pid, as_of=AS_OF, url=db_url)
    assert course.events.empty and course.doses.empty and course.labs.empty and course.dose_events.empty
    assert "start_day" in course.events.columns and "end_day" in course.doses.columns
    assert "plotted" in course.labs.columns
    assert course.summary == {
        "days_on_treatment": 41,  # 1 March .. 10 April
        "status": "on_treatment", "planned_dose_mg": 10.0,
        # nothing recorded as taken: 0 mg, so 0% of the planned 41 x 10 mg
        "current_dose_mg": 0.0, "relative_dose_intensity_pct": 0.0,
        "days_held": 0, "reductions": 0, "open_events": 0, "serious_events": 0,
        "worst_grade_by_term": {}, "last_labs": [],
    }


def test_a_patient_on_day_one(db_url):
    pid = patient(db_url, "PV-DAY1", start=AS_OF)["id"]
    dose(db_url, pid, AS_OF, "start", 10.0)
    event(db_url, pid, "Fatigue", 1, AS_OF)
    hemoglobin(db_url, pid, 11.0, AS_OF)  # < LLN 12: grade 1; collected on day 1, so not a baseline value
    course = patient_view.patient_course(pid, as_of=AS_OF, url=db_url)
    summary = course.summary
    assert summary["days_on_treatment"] == 1
    assert summary["current_dose_mg"] == 10.0 and summary["relative_dose_intensity_pct"] == pytest.approx(100.0)
    assert summary["days_held"] == 0 and summary["open_events"] == 1
    assert summary["worst_grade_by_term"] == {"Fatigue": 1}
    assert [(l["test"], l["grade"]) for l in summary["last_labs"]] == [("hemoglobin", 1)]
    assert [(r.start_day, r.end_day, bool(r.open)) for r in course.events.itertuples()] == [(1, 2, True)]
    assert [(r.start_day, r.end_day, r.dose_mg) for r in course.doses.itertuples()] == [(1, 2, 10.0)]
    assert list(course.labs["day"]) == [1] and not course.labs["baseline"].astype(bool).any()


def test_unknown_and_entered_in_error_patients_have_no_course(db_url):
    kept = patient(db_url, "PV-KEPT")["id"]
    wrong = patient(db_url, "PV-WRONG")
    event(db_url, wrong["id"], "Fatigue", 1, day(5))
    records.mark_entered_in_error("patient", wrong["id"], wrong["version"], "Registered twice", ADMIN, url=db_url)
    assert patient_view.patient_course(wrong["id"], as_of=AS_OF, url=db_url) is None
    assert patient_view.patient_course(kept + wrong["id"] + 1000, as_of=AS_OF, url=db_url) is None
    assert patient_view.patient_course(kept, as_of=AS_OF, url=db_url) is not None


# --- the roster -------------------------------------------------------------------------------------------

def roster_by_mrn(url: str) -> pd.DataFrame:
    return roster.roster(url, as_of=AS_OF).set_index("mrn")


def test_roster_flags_are_raised_at_their_boundaries(db_url):
    url = db_url

    def started(mrn: str, start: date = START) -> int:
        pid = patient(url, mrn, start=start)["id"]
        dose(url, pid, start, "start", 10.0)
        return pid

    # new grade >= 3 event: onset in the last 14 days
    event(url, started("NEW-14"), "Anemia", 3, ago(14))
    event(url, started("NEW-15"), "Anemia", 3, ago(15), ago(10))
    event(url, started("NEW-G2"), "Anemia", 2, ago(1))
    event(url, started("NEW-BASELINE", start=ago(10)), "Anemia", 3, ago(12), baseline=True)
    # any (treatment-emergent, not withdrawn) pneumonitis, however long ago
    event(url, started("PNEU"), "Pneumonitis", 1, day(20), day(32))
    withdrawn = event(url, started("PNEU-WITHDRAWN"), "Pneumonitis", 2, ago(3))
    records.mark_entered_in_error("adverse_event", withdrawn["id"], withdrawn["version"], "Wrong patient", NURSE,
                                  url=url)
    # holds: longer than 14 days, whether ended by a resume or still going on today
    for mrn, held_days in (("HOLD-14", 14), ("HOLD-15", 15)):
        pid = started(mrn)
        dose(url, pid, day(32), "hold", 0.0)
        dose(url, pid, day(32 + held_days), "resume", 10.0)
    for mrn, held_days in (("HOLD-NOW-14", 14), ("HOLD-NOW-15", 15)):
        dose(url, started(mrn), ago(held_days - 1), "hold", 0.0)  # today is a held day too
    # lab grade rising: the latest result of a test graded higher than the one before
    pid = started("LAB-UP")
    hemoglobin(url, pid, 11.0, day(60))   # grade 1
    hemoglobin(url, pid, 9.5, day(91))    # grade 2
    pid = started("LAB-DOWN")
    hemoglobin(url, pid, 9.5, day(60))
    hemoglobin(url, pid, 11.0, day(91))
    pid = started("LAB-UP-LATER")  # rises only after the analysis date
    hemoglobin(url, pid, 11.0, day(91))
    hemoglobin(url, pid, 9.5, AS_OF + timedelta(days=5), today=date.today())
    started("QUIET")

    table = roster_by_mrn(url)
    assert table["flags"].to_dict() == {
        "HOLD-14": "", "HOLD-15": roster.FLAG_LONG_HOLD, "HOLD-NOW-14": "", "HOLD-NOW-15": roster.FLAG_LONG_HOLD,
        "LAB-DOWN": "", "LAB-UP": roster.FLAG_LAB_RISING, "LAB-UP-LATER": "",
        "NEW-14": roster.FLAG_NEW_SEVERE, "NEW-15": "", "NEW-BASELINE": "", "NEW-G2": "",
        "PNEU": roster.FLAG_PNEUMONITIS, "PNEU-WITHDRAWN": "", "QUIET": "",
    }
    assert table.loc["NEW-14", "open_grade_3_plus"] == 1 and table.loc["NEW-15", "open_grade_3_plus"] == 0
    assert table.loc["NEW-BASELINE", "open_grade_3_plus"] == 0
    # the hold flag agrees with the days held the patient view shows
    for mrn, held_days in (("HOLD-14", 14), ("HOLD-15", 15), ("HOLD-NOW-14", 14), ("HOLD-NOW-15", 15)):
        pid = int(table.loc[mrn, "id"])
        assert patient_view.patient_course(pid, as_of=AS_OF, url=url).summary["days_held"] == held_days, mrn
    assert table.loc["HOLD-NOW-15", "current_dose_mg"] == 0.0 and table.loc["HOLD-15", "current_dose_mg"] == 10.0


def test_roster_combines_several_flags_in_a_fixed_order(db_url):
    pid = patient(db_url, "MANY")["id"]
    dose(db_url, pid, START, "start", 10.0)
    event(db_url, pid, "Pneumonitis", 3, ago(2), serious=True)
    dose(db_url, pid, ago(20), "hold", 0.0)
    table = roster_by_mrn(db_url)
    assert table.loc["MANY", "flags"] == f"{roster.FLAG_NEW_SEVERE}, {roster.FLAG_PNEUMONITIS}, " \
                                         f"{roster.FLAG_LONG_HOLD}"


def test_roster_worst_grades_cover_the_last_30_days_and_days_since_assessment(db_url):
    url = db_url
    pid = patient(url, "WORST")["id"]
    event(url, pid, "Mucositis oral", 3, day(10), ago(31))       # resolved before the window
    event(url, pid, "Mucositis oral", 1, ago(5))                 # so the worst recent stomatitis is 1
    event(url, pid, "Anemia", 2, day(32))                        # open for months: still counts
    event(url, pid, "Fatigue", 2, day(32), ago(29))              # resolved inside the window
    event(url, pid, "Dyspnea", 1, day(32), ago(31))              # resolved before the window
    event(url, pid, "Hyperglycemia", 3, ago(20), ago(18))        # grade 3 but not new (> 14 days ago)
    event(url, pid, "Aspartate aminotransferase increased", 1, ago(2), source="lab")
    event(url, pid, "Diarrhea", 2, ago(3))                       # not a BOLERO-2 column
    other = patient(url, "LABS-ONLY")["id"]
    hemoglobin(url, other, 13.0, day(-3))                        # baseline lab: an assessment too
    hemoglobin(url, other, 13.5, ago(9))
    patient(url, "NOTHING", start=ago(6))

    table = roster_by_mrn(url)
    worst = {column: table.loc["WORST", roster.term_column(term)]
             for column, term in (("Stomatitis", "Mucositis oral"), ("Pneumonitis", "Pneumonitis"),
                                  ("Hyperglycemia", "Hyperglycemia"), ("Anemia", "Anemia"),
                                  ("AST", "Aspartate aminotransferase increased"),
                                  ("ALT", "Alanine aminotransferase increased"), ("Fatigue", "Fatigue"),
                                  ("Dyspnea", "Dyspnea"))}
    assert {k: (None if pd.isna(v) else int(v)) for k, v in worst.items()} == {
        "Stomatitis": 1, "Pneumonitis": None, "Hyperglycemia": 3, "Anemia": 2, "AST": 1, "ALT": None,
        "Fatigue": 2, "Dyspnea": None}
    assert [c for c in table.columns if c.startswith("worst ")] == [
        "worst Stomatitis", "worst Pneumonitis", "worst Hyperglycemia", "worst Anemia", "worst AST", "worst ALT",
        "worst Fatigue", "worst Dyspnea"]
    assert table.loc["WORST", "flags"] == ""
    assert table.loc["WORST", "open_grade_3_plus"] == 0
    assert table.loc["WORST", "days_since_assessment"] == 2
    assert table.loc["LABS-ONLY", "days_since_assessment"] == 9
    assert pd.isna(table.loc["NOTHING", "days_since_assessment"])
    assert all(pd.isna(table.loc["NOTHING", roster.term_column(t)]) for t in roster.ctcae.BOLERO2_TERMS)
    assert table.loc["NOTHING", "days_on_treatment"] == 7 and table.loc["WORST", "days_on_treatment"] == 100


def test_roster_dose_columns_belong_to_their_patient_whatever_the_registration_order(db_url):
    # registered Z first (lower id), A second: the roster is sorted by MRN, so id order != row order
    z = patient(db_url, "Z-FIRST")["id"]
    dose(db_url, z, START, "start", 10.0)
    a = patient(db_url, "A-SECOND")["id"]
    dose(db_url, a, START, "start", 5.0)
    dose(db_url, a, day(91), "hold", 0.0)
    table = roster_by_mrn(db_url)
    assert list(table.index) == ["A-SECOND", "Z-FIRST"]
    assert table.loc["Z-FIRST", "current_dose_mg"] == 10.0
    assert table.loc["Z-FIRST", "relative_dose_intensity_pct"] == pytest.approx(100.0)
    assert table.loc["A-SECOND", "current_dose_mg"] == 0.0
    # 90 days x 5 mg of 100 days x 10 mg planned
    assert table.loc["A-SECOND", "relative_dose_intensity_pct"] == pytest.approx(45.0)


def test_roster_leaves_out_a_patient_entered_in_error(db_url):
    kept = patient(db_url, "KEPT")["id"]
    hemoglobin(db_url, kept, 13.0, day(30))
    wrong = patient(db_url, "WRONG")
    hemoglobin(db_url, wrong["id"], 11.0, day(30))
    hemoglobin(db_url, wrong["id"], 9.5, day(60))  # a rising lab grade of a patient who is then withdrawn
    event(db_url, wrong["id"], "Pneumonitis", 3, ago(3))
    records.mark_entered_in_error("patient", wrong["id"], wrong["version"], "Registered twice", ADMIN,
                                  url=db_url)
    table = roster.roster(db_url, as_of=AS_OF)
    assert list(table["mrn"]) == ["KEPT"]
    assert list(table["flags"]) == [""]


def test_status_and_days_on_treatment_follow_a_discontinuation_on_the_patient_page_and_the_roster(db_url):
    """Issue 16.4: the patient was registered "on treatment"; a hold makes them held, the discontinuation
    discontinued, and the days on treatment stop at the last dose day (the page and the roster agree)."""
    from models.analysis import roster

    pid = patient(db_url, "PV-STOP")["id"]
    dose(db_url, pid, START, "start", 10.0)
    dose(db_url, pid, day(10), "hold", 0.0, reason="Dental surgery")
    assert patient_view.patient_course(pid, as_of=AS_OF, url=db_url).summary["status"] == "held"
    dose(db_url, pid, day(16), "discontinue", 0.0, reason="Disease progression")
    summary = patient_view.patient_course(pid, as_of=AS_OF, url=db_url).summary
    assert (summary["status"], summary["days_on_treatment"]) == ("discontinued", 9)
    row = roster.roster(db_url, as_of=AS_OF).set_index("mrn").loc["PV-STOP"]
    assert (row["status"], row["days_on_treatment"]) == ("discontinued", 9)
