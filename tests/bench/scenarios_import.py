"""Bench scenario for issue 4: a 1,000,000-row session-log CSV imported into a practice that already
holds 2,000,000 session logs. Not a test: it measures and never judges a time (it only fails when
its lean baseline stored other rows than the import, below).

The file is what a busy practice's form export looks like: client codes, day-first dates with a
time, the routine named, no session ids (so de-duplication uses the natural key, the harder
path), about 5% rows already stored and about 1% with a problem.

Baselines, measured in the same run, each on its own fresh copy of the same practice:

- a bare ``CREATE TABLE ... AS SELECT * FROM read_csv(file)`` (DuckDB sniffing and typing the
  file) into a table of the same database file;
- ``lean_sql_import``: the same work as the real import, hand-written for this file in a few
  set-based statements (issue 15: the import is to take at most 1.3x of it). It must store the same
  rows: its counts and a checksum of the stored rows' key columns (ids included), of the
  quarantined rows and of the read model are compared with the real import's, and the scenario
  fails when they differ.

What ``lean_sql_import`` shares with the real import (the same work, so the same code): the
warning-sign tagger (``warning_signs.note_tags``, RE2, once per distinct note) and the SQL of a
tag's level (``red_flags.judged_sql``), the block of ids (``store.reserve_ids``), the store's
way of inserting the new logs (``store.insert_kept_locally``) and of reading the stored logs the
file's rows may repeat (``store.rows_on_days``: on PostgreSQL found there), the read-model upkeep
(``figures.add_sessions``) and the transaction (``Store.transaction``, with the touches and
clients an import gives it). Hand-written: reading the file, parsing, matching, every check, the
de-duplication, and the SQL of the rows inserted into session_logs, quarantined_rows and
import_batches.

What it deliberately leaves out, because this file does not need it or it is not the import's
checking and storing: sniffing the delimiter, encoding and line ending and decoding the file in
Python (it is read as the UTF-8 comma-separated file it is; its SHA-256 is still taken for the
batch); the column-mapping guess and saved mappings; asking for the date order (it reads the
file's own day-first form ``dd/mm/yyyy hh:mm``, or without the time, and no ISO, month-first,
written-month or Excel-serial dates); the decimal comma and "x/10" number forms; rows the CSV
reader cannot split (the strict reader fails instead of quarantining them); session ids (none in
the file, so no de-duplication by id); rows naming no routine (the real import takes the
client's assignment that day; the lean one rejects them) and day-plan blocks; creating missing
clients; the whitespace collapsing and Unicode normalisation of client and routine names (it
matches them trimmed and lower-cased); the preview, the list of rejected rows handed back to the
caller, progress callbacks, the write lock, and the audit-log entry.

    python tests/bench/scenarios_import.py [WORKDIR]   # prints the JSON result
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from typing import Any
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.sessions import imports  # noqa: E402
from core.sessions.red_flags import judged_sql  # noqa: E402
from core.library.content import sync_library  # noqa: E402
from core.db.figures import add_sessions  # noqa: E402
from core.db.store import (  # noqa: E402
    ACCOUNTS, IMPORTS, SESSION_LOGS, Store, drop_kept, insert_kept_locally, next_id, reserve_ids, rows_on_days, utcnow)
from core.practice.warning_signs import note_tags, vocabulary  # noqa: E402
from tests.bench.memory import peak_rss_mb, reset_peak_rss  # noqa: E402

AS_OF = date(2026, 11, 1)
CLIENTS = 10_000
EXISTING = 2_000_000
FILE_ROWS = 1_000_000
ROUTINES = ("daily-psoas-routine", "runner-warm-up-cool-down", "desk-micro-breaks", "four-stretch-routine")


def build_practice(path: Path, clients: int = CLIENTS, existing: int = EXISTING) -> None:
    """Clients with one assignment each and ``existing`` stored session logs, set-based, each with
    the prescribed count an import gives a row that names none (the routine's items), so the
    export's repeated rows are true duplicates."""
    with Store(path) as store:
        sync_library(store)
        routines = "[" + ", ".join(f"'{r}'" for r in ROUTINES) + "]"
        with store.transaction() as cur:
            cur.execute(
                "INSERT INTO clients (code, display_name, email, created_at, updated_at)"
                " SELECT 'C' || lpad(CAST(i AS VARCHAR), 5, '0'), 'Client ' || i, 'c' || i || '@example.com', now(), now()"
                " FROM range(1, ? + 1) t(i)", [clients])
            cur.execute(
                f"INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks, sessions_per_week,"
                f" status, assigned_at)"
                f" SELECT id, {routines}[1 + id % 4], 1, DATE '2023-01-01', 200, 5, 'active', now() FROM clients")
            cur.execute(
                f"""
                INSERT INTO session_logs (client_id, routine_id, session_date, session_time, exercises_done,
                                          exercises_prescribed, duration_min, pain_before, pain_after, stiffness,
                                          notes, red_flags, before_first_assignment, source, batch_id, entered_by,
                                          created_at)
                SELECT c, {routines}[1 + c % 4], DATE '2024-01-01' + CAST(i // {clients} AS INTEGER),
                       TIME '07:00:00' + INTERVAL (i % 600) MINUTE, 3, (SELECT count(*) FROM routine_items ri WHERE ri.version = 1 AND ri.routine_id = {routines}[1 + c % 4]), 10 + i % 20,
                       (i % 21) / 2, (i % 19) / 2,
                       i % 11, NULL, NULL, FALSE, 'bench', NULL, 'bench', now()
                FROM (SELECT i, 1 + i % {clients} AS c FROM range(?) t(i))
                """,
                [existing],
            )


def write_export(path: Path, rows: int = FILE_ROWS, existing: int = EXISTING, clients: int = CLIENTS) -> None:
    """The CSV export: rows continue after the stored ones; every 20th repeats a stored row and
    every 100th has a problem (pain out of range)."""
    routines = "[" + ", ".join(f"'{r}'" for r in ROUTINES) + "]"
    with Store(path.with_suffix(".tmp.duckdb")) as scratch:
        scratch.rows(
            f"""
            COPY (
                SELECT 'C' || lpad(CAST(c AS VARCHAR), 5, '0') AS "Client code",
                       strftime(DATE '2024-01-01' + CAST(k // {clients} AS INTEGER), '%d/%m/%Y') || ' '
                           || strftime(TIMESTAMP '2000-01-01 07:00:00' + INTERVAL (k % 600) MINUTE, '%H:%M') AS "Date",
                       {routines}[1 + c % 4] AS "Routine", '3' AS "Exercises done",
                       CAST(10 + k % 20 AS VARCHAR) AS "Minutes",
                       CASE WHEN j % 100 = 7 THEN '12' ELSE CAST((k % 21) / 2 AS VARCHAR) END AS "Pain before",
                       CAST((k % 19) / 2 AS VARCHAR) AS "Pain after", CAST(k % 11 AS VARCHAR) AS "Stiffness",
                       CASE WHEN j % 500 = 3 THEN 'felt dizzy after' END AS "Notes"
                FROM (SELECT j, k, 1 + k % {clients} AS c
                      FROM (SELECT j, CASE WHEN j % 20 = 0 THEN j ELSE {existing} + j END AS k
                            FROM range({int(rows)}) t(j)))
                ORDER BY j
            ) TO '{path}' (HEADER, DELIMITER ',')
            """
        )
    for leftover in path.parent.glob(path.stem + ".tmp.duckdb*"):
        leftover.unlink()


# -- the lean hand-written SQL import of the same work --------------------------------------------

# The export's columns (write_export) as the fields they hold: the lean import is written for this
# file, as a script would be.
EXPORT_COLUMNS: dict[str, str] = {
    "client": "Client code", "session_date": "Date", "routine": "Routine", "exercises_done": "Exercises done",
    "duration_min": "Minutes", "pain_before": "Pain before", "pain_after": "Pain after", "stiffness": "Stiffness",
    "notes": "Notes",
}
_NUMBERS = ("exercises_done", "duration_min", "pain_before", "pain_after", "stiffness")
_SCALES = ("pain_before", "pain_after", "stiffness")
# The natural key of a row without a session id, in lean_rows and in session_logs.
_LEAN_KEY = ("client_id", "d", "t", "routine_id", "done", "prescribed_i", "duration_min_n", "pain_before_n",
             "pain_after_n", "stiffness_n", "notes")
_STORED_KEY = ("client_id", "session_date", "session_time", "routine_id", "exercises_done", "exercises_prescribed",
               "duration_min", "pain_before", "pain_after", "stiffness", "notes")
# The session_logs columns the lean import stores.
_LEAN_LOG_COLUMNS = ("id", "client_id", "routine_id", "session_date", "session_time", "exercises_done",
                     "exercises_prescribed", "duration_min", "pain_before", "pain_after", "stiffness", "notes",
                     "red_flags", "red_flag_level", "red_flag_pregnant", "before_first_assignment", "source", "batch_id",
                     "entered_by", "created_at", "block")


def _lean_match(column: str, target: str, keys: tuple[str, ...]) -> str:
    """Each distinct text of ``column`` in the rows (``f``), as written (``raw``) and trimmed, with the
    one ``target`` row it names: by the first of ``keys`` that matches (lower-cased), live rows
    before archived ones; and how many it could mean."""
    candidates = " UNION ALL ".join(f"SELECT id, archived_at IS NULL AS live, lower({k}) AS key, {rank} AS how"
                                    f" FROM {target}" for rank, k in enumerate(keys, start=1))
    return f"""
        SELECT raw, {column}, coalesce(CASE WHEN n_live >= 2 THEN n_live ELSE n END, 0) AS {column}_matches,
               CASE WHEN n_live = 1 THEN live_id WHEN n = 1 THEN any_id END AS {column}_id
        FROM (SELECT raw, {column}, count(DISTINCT id) AS n, count(DISTINCT id) FILTER (live) AS n_live,
                     min(id) FILTER (live) AS live_id, min(id) AS any_id
              FROM (SELECT t.raw, t.{column}, c.id, c.live
                    FROM (SELECT raw, nullif(trim(raw), '') AS {column} FROM (SELECT DISTINCT {column}_raw AS raw FROM f)) t
                    LEFT JOIN ({candidates}) c ON c.key = lower(t.{column})
                    QUALIFY c.how IS NOT DISTINCT FROM min(c.how) OVER (PARTITION BY t.raw))
              GROUP BY ALL)"""


def _lean_rows_sql(source: str, base: int) -> str:
    """Each row of ``source`` (lean_file's columns and ``src``, its rowid) read: numbers and the
    day-first date, client and routine matched and the date read once per distinct text, the
    routine version the client was given (by date when there were several), the prescribed count,
    the first-assignment flag, and ``ok``: TRUE when no check fails (FALSE may still pass: a blank
    text, say; only those rows get their reasons worked out)."""
    raw = ", ".join(f'"{c}" AS {f}_raw' for f, c in EXPORT_COLUMNS.items())
    values = ", ".join(f"try_cast({f}_raw AS DOUBLE) AS {f}_v" for f in _NUMBERS)
    numbers = ", ".join(f"CASE WHEN isfinite({f}_v) THEN {f}_v END AS {f}_n" for f in _NUMBERS)

    def passes(name: str, test: str) -> str:
        return f"coalesce({test}, {name}_raw IS NULL)"

    ok = " AND ".join([
        "client_id IS NOT NULL", "d IS NOT NULL", "routine_id IS NOT NULL",
        passes("exercises_done", "exercises_done_n BETWEEN 0 AND 200 AND exercises_done_n = floor(exercises_done_n)"),
        "NOT coalesce(exercises_done_n > prescribed, FALSE)",
        passes("duration_min", "duration_min_n BETWEEN 0 AND 1440"),
        *(passes(s, f"{s}_n BETWEEN 0 AND 10 AND {s}_n * 2 = round({s}_n * 2)") for s in _SCALES),
        "coalesce(length(notes) <= 4000, TRUE)",
    ])
    return f"""
        WITH f AS NOT MATERIALIZED (  -- (read again by each distinct-text table, not copied)
            SELECT src, src - {int(base)} + 2 AS row_no, {raw}, nullif(trim("Notes"), '') AS notes
            FROM {source}
        ), cm AS ({_lean_match('client', 'clients', ('code', 'email', 'display_name'))}
        ), rm AS ({_lean_match('routine', 'routines', ('id', 'name'))}
        ), dates AS (
            SELECT raw, session_date, CAST(ts AS DATE) AS d_raw,
                   CASE WHEN contains(session_date, ':') THEN CAST(ts AS TIME) END AS t
            FROM (SELECT raw, session_date,
                         try_strptime(session_date, ['%d/%m/%Y %H:%M', '%d/%m/%Y %H:%M:%S', '%d/%m/%Y']) AS ts
                  FROM (SELECT raw, nullif(trim(raw), '') AS session_date
                        FROM (SELECT DISTINCT session_date_raw AS raw FROM f)))
        ), given AS (
            SELECT client_id, routine_id, count(DISTINCT routine_version) AS versions,
                   arg_min(routine_version, start_date) AS first_version
            FROM assignments GROUP BY ALL
        ), several AS (  -- a routine given in several versions: each version's days, until the next one started
            SELECT *, lead(start_date) OVER (PARTITION BY client_id, routine_id ORDER BY start_date) AS next_start
            FROM (SELECT a.client_id, a.routine_id, a.start_date, max(a.routine_version) AS routine_version
                  FROM assignments a JOIN given g USING (client_id, routine_id) WHERE g.versions > 1 GROUP BY ALL)
        ), items AS (
            SELECT routine_id, version, count(*) AS n FROM routine_items GROUP BY ALL
        ), pairs AS (  -- each distinct (client, routine) text pair, with all that follows from the pair alone
            SELECT *, i.n AS fixed_items
            FROM (SELECT p.client_raw, p.routine_raw, cm.client, cm.client_id, cm.client_matches, rm.routine,
                         rm.routine_id, rm.routine_matches, fa.first_start, g.versions,
                         CASE WHEN g.versions = 1 THEN g.first_version WHEN g.versions IS NULL THEN rt.current_version
                         END AS fixed_version,
                         coalesce(g.first_version, rt.current_version) AS fallback_version
                  FROM (SELECT DISTINCT client_raw, routine_raw FROM f) p
                  LEFT JOIN cm ON cm.raw IS NOT DISTINCT FROM p.client_raw
                  LEFT JOIN rm ON rm.raw IS NOT DISTINCT FROM p.routine_raw
                  LEFT JOIN given g ON g.client_id = cm.client_id AND g.routine_id = rm.routine_id
                  LEFT JOIN routines rt ON rt.id = rm.routine_id
                  LEFT JOIN (SELECT client_id, min(start_date) AS first_start FROM assignments GROUP BY ALL) fa
                         ON fa.client_id = cm.client_id) x
            LEFT JOIN items i ON i.routine_id = x.routine_id AND i.version = x.fixed_version
        ), read AS (
            SELECT *, {numbers}, CASE WHEN d_raw BETWEEN DATE '1900-01-01' AND $as_of THEN d_raw END AS d
            FROM (SELECT f.*, {values}, pr.* EXCLUDE (client_raw, routine_raw), dates.session_date, dates.d_raw, dates.t
                  FROM f
                  LEFT JOIN pairs pr ON pr.client_raw IS NOT DISTINCT FROM f.client_raw
                                    AND pr.routine_raw IS NOT DISTINCT FROM f.routine_raw
                  LEFT JOIN dates ON dates.raw IS NOT DISTINCT FROM f.session_date_raw)
        ), resolved AS (  -- the version by date only for a routine given in several versions
            SELECT x.*, coalesce(x.fixed_items, i.n) AS prescribed, (x.first_start IS NULL OR x.d < x.first_start) AS early
            FROM (SELECT x.*, coalesce(s.routine_version, x.fallback_version) AS dated_version
                  FROM read x
                  LEFT JOIN several s ON s.client_id = x.client_id AND s.routine_id = x.routine_id
                                     AND x.d >= s.start_date AND (s.next_start IS NULL OR x.d < s.next_start)) x
            LEFT JOIN items i ON i.routine_id = x.routine_id AND i.version = x.dated_version AND x.versions > 1
        )
        SELECT *, try_cast(exercises_done_n AS INTEGER) AS done, CAST(prescribed AS INTEGER) AS prescribed_i,
               {ok} AS ok
        FROM resolved
    """


def _lean_reasons() -> str:
    """Every reason that applies to a row of ``_lean_rows_sql`` (its texts cleaned), as the real
    import words them, joined by a unit separator ('' when none)."""
    scales = ",\n".join(
        f"CASE WHEN {f} IS NULL THEN NULL WHEN {f}_n IS NULL THEN format('{f} ''{{}}'' is not a number', {f})"
        f" WHEN {f}_n < 0 OR {f}_n > 10 THEN format('{f} {{}} is outside 0–10', {f})"
        f" WHEN {f}_n * 2 <> round({f}_n * 2) THEN format('{f} {{}} is not a whole or half point', {f}) END"
        for f in _SCALES)
    return f"""concat_ws(chr(31),
        CASE WHEN client IS NULL THEN 'client is missing' WHEN client_id IS NOT NULL THEN NULL
             WHEN client_matches > 1 THEN format('client ''{{}}'' matches {{}} clients: use the client code', client, client_matches)
             ELSE format('unknown client ''{{}}'': no client has this code, email or name', client) END,
        CASE WHEN session_date IS NULL THEN 'session_date is missing'
             WHEN d_raw IS NULL OR d_raw < DATE '1900-01-01' THEN format('session_date ''{{}}'' is not a date we can read', session_date)
             WHEN d_raw > $as_of THEN format('session_date {{}} is in the future', d_raw) END,
        CASE WHEN routine IS NULL THEN 'no routine given: name the routine'
             WHEN routine_id IS NULL AND routine_matches > 1 THEN format('routine ''{{}}'' matches {{}} routines: use the routine id', routine, routine_matches)
             WHEN routine_id IS NULL THEN format('unknown routine ''{{}}''', routine) END,
        CASE WHEN exercises_done IS NULL THEN NULL
             WHEN exercises_done_n IS NULL THEN format('exercises_done ''{{}}'' is not a number', exercises_done)
             WHEN exercises_done_n <> floor(exercises_done_n) THEN format('exercises_done ''{{}}'' is not a whole number', exercises_done)
             WHEN exercises_done_n < 0 THEN format('exercises_done {{}} is negative', exercises_done)
             WHEN exercises_done_n > 200 THEN format('exercises_done {{}} is more than 200', exercises_done) END,
        CASE WHEN exercises_done_n > prescribed AND exercises_done_n BETWEEN 0 AND 200
             THEN format('exercises_done {{}} is more than exercises_prescribed {{}}', exercises_done, prescribed) END,
        CASE WHEN duration_min IS NULL THEN NULL
             WHEN duration_min_n IS NULL THEN format('duration_min ''{{}}'' is not a number', duration_min)
             WHEN duration_min_n < 0 THEN format('duration_min {{}} is negative', duration_min)
             WHEN duration_min_n > 1440 THEN format('duration_min {{}} is longer than a day', duration_min) END,
        {scales},
        CASE WHEN length(notes) > 4000 THEN format('notes are {{:,}} characters long: at most 4,000 are kept', length(notes)) END)"""


def lean_sql_import(store: Store, export: Path, as_of: date, source: str = "bench", actor: str = "cli") -> dict:
    """The real import's work on this file, hand-written (module docstring: what it shares with the
    real import and what it leaves out). Returns its counts and batch id."""
    file_hash = hashlib.sha256(export.read_bytes()).hexdigest()
    cur = store.cursor()
    try:
        columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in EXPORT_COLUMNS.values()) + "}"
        cur.execute(f"""CREATE OR REPLACE TEMP TABLE lean_file AS SELECT * FROM read_csv($path, header = true,
                        auto_detect = false, delim = ',', quote = '"', escape = '"', columns = {columns})""",
                    {"path": str(export)})
        base = cur.execute("SELECT min(rowid) FROM lean_file").fetchone()[0]
        # Every row read and checked, keeping only what is stored and the natural key's hash.
        cur.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE lean_rows AS
            SELECT row_no, ok, notes, client_id, routine_id, d, t, done, prescribed_i, duration_min_n, pain_before_n,
                   pain_after_n, stiffness_n, early, hash({', '.join(_LEAN_KEY)}) AS h
            FROM ({_lean_rows_sql('(SELECT rowid AS src, * FROM lean_file)', base)})
            """,
            {"as_of": as_of})
        # The rows a check may fail, again with their texts: those with a reason are rejected.
        texts = ", ".join(f"nullif(trim({f}_raw), '') AS {f}" for f in _NUMBERS)
        suspect = "(SELECT rowid AS src, * FROM lean_file WHERE rowid - $base + 2 IN (SELECT row_no FROM lean_rows WHERE NOT ok))"
        original = ", ".join(f"'{c}', {f}_raw" for f, c in EXPORT_COLUMNS.items())
        mapped = ", ".join(f"'{f}', {f}" for f in EXPORT_COLUMNS)
        cur.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE lean_bad AS
            SELECT row_no, notes, reasons, json_object({original}) AS values_json, json_object({mapped}) AS fields_json,
                   md5(to_json([client, session_date, NULL::VARCHAR, routine, exercises_done, NULL::VARCHAR,
                                duration_min, pain_before, pain_after, stiffness, notes, NULL::VARCHAR])) AS row_hash
            FROM (SELECT *, {_lean_reasons()} AS reasons FROM (SELECT *, {texts} FROM ({_lean_rows_sql(suspect, base)})))
            WHERE reasons <> ''
            """,
            {"as_of": as_of, "base": base})
        _lean_tags(cur)
        # Duplicates: later equal rows of the file (valid rows by the natural key, rejected ones by
        # their text), valid rows equal to a stored log, rejected rows already held in quarantine.
        valid = "row_no NOT IN (SELECT row_no FROM lean_bad)"
        stored = " AND ".join(f"s.{s} IS NOT DISTINCT FROM r.{n}" for s, n in zip(_STORED_KEY, _LEAN_KEY))
        rows_on_days(cur, "lean_stored", "session_logs", "session_date", "SELECT client_id, d FROM lean_rows",
                     (*_STORED_KEY, "block"))
        cur.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE lean_drop AS
            SELECT row_no, row_no IN (SELECT row_no FROM lean_bad) AND row_no NOT IN (
                SELECT row_no FROM lean_bad QUALIFY row_number() OVER (PARTITION BY row_hash ORDER BY row_no) > 1
                UNION ALL
                SELECT row_no FROM lean_bad WHERE row_hash IN (
                    SELECT q.row_hash FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
                    WHERE b.source = $source AND b.undone_at IS NULL)) AS rejected
            FROM (
                SELECT row_no FROM lean_bad
                UNION
                SELECT row_no FROM lean_rows
                WHERE {valid} AND h IN (SELECT h FROM lean_rows WHERE {valid} GROUP BY h HAVING count(*) > 1)
                QUALIFY row_number() OVER (PARTITION BY {', '.join(_LEAN_KEY)} ORDER BY row_no) > 1
                UNION
                SELECT r.row_no FROM lean_rows r
                JOIN lean_stored s ON s.client_id = r.client_id AND s.session_date = r.d AND s.block IS NULL AND {stored}
                WHERE r.{valid}
            )
            """,
            {"source": source})
        read, rejected, duplicates, low, high = cur.execute(
            "SELECT (SELECT count(*) FROM lean_rows), count(*) FILTER (rejected), count(*) FILTER (NOT rejected),"
            " (SELECT min(row_no) FROM lean_rows WHERE row_no NOT IN (SELECT row_no FROM lean_drop)),"
            " (SELECT max(row_no) FROM lean_rows WHERE row_no NOT IN (SELECT row_no FROM lean_drop))"
            " FROM lean_drop").fetchone()
        accepted = read - rejected - duplicates
        with store.transaction(cur, touches=(SESSION_LOGS, IMPORTS, ACCOUNTS), clients=()):
            batch_id = next_id(cur, "import_batch_id_seq")  # (the postgres extension has no INSERT ... RETURNING)
            cur.execute(
                "INSERT INTO import_batches (id, source, file_name, file_hash, mapping_json, date_order, imported_by,"
                " imported_at, rows_read, accepted, rejected, duplicates)"
                " VALUES (?, ?, ?, ?, NULL, 'dmy', ?, ?, ?, ?, ?, ?)",
                [batch_id, source, export.name, file_hash, actor, utcnow(), read, accepted, rejected, duplicates])
            if accepted:
                first = reserve_ids(cur, "session_log_id_seq", high - low + 1)
                level, pregnant = judged_sql("g.tags", "c", "r.d")
                insert_kept_locally(
                    cur, "session_logs", _LEAN_LOG_COLUMNS,
                    f"""
                    SELECT $first + r.row_no - $low AS id, r.client_id, r.routine_id, r.d AS session_date,
                           r.t AS session_time, r.done AS exercises_done, r.prescribed_i AS exercises_prescribed,
                           r.duration_min_n AS duration_min, r.pain_before_n AS pain_before, r.pain_after_n AS pain_after,
                           r.stiffness_n AS stiffness, r.notes, g.tags AS red_flags, {level} AS red_flag_level,
                           {pregnant} AS red_flag_pregnant, r.early AS before_first_assignment,
                           CAST($source AS VARCHAR) AS source, CAST($batch AS BIGINT) AS batch_id,
                           CAST($actor AS VARCHAR) AS entered_by, CAST($now AS TIMESTAMP) AS created_at,
                           CAST(NULL AS VARCHAR) AS block
                    FROM lean_rows r LEFT JOIN lean_tags g ON g.notes = r.notes LEFT JOIN clients c ON c.id = r.client_id
                    WHERE r.row_no NOT IN (SELECT row_no FROM lean_drop) ORDER BY r.row_no
                    """,
                    {"first": first, "low": low, "source": source, "batch": batch_id, "actor": actor, "now": utcnow()},
                    name="lean_new_logs", inserted=f"id >= {int(first)}")
                try:
                    add_sessions(cur, "lean_new_logs")
                finally:
                    drop_kept(cur, "lean_new_logs")
            cur.execute(
                """
                INSERT INTO quarantined_rows (batch_id, file_name, row_number, values_json, reasons_json, status,
                                              fields_json, row_hash, red_flags)
                SELECT $batch, $file, b.row_no, b.values_json, to_json(string_split(b.reasons, chr(31))), 'open',
                       b.fields_json, b.row_hash, g.tags
                FROM lean_bad b LEFT JOIN lean_tags g ON g.notes = b.notes
                WHERE b.row_no IN (SELECT row_no FROM lean_drop WHERE rejected) ORDER BY b.row_no
                """,
                {"batch": batch_id, "file": export.name})
    finally:
        for table in ("lean_file", "lean_rows", "lean_bad", "lean_drop", "lean_tags"):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        drop_kept(cur, "lean_stored")
        cur.close()
    return {"read": read, "accepted": accepted, "rejected": rejected, "duplicates": duplicates, "batch_id": batch_id}


def _lean_tags(cur: Any) -> None:
    """lean_tags: each distinct note of the file with its warning-sign tags (the real import's tagger)."""
    vocab = vocabulary()
    notes = [n for (n,) in cur.execute("SELECT DISTINCT notes FROM lean_rows WHERE notes IS NOT NULL").fetchall()]
    tagged = pd.DataFrame([(n, t) for n in notes if (t := note_tags(n, vocab)) is not None],
                          columns=["notes", "tags"], dtype=object)
    cur.register("lean_tagged", tagged)
    cur.execute("CREATE OR REPLACE TEMP TABLE lean_tags AS SELECT CAST(notes AS VARCHAR) AS notes,"
                " CAST(tags AS VARCHAR) AS tags FROM lean_tagged")
    cur.unregister("lean_tagged")


def stored_checksums(store: Store, batch_id: int) -> dict:
    """What an import stored, as counts and checksums: its session logs' key columns (ids included),
    its quarantined rows, and the read model's day and client figures (for comparing two imports of
    the same file into two copies of the same practice)."""
    logs = store.rows(
        "SELECT count(*), sum(hash(id, client_id, routine_id, session_date, session_time, exercises_done,"
        " exercises_prescribed, duration_min, pain_before, pain_after, stiffness, notes, red_flags, red_flag_level,"
        " red_flag_pregnant, before_first_assignment, block)) FROM session_logs WHERE batch_id = ?", [batch_id])[0]
    quarantined = store.rows("SELECT count(*), sum(hash(row_number, red_flags, status))"
                             " FROM quarantined_rows WHERE batch_id = ?", [batch_id])[0]
    figures = store.rows("SELECT (SELECT sum(hash(assignment_id, day, sessions, scored)) FROM assignment_day_figures),"
                         " (SELECT sum(hash(client_id, last_session)) FROM client_figures),"
                         " (SELECT count(*) FROM session_attribution)")[0]
    return {"logs": [int(v or 0) for v in logs], "quarantined": [int(v or 0) for v in quarantined],
            "figures": [int(v or 0) for v in figures]}


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def scenario_log_import(workdir: Path | str | None = None, runs: int = 5, rows: int = FILE_ROWS,
                        existing: int = EXISTING) -> dict:
    """Import the export ``runs`` times into fresh copies of the practice; the bare read_csv
    baseline runs against the same copies, and the lean SQL import (``lean_sql_import``) right after
    each import on a fresh copy of its own. Returns timings (ms), rows/s, the ratios, and the
    process's peak memory during an import. Raises RuntimeError when the lean import stored other
    rows than the real one (then its time says nothing)."""
    work, practice, export = _practice_and_export(workdir, rows, existing)
    bare, import_times, lean_times, result, lean = [], [], [], None, None
    import_peak_mb = _first_import_peak_mb(practice, export, work)
    for run in range(runs):
        copy = work / f"run-{run}.duckdb"
        shutil.copyfile(practice, copy)
        with Store(copy) as store:
            bare.append(_bare_read_s(store, export))
            start = time.perf_counter()
            result = imports.import_file(store, export, imports.ImportOptions(source="bench", as_of=AS_OF, actor="cli"))
            import_times.append(time.perf_counter() - start)
            stored = stored_checksums(store, result.batch_id) if run == 0 else None
        _remove(work, copy.name)
        lean_copy = work / f"lean-{run}.duckdb"
        shutil.copyfile(practice, lean_copy)
        with Store(lean_copy) as store:
            start = time.perf_counter()
            lean = lean_sql_import(store, export, AS_OF)
            lean_times.append(time.perf_counter() - start)
            if stored is not None:
                _same_rows("the lean SQL import", "the import", result, stored, lean,
                           stored_checksums(store, lean["batch_id"]))
        _remove(work, lean_copy.name)
    import_ms, bare_ms, lean_ms = _median_ms(import_times), _median_ms(bare), _median_ms(lean_times)
    return {
        "file_rows": rows, "existing_logs": existing, "read": result.read, "accepted": result.accepted,
        "rejected": result.rejected, "duplicates": result.duplicates,
        "import_ms": import_ms, "baseline_bare_read_csv_ms": bare_ms,
        "rows_per_s": round(rows / (import_ms / 1000)), "ratio_import_vs_bare_read": round(import_ms / bare_ms, 2),
        "baseline_lean_sql_import_ms": lean_ms, "ratio_import_vs_lean_sql": round(import_ms / lean_ms, 2),
        "lean_sql_same_rows": True,
        "import_peak_rss_mb": import_peak_mb,
    }


def _bare_read_s(store: Store, export: Path) -> float:
    """Seconds to copy the export's rows as they are into a table of the store (DuckDB sniffing and
    typing the file; nothing checked), in plain SQL outside the store's transactions."""
    cur = store.cursor()
    try:
        start = time.perf_counter()
        cur.execute(f"CREATE TABLE bare_read AS SELECT * FROM read_csv('{export}')")
        elapsed = time.perf_counter() - start
        cur.execute("DROP TABLE bare_read")
        return elapsed
    finally:
        cur.close()


def _practice_and_export(workdir: Path | str | None, rows: int = FILE_ROWS,
                         existing: int = EXISTING) -> tuple[Path, Path, Path]:
    """The scenario's folder, its practice and its export, built when missing (cached there)."""
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rd-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    practice, export = work / "practice-v3.duckdb", work / "export.csv"
    if not practice.exists():
        build_practice(practice, existing=existing)
    if not export.exists():
        write_export(export, rows, existing)
    return work, practice, export


# The practice of the import scenario in the bench's PostgreSQL, which each run copies.
IMPORT_DATABASE = "rd_bench_import"


def scenario_log_import_postgres(workdir: Path | str | None = None, runs: int = 2) -> dict:
    """The same import into the same practice held in PostgreSQL (the bench's server,
    tests/bench/scenarios_postgres.py), ``runs`` times on fresh copies of it, beside two baselines
    on fresh copies too: the export's rows copied as they are into a PostgreSQL table through the
    same extension (``CREATE TABLE ... AS SELECT * FROM read_csv``), and the lean hand-written SQL
    import (``lean_sql_import``). The practice is copied in with migrate-store once (timed). The
    import must store exactly what the file version stores (one import into a copy of the DuckDB
    file, run here first), and the lean import the same; the scenario fails otherwise."""
    from tests.bench.scenarios_postgres import copy_of, drop, migrate_into, server_from_env

    work, practice, export = _practice_and_export(workdir)
    server = server_from_env()
    options = imports.ImportOptions(source="bench", as_of=AS_OF, actor="cli")
    reference = work / "pg-reference.duckdb"
    shutil.copyfile(practice, reference)
    try:
        with Store(reference) as store:
            start = time.perf_counter()
            expected = imports.import_file(store, export, options)
            file_ms = (time.perf_counter() - start) * 1000
            expected_rows = stored_checksums(store, expected.batch_id)
    finally:
        _remove(work, reference.name)
    source = work / "pg-source.duckdb"  # migrate-store brings its source to the current schema: a copy
    shutil.copyfile(practice, source)
    try:
        migrated = migrate_into(server, source, IMPORT_DATABASE)
    finally:
        _remove(work, source.name)
    bare, import_times, lean_times = [], [], []
    for run in range(runs):
        url = copy_of(server, IMPORT_DATABASE)
        try:
            with Store(url) as store:
                bare.append(_bare_read_s(store, export))
                start = time.perf_counter()
                result = imports.import_file(store, export, options)
                import_times.append(time.perf_counter() - start)
                if run == 0:
                    _same_rows("the import into PostgreSQL", "the import into the file", expected, expected_rows,
                               _counts(result), stored_checksums(store, result.batch_id))
        finally:
            drop(server, url)
        url = copy_of(server, IMPORT_DATABASE)
        try:
            with Store(url) as store:
                start = time.perf_counter()
                lean = lean_sql_import(store, export, AS_OF)
                lean_times.append(time.perf_counter() - start)
                if run == 0:
                    _same_rows("the lean SQL import into PostgreSQL", "the import into the file", expected,
                               expected_rows, lean, stored_checksums(store, lean["batch_id"]))
        finally:
            drop(server, url)
    import_ms, bare_ms, lean_ms = _median_ms(import_times), _median_ms(bare), _median_ms(lean_times)
    return {
        "file_rows": FILE_ROWS, "existing_logs": EXISTING, **_counts(expected), "runs": runs,
        "import_ms": import_ms, "file_import_ms_same_process": round(file_ms, 1),
        "baseline_bare_read_csv_into_postgres_ms": bare_ms, "ratio_import_vs_bare_read": round(import_ms / bare_ms, 2),
        "baseline_lean_sql_import_ms": lean_ms, "ratio_import_vs_lean_sql": round(import_ms / lean_ms, 2),
        "same_rows_as_file_import": True, "practice_migrate_store_ms": migrated["migrate_store_ms"],
    }


def _counts(result: imports.ImportResult) -> dict:
    return {"read": result.read, "accepted": result.accepted, "rejected": result.rejected,
            "duplicates": result.duplicates}


def _same_rows(what: str, than: str, expected: imports.ImportResult, expected_rows: dict, counts: dict,
               stored: dict) -> None:
    """Raise unless ``what`` counted and stored (``counts``, ``stored``: its stored_checksums)
    exactly what ``than`` did (``expected``, ``expected_rows``)."""
    want = {**_counts(expected), **expected_rows}
    got = {**{k: v for k, v in counts.items() if k != "batch_id"}, **stored}
    differ = {k: (want[k], got.get(k)) for k in want if want[k] != got.get(k)}
    if differ:
        raise RuntimeError(f"{what} stored other rows than {than} ({than}, {what}): {differ}")


def _remove(work: Path, name: str) -> None:
    for leftover in work.glob(f"{name}*"):
        leftover.unlink()


def _first_import_peak_mb(practice: Path, export: Path, work: Path) -> int:
    """The whole process's peak memory over one import done before anything else in it (as a CLI
    import; later runs start from what earlier ones left allocated). Not timed."""
    copy = work / "memory-run.duckdb"
    shutil.copyfile(practice, copy)
    try:
        with Store(copy) as store:
            reset_peak_rss()
            imports.import_file(store, export, imports.ImportOptions(source="bench", as_of=AS_OF, actor="cli"))
            return peak_rss_mb()
    finally:
        _remove(work, copy.name)


if __name__ == "__main__":
    print(json.dumps(scenario_log_import(sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
