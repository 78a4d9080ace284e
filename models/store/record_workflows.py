"""Writes of several records at once, through the one write path (records.py): registering a patient with
the start dose and baseline labs, a change of grade (one record ends, a linked one opens), and a
pharmacist's verification of a dose record. Callers use them as records.register_patient and so on."""
from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from models.clinical.medications import mouthwash_drugs
from models.store.db import write_session
from models.store.record_checks import lock_patient
from models.store.record_errors import (Actor, NotPermitted, Problem, RefusedByDatabase, ValidationFailed,
                                        database_errors)
from models.store.records import (REGISTRATION_START, VERIFY_ROLES, _locked_current, _table_for, _transaction,
                                  create, get, update)
from models.store.tables import AdverseEvent, utc_now

MOUTHWASH = mouthwash_drugs()[0]


@database_errors
def register_patient(values: dict, baseline_labs: list[dict], actor: Actor, *, today: date | None = None,
                     url: str | None = None, medications: list[dict] = ()) -> dict:
    """A new patient, the "start" dose record (planned dose from the treatment start: the current dose and dose
    intensity are right from day 1), the baseline labs and the medications (mouthwash_record), all or
    nothing."""
    with write_session(url) as session:
        patient = create("patient", values, actor, today=today, session=session)
        start = {"effective_date": patient["treatment_start"], "action": "start", "reason": REGISTRATION_START}
        create("dose_event", {"patient_id": patient["id"], "dose_mg": patient["planned_dose_mg"], **start}, actor,
               today=today, session=session, _registration=True)
        problems = []
        for lab in baseline_labs:
            try:
                create("lab_result", {**lab, "patient_id": patient["id"], "baseline": True}, actor, today=today,
                       session=session)
            except RefusedByDatabase:
                raise  # on PostgreSQL the transaction can run nothing more
            except ValidationFailed as error:
                problems += [Problem(f"{lab.get('test')}.{p.field}", f"Baseline {lab.get('test')}: {p.message}")
                             for p in error.problems]
        if problems:
            raise ValidationFailed(problems)
        for medication in medications:
            create("concomitant_medication", {**medication, "patient_id": patient["id"]}, actor, today=today,
                   session=session)
        return patient


def mouthwash_record(treatment_start: date) -> dict:
    """The SWISH prophylaxis as a registration records it: the dexamethasone mouthwash from day 1."""
    return {"drug": MOUTHWASH, "route": "oral_rinse", "start_date": treatment_start,
            "indication": "Stomatitis prophylaxis (SWISH)"}


@database_errors
def change_grade(event_id: int, expected_version: int, new_grade: int, change_date: date, actor: Actor, *,
                 today: date | None = None, url: str | None = None,
                 session: Session | None = None) -> tuple[dict, dict]:
    """Oncology convention: end the record the day before the change (on the day itself for a change on the
    onset day) and open a linked record with the new grade from the change, at once. Returns (ended, new)."""
    _table_for("adverse_event", actor)
    with _transaction(url, session) as session:
        current = _locked_current(session, AdverseEvent, "adverse_event", event_id, expected_version)
        problems = []
        if current["record_status"] != "active":
            problems.append(Problem("record", "This record is marked entered in error."))
        elif current["resolved_date"] is not None:
            problems.append(Problem("resolved_date", f"This record was resolved on {current['resolved_date']}; "
                                                     "log a new event for a new episode."))
        if new_grade == current["grade"]:
            problems.append(Problem("grade", f"The record already has grade {new_grade}."))
        if change_date < current["onset_date"]:
            problems.append(Problem("onset_date", f"The grade change on {change_date} is before the onset "
                                                  f"{current['onset_date']} of this record."))
        if problems:
            raise ValidationFailed(problems)
        worse = new_grade > current["grade"]
        ended = update("adverse_event", event_id, expected_version,
                       {"resolved_date": max(current["onset_date"], change_date - timedelta(days=1)),
                        "outcome": "not_recovered" if worse else "recovering"},
                       actor, today=today, session=session)
        carried = {k: current[k] for k in ("patient_id", "term", "serious", "attribution", "source")}
        # A pre-existing condition that changes grade on treatment is treatment-emergent from then on.
        carried["baseline"] = current["baseline"] and change_date < lock_patient(session, current["patient_id"]).treatment_start
        opened = create("adverse_event", {**carried, "grade": new_grade, "onset_date": change_date,
                                          "previous_event_id": event_id}, actor, today=today, session=session)
        return ended, opened


@database_errors
def verify_dose_event(dose_id: int, expected_version: int, actor: Actor, *, url: str | None = None) -> dict:
    """A pharmacist other than its author and its last editor confirms a dose record (who and when are kept on
    the record and in the audit trail); any later change of the record clears the verification."""
    _table_for("dose_event", actor)
    if actor.role not in VERIFY_ROLES:
        raise NotPermitted("Only a pharmacist verifies dose records.")
    current = get("dose_event", dose_id, url=url)
    if current["verified_by"]:
        raise ValidationFailed([Problem("verified_by", f"Already verified by {current['verified_by']}.")])
    if actor.username in (current["created_by"], current["updated_by"]):  # four eyes
        raise NotPermitted("Nobody verifies a dose record they recorded or last changed; another pharmacist "
                           "verifies it.")
    return update("dose_event", dose_id, expected_version, {"verified_by": actor.username,
                                                           "verified_at": utc_now()}, actor, url=url)
