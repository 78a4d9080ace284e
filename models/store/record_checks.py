"""What a valid clinical record is against the database: the patient lock every write takes, duplicate and
linked-record checks, the dose sequence, dates not in the future, and the write batch's reads of them.

records.py runs these on every create and update after the field rules of record_inputs.py.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, func
from sqlmodel import select

from models.clinical import medications
from models.clinical.dose_sequence import DoseRecord, check_dose_record
from models.clinical.vocabulary import LAB_TEST_LABELS
from models.settings import dose_steps_mg
from models.store.db import in_lists
from models.store.record_inputs import RecordValueError
from models.store.tables import AdverseEvent, ConcomitantMedication, DoseEvent, LabResult, Patient
from models.store.write_batch import Episode, WriteBatch, lab_key, usable_batch


# Built once: every save runs them, and building a statement costs more than running it.
_PATIENT_COLUMNS = select(Patient.id, Patient.record_status, Patient.treatment_start, Patient.planned_dose_mg,
                          Patient.birth_date)
_PATIENT_FOR_WRITE = _PATIENT_COLUMNS.where(Patient.id == bindparam("patient_id")).with_for_update(key_share=True)
_PATIENTS_FOR_WRITE = _PATIENT_COLUMNS.where(Patient.id.in_(bindparam("patient_ids", expanding=True))) \
    .order_by(Patient.id).with_for_update(key_share=True)
_EPISODE_COLUMNS = (AdverseEvent.id, AdverseEvent.term, AdverseEvent.grade, AdverseEvent.onset_date,
                    AdverseEvent.resolved_date, AdverseEvent.previous_event_id)
_TERM_EPISODES = select(*_EPISODE_COLUMNS).where(
    AdverseEvent.patient_id == bindparam("patient_id"), AdverseEvent.term == bindparam("term"),
    AdverseEvent.record_status == "active")
_LAB_KEYS = select(LabResult.id, LabResult.test, LabResult.collected_on, LabResult.value, LabResult.unit).where(
    LabResult.patient_id == bindparam("patient_id"), LabResult.record_status == "active")
_EVENT_KEYS = select(AdverseEvent.patient_id, *_EPISODE_COLUMNS).where(
    AdverseEvent.patient_id.in_(bindparam("patient_ids", expanding=True)), AdverseEvent.record_status == "active")


def prepare_batch(session, patient_ids: set[int], event_patient_ids: set[int]) -> None:
    """Lock every patient a batch will write about at once, in id order (so two imports cannot deadlock on
    each other's patients), and read the episodes of those it will add events to."""
    batch = usable_batch(session)
    if batch is None:
        return
    connection = session.connection()
    for some in in_lists(sorted(i for i in patient_ids | event_patient_ids if i not in batch.patients)):
        for row in connection.execute(_PATIENTS_FOR_WRITE, {"patient_ids": some}):
            batch.patients[row.id] = row
    _read_event_keys(session, batch, [i for i in event_patient_ids if i in batch.patients])


def _read_event_keys(session, batch: WriteBatch, patient_ids: list[int]) -> None:
    """(Only for locked patients: then no one else adds events for them until the transaction ends.)"""
    missing = sorted({i for i in patient_ids if i not in batch.event_keys})
    for some in in_lists(missing):
        keys: dict[int, list] = {i: [] for i in some}
        for row in session.connection().execute(_EVENT_KEYS, {"patient_ids": some}):
            keys[row.patient_id].append(Episode(*row[1:]))
        batch.event_keys.update(keys)  # only once read in full


def lock_patient(session, patient_id: int):
    """The patient row (id, record_status, treatment_start, planned_dose_mg), locked on PostgreSQL until the
    transaction ends: every write about a patient takes this lock, so writes that change the patient's
    derived summary (models/store/summary.py) follow one another and each sees the last one's result."""
    batch = usable_batch(session)
    if batch is not None and patient_id in batch.patients:
        return batch.patients[patient_id]  # locked earlier in this transaction, and held until it ends
    row = session.connection().execute(_PATIENT_FOR_WRITE, {"patient_id": patient_id}).first()
    if batch is not None and row is not None:
        batch.patients[patient_id] = row
    return row


def check_against_database(session, kind: str, clean: dict, record_id: int | None, today: date) -> None:
    """Rules that need the database or today's date; raises RecordValueError."""
    _not_in_future(kind, clean, today)
    if kind == "alert_review" and clean.get("snooze_until") is not None and clean["snooze_until"] <= today:
        raise RecordValueError("snooze_until", f"Snooze until {clean['snooze_until']} is not after today ({today}).")
    if kind == "patient":
        clash = session.exec(select(Patient.id, Patient.mrn, Patient.name).where(
            func.lower(Patient.mrn) == clean["mrn"].lower(), Patient.id != (record_id or 0))).first()
        if clash is not None:
            same = clash.mrn == clean["mrn"]
            raise RecordValueError("mrn", f"MRN {clean['mrn']} is already registered." if same else
                                   f"MRN {clean['mrn']} differs only in case from {clash.mrn}, already "
                                   f"registered for {clash.name}: the same patient?", clash.id)
        return
    # Lock the patient row (PostgreSQL; SQLite writes are serialized by BEGIN IMMEDIATE), so two concurrent
    # writes for one patient cannot both pass the duplicate check below. NO KEY UPDATE does not block the
    # KEY SHARE locks of foreign-key checks, so it cannot deadlock with them.
    patient = lock_patient(session, clean["patient_id"])
    if patient is None or patient.record_status != "active":
        raise RecordValueError("patient_id", "The patient does not exist or was entered in error.")
    if kind == "adverse_event":
        _check_adverse_event(session, clean, record_id, patient)
    elif kind == "dose_event":
        _check_dose_event(session, clean, record_id, patient)
    elif kind == "concomitant_medication":
        _check_medication(session, clean, record_id, patient)
    elif kind == "lab_result":
        _check_lab(session, clean, record_id, patient)
        if not clean["baseline"] and clean["collected_on"] < patient.treatment_start:
            clean["baseline"] = True  # a lab before the first dose is a baseline value by definition


def _check_lab(session, clean: dict, record_id: int | None, patient) -> None:
    """Not before the birth date; not a second record of one result (same test, day, value and unit): a
    double submit, or a file imported twice."""
    if patient.birth_date is not None and clean["collected_on"] < patient.birth_date:
        raise RecordValueError("collected_on", f"Collection date {clean['collected_on']} is before the patient's "
                                               f"birth date {patient.birth_date}.")
    batch = usable_batch(session)
    keys = batch.lab_keys.get(patient.id) if batch is not None else None
    if keys is None:
        keys = {lab_key(row.test, row.collected_on, row.value, row.unit): row.id
                for row in session.connection().execute(_LAB_KEYS, {"patient_id": patient.id})}
        if batch is not None:
            batch.lab_keys[patient.id] = keys
    clash = keys.get(lab_key(clean["test"], clean["collected_on"], clean["value"], clean.get("unit")))
    if clash is not None and clash != record_id:
        unit = f" {clean['unit']}" if clean.get("unit") else ""
        raise RecordValueError("value", f"{LAB_TEST_LABELS.get(clean['test'], clean['test'])} {clean['value']:g}"
                                        f"{unit} on {clean['collected_on']} is already recorded for this patient.",
                               clash)


def _check_dose_event(session, clean: dict, record_id: int | None, patient) -> None:
    event = None
    if clean.get("adverse_event_id") is not None:
        event = session.get(AdverseEvent, clean["adverse_event_id"])
        if event is None or event.patient_id != patient.id:
            raise RecordValueError("adverse_event_id", "The linked adverse event belongs to another patient.")
    existing = session.exec(select(DoseEvent.id, DoseEvent.effective_date, DoseEvent.action, DoseEvent.dose_mg).where(
        DoseEvent.patient_id == patient.id, DoseEvent.record_status == "active")).all()
    taken = session.exec(select(ConcomitantMedication.drug).where(
        ConcomitantMedication.patient_id == patient.id, ConcomitantMedication.record_status == "active",
        ConcomitantMedication.in_catalogue, ConcomitantMedication.start_date <= clean["effective_date"],
        (ConcomitantMedication.stop_date.is_(None)) | (ConcomitantMedication.stop_date >= clean["effective_date"]))).all()
    problem = check_dose_record(
        clean, record_id, treatment_start=patient.treatment_start, planned_dose_mg=patient.planned_dose_mg,
        existing=[DoseRecord(*row) for row in existing],
        linked_event=(event.term, event.grade) if event is not None else None, steps=dose_steps_mg(),
        interaction_doses=medications.doses_allowed_with(list(taken), patient.planned_dose_mg))
    if problem:
        raise RecordValueError("action", problem)


def _check_medication(session, clean: dict, record_id: int | None, patient) -> None:
    """The event it treats is the patient's; one record of a drug per day (a new course after a stop is a new
    record, a change of dose ends one and starts another)."""
    linked = clean.get("adverse_event_id")
    if linked is not None:
        event = session.get(AdverseEvent, linked)
        # an unchanged link may name an event since marked entered in error: the medication can still be stopped
        kept = record_id is not None and session.get(ConcomitantMedication, record_id).adverse_event_id == linked
        if event is None or event.patient_id != patient.id or (event.record_status != "active" and not kept):
            raise RecordValueError("adverse_event_id", "The adverse event it treats is not one of this patient's "
                                                       "active records.")
    born = patient.birth_date
    if born is not None and clean["start_date"] < born:
        raise RecordValueError("start_date", f"Start date {clean['start_date']} is before the patient's birth date "
                                             f"{born}.")
    same_drug = session.exec(select(ConcomitantMedication.id, ConcomitantMedication.drug,
                                    ConcomitantMedication.start_date, ConcomitantMedication.stop_date).where(
        ConcomitantMedication.patient_id == patient.id, ConcomitantMedication.record_status == "active",
        func.lower(ConcomitantMedication.drug) == clean["drug"].lower(),
        ConcomitantMedication.id != (record_id or 0))).all()
    start, stop = clean["start_date"], clean.get("stop_date")
    for other in same_drug:
        if (stop is None or other.start_date <= stop) and (other.stop_date is None or start <= other.stop_date):
            until = f"to {other.stop_date}" if other.stop_date else "and not stopped"
            raise RecordValueError("drug", f"{other.drug} is already recorded for this patient from "
                                           f"{other.start_date} {until}; stop or correct that record instead of "
                                           "adding an overlapping one.", other.id)


def _check_adverse_event(session, clean: dict, record_id: int | None, patient) -> None:
    if clean["onset_date"] < patient.treatment_start and not clean["baseline"]:
        raise RecordValueError(
            "onset_date", f"Onset {clean['onset_date']} is before the treatment start "
                          f"{patient.treatment_start}; mark the event as baseline (pre-existing) if it was.")
    clash = overlapping_episode(clean, record_id, _term_episodes(session, clean))
    if clash is not None:
        raise RecordValueError("term", clash_message(clean, clash), clash.id)
    previous = clean.get("previous_event_id")
    if previous is not None:
        earlier = session.get(AdverseEvent, previous)
        if earlier is None or earlier.patient_id != clean["patient_id"] or earlier.term != clean["term"]:
            raise RecordValueError("previous_event_id", "The continued event is not this patient's "
                                                        f"{clean['term']} record.")


def _term_episodes(session, clean: dict) -> list[Episode]:
    """The patient's active records of the term (the patient is locked: nobody adds one meanwhile)."""
    batch = usable_batch(session)
    if batch is None:
        return [Episode(*row) for row in session.connection().execute(
            _TERM_EPISODES, {k: clean[k] for k in ("patient_id", "term")})]
    _read_event_keys(session, batch, [clean["patient_id"]])
    return [e for e in batch.event_keys[clean["patient_id"]] if e.term == clean["term"]]


def overlapping_episode(clean: dict, record_id: int | None, episodes: list[Episode]) -> Episode | None:
    """The first other record of the term whose days meet the new one's: one patient has one record of a term
    on any day (at most one open). Days run from onset to resolution, both included; an open record runs on.
    A grade change hands over on one day: a record and the one continuing it may share the day one ends and
    the other begins."""
    onset, resolved = clean["onset_date"], clean.get("resolved_date")
    by_id, earlier, step = {e.id: e for e in episodes}, set(), clean.get("previous_event_id")
    while step in by_id and step not in earlier:  # the records this one continues (two changes on one day)
        earlier.add(step)
        step = by_id[step].previous_event_id
    for episode in episodes:
        if episode.id == record_id:
            continue
        continues = episode.id in earlier and episode.resolved_date == onset
        continued = record_id is not None and episode.previous_event_id == record_id and episode.onset_date == resolved
        if continues or continued:
            continue
        if (resolved is None or episode.onset_date <= resolved) and \
                (episode.resolved_date is None or onset <= episode.resolved_date):
            return episode
    return None


def clash_message(clean: dict, clash: Episode) -> str:
    term = clean["term"]
    if clash.onset_date == clean["onset_date"]:
        return f"{term} with onset {clash.onset_date} is already recorded for this patient."
    if clash.resolved_date is None:
        return (f"{term} is already open for this patient: grade {clash.grade} since {clash.onset_date}. Change "
                "its grade or resolve it instead of adding a second open record.")
    until = clean.get("resolved_date") or "ongoing"
    return (f"{term} grade {clash.grade} from {clash.onset_date} to {clash.resolved_date} is already recorded and "
            f"overlaps {clean['onset_date']} to {until}: one record of a term per day. Correct one of them.")


def _not_in_future(kind: str, clean: dict, today: date) -> None:
    labels = {"treatment_start": "Treatment start", "birth_date": "Birth date", "onset_date": "Onset date",
              "resolved_date": "Resolution date", "death_date": "Date of death", "collected_on": "Collection date",
              "effective_date": "Dose change date", "start_date": "Start date", "stop_date": "Stop date"}
    for field, label in labels.items():
        value = clean.get(field)
        if isinstance(value, date) and value > today:
            raise RecordValueError(field, f"{label} {value} is in the future (today is {today}).")

