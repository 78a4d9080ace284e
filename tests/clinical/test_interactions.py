"""models.clinical.interactions and the dosing audit's interaction findings: every rule compliant and deviating,
with the medication's dates overlapping the treatment and not; the catalogue and class files as data.

Dose histories are built as dose records (the shape queries.dose_events returns) and read through
dosing.dose_segments, as the audit does. Day 0 is the treatment start (START)."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from models.analysis import interaction_audit
from models.clinical import dosing, interactions, medications
from models.clinical.reference_data import ReferenceDataError
from tests.support.frames import doses_frame, patients_frame

START = date(2026, 1, 1)
AS_OF = date(2026, 6, 30)
MED_COLUMNS = ["id", "version", "patient_id", "mrn", "drug", "in_catalogue", "dose", "route", "start_date",
               "stop_date", "indication", "adverse_event_id", "notes"]


def day(n: int) -> date:
    return START + timedelta(days=n)


def med(drug: str, first: int, last: int | None, *, mid: int = 1, indication: str | None = None,
        event: int | None = None) -> dict:
    return {"id": mid, "version": 1, "patient_id": 1, "mrn": "MRN001", "drug": medications.find(drug).name
            if medications.find(drug) else drug, "in_catalogue": medications.find(drug) is not None, "dose": None,
            "route": None, "start_date": day(first), "stop_date": None if last is None else day(last),
            "indication": indication, "adverse_event_id": event, "notes": None}


def verdicts(meds: list[dict], doses: list[tuple], as_of: date = AS_OF, events: dict | None = None,
             first_dose: float = 10.0):
    history = doses_frame(*[(1, day(d), action, mg) for d, action, mg in [(0, "start", first_dose), *doses]])
    segments = dosing.dose_segments(history, START, as_of)
    return interactions.patient_verdicts(pd.DataFrame(meds, columns=MED_COLUMNS), segments, as_of, 2, events,
                                         treatment_start=START, planned_dose_mg=10.0)


def only(meds, doses=(), **kwargs) -> tuple[str, str, str] | None:
    found = verdicts(meds, list(doses), **kwargs)
    assert len(found) <= 1, found
    return (found[0].rule, found[0].status, found[0].actual) if found else None


# --- strong inhibitors: avoid ---------------------------------------------------------------------------------

def test_a_strong_inhibitor_taken_with_everolimus_is_a_deviation():
    rule, status, actual = only([med("Clarithromycin", 30, 36)])
    assert (rule, status) == ("DDI-STRONG-INHIBITOR", "deviation")
    assert actual == f"everolimus taken on 7 days with it ({day(30)} to {day(36)}; 10 mg)"


def test_a_strong_inhibitor_with_everolimus_held_throughout_is_compliant():
    rule, status, actual = only([med("Clarithromycin", 30, 36)], [(30, "hold", 0.0), (37, "resume", 10.0)])
    assert (rule, status) == ("DDI-STRONG-INHIBITOR", "compliant")
    assert "withheld throughout" in actual


def test_a_strong_inhibitor_held_late_counts_the_days_taken():
    _, status, actual = only([med("Itraconazole", 30, 36)], [(33, "hold", 0.0), (37, "resume", 10.0)])
    assert status == "deviation" and "taken on 3 days" in actual


@pytest.mark.parametrize("first, last, doses", [
    (-20, -1, ()),                                   # before the start
    (60, 70, [(50, "discontinue", 0.0)]),            # after a discontinuation
    (200, 210, ()),                                  # after the analysis date
])
def test_a_strong_inhibitor_outside_treatment_gives_no_finding(first, last, doses):
    assert only([med("Ketoconazole", first, last)], doses) is None


def test_an_ongoing_inhibitor_counts_to_the_analysis_date_and_a_synonym_is_the_drug():
    _, status, actual = only([med("ritonavir", 170, None)])
    assert status == "deviation" and f"{day(170)} to {AS_OF}" in actual


def test_free_text_is_never_checked():
    assert only([med("clarithro (GP letter)", 30, 36)]) is None


# --- moderate inhibitors: 2.5 mg, back after about 3 days ------------------------------------------------------

def test_a_moderate_inhibitor_with_the_dose_reduced_and_restored_after_the_washout_is_compliant():
    rule, status, actual = only([med("Fluconazole", 30, 43)], [(30, "reduce", 2.5), (47, "escalate", 10.0)])
    assert (rule, status) == ("DDI-MODERATE-INHIBITOR", "compliant")
    assert actual == f"reduced to 2.5 mg/day with it; back to 10 mg/day on {day(47)}, 4 days after it stopped"


def test_a_moderate_inhibitor_without_a_reduction_is_a_deviation_after_the_grace_days():
    _, status, actual = only([med("Erythromycin", 30, 43)])
    assert status == "deviation"
    assert actual.startswith(f"everolimus still 10 mg on {day(33)}, after the 2-day grace period, while on "
                             "Erythromycin: 2.5 mg/day was due")


def test_the_reduction_may_come_within_the_grace_days():
    _, status, _ = only([med("Diltiazem", 30, None)], [(32, "reduce", 2.5)])
    assert status == "compliant"


def test_within_the_grace_days_the_finding_is_open():
    _, status, actual = only([med("Verapamil", 30, None)], as_of=day(31))
    assert status == "open" and "grace period" in actual


def test_five_mg_is_allowed_once_tolerated_at_2_5_but_not_straight_away():
    assert only([med("Aprepitant", 30, 60)], [(30, "reduce", 2.5), (40, "escalate", 5.0), (64, "escalate", 10.0)])[1] \
        == "compliant"
    _, status, actual = only([med("Aprepitant", 30, 60)], [(30, "reduce", 5.0), (64, "escalate", 10.0)])
    assert status == "deviation" and "without first reducing to 2.5 mg/day" in actual


def test_returning_to_the_previous_dose_too_early_or_above_it_is_a_deviation():
    _, status, actual = only([med("Fluconazole", 30, 43)], [(30, "reduce", 2.5), (44, "escalate", 10.0)])
    assert status == "deviation" and "1 day after it stopped (wait about 3 days)" in actual
    _, status, actual = only([med("Fluconazole", 30, 43)], [(20, "reduce", 5.0), (30, "reduce", 2.5),
                                                            (50, "escalate", 10.0)])
    assert status == "deviation" and "above the dose before it (5 mg/day)" in actual


def test_not_yet_back_is_open_for_review():
    _, status, actual = only([med("Fluconazole", 30, 43)], [(30, "reduce", 2.5)], as_of=day(44))
    assert status == "open" and f"the washout runs to {day(46)}" in actual
    _, status, actual = only([med("Fluconazole", 30, 43)], [(30, "reduce", 2.5)])
    assert status == "open" and "not yet back to the dose before it (10 mg/day)" in actual


def test_a_return_to_a_previous_dose_of_5_mg_is_seen_and_judged():
    assert only([med("Fluconazole", 30, 43)], [(20, "reduce", 5.0), (30, "reduce", 2.5), (47, "escalate", 5.0)])[1:] == \
        ("compliant", f"reduced to 2.5 mg/day with it; back to 5 mg/day on {day(47)}, 4 days after it stopped")
    _, status, actual = only([med("Fluconazole", 30, 43)], [(20, "reduce", 5.0), (30, "reduce", 2.5),
                                                            (44, "escalate", 5.0)])
    assert status == "deviation" and "1 day after it stopped" in actual


def test_the_washout_and_the_dose_before_hold_when_that_dose_was_low_or_the_inhibitor_came_first():
    # taken from before the start: the planned dose is the dose before it
    _, status, actual = only([med("Fluconazole", -10, 20)], [(21, "escalate", 10.0)], first_dose=2.5)
    assert status == "deviation" and "1 day after it stopped" in actual
    # at 2.5 mg for a toxicity before it: back to 2.5 is all; 10 mg after it is above the dose before it
    _, status, actual = only([med("Fluconazole", 30, 43)], [(10, "reduce", 2.5), (50, "escalate", 10.0)])
    assert status == "deviation" and "above the dose before it (2.5 mg/day)" in actual
    assert only([med("Fluconazole", 30, 43)], [(10, "reduce", 2.5)])[1] == "compliant"


def test_back_to_back_inhibitors_are_one_inhibited_period():
    first, second = med("Fluconazole", 30, 43, mid=1), med("Erythromycin", 44, 60, mid=2)
    found = {v.medication_id: v for v in verdicts([first, second], [(30, "reduce", 2.5), (61, "escalate", 10.0)])}
    assert found[1].status == "compliant" and f"Erythromycin carries the inhibition on from {day(44)}" in found[1].actual
    assert found[2].status == "deviation" and "1 day after it stopped" in found[2].actual


def test_a_short_course_within_the_grace_days_never_reduced_is_left_for_review():
    _, status, actual = only([med("Aprepitant", 30, 32)])
    assert status == "open"
    assert actual == ("not reduced: everolimus 10 mg throughout a course of 3 days, within the 2-day grace "
                      "period; for a pharmacist's review")


def test_no_dose_record_to_judge_against_is_open():
    meds = pd.DataFrame([med("Clarithromycin", 30, 36)], columns=MED_COLUMNS)
    found = interactions.patient_verdicts(meds, [], AS_OF, 2, treatment_start=START, planned_dose_mg=10.0)
    assert [(v.status, v.actual) for v in found] == [("open", "no everolimus dose record to judge it against")]


def test_a_dose_raised_for_an_inducer_must_come_back_within_5_days_after_it_stops():
    doses = [(30, "escalate", 15.0), (34, "escalate", 20.0)]
    _, status, actual = only([med("Rifampin", 30, 59)], doses)
    assert status == "deviation" and f"still 20 mg/day 5 days after it stopped on {day(59)}" in actual
    assert only([med("Rifampin", 30, 59)], [*doses, (63, "reduce", 10.0)])[1] == "open"  # back: for review


def test_a_moderate_inhibitor_then_a_discontinuation_needs_no_return():
    assert only([med("Fluconazole", 30, 43)], [(30, "reduce", 2.5), (45, "discontinue", 0.0)])[1] == "compliant"


def test_a_moderate_inhibitor_outside_treatment_gives_no_finding():
    assert only([med("Fluconazole", -30, -10)]) is None


# --- inducers, grapefruit, vaccines, ACE inhibitors, steroids ---------------------------------------------------

def test_a_strong_inducer_or_grapefruit_with_everolimus_is_left_for_review():
    for drug, rule in (("St John's wort", "DDI-STRONG-INDUCER"), ("Rifampicin", "DDI-STRONG-INDUCER"),
                       ("Grapefruit juice", "DDI-GRAPEFRUIT")):
        found_rule, status, actual = only([med(drug, 30, 40)])
        assert (found_rule, status) == (rule, "open") and actual.endswith("for a pharmacist's review")
        assert only([med(drug, 30, 40)], [(30, "hold", 0.0), (41, "resume", 10.0)])[1] == "compliant"
        assert only([med(drug, -40, -1)]) is None


def test_a_live_vaccine_during_treatment_is_a_deviation_even_while_held():
    assert only([med("Yellow fever vaccine (live)", 30, 30)])[:2] == ("DDI-LIVE-VACCINE", "deviation")
    _, status, actual = only([med("MMR vaccine", 31, 31)], [(30, "hold", 0.0)])
    assert status == "deviation" and "held" in actual
    assert only([med("MMR vaccine", -10, -10)]) is None


def test_an_ace_inhibitor_with_everolimus_is_information():
    assert only([med("Ramipril", -300, None)])[:2] == ("DDI-ACE-INHIBITOR", "information")
    assert only([med("Ramipril", -300, -200)]) is None


def test_steroids_for_pneumonitis_without_pjp_prophylaxis_are_information():
    steroid = med("Prednisone", 40, 60, indication="Pneumonitis grade 2")
    assert only([steroid])[:2] == ("PJP-PROPHYLAXIS", "information")
    linked = med("Methylprednisolone", 40, 60, event=9)
    assert only([linked], events={9: "Pneumonitis"})[:2] == ("PJP-PROPHYLAXIS", "information")
    covered = med("Co-trimoxazole", 42, 70, mid=2)
    assert only([steroid, covered]) is None            # PJP prophylaxis on its last day
    stopped = med("Co-trimoxazole", 42, 50, mid=2)
    assert only([steroid, stopped])[1] == "information"  # prophylaxis stopped before the steroid did
    ongoing = med("Prednisone", 40, None, indication="Pneumonitis")
    assert only([ongoing, stopped])[2] == f"Prednisone for pneumonitis from {day(40)}: no PJP prophylaxis " \
                                          f"recorded on {AS_OF}"
    assert only([med("Prednisone", 40, 60, indication="Rash")]) is None


# --- in the dosing audit --------------------------------------------------------------------------------------

def test_the_audit_names_the_patient_record_and_rule_and_keeps_information_apart():
    patients = patients_frame(START)
    doses = doses_frame((1, START, "start", 10.0))
    meds = pd.DataFrame([med("Clarithromycin", 30, 36, mid=7), med("Lisinopril", -10, None, mid=8)],
                        columns=MED_COLUMNS)
    events = pd.DataFrame(columns=["id", "term"])
    judged, told = interaction_audit.interaction_findings(patients, meds, events, doses, AS_OF)
    assert [(f.key, f.mrn, f.term, f.rule, f.status) for f in judged] == [
        ("medication:7", "MRN001", "Clarithromycin", "DDI-STRONG-INHIBITOR", "deviation")]
    assert [(f.key, f.rule, f.status) for f in told] == [("medication:8", "DDI-ACE-INHIBITOR", "information")]
    report = judged[0].as_report()
    assert report["grade"] is None and report["onset_date"] == day(30).isoformat()
    assert all(f.rule.startswith(("DDI-", "PJP-")) for f in judged + told)  # never a toxicity rule's id


def test_interaction_rule_ids_are_distinct_from_the_dose_rules():
    from models.clinical import dose_rules

    toxicity = {rule.rule_id for name in ("us-current", "us-2012") for rule in dose_rules.rules(name)}
    interaction = {c.rule for c in medications.interaction_classes().values() if c.rule}
    assert interaction and not interaction & toxicity


# --- the files ------------------------------------------------------------------------------------------------

def test_every_class_and_drug_has_a_source_and_status_and_the_label_doses_are_transcribed():
    classes = medications.interaction_classes()
    assert all(c.source and c.status for c in classes.values())
    assert all(d.source and d.status for d in medications.catalogue_drugs())
    moderate = classes["moderate_cyp3a4_inhibitor"]
    assert (moderate.dose_mg, moderate.dose_up_to_mg, moderate.washout_days) == (2.5, 5.0, 3)
    assert classes["strong_cyp3a4_inducer"].dose_up_to_mg == 20.0
    reported = {d.name for d in medications.catalogue_drugs() if d.patient_reported}
    assert reported == {"St John's wort", "Grapefruit"}


def test_a_catalogue_with_an_unknown_class_or_a_name_twice_is_refused_with_its_line(tmp_path):
    header = "drug,synonyms,classes,patient_reported,route,source,status\n"
    bad = tmp_path / "medications.csv"
    bad.write_text(header + "Drug A,,no_such_class,no,oral,s,t\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"medications.csv:2: classes: unknown class"):
        medications.load_catalogue(bad)
    bad.write_text(header + "Drug A,,ace_inhibitor,no,oral,s,t\nDrug B,drug a,ace_inhibitor,no,oral,s,t\n",
                   encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"medications.csv:3: drug: 'drug a' already names Drug A"):
        medications.load_catalogue(bad)
