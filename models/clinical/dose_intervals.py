"""One patient's everolimus dose records as intervals of one constant dose, and the holds between them: what
a FHIR MedicationStatement and an SDTM EX record describe.

A start, resume, reduce or escalate opens a dose interval on its date; the next record closes it on the day
before. A hold opens a hold interval (a gap in the dosing, never a dose of 0 mg); a discontinuation closes
whatever is open and opens nothing. The last interval stays open (no end) unless a discontinuation ends it.
Records on one day apply in the order they were made, so only the last of them gives an interval that day.
A patient with no start record (e.g. imported without doses.csv) took the planned dose from the treatment start,
as the exposure periods count it (models/clinical/exposure.py): that interval is opened by a record with no id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from models.clinical.vocabulary import ON_DRUG_ACTIONS


@dataclass(frozen=True)
class DoseRecord:
    id: int | None             # None: implied by the treatment start (no start record)
    effective_date: date
    action: str
    dose_mg: float
    every_other_day: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class DoseInterval:
    kind: str                 # "dose" or "hold"
    start: date
    end: date | None          # the last day (inclusive); None while open
    dose_mg: float | None     # the daily dose of a dose interval; None for a hold
    every_other_day: bool
    opened_by: DoseRecord
    closed_by: DoseRecord | None  # the record that ended it (None while open)


def dose_intervals(records: list[DoseRecord], *, treatment_start: date | None = None,
                   planned_dose_mg: float | None = None) -> list[DoseInterval]:
    """The intervals of one patient's active dose records (any order: sorted by date, then record id)."""
    records = list(records)
    if treatment_start is not None and planned_dose_mg is not None and not any(r.action == "start" for r in records):
        records.append(DoseRecord(None, treatment_start, "start", float(planned_dose_mg)))
    intervals: list[DoseInterval] = []
    current: tuple[str, DoseRecord] | None = None
    for record in sorted(records, key=lambda r: (r.effective_date, -1 if r.id is None else r.id)):
        if current is not None:
            kind, opened = current
            end = record.effective_date - timedelta(days=1)
            if end >= opened.effective_date:
                intervals.append(_interval(kind, opened, end, record))
            current = None
        if record.action in ON_DRUG_ACTIONS:
            current = ("dose", record)
        elif record.action == "hold":
            current = ("hold", record)
    if current is not None:
        intervals.append(_interval(current[0], current[1], None, None))
    return intervals


def _interval(kind: str, opened: DoseRecord, end: date | None, closed_by: DoseRecord | None) -> DoseInterval:
    dose = float(opened.dose_mg) if kind == "dose" else None
    return DoseInterval(kind, opened.effective_date, end, dose, kind == "dose" and bool(opened.every_other_day),
                        opened, closed_by)
