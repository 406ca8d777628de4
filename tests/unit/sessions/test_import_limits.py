"""Files that cannot hurt the server (issue 17): limits checked before parsing, and file handling.

Every hostile file is built here, small, in memory or in tmp_path: a 5 KB workbook whose stated
size is 16,384 columns, a 200 KB workbook that unpacks to 3,000,000 rows, workbooks that hide
their rows or columns from their stated size. Limits are the real ones unless a test says which
one it lowers (to keep the file small).
"""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from openpyxl import Workbook

from core.commands.cli import main
from core.sessions import imports
from core.db.store import Store
from tests.unit.sessions.test_imports import AS_OF, csv_bytes, practice, practice_db  # noqa: F401



def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_sheet(raw: bytes, change) -> bytes:
    """The workbook ``raw`` with its first sheet's XML replaced by ``change(xml)``."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for part in source.infolist():
            data = source.read(part.filename)
            package.writestr(part.filename, change(data) if part.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


def sheet_rows(xml: bytes, rows: bytes) -> bytes:
    """Sheet XML whose rows are ``rows`` (the stated size left as it was)."""
    return re.sub(rb"<sheetData>.*</sheetData>", b"<sheetData>" + rows.replace(b"\\", b"\\\\") + b"</sheetData>",
                  xml, flags=re.S)


TWO_ROWS = [["client", "session_date"], ["C00001", "2024-03-14"]]


def refused(data: bytes, match: str, limits: imports.FileLimits | None = None) -> None:
    """``data`` is refused (under ``limits``, else the real ones) with a message matching ``match``."""
    with pytest.raises(imports.ImportFileError, match=match):
        imports.read_log_file(data, "hostile.xlsx", *([limits] if limits else []))


@pytest.fixture
def unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a sheet's rows are parsed: what is refused here is refused before that (the time a
    refusal takes is not asserted: tests never assert timings)."""
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    def parse(*args, **kwargs):
        raise AssertionError("the sheet's rows were parsed")

    monkeypatch.setattr(ReadOnlyWorksheet, "_cells_by_row", parse)


# -- hostile workbooks ------------------------------------------------------------------------------

def test_a_small_workbook_stating_16384_columns_is_refused_before_parsing(tmp_path: Path, practice_db: Path,
                                                                         capsys: pytest.CaptureFixture,
                                                                         unparsed: None) -> None:
    wide = with_sheet(workbook(TWO_ROWS), lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD2"', xml))
    assert len(wide) < 6000
    refused(wide, "16,384 columns wide; at most 500")
    path = tmp_path / "wide.xlsx"
    path.write_bytes(wide)
    code = main(["logs", "import", str(path), "--db", str(practice_db)])
    err = capsys.readouterr().err
    assert code == 2 and "16,384 columns" in err and "Traceback" not in err


def test_a_workbook_unpacking_to_three_million_rows_is_refused_before_parsing(
        tmp_path: Path, practice_db: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = b"<row><c><v>1</v></c></row>" * 3_000_000
    bomb = with_sheet(workbook(TWO_ROWS), lambda xml: sheet_rows(xml, rows))
    assert len(bomb) < 1_000_000

    def never(*args, **kwargs):
        raise AssertionError("openpyxl opened the workbook")

    monkeypatch.setattr("openpyxl.load_workbook", never)     # refused from the zip's directory alone
    refused(bomb, "unpacks to .* times its size")
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bomb)
    code = main(["logs", "import", str(path), "--db", str(practice_db), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "times its size" in err and "Traceback" not in err
    # Allowed to expand, it is still refused by counting its rows from the bytes, before openpyxl opens it.
    refused(bomb, "more than 100,000 rows", imports.FileLimits(expansion=10 ** 6, unpacked_bytes=10 ** 9))


def test_rows_hidden_from_the_stated_size_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stated size says A1:B2; the sheet holds 300 rows. They are counted from the bytes first
    (openpyxl would read the whole sheet to find its size), then the row limit holds while parsing."""
    rows = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>C00001</t></is></c></row>' % (n, n)
                    for n in range(1, 301))
    liar = with_sheet(workbook(TWO_ROWS), lambda xml: sheet_rows(xml, rows))
    refused(liar, "more than 100 rows", imports.FileLimits(xlsx_rows=100))
    monkeypatch.setattr(imports, "_count_parts", lambda package, limits: {})    # the parse alone still holds
    refused(liar, "more than 100 rows", imports.FileLimits(xlsx_rows=100))


def test_cells_past_the_column_limit_are_refused_whatever_the_stated_size() -> None:
    far = b'<row r="1"><c r="A1" t="inlineStr"><is><t>client</t></is></c><c r="XFD1"><v>1</v></c></row>'
    refused(with_sheet(workbook(TWO_ROWS), lambda xml: sheet_rows(xml, far)), "column 16,384; at most 500")


def test_a_sheet_past_the_cell_limit_is_refused() -> None:
    rows = [["client", "session_date", *(f"q{i}" for i in range(18))]] + [["C00001", "2024-03-14", *range(18)]] * 60
    refused(workbook(rows), "more than 1,000 cells", imports.FileLimits(xlsx_cells=1000))


@pytest.mark.parametrize("change", [
    lambda xml: xml.replace(b"</sheetData>", b"<row"),                                  # XML cut off
    lambda xml: xml.replace(b'<c r="A2" t="inlineStr">', b'<c r="A2" t="s">').replace(b"<is><t>C00001</t></is>",
                                                                                      b"<v>99</v>"),   # no string 99
    lambda xml: xml.replace(b'r="A2"', b'r="2A"'),                                      # not a cell reference
])
def test_a_damaged_sheet_is_refused_with_a_reason(change) -> None:
    refused(with_sheet(workbook(TWO_ROWS), change), "cannot be read|not a readable XLSX")


# -- CSV ----------------------------------------------------------------------------------------------

def test_a_csv_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.truncate(imports.LIMITS.file_bytes + 1)        # sparse: nothing is written
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(imports.ImportFileError, match="at most 200 MB"):
        imports.read_log_file(big)


def test_a_csv_header_past_the_column_limit_is_refused() -> None:
    header = ["client", "session_date", *(f"q{i}" for i in range(600))]
    with pytest.raises(imports.ImportFileError, match="602 columns; at most 500"):
        imports.read_log_file(csv_bytes([["C00001", "2024-03-14"] + [""] * 600], header=header), "wide.csv")


@pytest.mark.parametrize("stray_return", [False, True])   # DuckDB's reader, and Python's when DuckDB refuses
def test_a_csv_past_the_row_limit_writes_nothing(practice: Store, stray_return: bool) -> None:
    rows = [["C00001", f"2024-03-{1 + n % 28:02d}", "daily-psoas-routine"] for n in range(30)]
    data = csv_bytes(rows, header=["client", "session_date", "routine"])
    if stray_return:    # a lone carriage return ends the first row: DuckDB refuses the file, Python reads it
        header, _, body = data.partition(b"\n")
        data = header + b"\n" + body.replace(b"\n", b"\r", 1)
    log = imports.read_log_file(data, "long.csv", imports.FileLimits(rows=20))
    with pytest.raises(imports.ImportFileError, match="30 rows|21 rows"):
        imports.import_log_file(practice, log, imports.ImportOptions(actor="ann", as_of=AS_OF, dry_run=True))
    assert practice.scalar("SELECT count(*) FROM import_batches") == 0


# -- file handling ------------------------------------------------------------------------------------

def test_one_stray_windows_byte_does_not_garble_a_utf8_file(practice: Store) -> None:
    """One note typed on another PC (café, é as the single byte 0xE9) in a UTF-8 file: the names stay
    as written, the stray byte is read as Windows-1252, and its line is reported."""
    head = "client,session_date,routine,notes\nAnna Müller,2024-03-14,daily-psoas-routine,Zoë's class\n"
    data = head.encode() + b"C00001,2024-03-15,daily-psoas-routine,caf\xe9 after\n"
    log = imports.read_log_file(data, "mixed.csv")
    assert log.encoding == "utf-8"
    assert [row[3] for row in log.sample] == ["Zoë's class", "café after"]
    assert log.notes == ["line 3 holds a character that is not UTF-8 (1 byte(s) in the file): read as "
                         "Windows-1252, the rest of the file as UTF-8. Check the names on that line."]
    result = imports.import_log_file(practice, log, imports.ImportOptions(actor="ann", as_of=AS_OF))
    assert result.accepted == 2
    assert practice.rows("SELECT notes FROM session_logs ORDER BY id") == [("Zoë's class",), ("café after",)]


def test_a_windows_file_is_read_as_windows_1252_and_says_from_which_line(tmp_path: Path, practice_db: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    data = "client,session_date\nC00001,2024-03-14\nOlga García,2024-03-15\n".encode("cp1252")
    log = imports.read_log_file(data, "excel.csv")
    assert (log.encoding, log.sample[1][0]) == ("cp1252", "Olga García")
    assert log.notes == ["the file is not UTF-8 (from line 3): it was read as Windows-1252, as Excel on Windows "
                         "writes CSV"]
    path = tmp_path / "excel.csv"
    path.write_bytes(data)
    assert main(["logs", "import", str(path), "--db", str(practice_db), "--dry-run", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["read"] == 2 and "note: the file is not UTF-8 (from line 3)" in err


def test_a_header_over_64_kb_is_read() -> None:
    header = ["client", "session_date", *(f"Question {i}: {'how did the session feel ' * 12}" for i in range(250))]
    data = csv_bytes([["C00001", "2024-03-14"] + [""] * 250], header=header)
    assert data.index(b"\n") > 65536
    log = imports.read_log_file(data, "long-header.csv")
    assert len(log.headers) == 252 and log.sample[0][:2] == ["C00001", "2024-03-14"]


def test_a_header_past_the_header_limit_says_so() -> None:
    data = csv_bytes([["C00001", "2024-03-14", ""]], header=["client", "session_date", "x" * 300_000])
    with pytest.raises(imports.ImportFileError, match="header row is longer than 262,144 characters"):
        imports.read_log_file(data, "huge-header.csv", imports.FileLimits(header_chars=262_144))


def test_a_formula_without_a_saved_result_is_a_reason_not_a_blank(practice: Store) -> None:
    """openpyxl (like any script) writes formulas without their results: read for their results,
    such cells are empty. A mapped one rejects its row with the reason; an unmapped one is ignored."""
    data = workbook([["client", "session_date", "routine", "pain_before", "total"],
                     ["C00001", "2024-03-14", "daily-psoas-routine", "=1+2", "=4+5"],
                     ["C00001", "2024-03-15", "daily-psoas-routine", 3, "=4+5"]])
    result = imports.import_file(practice, data, imports.ImportOptions(actor="ann", as_of=AS_OF), name="calc.xlsx")
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.rejects == [{
        "row": 2, "values": {"client": "C00001", "session_date": "2024-03-14", "routine": "daily-psoas-routine",
                             "pain_before": None, "total": None},
        "reasons": ["'pain_before' hold(s) a formula whose result the file does not keep: open the file in a "
                    "spreadsheet program and save it, or type the value"]}]


def test_notes_longer_than_the_form_allows_are_rejected_with_the_reason(practice: Store) -> None:
    rows = [["C00001", "2024-03-14", "daily-psoas-routine", "n" * 4001], ["C00001", "2024-03-15", "daily-psoas-routine",
                                                                        "n" * 4000]]
    result = imports.import_file(practice, csv_bytes(rows, header=["client", "session_date", "routine", "notes"]),
                                 imports.ImportOptions(actor="ann", as_of=AS_OF), name="notes.csv")
    assert (result.accepted, [r["reasons"] for r in result.rejects]) == (
        1, [["notes are 4,001 characters long: at most 4,000 are kept"]])


# -- the CLI's rejects --------------------------------------------------------------------------------

def _many_rejects(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "rejects.csv"
    path.write_bytes(csv_bytes([[f"Nobody {n}", "2024-03-14", "daily-psoas-routine", f"note {n}"] for n in range(rows)],
                               header=["client", "session_date", "routine", "notes"]))
    return path


def test_json_rejects_are_streamed_not_held(tmp_path: Path, practice_db: Path) -> None:
    """40,000 rejected rows: today's list of every reject (tuples, then dicts, then one JSON text)
    peaks far above what the streamed output needs."""
    path = _many_rejects(tmp_path, 40_000)
    with (tmp_path / "out.json").open("w") as out, redirect_stdout(out):
        tracemalloc.start()
        code = main(["logs", "import", str(path), "--db", str(practice_db), "--json", "--dry-run"])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert code == 0
    payload = json.loads((tmp_path / "out.json").read_text())
    assert (payload["read"], payload["rejected"], len(payload["rejects"])) == (40_000, 40_000, 40_000)
    assert payload["rejects"][-1]["values"]["notes"] == "note 39999"
    assert peak < 40 * 2 ** 20, f"peak Python memory {peak / 2 ** 20:.0f} MB"


def test_streamed_json_is_exactly_the_json_of_the_whole_result(tmp_path: Path, practice_db: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    path = _many_rejects(tmp_path, 3)
    for rows in (path, tmp_path / "none.csv"):
        if rows.name == "none.csv":     # no rejected row: an empty list
            rows.write_bytes(csv_bytes([["C00001", "2024-03-14", "daily-psoas-routine"]],
                                       header=["client", "session_date", "routine"]))
        assert main(["logs", "import", str(rows), "--db", str(practice_db), "--json", "--dry-run"]) == 0
        out = capsys.readouterr().out
        payload = json.loads(out)
        assert list(payload) == ["read", "accepted", "rejected", "duplicates", "batch_id", "rejects"]
        assert out == json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    assert main(["logs", "import", str(path), "--db", str(practice_db), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [f"row {n}: unknown client 'Nobody {n - 2}': no client has this code, email or name"
                         for n in (2, 3, 4)]
