"""Session-log import: formats, encodings, every rejection reason, dates, duplicates, undo, crash safety.

The practice used throughout (as of 2024-04-01):
- C00001 Anna Müller <anna@example.com>: daily-psoas-routine v1 (6 exercises) from 2024-03-01, 6 weeks, active
- C00002 Ben Ode: runner-warm-up-cool-down (4) from 2024-02-01 for 8 weeks and desk-micro-breaks (3)
  from 2024-03-10 for 4 weeks, both active (so on 2024-03-05 only the runner routine covers the day)
- C00003 and C00004, both named Sam Green
- C00005 Dana Muller: no assignment
Staff: ann (therapist) and vic (viewer, who may read but not write).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.sessions import imports
from core.access.auth import PermissionDenied, create_user
from core.commands.cli import main
from core.sessions.checks import DateOrderNeeded, log_session
from core.db.store import Store, utcnow

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "staff password for tests"
AS_OF = date(2024, 4, 1)
HEADER = ["client", "session_date", "routine", "exercises_done", "duration_min", "pain_before", "pain_after",
          "stiffness", "notes", "session_id"]


def add_practice(store: Store) -> None:
    create_user(store, "cli", "ann", "therapist", PASSWORD)
    create_user(store, "cli", "vic", "viewer", PASSWORD)
    now = utcnow()
    clients = [("C00001", "Anna Müller", "anna@example.com"), ("C00002", "Ben Ode", None),
               ("C00003", "Sam Green", None), ("C00004", "Sam Green", None), ("C00005", "Dana Muller", None)]
    with store.transaction() as cur:
        cur.executemany("INSERT INTO clients (code, display_name, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                        [[c, n, e, now, now] for c, n, e in clients])
        cur.executemany(
            "INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks, sessions_per_week,"
            " status, assigned_at) SELECT id, ?, 1, ?, ?, 5, 'active', ? FROM clients WHERE code = ?",
            [["daily-psoas-routine", date(2024, 3, 1), 6, now, "C00001"],
             ["runner-warm-up-cool-down", date(2024, 2, 1), 8, now, "C00002"],
             ["desk-micro-breaks", date(2024, 3, 10), 4, now, "C00002"]])


@pytest.fixture
def practice(built_store) -> Store:
    """The practice (built once per worker and store kind, copied per test)."""
    return built_store(add_practice)


@pytest.fixture
def practice_db(built_file, db_path: Path) -> Path:
    """The practice in a closed database file, for the CLI and subprocesses."""
    return built_file(add_practice, db_path)


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",", encoding: str = "utf-8",
              newline: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def run_import(store: Store, data: bytes, **options) -> imports.ImportResult:
    options.setdefault("as_of", AS_OF)
    options.setdefault("actor", "ann")
    return imports.import_file(store, data, imports.ImportOptions(**options), name="test.csv")


def logs(store: Store) -> list[tuple]:
    return store.rows(
        "SELECT c.code, s.routine_id, s.session_date, s.session_time, s.exercises_done, s.exercises_prescribed,"
        " s.duration_min, s.pain_before, s.pain_after, s.stiffness, s.notes, s.red_flags, s.before_first_assignment"
        " FROM session_logs s JOIN clients c ON c.id = s.client_id ORDER BY s.id")


def table_counts(store: Store) -> tuple[int, int, int]:
    return (store.scalar("SELECT count(*) FROM session_logs"), store.scalar("SELECT count(*) FROM quarantined_rows"),
            store.scalar("SELECT count(*) FROM import_batches"))


# -- formats and encodings ------------------------------------------------------------------------

GOOD_ROWS = [
    ["C00001", "2024-03-14", "daily-psoas-routine", "5", "12", "4", "3", "5", "Felt looser – “much” better", "s1"],
    ["Anna Müller", "2024-03-15", "", "6", "10.5", "3.5", "2", "", "", "s2"],
]
EXPECTED_GOOD = [
    ("C00001", "daily-psoas-routine", date(2024, 3, 14), None, 5, 6, 12.0, 4.0, 3.0, 5.0,
     "Felt looser – “much” better", None, False),
    ("C00001", "daily-psoas-routine", date(2024, 3, 15), None, 6, 6, 10.5, 3.5, 2.0, None, None, None, False),
]


def _semicolon_bom() -> bytes:
    rows = [[c.replace(".", ",") if c[:1].isdigit() else c for c in r] for r in GOOD_ROWS]
    return b"\xef\xbb\xbf" + csv_bytes(rows, delimiter=";", newline="\r\n")


def _xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["C00001", datetime(2024, 3, 14), "daily-psoas-routine", 5, 12, 4, 3, 5,
                  "Felt looser – “much” better", "s1"])
    sheet.append([None] * len(HEADER))                      # an empty row is not a row
    sheet.append(["Anna Müller", date(2024, 3, 15), None, 6, 10.5, 3.5, 2, None, None, "s2"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS = {
    "comma-utf8": lambda: csv_bytes(GOOD_ROWS),
    "semicolon-utf8-bom-decimal-comma": _semicolon_bom,
    "tab-cp1252": lambda: csv_bytes(GOOD_ROWS, delimiter="\t", encoding="cp1252", newline="\r\n"),
    "tab-utf16-excel-unicode-text": lambda: csv_bytes(GOOD_ROWS, delimiter="\t", encoding="utf-16"),
    "xlsx": _xlsx,
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_and_encoding_imports_the_same_sessions(practice: Store, fmt: str) -> None:
    result = run_import(practice, FORMATS[fmt]())
    assert (result.read, result.accepted, result.rejected, result.duplicates) == (2, 2, 0, 0)
    assert logs(practice) == EXPECTED_GOOD


def test_file_reader_reports_what_it_found() -> None:
    log = imports.read_log_file(_semicolon_bom(), "export.csv")
    assert (log.kind, log.delimiter, log.encoding, log.headers) == ("csv", ";", "utf-8-sig", HEADER)
    log = imports.read_log_file(csv_bytes(GOOD_ROWS, delimiter="\t", encoding="cp1252"), "export.txt")
    assert (log.delimiter, log.encoding) == ("\t", "cp1252")
    assert log.sample[0][8] == "Felt looser – “much” better"
    assert log.path is None and log.utf8.decode("utf-8").startswith("client\t")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"client,session_date\n", "no rows"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
    (b"PK\x03\x04 not really a zip", "XLSX"),
    (b"%PDF-1.4\x00\x00\x00binary", "not text"),
])
def test_unreadable_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(imports.ImportFileError, match=message):
        imports.read_log_file(data, "bad")


def test_missing_client_or_date_column_writes_nothing(practice: Store) -> None:
    data = csv_bytes([["2024-03-14", "5"]], header=["When did you train", "Exercises done"])
    with pytest.raises(imports.ImportFileError, match="no client column"):
        run_import(practice, data)
    data = csv_bytes([["C00001", "5"]], header=["client", "exercises_done"])
    with pytest.raises(imports.ImportFileError, match="no session_date column"):
        run_import(practice, data)
    assert table_counts(practice) == (0, 0, 0)


# -- column mapping ---------------------------------------------------------------------------------

def test_google_form_headers_are_guessed() -> None:
    headers = ["Timestamp", "Email address", "Your name", "Which routine did you do?",
               "How many exercises did you complete?", "How many minutes?", "Pain before (0-10)",
               "Pain after (0-10)", "Stiffness (0-10)", "Anything else you want to tell us?"]
    assert imports.guess_mapping(headers) == {
        "client": "Email address", "session_date": "Timestamp", "routine": "Which routine did you do?",
        "exercises_done": "How many exercises did you complete?", "duration_min": "How many minutes?",
        "pain_before": "Pain before (0-10)", "pain_after": "Pain after (0-10)", "stiffness": "Stiffness (0-10)",
        "notes": "Anything else you want to tell us?",
    }


def test_microsoft_form_and_booking_headers_are_guessed() -> None:
    headers = ["ID", "Start time", "Completion time", "Email", "Name", "Date of session", "Time",
               "Exercises prescribed", "Exercises done", "Comments"]
    assert imports.guess_mapping(headers) == {
        "client": "Email", "session_date": "Date of session", "session_time": "Time",
        "exercises_done": "Exercises done", "exercises_prescribed": "Exercises prescribed",
        "notes": "Comments", "session_id": "ID",
    }


def test_saved_mapping_then_overrides_win_over_the_guess() -> None:
    headers = ["Name", "Client code", "Day", "Extra"]
    assert imports.build_mapping(headers) == {"client": "Client code", "session_date": "Day"}
    assert imports.build_mapping(headers, saved={"client": "Name", "notes": "Missing column"}) == {
        "client": "Name", "session_date": "Day"}
    assert imports.build_mapping(headers, overrides={"Extra": "notes", "Day": imports.IGNORE}) == {
        "client": "Client code", "notes": "Extra"}
    with pytest.raises(imports.ImportFileError, match="no column 'Nope'"):
        imports.build_mapping(headers, overrides={"Nope": "notes"})
    with pytest.raises(imports.ImportFileError, match="unknown field 'colour'"):
        imports.build_mapping(headers, overrides={"Extra": "colour"})


def test_saved_mapping_is_used_for_the_next_file_of_its_source(practice: Store) -> None:
    imports.save_mapping(practice, "booking", {"client": "Who", "session_date": "On"}, "dmy", "ann")
    assert imports.mapping_names(practice) == ["booking"]
    data = csv_bytes([["C00001", "03/02/2024", "daily-psoas-routine"]], header=["Who", "On", "routine"])
    result = run_import(practice, data, source="booking")
    assert result.date_order == "dmy" and result.accepted == 1
    assert logs(practice)[0][2] == date(2024, 2, 3)
    saved = imports.get_mapping(practice, "booking")
    assert saved == imports.SavedMapping("booking", {"client": "Who", "session_date": "On"}, "dmy")


# -- every rejection reason -----------------------------------------------------------------------

REASON_CASES = [
    # client, date, routine, done, duration, before, after, stiffness -> reasons
    (["", "2024-03-14", "daily-psoas-routine", "", "", "", "", ""], ["client is missing"]),
    (["Zoe Nobody", "2024-03-14", "daily-psoas-routine", "", "", "", "", ""],
     ["unknown client 'Zoe Nobody': no client has this code, email or name"]),
    (["Anna Muller", "2024-03-14", "daily-psoas-routine", "", "", "", "", ""],
     ["unknown client 'Anna Muller': no client has this code, email or name"]),
    (["sam green", "2024-03-14", "daily-psoas-routine", "", "", "", "", ""],
     ["client 'sam green' matches 2 clients: use the client code"]),
    (["C00001", "", "daily-psoas-routine", "", "", "", "", ""], ["session_date is missing"]),
    (["C00001", "yesterday", "daily-psoas-routine", "", "", "", "", ""],
     ["session_date 'yesterday' is not a date we can read"]),
    (["C00001", "2024-02-30", "daily-psoas-routine", "", "", "", "", ""],
     ["session_date '2024-02-30' is not a date we can read"]),
    (["C00001", "2024-04-02", "daily-psoas-routine", "", "", "", "", ""], ["session_date 2024-04-02 is in the future"]),
    (["C00001", "2024-03-14 25:10", "daily-psoas-routine", "", "", "", "", ""],
     ["session time in '2024-03-14 25:10' is not a time we can read"]),
    (["C00001", "2024-03-14", "psoas routine", "", "", "", "", ""], ["unknown routine 'psoas routine'"]),
    (["C00002", "2024-03-15", "", "", "", "", "", ""],
     ["no routine given and the client had 2 routines assigned on 2024-03-15: name the routine"]),
    (["C00005", "2024-03-15", "", "", "", "", "", ""],
     ["no routine given and the client has 0 active assignments: name the routine"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "seven", "", "", "", ""],
     ["exercises_done 'seven' is not a number"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "2.5", "", "", "", ""],
     ["exercises_done '2.5' is not a whole number"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "-1", "", "", "", ""], ["exercises_done -1 is negative"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "7", "", "", "", ""],
     ["exercises_done 7 is more than exercises_prescribed 6"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "ten", "", "", ""],
     ["duration_min 'ten' is not a number"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "-5", "", "", ""], ["duration_min -5 is negative"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "", "high", "", ""], ["pain_before 'high' is not a number"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "", "11", "", ""], ["pain_before 11 is outside 0–10"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "", "", "-1", ""], ["pain_after -1 is outside 0–10"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "", "", "", "3.3"],
     ["stiffness 3.3 is not a whole or half point"]),
    (["C00001", "2024-03-14", "daily-psoas-routine", "", "", "", "", "NaN"], ["stiffness 'NaN' is not a number"]),
]


@pytest.mark.parametrize(("row", "reasons"), REASON_CASES, ids=[r[1][0][:40] for r in REASON_CASES])
def test_each_rejection_reason(practice: Store, row: list[str], reasons: list[str]) -> None:
    header = ["client", "session_date", "routine", "exercises_done", "duration_min", "pain_before", "pain_after",
              "stiffness"]
    result = run_import(practice, csv_bytes([row], header=header))
    assert (result.read, result.accepted, result.rejected) == (1, 0, 1)
    assert result.rejects == [{"row": 2, "values": dict(zip(header, [v or None for v in row])), "reasons": reasons}]
    quarantined = practice.rows("SELECT row_number, reasons_json, status, file_name FROM quarantined_rows")
    assert [(r[0], json.loads(r[1]), r[2], r[3]) for r in quarantined] == [(2, reasons, "open", "test.csv")]


def test_a_row_gets_every_reason_that_applies(practice: Store) -> None:
    header = ["client", "session_date", "exercises_done", "pain_before", "pain_after", "stiffness"]
    result = run_import(practice, csv_bytes([["Nobody", "2031-01-01", "-2", "12", "x", "0.25"]], header=header))
    assert result.rejects[0]["reasons"] == [
        "unknown client 'Nobody': no client has this code, email or name",
        "session_date 2031-01-01 is in the future",
        "exercises_done -2 is negative",
        "pain_before 12 is outside 0–10",
        "pain_after 'x' is not a number",
        "stiffness 0.25 is not a whole or half point",
    ]


def test_rows_the_reader_cannot_split_are_quarantined_not_dropped(practice: Store) -> None:
    data = (b"client,session_date,routine,notes\n"
            b"C00001,2024-03-11,daily-psoas-routine,\"a note\nover two lines\"\n"
            b"C00001,2024-03-12,daily-psoas-routine,too,many,values\n"
            b"C00001,2024-03-13\n"
            b"C00001,2024-03-14,daily-psoas-routine,fine\n")
    result = run_import(practice, data)
    assert (result.read, result.accepted, result.rejected, result.duplicates) == (4, 2, 2, 0)
    assert [(r["row"], r["reasons"]) for r in result.rejects] == [
        (3, ["the row has 6 value(s) but the header has 4 column(s)"]),
        (4, ["the row has 2 value(s) but the header has 4 column(s)"]),
    ]
    assert result.rejects[0]["values"] == {"client": "C00001", "session_date": "2024-03-12",
                                           "routine": "daily-psoas-routine", "notes": "too",
                                           "(extra 1)": "many", "(extra 2)": "values"}
    assert [r[2] for r in logs(practice)] == [date(2024, 3, 11), date(2024, 3, 14)]
    assert logs(practice)[0][10] == "a note\nover two lines"


def test_row_numbers_follow_the_spreadsheet_after_rejected_lines(practice: Store) -> None:
    lines = ["client,session_date,routine,pain_before"]
    lines += [f"C00001,2024-03-{d:02d},daily-psoas-routine,1" for d in range(1, 4)]        # rows 2-4
    lines += ["C00001,2024-03-04,daily-psoas-routine,1,extra"]                               # row 5
    lines += ["C00001,2024-03-05,daily-psoas-routine,1,extra"]                               # row 6
    lines += ["C00001,2024-03-06,daily-psoas-routine,99"]                                    # row 7
    result = run_import(practice, ("\n".join(lines) + "\n").encode())
    assert [r["row"] for r in result.rejects] == [5, 6, 7]


# -- dates ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "order", "day", "clock"), [
    ("2024-03-14", None, date(2024, 3, 14), None),
    ("2024-03-14T07:05:09", None, date(2024, 3, 14), "07:05:09"),
    ("2024/03/14 07:05", None, date(2024, 3, 14), "07:05:00"),
    ("14/03/2024 21:15:02", None, date(2024, 3, 14), "21:15:02"),
    ("3/14/2024 9:15:02 PM", None, date(2024, 3, 14), "21:15:02"),
    ("3/14/24, 12:30 am", None, date(2024, 3, 14), "00:30:00"),
    ("14.03.2024", None, date(2024, 3, 14), None),
    ("04/03/2024", "dmy", date(2024, 3, 4), None),
    ("03/04/2024", "mdy", date(2024, 3, 4), None),
    ("24-03-04", "ymd", date(2024, 3, 4), None),
    ("45365", None, date(2024, 3, 14), None),
    ("45365.75", None, date(2024, 3, 14), "18:00:00"),
    ("14 Mar 2024", None, date(2024, 3, 14), None),
    ("March 14, 2024", None, date(2024, 3, 14), None),
    ("14-Mar-24", None, date(2024, 3, 14), None),
    ("20240314", None, date(2024, 3, 14), None),
])
def test_date_forms(practice: Store, text: str, order: str | None, day: date, clock: str | None) -> None:
    header = ["client", "session_date", "routine"]
    result = run_import(practice, csv_bytes([["C00001", text, "daily-psoas-routine"]], header=header), date_order=order)
    assert result.accepted == 1, result.rejects
    stored = logs(practice)[0]
    assert stored[2] == day
    assert (stored[3].isoformat() if stored[3] else None) == clock


def test_a_separate_time_column_is_read(practice: Store) -> None:
    header = ["client", "session_date", "session_time", "routine"]
    rows = [["C00001", "2024-03-14", "7:45 pm", "daily-psoas-routine"],
            ["C00001", "2024-03-15", "06:30", "daily-psoas-routine"],
            ["C00001", "2024-03-16", "noonish", "daily-psoas-routine"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert [r[3].isoformat() for r in logs(practice)] == ["19:45:00", "06:30:00"]
    assert result.rejects[0]["reasons"] == ["session time in 'noonish' is not a time we can read"]


def test_ambiguous_dates_ask_and_never_guess(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    data = csv_bytes([["C00001", "04/03/2024", "daily-psoas-routine"], ["C00001", "05/03/2024", "daily-psoas-routine"]],
                     header=header)
    with pytest.raises(DateOrderNeeded) as caught:
        run_import(practice, data)
    assert caught.value.examples == ["04/03/2024", "05/03/2024"] and not caught.value.conflicting
    assert table_counts(practice) == (0, 0, 0)
    result = run_import(practice, data, date_order="mdy")
    # month-first, 04/03 and 05/03 are 3 April and 3 May: both after as_of (1 April)
    assert result.date_order == "mdy" and result.accepted == 0
    assert [r["reasons"] for r in result.rejects] == [["session_date 2024-04-03 is in the future"],
                                                      ["session_date 2024-05-03 is in the future"]]


def test_one_unambiguous_date_decides_the_whole_file(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    data = csv_bytes([["C00001", "04/03/2024", "daily-psoas-routine"], ["C00001", "25/03/2024", "daily-psoas-routine"]],
                     header=header)
    result = run_import(practice, data)
    assert result.date_order == "dmy"
    assert [r[2] for r in logs(practice)] == [date(2024, 3, 4), date(2024, 3, 25)]


def test_mixed_orders_need_a_choice_and_misfits_are_rejected(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    data = csv_bytes([["C00001", "25/03/2024", "daily-psoas-routine"], ["C00001", "03/26/2024", "daily-psoas-routine"]],
                     header=header)
    with pytest.raises(DateOrderNeeded) as caught:
        run_import(practice, data)
    assert caught.value.conflicting
    result = run_import(practice, data, date_order="dmy")
    assert result.accepted == 1
    assert result.rejects[0]["reasons"] == [
        "session_date '03/26/2024' is not a valid date in the day-first (31/12/2024) order"]


# -- matching and resolution ---------------------------------------------------------------------------

def test_clients_match_by_code_email_or_name_ignoring_case_and_spaces_not_accents(practice: Store) -> None:
    header = ["client", "session_date", "routine", "pain_before"]
    rows = [["c00001", "2024-03-11", "daily-psoas-routine", "1"],
            ["  ANNA@example.COM ", "2024-03-12", "daily-psoas-routine", "1"],
            ["anna   MÜLLER", "2024-03-13", "daily-psoas-routine", "1"],
            ["Anna Mu\u0308ller", "2024-03-14", "daily-psoas-routine", "1"],   # ü written as u + combining mark
            ["Anna Muller", "2024-03-15", "daily-psoas-routine", "1"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert result.accepted == 4 and [r["row"] for r in result.rejects] == [6]
    assert {r[0] for r in logs(practice)} == {"C00001"}


def test_routine_by_name_or_from_the_only_assignment_and_prescribed_defaults(practice: Store) -> None:
    header = ["client", "session_date", "routine", "exercises_done", "exercises_prescribed"]
    rows = [["C00001", "2024-03-14", "Daily psoas routine (10–15 minutes)", "3", ""],
            ["C00001", "2024-03-15", "", "4", ""],
            ["C00002", "2024-03-05", "", "4", ""],            # only the runner routine covers 5 March
            ["C00002", "2024-03-20", "desk-micro-breaks", "2", "5"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert result.accepted == 4, result.rejects
    assert [(r[0], r[1], r[4], r[5]) for r in logs(practice)] == [
        ("C00001", "daily-psoas-routine", 3, 6), ("C00001", "daily-psoas-routine", 4, 6),
        ("C00002", "runner-warm-up-cool-down", 4, 6), ("C00002", "desk-micro-breaks", 2, 5)]


def test_a_session_before_the_first_assignment_is_accepted_and_flagged(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    rows = [["C00001", "2024-02-20", "daily-psoas-routine"], ["C00005", "2024-03-01", "four-stretch-routine"],
            ["C00001", "2024-03-01", "daily-psoas-routine"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert result.accepted == 3 and result.before_first_assignment == 2
    assert [r[12] for r in logs(practice)] == [True, True, False]


def test_red_flags_in_notes_are_tagged_at_import(practice: Store) -> None:
    header = ["client", "session_date", "routine", "notes"]
    rows = [["C00001", "2024-03-14", "daily-psoas-routine", "Felt dizzy and some tingling after"],
            ["C00001", "2024-03-15", "daily-psoas-routine", "All good"],
            ["Nobody", "2024-03-15", "daily-psoas-routine", "bleeding a little"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert [r[11] for r in logs(practice)] == ["dizziness,tingling", None]
    assert result.red_flagged == 1
    assert practice.scalar("SELECT red_flags FROM quarantined_rows") == "bleeding"


@pytest.mark.both_stores
def test_missing_clients_are_created_only_when_asked(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    rows = [["Eve Stone", "2024-03-14", "four-stretch-routine"], ["eve  stone", "2024-03-15", "four-stretch-routine"],
            ["new@example.com", "2024-03-15", "four-stretch-routine"], ["Fay Bad", "2024-13-45", "four-stretch-routine"]]
    data = csv_bytes(rows, header=header)
    preview = run_import(practice, data, create_clients=True, dry_run=True)
    assert (preview.accepted, preview.new_clients, preview.batch_id) == (3, 2, None)
    assert table_counts(practice) == (0, 0, 0)
    assert practice.scalar("SELECT count(*) FROM clients") == 5
    result = run_import(practice, data, create_clients=True, actor="ann")
    assert (result.accepted, result.rejected, result.new_clients) == (3, 1, 2)
    assert practice.rows("SELECT code, display_name, email FROM clients WHERE id > 5 ORDER BY id") == [
        ("C00006", "Eve Stone", None), ("C00007", "new@example.com", "new@example.com")]
    assert practice.rows("SELECT count(*) FROM import_batch_clients WHERE batch_id = ?", [result.batch_id]) == [(2,)]
    assert practice.rows("SELECT DISTINCT event, actor FROM client_events WHERE client_id > 5") == [("created", "ann")]
    # Fay's only row was rejected, so she was not created, and her row says so.
    assert result.rejects[0]["reasons"][0] == "unknown client 'Fay Bad': no client has this code, email or name"


# -- duplicates, re-imports, undo ----------------------------------------------------------------------

@pytest.mark.both_stores
def test_reimporting_the_same_file_adds_nothing(practice: Store) -> None:
    rows = [*GOOD_ROWS, ["C00001", "2024-03-16", "daily-psoas-routine", "9", "", "", "", "", "", "s3"],
            ["C00001", "2024-03-16", "daily-psoas-routine", "1", "", "", "", "", "", ""]]
    data = csv_bytes(rows)
    first = run_import(practice, data)
    assert (first.read, first.accepted, first.rejected, first.duplicates) == (4, 3, 1, 0)
    before = table_counts(practice)
    again = run_import(practice, data)
    assert (again.read, again.accepted, again.rejected, again.duplicates) == (4, 0, 0, 4)
    assert table_counts(practice) == (before[0], before[1], before[2] + 1)


@pytest.mark.both_stores
def test_overlapping_exports_add_only_new_rows(practice: Store) -> None:
    week = [["C00001", f"2024-03-{d:02d}", "daily-psoas-routine", "5", "10", "3", "2", "", "", f"resp-{d}"]
            for d in range(10, 17)]
    first = run_import(practice, csv_bytes(week[:4]), source="gform")
    second = run_import(practice, csv_bytes(week[2:]), source="gform")
    assert (first.accepted, second.read, second.accepted, second.duplicates) == (4, 5, 3, 2)
    # a session id is only unique within its source: another source's resp-10 is another session
    other = run_import(practice, csv_bytes(week[:1]), source="booking")
    assert (other.accepted, other.duplicates) == (1, 0)


@pytest.mark.both_stores
def test_natural_key_duplicates_within_a_file_and_against_stored_logs(practice: Store) -> None:
    header = ["client", "session_date", "routine", "exercises_done", "notes"]
    rows = [["C00001", "2024-03-14", "daily-psoas-routine", "5", "ok"],
            ["c00001", "2024-03-14", "Daily psoas routine (10–15 minutes)", "5", "ok"],   # same session
            ["C00001", "2024-03-14", "daily-psoas-routine", "5", "different note"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    assert (result.accepted, result.duplicates) == (2, 1)
    manual = log_session(practice, {"client": "C00001", "session_date": date(2024, 3, 14),
                                    "routine": "daily-psoas-routine", "exercises_done": 5, "notes": "ok"},
                         "ann", as_of=AS_OF)
    assert manual.status == "duplicate"


@pytest.mark.both_stores
def test_a_large_import_numbers_its_sessions_in_file_order(practice: Store, tmp_path: Path) -> None:
    # 300,000 rows: more than two of DuckDB's row groups (122,880 rows), so the INSERT runs in
    # parallel, which draws a sequence's values out of row order. Every 1000th row is rejected
    # (pain 12) and every 1000th from the 500th repeats the session id before it. After a session
    # typed in first (id t), the file's i-th row is stored as id t + 1 + i: in file order, the
    # rows not stored leaving their numbers unused.
    typed = log_session(practice, {"client": "C00001", "session_date": date(2024, 3, 1), "exercises_done": 1},
                        "ann", as_of=AS_OF)
    rows, kept = 300_000, []
    path = tmp_path / "large.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            sid = f"id-{i - 1 if i % 1000 == 500 else i}"
            writer.writerow(["C00001", f"2024-03-{1 + (i * 7) % 28:02d}", "daily-psoas-routine", str(i % 7), "10",
                             "12" if i % 1000 == 999 else "3", "2", "", "", sid])
            if i % 1000 not in (500, 999):
                kept.append((typed.log_id + 1 + i, sid))
    result = imports.import_file(practice, path, imports.ImportOptions(as_of=AS_OF, actor="ann"))
    assert (result.read, result.accepted, result.rejected, result.duplicates) == (rows, len(kept), 300, 300)
    assert practice.rows(
        "SELECT id, source_session_id FROM session_logs WHERE batch_id IS NOT NULL ORDER BY id") == kept


def test_sessions_typed_in_one_after_another_keep_their_order(practice: Store) -> None:
    # Same client, day and time: only the id says which was entered first.
    typed = [log_session(practice, {"client": "C00001", "session_date": date(2024, 3, 20), "session_time": "08:15",
                                    "exercises_done": done}, "ann", as_of=AS_OF) for done in (6, 2)]
    assert [t.status for t in typed] == ["accepted"] * 2 and typed[0].log_id < typed[1].log_id
    assert practice.rows("SELECT id, exercises_done FROM session_logs ORDER BY id") == [
        (typed[0].log_id, 6), (typed[1].log_id, 2)]


@pytest.mark.both_stores
def test_undo_removes_a_batch_and_allows_a_clean_reimport(practice: Store) -> None:
    data = csv_bytes([*GOOD_ROWS, ["Nobody", "2024-03-16", "", "", "", "", "", "", "", "s9"]])
    first = run_import(practice, data)
    fixed = imports.list_quarantine(practice)
    assert len(fixed) == 1
    undone = imports.undo_batch(practice, first.batch_id, "ann")
    assert undone == imports.UndoResult(first.batch_id, 2, 1)
    assert practice.scalar("SELECT count(*) FROM session_logs") == 0
    assert practice.rows("SELECT undone_by FROM import_batches") == [("ann",)]
    assert imports.list_quarantine(practice).empty
    with pytest.raises(imports.BatchError, match="already undone"):
        imports.undo_batch(practice, first.batch_id, "ann")
    with pytest.raises(imports.BatchError, match="no import batch 99"):
        imports.undo_batch(practice, 99, "ann")
    again = run_import(practice, data)
    assert (again.accepted, again.rejected, again.duplicates) == (2, 1, 0)


# -- quarantine: fix, re-submit, discard -------------------------------------------------------------

@pytest.mark.both_stores
def test_fix_and_resubmit_a_quarantined_row(practice: Store) -> None:
    header = ["client", "session_date", "routine", "pain_before"]
    rows = [["Anna Muller", "2024-03-14", "daily-psoas-routine", "4"],
            ["C00001", "2024-03-15", "daily-psoas-routine", "14"],
            ["C00001", "2024-03-16", "daily-psoas-routine", "40"]]
    result = run_import(practice, csv_bytes(rows, header=header))
    open_rows = imports.list_quarantine(practice)
    assert list(open_rows["row_number"]) == [2, 3, 4]
    ids = list(open_rows["id"])
    outcome = imports.resubmit_rows(practice, [{"id": ids[0], "client": "C00001"}, {"id": ids[1], "pain_before": "12"}],
                               "ann", as_of=AS_OF)
    assert (outcome.accepted, outcome.still_rejected, outcome.duplicates) == (1, 1, 0)
    assert outcome.reasons == {ids[1]: ["pain_before 12 is outside 0–10"]}
    stored = practice.rows("SELECT session_date, pain_before, batch_id, entered_by FROM session_logs")
    assert stored == [(date(2024, 3, 14), 4.0, result.batch_id, "ann")]
    still = imports.list_quarantine(practice)
    assert list(still["id"]) == ids[1:] and still.iloc[0]["pain_before"] == "12"
    # the original values stay as the file held them
    assert imports.quarantine_values(practice, ids[1])["pain_before"] == "14"
    assert imports.discard_rows(practice, [ids[2]], "client confirmed it was a typo, session not done", "ann") == 1
    with pytest.raises(imports.BatchError, match="say why"):
        imports.discard_rows(practice, [ids[1]], "  ", "ann")
    with pytest.raises(imports.BatchError, match="not open"):
        imports.resubmit_rows(practice, [{"id": ids[0]}], "ann", as_of=AS_OF)
    batch = imports.list_batches(practice).iloc[0]
    assert (batch["rejected"], batch["still_open"], batch["fixed"], batch["discarded"]) == (3, 1, 1, 1)


def test_resubmitting_a_row_already_logged_closes_it_as_duplicate(practice: Store) -> None:
    header = ["client", "session_date", "routine"]
    run_import(practice, csv_bytes([["Anna Muller", "2024-03-14", "daily-psoas-routine"]], header=header))
    log_session(practice, {"client": "C00001", "session_date": "2024-03-14", "routine": "daily-psoas-routine"},
                "ann", as_of=AS_OF)
    row_id = int(imports.list_quarantine(practice)["id"][0])
    outcome = imports.resubmit_rows(practice, [{"id": row_id, "client": "C00001"}], "ann", as_of=AS_OF)
    assert outcome.duplicates == 1
    assert practice.rows("SELECT status, resolution_note FROM quarantined_rows") == [
        ("discarded", "already logged: the same session is stored")]


# -- manual entry ----------------------------------------------------------------------------------

@pytest.mark.both_stores
def test_manual_entry_uses_the_same_checks(practice: Store) -> None:
    ok = log_session(practice, {"client": "C00001", "session_date": date(2024, 3, 20), "session_time": "08:15",
                                "exercises_done": 6, "pain_before": 3.5, "notes": "sharp pain on the lunge"},
                     "ann", as_of=AS_OF)
    assert ok.status == "accepted" and ok.red_flags == ["sharp_pain"] and ok.log_id is not None
    assert practice.rows("SELECT routine_id, exercises_prescribed, source, entered_by, batch_id FROM session_logs") == [
        ("daily-psoas-routine", 6, "manual", "ann", None)]
    bad = log_session(practice, {"client": "C00001", "session_date": date(2024, 5, 1), "pain_before": 10.5},
                      "ann", as_of=AS_OF)
    assert bad.status == "rejected" and bad.reasons == ["session_date 2024-05-01 is in the future",
                                                        "pain_before 10.5 is outside 0–10"]
    assert practice.scalar("SELECT count(*) FROM session_logs") == 1


def test_a_session_naming_its_block_is_prescribed_the_block_items(practice: Store) -> None:
    # The day plan (data/routines/day-plan-morning-midday-evening.yaml) has 5 items: morning 2,
    # midday 1, evening 2. A session naming its block is prescribed that block's items (issue 16);
    # a block the routine does not have is rejected; the same values in two blocks are two sessions.
    with practice.transaction() as cur:
        cur.execute("INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks,"
                    " sessions_per_week, status, assigned_at) SELECT id, 'day-plan-morning-midday-evening', 1,"
                    " DATE '2024-03-01', 4, 7, 'active', ? FROM clients WHERE code = 'C00003'", [utcnow()])
    header = ["client", "session_date", "routine", "block", "exercises_done"]
    data = csv_bytes([["C00003", "2024-03-14", "day-plan-morning-midday-evening", "Morning", "2"],
                      ["C00003", "2024-03-14", "day-plan-morning-midday-evening", "evening", "2"],
                      ["C00003", "2024-03-14", "day-plan-morning-midday-evening", "", "2"],
                      ["C00003", "2024-03-15", "day-plan-morning-midday-evening", "night", "2"]], header=header)
    result = run_import(practice, data)
    assert (result.accepted, result.rejected) == (3, 1)
    assert practice.rows("SELECT block, exercises_done, exercises_prescribed FROM session_logs ORDER BY id") == [
        ("morning", 2, 2), ("evening", 2, 2), (None, 2, 5)]
    reasons = json.loads(practice.scalar("SELECT reasons_json FROM quarantined_rows"))
    assert reasons == ["block 'night' is not a block of routine day-plan-morning-midday-evening"]


# -- the CLI ---------------------------------------------------------------------------------------

def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_prints_exactly_the_contract(capsys, practice_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(csv_bytes([["Who", "14/03/2024", "daily-psoas-routine"], ["C00001", "15/03/2024", "x"]],
                               header=["Your name", "Date", "Routine"]))
    code, out, err = cli(capsys, "logs", "import", str(path), "--db", str(practice_db), "--json",
                         "--map", "Your name=client", "--date-order", "dmy", "--dry-run")
    assert code == 0, err
    payload = json.loads(out)
    assert list(payload) == ["read", "accepted", "rejected", "duplicates", "batch_id", "rejects"]
    assert (payload["read"], payload["accepted"], payload["rejected"], payload["batch_id"]) == (2, 0, 2, None)
    assert payload["rejects"][1] == {"row": 3, "values": {"Your name": "C00001", "Date": "15/03/2024", "Routine": "x"},
                                     "reasons": ["unknown routine 'x'"]}
    code, out, _ = cli(capsys, "logs", "import", str(path), "--db", str(practice_db), "--json", "--date-order", "dmy",
                       "--create-clients", "--source", "paper")
    payload = json.loads(out)
    assert (payload["accepted"], payload["rejected"], payload["batch_id"]) == (1, 1, 1)
    code, out, _ = cli(capsys, "logs", "undo", "1", "--db", str(practice_db), "--json")
    assert code == 0 and json.loads(out) == {"batch_id": 1, "removed_logs": 1, "closed_rows": 1}
    code, _, err = cli(capsys, "logs", "undo", "1", "--db", str(practice_db))
    assert code == 2 and "already undone" in err


@pytest.mark.parametrize(("content", "extra", "message"), [
    (None, [], "cannot read"),
    (b"", [], "the file is empty"),
    (b"Name,Notes\nAnn,hi\n", [], "no session_date column"),
    (b"client,session_date\nC00001,01/02/2024\n", [], "pass --date-order"),
    (b"client,session_date\nC00001,2024-03-01\n", ["--map", "Nope=client"], "no column 'Nope'"),
])
def test_cli_file_problems_exit_2_and_write_nothing(capsys, practice_db: Path, tmp_path: Path, content, extra,
                                                    message) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    code, out, err = cli(capsys, "logs", "import", str(path), "--db", str(practice_db), *extra)
    assert code == 2 and message in err and out == ""
    with Store(practice_db) as s:
        assert table_counts(s) == (0, 0, 0)


# -- crash safety ---------------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, time
    from datetime import date
    from core.db.store import Store
    from core.sessions import imports

    def progress(fraction, message):
        if message == sys.argv[3]:
            print("PAUSED", flush=True)
            time.sleep(120)

    with Store(sys.argv[1]) as store:
        result = imports.import_file(store, sys.argv[2], imports.ImportOptions(as_of=date(2024, 4, 1)), progress=progress)
    print("DONE", result.accepted, flush=True)
""")


def _big_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(["C00001", f"2024-03-{1 + i % 28:02d}", "daily-psoas-routine", str(i % 7), "10", "3", "2",
                             "", "felt dizzy" if i % 100 == 0 else "", f"id-{i}"])


def _counts_after_kill(practice_db: Path, csv_path: Path, pause_at: str, delay: float | None) -> tuple[int, int, int]:
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(practice_db), str(csv_path), pause_at],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        if delay is None:
            assert proc.stdout.readline().strip() == "PAUSED"
        else:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with Store(practice_db) as s:
        return table_counts(s)


def test_a_kill_inside_the_import_transaction_leaves_the_database_unchanged(practice_db: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "big.csv"
    _big_csv(csv_path, 30_000)
    assert _counts_after_kill(practice_db, csv_path, "committing", None) == (0, 0, 0)
    # and the same database then imports normally
    with Store(practice_db) as s:
        result = imports.import_file(s, csv_path, imports.ImportOptions(as_of=AS_OF))
        assert (result.accepted, table_counts(s)) == (30_000, (30_000, 0, 1))


@pytest.mark.parametrize("delay", [0.8, 1.6])
def test_a_kill_at_any_moment_is_all_or_nothing(practice_db: Path, tmp_path: Path, delay: float) -> None:
    csv_path = tmp_path / "big.csv"
    _big_csv(csv_path, 30_000)
    assert _counts_after_kill(practice_db, csv_path, "never", delay) in {(0, 0, 0), (30_000, 0, 1)}


# -- property: malformed rows never crash, and nothing is lost -----------------------------------------

_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_cell = st.one_of(
    st.just(""), st.text(_chars, max_size=12),
    st.sampled_from(["C00001", "anna@example.com", "Sam Green", "2024-03-14", "14/03/2024", "45365", "3,5", "1e400",
                     "-0", "10.5", "NaN", "daily-psoas-routine", '"', "a,b", "x\ny", "\r", ";", "\t", "﻿", "ü"]),
    st.integers(-5, 20).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
)
_rows = st.lists(st.lists(_cell, min_size=0, max_size=len(HEADER) + 2), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows, raw_lines=st.lists(st.text(_chars, max_size=30), max_size=3))
def test_random_malformed_rows_never_crash_and_always_balance(practice: Store, rows, raw_lines) -> None:
    body = csv_bytes(rows).decode("utf-8")
    data = (body + "".join(line + "\n" for line in raw_lines)).encode("utf-8")
    before = table_counts(practice)
    try:
        result = run_import(practice, data, date_order="dmy", source="prop")
    except imports.ImportFileError as exc:
        event(f"refused: {str(exc)[:30]}")
        assert table_counts(practice) == before
        return
    event("imported")
    assert result.read == result.accepted + result.rejected + result.duplicates
    after = table_counts(practice)
    assert after == (before[0] + result.accepted, before[1] + result.rejected, before[2] + 1)
    if not raw_lines:
        # well-formed CSV: every non-blank record was read
        records = [r for r in csv.reader(io.StringIO(body, newline="")) if r][1:]
        assert result.read == len(records)


def test_only_staff_who_may_write_import_fix_or_undo(practice: Store) -> None:
    data = csv_bytes(GOOD_ROWS)
    for dry_run in (True, False):      # a preview reads the practice's clients: for those who may import
        with pytest.raises(PermissionDenied):
            run_import(practice, data, actor="vic", dry_run=dry_run)
    result = run_import(practice, data)
    for action in (lambda: imports.undo_batch(practice, result.batch_id, "vic"),
                   lambda: imports.save_mapping(practice, "x", {"client": "client"}, None, "vic"),
                   lambda: log_session(practice, {"client": "C00001", "session_date": "2024-03-01"}, "vic",
                                       as_of=AS_OF)):
        with pytest.raises(PermissionDenied):
            action()
    assert table_counts(practice) == (2, 0, 1)
    assert practice.rows("SELECT actor, action FROM audit_log WHERE action = 'session_logs_imported'") == [
        ("ann", "session_logs_imported")]
