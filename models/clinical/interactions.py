"""Interaction rules of the dosing audit: what each concomitant medication of an interaction class
(seed_data/interaction_classes.csv) asks of the everolimus dose, against the dose record.

A medication counts from its start to its stop (the analysis date while it goes on). It matters only on days
of an exposure period: days on the drug, or held (a hold pauses the drug, a discontinuation ends it). Levels
are mg per day (2.5 mg every other day is 1.25).
- deviation classes (strong inhibitors, live vaccines): everolimus taken on any of its days is a deviation;
  held throughout is compliant. A live vaccine during treatment is a deviation even while held.
- the moderate inhibitor: from its start (plus the audit's grace days) everolimus at most the class's dose
  (2.5 mg), higher only up to its "up to" dose (5 mg) once it was at the lower one; after it stops, the dose
  before it returns no earlier than its washout (about 3 days), and not above it. Not yet returned is left
  open for the pharmacist.
- review classes (strong inducers, grapefruit): taken together is open for a pharmacist's review.
- information (ACE inhibitors; corticosteroids for pneumonitis without PJP prophylaxis): told, never judged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from models.clinical import medications
from models.clinical.dosing import DoseSegment

PNEUMONITIS = "Pneumonitis"


@dataclass(frozen=True)
class Verdict:
    medication_id: int
    drug: str
    start_date: date
    rule: str
    rule_status: str
    expected: str
    actual: str
    status: str          # compliant, deviation, open, information


@dataclass(frozen=True)
class _Piece:
    """Days of one dose segment inside a medication's days."""
    first: date
    last: date           # inclusive
    level: float         # mg per day
    text: str            # the dose as prescribed, in words
    held: bool


def patient_verdicts(meds: pd.DataFrame, segments: list[DoseSegment], as_of: date, grace_days: int,
                     event_terms: dict[int, str] | None = None) -> list[Verdict]:
    """Every interaction verdict for one patient's medications, given their dose segments up to the analysis
    date (models.clinical.dosing.dose_segments) and the terms of their adverse events by record id."""
    classes = medications.interaction_classes()
    verdicts = []
    rows = list(meds.itertuples())
    for med in rows:
        if med.start_date > as_of or not med.in_catalogue:
            continue
        until = as_of if pd.isna(med.stop_date) or med.stop_date > as_of else med.stop_date
        pieces = _pieces(segments, med.start_date, until)
        for name in medications.classes_of(med.drug):
            klass = classes[name]
            if klass.rule is None:
                continue
            if name == medications.STEROID_CLASS:
                verdict = _steroid(med, until, rows, event_terms or {})
            elif not pieces:
                continue  # not during treatment: nothing to check
            elif klass.dose_mg is not None:
                verdict = _moderate(med, klass, pieces, segments, until, as_of, grace_days)
            elif klass.finding == "deviation":
                verdict = _avoid(med, pieces, vaccine=name == "live_vaccine")
            elif klass.finding == "review":
                verdict = _review(med, pieces)
            else:
                verdict = _inform(med, pieces)
            if verdict is not None:
                verdicts.append(Verdict(int(med.id), med.drug, med.start_date, klass.rule, klass.status,
                                        klass.consequence, *verdict))
    return verdicts


def _pieces(segments: list[DoseSegment], first: date, last: date) -> list[_Piece]:
    """The medication's days within exposure periods, cut by dose segment (after a discontinuation: none)."""
    pieces = []
    for segment in segments:
        if segment.action == "discontinue":
            continue
        start, end = max(segment.start, first), min(segment.end - timedelta(days=1), last)
        if start <= end:
            level = segment.dose_mg / (2 if segment.every_other_day else 1)
            every = " every other day" if segment.every_other_day else ""
            pieces.append(_Piece(start, end, level, f"{segment.dose_mg:g} mg{every}", segment.dose_mg == 0))
    return pieces


def _span(pieces: list[_Piece]) -> str:
    return f"{pieces[0].first} to {pieces[-1].last}" if pieces[0].first != pieces[-1].last else str(pieces[0].first)


def _taken(pieces: list[_Piece]) -> str:
    doses = ", ".join(dict.fromkeys(p.text for p in pieces))
    days = sum((p.last - p.first).days + 1 for p in pieces)
    return f"everolimus taken on {days} day{'s' if days != 1 else ''} with it ({_span(pieces)}; {doses})"


def _avoid(med, pieces: list[_Piece], *, vaccine: bool) -> tuple[str, str]:
    taken = [p for p in pieces if not p.held]
    if vaccine:
        state = _taken(taken) if taken else f"everolimus held on {_span(pieces)}, still during treatment"
        return f"{med.drug} given during everolimus treatment: {state}", "deviation"
    if taken:
        return _taken(taken), "deviation"
    return f"everolimus withheld throughout ({_span(pieces)})", "compliant"


def _review(med, pieces: list[_Piece]) -> tuple[str, str]:
    taken = [p for p in pieces if not p.held]
    if not taken:
        return f"everolimus withheld throughout ({_span(pieces)})", "compliant"
    return _taken(taken) + "; for a pharmacist's review", "open"


def _inform(med, pieces: list[_Piece]) -> tuple[str, str] | None:
    taken = [p for p in pieces if not p.held]
    return (_taken(taken), "information") if taken else None


def _moderate(med, klass, pieces: list[_Piece], segments: list[DoseSegment], until: date, as_of: date,
              grace_days: int) -> tuple[str, str]:
    low, high = klass.dose_mg, klass.dose_up_to_mg or klass.dose_mg
    deadline = med.start_date + timedelta(days=grace_days)
    before = _level_before(segments, med.start_date)
    reached_low = False
    for piece in (p for p in pieces if not p.held):
        if piece.level <= low:
            reached_low = True
            continue
        if piece.last <= deadline:
            continue  # the grace days to reduce
        late = max(piece.first, deadline + timedelta(days=1))
        if piece.level > high:
            return (f"everolimus {piece.text} from {late} while on {med.drug}: {low:g} mg/day was due ({high:g} mg "
                    "at most, once tolerated)", "deviation")
        if not reached_low:
            return (f"everolimus {piece.text} from {late} while on {med.drug}, without first reducing to "
                    f"{low:g} mg/day", "deviation")
    taken = [p for p in pieces if not p.held]
    if taken and not reached_low and as_of <= deadline:
        return f"within the {grace_days}-day grace period; everolimus still {taken[-1].text}", "open"
    lows = [p.level for p in taken if p.level <= high]
    during = (f"reduced to {max(lows):g} mg/day with it" if lows else
              "everolimus withheld while it was taken" if not taken else "everolimus withheld after the grace days")
    stopped = not pd.isna(med.stop_date) and med.stop_date < as_of
    if not stopped or before is None or before <= low:
        return during, "compliant"
    return _after_stop(med, klass, segments, during, before, until, as_of, grace_days)


def _after_stop(med, klass, segments: list[DoseSegment], during: str, before: float, stop: date, as_of: date,
                grace_days: int) -> tuple[str, str]:
    """After a moderate inhibitor stops: the dose before it comes back after the washout, not above it."""
    washout = klass.washout_days or 0
    back = None
    for segment in (s for s in segments if s.end > stop + timedelta(days=1) and s.action != "hold"):
        if segment.action == "discontinue":
            return f"{during}; everolimus discontinued after it", "compliant"
        if segment.dose_mg / (2 if segment.every_other_day else 1) > (klass.dose_up_to_mg or klass.dose_mg):
            back = segment
            break
    if back is None:
        due = stop + timedelta(days=washout)
        state = f"the washout runs to {due}" if as_of < due else "for a pharmacist's review"
        return (f"{during}; not yet back to the dose before it ({before:g} mg/day) since it stopped on {stop}; "
                f"{state}", "open")
    returned_on = max(back.start, stop + timedelta(days=1))
    level = back.dose_mg / (2 if back.every_other_day else 1)
    waited = (returned_on - stop).days
    if level > before:
        return f"{during}; raised to {level:g} mg/day on {returned_on}, above the dose before it ({before:g})", \
            "deviation"
    if waited < washout:
        return (f"{during}; back to {level:g} mg/day on {returned_on}, {waited} day{'s' if waited != 1 else ''} "
                f"after it stopped (wait about {washout} days)", "deviation")
    return f"{during}; back to {level:g} mg/day on {returned_on}, {waited} days after it stopped", "compliant"


def _level_before(segments: list[DoseSegment], moment: date) -> float | None:
    """The daily level on drug before a day (through any hold), None before any dose."""
    level = None
    for segment in segments:
        if segment.start >= moment:
            break
        if segment.dose_mg > 0:
            level = segment.dose_mg / (2 if segment.every_other_day else 1)
    return level


def _for_pneumonitis(med, event_terms: dict[int, str]) -> bool:
    linked = None if pd.isna(med.adverse_event_id) else event_terms.get(int(med.adverse_event_id))
    indication = med.indication if isinstance(med.indication, str) else ""
    return linked == PNEUMONITIS or PNEUMONITIS.casefold() in indication.casefold()


def _steroid(med, until: date, rows: list, event_terms: dict[int, str]) -> tuple[str, str] | None:
    """A corticosteroid for pneumonitis with no PJP prophylaxis on any of its days."""
    if not _for_pneumonitis(med, event_terms):
        return None
    covered = [other for other in rows if medications.PJP_CLASS in medications.classes_of(other.drug)
               and other.in_catalogue and other.start_date <= until
               and (pd.isna(other.stop_date) or other.stop_date >= med.start_date)]
    if covered:
        return None
    return (f"{med.drug} for pneumonitis from {med.start_date}: no PJP prophylaxis recorded while it is taken",
            "information")
