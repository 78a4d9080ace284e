"""A finding of the dosing audit (a dose rule's, models/analysis/dose_audit.py, or an interaction rule's,
models/analysis/interaction_audit.py) and their order: deviations first."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DEFAULT_GRACE_DAYS = 2  # days allowed between a cause (an onset, a medication's start) and the dose action it asks


@dataclass(frozen=True)
class Finding:
    key: str                 # stable identity for a pharmacist's review: "event:<id>", "hold:<id>" or "medication:<id>"
    patient_id: int
    mrn: str
    term: str
    grade: int | None
    onset_date: date | None
    rule: str
    rule_status: str
    expected: str
    actual: str
    status: str              # compliant, deviation, open; "information" for what is told, never judged
    rule_set: str = ""
    more_than_required: bool = False

    def as_report(self) -> dict:
        return {"mrn": self.mrn, "term": self.term, "grade": self.grade,
                "onset_date": self.onset_date.isoformat() if self.onset_date else None, "rule": self.rule,
                "expected": self.expected, "actual": self.actual, "status": self.status,
                "more_than_required": self.more_than_required}


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    order = {"deviation": 0, "open": 1, "compliant": 2, "information": 3}
    return sorted(findings, key=lambda f: (order[f.status], f.mrn, f.onset_date or date.min))
