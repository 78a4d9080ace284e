"""Dose records validated in sequence through the one write path (models.store.records ->
models.clinical.dose_sequence), on SQLite and PostgreSQL: each refusal with its message and nothing written; the configurable step list; a
back-dated record that would break a later one; pharmacist verification; pharmacist finding reviews."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from models import settings
from models.clinical import dose_rules
from models.store import queries, records
from models.store.db import read_session
from models.store.records import Actor, NotPermitted, ValidationFailed
from models.store.tables import AuditEntry, DoseEvent, FindingReview

NURSE = Actor("nina.nurse", "nurse")
ONCOLOGIST = Actor("omar.onc", "oncologist")
PHARMACIST = Actor("pia.pharm", "pharmacist")
ADMIN = Actor("ada.admin", "admin")

START = date(2026, 1, 5)
TODAY = date(2026, 6, 1)
EOD_RULES = ", ".join(r.rule_id for r in dose_rules.rules() if r.every_other_day_allowed)


@pytest.fixture(autouse=True)
def _default_steps(monkeypatch):
    """The default step list 10 / 5 / 2.5 mg unless a test sets TOXWATCH_DOSE_STEPS itself."""
    monkeypatch.delenv(settings.DOSE_STEPS_ENV, raising=False)
    monkeypatch.setattr(settings, "SECRETS_PATH", settings.PROJECT_ROOT / "no-such-secrets.toml")


def d(offset: int) -> date:
    return START + timedelta(days=offset)


def patient(url: str, planned: float = 10.0, mrn: str = "MRN-300") -> int:
    return records.create("patient", {"mrn": mrn, "name": "Dose Person", "treatment_start": START,
                                      "planned_dose_mg": planned}, ADMIN, today=TODAY, url=url)["id"]


def event(url: str, pid: int, term: str, grade: int, onset: date) -> int:
    return records.create("adverse_event", {"patient_id": pid, "term": term, "grade": grade, "onset_date": onset},
                          NURSE, today=TODAY, url=url)["id"]


def add(url: str, pid: int, when: date, action: str, mg: float, who: Actor = PHARMACIST, **extra) -> dict:
    return records.create("dose_event", {"patient_id": pid, "effective_date": when, "action": action,
                                         "dose_mg": mg, **extra}, who, today=TODAY, url=url)


def counts(url: str) -> tuple[int, int, int]:
    with read_session(url) as session:
        doses = session.scalar(select(func.count()).select_from(DoseEvent))
        reviews = session.scalar(select(func.count()).select_from(FindingReview))
    return doses, reviews, queries.audit_count(url)


def refused(url: str, pid: int, when: date, action: str, mg: float, message: str, *, error=ValidationFailed,
            who: Actor = PHARMACIST, **extra) -> None:
    """The record is refused with exactly this message, and nothing is written (rows and audit trail)."""
    before = counts(url)
    with pytest.raises(error) as caught:
        add(url, pid, when, action, mg, who, **extra)
    assert str(caught.value) == message
    assert counts(url) == before


def audit_entries(url: str, record_type: str, record_id: int) -> list[dict]:
    with read_session(url) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.record_type == record_type,
                                                     AuditEntry.record_id == record_id)
                            .order_by(AuditEntry.id)).all()
        return [{"username": r.username, "action": r.action, "before": json.loads(r.before) if r.before else None,
                 "after": json.loads(r.after) if r.after else None} for r in rows]


# --- the order of records ----------------------------------------------------------------------------------

def test_the_first_record_must_be_the_start(db_url):
    pid = patient(db_url)
    for action, mg in (("hold", 0.0), ("resume", 10.0), ("reduce", 5.0), ("discontinue", 0.0)):
        refused(db_url, pid, START, action, mg, "The first dose record of a patient is the start of treatment.")
    started = add(db_url, pid, START, "start", 10.0)
    assert (started["action"], started["dose_mg"], started["created_by"]) == ("start", 10.0, PHARMACIST.username)


def test_a_resume_needs_a_hold_before_it(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    refused(db_url, pid, d(10), "resume", 10.0, f"A resume needs a hold before it; on {d(10)} the patient is on 10 mg.")
    add(db_url, pid, d(10), "hold", 0.0, reason="Mouth ulcers")
    assert add(db_url, pid, d(17), "resume", 10.0)["action"] == "resume"


def test_a_hold_while_held_is_refused(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    add(db_url, pid, d(10), "hold", 0.0, reason="Mouth ulcers")
    refused(db_url, pid, d(12), "hold", 0.0,
            f"The dose is already held since {d(10)}; record a resume, a reduction or a discontinuation.")
    # a reduction ends the hold at a lower dose
    assert add(db_url, pid, d(14), "reduce", 5.0)["dose_mg"] == 5.0


def test_only_a_new_start_may_follow_a_discontinuation(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    add(db_url, pid, d(30), "discontinue", 0.0, reason="Progression")
    message = f"Everolimus was discontinued on {d(30)}; only a new start can follow."
    for action, mg in (("hold", 0.0), ("resume", 10.0), ("reduce", 5.0), ("escalate", 10.0),
                       ("discontinue", 0.0)):
        refused(db_url, pid, d(40), action, mg, message)
    assert add(db_url, pid, d(40), "start", 5.0)["action"] == "start"


def test_a_second_start_while_on_treatment_is_refused(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    refused(db_url, pid, d(5), "start", 10.0,
            f"Treatment is already started (last change {START}); record a resume or a dose change.")


def test_a_reduction_must_lower_and_an_escalation_must_raise(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 5.0)
    refused(db_url, pid, d(5), "reduce", 5.0, "A reduction must lower the dose (it was 5 mg).")
    refused(db_url, pid, d(5), "reduce", 10.0, "A reduction must lower the dose (it was 5 mg).")
    refused(db_url, pid, d(5), "escalate", 5.0, "An escalation must raise the dose (it was 5 mg).")
    refused(db_url, pid, d(5), "escalate", 2.5, "An escalation must raise the dose (it was 5 mg).")
    assert add(db_url, pid, d(5), "reduce", 2.5)["dose_mg"] == 2.5
    assert add(db_url, pid, d(9), "escalate", 10.0)["dose_mg"] == 10.0


def test_a_dose_change_before_the_treatment_start_is_refused(db_url):
    pid = patient(db_url)
    refused(db_url, pid, START - timedelta(days=1), "start", 10.0,
            f"Dose changes cannot be dated before the treatment start {START}.")


# --- the dose itself -------------------------------------------------------------------------------------

def test_a_dose_off_the_step_list_is_refused_unless_it_is_the_planned_dose(db_url):
    pid = patient(db_url)
    message = "7.5 mg is not on the dose step list (10, 5, 2.5 mg) nor the planned dose."
    refused(db_url, pid, START, "start", 7.5, message)
    add(db_url, pid, START, "start", 10.0)
    refused(db_url, pid, d(5), "reduce", 7.5, message)
    # a patient planned at 8 mg (e.g. a local protocol) may start on it although 8 is no step
    other = patient(db_url, planned=8.0, mrn="MRN-301")
    assert add(db_url, other, START, "start", 8.0)["dose_mg"] == 8.0


def test_the_step_list_comes_from_toxwatch_dose_steps(db_url, monkeypatch):
    monkeypatch.setenv(settings.DOSE_STEPS_ENV, "10,7.5,5")
    assert settings.dose_steps_mg() == (10.0, 7.5, 5.0)
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    assert add(db_url, pid, d(5), "reduce", 7.5)["dose_mg"] == 7.5
    refused(db_url, pid, d(9), "reduce", 2.5,
            "2.5 mg is not on the dose step list (10, 7.5, 5 mg) nor the planned dose.")
    assert add(db_url, pid, d(9), "reduce", 5.0)["dose_mg"] == 5.0


def test_above_the_planned_dose_only_by_escalation(db_url):
    pid = patient(db_url, planned=5.0)
    message = "10 mg is above the planned daily dose of 5 mg; choose 'escalate' to go above it."
    refused(db_url, pid, START, "start", 10.0, message)
    add(db_url, pid, START, "start", 5.0)
    add(db_url, pid, d(10), "hold", 0.0, reason="Dental surgery")
    refused(db_url, pid, d(15), "resume", 10.0, message)
    add(db_url, pid, d(15), "resume", 5.0)
    escalated = add(db_url, pid, d(30), "escalate", 10.0, reason="Strong CYP3A4 inducer started")
    assert (escalated["action"], escalated["dose_mg"]) == ("escalate", 10.0)


def test_every_other_day_only_at_the_lowest_step_for_an_event_whose_rule_allows_it(db_url):
    pid = patient(db_url)
    platelets = event(db_url, pid, "Platelet count decreased", 3, d(20))
    anemia = event(db_url, pid, "Anemia", 3, d(21))  # no dose rule at all
    add(db_url, pid, START, "start", 10.0)
    add(db_url, pid, d(20), "hold", 0.0, adverse_event_id=platelets)
    message = (f"Every-other-day dosing is allowed only at the lowest step (2.5 mg) and linked to an adverse "
               f"event whose rule allows it ({EOD_RULES}).")
    # the current label: every "resume at 50%" may go every other day below the lowest step
    assert EOD_RULES == "STOM-2, STOM-3, PNEU-3, META-3, THRO-3, NEUT-4, FEBN-3, OTHR-2, OTHR-3"
    refused(db_url, pid, d(30), "resume", 5.0, message, every_other_day=True, adverse_event_id=platelets)
    refused(db_url, pid, d(30), "resume", 2.5, message, every_other_day=True, adverse_event_id=anemia)
    refused(db_url, pid, d(30), "resume", 2.5, message, every_other_day=True)
    refused(db_url, pid, d(30), "hold", 0.0, message, every_other_day=True, adverse_event_id=platelets)
    saved = add(db_url, pid, d(30), "resume", 2.5, every_other_day=True, adverse_event_id=platelets)
    assert (saved["every_other_day"], saved["dose_mg"], saved["adverse_event_id"]) == (True, 2.5, platelets)


def test_the_lowest_step_for_every_other_day_follows_the_configured_list(db_url, monkeypatch):
    monkeypatch.setenv(settings.DOSE_STEPS_ENV, "10,7.5,5")
    pid = patient(db_url)
    neutropenia = event(db_url, pid, "Neutrophil count decreased", 4, d(20))
    add(db_url, pid, START, "start", 10.0)
    add(db_url, pid, d(20), "hold", 0.0, adverse_event_id=neutropenia)
    assert add(db_url, pid, d(30), "reduce", 5.0, every_other_day=True,
               adverse_event_id=neutropenia)["every_other_day"] is True


# --- a change in the middle of the history -----------------------------------------------------------------

def test_a_back_dated_record_that_would_break_a_later_one_is_refused(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    add(db_url, pid, d(10), "hold", 0.0, reason="Mouth ulcers")
    add(db_url, pid, d(20), "resume", 10.0)
    refused(db_url, pid, d(5), "hold", 0.0,
            f"The dose is already held since {d(5)}; record a resume, a reduction or a discontinuation. "
            f"(the hold of {d(10)} would no longer fit)", reason="Nausea")
    refused(db_url, pid, d(5), "discontinue", 0.0,
            f"Everolimus was discontinued on {d(5)}; only a new start can follow. "
            f"(the hold of {d(10)} would no longer fit)")
    refused(db_url, pid, d(15), "reduce", 5.0,
            f"A resume needs a hold before it; on {d(20)} the patient is on 5 mg. "
            f"(the resume of {d(20)} would no longer fit)")
    # a back-dated record that fits is accepted
    assert add(db_url, pid, d(3), "reduce", 5.0)["dose_mg"] == 5.0


def test_an_edit_that_moves_a_hold_past_its_resume_is_refused(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0)
    hold = add(db_url, pid, d(10), "hold", 0.0, reason="Mouth ulcers")
    add(db_url, pid, d(20), "resume", 10.0)
    before = counts(db_url)
    with pytest.raises(ValidationFailed) as caught:
        records.update("dose_event", hold["id"], 1, {"effective_date": d(25)}, PHARMACIST, today=TODAY, url=db_url)
    assert str(caught.value) == (f"A resume needs a hold before it; on {d(20)} the patient is on 10 mg. "
                                 f"(the resume of {d(20)} would no longer fit)")
    assert counts(db_url) == before
    assert records.get("dose_event", hold["id"], url=db_url)["effective_date"] == d(10)
    # moving it within its place is fine
    moved = records.update("dose_event", hold["id"], 1, {"effective_date": d(12)}, PHARMACIST, today=TODAY,
                           url=db_url)
    assert (moved["effective_date"], moved["version"]) == (d(12), 2)


# --- verification ------------------------------------------------------------------------------------------

def test_a_pharmacist_verifies_a_dose_record_once(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0, who=ONCOLOGIST)
    hold = add(db_url, pid, d(10), "hold", 0.0, who=ONCOLOGIST, reason="Mouth ulcers")
    assert hold["verified_by"] is None and hold["verified_at"] is None
    trail = audit_entries(db_url, "dose_event", hold["id"])

    before = counts(db_url)
    with pytest.raises(NotPermitted) as caught:
        records.verify_dose_event(hold["id"], 1, ONCOLOGIST, url=db_url)
    assert str(caught.value) == "Only a pharmacist verifies dose records."
    with pytest.raises(NotPermitted) as caught:
        records.verify_dose_event(hold["id"], 1, NURSE, url=db_url)
    assert str(caught.value) == "A nurse cannot write dose event records."
    assert counts(db_url) == before
    assert records.get("dose_event", hold["id"], url=db_url)["verified_by"] is None

    moment = datetime.now(UTC)
    verified = records.verify_dose_event(hold["id"], 1, PHARMACIST, url=db_url)
    assert (verified["verified_by"], verified["version"], verified["updated_by"]) == (
        PHARMACIST.username, 2, PHARMACIST.username)
    stored = records.get("dose_event", hold["id"], url=db_url)
    assert stored["verified_by"] == PHARMACIST.username and stored["version"] == 2
    stamp = stored["verified_at"]
    assert isinstance(stamp, datetime)
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)  # SQLite returns UTC without a zone
    assert abs((stamp - moment).total_seconds()) < 120
    entries = audit_entries(db_url, "dose_event", hold["id"])
    assert len(entries) == len(trail) + 1
    entry = entries[-1]
    assert (entry["username"], entry["action"]) == (PHARMACIST.username, "update")
    assert entry["before"]["verified_by"] is None and entry["before"]["verified_at"] is None
    assert entry["after"]["verified_by"] == PHARMACIST.username and entry["after"]["verified_at"]
    assert (entry["before"]["version"], entry["after"]["version"]) == (1, 2)

    before = counts(db_url)
    with pytest.raises(ValidationFailed) as caught:
        records.verify_dose_event(hold["id"], 2, Actor("paul.pharm", "pharmacist"), url=db_url)
    assert str(caught.value) == f"Already verified by {PHARMACIST.username}."
    assert counts(db_url) == before
    assert records.get("dose_event", hold["id"], url=db_url)["verified_by"] == PHARMACIST.username


def test_a_dose_record_cannot_be_saved_as_verified_by_someone_who_may_not_verify(db_url):
    pid = patient(db_url)
    refused(db_url, pid, START, "start", 10.0, "Only a pharmacist verifies dose records.", error=NotPermitted,
            who=ONCOLOGIST, verified_by=ONCOLOGIST.username)
    refused(db_url, pid, START, "start", 10.0, "Only a pharmacist verifies dose records.", error=NotPermitted,
            who=ONCOLOGIST, verified_at=datetime.now(UTC))
    saved = add(db_url, pid, START, "start", 10.0, who=ONCOLOGIST)
    assert records.get("dose_event", saved["id"], url=db_url)["verified_by"] is None


# --- finding reviews ---------------------------------------------------------------------------------------

def review(url: str, pid: int, who: Actor, decision: str, comment: str | None, key: str = "event:1") -> dict:
    return records.create("finding_review", {"finding_key": key, "patient_id": pid, "rule": "STOM-2 (Stomatitis, "
                                             "grade 2)", "decision": decision, "comment": comment},
                          who, today=TODAY, url=url)


def test_a_pharmacist_reviews_findings(db_url):
    pid = patient(db_url)
    accepted = review(db_url, pid, PHARMACIST, "accepted", "Discussed with the team; dose reduced at next visit.")
    assert (accepted["decision"], accepted["comment"], accepted["created_by"], accepted["finding_key"]) == (
        "accepted", "Discussed with the team; dose reduced at next visit.", PHARMACIST.username, "event:1")
    justified = review(db_url, pid, PHARMACIST, "justified", "Planned dental surgery", key="hold:7")
    assert (justified["decision"], justified["comment"]) == ("justified", "Planned dental surgery")
    entries = audit_entries(db_url, "finding_review", accepted["id"])
    assert [(e["username"], e["action"]) for e in entries] == [(PHARMACIST.username, "create")]
    assert entries[0]["after"]["decision"] == "accepted"
    with read_session(db_url) as session:
        stored = session.exec(select(FindingReview).order_by(FindingReview.id)).all()
        assert [(r.finding_key, r.decision, r.patient_id) for r in stored] == [
            ("event:1", "accepted", pid), ("hold:7", "justified", pid)]


def test_accepting_a_finding_needs_a_comment(db_url):
    pid = patient(db_url)
    before = counts(db_url)
    for comment in (None, "", "   "):
        with pytest.raises(ValidationFailed) as caught:
            review(db_url, pid, PHARMACIST, "accepted", comment)
        assert str(caught.value) == "Accepting a finding needs a comment (what was done about it)."
        with pytest.raises(ValidationFailed) as caught:  # a justification says why (it saved as "nan" once)
            review(db_url, pid, PHARMACIST, "justified", comment)
        assert str(caught.value) == "Justifying a finding needs a comment (why it was clinically right)."
    assert counts(db_url) == before


@pytest.mark.parametrize("who", [NURSE, ONCOLOGIST])
def test_only_a_pharmacist_reviews_findings(db_url, who):
    pid = patient(db_url)
    before = counts(db_url)
    with pytest.raises(NotPermitted) as caught:
        review(db_url, pid, who, "justified", "Looks fine to me")
    assert str(caught.value) == f"A {who.role} cannot write finding review records."
    assert counts(db_url) == before


def test_four_eyes_nobody_verifies_a_record_they_created_or_last_changed(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0, who=ONCOLOGIST)
    hold = add(db_url, pid, d(10), "hold", 0.0, who=PHARMACIST, reason="Mouth ulcers")
    with pytest.raises(NotPermitted, match="Nobody verifies a dose record they recorded"):
        records.verify_dose_event(hold["id"], 1, PHARMACIST, url=db_url)
    other = Actor("paul.pharm", "pharmacist")
    edited = records.update("dose_event", hold["id"], 1, {"reason": "Mouth ulcers, grade 2"}, other, today=TODAY,
                            url=db_url)
    with pytest.raises(NotPermitted, match="last changed"):
        records.verify_dose_event(hold["id"], edited["version"], other, url=db_url)
    with pytest.raises(NotPermitted, match="recorded"):  # its author still may not
        records.verify_dose_event(hold["id"], edited["version"], PHARMACIST, url=db_url)
    third = Actor("vera.pharm", "pharmacist")
    verified = records.verify_dose_event(hold["id"], edited["version"], third, url=db_url)
    assert verified["verified_by"] == third.username
    with pytest.raises(NotPermitted, match="other than the one who records it"):
        add(db_url, pid, d(20), "resume", 10.0, who=PHARMACIST, verified_by=PHARMACIST.username)


def test_any_change_of_a_verified_record_clears_its_verification_in_the_audit_trail(db_url):
    pid = patient(db_url)
    add(db_url, pid, START, "start", 10.0, who=ONCOLOGIST)
    hold = add(db_url, pid, d(10), "hold", 0.0, who=ONCOLOGIST, reason="Mouth ulcers")
    verified = records.verify_dose_event(hold["id"], 1, PHARMACIST, url=db_url)
    changed = records.update("dose_event", hold["id"], verified["version"], {"effective_date": d(11)}, ONCOLOGIST,
                             today=TODAY, url=db_url)
    assert changed["verified_by"] is None and changed["verified_at"] is None
    entry = audit_entries(db_url, "dose_event", hold["id"])[-1]
    assert entry["before"]["verified_by"] == PHARMACIST.username and entry["after"]["verified_by"] is None
