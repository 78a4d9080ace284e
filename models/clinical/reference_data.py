"""Shared reading of the seed_data reference files: one error type and one validating CSV reader.

Errors read `file:line: column: message`, the same shape the CSV import uses, so a pharmacist who edits
a seed file sees exactly where it went wrong.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.settings import PROJECT_ROOT

SEED_DATA_DIR = PROJECT_ROOT / "seed_data"


class ReferenceDataError(ValueError):
    """A reference data file is malformed. `path`, `line` (1-based, None for the whole file), `column`."""

    def __init__(self, path: str | Path, line: int | None, message: str, column: str | None = None):
        self.path, self.line, self.column, self.message = str(path), line, column, message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {column}: {message}" if column else f"{where}: {message}")


@dataclass(frozen=True)
class CsvRow:
    """One data row of a reference CSV, with typed accessors that raise ReferenceDataError."""

    path: Path
    line: int
    values: dict[str, str]

    def error(self, message: str, column: str | None = None) -> ReferenceDataError:
        return ReferenceDataError(self.path, self.line, message, column)

    def text(self, column: str, *, required: bool = True) -> str:
        value = self.values.get(column, "")
        if required and not value:
            raise self.error("value is required", column)
        return value

    def choice(self, column: str, allowed: Sequence[str]) -> str:
        value = self.text(column)
        if value not in allowed:
            raise self.error(f"{value!r} is not one of {', '.join(allowed)}", column)
        return value

    def number(self, column: str, *, required: bool = True, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False) -> float | None:
        raw = self.text(column, required=required)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.error(f"{raw!r} is not a number", column) from None
        if not math.isfinite(value):
            raise self.error(f"{raw!r} is not a finite number", column)
        if positive and value <= 0:
            raise self.error(f"{raw!r} must be greater than 0", column)
        if minimum is not None and value < minimum:
            raise self.error(f"{raw!r} is below {minimum:g}", column)
        if maximum is not None and value > maximum:
            raise self.error(f"{raw!r} is above {maximum:g}", column)
        return value

    def integer(self, column: str, *, required: bool = True, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        raw = self.text(column, required=required)
        if not raw:
            return None
        if not raw.lstrip("-").isdigit():
            raise self.error(f"{raw!r} is not a whole number", column)
        value = int(raw)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"{'' if minimum is None else minimum}..{'' if maximum is None else maximum}"
            raise self.error(f"{value} is out of range {bounds}", column)
        return value


def read_csv(path: str | Path, required: Iterable[str], optional: Iterable[str] = ()) -> list[CsvRow]:
    """Read a header-first CSV; every cell stripped, blank lines skipped.

    Raises ReferenceDataError for a missing/unreadable file, a missing or unknown column, a duplicated
    header, or a row with the wrong number of fields. Unknown columns are refused so a typo in a header
    cannot silently drop a column's data.
    """
    path = Path(path)
    required, optional = list(required), list(optional)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _read_rows(path, csv.reader(handle), required, optional)
    except FileNotFoundError:
        raise ReferenceDataError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(path, None, f"not UTF-8 text ({exc.reason})") from None


def _read_rows(path: Path, reader, required: list[str], optional: list[str]) -> list[CsvRow]:
    rows: list[CsvRow] = []
    header: list[str] | None = None
    last_line = 0
    try:
        for fields in reader:
            line, last_line = last_line + 1, reader.line_num  # a quoted field may span lines
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = _check_header(path, line, [f.strip() for f in fields], required, optional)
                continue
            if len(fields) != len(header):
                raise ReferenceDataError(path, line, f"expected {len(header)} fields, found {len(fields)}")
            rows.append(CsvRow(path, line, {c: v.strip() for c, v in zip(header, fields)}))
    except csv.Error as exc:
        raise ReferenceDataError(path, reader.line_num, f"CSV syntax error: {exc}") from None
    if header is None:
        raise ReferenceDataError(path, None, "file is empty (a header row is required)")
    return rows


def _check_header(path: Path, line: int, header: list[str], required: list[str],
                  optional: list[str]) -> list[str]:
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ReferenceDataError(path, line, f"duplicated column(s): {', '.join(duplicated)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise ReferenceDataError(path, line, f"missing column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        raise ReferenceDataError(path, line, f"unknown column(s): {', '.join(unknown)}")
    return header


def check_unique(rows: Iterable[CsvRow], key: Callable[[CsvRow], Hashable], what: str) -> None:
    """Raise on the second row with the same key, naming the line of the first."""
    seen: dict[Hashable, int] = {}
    for row in rows:
        k = key(row)
        if k in seen:
            raise row.error(f"duplicate {what} (first on line {seen[k]})")
        seen[k] = row.line
