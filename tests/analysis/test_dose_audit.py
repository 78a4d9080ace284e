"""models.analysis.dose_audit and models.clinical.dose_rules: each label rule judged on hand-made dose
histories, the grace period, recurrences, recovery, long holds, unexplained holds, the order of findings, and a malformed rule
table refused with its file and line.

The DataFrames are built by hand with the columns models.store.queries returns (dates as datetime.date objects);
no database is needed. Dates count from ONSET (day 40 of treatment) so every history reads as offsets.
"""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from models.analysis import dose_audit
from models.clinical import dose_rules
from models.clinical.reference_data import ReferenceDataError
from tests.support.frames import DOSE_COLUMNS, PATIENT_COLUMNS

START = date(2025, 1, 1)
ONSET = START + timedelta(days=40)          # 2025-02-10
AS_OF = date(2025, 12, 31)

EVENT_COLUMNS = ["id", "patient_id", "mrn", "term", "grade", "onset_date", "resolved_date", "death_date",
                 "serious", "attribution", "action_taken", "previous_event_id", "source", "baseline",
                 "created_by", "created_at"]

# The rule rows that cover a CTCAE term tracked here and call for an action (grade-1 "no change" rows and
# rows without a tracked term are never audited), per rule set.
AUDITED_RULES = {
    "us-current": ["STOM-2", "STOM-3", "STOM-4", "PNEU-2", "PNEU-3", "PNEU-4", "META-3", "META-4", "THRO-2",
                   "THRO-3", "NEUT-3", "NEUT-4", "FEBN-3", "FEBN-4", "OTHR-2", "OTHR-3", "OTHR-4"],
    "us-2012": ["PNEU-2", "PNEU-3", "PNEU-4", "NONH-2", "NONH-3", "NONH-4", "META-3", "META-4"],
}
RULES = {(name, rule.rule_id): rule for name in AUDITED_RULES for rule in dose_rules.rules(name)}
CASES = [pytest.param(name, rule_id, id=f"{name}/{rule_id}") for name in AUDITED_RULES
         for rule_id in AUDITED_RULES[name]]
CURRENT = "us-current"


def day(offset: int) -> date:
    """ONSET + offset days."""
    return ONSET + timedelta(days=offset)


# --- frame builders (shape of models.store.queries) -----------------------------------------------------------

def patients_frame(*ids: int, start: date = START, planned: float = 10.0) -> pd.DataFrame:
    rows = [{"id": i, "mrn": f"MRN{i:03d}", "name": f"Patient {i}", "birth_date": date(1960, 1, 1),
             "treatment_start": start, "planned_dose_mg": planned, "status": "on_treatment"} for i in ids]
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


def ev(event_id: int, term: str, grade: int, onset: date, resolved: date | None = None,
       previous: int | None = None, patient: int = 1, baseline: bool = False) -> dict:
    return {"id": event_id, "patient_id": patient, "mrn": f"MRN{patient:03d}", "term": term, "grade": grade,
            "onset_date": onset, "resolved_date": resolved, "death_date": None, "serious": False,
            "attribution": "probable", "action_taken": None, "previous_event_id": previous,
            "source": "reported", "baseline": baseline, "created_by": "test", "created_at": None}


def events_frame(*events: dict) -> pd.DataFrame:
    return pd.DataFrame(list(events), columns=EVENT_COLUMNS)


def dose(when: date, action: str, mg: float, event: int | None = None, reason: str | None = None,
         patient: int = 1, every_other_day: bool = False) -> dict:
    return {"patient_id": patient, "mrn": f"MRN{patient:03d}", "effective_date": when, "action": action,
            "dose_mg": mg, "every_other_day": every_other_day, "adverse_event_id": event, "reason": reason,
            "verified_by": None}


def doses_frame(*doses: dict) -> pd.DataFrame:
    """Ids 1..n in the order given (the order records were entered)."""
    return pd.DataFrame([{"id": i, **d} for i, d in enumerate(doses, 1)], columns=DOSE_COLUMNS)


def run(events: list[dict], doses: list[dict], *, as_of: date = AS_OF, grace: int = 2,
        patients: pd.DataFrame | None = None, rule_set: str = CURRENT) -> list[dose_audit.Finding]:
    patients = patients if patients is not None else patients_frame(1)
    return dose_audit.audit(patients, events_frame(*events), doses_frame(*doses), as_of, grace, rule_set)


def finding(findings: list[dose_audit.Finding], event_id: int) -> dose_audit.Finding:
    matches = [f for f in findings if f.key == f"event:{event_id}"]
    assert len(matches) == 1, [f.key for f in findings]
    return matches[0]


def judged(events: list[dict], doses: list[dict], event_id: int = 1, **kwargs) -> dose_audit.Finding:
    """The finding for one event; no other finding (e.g. an unexplained hold) may appear."""
    findings = run(events, doses, **kwargs)
    assert [f.key for f in findings if not f.key.startswith("event:")] == []
    return finding(findings, event_id)


# --- the rule table itself -------------------------------------------------------------------------------

def test_the_audited_rows_of_each_rule_set_are_the_expected_ones():
    assert list(dose_rules.rule_sets()) == ["us-current", "us-2012"], "the default first"
    for name, expected in AUDITED_RULES.items():
        audited = [r.rule_id for r in dose_rules.rules(name) if r.terms and r.action not in ("none",
                                                                                           "hold_or_discontinue")]
        assert audited == expected, name
        assert {r.rule_set for r in dose_rules.rules(name)} == {name}
    assert dose_rules.default_rule_set() == CURRENT
    assert dose_rules.rule_for("Mucositis oral", 2).rule_id == "STOM-2"
    assert dose_rules.rule_for("Mucositis oral", 2, "us-2012").rule_id == "NONH-2"
    assert dose_rules.rule_for("Platelet count decreased", 4).rule_id == "THRO-3"
    assert dose_rules.rule_for("Platelet count decreased", 4, "us-2012") is None
    assert dose_rules.rule_for("Fatigue", 3).rule_id == "OTHR-3"
    assert dose_rules.rule_for("Febrile neutropenia", 3).rule_id == "FEBN-3"
    assert dose_rules.rule_for("Cholesterol high", 3).rule_id == "META-3"
    assert dose_rules.rule_for("Hypertriglyceridemia", 4).rule_id == "META-4"
    assert dose_rules.rule_for("Mucositis oral", 5) is None
    for grade in range(1, 6):  # the label gives no dose rule for anemia
        assert dose_rules.rule_for("Anemia", grade) is None and dose_rules.rule_for("Anemia", grade, "us-2012") is None
    assert dose_rules.rules_version() == "2026-11"
    assert dose_rules.describe_rule_set("us-2012") == "us-2012 (version 2026-11)"
    assert {r.status for r in dose_rules.rules()} == {"check against current label"}
    assert {r.status for r in dose_rules.rules("us-2012")} == {"confirmed"}
    # Every "resume at 50%" of the current label may go to every other day below the lowest step.
    for rule in dose_rules.rules():
        halves = rule.resume_dose in ("lower", "consider_lower") or rule.recurrence_action == "resume_lower"
        assert rule.every_other_day_allowed == halves, rule.rule_id
    assert not any(r.every_other_day_allowed for r in dose_rules.rules("us-2012"))


def test_an_unknown_rule_set_is_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match="Unknown dose rule set 'clinic-x'; choose one of us-current, us-2012"):
        dose_rules.rules("clinic-x")
    monkeypatch.setenv("TOXWATCH_DOSE_RULE_SET", "us-2012")
    assert dose_rules.default_rule_set() == "us-2012"
    monkeypatch.setenv("TOXWATCH_DOSE_RULE_SET", "clinic-x")
    with pytest.raises(ValueError, match="TOXWATCH_DOSE_RULE_SET"):
        dose_rules.default_rule_set()


# --- every audited rule of both sets: a compliant and a deviating history -----------------------------------

def compliant_history(rule) -> tuple[list[dict], list[dict], list[str]]:
    term, grade = rule.terms[0], rule.grade_min
    if rule.action == "discontinue":
        events = [ev(1, term, grade, ONSET, resolved=day(20))]
        doses = [dose(START, "start", 10.0), dose(day(1), "discontinue", 0.0, event=1)]
        return events, doses, [f"discontinued on {day(1)}"]
    # Withheld the day after onset; recovered to the rule's grade on day 10 (a new record of that grade,
    # linked to the first; without a grade to recover to, the event resolves on day 9); resumed on day 10
    # at the dose the rule asks for.
    threshold = rule.resume_when_grade_at_most
    events = [ev(1, term, grade, ONSET, resolved=day(9))] + (
        [] if threshold is None else [ev(2, term, threshold, day(10), resolved=day(20), previous=1)])
    resume_mg = 5.0 if rule.resume_dose in ("lower", "consider_lower") else 10.0
    action = "reduce" if resume_mg < 10 else "resume"
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
             dose(day(10), action, resume_mg, event=1)]
    return events, doses, [f"withheld {day(1)} to {day(10)}", f"resumed at {resume_mg:g} mg"]


def deviating_history(rule) -> tuple[list[dict], list[dict], list[str]]:
    term, grade = rule.terms[0], rule.grade_min
    if rule.action == "discontinue":
        # withheld and resumed instead of stopping
        events = [ev(1, term, grade, ONSET, resolved=day(9))]
        doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
                 dose(day(10), "reduce", 5.0, event=1)]
        return events, doses, ["no discontinuation recorded"]
    if rule.action in ("consider_hold", "none_if_tolerable"):
        # withholding is optional, but once withheld the drug waits for recovery (day 10); resumed on day 5
        threshold = rule.resume_when_grade_at_most
        events = [ev(1, term, grade, ONSET, resolved=day(9)),
                  ev(2, term, threshold, day(10), resolved=day(20), previous=1)]
        doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
                 dose(day(5), "reduce", 5.0, event=1)]
        return events, doses, [f"resumed on {day(5)} before recovery to grade <= {threshold}",
                               f"recovered on {day(10)}"]
    # a required hold that never happened
    events = [ev(1, term, grade, ONSET, resolved=day(9))]
    doses = [dose(START, "start", 10.0)]
    return events, doses, [f"no hold recorded (expected by {day(2)})"]


@pytest.mark.parametrize("rule_set, rule_id", CASES)
def test_each_rule_has_a_compliant_history(rule_set, rule_id):
    rule = RULES[(rule_set, rule_id)]
    events, doses, words = compliant_history(rule)
    result = judged(events, doses, rule_set=rule_set)
    assert result.status == "compliant", result.actual
    for word in words:
        assert word in result.actual
    assert result.rule == rule.describe() and result.rule.startswith(rule_id)
    assert result.expected == rule.expected()
    assert (result.term, result.grade, result.onset_date, result.mrn) == (rule.terms[0], rule.grade_min, ONSET,
                                                                         "MRN001")
    assert (result.rule_status, result.rule_set, result.more_than_required) == (rule.status, rule_set, False)


@pytest.mark.parametrize("rule_set, rule_id", CASES)
def test_each_rule_has_a_deviating_history(rule_set, rule_id):
    rule = RULES[(rule_set, rule_id)]
    events, doses, words = deviating_history(rule)
    result = judged(events, doses, rule_set=rule_set)
    assert result.status == "deviation", result.actual
    for word in words:
        assert word in result.actual, result.actual


@pytest.mark.parametrize("rule_set, rule_id", [c for c in CASES if RULES[tuple(c.values)].action in (
    "hold", "consider_hold", "none_if_tolerable")])
def test_resuming_at_the_dose_before_the_hold_is_judged_by_the_rules_resume_dose(rule_set, rule_id):
    """'lower' rules need a reduction on resumption; 'same' and 'consider_lower' rules accept the old dose."""
    rule = RULES[(rule_set, rule_id)]
    events, doses, _ = compliant_history(rule)
    doses[-1] = dose(day(10), "resume", 10.0, event=1)
    result = judged(events, doses, rule_set=rule_set)
    if rule.resume_dose == "lower":
        assert result.status == "deviation"
        assert f"resumed on {day(10)} at 10 mg, the dose before the hold, when a reduction was due" == result.actual
        assert "one step lower" in result.expected
    else:
        assert rule.resume_dose in ("same", "consider_lower")
        assert result.status == "compliant", result.actual
        assert result.actual == f"withheld {day(1)} to {day(10)}, resumed at 10 mg"


@pytest.mark.parametrize("rule_set, rule_id", [("us-current", "OTHR-2"), ("us-2012", "PNEU-2"),
                                               ("us-2012", "NONH-2")])
def test_an_optional_hold_may_be_skipped(rule_set, rule_id):
    rule = RULES[(rule_set, rule_id)]
    result = judged([ev(1, rule.terms[0], rule.grade_min, ONSET, resolved=day(9))], [dose(START, "start", 10.0)],
                    rule_set=rule_set)
    assert (result.status, result.actual) == ("compliant", "not withheld (withholding is optional for this grade)")


@pytest.mark.parametrize("rule_set, rule_id", [c for c in CASES if RULES[tuple(c.values)].action == "discontinue"])
def test_a_late_discontinuation_is_a_deviation(rule_set, rule_id):
    rule = RULES[(rule_set, rule_id)]
    result = judged([ev(1, rule.terms[0], rule.grade_min, ONSET)],
                    [dose(START, "start", 10.0), dose(day(5), "discontinue", 0.0, event=1)], rule_set=rule_set)
    assert result.status == "deviation"
    assert result.actual == f"discontinued on {day(5)}, 5 days after onset"
    assert result.expected == "discontinue permanently"


# --- the grace period --------------------------------------------------------------------------------------

def _stomatitis_3(hold_day: int) -> tuple[list[dict], list[dict]]:
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)),
              ev(2, "Mucositis oral", 1, day(10), resolved=day(20), previous=1)]
    doses = [dose(START, "start", 10.0), dose(day(hold_day), "hold", 0.0, event=1),
             dose(day(12), "reduce", 5.0, event=1)]
    return events, doses


def test_a_hold_on_the_last_day_of_the_grace_period_is_compliant():
    result = judged(*_stomatitis_3(2), grace=2)
    assert result.status == "compliant"
    assert result.actual == f"withheld {day(2)} to {day(12)}, resumed at 5 mg"


def test_a_hold_one_day_after_the_grace_period_is_a_deviation():
    result = judged(*_stomatitis_3(3), grace=2)
    assert result.status == "deviation"
    assert result.actual == f"withheld on {day(3)}, 3 days after onset (grace 2 days)"


def test_a_longer_grace_period_accepts_that_hold():
    result = judged(*_stomatitis_3(3), grace=3)
    assert result.status == "compliant"
    assert result.actual == f"withheld {day(3)} to {day(12)}, resumed at 5 mg"


def test_within_the_grace_period_nothing_is_due_yet():
    events = [ev(1, "Mucositis oral", 3, ONSET)]
    doses = [dose(START, "start", 10.0)]
    for as_of in (ONSET, day(1), day(2)):
        result = judged(events, doses, as_of=as_of)
        assert result.status == "open", as_of
        assert result.actual == "within the 2-day grace period; no hold recorded yet"
    late = judged(events, doses, as_of=day(3))
    assert (late.status, late.actual) == ("deviation", f"no hold recorded (expected by {day(2)})")
    assert judged(events, doses, as_of=day(3), grace=3).status == "open"


def test_a_discontinuation_still_within_the_grace_period_is_open():
    events = [ev(1, "Pneumonitis", 4, ONSET)]
    result = judged(events, [dose(START, "start", 10.0)], as_of=day(1))
    assert (result.status, result.actual) == ("open", "within the grace period; no discontinuation recorded yet")
    assert judged(events, [dose(START, "start", 10.0)], as_of=day(3)).status == "deviation"


# --- recurrence ---------------------------------------------------------------------------------------------

def _two_stomatitis_2_episodes(second_resume: dict) -> tuple[list[dict], list[dict]]:
    second = day(60)
    events = [ev(1, "Mucositis oral", 2, ONSET, resolved=day(7)),
              ev(2, "Mucositis oral", 2, second, resolved=second + timedelta(days=7))]
    doses = [dose(START, "start", 10.0),
             dose(day(1), "hold", 0.0, event=1), dose(day(8), "resume", 10.0, event=1),
             dose(second + timedelta(days=1), "hold", 0.0, event=2), second_resume]
    return events, doses


def test_a_recurrence_of_grade_2_stomatitis_resumed_at_the_same_dose_is_a_deviation():
    second = day(60)
    events, doses = _two_stomatitis_2_episodes(dose(second + timedelta(days=8), "resume", 10.0, event=2))
    findings = run(events, doses)
    first, again = finding(findings, 1), finding(findings, 2)
    assert first.status == "compliant"  # the first episode resumes at the same dose
    assert first.expected == RULES[(CURRENT, "STOM-2")].expected() and "recurrence" not in first.expected
    assert again.status == "deviation"
    assert again.expected.endswith("resume one step lower (or every other day below the lowest step) (recurrence)")
    assert again.actual == (f"resumed on {second + timedelta(days=8)} at 10 mg, the dose before the hold, "
                            "when a reduction was due")


def test_a_recurrence_of_grade_2_stomatitis_resumed_one_step_lower_is_compliant():
    second = day(60)
    events, doses = _two_stomatitis_2_episodes(dose(second + timedelta(days=8), "reduce", 5.0, event=2))
    again = finding(run(events, doses), 2)
    assert again.status == "compliant"
    assert again.actual == f"withheld {second + timedelta(days=1)} to {second + timedelta(days=8)}, resumed at 5 mg"


def test_a_worsening_within_one_episode_is_not_a_recurrence():
    """Grade 2, better (grade 1), worse again (grade 2) in one linked chain: one episode, same dose is fine."""
    events = [ev(1, "Mucositis oral", 2, ONSET, resolved=day(5)),
              ev(2, "Mucositis oral", 1, day(6), resolved=day(9), previous=1),
              ev(3, "Mucositis oral", 2, day(10), resolved=day(15), previous=2),
              ev(4, "Mucositis oral", 1, day(16), previous=3)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(6), "resume", 10.0, event=1),
             dose(day(11), "hold", 0.0, event=3), dose(day(16), "resume", 10.0, event=3)]
    findings = run(events, doses)
    assert [f.key for f in findings] == ["event:1", "event:3"]  # the grade-1 records need no action
    worse = finding(findings, 3)
    assert worse.status == "compliant", worse.actual
    assert "recurrence" not in worse.expected


def _two_pneumonitis_3_episodes(after_second: dict) -> tuple[list[dict], list[dict]]:
    second = day(60)
    events = [ev(1, "Pneumonitis", 3, ONSET, resolved=day(9)),
              ev(2, "Pneumonitis", 1, day(10), resolved=day(20), previous=1),
              ev(3, "Pneumonitis", 3, second, resolved=second + timedelta(days=9)),
              ev(4, "Pneumonitis", 1, second + timedelta(days=10), previous=3)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(10), "reduce", 5.0, event=1),
             dose(second + timedelta(days=1), "hold", 0.0, event=3), after_second]
    return events, doses


def test_grade_3_pneumonitis_recurring_and_resumed_is_a_deviation():
    second = day(60)
    events, doses = _two_pneumonitis_3_episodes(dose(second + timedelta(days=10), "reduce", 2.5, event=3))
    findings = run(events, doses)
    assert finding(findings, 1).status == "compliant"
    again = finding(findings, 3)
    assert again.status == "deviation"
    assert again.expected == "discontinue (recurrence at the same grade)"
    assert again.actual == (f"resumed on {second + timedelta(days=10)} at 2.5 mg after a recurrence at the same "
                            "grade; discontinuation expected")


def test_grade_3_pneumonitis_recurring_and_discontinued_is_compliant():
    second = day(60)
    events, doses = _two_pneumonitis_3_episodes(dose(second + timedelta(days=5), "discontinue", 0.0, event=3))
    again = finding(run(events, doses), 3)
    assert again.status == "compliant"
    assert again.actual == (f"withheld on {second + timedelta(days=1)}, then discontinued on "
                            f"{second + timedelta(days=5)}")


# --- resumed before recovery -------------------------------------------------------------------------------

def _stomatitis_3_chain(resume_day: int) -> tuple[list[dict], list[dict]]:
    """Grade 3 from ONSET, grade 2 from day 5, grade 1 from day 10: recovery (grade <= 1) is day 10."""
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(4)),
              ev(2, "Mucositis oral", 2, day(5), resolved=day(9), previous=1),
              ev(3, "Mucositis oral", 1, day(10), resolved=day(20), previous=2)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
             dose(day(resume_day), "reduce", 5.0, event=1)]
    return events, doses


def test_resuming_while_the_chain_is_still_above_the_recovery_grade_is_a_deviation():
    findings = run(*_stomatitis_3_chain(7))
    assert [f.key for f in findings] == ["event:1"]  # the improvements are not findings of their own
    result = findings[0]
    assert result.status == "deviation"
    assert result.actual == f"resumed on {day(7)} before recovery to grade <= 1 (recovered on {day(10)})"


def test_resuming_on_the_onset_of_the_lower_grade_record_is_compliant():
    result = judged(*_stomatitis_3_chain(10))
    assert (result.status, result.actual) == ("compliant", f"withheld {day(1)} to {day(10)}, resumed at 5 mg")


def test_recovery_is_to_the_grade_the_rule_names():
    """Neutropenia grade 3 resumes at grade <= 2: the grade-2 record is the recovery."""
    events = [ev(1, "Neutrophil count decreased", 3, ONSET, resolved=day(5)),
              ev(2, "Neutrophil count decreased", 2, day(6), resolved=day(12), previous=1),
              ev(3, "Neutrophil count decreased", 1, day(13), previous=2)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(6), "resume", 10.0, event=1)]
    assert judged(events, doses).status == "compliant"
    stomatitis = [{**e, "term": "Mucositis oral"} for e in events]  # stomatitis waits for grade <= 1
    result = judged(stomatitis, doses)
    assert result.status == "deviation"
    assert result.actual == f"resumed on {day(6)} before recovery to grade <= 1 (recovered on {day(13)})"


def test_without_a_lower_grade_record_the_resolution_date_is_the_recovery():
    events = [ev(1, "Platelet count decreased", 2, ONSET, resolved=day(8))]
    early = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(6), "resume", 10.0, event=1)]
    result = judged(events, early)
    assert (result.status, result.actual) == (
        "deviation", f"resumed on {day(6)} before recovery to grade <= 1 (recovered on {day(8)})")
    on_time = early[:2] + [dose(day(8), "resume", 10.0, event=1)]
    assert judged(events, on_time).status == "compliant"
    unresolved = [ev(1, "Platelet count decreased", 2, ONSET)]
    result = judged(unresolved, early)
    assert (result.status, result.actual) == (
        "deviation", f"resumed on {day(6)} before recovery to grade <= 1 (no recovery recorded)")


def test_a_start_and_a_hold_on_the_onset_day_are_read_in_order():
    """Treatment started on the day the event began and was withheld that same day (entered after the
    start): the start precedes the hold, so it is not a resumption before recovery."""
    events = [ev(1, "Mucositis oral", 3, START, resolved=START + timedelta(days=6)),
              ev(2, "Mucositis oral", 1, START + timedelta(days=7), previous=1)]
    doses = [dose(START, "start", 10.0), dose(START, "hold", 0.0, event=1),
             dose(START + timedelta(days=7), "reduce", 5.0, event=1)]
    result = judged(events, doses)
    assert (result.status, result.actual) == (
        "compliant", f"withheld {START} to {START + timedelta(days=7)}, resumed at 5 mg")
    same_dose = doses[:2] + [dose(START + timedelta(days=7), "resume", 10.0, event=1)]
    result = judged(events, same_dose)
    assert result.status == "deviation"
    assert result.actual.endswith("at 10 mg, the dose before the hold, when a reduction was due")


# --- holds that have not ended ----------------------------------------------------------------------------

def test_a_running_hold_without_recovery_is_open():
    events = [ev(1, "Mucositis oral", 3, ONSET)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1)]
    result = judged(events, doses, as_of=day(31))
    assert (result.status, result.actual) == ("open", f"held since {day(1)} (30 days); not yet recovered")
    # STOM-3 sets no limit on the hold: still open after 100 days
    assert judged(events, doses, as_of=day(101)).status == "open"


def test_a_running_hold_after_recovery_is_open_and_says_so():
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)), ev(2, "Mucositis oral", 1, day(10), previous=1)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1)]
    result = judged(events, doses, as_of=day(12))
    assert (result.status, result.actual) == (
        "open", f"held since {day(1)} (11 days); recovered to grade <= 1 on {day(10)}")


def test_a_pneumonitis_2_hold_over_28_days_without_recovery_is_a_deviation():
    events = [ev(1, "Pneumonitis", 2, ONSET)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1)]
    at_limit = judged(events, doses, as_of=day(1 + 28))
    assert (at_limit.status, at_limit.actual) == ("open", f"held since {day(1)} (28 days); not yet recovered")
    over = judged(events, doses, as_of=day(1 + 29))
    assert over.status == "deviation"
    assert over.actual == (f"held since {day(1)}, not recovered after 29 days; discontinuation was due when not "
                           "recovered within 28 days")
    assert "discontinue if not recovered within 28 days" in over.expected


def test_a_hold_that_became_a_discontinuation_is_compliant():
    events = [ev(1, "Pneumonitis", 2, ONSET)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
             dose(day(25), "discontinue", 0.0, event=1)]
    result = judged(events, doses)
    assert (result.status, result.actual) == ("compliant", f"withheld on {day(1)}, then discontinued on {day(25)}")


def test_an_event_after_the_drug_was_stopped_needs_no_action():
    for term, grade in (("Mucositis oral", 3), ("Mucositis oral", 4), ("Pneumonitis", 3)):
        events = [ev(1, term, grade, ONSET)]
        doses = [dose(START, "start", 10.0), dose(day(-5), "discontinue", 0.0, reason="Disease progression")]
        result = judged(events, doses)
        assert (result.status, result.actual) == ("compliant", "already discontinued before onset"), term


def test_an_event_while_already_held_counts_the_hold_from_onset():
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)), ev(2, "Mucositis oral", 1, day(10), previous=1)]
    doses = [dose(START, "start", 10.0), dose(day(-3), "hold", 0.0, reason="Dental surgery"),
             dose(day(10), "reduce", 5.0, event=1)]
    result = judged(events, doses)
    assert (result.status, result.actual) == ("compliant", f"withheld {ONSET} to {day(10)}, resumed at 5 mg")


# --- unexplained holds -------------------------------------------------------------------------------------

def _holds(findings):
    return [f for f in findings if f.rule == dose_audit.UNEXPLAINED_HOLD_RULE]


def test_a_hold_with_no_reason_no_event_and_no_active_event_is_a_deviation():
    doses = [dose(START, "start", 10.0), dose(day(0), "hold", 0.0), dose(day(5), "resume", 10.0)]
    findings = run([], doses)
    assert len(findings) == 1
    hold = findings[0]
    assert (hold.key, hold.status, hold.mrn, hold.term, hold.grade, hold.onset_date) == (
        "hold:2", "deviation", "MRN001", "(no adverse event)", None, ONSET)
    assert hold.actual == f"held on {ONSET} with no reason and no active adverse event"
    assert hold.expected == "a hold names its reason or follows an active adverse event"
    # a blank reason is no reason
    blank = [doses[0], dose(day(0), "hold", 0.0, reason="   "), doses[2]]
    assert len(_holds(run([], blank))) == 1


def test_a_hold_with_a_reason_a_linked_event_or_during_an_active_event_is_not_flagged():
    start, resume = dose(START, "start", 10.0), dose(day(5), "resume", 10.0)
    assert _holds(run([], [start, dose(day(0), "hold", 0.0, reason="Elective surgery"), resume])) == []
    fatigue = ev(1, "Fatigue", 1, day(-3))  # open, grade 1: no rule finding of its own
    assert _holds(run([fatigue], [start, dose(day(0), "hold", 0.0, event=1), resume])) == []
    assert run([fatigue], [start, dose(day(0), "hold", 0.0), resume]) == []
    resolved_on_the_day = ev(1, "Fatigue", 1, day(-3), resolved=day(0))
    assert run([resolved_on_the_day], [start, dose(day(0), "hold", 0.0), resume]) == []
    over_before = ev(1, "Fatigue", 1, day(-3), resolved=day(-1))
    assert len(_holds(run([over_before], [start, dose(day(0), "hold", 0.0), resume]))) == 1
    baseline = ev(1, "Fatigue", 1, START - timedelta(days=10), baseline=True)
    assert len(_holds(run([baseline], [start, dose(day(0), "hold", 0.0), resume]))) == 1


def test_a_hold_long_after_an_optional_rule_event_recovered_is_not_attributed_to_it():
    fatigue = ev(1, "Fatigue", 2, ONSET, resolved=day(6))
    explained = [dose(START, "start", 10.0), dose(day(40), "hold", 0.0, reason="Elective surgery"),
                 dose(day(50), "resume", 10.0)]
    findings = run([fatigue], explained)
    assert [f.key for f in findings] == ["event:1"]
    assert (findings[0].status, findings[0].actual) == (
        "compliant", "not withheld (withholding is optional for this grade)")
    unexplained = [explained[0], dose(day(40), "hold", 0.0), explained[2]]
    findings = run([fatigue], unexplained)
    assert finding(findings, 1).actual == "not withheld (withholding is optional for this grade)"
    assert [(f.key, f.status) for f in _holds(findings)] == [("hold:2", "deviation")]


# --- the whole cohort: order and scope ---------------------------------------------------------------------

def test_findings_are_sorted_deviations_first_then_open_then_compliant():
    patients = patients_frame(1, 2, 3, 4)
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9), patient=1),           # compliant
              ev(2, "Mucositis oral", 1, day(10), previous=1, patient=1),
              ev(3, "Mucositis oral", 3, ONSET, patient=2),                             # open (held)
              ev(4, "Pneumonitis", 4, ONSET, patient=3),                               # deviation
              ev(5, "Platelet count decreased", 2, day(-20), resolved=day(-10), patient=4)]  # deviation
    doses = [dose(START, "start", 10.0, patient=1), dose(day(1), "hold", 0.0, event=1, patient=1),
             dose(day(10), "reduce", 5.0, event=1, patient=1),
             dose(START, "start", 10.0, patient=2), dose(day(1), "hold", 0.0, event=3, patient=2),
             dose(START, "start", 10.0, patient=3),
             dose(START, "start", 10.0, patient=4), dose(day(30), "hold", 0.0, patient=4),
             dose(day(35), "resume", 10.0, patient=4)]
    findings = run(events, doses, patients=patients, as_of=day(40))
    assert [(f.key, f.status) for f in findings] == [
        ("event:4", "deviation"), ("event:5", "deviation"), ("hold:8", "deviation"),
        ("event:3", "open"), ("event:1", "compliant")]
    order = {"deviation": 0, "open": 1, "compliant": 2}
    assert [order[f.status] for f in findings] == sorted(order[f.status] for f in findings)
    assert [f.mrn for f in findings[:3]] == ["MRN003", "MRN004", "MRN004"]


def test_only_treatment_emergent_events_of_exposed_patients_are_audited():
    patients = pd.concat([patients_frame(1), patients_frame(2, start=AS_OF + timedelta(days=10))])
    events = [ev(1, "Mucositis oral", 3, START - timedelta(days=5), patient=1),        # before the start
              ev(2, "Mucositis oral", 3, START - timedelta(days=5), baseline=True, patient=1),
              ev(3, "Mucositis oral", 3, AS_OF + timedelta(days=1), patient=1),        # after the analysis date
              ev(4, "Mucositis oral", 3, ONSET, patient=2)]                            # not exposed yet
    doses = [dose(START, "start", 10.0, patient=1)]
    assert run(events, doses, patients=patients) == []


# --- the rule table as a file ------------------------------------------------------------------------------

def _table_rows() -> list[list[str]]:
    with dose_rules.RULES_FILE.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "us-current.csv"  # a rule set's file is named after it
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _edit(rows: list[list[str]], rule_id: str, column: str, value: str) -> int:
    """Change one cell; returns the file line of that row (line 1 is the header)."""
    header = rows[0]
    for index, row in enumerate(rows[1:], start=2):
        if row[0] == rule_id:
            row[header.index(column)] = value
            return index
    raise AssertionError(rule_id)


def test_the_shipped_table_loads_from_a_copy(tmp_path):
    loaded = dose_rules.load_rules(_write(tmp_path, _table_rows()))
    assert loaded == dose_rules.rules()
    assert len(loaded) == len(_table_rows()) - 1 == 21


def _refused(path: Path, line: int, *words: str) -> ReferenceDataError:
    with pytest.raises(ReferenceDataError) as caught:
        dose_rules.load_rules(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    for word in words:
        assert word in str(error), str(error)
    return error


def test_an_unknown_term_is_refused_with_file_and_line(tmp_path):
    rows = _table_rows()
    line = _edit(rows, "STOM-3", "terms", "Mucositis oral;Mouth soreness")
    error = _refused(_write(tmp_path, rows), line, "'Mouth soreness' is not a CTCAE term")
    assert error.column == "terms"


def test_a_bad_action_is_refused_with_file_and_line(tmp_path):
    rows = _table_rows()
    line = _edit(rows, "PNEU-3", "action", "withold")
    error = _refused(_write(tmp_path, rows), line, "'withold' is not one of none", "hold")
    assert error.column == "action"


def test_overlapping_rules_for_one_term_and_grade_are_refused_with_file_and_line(tmp_path):
    rows = _table_rows()
    extra = list(rows[[r[0] for r in rows].index("STOM-3")])
    extra[0], extra[5] = "STOM-3B", "4"  # grades 3-4: overlaps STOM-3 (grade 3) and STOM-4 (grade 4)
    rows.append(extra)
    _refused(_write(tmp_path, rows), len(rows), "Mucositis oral grade 3 is covered by both STOM-3 and STOM-3B")


@pytest.mark.parametrize("rule_id, column, value, words", [
    ("OTHR-2", "resume_when_grade_at_most", "", "a hold names the grade to recover to, or 'resolved'"),
    ("THRO-2", "resume_when_grade_at_most", "2", "out of range 0..1"),  # "recovered" at the onset grade
    ("STOM-3", "resume_dose", "", "a hold resumes at one of same, lower, consider_lower"),
    ("OTHR-3", "terms", "", "name the CTCAE terms, or '-'"),
    ("STOM-4", "max_hold_days", "28", "means nothing for the action 'discontinue'"),
    ("PNEU-1", "resume_dose", "same", "means nothing for the action 'none'"),
    ("THRO-2", "every_other_day_allowed", "yes", "only a rule that resumes lower allows it"),
])
def test_a_rule_that_would_judge_by_a_silent_default_is_refused_with_file_and_line(tmp_path, rule_id, column,
                                                                                 value, words):
    rows = _table_rows()
    line = _edit(rows, rule_id, column, value)
    error = _refused(_write(tmp_path, rows), line, words)
    assert error.column == column


def test_a_row_of_another_rule_set_in_a_file_is_refused_with_file_and_line(tmp_path):
    rows = _table_rows()
    line = _edit(rows, "PNEU-2", "rule_set", "us-2012")
    error = _refused(_write(tmp_path, rows), line, "the rule set is named after its file: 'us-current', not "
                                                   "'us-2012'")
    assert error.column == "rule_set"


def test_other_malformed_rows_name_their_line(tmp_path):
    rows = _table_rows()
    line = _edit(rows, "META-3", "grade_max", "2")  # below grade_min 3
    _refused(_write(tmp_path, rows), line, "grade_max", "out of range")
    rows = _table_rows()
    line = _edit(rows, "NEUT-4", "recurrence", "same_grade")  # without a recurrence_action
    _refused(_write(tmp_path, rows), line, "recurrence and recurrence_action go together")
    rows = _table_rows()
    rows.append(list(rows[1]))  # STOM-1 twice
    _refused(_write(tmp_path, rows), len(rows), "duplicate rule_id (first on line 2)")


# --- the current label against the 2012 one (issue 16) -------------------------------------------------------

def _pneumonitis_2(resume_day: int, resume_mg: float, *, recovered_day: int = 9) -> tuple[list[dict], list[dict]]:
    events = [ev(1, "Pneumonitis", 2, ONSET, resolved=day(recovered_day - 1)),
              ev(2, "Pneumonitis", 1, day(recovered_day), previous=1)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
             dose(day(resume_day), "resume" if resume_mg == 10 else "reduce", resume_mg, event=1)]
    return events, doses


def test_grade_2_pneumonitis_must_be_withheld_under_the_current_label_and_may_be_under_2012():
    events, doses = [ev(1, "Pneumonitis", 2, ONSET, resolved=day(9))], [dose(START, "start", 10.0)]
    current = judged(events, doses)
    assert (current.status, current.actual) == ("deviation", f"no hold recorded (expected by {day(2)})")
    assert current.expected.startswith("withhold within the grace period until grade <= 1, resume at the same dose")
    old = judged(events, doses, rule_set="us-2012")
    assert (old.status, old.rule_set) == ("compliant", "us-2012")


def test_grade_2_pneumonitis_resumed_at_the_same_dose_is_right_now_and_was_wrong_in_2012():
    events, doses = _pneumonitis_2(10, 10.0)
    assert judged(events, doses).status == "compliant"
    old = judged(events, doses, rule_set="us-2012")
    assert (old.status, old.actual) == (
        "deviation", f"resumed on {day(10)} at 10 mg, the dose before the hold, when a reduction was due")
    lower = judged(*_pneumonitis_2(10, 5.0))
    assert (lower.status, lower.more_than_required) == ("compliant", True)
    assert lower.actual.endswith("resumed at 5 mg (more than required)")


def test_grade_2_pneumonitis_recovered_after_four_weeks_should_have_been_discontinued():
    late = judged(*_pneumonitis_2(36, 10.0, recovered_day=35))
    assert late.status == "deviation"
    assert late.actual == (f"held since {day(1)}, recovered to grade <= 1 on {day(35)} after 34 days; "
                           "discontinuation was due when not recovered within 28 days")
    assert judged(*_pneumonitis_2(29, 10.0, recovered_day=29)).status == "compliant"  # 28 days: in time


def test_grade_2_stomatitis_is_withheld_now_without_an_if_tolerable():
    events, doses = [ev(1, "Mucositis oral", 2, ONSET, resolved=day(9))], [dose(START, "start", 10.0)]
    assert judged(events, doses).status == "deviation"
    assert (judged(events, doses, rule_set="us-2012").actual ==
            "not withheld (withholding is optional for this grade)")


def _stomatitis_3_from(level_mg: float, resume: dict) -> tuple[list[dict], list[dict]]:
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)), ev(2, "Mucositis oral", 1, day(10), previous=1)]
    doses = [dose(START, "start", level_mg), dose(day(1), "hold", 0.0, event=1), resume]
    return events, doses


def test_below_the_lowest_step_a_50_percent_resume_is_every_other_day():
    every_other = dose(day(10), "reduce", 2.5, event=1, every_other_day=True)
    from_lowest = judged(*_stomatitis_3_from(2.5, every_other), patients=patients_frame(1, planned=2.5))
    assert (from_lowest.status, from_lowest.more_than_required) == ("compliant", False), from_lowest.actual
    assert from_lowest.actual == f"withheld {day(1)} to {day(10)}, resumed at 2.5 mg every other day"
    assert "every other day below the lowest step" in from_lowest.expected
    same = judged(*_stomatitis_3_from(2.5, dose(day(10), "resume", 2.5, event=1)),
                  patients=patients_frame(1, planned=2.5))
    assert same.status == "deviation"
    from_ten = judged(*_stomatitis_3_from(10.0, every_other))
    assert (from_ten.status, from_ten.more_than_required) == ("compliant", True)
    assert from_ten.actual.endswith("resumed at 2.5 mg every other day (more than required)")


def test_a_lower_grade_recurrence_after_a_reducing_higher_grade_episode_keeps_the_reduced_dose():
    """DEMO-00120's case: grade 3 stomatitis reduced 10 -> 5 mg; a later grade 2 episode resumed at 5 mg
    is compliant (the label does not ask to go lower for a milder recurrence)."""
    second = day(60)
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)), ev(2, "Mucositis oral", 1, day(10), resolved=day(20),
                                                                      previous=1),
              ev(3, "Mucositis oral", 2, second, resolved=second + timedelta(days=6))]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(10), "reduce", 5.0, event=1),
             dose(second + timedelta(days=1), "hold", 0.0, event=3),
             dose(second + timedelta(days=7), "resume", 5.0, event=3)]
    again = finding(run(events, doses), 3)
    assert again.status == "compliant", again.actual
    assert "an earlier, higher-grade episode already reduced the dose" in again.expected
    # a second grade 2 episode after a grade 2 one that did not reduce is a recurrence that reduces
    first_two = [ev(1, "Mucositis oral", 2, ONSET, resolved=day(7)), events[2]]
    doses_two = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(8), "resume", 10.0, event=1),
                 dose(second + timedelta(days=1), "hold", 0.0, event=3),
                 dose(second + timedelta(days=7), "resume", 10.0, event=3)]
    assert finding(run(first_two, doses_two), 3).status == "deviation"


def test_a_recurrence_reduces_from_the_dose_in_force_when_it_starts():
    """Reduced 10 -> 5 by a grade 2 recurrence; a third grade 2 episode goes one step further, to 2.5 mg."""
    second, third = day(60), day(120)
    events = [ev(1, "Mucositis oral", 2, ONSET, resolved=day(7)),
              ev(2, "Mucositis oral", 2, second, resolved=second + timedelta(days=6)),
              ev(3, "Mucositis oral", 2, third, resolved=third + timedelta(days=6))]
    base = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(8), "resume", 10.0, event=1),
            dose(second + timedelta(days=1), "hold", 0.0, event=2),
            dose(second + timedelta(days=7), "reduce", 5.0, event=2),
            dose(third + timedelta(days=1), "hold", 0.0, event=3)]
    assert finding(run(events, base + [dose(third + timedelta(days=7), "resume", 5.0, event=3)]), 3).status == \
        "deviation"
    result = finding(run(events, base + [dose(third + timedelta(days=7), "reduce", 2.5, event=3)]), 3)
    assert (result.status, result.more_than_required) == ("compliant", False)


def test_anemia_and_febrile_neutropenia_under_the_current_label():
    anemia = [ev(1, "Anemia", 3, ONSET, resolved=day(9))]
    assert run(anemia, [dose(START, "start", 10.0)]) == []  # no rule, never a deviation
    uncovered = dose_audit.uncovered_events(patients_frame(1), events_frame(*anemia),
                                            doses_frame(dose(START, "start", 10.0)), AS_OF)
    assert uncovered[["mrn", "term", "grade", "onset_date"]].values.tolist() == [["MRN001", "Anemia", 3, ONSET]]
    febrile = [ev(1, "Febrile neutropenia", 3, ONSET, resolved=day(4))]
    result = judged(febrile, [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
                              dose(day(5), "reduce", 5.0, event=1)])
    assert (result.status, result.rule) == ("compliant", "FEBN-3 (Febrile neutropenia, grade 3)")


def test_a_2012_metabolic_hold_waits_for_the_event_to_resolve():
    events = [ev(1, "Hyperglycemia", 3, ONSET, resolved=day(9))]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(5), "reduce", 5.0, event=1)]
    early = judged(events, doses, rule_set="us-2012")
    assert (early.status, early.actual) == (
        "deviation", f"resumed on {day(5)} before recovery to resolution (recovered on {day(9)})")
    assert "until it resolves" in early.expected
    on_time = doses[:2] + [dose(day(9), "reduce", 5.0, event=1)]
    assert judged(events, on_time, rule_set="us-2012").status == "compliant"


def test_the_reduction_of_a_higher_grade_episode_answers_only_the_next_milder_recurrence():
    """Grade 3 (10 -> 5 mg), grade 2 (stays at 5: compliant), grade 2 again: a grade 2 recurrence, 2.5 mg due."""
    second, third = day(60), day(120)
    events = [ev(1, "Mucositis oral", 3, ONSET, resolved=day(9)),
              ev(2, "Mucositis oral", 1, day(10), resolved=day(20), previous=1),
              ev(3, "Mucositis oral", 2, second, resolved=second + timedelta(days=6)),
              ev(4, "Mucositis oral", 2, third, resolved=third + timedelta(days=6))]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(10), "reduce", 5.0, event=1),
             dose(second + timedelta(days=1), "hold", 0.0, event=3),
             dose(second + timedelta(days=7), "resume", 5.0, event=3),
             dose(third + timedelta(days=1), "hold", 0.0, event=4),
             dose(third + timedelta(days=7), "resume", 5.0, event=4)]
    findings = run(events, doses)
    assert finding(findings, 3).status == "compliant"
    again = finding(findings, 4)
    assert again.status == "deviation" and "already reduced" not in again.expected


def test_a_recurrence_that_calls_for_discontinuation_is_never_excused_by_an_earlier_reduction():
    """Diarrhea grade 4 reduced instead of stopped (a deviation), then grade 3 again: OTHR-3 says discontinue."""
    second = day(60)
    events = [ev(1, "Diarrhea", 4, ONSET, resolved=day(9)),
              ev(2, "Diarrhea", 3, second, resolved=second + timedelta(days=6))]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1), dose(day(10), "reduce", 5.0, event=1),
             dose(second + timedelta(days=1), "hold", 0.0, event=2),
             dose(second + timedelta(days=7), "resume", 5.0, event=2)]
    findings = run(events, doses)
    assert finding(findings, 1).status == "deviation"
    again = finding(findings, 2)
    assert (again.status, again.expected) == ("deviation", "discontinue (recurrence at the same grade)")


def test_a_resume_above_the_dose_before_the_hold_or_short_of_the_reduction_due_is_a_deviation():
    platelets = [ev(1, "Platelet count decreased", 2, ONSET, resolved=day(8))]
    up = judged(platelets, [dose(START, "start", 5.0), dose(day(1), "hold", 0.0, event=1),
                            dose(day(9), "resume", 10.0, event=1)])
    assert (up.status, up.actual) == ("deviation", f"resumed on {day(9)} at 10 mg, above the dose before the hold "
                                                   "(5 mg/day)")
    # 10 -> 7.5 mg (a clinic step list of 10,7.5,5 allows it) is short of the 5 mg the default steps ask for
    short = judged(*_stomatitis_3_from(10.0, dose(day(10), "reduce", 7.5, event=1)),
                   patients=patients_frame(1, planned=10.0))
    assert short.status == "deviation"


def test_an_audit_of_a_past_day_ignores_a_later_recovery_for_the_28_day_limit():
    events = [ev(1, "Pneumonitis", 2, ONSET, resolved=day(59)), ev(2, "Pneumonitis", 1, day(60), previous=1)]
    doses = [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1)]
    result = judged(events, doses, as_of=day(45))
    assert result.status == "deviation"
    assert result.actual == (f"held since {day(1)}, not recovered after 44 days; discontinuation was due when not "
                             "recovered within 28 days")


@pytest.mark.parametrize("rule_set, rule_id", [pytest.param(name, rule.rule_id, id=f"{name}/{rule.rule_id}")
                                               for name in AUDITED_RULES for rule in dose_rules.rules(name)
                                               if rule.action == "none" or not rule.terms])
def test_a_no_change_row_or_a_row_without_a_tracked_term_never_gives_a_finding(rule_set, rule_id):
    """The rows the audit does not judge: "no change" grades (a held or reduced dose is the clinician's call)
    and toxicities no CTCAE term here names (hypersensitivity): whatever the dose record shows, no finding."""
    rule = RULES[(rule_set, rule_id)]
    for term in rule.terms:
        for grade in range(rule.grade_min, rule.grade_max + 1):
            events = [ev(1, term, grade, ONSET, resolved=day(9))]
            for doses in ([dose(START, "start", 10.0)],
                          [dose(START, "start", 10.0), dose(day(1), "hold", 0.0, event=1),
                           dose(day(10), "reduce", 5.0, event=1)]):
                assert run(events, doses, rule_set=rule_set) == [], (term, grade)
    assert rule.terms or rule_id == "HYPS-A"
