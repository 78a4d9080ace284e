"""Whether a patient's dose records make sense in order: start first, resume only after a hold, nothing
after a discontinuation but a new start, doses on the configured step list and not above the planned dose
unless escalating. Pure: the write path reads the records and hands them over."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models.clinical import dose_rules
from models.clinical.vocabulary import ON_DRUG_ACTIONS


@dataclass(frozen=True)
class DoseRecord:
    """One active dose record of the patient, as the sequence rules need it."""
    id: int
    effective_date: date
    action: str
    dose_mg: float


def check_dose_record(clean: dict, record_id: int | None, *, treatment_start: date, planned_dose_mg: float,
                      existing: list[DoseRecord], linked_event: tuple[str, int] | None,
                      steps: tuple[float, ...], interaction_doses: tuple[float, ...] = ()) -> str | None:
    """The first problem the new or edited record (`clean`; `record_id` None for a new one) causes among the
    patient's active dose records `existing`, or None. `linked_event` is the (term, grade) of the adverse event
    the record is linked to; `interaction_doses` the doses a medication taken that day asks for or allows
    (medications.doses_allowed_with), off the step list."""
    if clean["effective_date"] < treatment_start:
        return f"Dose changes cannot be dated before the treatment start {treatment_start}."
    problem = _check_dose_value(clean, planned_dose_mg, steps, linked_event, interaction_doses)
    if problem:
        return problem
    history = [{"id": row.id, "effective_date": row.effective_date, "action": row.action, "dose_mg": row.dose_mg}
               for row in existing if row.id != record_id]
    new = {"id": record_id if record_id is not None else float("inf"), **clean, "new": True}
    ordered = sorted(history + [new], key=lambda r: (r["effective_date"], r["id"]))
    position = ordered.index(new)
    old = next((row for row in existing if row.id == record_id), None)
    if old is not None:  # an edit also changes the records between its old place and its new one
        key = (old.effective_date, old.id)
        position = min(position, sum((r["effective_date"], r["id"]) < key for r in history))
    return _walk(ordered, position, planned_dose_mg)


def _check_dose_value(clean: dict, planned: float, steps: tuple[float, ...],
                      linked_event: tuple[str, int] | None, interaction_doses: tuple[float, ...] = ()) -> str | None:
    dose, action = clean["dose_mg"], clean["action"]
    if action in ON_DRUG_ACTIONS and dose not in steps and dose != planned and dose not in interaction_doses:
        also = (f", nor a dose a medication taken that day allows ({', '.join(f'{d:g}' for d in interaction_doses)} "
                "mg)") if interaction_doses else ""
        return (f"{dose:g} mg is not on the dose step list ({', '.join(f'{s:g}' for s in steps)} mg) "
                f"nor the planned dose{also}.")
    if action in ("start", "resume", "reduce") and dose > planned:
        return (f"{dose:g} mg is above the planned daily dose of {planned:g} mg; choose 'escalate' to go "
                "above it.")
    if clean.get("every_other_day"):
        lowest = min(steps)
        allowed = linked_event is not None and dose_rules.every_other_day_allowed(*linked_event)
        if action not in ON_DRUG_ACTIONS or dose != lowest or not allowed:
            rules = ", ".join(r.rule_id for r in dose_rules.rules() if r.every_other_day_allowed)
            return (f"Every-other-day dosing is allowed only at the lowest step ({lowest:g} mg) and linked to an "
                    f"adverse event whose rule allows it ({rules}).")
    return None


def _walk(ordered: list[dict], position: int, planned: float) -> str | None:
    state, current, since = "none", 0.0, None  # none / on / held / stopped
    for index, record in enumerate(ordered):
        problem = _step(state, current, since, record, planned)
        if problem and index >= position:  # older problems were there before this change
            where = "" if record.get("new") else f" (the {record['action']} of {record['effective_date']} " \
                                                 "would no longer fit)"
            return problem + where
        action = record["action"]
        if action in ON_DRUG_ACTIONS:
            state, current = "on", record["dose_mg"]
        elif action == "hold":
            state = "held"
        elif action == "discontinue":
            state = "stopped"
        since = record["effective_date"]
    return None


def _step(state: str, current: float, since: date | None, record: dict, planned: float) -> str | None:
    action, dose = record["action"], record["dose_mg"]
    if state == "none" and action != "start":
        return "The first dose record of a patient is the start of treatment."
    if state == "stopped" and action != "start":
        return f"Everolimus was discontinued on {since}; only a new start can follow."
    if action == "start" and state in ("on", "held"):
        return f"Treatment is already started (last change {since}); record a resume or a dose change."
    if action == "resume" and state != "held":
        return f"A resume needs a hold before it; on {record['effective_date']} the patient is on {current:g} mg."
    if action == "hold" and state == "held":
        return f"The dose is already held since {since}; record a resume, a reduction or a discontinuation."
    if action == "reduce" and dose >= current:
        return f"A reduction must lower the dose (it was {current:g} mg)."
    if action == "escalate" and dose <= current:
        return f"An escalation must raise the dose (it was {current:g} mg)."
    return None
