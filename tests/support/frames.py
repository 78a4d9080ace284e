"""Hand-made DataFrames in the shape models.store.queries returns (dates as datetime.date objects), for unit tests
of the pandas logic without a database."""
from __future__ import annotations

import pandas as pd

PATIENT_COLUMNS = ["id", "mrn", "name", "birth_date", "treatment_start", "planned_dose_mg", "status",
                   "dexamethasone_prophylaxis"]
DOSE_COLUMNS = ["id", "patient_id", "mrn", "effective_date", "action", "dose_mg", "every_other_day",
                "adverse_event_id", "reason", "verified_by"]


def doses_frame(*doses: tuple) -> pd.DataFrame:
    """doses: (patient_id, effective_date, action, dose_mg[, every_other_day]); ids 1..n in order (the order
    records were entered), as queries.dose_events() returns them."""
    rows = [{"id": i, "patient_id": d[0], "mrn": f"MRN{d[0]:03d}", "effective_date": d[1], "action": d[2],
             "dose_mg": d[3], "every_other_day": d[4] if len(d) > 4 else False, "adverse_event_id": None,
             "reason": None, "verified_by": None} for i, d in enumerate(doses, 1)]
    return pd.DataFrame(rows, columns=DOSE_COLUMNS)
