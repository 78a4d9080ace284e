"""Interaction rules of the dosing audit: what each concomitant medication of an interaction class
(seed_data/interaction_classes.csv) asks of the everolimus dose, against the dose record.

A medication counts from its start to its stop (the analysis date while it goes on). It matters only on days
of an exposure period: days on the drug, or held (a hold pauses the drug, a discontinuation ends it). Levels
are mg per day (2.5 mg every other day is 1.25).
- deviation classes (strong inhibitors, live vaccines): everolimus taken on any of its days is a deviation;
  held throughout is compliant. A live vaccine during treatment is a deviation even while held.
- the moderate inhibitor: records of the class back to back are one inhibited period. From its start (plus
  the audit's grace days) everolimus at most the class's dose (2.5 mg), higher only up to its "up to" dose
  (5 mg) once it was at the lower one; after it stops, the first increase comes no earlier than its washout
  (about 3 days) and not above the dose before it (the planned dose when it was taken from the start). Not
  yet back, or a course within the grace days never reduced, is left open for the pharmacist.
- review classes (strong inducers, grapefruit): taken together is open for a pharmacist's review; a dose
  raised for an inducer still above the dose before it 5 days after the inducer stopped is a deviation.
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
                     event_terms: dict[int, str] | None = None, *, treatment_start: date | None = None,
                     planned_dose_mg: float | None = None) -> list[Verdict]:
    """Every interaction verdict for one patient's medications, given their dose segments up to the analysis
    date (models.clinical.dosing.dose_segments), the terms of their adverse events by record id, and the
    treatment start and planned dose (the dose "before" an inhibitor taken from the start)."""
    classes = medications.interaction_classes()
    verdicts = []
    rows = list(meds.itertuples())
    for med in rows:
        if med.start_date > as_of or not med.in_catalogue:
            continue
        until = _last_day(med, as_of)
        pieces = _pieces(segments, med.start_date, until)
        for name in medications.classes_of(med.drug):
            klass = classes[name]
            if klass.rule is None:
                continue
            if name == medications.STEROID_CLASS:
                verdict = _steroid(med, until, rows, event_terms or {})
            elif not segments and treatment_start is not None and treatment_start <= until:
                verdict = ("no everolimus dose record to judge it against",
                           "information" if klass.finding == "information" else "open")
            elif not pieces:
                continue  # not during treatment: nothing to check
            elif klass.dose_mg is not None:
                chain = _chain(med, rows, name, as_of)
                verdict = _moderate(med, klass, pieces, segments, chain, as_of, grace_days, planned_dose_mg)
            elif klass.finding == "deviation":
                verdict = _avoid(med, pieces, vaccine=name == "live_vaccine")
            elif klass.finding == "review":
                verdict = _review(med, klass, pieces, segments, as_of)
            else:
                verdict = _inform(med, pieces)
            if verdict is not None:
                verdicts.append(Verdict(int(med.id), med.drug, med.start_date, klass.rule, klass.status,
                                        klass.consequence, *verdict))
    return verdicts


def _last_day(med, as_of: date) -> date:
    """The medication's last day so far: its stop, or the analysis date while it goes on."""
    return as_of if pd.isna(med.stop_date) or med.stop_date > as_of else med.stop_date


def _stopped(med, as_of: date) -> bool:
    return not pd.isna(med.stop_date) and med.stop_date < as_of


@dataclass(frozen=True)
class _Chain:
    """Medications of one class taken back to back or overlapping: one inhibited period."""
    first: date
    last: date
    stopped: bool
    next_drug: str | None     # the medication that carries the period on after this one, if any
    next_start: date | None


def _chain(med, rows: list, klass: str, as_of: date) -> _Chain:
    members = [m for m in rows if m.in_catalogue and klass in medications.classes_of(m.drug) and m.start_date <= as_of]
    first, last = med.start_date, _last_day(med, as_of)
    grown = True
    while grown:  # the records whose days meet or follow on (the next day) those already in
        grown = False
        for other in members:
            other_last = _last_day(other, as_of)
            if other.start_date <= last + timedelta(days=1) and other_last >= first - timedelta(days=1) and \
                    (other.start_date < first or other_last > last):
                first, last, grown = min(first, other.start_date), max(last, other_last), True
    own_last = _last_day(med, as_of)
    after = sorted((m for m in members if m.id != med.id and own_last < _last_day(m, as_of)
                    and m.start_date <= own_last + timedelta(days=1)), key=lambda m: m.start_date)
    stopped = last < as_of
    return _Chain(first, last, stopped, after[0].drug if after else None, after[0].start_date if after else None)


def _pieces(segments: list[DoseSegment], first: date, last: date) -> list[_Piece]:
    """The medication's days within exposure periods, cut by dose segment (after a discontinuation: none)."""
    pieces = []
    for segment in segments:
        if segment.action == "discontinue":
            continue
        start, end = max(segment.start, first), min(segment.end - timedelta(days=1), last)
        if start <= end:
            every = " every other day" if segment.every_other_day else ""
            pieces.append(_Piece(start, end, segment.mg_per_day, f"{segment.dose_mg:g} mg{every}",
                                 segment.dose_mg == 0))
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


def _review(med, klass, pieces: list[_Piece], segments: list[DoseSegment], as_of: date) -> tuple[str, str]:
    """Open for review while taken together; after an inducer stops, a dose raised for it must be back to the
    dose before it within the class's days (return_by_days), or it is a deviation."""
    taken = [p for p in pieces if not p.held]
    if not taken:
        return f"everolimus withheld throughout ({_span(pieces)})", "compliant"
    text = _taken(taken)
    before = _level_before(segments, med.start_date)
    stop = _last_day(med, as_of)
    if klass.return_by_days is None or not _stopped(med, as_of) or before is None or \
            max(p.level for p in taken) <= before:
        return text + "; for a pharmacist's review", "open"
    due = stop + timedelta(days=klass.return_by_days)
    level_then = _level_on(segments, min(due, as_of))
    if as_of > due and level_then is not None and level_then > before:
        return (f"{text}; still {level_then:g} mg/day {klass.return_by_days} days after it stopped on {stop} (the "
                f"dose before it: {before:g} mg/day)", "deviation")
    return text + "; for a pharmacist's review", "open"


def _inform(med, pieces: list[_Piece]) -> tuple[str, str] | None:
    taken = [p for p in pieces if not p.held]
    return (_taken(taken), "information") if taken else None


def _moderate(med, klass, pieces: list[_Piece], segments: list[DoseSegment], chain: _Chain, as_of: date,
              grace_days: int, planned_dose_mg: float | None) -> tuple[str, str]:
    """At most the class's dose after the grace days from the start of the inhibited period, its higher dose
    only once at the lower one; then the dose before it back, not before the washout and not above it."""
    low, high = klass.dose_mg, klass.dose_up_to_mg or klass.dose_mg
    deadline = chain.first + timedelta(days=grace_days)
    reached_low = any(p.level <= low for p in _pieces(segments, chain.first, med.start_date - timedelta(days=1))
                      if not p.held)
    for piece in (p for p in pieces if not p.held):
        if piece.level <= low:
            reached_low = True
            continue
        if piece.last <= deadline:
            continue  # the grace days to reduce
        late = max(piece.first, deadline + timedelta(days=1))
        when = (f"still {piece.text} on {late}, after the {grace_days}-day grace period," if late > piece.first
                else f"{piece.text} from {late}")
        if piece.level > high:
            return (f"everolimus {when} while on {med.drug}: {low:g} mg/day was due ({high:g} mg at most, once "
                    "tolerated)", "deviation")
        if not reached_low:
            return (f"everolimus {when} while on {med.drug}, without first reducing to {low:g} mg/day", "deviation")
    taken = [p for p in pieces if not p.held]
    lows = [p.level for p in taken if p.level <= high]
    if taken and not reached_low:
        if as_of <= deadline:
            return f"within the {grace_days}-day grace period; everolimus still {taken[-1].text}", "open"
        days = (chain.last - chain.first).days + 1
        return (f"not reduced: everolimus {taken[-1].text} throughout a course of {days} day{'s' * (days != 1)}, "
                f"within the {grace_days}-day grace period; for a pharmacist's review", "open")
    during = f"reduced to {max(lows):g} mg/day with it" if lows else "everolimus withheld while it was taken"
    if chain.next_drug is not None:
        return f"{during}; {chain.next_drug} carries the inhibition on from {chain.next_start}", "compliant"
    if not chain.stopped:
        return during, "compliant"
    before = _level_before(segments, chain.first)
    if before is None:  # taken from the start: the planned dose is the one to return to
        before = planned_dose_mg
    kept = _level_on(segments, chain.last) or 0.0
    return _after_stop(klass, segments, during, before, kept, chain.last, as_of)


def _after_stop(klass, segments: list[DoseSegment], during: str, before: float | None, kept: float, stop: date,
                as_of: date) -> tuple[str, str]:
    """After a moderate inhibitor stops: the first increase above the level kept during it comes no earlier
    than the washout and not above the dose before it."""
    washout = klass.washout_days or 0
    for segment in segments:
        if segment.end <= stop + timedelta(days=1) or segment.action == "hold":
            continue
        if segment.action == "discontinue":
            return f"{during}; everolimus discontinued after it", "compliant"
        if segment.mg_per_day <= kept:
            continue
        returned_on, level = max(segment.start, stop + timedelta(days=1)), segment.mg_per_day
        waited = (returned_on - stop).days
        if before is not None and level > before:
            return (f"{during}; raised to {level:g} mg/day on {returned_on}, above the dose before it ({before:g} "
                    "mg/day)", "deviation")
        if waited < washout:
            return (f"{during}; raised to {level:g} mg/day on {returned_on}, {waited} day{'s' if waited != 1 else ''} "
                    f"after it stopped (wait about {washout} days)", "deviation")
        if before is not None and level < before:
            return (f"{during}; raised to {level:g} mg/day on {returned_on}, not yet the dose before it "
                    f"({before:g} mg/day); for a pharmacist's review", "open")
        return f"{during}; back to {level:g} mg/day on {returned_on}, {waited} days after it stopped", "compliant"
    if before is None or before <= kept:
        return f"{during}; {kept:g} mg/day, the dose before it, kept after it stopped on {stop}", "compliant"
    due = stop + timedelta(days=washout)
    state = f"the washout runs to {due}" if as_of < due else "for a pharmacist's review"
    return (f"{during}; not yet back to the dose before it ({before:g} mg/day) since it stopped on {stop}; {state}",
            "open")


def _level_before(segments: list[DoseSegment], moment: date) -> float | None:
    """The daily level on drug before a day (through any hold), None before any dose."""
    level = None
    for segment in segments:
        if segment.start >= moment:
            break
        if segment.dose_mg > 0:
            level = segment.mg_per_day
    return level


def _level_on(segments: list[DoseSegment], moment: date) -> float | None:
    """The daily level on drug on a day (through any hold: the level before it)."""
    return _level_before(segments, moment + timedelta(days=1))


def _for_pneumonitis(med, event_terms: dict[int, str]) -> bool:
    linked = None if pd.isna(med.adverse_event_id) else event_terms.get(int(med.adverse_event_id))
    indication = med.indication if isinstance(med.indication, str) else ""
    return linked == PNEUMONITIS or PNEUMONITIS.casefold() in indication.casefold()


def _steroid(med, until: date, rows: list, event_terms: dict[int, str]) -> tuple[str, str] | None:
    """A corticosteroid for pneumonitis with no PJP prophylaxis on its last day so far (today while it goes
    on)."""
    if not _for_pneumonitis(med, event_terms):
        return None
    covered = [other for other in rows if medications.PJP_CLASS in medications.classes_of(other.drug)
               and other.in_catalogue and other.start_date <= until
               and (pd.isna(other.stop_date) or other.stop_date >= until)]
    if covered:
        return None
    return (f"{med.drug} for pneumonitis from {med.start_date}: no PJP prophylaxis recorded on {until}",
            "information")
