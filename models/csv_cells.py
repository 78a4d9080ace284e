"""CSV cells no spreadsheet runs as a formula (OWASP "CSV injection"), and the way back for the import.

A text cell that starts with = + - @, a tab or a carriage return gets a leading apostrophe, which
spreadsheets show as text; a cell that already starts with apostrophes before such a character gets one more,
so `from_spreadsheet` returns exactly what was written. Numbers are never changed. The lowest layer: every
module that writes CSV uses it.
"""
from __future__ import annotations

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(text: str) -> bool:
    return text.lstrip("'")[:1] in TRIGGERS and text[:1] in ("'", *TRIGGERS)


def spreadsheet_safe(value):
    """The value as a CSV cell a spreadsheet shows as text (text only; other values are returned as they are)."""
    return "'" + value if isinstance(value, str) and _needs_quote(value) else value


def from_spreadsheet(text: str) -> str:
    """What spreadsheet_safe was given, from the cell it wrote."""
    return text[1:] if text[:1] == "'" and _needs_quote(text[1:]) else text


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell of a table made spreadsheet-safe (for DataFrame.to_csv)."""
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                    or pd.api.types.is_bool_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(spreadsheet_safe) for c in text_columns}) if text_columns else frame
