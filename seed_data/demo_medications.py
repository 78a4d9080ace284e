"""The demo cohort's concomitant medications (seed_data/demo_cohort.py calls `add_medications` per patient,
before the patient's dose records are written, so a hold or reduction a medication calls for joins them).

Drawn from their own random stream, so the rest of the cohort is the same with or without them. ASSUMPTION,
all of it: the shares below shape the demo, they are not rates from a source.
- The dexamethasone mouthwash for the patients the generator gave prophylaxis (SWISH: 8 weeks from day 1);
  a few start it late (day 10-20), so they do not count as "from the start" (within 7 days).
- A pneumonitis of grade >= 2 is treated with prednisone from the day after onset to a week after recovery;
  half of them get trimethoprim-sulfamethoxazole as PJP prophylaxis, the others raise the information alert.
- About 2% get a 7-day clarithromycin course (a strong CYP3A4 inhibitor): every other one with everolimus
  held for the course (compliant), the others without (a deviation).
- About 2% get a 14-day fluconazole course (a moderate inhibitor): every other one reduced to 2.5 mg and back
  to the dose before it 3-4 days after the last dose (compliant), the others either not reduced or back the
  day after (deviations).
- About 1% report St John's wort (a strong inducer) for 30 days: for a pharmacist's review.
- About 8% take an ACE inhibitor from before the start (information: angioedema).
"""
from __future__ import annotations

import random

MOUTHWASH, PREDNISONE, PJP = "Dexamethasone mouthwash", "Prednisone", "Trimethoprim-sulfamethoxazole"
SWISH_DAYS = 56
SHARE_LATE_MOUTHWASH = 0.05
SHARE_PJP_PROPHYLAXIS = 0.5
# Each patient draws one number: below the first bound a strong inhibitor, then a moderate one, and so on.
STRONG_INHIBITOR, MODERATE_INHIBITOR, INDUCER, ACE_INHIBITOR = 0.02, 0.04, 0.05, 0.13
WASHOUT_DAYS = 3


def add_medications(builder, rng: random.Random, prophylaxis_recorded: bool, days_on: int, episodes: list) -> None:
    """The patient's medications, into builder.cohort.medications; dose records into builder's list."""
    if prophylaxis_recorded:
        first = rng.randint(10, 20) if rng.random() < SHARE_LATE_MOUTHWASH else 0
        _add(builder, MOUTHWASH, "10 mL 4 times daily (swish and spit)", "oral_rinse", first,
             first + SWISH_DAYS - 1 if first + SWISH_DAYS - 1 <= days_on else None, "Stomatitis prophylaxis (SWISH)")
    for episode, event_id in episodes:
        if episode.term == "Pneumonitis" and episode.worst_grade >= 2 and episode.onset + 1 <= days_on:
            stop = episode.recovery + 7 if episode.recovery + 7 <= days_on else None
            _add(builder, PREDNISONE, "50 mg daily, tapered", "oral", episode.onset + 1, stop, "Pneumonitis",
                 event_id)
            if rng.random() < SHARE_PJP_PROPHYLAXIS:
                _add(builder, PJP, "960 mg 3 times a week", "oral", episode.onset + 1, stop, "PJP prophylaxis")
    draw = rng.random()
    if draw < STRONG_INHIBITOR:
        _strong_inhibitor(builder, rng)
    elif draw < MODERATE_INHIBITOR:
        _moderate_inhibitor(builder, rng)
    elif draw < INDUCER:
        window = _quiet_window(builder, rng, 30, 0)
        if window is not None:
            _add(builder, "St John's wort", None, "oral", window[0], window[0] + 29, "Low mood (patient-reported)")
    elif draw < ACE_INHIBITOR:
        _add(builder, rng.choice(("Lisinopril", "Ramipril")), "10 mg daily", "oral", -rng.randint(90, 900), None,
             "Hypertension")


def _strong_inhibitor(builder, rng: random.Random) -> None:
    window = _quiet_window(builder, rng, 7, 3)
    if window is None:
        return
    first, level = window
    if _earlier_courses(builder, "Clarithromycin") % 2 == 0:  # handled: everolimus held for the course, resumed after
        builder._add_dose(first, "hold", 0.0, None, "Clarithromycin course (strong CYP3A4 inhibitor)")
        builder._add_dose(first + 7, "resume", level, None, "Clarithromycin course finished")
    _add(builder, "Clarithromycin", "500 mg twice daily", "oral", first, first + 6, "Chest infection")


def _moderate_inhibitor(builder, rng: random.Random) -> None:
    window = _quiet_window(builder, rng, 14, WASHOUT_DAYS + 2)
    if window is None:
        return
    first, level = window
    last = first + 13
    handling = ("right", "not reduced", "right", "back too early")[_earlier_courses(builder, "Fluconazole") % 4]
    _add(builder, "Fluconazole", "200 mg daily", "oral", first, last, "Oral candidiasis")
    if handling == "not reduced" or level <= 2.5:
        return
    builder._add_dose(first, "reduce", 2.5, None, "Fluconazole (moderate CYP3A4 inhibitor)")
    back = last + 1 if handling == "back too early" else last + WASHOUT_DAYS + rng.randint(0, 1)
    builder._add_dose(back, "escalate", level, None, "Fluconazole stopped")


def _earlier_courses(builder, drug: str) -> int:
    """Courses of the drug the cohort has so far: the demo alternates handled and not handled ones."""
    return sum(1 for medication in builder.cohort.medications if medication["drug"] == drug)


def _quiet_window(builder, rng: random.Random, length: int, margin: int) -> tuple[int, float] | None:
    """A first day when the patient is on the drug at some dose, with no dose record from two days before to
    `margin` days after the `length` days, and treatment going on past them; the dose level then."""
    latest = builder.last_day - length - margin - 2
    if builder.stopped and builder.last_day <= length + margin + 16:
        return None
    for _ in range(10):
        if latest <= 14:
            return None
        first = rng.randint(14, latest)
        if any(first - 2 <= day <= first + length + margin for day, *_ in builder.doses):
            continue
        before = sorted(d for d in builder.doses if d[0] < first)
        if before and before[-1][1] in ("start", "resume", "reduce", "escalate"):
            return first, before[-1][2]
    return None


def _add(builder, drug: str, dose: str | None, route: str, first: int, last: int | None, indication: str,
         event_id: int | None = None) -> None:
    medications = builder.cohort.medications
    medications.append({"id": len(medications) + 1, "patient_id": builder.pid, "drug": drug, "in_catalogue": True,
                        "dose": dose, "route": route, "start_date": builder._date(first),
                        "stop_date": None if last is None else builder._date(last), "indication": indication,
                        "adverse_event_id": event_id, "notes": None})
