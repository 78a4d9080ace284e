"""Hand-made DataFrames in the shape models.store.queries returns (dates as datetime.date objects), for unit tests
of the pandas logic without a database."""
from __future__ import annotations

from datetime import date

import pandas as pd

PATIENT_COLUMNS = ["id", "mrn", "name", "birth_date", "treatment_start", "planned_dose_mg", "status"]
DOSE_COLUMNS = ["id", "patient_id", "mrn", "effective_date", "action", "dose_mg", "every_other_day",
                "adverse_event_id", "reason", "verified_by"]


def doses_frame(*doses: tuple) -> pd.DataFrame:
    """doses: (patient_id, effective_date, action, dose_mg[, every_other_day]); ids 1..n in order (the order
    records were entered), as queries.dose_events() returns them."""
    rows = [{"id": i, "patient_id": d[0], "mrn": f"MRN{d[0]:03d}", "effective_date": d[1], "action": d[2],
             "dose_mg": d[3], "every_other_day": d[4] if len(d) > 4 else False, "adverse_event_id": None,
             "reason": None, "verified_by": None} for i, d in enumerate(doses, 1)]
    return pd.DataFrame(rows, columns=DOSE_COLUMNS)


def patients_frame(*starts, planned: float = 10.0) -> pd.DataFrame:
    """Patients 1..len(starts), patient i starting on starts[i-1], as queries.patients() returns them."""
    rows = [{"id": i, "mrn": f"MRN{i:03d}", "name": f"Patient {i}", "birth_date": date(1960, 1, 1),
             "treatment_start": start, "planned_dose_mg": planned, "status": "on_treatment"}
            for i, start in enumerate(starts, 1)]
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


EVENT_COLUMNS = ["id", "patient_id", "mrn", "term", "grade", "onset_date", "resolved_date", "death_date",
                 "serious", "attribution", "action_taken", "previous_event_id", "source", "baseline",
                 "created_by", "created_at"]


def events_frame(*events: tuple) -> pd.DataFrame:
    """events: (patient_id, term, grade, onset_date[, death_date]); ids 1..n in order, as
    queries.adverse_events() returns them (a death date also resolves its record)."""
    rows = []
    for i, event in enumerate(events, 1):
        patient_id, term, grade, onset = event[:4]
        death = event[4] if len(event) > 4 else None
        rows.append({"id": i, "patient_id": patient_id, "mrn": f"MRN{patient_id:03d}", "term": term,
                     "grade": grade, "onset_date": onset, "resolved_date": death, "death_date": death,
                     "serious": grade >= 3, "attribution": "possible", "action_taken": None,
                     "previous_event_id": None, "source": "reported", "baseline": False, "created_by": "test",
                     "created_at": None})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)
