"""models.analysis.worklist on real databases (SQLite and PostgreSQL): every alert rule raised and not raised,
acknowledged and back when its cause worsens, snoozed, the patients it applies to (on treatment or within 30
days of the last dose), the monitoring schedule (no baseline, done, due soon, overdue) and the report contract.
Records are written through the write path, as the app writes them."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.analysis import worklist
from models.clinical import alerts as alert_data
from models.store import records
from models.store.record_workflows import change_grade

NURSE = records.Actor("nurse", "nurse")
PHARMACIST = records.Actor("pharmacist", "pharmacist")
START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


def patient(url: str, mrn: str = "W-1", start: date = START) -> int:
    pid = records.create("patient", {"mrn": mrn, "name": f"Patient {mrn}", "treatment_start": start}, NURSE,
                         today=TODAY, url=url)["id"]
    records.create("dose_event", {"patient_id": pid, "effective_date": start, "action": "start", "dose_mg": 10},
                   PHARMACIST, today=TODAY, url=url)
    return pid


def event(url, pid, term, grade, onset, resolved=None) -> dict:
    return records.create("adverse_event", {"patient_id": pid, "term": term, "grade": grade, "onset_date": onset,
                                            "resolved_date": resolved}, NURSE, today=TODAY, url=url)


def dose(url, pid, when, action, mg=0.0, event_id=None, reason="test") -> dict:
    return records.create("dose_event", {"patient_id": pid, "effective_date": when, "action": action, "dose_mg": mg,
                                         "adverse_event_id": event_id, "reason": reason}, PHARMACIST, today=TODAY,
                          url=url)


def lab(url, pid, test, value, unit, when, *, lln=None, uln=None) -> dict:
    return records.create("lab_result", {"patient_id": pid, "test": test, "value": value, "unit": unit,
                                         "lln": lln, "uln": uln, "collected_on": when}, NURSE, today=TODAY, url=url)


def all_panels_done(url, pid, when) -> None:
    """Every test of the monitoring protocol, normal, on one day (so that only the rule under test fires)."""
    for test, value, unit, lln, uln in (("glucose_fasting", 90, "mg/dL", 70, 99), ("cholesterol_total", 170, "mg/dL",
                                        None, 200), ("triglycerides", 100, "mg/dL", None, 150),
                                        ("hemoglobin", 13, "g/dL", 12, 15.5), ("neutrophils", 4, "10^9/L", 2, 7.5),
                                        ("platelets", 250, "10^9/L", 150, 400), ("creatinine", 0.8, "mg/dL", None, 1.1),
                                        ("ast", 20, "U/L", None, 40), ("alt", 20, "U/L", None, 40)):
        lab(url, pid, test, value, unit, when, lln=lln, uln=uln)


def rules_of(url, as_of=TODAY, **options) -> set[tuple[str, str]]:
    return {(a.mrn, a.rule) for a in worklist.worklist(url, as_of=as_of, **options) if not a.acknowledged}


def clinical(url, as_of=TODAY) -> set[tuple[str, str]]:
    """The alerts other than monitoring and the visit interval (which every sparse test patient raises)."""
    return {(m, r) for m, r in rules_of(url, as_of) if r not in ("monitoring_overdue", "no_assessment")}


# ---------------------------------------------------------------- each rule

def test_open_pneumonitis_grade_2_is_for_today_and_grade_1_or_resolved_is_not(db_url):
    pid = patient(db_url)
    other = patient(db_url, "W-2")
    event(db_url, other, "Pneumonitis", 1, TODAY - timedelta(days=3))
    first = event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=3))
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2"]
    assert [(a.mrn, a.tier, a.record_type, a.record_id, a.severity) for a in found] == [
        ("W-1", "today", "adverse_event", first["id"], 2)]
    assert found[0].reason == f"Pneumonitis grade 2 open since {TODAY - timedelta(days=3)} and everolimus is not " \
                              "withheld: the label withholds it from grade 2"
    records.update("adverse_event", first["id"], 1, {"resolved_date": TODAY}, NURSE, today=TODAY, url=db_url)
    assert ("W-1", "pneumonitis_grade_2") not in clinical(db_url)


def test_a_grade_3_event_is_for_today_while_open_or_for_14_days_after_it_began(db_url):
    pid = patient(db_url)
    event(db_url, pid, "Dyspnea", 3, TODAY - timedelta(days=30))                       # open a month on: raised
    other = patient(db_url, "W-2")
    event(db_url, other, "Fatigue", 3, TODAY - timedelta(days=10), TODAY - timedelta(days=5))  # recent: raised
    old = patient(db_url, "W-3")
    event(db_url, old, "Fatigue", 3, TODAY - timedelta(days=20), TODAY - timedelta(days=15))   # over: not
    assert clinical(db_url) >= {("W-1", "grade_3_event"), ("W-2", "grade_3_event")}
    assert ("W-3", "grade_3_event") not in clinical(db_url)


def test_grade_2_stomatitis_is_raised_until_the_dose_is_held(db_url):
    pid = patient(db_url)
    stomatitis = event(db_url, pid, "Stomatitis", 2, TODAY - timedelta(days=4))
    assert ("W-1", "stomatitis_grade_2_not_held") in clinical(db_url)
    dose(db_url, pid, TODAY - timedelta(days=3), "hold", event_id=stomatitis["id"])
    assert ("W-1", "stomatitis_grade_2_not_held") not in clinical(db_url)


def test_a_hold_past_its_rules_limit_is_raised_the_day_after_the_limit(db_url):
    pid = patient(db_url)
    pneumonitis = event(db_url, pid, "Pneumonitis", 2, day(60), day(75))
    dose(db_url, pid, day(61), "hold", event_id=pneumonitis["id"])
    assert ("W-1", "hold_past_limit") not in clinical(db_url, as_of=day(61 + 28))   # 28 days: the rule allows it
    found = [a for a in worklist.worklist(db_url, as_of=day(61 + 29)) if a.rule == "hold_past_limit"]
    assert len(found) == 1 and found[0].tier == "today" and found[0].since == day(61 + 29)
    assert "rule PNEU-2 allows 28 days, then discontinue" in found[0].reason


def test_a_grade_3_lab_without_its_event_is_raised_and_with_it_is_not(db_url):
    pid = patient(db_url)
    result = lab(db_url, pid, "neutrophils", 0.7, "10^9/L", TODAY - timedelta(days=2), lln=2.0, uln=7.5)
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "lab_grade_3_no_event"]
    assert [(a.record_type, a.record_id, a.severity) for a in found] == [("lab_result", result["id"], 3)]
    assert found[0].reason == f"Neutrophils 0.7 10^9/L on {TODAY - timedelta(days=2)} is grade 3; no Neutrophil " \
                              "count decreased event of grade 3 or worse is recorded around it"
    event(db_url, pid, "Neutrophil count decreased", 3, TODAY - timedelta(days=2))
    assert ("W-1", "lab_grade_3_no_event") not in clinical(db_url)


def test_a_lab_grade_rising_is_for_this_week_and_a_falling_one_is_not(db_url):
    pid = patient(db_url)
    lab(db_url, pid, "platelets", 160, "10^9/L", TODAY - timedelta(days=20), lln=150, uln=400)
    lab(db_url, pid, "platelets", 70, "10^9/L", TODAY - timedelta(days=5), lln=150, uln=400)   # grade 0 -> 2
    other = patient(db_url, "W-2")
    lab(db_url, other, "platelets", 70, "10^9/L", TODAY - timedelta(days=20), lln=150, uln=400)
    lab(db_url, other, "platelets", 120, "10^9/L", TODAY - timedelta(days=5), lln=150, uln=400)  # 2 -> 1
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "lab_grade_rising"]
    assert [(a.mrn, a.tier) for a in found] == [("W-1", "week")]
    assert found[0].reason.startswith("Platelets rose from grade 0 on ")


def test_an_unreviewed_audit_deviation_is_raised_until_a_pharmacist_reviews_it(db_url):
    from models.analysis import dose_audit

    pid = patient(db_url)
    event(db_url, pid, "Pneumonitis", 3, day(100), day(130))  # grade 3 pneumonitis never held: a deviation
    findings = [f for f in dose_audit.audit(*_frames(db_url), day(140)) if f.status == "deviation"]
    assert findings
    assert ("W-1", "audit_deviation_unreviewed") in clinical(db_url, as_of=day(140))
    for finding in findings:
        records.create("finding_review", {"patient_id": pid, "finding_key": finding.key, "rule": finding.rule,
                                          "decision": "accepted", "comment": "discussed with the team"},
                       PHARMACIST, today=TODAY, url=db_url)
    assert ("W-1", "audit_deviation_unreviewed") not in clinical(db_url, as_of=day(140))


def _frames(url):
    from models.store import queries

    return queries.patients(url), queries.adverse_events(url), queries.dose_events(url)


def test_no_assessment_within_the_visit_interval_is_for_information(db_url):
    pid = patient(db_url)
    all_panels_done(db_url, pid, TODAY - timedelta(days=29))
    interval = alert_data.rules()["no_assessment"].days
    assert interval == 28
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "no_assessment"]
    assert [(a.tier, a.since) for a in found] == [("info", TODAY)]  # the day after the 28 days ran out
    lab(db_url, pid, "hemoglobin", 13, "g/dL", TODAY - timedelta(days=1), lln=12, uln=15.5)
    assert not [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "no_assessment"]


# ---------------------------------------------------------------- whom alerts apply to

def medication(url, pid, drug, first, last=None, **values) -> dict:
    return records.create("concomitant_medication", {"patient_id": pid, "drug": drug, "start_date": first,
                                                     "stop_date": last, **values}, NURSE, today=TODAY, url=url)


def test_an_ace_inhibitor_taken_with_everolimus_is_for_information_while_it_goes_on(db_url):
    pid, stopped = patient(db_url), patient(db_url, "W-2")
    ace = medication(db_url, pid, "Ramipril", START - timedelta(days=100))
    medication(db_url, stopped, "Lisinopril", day(10), day(20))  # stopped months ago
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "ace_inhibitor"]
    assert [(a.mrn, a.tier, a.record_type, a.record_id) for a in found] == [
        ("W-1", "info", "concomitant_medication", ace["id"])]
    assert found[0].reason.startswith("Ramipril from ")
    assert "angioedema" in found[0].reason


def test_steroids_for_pneumonitis_without_pjp_prophylaxis_are_for_information_until_it_is_recorded(db_url):
    pid = patient(db_url)
    pneumonitis = event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=10))
    medication(db_url, pid, "Prednisone", TODAY - timedelta(days=9), adverse_event_id=pneumonitis["id"])
    medication(db_url, pid, "Prednisolone", TODAY - timedelta(days=60), TODAY - timedelta(days=40),
               indication="Rash")  # not for pneumonitis
    assert [a.rule for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "steroids_without_pjp"] == [
        "steroids_without_pjp"]
    medication(db_url, pid, "Co-trimoxazole", TODAY - timedelta(days=2))
    assert "steroids_without_pjp" not in {a.rule for a in worklist.worklist(db_url, as_of=TODAY)}


def test_an_unreviewed_interaction_deviation_is_raised_for_the_week(db_url):
    pid = patient(db_url)
    course = medication(db_url, pid, "Clarithromycin", TODAY - timedelta(days=8), TODAY - timedelta(days=2))
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "audit_deviation_unreviewed"]
    assert [(a.tier, a.record_type, a.record_id, a.subject) for a in found] == [
        ("week", "concomitant_medication", course["id"], f"medication:{course['id']}")]
    assert found[0].reason.startswith("Dose audit, not reviewed: Clarithromycin taken from ")
    assert "(rule DDI-STRONG-INHIBITOR)" in found[0].reason
    # still taken today: for today as well
    now = [a for a in worklist.worklist(db_url, as_of=TODAY - timedelta(days=3)) if a.rule == "interaction_now"]
    assert [(a.tier, a.record_id) for a in now] == [("today", course["id"])]
    assert now[0].reason.startswith("Clarithromycin is taken now and everolimus with it: Avoid")
    assert "interaction_now" not in {a.rule for a in worklist.worklist(db_url, as_of=TODAY)}  # stopped 2 days ago


def test_patients_stopped_more_than_30_days_after_their_last_dose_raise_nothing(db_url):
    long_ago, recently = patient(db_url, "W-OLD"), patient(db_url, "W-NEW")
    for pid, stop in ((long_ago, TODAY - timedelta(days=60)), (recently, TODAY - timedelta(days=10))):
        event(db_url, pid, "Pneumonitis", 3, stop - timedelta(days=5))
        dose(db_url, pid, stop, "discontinue")
    found = {a.mrn for a in worklist.worklist(db_url, as_of=TODAY)}
    assert "W-OLD" not in found, "long discontinued: nothing, not even monitoring"
    assert ("W-NEW", "grade_3_event") in rules_of(db_url)
    assert ("W-NEW", "pneumonitis_grade_2") not in rules_of(db_url), "withheld (stopped), as the label asks"


def test_a_registration_that_says_discontinued_without_a_dose_record_raises_nothing(db_url):
    pid = records.create("patient", {"mrn": "W-1", "name": "Imported", "treatment_start": START,
                                     "status": "discontinued"}, NURSE, today=TODAY, url=db_url)["id"]
    event(db_url, pid, "Pneumonitis", 3, TODAY - timedelta(days=3))
    assert not worklist.worklist(db_url, as_of=TODAY)


def test_one_alert_per_episode_its_worst_record(db_url):
    """A grade 3 changed to 4 within the 14 days: the ended grade 3 and the open grade 4 are one alert (one
    episode), the grade 4, so a row of the list is never two alerts."""
    pid = patient(db_url)
    first = event(db_url, pid, "Diarrhea", 3, TODAY - timedelta(days=6))
    change_grade(first["id"], 1, 4, TODAY - timedelta(days=3), NURSE, today=TODAY, url=db_url)
    found = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "grade_3_event"]
    assert [(a.severity, a.reason) for a in found] == [(4, f"Diarrhea grade 4 open since {TODAY - timedelta(days=3)}")]
    keys = [(a.patient_id, a.rule, a.subject) for a in worklist.worklist(db_url, as_of=TODAY)]
    assert len(keys) == len(set(keys))


def test_stomatitis_grade_2_during_a_hold_raises_nothing(db_url):
    pid = patient(db_url)
    worse = event(db_url, pid, "Stomatitis", 3, TODAY - timedelta(days=10))
    dose(db_url, pid, TODAY - timedelta(days=9), "hold", event_id=worse["id"])
    change_grade(worse["id"], 1, 2, TODAY - timedelta(days=4), NURSE, today=TODAY, url=db_url)
    assert ("W-1", "stomatitis_grade_2_not_held") not in clinical(db_url)


def test_a_grade_4_lab_beside_only_a_grade_1_event_is_raised(db_url):
    pid = patient(db_url)
    event(db_url, pid, "Neutrophil count decreased", 1, TODAY - timedelta(days=12), TODAY - timedelta(days=8))
    lab(db_url, pid, "neutrophils", 0.3, "10^9/L", TODAY - timedelta(days=1), lln=2.0, uln=7.5)
    assert ("W-1", "lab_grade_3_no_event") in clinical(db_url)


def test_glucose_on_the_last_fortnightly_day_is_next_due_a_month_later(db_url):
    from models.store import queries

    pid = patient(db_url)
    lab(db_url, pid, "glucose_fasting", 90, "mg/dL", day(28), lln=70, uln=99)
    rows = worklist.monitoring_schedule(queries.patients(db_url), queries.lab_collections(db_url, as_of=day(40)),
                                        day(40)).set_index("panel")
    assert rows.at["Fasting glucose", "due_on"] == day(58)


# ---------------------------------------------------------------- reviews

def test_a_review_names_a_known_rule(db_url):
    pid = patient(db_url)
    with pytest.raises(records.ValidationFailed, match="is not a worklist rule"):
        records.create("alert_review", {"patient_id": pid, "rule": "made_up", "subject": "x",
                                        "decision": "acknowledged"}, NURSE, today=TODAY, url=db_url)


def test_a_new_episode_after_an_acknowledged_one_is_a_new_alert(db_url):
    pid = patient(db_url)
    old = event(db_url, pid, "Diarrhea", 3, TODAY - timedelta(days=12), TODAY - timedelta(days=9))
    alert = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "grade_3_event")
    records.create("alert_review", {"patient_id": pid, "rule": alert.rule, "subject": alert.subject,
                                    "record_type": alert.record_type, "record_id": alert.record_id,
                                    "severity": alert.severity, "decision": "acknowledged"}, NURSE, today=TODAY,
                   url=db_url)
    assert ("W-1", "grade_3_event") not in rules_of(db_url)
    event(db_url, pid, "Diarrhea", 3, TODAY - timedelta(days=2))
    again = [a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "grade_3_event" and not a.acknowledged]
    assert len(again) == 1 and again[0].record_id != old["id"]


def test_new_since_my_last_review_counts_a_late_entry_of_an_earlier_onset(db_url):
    from models.store import queries

    pid = patient(db_url)
    event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=10))
    first = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2")
    records.create("alert_review", {"patient_id": pid, "rule": first.rule, "subject": first.subject,
                                    "record_type": first.record_type, "record_id": first.record_id,
                                    "severity": first.severity, "decision": "acknowledged"}, NURSE, today=TODAY,
                   url=db_url)
    last = queries.last_alert_review_at(db_url, username="nurse")
    assert last is not None and worklist.new_since(worklist.worklist(db_url, as_of=TODAY), last) == []
    other = patient(db_url, "W-2")
    event(db_url, other, "Dyspnea", 3, TODAY - timedelta(days=4))  # entered now, onset 4 days ago
    fresh = worklist.new_since(worklist.worklist(db_url, as_of=TODAY), last)
    assert ("W-2", "grade_3_event") in {(a.mrn, a.rule) for a in fresh}


def test_an_acknowledged_alert_stays_quiet_until_its_grade_rises(db_url):
    pid = patient(db_url)
    first = event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=10))
    alert = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2")
    records.create("alert_review", {"patient_id": pid, "rule": alert.rule, "subject": alert.subject,
                                    "record_type": alert.record_type, "record_id": alert.record_id,
                                    "severity": alert.severity, "decision": "acknowledged",
                                    "comment": "seen in clinic"}, NURSE, today=TODAY, url=db_url)
    again = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2")
    assert again.acknowledged and again.reviewed_by == "nurse" and again.review == "acknowledged: seen in clinic"
    assert ("W-1", "pneumonitis_grade_2") not in rules_of(db_url)
    assert not [a for a in worklist.worklist(db_url, as_of=TODAY, include_acknowledged=False)
                if a.rule == "pneumonitis_grade_2"]
    change_grade(first["id"], 1, 3, TODAY - timedelta(days=2), NURSE, today=TODAY, url=db_url)
    back = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2")
    assert not back.acknowledged and back.severity == 3, "a higher grade brings it back"


def test_an_acknowledged_lab_alert_comes_back_with_a_new_result(db_url):
    pid = patient(db_url)
    lab(db_url, pid, "platelets", 160, "10^9/L", TODAY - timedelta(days=20), lln=150, uln=400)
    lab(db_url, pid, "platelets", 120, "10^9/L", TODAY - timedelta(days=10), lln=150, uln=400)   # 0 -> 1
    alert = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "lab_grade_rising")
    records.create("alert_review", {"patient_id": pid, "rule": alert.rule, "subject": alert.subject,
                                    "record_type": alert.record_type, "record_id": alert.record_id,
                                    "severity": alert.severity, "decision": "acknowledged"}, NURSE, today=TODAY,
                   url=db_url)
    assert ("W-1", "lab_grade_rising") not in rules_of(db_url)
    lab(db_url, pid, "platelets", 70, "10^9/L", TODAY - timedelta(days=1), lln=150, uln=400)    # 1 -> 2
    assert ("W-1", "lab_grade_rising") in rules_of(db_url)


def test_a_snooze_needs_a_reason_and_a_later_end_date_and_lasts_until_then(db_url):
    pid = patient(db_url)
    event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=10))
    alert = next(a for a in worklist.worklist(db_url, as_of=TODAY) if a.rule == "pneumonitis_grade_2")
    values = {"patient_id": pid, "rule": alert.rule, "subject": alert.subject, "severity": alert.severity,
              "record_type": alert.record_type, "record_id": alert.record_id, "decision": "snoozed"}
    with pytest.raises(records.ValidationFailed, match="needs a reason"):
        records.create("alert_review", {**values, "snooze_until": TODAY + timedelta(days=7)}, NURSE, today=TODAY,
                       url=db_url)
    with pytest.raises(records.ValidationFailed, match="needs an end date"):
        records.create("alert_review", {**values, "comment": "CT booked"}, NURSE, today=TODAY, url=db_url)
    with pytest.raises(records.ValidationFailed, match="is not after today"):
        records.create("alert_review", {**values, "comment": "CT booked", "snooze_until": TODAY}, NURSE,
                       today=TODAY, url=db_url)
    records.create("alert_review", {**values, "comment": "CT booked", "snooze_until": TODAY + timedelta(days=7)},
                   NURSE, today=TODAY, url=db_url)
    assert ("W-1", "pneumonitis_grade_2") not in rules_of(db_url, as_of=TODAY + timedelta(days=6))
    assert ("W-1", "pneumonitis_grade_2") in rules_of(db_url, as_of=TODAY + timedelta(days=7)), "the snooze ended"


# ---------------------------------------------------------------- monitoring schedule

def test_the_monitoring_schedule_says_no_baseline_done_due_soon_and_overdue(db_url):
    from models.store import queries

    pid = patient(db_url)
    all_panels_done(db_url, pid, START - timedelta(days=3))     # the baseline panel, 3 days before the start
    lab(db_url, pid, "glucose_fasting", 90, "mg/dL", day(14), lln=70, uln=99)
    as_of = day(40)

    def schedule():
        frame = worklist.monitoring_schedule(queries.patients(db_url), queries.lab_collections(db_url, as_of=as_of),
                                             as_of)
        return frame.set_index("panel")

    rows = schedule()
    # fasting glucose: every 14 days in month 1 -> due day 28 -> overdue on day 40
    assert (rows.at["Fasting glucose", "due_on"], rows.at["Fasting glucose", "status"]) == (day(28), "overdue")
    # blood count every 28 days from the baseline (day -3): due day 25 -> overdue; lipids every 90: done
    assert (rows.at["Blood count", "due_on"], rows.at["Blood count", "status"]) == (day(25), "overdue")
    assert (rows.at["Lipid profile", "due_on"], rows.at["Lipid profile", "status"]) == (day(87), "done")
    assert rows.at["Lipid profile", "baseline_on"] == START - timedelta(days=3)
    all_panels_done(db_url, pid, day(38))
    rows = schedule()
    # glucose after day 29 is monthly: due day 68 (28 days away: done); blood count due day 66
    assert rows.at["Fasting glucose", "status"] == "done" and rows.at["Fasting glucose", "due_on"] == day(68)
    other = patient(db_url, "W-2")
    rows = worklist.monitoring_schedule(queries.patients(db_url), queries.lab_collections(db_url, as_of=as_of),
                                        as_of)
    assert set(rows[rows["patient_id"] == other]["status"]) == {"no baseline"}
    due = [a for a in worklist.worklist(db_url, as_of=as_of) if a.rule == "monitoring_overdue" and a.mrn == "W-2"]
    assert len(due) == 5 and all(a.tier == "week" for a in due)


def test_a_panel_due_within_a_week_is_due_soon():
    import pandas as pd

    patients = pd.DataFrame([{"id": 1, "treatment_start": START}])
    collections = pd.DataFrame([{"patient_id": 1, "test": "creatinine", "latest": day(10), "baseline": None}])
    intervals = tuple(i for i in alert_data.protocol() if i.panel == "Renal function")
    rows = worklist.monitoring_schedule(patients, collections, day(95), intervals)
    assert rows.iloc[0][["due_on", "status"]].tolist() == [day(100), "due soon"]


# ---------------------------------------------------------------- the report

def test_the_report_is_the_documented_json(db_url):
    pid = patient(db_url)
    event(db_url, pid, "Pneumonitis", 2, TODAY - timedelta(days=3))
    report = worklist.report(db_url, as_of=TODAY)
    assert set(report) == {"as_of", "items"} and report["as_of"] == TODAY.isoformat()
    assert report["items"][0] == {"mrn": "W-1", "tier": "today", "rule": "pneumonitis_grade_2",
                                  "reason": report["items"][0]["reason"],
                                  "since": (TODAY - timedelta(days=3)).isoformat(), "acknowledged": False}
    tiers = [item["tier"] for item in report["items"]]
    assert tiers == sorted(tiers, key=worklist.TIER_ORDER.get), "most urgent first"
    csv_text = worklist.report_csv(report)
    assert csv_text.splitlines()[0] == "as_of,mrn,tier,rule,reason,since,acknowledged"


# ---------------------------------------------------------------- the demo cohort

def test_the_demo_raises_its_four_act_today_cases_on_at_most_10_percent_and_nothing_for_stopped_patients(demo_url):
    from models.clinical import exposure
    from models.store import queries
    from tests.conftest import DEMO_TODAY

    found = worklist.worklist(demo_url, as_of=DEMO_TODAY)
    today = [a for a in found if a.tier == "today"]
    reasons = " | ".join(a.reason for a in today)
    for words in ("Pneumonitis grade 2 open since", "Dyspnea grade 3 open since", "Stomatitis grade 2 since",
                  "Neutrophils 0.75 10^9/L"):
        assert words in reasons, (words, reasons)
    patients, doses = queries.patients(demo_url), queries.dose_events(demo_url)
    watched = worklist.watched_patients(patients, doses, queries.death_dates(demo_url), DEMO_TODAY)
    assert len({a.patient_id for a in today}) <= 0.10 * len(watched)
    periods = exposure.exposure_periods(patients, doses, DEMO_TODAY)
    followed = exposure.follow_up(patients, periods, queries.death_dates(demo_url), DEMO_TODAY)
    stopped = set(followed.index[followed["follow_up_end"] < DEMO_TODAY])
    assert stopped, "the demo has patients whose follow-up ended"
    assert not {a.patient_id for a in found} & stopped, "long-discontinued patients raise nothing"
