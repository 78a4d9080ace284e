"""Reading a table a page shows (labelled by dashboard/labels.py) back under its field names, so a page test
can compare it with the read models."""
from __future__ import annotations

import pandas as pd

from dashboard.labels import FIELD_LABELS


def as_fields(shown: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """`shown` with its headers renamed from labels to field names (`labels`: the page's own, by field)."""
    by_label = {label: field for field, label in {**FIELD_LABELS, **(labels or {})}.items()}
    return shown.rename(columns=lambda header: by_label.get(header, header))


def shown_table(app, header: str, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The first table on the page with a column labelled `header`, under its field names."""
    frame = next(element.value for element in app.dataframe if header in element.value.columns)
    return as_fields(frame, labels)
