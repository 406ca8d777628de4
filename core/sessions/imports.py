"""Session-log files in: read real exports, map their columns, import in one transaction.

A file (CSV or XLSX) is read into a temporary staging table with every value as text — CSV by
DuckDB's ``read_csv`` (delimiter and encoding decided here first), XLSX by openpyxl — and its
columns are mapped onto the canonical log (``core.sessions.checks.FIELDS``). The rows then go through
``core.sessions.checks.check_rows``, the one validation path, and the verdict is written: accepted
rows to ``session_logs``, rejected rows (with their original values and every reason) to
``quarantined_rows``, and the counts to ``import_batches``. All of it in one transaction, so a
crash or kill mid-import leaves the database as it was. Format: docs/sessions/import-format.md.

Rows that the CSV reader cannot split into the header's columns are not dropped: they are
quarantined with the reason, and their values are kept as far as they can be read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd

from core import clock
from core.sessions.checks import (
    DATE_ORDERS, FIELDS, REQUIRED_FIELDS, WRITE_LOCK, CheckCounts, CheckOptions, Mark, Progress, _no_progress,
    as_text, check_rows, checked_again, create_missing_clients, date_evidence, insert_accepted, prepare_rows,
    resolve_date_order, stage_values,
)
from core.access.auth import STAFF_WRITERS, PermissionDenied, audit_in, require_role
from core.access.sites import DEFAULT_SITE, allowed_sites
from core.db.store import ACCOUNTS, IMPORTS, PRACTICE, SESSION_LOGS, DatabaseError, Store, next_id, utcnow

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "data" / "templates" / "session-log-template.csv"
DEFAULT_SOURCE = "import"
IGNORE = "ignore"               # --map "HEADER=ignore" leaves a column out
DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 65536
_SAMPLE_ROWS = 20
_EXCEL_LAST_ROW = 1_048_576     # a sheet has no row past this one
_MIB = 2 ** 20


@dataclass(frozen=True)
class FileLimits:
    """The most one import reads, checked before the file is parsed, so that a hostile or
    mistaken file is refused in seconds instead of holding the server for minutes.

    XLSX has its own, lower row and cell limits: a workbook is parsed in Python (about 2,500 to
    10,000 rows a second on our 2 cores), a CSV by DuckDB (about 2,000,000 a second). The
    unpacked size and the expansion (unpacked / packed size of one part of the workbook) keep a
    small file from unpacking into gigabytes.
    """

    file_bytes: int = 200 * _MIB        # as Streamlit's upload limit
    rows: int = 1_048_575               # data rows of a CSV: a sheet's last row, after the header
    columns: int = 500
    cells: int = 30_000_000
    header_chars: int = _MIB             # the header row of a CSV
    xlsx_rows: int = 100_000
    xlsx_cells: int = 1_500_000
    unpacked_bytes: int = 200 * _MIB    # every part of a workbook, unpacked
    expansion: int = 100                # unpacked / packed size of one part over 1 MiB
    parts: int = 2_000                  # parts in a workbook's zip


LIMITS = FileLimits()


class ImportFileError(ValueError):
    """A problem with the file as a whole (unreadable, empty, no client or date column ...).

    Nothing is written when it is raised.
    """


class BatchError(ValueError):
    """An import batch or quarantined row that cannot be changed as asked."""


# -- reading files --------------------------------------------------------------------------------

@dataclass
class LogFile:
    """A session-log file, read far enough to map its columns.

    A CSV is kept as UTF-8: ``path`` when the file on disk already is, else ``utf8`` (an upload,
    or a file in another encoding, converted); DuckDB reads a temporary copy of ``utf8`` only
    while the import stages it, so nothing is left behind. For XLSX, ``rows`` holds every
    non-empty row as text with its sheet row number.
    """

    name: str
    kind: str                                   # csv | xlsx
    sha256: str
    headers: list[str]
    sample: list[list[str | None]]
    encoding: str | None = None
    delimiter: str | None = None
    newline: str | None = None
    path: Path | None = None
    utf8: bytes | None = field(default=None, repr=False)
    rows: list[tuple[int, list[str | None]]] | None = None
    # XLSX: row -> the columns whose cell holds a formula the file keeps no result for
    formulas: dict[int, list[int]] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)    # what staff should know about how it was read
    limits: FileLimits = field(default=LIMITS, repr=False)

    def sample_frame(self) -> pd.DataFrame:
        """The first rows as a table under the file's headers, for the mapping screen."""
        width = len(self.headers)
        return pd.DataFrame([(list(r) + [None] * width)[:width] for r in self.sample], columns=self.headers)

    def describe(self) -> str:
        if self.kind == "xlsx":
            return f"Excel workbook, {len(self.headers)} columns, {len(self.rows or [])} rows"
        names = {",": "comma", ";": "semicolon", "\t": "tab"}
        return f"CSV ({names.get(self.delimiter or ',', self.delimiter)}-separated, {self.encoding}), {len(self.headers)} columns"


@dataclass(frozen=True)
class Decoded:
    """A CSV's text and how it was decided: ``stray`` counts the bytes that were not UTF-8 in a
    file read as UTF-8 (each read as Windows-1252), ``first_bad_line`` the line of the first."""

    encoding: str
    text: str
    stray: int = 0
    first_bad_line: int | None = None

    def note(self) -> str | None:
        if self.first_bad_line is None:
            return None
        if self.stray:
            return (f"line {self.first_bad_line:,} holds a character that is not UTF-8 ({self.stray:,} byte(s) in "
                    "the file): read as Windows-1252, the rest of the file as UTF-8. Check the names on that line.")
        return (f"the file is not UTF-8 (from line {self.first_bad_line:,}): it was read as Windows-1252, "
                "as Excel on Windows writes CSV")


# Bytes Windows-1252 leaves undefined are read as Latin-1 (the same code point).
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_stray_bytes = threading.local()


def _cp1252_byte(byte: int) -> str:
    return chr(byte) if byte in _CP1252_UNDEFINED else bytes([byte]).decode("cp1252")


def _stray_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: a byte that is not UTF-8 (or that Windows-1252 leaves undefined) is
    read as Windows-1252 (else Latin-1), and counted."""
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start:exc.end]
    _stray_bytes.count = getattr(_stray_bytes, "count", 0) + len(bad)
    return "".join(_cp1252_byte(b) for b in bad), exc.end


codecs.register_error("routine_desk_cp1252", _stray_as_cp1252)


def _decode(raw: bytes) -> Decoded:
    """UTF-16 by its BOM, else UTF-8 (with or without BOM) when the strict attempt succeeds.

    When it fails, the whole file decides: its characters that are valid UTF-8 past ASCII (é
    written as two bytes) are weighed against the bytes that are not. A UTF-8 file with a few stray
    Windows-1252 bytes (one name typed on another PC) stays UTF-8, each stray byte read as
    Windows-1252, so one byte does not garble every other name; a file with no UTF-8 beyond
    ASCII is Windows-1252 throughout (Excel's "CSV" on Windows).
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return Decoded("utf-16", raw.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"the file says it is UTF-16 but is not: {exc}") from exc
    try:
        text = raw.decode("utf-8")
        return Decoded("utf-8-sig" if text.startswith("\ufeff") else "utf-8", text)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
    _stray_bytes.count = 0
    text = raw.decode("utf-8", errors="routine_desk_cp1252")
    stray = _stray_bytes.count
    beyond_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    if beyond_ascii - stray >= stray:       # as many characters read as UTF-8 as bytes that are not, or more
        # (a valid UTF-8 sequence is rare by chance in Windows-1252 text: "Ã©" for "é")
        return Decoded("utf-8-sig" if text.startswith("\ufeff") else "utf-8", text, stray, line)
    return Decoded("cp1252", raw.decode("cp1252", errors="routine_desk_cp1252"), 0, line)


def _unique_headers(cells: Sequence[Any]) -> list[str]:
    """Header names as shown to staff: trimmed, blanks named by position, repeats numbered."""
    seen: dict[str, int] = {}
    headers = []
    for i, cell in enumerate(cells):
        name = " ".join(str(cell or "").replace("\ufeff", "").split()) or f"column {i + 1}"
        seen[name] = seen.get(name, 0) + 1
        headers.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return headers


def _sniff(head: str, complete: bool) -> tuple[str, list[list[str]]]:
    """The delimiter whose header splits into most columns that the next rows agree with."""
    best: tuple[tuple[int, int, int], str, list[list[str]]] | None = None
    for delim in DELIMITERS:
        rows = _leading_rows(head, delim)
        if not complete and len(rows) > 1:
            rows = rows[:-1]                     # the last row may be cut off mid-way
        rows = [r for r in rows if r]
        if not rows:
            continue
        width = len(rows[0])
        agree = sum(1 for r in rows[1:21] if len(r) == width)
        key = (int(width > 1), agree, width)
        if best is None or key > best[0]:
            best = (key, delim, rows)
    if best is None:
        raise ImportFileError("the file has no header row")
    return best[1], best[2]


def _leading_rows(text: str, delimiter: str) -> list[list[str]]:
    """The rows Python's csv module reads from ``text`` up to the first one it cannot."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            rows.append(next(reader))
        except (StopIteration, csv.Error):
            return rows


def _newline(head: str) -> str:
    """The file's line ending, as DuckDB's new_line option writes it, judged outside quoted values."""
    bare = re.sub(r'"[^"]*"', "", head)
    lf = bare.count("\n")
    if lf == 0:
        return "\\r" if "\r" in bare else "\\n"
    return "\\r\\n" if bare.count("\r\n") * 2 > lf else "\\n"


def _cell_text(value: Any) -> str | None:
    """An XLSX cell as the text a CSV export would hold (dates as ISO, whole numbers without .0)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    return text if text.strip() else None


def _open_package(raw: bytes, limits: FileLimits) -> zipfile.ZipFile:
    """The workbook's zip, after its directory is checked: how many parts, how large unpacked, and
    how much each part expands. Nothing is unpacked yet. (A part cannot unpack to more than the
    directory says: Python's zip reader stops at the stated size.)"""
    try:
        package = zipfile.ZipFile(io.BytesIO(raw))
        parts = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ImportFileError("the file is not a readable XLSX workbook (it is damaged or not an Excel export)") from exc
    if len(parts) > limits.parts:
        raise ImportFileError(f"the workbook has {len(parts):,} parts; an Excel export has far fewer "
                              f"(at most {limits.parts:,} are read)")
    unpacked = sum(part.file_size for part in parts)
    if unpacked > limits.unpacked_bytes:
        raise ImportFileError(f"the workbook unpacks to {unpacked / _MIB:,.0f} MB; at most "
                              f"{limits.unpacked_bytes / _MIB:,.0f} MB can be imported: export it as CSV")
    for part in parts:
        if part.file_size > _MIB and part.file_size > limits.expansion * max(part.compress_size, 1):
            raise ImportFileError(
                f"the workbook unpacks to {part.file_size / max(part.compress_size, 1):,.0f} times its size "
                f"(at most {limits.expansion}): it is not an ordinary export, so it was not opened")
    return package


@dataclass(frozen=True)
class _PartCount:
    rows: int            # rows that hold cells (closing row tags), a header included
    cells: int           # cell tags
    formulas: bool       # whether any cell holds a formula


def _count_part(package: zipfile.ZipFile, part: zipfile.ZipInfo, limits: FileLimits) -> _PartCount:
    """Count a part's rows and cells from its XML as bytes, without parsing it (about a second per
    300 MB), stopping as soon as there are too many; and see whether it holds formulas at all."""
    rows = cells = 0
    formulas, tail = False, b""
    with package.open(part) as stream:
        while chunk := stream.read(4 * _MIB):
            # The last bytes of the chunk before, one fewer than a tag has: a tag across the two
            # chunks is counted, none twice.
            rows += (tail[-3:] + chunk).count(b"row>")           # </row> and </x:row>
            around = tail[-2:] + chunk
            cells += around.count(b"<c ") + around.count(b":c ")
            formulas = formulas or any(tag in around for tag in (b"<f>", b"<f ", b":f>", b":f "))
            tail = chunk[-3:]
            if rows - 1 > limits.xlsx_rows:
                raise ImportFileError(f"a sheet of the workbook has more than {limits.xlsx_rows:,} rows; save it as "
                                      f"CSV to import up to {limits.rows:,} rows")
            if cells > limits.xlsx_cells:
                raise ImportFileError(f"a sheet of the workbook has more than {limits.xlsx_cells:,} cells; save it "
                                      "as CSV to import it")
    return _PartCount(rows, cells, formulas)


def _count_parts(package: zipfile.ZipFile, limits: FileLimits) -> dict[str, _PartCount]:
    """Every XML part counted (openpyxl reads a little of every sheet as it opens the workbook, and
    the whole sheet when it states no size), by part name."""
    try:
        return {part.filename: _count_part(package, part, limits) for part in package.infolist()
                if part.filename.endswith(".xml")}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise ImportFileError("the workbook cannot be unpacked (it is damaged or encrypted)") from exc


def _check_dimension(sheet: Any, counted_rows: int, limits: FileLimits) -> None:
    """The size the sheet states (its dimension, e.g. A1:J200), against the limits."""
    width = sheet.max_column
    if width is not None and width > limits.columns:
        raise ImportFileError(f"the sheet says it is {width:,} columns wide; at most {limits.columns:,} columns "
                              "can be read: delete the unused columns, or export it as CSV")
    if width is not None and counted_rows * width > limits.xlsx_cells:
        raise ImportFileError(f"the sheet holds {counted_rows:,} rows of {width:,} columns; at most "
                              f"{limits.xlsx_cells:,} cells can be read from a workbook: export it as CSV")


# What a damaged sheet raises while openpyxl parses it (XML, shared-string index, number forms).
_SHEET_ERRORS = (SyntaxError, ValueError, KeyError, IndexError, TypeError, AttributeError, zipfile.BadZipFile,
                 zlib.error, EOFError, OSError)


def _sheet_rows(book: Any, limits: FileLimits) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(sheet row number, values) of the first sheet's rows, by the cells it really holds (not the
    width it states), refused past the row, column and cell limits as they are met."""
    sheet = book.worksheets[0]
    sheet.reset_dimensions()
    held = cells = 0
    try:
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > _EXCEL_LAST_ROW:
                raise ImportFileError(f"the sheet has rows past row {_EXCEL_LAST_ROW:,}, Excel's last")
            if not values:
                continue
            if len(values) > limits.columns:
                raise ImportFileError(f"row {number:,} has cells in column {len(values):,}; at most "
                                      f"{limits.columns:,} columns can be read")
            held, cells = held + 1, cells + len(values)
            if held - 1 > limits.xlsx_rows or cells > limits.xlsx_cells:
                raise ImportFileError(f"the sheet holds more than {limits.xlsx_rows:,} rows or {limits.xlsx_cells:,} "
                                      "cells; export it as CSV")
            yield number, values
    except ImportFileError:
        raise
    except _SHEET_ERRORS as exc:
        raise ImportFileError("the workbook's first sheet cannot be read (it is damaged or not an Excel export)") from exc


def _is_formula(value: Any) -> bool:
    return (isinstance(value, str) and value.startswith("=")) or type(value).__name__ in (
        "ArrayFormula", "DataTableFormula")


def _unsaved_formulas(raw: bytes, rows: Mapping[int, Sequence[str | None]],
                      limits: FileLimits) -> dict[int, list[int]]:
    """Row -> columns whose cell holds a formula the file keeps no result for (written by a
    program that does not calculate, e.g. a script). Read again with formulas instead of results;
    only for a sheet that holds formulas at all."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    try:
        found: dict[int, list[int]] = {}
        for number, values in _sheet_rows(book, limits):
            kept = rows.get(number)
            if kept is None:
                continue
            columns = [i for i, v in enumerate(values) if _is_formula(v) and (i >= len(kept) or kept[i] is None)]
            if columns:
                found[number] = columns
        return found
    finally:
        book.close()


@dataclass
class _Sheet:
    headers: list[str]
    rows: list[tuple[int, list[str | None]]]
    formulas: dict[int, list[int]]


def _read_xlsx(raw: bytes, limits: FileLimits) -> _Sheet:
    """The first sheet, read only after its package, its rows counted from the bytes and its stated
    width pass the limits, and then parsed row by row, refused as soon as a limit is passed."""
    from openpyxl import load_workbook

    counts = _count_parts(_open_package(raw, limits), limits)
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except _SHEET_ERRORS as exc:
        raise ImportFileError("the file is not a readable XLSX workbook (it is damaged or not an Excel export)") from exc
    try:
        if not book.worksheets:
            raise ImportFileError("the workbook has no sheets")
        sheet = book.worksheets[0]
        counted = counts.get(sheet._worksheet_path.lstrip("/"), _PartCount(0, 0, True))
        _check_dimension(sheet, counted.rows, limits)
        found = [(number, [_cell_text(v) for v in values]) for number, values in _sheet_rows(book, limits)]
    finally:
        book.close()
    found = [(number, cells) for number, cells in found if any(c is not None for c in cells)]
    if not found:
        raise ImportFileError("the workbook's first sheet is empty")
    width = max(len(cells) for _, cells in found)       # a column with values but no header is kept
    header = _unique_headers(found[0][1] + [None] * (width - len(found[0][1])))
    rows = found[1:]
    formulas = _unsaved_formulas(raw, dict(rows), limits) if counted.formulas else {}
    return _Sheet(header, rows, formulas)


def read_log_file(source: Path | str | bytes, name: str | None = None, limits: FileLimits = LIMITS) -> LogFile:
    """Read a CSV or XLSX export far enough to map it; raises ImportFileError for a bad file, or
    one past the limits (checked before it is parsed)."""
    if isinstance(source, bytes):
        raw, path = source, None
        name = name or "upload"
        size = len(raw)
    else:
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size > limits.file_bytes:
        raise ImportFileError(f"the file is {size / _MIB:,.0f} MB; at most {limits.file_bytes / _MIB:,.0f} MB can be "
                              "imported at once: split it")
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not raw or raw.isspace():            # (not raw.strip(): that copies the whole file)
        raise ImportFileError("the file is empty")
    return _read_log_bytes(raw, path, name, hashlib.sha256(raw).hexdigest(), limits)


def _csv_head(text: str, limits: FileLimits) -> tuple[str, str, list[list[str]]]:
    """(head, delimiter, leading rows): the start of the text, long enough for the header and a row.

    The first 64 KB usually are; a longer header (a form with hundreds of long questions) widens
    the window up to the header limit, so it is read rather than taken for a file without rows.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 16 * _MIB))    # Python's default stops at 128 KB a value
    window = _SNIFF_CHARS
    while True:
        head = text[:window]
        complete = len(text) <= window
        delimiter, rows = _sniff(head.lstrip("\ufeff"), complete)
        if len(rows) >= 2 or complete:
            return head, delimiter, rows
        if window >= limits.header_chars:
            raise ImportFileError(f"the header row is longer than {limits.header_chars:,} characters (or a quote "
                                  "in it is never closed): check that the file is a session-log export")
        window = min(window * 4, limits.header_chars)


def _read_log_bytes(raw: bytes, path: Path | None, name: str, sha256: str, limits: FileLimits) -> LogFile:
    """read_log_file once the bytes are in and hashed (``sha256``)."""
    if raw.startswith(b"PK\x03\x04"):
        sheet = _read_xlsx(raw, limits)
        if not sheet.rows:
            raise ImportFileError("the file has a header row but no rows")
        return LogFile(name, "xlsx", sha256, sheet.headers,
                       [cells for _, cells in sheet.rows[:_SAMPLE_ROWS]], rows=sheet.rows, formulas=sheet.formulas,
                       limits=limits)
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("old Excel .xls workbooks cannot be read: save it as .xlsx or CSV")
    decoded = _decode(raw)
    text = decoded.text
    if "\x00" in text[:_SNIFF_CHARS]:
        raise ImportFileError("the file is not text (CSV) or an XLSX workbook")
    head, delimiter, rows = _csv_head(text, limits)
    if len(rows) < 2:
        raise ImportFileError("the file has a header row but no rows")
    if len(rows[0]) > limits.columns:
        raise ImportFileError(f"the header has {len(rows[0]):,} columns; at most {limits.columns:,} can be read")
    log = LogFile(name, "csv", sha256, _unique_headers(rows[0]), [list(r) for r in rows[1:1 + _SAMPLE_ROWS]],
                  encoding=decoded.encoding, delimiter=delimiter, newline=_newline(head),
                  notes=[n for n in [decoded.note()] if n], limits=limits)
    if path is not None and decoded.encoding in ("utf-8", "utf-8-sig") and decoded.first_bad_line is None:
        log.path = path
    elif decoded.first_bad_line is None and decoded.encoding in ("utf-8", "utf-8-sig"):
        log.utf8 = raw
    else:
        log.utf8 = text.lstrip("\ufeff").encode("utf-8")
    return log


@contextmanager
def _csv_path(log: LogFile) -> Iterator[Path]:
    """A path DuckDB can read the CSV from: the file itself, or a temporary UTF-8 copy removed after."""
    if log.path is not None:
        yield log.path
        return
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", prefix="routine-desk-import-") as out:
        out.write(log.utf8 or b"")
        out.flush()
        yield Path(out.name)


# -- column mapping -------------------------------------------------------------------------------

def normalise_header(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower()).split())


# Headers that name a field outright (after normalise_header), with how sure we are.
_EXACT: dict[str, tuple[str, int]] = {
    **{normalise_header(f): (f, 100) for f in FIELDS},
    "client code": ("client", 100), "code": ("client", 95), "client id": ("client", 95),
    "email": ("client", 92), "email address": ("client", 92), "your email": ("client", 92),
    "e mail": ("client", 92), "client name": ("client", 90), "name": ("client", 88),
    "your name": ("client", 88), "full name": ("client", 88), "patient": ("client", 88),
    "date": ("session_date", 98), "date of session": ("session_date", 98), "session day": ("session_date", 95),
    "time": ("session_time", 95), "time of day": ("session_time", 95), "time of session": ("session_time", 95),
    "routine id": ("routine", 98), "routine name": ("routine", 96), "programme": ("routine", 90),
    "program": ("routine", 90), "minutes": ("duration_min", 95), "duration": ("duration_min", 95),
    "notes": ("notes", 98), "note": ("notes", 98), "comments": ("notes", 95), "comment": ("notes", 95),
    "id": ("session_id", 80), "response id": ("session_id", 95), "submission id": ("session_id", 95),
    "stiffness": ("stiffness", 100), "stiff": ("stiffness", 90),
    "slot": ("block", 95), "time of day block": ("block", 95), "day plan block": ("block", 95),
}

# Patterns for longer form questions, e.g. "How many exercises did you complete?".
_RULES: tuple[tuple[str, int, re.Pattern[str]], ...] = tuple(
    (f, score, re.compile(pattern)) for f, score, pattern in (
        ("session_id", 85, r"\b(session|response|submission|entry|record|log|row) id\b"),
        ("pain_before", 80, r"\bpain\b.*\b(before|start|beginning|pre)\b|\b(before|pre)\b.*\bpain\b"),
        ("pain_after", 80, r"\bpain\b.*\b(after|afterwards|end|post)\b|\b(after|post)\b.*\bpain\b"),
        ("stiffness", 78, r"\bstiff"),
        ("exercises_prescribed", 76, r"\bexercises?\b.*\b(prescribed|assigned|planned|total|supposed)\b"
                                     r"|\b(prescribed|assigned|planned)\b.*\bexercises?\b"),
        ("exercises_done", 74, r"\bexercises?\b.*\b(complete|completed|done|did|finished)\b"
                               r"|\b(how many|number of) exercises\b"),
        ("session_date", 80, r"\bdate\b"),
        ("duration_min", 72, r"\b(minutes?|mins?|duration|how long|time spent)\b"),
        ("routine", 70, r"\b(routine|programme|program|plan|workout)\b"),
        ("client", 75, r"\be ?mail\b"),
        ("client", 72, r"\b(client|patient|participant|member)\b"),
        ("client", 65, r"\bname\b"),
        ("session_date", 62, r"\b(completion time|end time|submitted|submission time)\b"),
        ("session_date", 61, r"\bstart time\b"),
        ("session_date", 60, r"\btimestamp\b"),
        ("session_time", 70, r"^(session )?time( of (day|session))?$|^what time\b"),
        ("notes", 60, r"\b(notes?|comments?|anything else|remarks?|feedback|how did it (go|feel))\b"),
        ("session_date", 55, r"\b(when|day)\b"),
    )
)


def guess_mapping(headers: Sequence[str]) -> dict[str, str]:
    """field -> header, guessed from header names; each header and each field used at most once."""
    candidates = []
    for index, header in enumerate(headers):
        key = normalise_header(header)
        if key in _EXACT:
            f, score = _EXACT[key]
            candidates.append((score, -index, f, header))
        for f, score, pattern in _RULES:
            if pattern.search(key):
                candidates.append((score, -index, f, header))
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for score, _, f, header in sorted(candidates, reverse=True):
        if f not in mapping and header not in used:
            mapping[f] = header
            used.add(header)
    return {f: mapping[f] for f in FIELDS if f in mapping}


def parse_map_options(options: Sequence[str]) -> dict[str, str]:
    """``["HEADER=field", ...]`` (the CLI's --map) as header -> field."""
    parsed = {}
    for option in options:
        header, sep, target = option.rpartition("=")
        if not sep or not header.strip():
            raise ImportFileError(f"--map {option!r}: write it as \"HEADER=field\"")
        parsed[header.strip()] = target.strip()
    return parsed


def build_mapping(headers: Sequence[str], saved: Mapping[str, str] | None = None,
                  overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The mapping (field -> header) for a file: the guess, then a saved mapping, then overrides.

    A saved mapping's headers that this file lacks are skipped; an override (header -> field, or
    header -> "ignore") must name a header of the file and a known field.
    """
    mapping = guess_mapping(headers)
    lookup = {normalise_header(h): h for h in headers}

    def assign(f: str, header: str) -> None:
        for other in [k for k, v in mapping.items() if v == header]:
            del mapping[other]
        mapping[f] = header

    for f, header in (saved or {}).items():
        found = lookup.get(normalise_header(header))
        if f in FIELDS and found:
            assign(f, found)
    for header, target in (overrides or {}).items():
        found = header if header in headers else lookup.get(normalise_header(header))
        if found is None:
            raise ImportFileError(f"--map: the file has no column {header!r} (columns: {', '.join(headers)})")
        if target == IGNORE:
            for f in [k for k, v in mapping.items() if v == found]:
                del mapping[f]
        elif target in FIELDS:
            assign(target, found)
        else:
            raise ImportFileError(f"--map: unknown field {target!r} (fields: {', '.join(FIELDS)}, or {IGNORE})")
    return {f: mapping[f] for f in FIELDS if f in mapping}


def check_mapping(headers: Sequence[str], mapping: Mapping[str, str]) -> None:
    """File-level mapping problems: unknown fields or headers, a header used twice, no client or date."""
    unknown = [f for f in mapping if f not in FIELDS]
    if unknown:
        raise ImportFileError(f"unknown field(s) in the mapping: {', '.join(unknown)}")
    missing = [h for h in mapping.values() if h not in headers]
    if missing:
        raise ImportFileError(f"the file has no column(s) {', '.join(map(repr, missing))}")
    used = [h for h in mapping.values()]
    twice = sorted({h for h in used if used.count(h) > 1})
    if twice:
        raise ImportFileError(f"column(s) {', '.join(map(repr, twice))} are mapped to more than one field")
    for f in REQUIRED_FIELDS:
        if f not in mapping:
            raise ImportFileError(
                f"no {f} column: map one, e.g. --map \"HEADER={f}\" (columns: {', '.join(headers)})")


# -- saved mappings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SavedMapping:
    name: str
    mapping: dict[str, str]
    date_order: str | None


def save_mapping(store: Store, name: str, mapping: Mapping[str, str], date_order: str | None, actor: str) -> None:
    """Keep a source's column mapping (and date order) under ``name`` for its next file."""
    name = name.strip()
    if not name:
        raise ValueError("a saved mapping needs a name")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ValueError(f"date order must be one of {', '.join(DATE_ORDERS)}")
    unknown = [f for f in mapping if f not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    require_role(store, actor, STAFF_WRITERS)
    with store.transaction(touches=(IMPORTS, ACCOUNTS)) as cur:
        audit_in(cur, actor, "import_mapping_saved", {"name": name})
        cur.execute(
            "INSERT INTO import_mappings (name, mapping_json, date_order, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET mapping_json = excluded.mapping_json,"
            " date_order = excluded.date_order, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            [name, json.dumps(dict(mapping)), date_order, utcnow(), actor],
        )


def get_mapping(store: Store, name: str) -> SavedMapping | None:
    row = store.rows("SELECT name, mapping_json, date_order FROM import_mappings WHERE name = ?", [name.strip()])
    return SavedMapping(row[0][0], json.loads(row[0][1]), row[0][2]) if row else None


def mapping_names(store: Store) -> list[str]:
    return [n for (n,) in store.rows("SELECT name FROM import_mappings ORDER BY name")]


# -- staging --------------------------------------------------------------------------------------

_SHAPE_REASONS = {
    "UNQUOTED VALUE": "a quote sits inside a value that does not start with one",
    "INVALID ENCODING": "the row holds characters that are not valid text",
    "INVALID UNICODE": "the row holds characters that are not valid text",
    "LINE SIZE OVER MAXIMUM": "the row is longer than the reader's limit",
}


@dataclass(frozen=True)
class _Staged:
    """How to find a rejected row's original values once the file is staged: a SQL expression
    (a JSON object keyed by the file's headers) and the FROM clause it needs over li_rejected
    (the rejected rows of li_out)."""

    values: str
    source: str


def _width_reason(cells: Sequence[str | None], width: int, strict: bool) -> str | None:
    """A CSV row must have exactly the header's columns; a sheet row may stop early."""
    extra = any(c not in (None, "") for c in cells[width:])
    if extra or (strict and len(cells) != width):
        return f"the row has {len(cells)} value(s) but the header has {width} column(s)"
    return None


def _row_frame(log: LogFile, rows: Iterable[tuple[int, Sequence[str | None], str | None]]) -> pd.DataFrame:
    """Rows given in Python as a frame: row_no, c0..cN, shape_reason, and for rows with a shape
    problem their values as read (extra values included) in values_json."""
    width = len(log.headers)
    numbers: list[int] = []
    columns: list[list[str | None]] = [[] for _ in range(width)]
    reasons: list[str | None] = []
    originals: list[str | None] = []
    for number, cells, reason in rows:
        numbers.append(number)
        for i in range(width):
            columns[i].append(cells[i] if i < len(cells) else None)
        reasons.append(reason)
        if reason is None:
            originals.append(None)
            continue
        values = {h: (cells[i] if i < len(cells) else None) for i, h in enumerate(log.headers)}
        values.update({f"(extra {i + 1})": v for i, v in enumerate(cells[width:])})
        originals.append(json.dumps(values, ensure_ascii=False))
    return pd.DataFrame({"row_no": pd.Series(numbers, dtype="int64"),
                         **{f"c{i}": pd.Series(col, dtype="object") for i, col in enumerate(columns)},
                         "shape_reason": pd.Series(reasons, dtype="object"),
                         "values_json": pd.Series(originals, dtype="object")})


def _load_frame(cur: Any, table: str, frame: pd.DataFrame, width: int) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.register("li_frame", frame)
    cols = ", ".join(f"CAST(c{i} AS VARCHAR) AS c{i}" for i in range(width))
    cur.execute(f"CREATE TEMP TABLE {table} AS SELECT CAST(row_no AS BIGINT) AS row_no, {cols},"
                " CAST(shape_reason AS VARCHAR) AS shape_reason, CAST(values_json AS VARCHAR) AS values_json"
                " FROM li_frame")
    cur.unregister("li_frame")


def _mapped(mapping: Mapping[str, str], log: LogFile, alias: str) -> str:
    index = {h: i for i, h in enumerate(log.headers)}
    return ", ".join(f"{alias}.c{index[mapping[f]]} AS {f}" if f in mapping else f"CAST(NULL AS VARCHAR) AS {f}"
                     for f in FIELDS)


def _values_json(log: LogFile, alias: str) -> str:
    return f"coalesce({alias}.values_json, json_object(" + ", ".join(
        f"?, g.c{i}" for i in range(len(log.headers))) + "))"


def _stage_rows(cur: Any, log: LogFile, mapping: Mapping[str, str],
                rows: Iterable[tuple[int, Sequence[str | None], str | None]]) -> _Staged:
    """li_raw and li_in from rows read in Python (XLSX, or a CSV DuckDB's reader refused)."""
    _load_frame(cur, "li_raw", _row_frame(log, rows), len(log.headers))
    cur.execute(f"CREATE TEMP VIEW li_in AS SELECT g.row_no, {_mapped(mapping, log, 'g')}, g.shape_reason,"
                " g.row_no AS src FROM li_raw g")
    return _Staged(_values_json(log, "g"), "li_rejected o LEFT JOIN li_raw g ON g.row_no = o.src")


def _check_row_count(log: LogFile, rows: int) -> None:
    """A CSV's rows (and cells) against the limits: DuckDB reads them in a second or two, so the
    size limit bounds the reading and this one what the checks are given."""
    limits = log.limits
    if rows > limits.rows or rows * len(log.headers) > limits.cells:
        raise ImportFileError(f"the file has {rows:,} rows of {len(log.headers):,} columns; at most {limits.rows:,} rows "
                              f"and {limits.cells:,} values can be imported at once: split it")


def _python_csv_rows(log: LogFile) -> Iterator[tuple[int, list[str], str | None]]:
    """Every record of the CSV by Python's lenient reader, numbered as a spreadsheet would (header 1)."""
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))
    width = len(log.headers)
    source = open(log.path, "rb") if log.path is not None else io.BytesIO(log.utf8 or b"")
    with io.TextIOWrapper(source, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=log.delimiter or ",")
        try:
            next(reader, None)
            for number, cells in enumerate(reader, start=2):
                if number - 1 > log.limits.rows:
                    _check_row_count(log, number - 1)
                if cells:
                    yield number, cells, _width_reason(cells, width, strict=True)
        except csv.Error as exc:
            raise ImportFileError(f"the CSV cannot be read after line {reader.line_num}: {exc}") from exc


def _stage_csv(cur: Any, log: LogFile, mapping: Mapping[str, str]) -> _Staged:
    """li_raw (c0..cN text) by DuckDB's read_csv; rows it cannot split go to li_shape, kept.

    A file whose structure DuckDB's strict reader refuses outright (a stray carriage return, say)
    is read row by row in Python instead: slower, but nothing is lost. (Staging runs outside the
    import's transaction, so the refusal aborts nothing.)
    """
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(log.headers))) + "}"
    for name in ("li_raw", "li_shape", "li_rejpos", "li_rej_errors", "li_rej_scans"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    try:
        with _csv_path(log) as path:
            cur.execute(
                f"""
                CREATE TEMP TABLE li_raw AS SELECT * FROM read_csv(
                    $path, header = true, auto_detect = false, delim = $delim, quote = '"', escape = '"',
                    new_line = '{log.newline}', columns = {columns}, store_rejects = true,
                    rejects_table = 'li_rej_errors', rejects_scan = 'li_rej_scans', max_line_size = 8388608)
                """,
                {"path": str(path), "delim": log.delimiter},
            )
    except DatabaseError:
        for name in ("li_raw", "li_rej_errors", "li_rej_scans"):
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        return _stage_rows(cur, log, mapping, _python_csv_rows(log))
    bad = cur.execute(
        "SELECT line, arg_min(csv_line, error_type), min(error_type)"
        " FROM li_rej_errors GROUP BY line ORDER BY line").fetchall()
    # Row ids of a table made inside a transaction start at a large offset; they are consecutive
    # and in file order, so the offset is the smallest one.
    good, base = cur.execute("SELECT count(*), coalesce(min(rowid), 0) FROM li_raw").fetchone()
    if good == 0 and not bad:
        raise ImportFileError("no rows could be read from the file (check that it is a CSV export)")
    _check_row_count(log, good + len(bad))
    _load_frame(cur, "li_shape", _row_frame(log, (_rejected_line(log, *b) for b in bad)), len(log.headers))
    position = f"(g.rowid - {int(base)})"
    row_no, source = f"{position} + 2", "li_raw g"
    if bad:
        # DuckDB numbers rejected lines (header = 1); a good row's number is its position among
        # good rows, plus the header, plus the rejected lines before it.
        cur.execute(
            "CREATE TEMP TABLE li_rejpos AS SELECT line - j - 1 AS before, max(j) AS j"
            " FROM (SELECT line, row_number() OVER (ORDER BY line) AS j FROM (SELECT DISTINCT line FROM li_rej_errors))"
            " GROUP BY ALL"
        )
        row_no = f"{position} + 2 + coalesce(p.j, 0)"
        source = f"li_raw g ASOF LEFT JOIN li_rejpos p ON {position} + 1 > p.before"
    cur.execute(
        f"""
        CREATE TEMP VIEW li_in AS
        SELECT CAST({row_no} AS BIGINT) AS row_no, {_mapped(mapping, log, 'g')}, CAST(NULL AS VARCHAR) AS shape_reason,
               g.rowid AS src
        FROM {source}
        UNION ALL
        SELECT s.row_no, {_mapped(mapping, log, 's')}, s.shape_reason, CAST(NULL AS BIGINT) FROM li_shape s
        """
    )
    return _Staged(_values_json(log, "s"), "li_rejected o LEFT JOIN li_shape s ON s.row_no = o.row_no AND o.src IS NULL"
                                          " LEFT JOIN li_raw g ON g.rowid = o.src")


def _rejected_line(log: LogFile, line: int, text: str, kind: str) -> tuple[int, list[str], str]:
    """A line DuckDB's reader rejected: its values by position as far as they split, and why."""
    text = (text or "").strip("\r\n")
    cells = (_leading_rows(text, log.delimiter or ",") or [[text]])[0]
    reason = _SHAPE_REASONS.get(kind) or _width_reason(cells, len(log.headers), strict=True) \
        or f"the row could not be read ({kind.lower()})"
    return line, cells, reason


def _stage(cur: Any, log: LogFile, mapping: Mapping[str, str]) -> _Staged:
    """li_in: the file's rows as canonical text columns, whatever the file's format."""
    cur.execute("DROP VIEW IF EXISTS li_in")
    if log.kind == "csv":
        return _stage_csv(cur, log, mapping)
    width = len(log.headers)
    mapped = {i for i, h in enumerate(log.headers) if h in mapping.values()}
    return _stage_rows(cur, log, mapping, ((n, cells, _sheet_row_reason(log, n, cells, width, mapped))
                                           for n, cells in log.rows or []))


def _sheet_row_reason(log: LogFile, number: int, cells: Sequence[str | None], width: int,
                      mapped: set[int]) -> str | None:
    """Why a sheet row cannot be read as it is: values past the header, or a formula without a
    saved result in a mapped column (read as empty, it would silently drop a value)."""
    reasons = [_width_reason(cells, width, strict=False)]
    unsaved = [log.headers[i] for i in log.formulas.get(number, ()) if i in mapped]
    if unsaved:
        reasons.append(f"{', '.join(map(repr, unsaved))} hold(s) a formula whose result the file does not keep: "
                       "open the file in a spreadsheet program and save it, or type the value")
    return "\x1f".join(r for r in reasons if r) or None    # one reason each (chr(31) separates reasons)


# -- importing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportOptions:
    """How to import one file. ``mapping`` None: the saved mapping for ``source``, else the guess."""

    source: str = DEFAULT_SOURCE
    mapping: Mapping[str, str] | None = None
    date_order: str | None = None
    create_clients: bool = False
    dry_run: bool = False
    actor: str = "cli"
    as_of: date | None = None


class RejectList:
    """The rejected rows of one import, held as JSON lines in a spooled temporary file (in memory up
    to a few MB, on disk past that), so a file with a million rejected rows does not hold them all
    as Python objects: the CLI streams them out one at a time."""

    _IN_MEMORY = 8 * _MIB

    def __init__(self) -> None:
        self._lines = tempfile.SpooledTemporaryFile(max_size=self._IN_MEMORY, mode="w+b")
        self._lock = threading.Lock()
        self.count = 0

    def add(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """Add (row number, original values as JSON, reasons as JSON) rows, in order."""
        with self._lock:
            self._lines.seek(0, io.SEEK_END)
            for row, values, reasons in rows:
                self._lines.write(f'{{"row": {int(row)}, "values": {values}, "reasons": {reasons}}}\n'.encode())
                self.count += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each rejected row as {"row", "values", "reasons"}, decoded one at a time."""
        position = 0
        while True:
            with self._lock:
                self._lines.seek(position)
                line = self._lines.readline()
                position = self._lines.tell()
            if not line:
                return
            yield json.loads(line)

    def __len__(self) -> int:
        return self.count


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do)."""

    read: int
    accepted: int
    rejected: int
    duplicates: int
    batch_id: int | None
    reject_rows: RejectList = field(repr=False)
    mapping: dict[str, str]
    date_order: str | None
    source: str
    file_name: str
    dry_run: bool
    new_clients: int = 0
    before_first_assignment: int = 0
    red_flagged: int = 0
    preview: pd.DataFrame | None = None

    @cached_property
    def rejects(self) -> list[dict[str, Any]]:
        """Each rejected row: its number, original values and reasons, all in a list. A large
        file's rejects are better read one at a time from ``reject_rows`` (the CLI does); the
        Data page reads them from the quarantine."""
        return list(self.reject_rows)

    def summary_json(self) -> dict[str, Any]:
        """The CLI's contract without the rejected rows (streamed after it, as ``rejects``)."""
        return {"read": self.read, "accepted": self.accepted, "rejected": self.rejected,
                "duplicates": self.duplicates, "batch_id": self.batch_id}

    def as_json(self) -> dict[str, Any]:
        """The CLI's contract: exactly these keys."""
        return {**self.summary_json(), "rejects": self.rejects}


_REJECT_BATCH = 10_000


def _rejects(cur: Any, log: LogFile, staged: _Staged) -> RejectList:
    """The rejected rows (number, original values and reasons as JSON); kept in li_rej for
    _quarantine (the file is read back once, for these rows only). Fetched in batches into a
    RejectList, so they are never all in Python at once."""
    fields = ", ".join(f"'{f}', o.{f}" for f in FIELDS)
    cur.execute("DROP TABLE IF EXISTS li_rej")
    cur.execute(
        f"""
        CREATE TEMP TABLE li_rej AS
        SELECT o.row_no, {staged.values} AS values_json, to_json(o.reasons) AS reasons_json,
               json_object({fields}) AS fields_json, o.row_hash, o.session_id, o.red_flags
        FROM {staged.source}
        """,
        list(log.headers),
    )
    found = RejectList()
    cur.execute("SELECT row_no, values_json, reasons_json FROM li_rej ORDER BY row_no")
    while batch := cur.fetchmany(_REJECT_BATCH):
        found.add(batch)
    return found


def _quarantine(cur: Any, batch_id: int, file_name: str) -> None:
    cur.execute(
        """
        INSERT INTO quarantined_rows (batch_id, file_name, row_number, values_json, reasons_json, status,
                                      fields_json, row_hash, source_session_id, red_flags)
        SELECT ?, ?, row_no, values_json, reasons_json, 'open', fields_json, row_hash, session_id, red_flags
        FROM li_rej ORDER BY row_no
        """,
        [batch_id, file_name],
    )


# Preview columns: the value as it will be stored (dates ISO, numbers read), else the text as written.
_PREVIEW_VALUES = {
    "client": "o.client", "session_date": "CAST(o.d AS VARCHAR)", "session_time": "CAST(o.t AS VARCHAR)",
    "routine": "o.routine_id", "exercises_done": "CAST(o.done AS VARCHAR)",
    "exercises_prescribed": "CAST(o.prescribed_i AS VARCHAR)", "duration_min": "CAST(o.duration_min_n AS VARCHAR)",
    "pain_before": "CAST(o.pain_before_n AS VARCHAR)", "pain_after": "CAST(o.pain_after_n AS VARCHAR)",
    "stiffness": "CAST(o.stiffness_n AS VARCHAR)", "notes": "o.notes", "session_id": "o.session_id",
    "block": "o.block",
}


def _preview(cur: Any, limit: int = 200) -> pd.DataFrame:
    cols = ", ".join(f"CASE WHEN o.status = 'rejected' THEN o.{f} ELSE {_PREVIEW_VALUES[f]} END AS {f}" for f in FIELDS)
    return cur.execute(
        f"SELECT o.row_no AS row, o.status, array_to_string(o.reasons, '; ') AS reasons, {cols},"
        f" o.red_flags AS warning_signs FROM li_out o"
        f" WHERE o.row_no IN (SELECT row_no FROM staged_sessions ORDER BY row_no LIMIT {int(limit)}) ORDER BY o.row_no"
    ).df()


def import_log_file(store: Store, log: LogFile, options: ImportOptions = ImportOptions(),
                    progress: Progress = _no_progress) -> ImportResult:
    """Import a read file: validate every row, then store accepted rows, quarantine rejected ones
    and record the batch — in one transaction (or nothing at all, for a dry run).

    The rows are staged and checked in temporary tables first, outside the transaction (DuckDB
    scans committed temporary tables in parallel, rows of an open transaction on one thread);
    only the writes run inside it. Writers take turns (WRITE_LOCK) from the checks to the commit,
    so no other import can store the same rows in between. On PostgreSQL other processes import
    too: the import holds the session logs' turn among them from its checks to its commit, and is
    checked again when a writer that takes no turn stored session logs meanwhile (or took a session
    id: the database's unique key) (``checks.checked_again``).

    Raises ImportFileError for file-level problems and session_logs.DateOrderNeeded when the
    dates could be day-first or month-first and neither the options nor a saved mapping say which.
    """
    return checked_again(
        store, lambda checked_against: _import_once(store, log, options, progress, checked_against),
        on_retry=lambda: progress(0.05, "another import was saved meanwhile: checking the rows again"),
        writes=not options.dry_run)


def _import_once(store: Store, log: LogFile, options: ImportOptions, progress: Progress,
                 checked_against: Mark) -> ImportResult:
    """One try of ``import_log_file``, its rows checked against the session logs of ``checked_against``."""
    source = (options.source or DEFAULT_SOURCE).strip()
    saved = get_mapping(store, source)
    mapping = dict(options.mapping) if options.mapping is not None else build_mapping(
        log.headers, saved.mapping if saved else None)
    check_mapping(log.headers, mapping)
    require_role(store, options.actor, STAFF_WRITERS)    # a preview too: it reads the practice's clients
    as_of = options.as_of or clock.today()
    progress(0.05, "reading the file")
    cur = store.cursor()
    try:
        with nullcontext() if options.dry_run else WRITE_LOCK:
            staged = _stage(cur, log, mapping)
            prepare_rows(cur)
            order = resolve_date_order(date_evidence(cur), options.date_order, saved.date_order if saved else None)
            opts = CheckOptions(source=source, as_of=as_of, date_order=order,
                                create_clients=options.create_clients, quarantine_dedupe=True,
                                sites=allowed_sites(store, options.actor))
            progress(0.2, "checking rows")
            counts: CheckCounts = check_rows(cur, opts, progress)
            result = ImportResult(
                counts.read, counts.accepted, counts.rejected, counts.duplicates, None, _rejects(cur, log, staged),
                mapping, order, source, log.name, options.dry_run, counts.new_clients,
                counts.before_first_assignment, counts.red_flagged, _preview(cur),
            )
            if options.dry_run:
                progress(1.0, "preview ready: nothing was saved")
                return result
            _release_file(cur)
            progress(0.7, "saving")
            # clients=(): the logs it adds keep their own figures (checks.insert_accepted)
            with store.transaction(cur, touches=_IMPORT_TOUCHES + ((PRACTICE,) if counts.new_clients else ()),
                                   clients=(), unchanged_since=checked_against):
                result.batch_id = _write(cur, store, log, result, options)
                progress(0.95, "committing")
    finally:
        cur.close()
    progress(1.0, "done")
    return result


def new_clients_site(store: Store, actor: str) -> str:
    """Where the clients an import creates go: the importer's only site, the default site for an
    owner or the CLI, and for a member of several sites the first of them (by code) — they can move
    a client on the Clients page."""
    allowed = allowed_sites(store, actor)
    if allowed == ():
        raise PermissionDenied("your account works at no site yet, so it cannot add clients: ask the practice owner")
    return DEFAULT_SITE if allowed is None else allowed[0]


# What an import, an undo or a re-submit changes (Store.transaction); an import that creates
# clients touches the practice too.
_IMPORT_TOUCHES = (SESSION_LOGS, IMPORTS, ACCOUNTS)


def _release_file(cur: Any) -> None:
    """Free the staged file before the writes (a large file's text is the biggest table held): from
    here on only the checked rows (staged_sessions) and the rejected rows' values (li_rej) are read."""
    cur.execute("DROP VIEW IF EXISTS li_in")
    for name in ("li_raw", "li_shape", "li_rejpos", "li_rej_errors", "li_rej_scans"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")


def _write(cur: Any, store: Store, log: LogFile, result: ImportResult, options: ImportOptions) -> int:
    """The import's writes, inside its transaction: the batch, new clients, logs, quarantine."""
    batch_id = next_id(cur, "import_batch_id_seq")
    cur.execute(
        "INSERT INTO import_batches (id, source, file_name, file_hash, mapping_json, date_order, imported_by,"
        " imported_at, rows_read, accepted, rejected, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, result.source, log.name, log.sha256, json.dumps(result.mapping), result.date_order, options.actor,
         utcnow(), result.read, result.accepted, result.rejected, result.duplicates],
    )
    if result.new_clients:
        created = create_missing_clients(cur, store, options.actor, new_clients_site(store, options.actor))
        cur.executemany("INSERT INTO import_batch_clients (batch_id, client_id) VALUES (?, ?)",
                        [[batch_id, client_id] for client_id, _, _ in created])
    insert_accepted(cur, result.source, batch_id, options.actor)
    _quarantine(cur, batch_id, log.name)
    audit_in(cur, options.actor, "session_logs_imported", {
        "batch": batch_id, "file": log.name, "source": result.source, "read": result.read,
        "accepted": result.accepted, "rejected": result.rejected, "duplicates": result.duplicates})
    return batch_id


def import_file(store: Store, source: Path | str | bytes, options: ImportOptions = ImportOptions(),
                name: str | None = None, progress: Progress = _no_progress) -> ImportResult:
    """Read and import a CSV or XLSX file (a path, or the bytes of an upload named ``name``)."""
    return import_log_file(store, read_log_file(source, name), options, progress)


# -- batches ------------------------------------------------------------------------------------------

def list_batches(store: Store, limit: int = 200) -> pd.DataFrame:
    """Import batches, newest first, with what became of their rejected rows."""
    return store.query(
        """
        SELECT b.id, b.source, b.file_name, b.imported_by, b.imported_at, b.rows_read, b.accepted, b.rejected,
               b.duplicates, coalesce(q.open, 0) AS still_open, coalesce(q.fixed, 0) AS fixed,
               coalesce(q.discarded, 0) AS discarded, coalesce(l.n, 0) AS logs_now, b.date_order,
               b.undone_at, b.undone_by
        FROM import_batches b
        LEFT JOIN (SELECT batch_id, count(*) FILTER (status = 'open') AS open,
                          count(*) FILTER (status = 'resubmitted') AS fixed,
                          count(*) FILTER (status = 'discarded') AS discarded
                   FROM quarantined_rows GROUP BY batch_id) q ON q.batch_id = b.id
        LEFT JOIN (SELECT batch_id, count(*) AS n FROM session_logs WHERE batch_id IS NOT NULL GROUP BY batch_id) l
               ON l.batch_id = b.id
        ORDER BY b.id DESC LIMIT ?
        """,
        [limit],
    )


@dataclass(frozen=True)
class UndoResult:
    batch_id: int
    removed_logs: int
    closed_rows: int

    def as_json(self) -> dict[str, int]:
        return {"batch_id": self.batch_id, "removed_logs": self.removed_logs, "closed_rows": self.closed_rows}


def undo_batch(store: Store, batch_id: int, actor: str) -> UndoResult:
    """Remove every session log a batch stored (including rows fixed later) and close its open
    quarantined rows. The batch record stays, marked undone; clients it created stay too."""
    require_role(store, actor, STAFF_WRITERS)
    written: set[int] = set()
    with WRITE_LOCK, store.transaction(touches=_IMPORT_TOUCHES, clients=written) as cur:
        row = cur.execute("SELECT undone_at FROM import_batches WHERE id = ?", [batch_id]).fetchone()
        if row is None:
            raise BatchError(f"there is no import batch {batch_id}")
        if row[0] is not None:
            raise BatchError(f"import batch {batch_id} was already undone on {row[0]:%Y-%m-%d %H:%M}")
        now = utcnow()
        written.update(c for (c,) in cur.execute(
            "SELECT DISTINCT client_id FROM session_logs WHERE batch_id = ?", [batch_id]).fetchall())
        removed = cur.execute("DELETE FROM session_logs WHERE batch_id = ?", [batch_id]).fetchone()[0]
        closed = cur.execute(
            "UPDATE quarantined_rows SET status = 'discarded', resolution_note = ?, resolved_by = ?, resolved_at = ?"
            " WHERE batch_id = ? AND status = 'open'",
            [f"import batch {batch_id} undone", actor, now, batch_id],
        ).fetchone()[0]
        cur.execute("UPDATE import_batches SET undone_at = ?, undone_by = ? WHERE id = ?", [now, actor, batch_id])
        audit_in(cur, actor, "import_batch_undone", {"batch": batch_id, "removed_logs": removed})
    return UndoResult(batch_id, removed, closed)


# -- quarantine -------------------------------------------------------------------------------------

def list_quarantine(store: Store, batch_id: int | None = None, status: str = "open") -> pd.DataFrame:
    """Quarantined rows of batches that were not undone: the mapped values staff can fix, why each
    was rejected, and any warning signs in its notes."""
    fields = ", ".join(f"json_extract_string(q.fields_json, '$.{f}') AS {f}" for f in FIELDS)
    return store.query(
        f"""
        SELECT q.id, q.batch_id, b.source, q.file_name, q.row_number,
               array_to_string(from_json(q.reasons_json, '["VARCHAR"]'), '; ') AS reasons,
               {fields}, q.red_flags, q.status, q.resolution_note
        FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
        WHERE b.undone_at IS NULL AND (? IS NULL OR q.status = ?) AND (? IS NULL OR q.batch_id = ?)
        ORDER BY q.batch_id DESC, q.row_number
        """,
        [status, status, batch_id, batch_id],
    )


def quarantine_values(store: Store, row_id: int) -> dict[str, Any]:
    """A quarantined row's original values, exactly as the file held them."""
    found = store.scalar("SELECT values_json FROM quarantined_rows WHERE id = ?", [row_id])
    if found is None:
        raise BatchError(f"there is no quarantined row {row_id}")
    return json.loads(found)


@dataclass
class ResubmitResult:
    accepted: int = 0
    still_rejected: int = 0
    duplicates: int = 0
    reasons: dict[int, list[str]] = field(default_factory=dict)   # row id -> reasons, for those still rejected


def _open_rows(cur: Any, ids: Sequence[int]) -> dict[int, tuple[int, str, str | None]]:
    rows = cur.execute(
        "SELECT q.id, q.batch_id, b.source, b.date_order FROM quarantined_rows q"
        " JOIN import_batches b ON b.id = q.batch_id"
        " WHERE q.id IN (SELECT unnest(?::BIGINT[])) AND q.status = 'open' AND b.undone_at IS NULL",
        [list(ids)],
    ).fetchall()
    found = {r[0]: (r[1], r[2], r[3]) for r in rows}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise BatchError(f"row(s) {', '.join(map(str, missing))} are not open in the quarantine")
    return found


def resubmit_rows(store: Store, rows: Sequence[Mapping[str, Any]], actor: str,
                  as_of: date | None = None) -> ResubmitResult:
    """Check quarantined rows again, with staff's corrections, and store those that now pass.

    Each item of ``rows`` has ``id`` and any canonical fields to change (fields left out keep their
    stored value). Corrections are saved even when a row still fails, with its new reasons. A row
    that now duplicates a stored session is closed as such. One transaction for all of it.
    """
    ids = [int(r["id"]) for r in rows]
    if not ids:
        return ResubmitResult()
    require_role(store, actor, STAFF_WRITERS)
    as_of = as_of or clock.today()
    result = ResubmitResult()
    now = utcnow()
    # clients=(): the logs it adds keep their own figures (checks.insert_accepted)
    with WRITE_LOCK, store.transaction(touches=_IMPORT_TOUCHES, clients=()) as cur:
        info = _open_rows(cur, ids)
        stored = {i: json.loads(v) for i, v in cur.execute(
            "SELECT id, fields_json FROM quarantined_rows WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]).fetchall()}
        merged = {i: {**stored[i], **{k: v for k, v in r.items() if k in FIELDS}} for i, r in zip(ids, rows)}
        cur.executemany("UPDATE quarantined_rows SET fields_json = ? WHERE id = ?",
                        [[json.dumps({f: as_text(merged[i].get(f)) for f in FIELDS}, ensure_ascii=False), i]
                         for i in ids])
        for batch_id in sorted({info[i][0] for i in ids}):
            batch_ids = [i for i in ids if info[i][0] == batch_id]
            _, source, order = info[batch_ids[0]]
            stage_values(cur, [merged[i] for i in batch_ids], batch_ids)
            prepare_rows(cur)
            check_rows(cur, CheckOptions(source=source, as_of=as_of, date_order=order,
                                         sites=allowed_sites(store, actor)))
            insert_accepted(cur, source, batch_id, actor)
            cur.execute(
                """
                UPDATE quarantined_rows q SET
                    status = CASE o.status WHEN 'accepted' THEN 'resubmitted' WHEN 'duplicate' THEN 'discarded'
                                  ELSE 'open' END,
                    reasons_json = to_json(o.reasons), red_flags = o.red_flags,
                    resolution_note = CASE o.status WHEN 'accepted' THEN 'fixed and re-submitted'
                                      WHEN 'duplicate' THEN 'already logged: the same session is stored' END,
                    resolved_by = CASE WHEN o.status <> 'rejected' THEN ? END,
                    resolved_at = CASE WHEN o.status <> 'rejected' THEN CAST(? AS TIMESTAMP) END
                FROM li_out o WHERE q.id = o.row_no
                """,
                [actor, now],
            )
            for row_no, status, reasons in cur.execute("SELECT row_no, status, reasons FROM li_out").fetchall():
                if status == "accepted":
                    result.accepted += 1
                elif status == "duplicate":
                    result.duplicates += 1
                else:
                    result.still_rejected += 1
                    result.reasons[row_no] = list(reasons)
        audit_in(cur, actor, "quarantine_resubmitted", {
            "rows": ids, "accepted": result.accepted, "still_rejected": result.still_rejected,
            "duplicates": result.duplicates})
    return result


def discard_rows(store: Store, ids: Sequence[int], reason: str, actor: str) -> int:
    """Close quarantined rows without storing them; the reason is kept with the row."""
    if not reason or not reason.strip():
        raise BatchError("say why the rows are discarded")
    if not ids:
        return 0
    require_role(store, actor, STAFF_WRITERS)
    with WRITE_LOCK, store.transaction(touches=(IMPORTS, ACCOUNTS)) as cur:
        _open_rows(cur, ids)
        audit_in(cur, actor, "quarantine_discarded", {"rows": list(ids), "reason": reason.strip()})
        return cur.execute(
            "UPDATE quarantined_rows SET status = 'discarded', resolution_note = ?, resolved_by = ?, resolved_at = ?"
            " WHERE id IN (SELECT unnest(?::BIGINT[])) AND status = 'open'",
            [reason.strip(), actor, utcnow(), list(ids)],
        ).fetchone()[0]


def template_csv() -> bytes:
    """The downloadable template: the canonical columns, ready to fill."""
    return TEMPLATE_PATH.read_bytes()
