"""Reading an uploaded or stored CSV file into rows of cells, with every problem as `file:line: column:
message` (line = physical line, the header is line 1; column "record" = the row as a whole, "file" = the
whole file). A cell is read as a date, number, whole number or yes/no only when asked, so a bad cell is a
problem of its row, never an exception."""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from models.csv_cells import from_spreadsheet
from models.exchange.csv_files import COLUMNS, EXPORT_COLUMNS, FILES, LEGACY_COLUMNS
from models.store.record_inputs import iso_date

MAX_FILE_BYTES = 50 * 1024 * 1024
# Every row is one validated write inside one transaction that holds the write lock (a few ms per row), so a
# huge file would block every other user's writes for long: such files are split and imported in parts.
MAX_ROWS = 100_000
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_YES_NO = {"yes": True, "y": True, "no": False, "n": False}


class Problems:
    def __init__(self):
        self.items: list[tuple[int, int, str]] = []

    def add(self, name: str, line: int, column: str, message: str) -> None:
        order = FILES.index(name) if name in FILES else len(FILES)
        self.items.append((order, line, f"{name}:{line}: {column}: {message}"))

    def sorted(self) -> list[str]:
        return [text for _, _, text in sorted(self.items, key=lambda item: item[:2])]


@dataclass
class CsvRow:
    line: int
    cells: dict[str, str]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    failed: set[str] = field(default_factory=set)                  # columns whose cell could not be read

    def fail(self, column: str, message: str) -> None:
        self.problems.append((column, message))
        self.failed.add(column)

    def has(self, column: str) -> bool:
        """The file has the column (DESIGN's columns always; an optional one when its header names it)."""
        return column in self.cells

    def raw(self, column: str) -> str:
        return self.cells.get(column, "")

    def date(self, column: str, *, required: bool = False) -> date | None:
        text = self.raw(column).strip()
        if not text:
            if required:
                self.fail(column, "Required; the cell is empty.")
            return None
        try:
            return iso_date(text)
        except ValueError as error:
            self.fail(column, f"{error}: {show(text)}.")
            return None

    def moment(self, column: str) -> datetime | None:
        """An ISO 8601 date and time with its UTC offset (as the export writes it), or None when empty."""
        text = self.raw(column).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(column, f"Not a date and time with its UTC offset (e.g. 2026-11-30T09:15:00+00:00): "
                              f"{show(text)}.")
            return None
        return moment.astimezone(timezone.utc)

    def number(self, column: str, *, required: bool = False) -> float | None:
        text = self.raw(column).strip()
        if not text:
            if required:
                self.fail(column, "Required; the cell is empty.")
            return None
        if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
            hint = " (use a point as the decimal separator)" if re.fullmatch(r"[+-]?\d+,\d+", text) else ""
            self.fail(column, f"Not a number: {show(text)}{hint}.")
            return None
        return float(text)

    def integer(self, column: str, *, required: bool = True) -> int | None:
        text = self.raw(column).strip()
        if not text:
            if required:
                self.fail(column, "Required; the cell is empty.")
            return None
        if not re.fullmatch(r"[+-]?\d{1,6}", text):
            self.fail(column, f"Not a whole number: {show(text)}.")
            return None
        return int(text)

    def yes_no(self, column: str) -> bool | None:
        text = self.raw(column).strip().lower()
        if text and text not in _YES_NO:
            self.fail(column, f"Must be yes or no (got {show(self.raw(column).strip())}).")
        return _YES_NO.get(text)


def show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def printable(text: str) -> str:
    return text if text.isprintable() and len(text) <= 40 else show(text)


def read_bytes(path: Path) -> bytes | str:
    """The file's bytes, or a message why it cannot be read (never reads more than the limit)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return too_big(size)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return f"Cannot be read: {error.strerror or error}."
    return too_big(len(data)) if len(data) > MAX_FILE_BYTES else data


def too_big(size: int) -> str:
    return (f"The file is {size / 1024 / 1024:.1f} MB, over the {MAX_FILE_BYTES // 1024 // 1024} MB limit; "
            "split it and import the parts one after the other.")


def _decode(name: str, data: bytes, problems: Problems) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.add(name, 1, "file", "UTF-16 text, not UTF-8; save the file as CSV UTF-8.")
        return None
    if data.startswith(b"PK\x03\x04"):
        problems.add(name, 1, "file", "An Excel workbook or other zip file, not CSV text; save it as CSV UTF-8.")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.add(name, line, "file", f"Not UTF-8 text (byte 0x{data[error.start]:02X} on line {line}); "
                                         "save the file as CSV UTF-8. Nothing in the file was read.")
        return None


def parse(name: str, data: bytes, problems: Problems) -> list[CsvRow] | None:
    """The data rows of a file by column name, or None when the file cannot be read at all."""
    expected = COLUMNS[name]
    if len(data) > MAX_FILE_BYTES:
        problems.add(name, 1, "file", too_big(len(data)))
        return None
    text = _decode(name, data, problems)
    if text is None:
        return None
    if not text.strip():
        problems.add(name, 1, "file", f"The file is empty; it needs at least the header row: {','.join(expected)}.")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[CsvRow] = []
    try:
        header = next(reader)
        columns = [cell.strip().lower() for cell in header]
        if not _header_ok(name, columns, problems):
            return None
        previous = reader.line_num
        for cells in reader:
            first, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (and rows of empty cells, as spreadsheets leave them) are skipped
            if len(cells) != len(columns):
                joined = (f"; a quote that is never closed may have joined lines {first}-{previous}"
                          if previous > first else "")
                problems.add(name, first, "record", f"{len(cells)} cells, but the header has {len(columns)} "
                                                    f"columns{joined}.")
                continue
            rows.append(CsvRow(first, dict(zip(columns, map(from_spreadsheet, cells)))))  # as exported
            if len(rows) > MAX_ROWS:
                problems.add(name, first, "file", f"More than {MAX_ROWS:,} rows; split the file and import the "
                                                  "parts one after the other.")
                return None
    except csv.Error as error:
        problems.add(name, reader.line_num, "record", f"Not readable as CSV: {error}; the rest of the file "
                                                      "was not read.")
    return rows


def _header_ok(name: str, columns: list[str], problems: Problems) -> bool:
    """DESIGN's columns are required; the optional ones may follow in any order; any other name is a
    problem (a misspelt column would otherwise be dropped silently)."""
    expected, known = COLUMNS[name], EXPORT_COLUMNS[name]
    before = len(problems.items)
    if not any(columns):
        problems.add(name, 1, "record", f"Line 1 must be the header row: {','.join(expected)}.")
        return False
    optional = known[len(expected):]
    also = f", and may have {','.join(optional)}" if optional else ""
    for position, column in enumerate(columns, 1):
        if not column:
            problems.add(name, 1, "record", f"Header cell {position} is empty; every column needs a name.")
        elif column not in known and column not in LEGACY_COLUMNS.get(name, ()):
            problems.add(name, 1, quoted_name(column), f"Unknown column; {name} has the columns "
                                                      f"{','.join(expected)}{also}.")
        elif columns.index(column) != position - 1:
            problems.add(name, 1, column, f"The column appears twice in the header (cells "
                                          f"{columns.index(column) + 1} and {position}).")
    for column in expected:
        if column not in columns:
            problems.add(name, 1, column, f"Missing column; the header must name {','.join(expected)}.")
    return len(problems.items) == before


def quoted_name(text: str) -> str:
    """A column or file name as written, quoted when it could break the `file:line: column:` format."""
    safe = re.sub(r"[^\w .()/+-]", "?", text[:80])
    return text if safe == text and text else f"'{safe}'"
