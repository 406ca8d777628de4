"""Session logs: the one validation, matching and de-duplication path every log goes through.

A file import, a quarantined row that staff fixed, and a session typed into the client page all
become rows of the same canonical shape (``FIELDS``, text as the source wrote it) in a temporary
table ``li_in``; ``prepare_rows`` reads their texts, ``check_rows`` validates, resolves and
de-duplicates them in a few set-based DuckDB statements and leaves the verdict per row in
``li_out``. There is no second validator.

The rules (docs/sessions/import-format.md):

- a client is matched by code, email or name, ignoring case and extra spaces but not accents;
- a date is ISO, day-first or month-first (one order per file, never guessed per row), an Excel
  serial number, or a written month; it may carry a time; a future date is rejected;
- the routine is named by id or name, or left out when the client had exactly one assignment that
  day (or, failing that, exactly one active assignment); ``exercises_prescribed`` defaults to the
  item count of the routine version the client was given;
- pain and stiffness are 0–10 in whole or half points; counts are whole numbers;
- a row is rejected with every reason that applies; a session before the client's first
  assignment is accepted and flagged;
- a duplicate has the same ``session_id`` from the same source or, without one, the same client,
  date and time, routine and values as a row already logged (or earlier in the same input).
"""

from __future__ import annotations

import re
import threading
from contextlib import nullcontext
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, TypeVar

import pandas as pd

from core import clock
from core.access.auth import STAFF_WRITERS, audit_in, require_role
from core.access.sites import allowed_sites
from core.sessions.red_flags import judged_sql, parse_tags, signs_mentioned, tag_rows
from core.db.figures import add_sessions
from core.db.store import (ACCOUNTS, SESSION_LOGS, Store, WriteConflict, again_on_conflict, next_ids, reserve_ids,
                           sql_literal, utcnow)

FIELDS: tuple[str, ...] = (
    "client", "session_date", "session_time", "routine", "exercises_done", "exercises_prescribed",
    "duration_min", "pain_before", "pain_after", "stiffness", "notes", "session_id", "block",
)
REQUIRED_FIELDS = ("client", "session_date")
FIELD_HELP: dict[str, str] = {
    "client": "client code, email or name",
    "session_date": "date of the session, optionally with a time",
    "session_time": "time of the session, when it has its own column",
    "routine": "routine id or name (optional when the client had one routine assigned)",
    "exercises_done": "exercises done (whole number)",
    "exercises_prescribed": "exercises in the routine (defaults to the routine's count)",
    "duration_min": "minutes spent",
    "pain_before": "pain before, 0–10 (halves allowed)",
    "pain_after": "pain after, 0–10 (halves allowed)",
    "stiffness": "stiffness, 0–10 (halves allowed)",
    "notes": "what the client wrote",
    "session_id": "the source system's id for the session",
    "block": "the block of a day plan the session was (e.g. morning), when the routine has blocks",
}
# The fields as staff read them (import reasons, preview headings); files and CSV keep the codes.
FIELD_LABELS: dict[str, str] = {
    "client": "Client", "session_date": "Session date", "session_time": "Session time", "routine": "Routine",
    "exercises_done": "Exercises done", "exercises_prescribed": "Exercises prescribed",
    "duration_min": "Minutes", "pain_before": "Pain before", "pain_after": "Pain after",
    "stiffness": "Stiffness", "notes": "Notes", "session_id": "Session id", "block": "Block of the day",
}
_FIELD_CODE = re.compile(r"\b(" + "|".join(code for code in FIELD_LABELS if "_" in code) + r")\b")


def readable_reason(reason: str) -> str:
    """A stored rejection reason with its field codes as words ("exercises_done 5 is more than
    exercises_prescribed 4" reads "Exercises done 5 is more than exercises prescribed 4")."""
    return _FIELD_CODE.sub(lambda found: FIELD_LABELS[found.group(1)] if found.start() == 0
                           else FIELD_LABELS[found.group(1)].lower(), reason)


DATE_ORDERS: tuple[str, ...] = ("dmy", "mdy", "ymd")
DATE_ORDER_LABELS = {"dmy": "day-first (31/12/2024)", "mdy": "month-first (12/31/2024)",
                     "ymd": "year-first (24/12/31)"}

MAX_COUNT = 200            # exercises in one session; more is a typo, and keeps INTEGER safe
MAX_DURATION_MIN = 1440    # a session cannot last longer than a day
MAX_NOTES_CHARS = 4000     # the session form's limit; an import holds notes to the same length

# One process writes the database; imports, fixes and manual entries take turns so two of them
# cannot both decide the same row is new.
WRITE_LOCK = threading.RLock()
# How many times new session logs are checked and written when other processes keep storing session
# logs at the same moment (PostgreSQL): each try that loses the race is rolled back whole.
CHECK_ATTEMPTS = 4

# The start of a date whose order the file decides: 1-2 digits, 1-2 digits, a 2- or 4-digit year.
_SHORT_DATE_RE = r"^(\d{1,2})[-/.](\d{1,2})[-/.](?:\d{4}|\d{2})(?:$|[^\d])"
# d/m/y-like dates with an optional time: groups a, b, c (date parts) hh, mi, ss, ap (time).
_DATE_RE = (r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})"
            r"(?:(?:T|,?\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([AaPp]\.?[Mm]\.?)?)?"
            r"\s*(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)?$")
_TIME_RE = r"^(\d{1,2})(?::(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*([AaPp]\.?[Mm]\.?)?$"
# Written months (English), e.g. "14 Mar 2024", "March 14, 2024", "14-Mar-24".
# Two-digit years first: "%Y" would read "24" as the year 24.
_TEXT_DATE_FORMATS = ("%d-%b-%y", "%d %b %y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%b %d, %Y", "%B %d, %Y",
                      "%b %d %Y", "%B %d %Y", "%a, %d %b %Y", "%A, %B %d, %Y", "%A, %d %B %Y")
_EXCEL_SERIAL = (20000, 80000)  # 1954 .. 2119: plausible session dates, not ids
_EMAIL_SQL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

COUNTS = {"exercises_done": 0, "exercises_prescribed": 1}    # field -> lowest allowed
SCALES = ("pain_before", "pain_after", "stiffness")          # 0-10 in half points
_DATE_FIELDS = ("session_date", "session_time")              # read once per distinct text (li_dk)


class DateOrderNeeded(ValueError):
    """The dates could be day-first or month-first and nothing says which: staff must choose."""

    def __init__(self, examples: list[str], conflicting: bool) -> None:
        self.examples = examples
        self.conflicting = conflicting
        shown = ", ".join(examples[:3])
        if conflicting:
            message = (f"the dates mix day-first and month-first forms (e.g. {shown}): choose the order the "
                       "file uses; dates that do not fit it are rejected")
        else:
            message = (f"the dates could be day-first or month-first (e.g. {shown}): choose the order "
                       "(dmy or mdy)")
        super().__init__(message)


@dataclass(frozen=True)
class DateEvidence:
    """What the d/m/y-like dates in an input say about their order."""

    short_rows: int = 0
    day_first_rows: int = 0     # first part above 12: only day-first fits
    month_first_rows: int = 0   # second part above 12: only month-first fits
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckOptions:
    """How ``check_rows`` treats one input.

    ``quarantine_dedupe``: a rejected row already held in quarantine for this source counts as a
    duplicate (file imports); off when re-checking the quarantined rows themselves.
    """

    source: str
    as_of: date
    date_order: str | None = None
    create_clients: bool = False
    quarantine_dedupe: bool = False
    sites: tuple[str, ...] | None = None   # clients of these sites only (the actor's: core.access.sites); None: all

    def clients_sql(self) -> str:
        """The clients a row may name: all of them, or those of ``sites`` (a client of another site
        reads as unknown, as it does everywhere else for this member)."""
        if self.sites is None:
            return "clients"
        codes = ", ".join(sql_literal(site) for site in self.sites) or "NULL"
        return f"(SELECT * FROM clients WHERE site IN ({codes}))"


@dataclass
class CheckCounts:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    new_clients: int = 0
    before_first_assignment: int = 0
    red_flagged: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


# -- SQL fragments ------------------------------------------------------------------------------

def norm_sql(expr: str) -> str:
    """Matching key for names: Unicode-composed, lower case, runs of spaces as one, trimmed.

    Accents stay: "Müller" and "Muller" are different people.
    """
    return f"nfc_normalize(lower(trim(regexp_replace({expr}, '[\\s\\x{{00A0}}]+', ' ', 'g'))))"


_BLANKS = " \t\n\r\u00a0"   # space, tab, newline, carriage return, no-break space


def _clean(column: str) -> str:
    """Trimmed text, NULL when blank. Only values with a blank at either end pay for the trim
    (LIKE on a prefix or suffix is far cheaper than trimming every value)."""
    x = f"CAST({column} AS VARCHAR)"
    edges = " OR ".join(f"{x} LIKE '{c}%' OR {x} LIKE '%{c}'" for c in _BLANKS)
    blanks = " || ".join(f"chr({ord(c)})" for c in _BLANKS)
    return f"CASE WHEN {x} = '' THEN NULL WHEN {edges} THEN nullif(trim({x}, {blanks}), '') ELSE {x} END"


def _number(column: str, scale: bool = False) -> str:
    """Text to DOUBLE; accepts a decimal comma ("3,5") and, on 0-10 scales, a "/10" suffix."""
    text = column
    if scale:
        text = f"CASE WHEN contains({column}, '/') THEN regexp_replace({column}, '\\s*/\\s*10$', '') ELSE {column} END"
    text = (f"CASE WHEN contains({text}, ',') AND regexp_full_match({text}, '[+-]?\\d+,\\d+')"
            f" THEN replace({text}, ',', '.') ELSE {text} END")
    value = f"try_cast({text} AS DOUBLE)"
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def _read_number(fast: str, cleaned: str, scale: bool = False) -> str:
    """``_number`` of a cleaned text, given ``fast``, the plain ``try_cast`` to DOUBLE of the text
    as written. Most values are plain numbers: when the cast alone gives a finite number, cleaning
    and the other forms would give the same one (the cast ignores edge whitespace and reads no
    decimal comma or "/10"), so ``cleaned`` is only needed, and only computed, for the others."""
    return f"CASE WHEN isfinite({fast}) THEN {fast} ELSE {_number(cleaned, scale)} END"


def _unless_number(raw: str, fast: str) -> str:
    """The cleaned text of a value that ``fast`` (its plain cast) does not read (else NULL)."""
    return f"CASE WHEN {raw} IS NOT NULL AND NOT coalesce(isfinite({fast}), FALSE) THEN {_clean(raw)} END"


def _hour24(hh: str, ap: str) -> str:
    """24-hour clock hour from an hour text and an am/pm marker text ('' when none); NULL when invalid."""
    hour = f"try_cast({hh} AS INTEGER)"
    return (f"CASE WHEN {ap} = '' THEN {hour} WHEN {hour} BETWEEN 1 AND 12"
            f" THEN {hour} % 12 + CASE WHEN lower(left({ap}, 1)) = 'p' THEN 12 ELSE 0 END END")


def _clock(h: str, mi: str, ss: str) -> str:
    """TIME from hour, minute and second integers; NULL when out of range."""
    return (f"CASE WHEN {h} BETWEEN 0 AND 23 AND {mi} BETWEEN 0 AND 59 AND {ss} BETWEEN 0 AND 59"
            f" THEN make_time({h}, {mi}, {ss}) END")


def _date_groups(column: str) -> str:
    return f"regexp_extract({column}, {sql_literal(_DATE_RE)}, ['a', 'b', 'c', 'hh', 'mi', 'ss', 'ap'])"


def _short_date(order: str | None) -> str:
    """The DATE of a numeric a/b/c date (li_p's da, db, dc) under the file's order; NULL when it
    does not fit. A four-digit first part is always year-month-day."""
    year_last = "(CASE WHEN lc = 4 THEN dc ELSE 2000 + dc END)"
    branches = ["WHEN la = 4 AND lc <= 2 THEN try(make_date(da, db, dc))"]
    if order == "dmy":
        branches.append(f"WHEN la <= 2 AND lc IN (2, 4) THEN try(make_date({year_last}, db, da))")
    elif order == "mdy":
        branches.append(f"WHEN la <= 2 AND lc IN (2, 4) THEN try(make_date({year_last}, da, db))")
    elif order == "ymd":
        branches.append("WHEN la = 2 AND lc <= 2 THEN try(make_date(2000 + da, db, dc))")
    return "CASE " + " ".join(branches) + " END"


# A numeric date whose order the file decides: 1-2 digits first, a 2- or 4-digit year last.
_SHORT_SHAPE = "(numeric_date AND la <= 2 AND lc IN (2, 4))"


# -- preparing rows -------------------------------------------------------------------------------

_WORK_TABLES = ("li_drop", "li_dup", "li_bad", "staged_sessions", "li_pair", "li_pr", "li_cm", "li_rm", "li_cover",
                "li_dated", "li_asg", "li_ci", "li_given", "li_items", "li_blocks", "li_dk", "li_dd")
# Counts and measures, read as numbers in li_p (their texts are cleaned only for rejected rows).
_NUMBERS = ("exercises_done", "exercises_prescribed", "duration_min", *SCALES)
# Texts cleaned in li_p for every row (stored); client and routine are cleaned once per distinct
# text by their match tables (li_cm, li_rm), dates by li_dk.
_CLEANED = ("notes", "session_id", "block")


def _prepared_sql(source: str) -> str:
    """li_p's SELECT over ``source`` (li_in, or some of its rows)."""
    numbers = ", ".join(f"{f}_raw, {_read_number(f'{f}_fast', f'{f}_other', scale=f in SCALES)} AS {f}_n"
                        for f in _NUMBERS)
    others = ", ".join(f"{_unless_number(f'{f}_raw', f'{f}_fast')} AS {f}_other" for f in _NUMBERS)
    raw = ", ".join(f"CAST({f} AS VARCHAR) AS {f}_raw, try_cast({f} AS DOUBLE) AS {f}_fast" for f in _NUMBERS)
    cleaned = ", ".join(f"{_clean(f)} AS {f}" for f in _CLEANED)
    return f"""
        SELECT row_no, src, shape_reason, sd_raw, st_raw, client_raw, routine_raw, {', '.join(_CLEANED)}, {numbers}
        FROM (SELECT *, {others}
              FROM (SELECT row_no, src, shape_reason, session_date AS sd_raw, session_time AS st_raw,
                           CAST(client AS VARCHAR) AS client_raw, CAST(routine AS VARCHAR) AS routine_raw,
                           {cleaned}, {raw}
                    FROM {source}))
    """


def prepare_rows(cur: Any) -> None:
    """li_p, a view over li_in: numbers read, notes and session ids trimmed (blank is NULL), the
    other texts as written (``*_raw``); and li_dk, each distinct (session_date, session_time) text
    pair of the input with its date split into parts.

    A file holds far fewer distinct dates, clients and routines than rows, so their patterns and
    matching run once per distinct text and the rows join back by the texts as the file wrote them
    (``sd_raw``/``st_raw``, ``client_raw``, ``routine_raw``). li_p is a view, not a table: each
    later statement reads only the columns it needs.

    ``li_in`` must have ``row_no`` (unique), ``src`` (where the row came from, or NULL), the text
    columns in ``FIELDS`` and ``shape_reason`` (a problem found while reading the row, or NULL).
    """
    for name in ("li_out", "li_rejected"):
        cur.execute(f"DROP VIEW IF EXISTS {name}")
    for name in _WORK_TABLES:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE OR REPLACE TEMP VIEW li_p AS {_prepared_sql('li_in')}")
    # Layers: texts cleaned; then the date and time patterns; then their parts as integers (each
    # converted once); then the clock times. first_rows: the key's first three row numbers (for
    # the examples a date-order question shows).
    cur.execute(
        f"""
        CREATE TEMP TABLE li_dk AS
        SELECT * EXCLUDE (dh, dmi, dss, th, tmi, tss),
               {_clock('dh', 'dmi', 'dss')} AS clock_in_date, {_clock('th', 'tmi', 'tss')} AS clock_own
        FROM (
            SELECT * EXCLUDE (dm, tm), dm.a <> '' AS numeric_date, dm.hh <> '' AS has_clock,
                   try_cast(dm.a AS INTEGER) AS da, try_cast(dm.b AS INTEGER) AS db, try_cast(dm.c AS INTEGER) AS dc,
                   length(dm.a) AS la, length(dm.c) AS lc,
                   {_hour24('dm.hh', 'dm.ap')} AS dh, try_cast(dm.mi AS INTEGER) AS dmi,
                   coalesce(try_cast(nullif(dm.ss, '') AS INTEGER), 0) AS dss,
                   CASE WHEN tm.hh <> '' AND (tm.mi <> '' OR tm.ap <> '') THEN {_hour24('tm.hh', 'tm.ap')} END AS th,
                   coalesce(try_cast(nullif(tm.mi, '') AS INTEGER), 0) AS tmi,
                   coalesce(try_cast(nullif(tm.ss, '') AS INTEGER), 0) AS tss
            FROM (
                SELECT *, {_date_groups('session_date')} AS dm,
                       CASE WHEN session_time IS NOT NULL
                            THEN regexp_extract(session_time, {sql_literal(_TIME_RE)}, ['hh', 'mi', 'ss', 'ap']) END AS tm,
                       CASE WHEN regexp_full_match(session_date, '[0-9]{{5}}([.][0-9]+)?')
                            THEN try_cast(session_date AS DOUBLE) END AS serial
                FROM (SELECT sd_raw, st_raw, n, first_rows, {_clean('sd_raw')} AS session_date,
                             {_clean('st_raw')} AS session_time
                      FROM (SELECT session_date AS sd_raw, session_time AS st_raw, count(*) AS n,
                                   min(row_no, 3) AS first_rows
                            FROM li_in GROUP BY ALL))
            )
        )
        """
    )


def date_evidence(cur: Any) -> DateEvidence:
    """Count the d/m/y-like dates of the prepared rows that only one order can read.

    Only the numeric day/month forms matter here, so a short regex serves (the full date
    pattern costs several times more per row). It runs once per distinct date text (li_dk), each
    counted as often as rows hold it.
    """
    short, day_first, month_first, examples = cur.execute(
        f"""
        WITH k AS (
            SELECT session_date, n, first_rows, x.a <> '' AS short, try_cast(x.a AS INTEGER) AS a,
                   try_cast(x.b AS INTEGER) AS b
            FROM (SELECT session_date, n, first_rows,
                         regexp_extract(session_date, {sql_literal(_SHORT_DATE_RE)}, ['a', 'b']) AS x FROM li_dk)
        )
        SELECT (SELECT coalesce(sum(n), 0) FROM k WHERE short),
               (SELECT coalesce(sum(n), 0) FROM k WHERE short AND a > 12 AND b <= 12),
               (SELECT coalesce(sum(n), 0) FROM k WHERE short AND b > 12 AND a <= 12),
               (SELECT min_by(session_date, row_no, 3)
                FROM (SELECT session_date, unnest(first_rows) AS row_no FROM k WHERE short))
        """
    ).fetchone()
    return DateEvidence(int(short), int(day_first), int(month_first), tuple(examples or ()))


def resolve_date_order(evidence: DateEvidence, requested: str | None, fallback: str | None = None) -> str | None:
    """The order to read d/m/y-like dates with, for the whole input.

    An order staff chose wins. Otherwise the dates decide when only one order fits them all; when
    none of them can tell (every part 12 or less) the saved mapping's order applies, else we ask.
    Never per row: a file is one order.
    """
    if requested:
        return requested
    if evidence.short_rows == 0:
        return None
    if evidence.day_first_rows and not evidence.month_first_rows:
        return "dmy"
    if evidence.month_first_rows and not evidence.day_first_rows:
        return "mdy"
    if fallback:
        return fallback
    raise DateOrderNeeded(list(evidence.examples), conflicting=bool(evidence.day_first_rows))


# -- the checks -----------------------------------------------------------------------------------

def _match_table(cur: Any, table: str, column: str, target: str, keys: dict[str, str], id_column: str) -> None:
    """``table``: each distinct text of ``column`` as written (``raw``, li_pr's ``{column}_raw``) with
    its cleaned text (named ``column``), the one ``target`` row it names (by the first of ``keys``
    that matches, live rows before archived ones), how many it could mean, and how many input rows
    hold it. Texts that are blank once cleaned are kept too (with no match), NULL among them."""
    matches = "\n              UNION ALL ".join(
        f"SELECT kn.raw, t.id, t.live, {rank} AS how FROM kn JOIN t ON t.{key} = kn.key"
        for rank, key in enumerate(keys, start=1))
    cur.execute(
        f"""
        CREATE TEMP TABLE {table} AS
        WITH texts AS (SELECT raw, {_clean('raw')} AS {column}, rows
                       FROM (SELECT {column}_raw AS raw, sum(rows) AS rows FROM li_pr GROUP BY ALL)),
        kn AS (SELECT raw, {norm_sql(column)} AS key FROM texts WHERE {column} IS NOT NULL),
        t AS (SELECT id, archived_at IS NULL AS live, {', '.join(f'{norm_sql(src)} AS {key}' for key, src in keys.items())}
              FROM {target}),
        m AS ({matches}),
        best AS (SELECT raw, id, live FROM m QUALIFY how = min(how) OVER (PARTITION BY raw)),
        pick AS (SELECT raw, count(DISTINCT id) AS n, count(DISTINCT id) FILTER (live) AS n_live,
                        CASE WHEN count(DISTINCT id) FILTER (live) = 1 THEN min(id) FILTER (live)
                             WHEN count(DISTINCT id) = 1 THEN min(id) END AS {id_column}
                 FROM best GROUP BY raw)
        SELECT texts.raw, texts.{column}, texts.rows, kn.key, pick.{id_column},
               coalesce(CASE WHEN pick.n_live >= 2 THEN pick.n_live ELSE pick.n END, 0) AS matches
        FROM texts LEFT JOIN kn USING (raw) LEFT JOIN pick USING (raw)
        """
    )


def _count_reasons(name: str, low: int) -> str:
    n, text = f"{name}_n", name
    below = "is negative" if low == 0 else f"must be at least {low}"
    return (f"CASE WHEN {text} IS NULL THEN NULL"
            f" WHEN {n} IS NULL THEN format('{name} ''{{}}'' is not a number', {text})"
            f" WHEN {n} <> floor({n}) THEN format('{name} ''{{}}'' is not a whole number', {text})"
            f" WHEN {n} < {low} THEN format('{name} {{}} {below}', {text})"
            f" WHEN {n} > {MAX_COUNT} THEN format('{name} {{}} is more than {MAX_COUNT}', {text}) END")


def _scale_reasons(name: str) -> str:
    n, text = f"{name}_n", name
    return (f"CASE WHEN {text} IS NULL THEN NULL"
            f" WHEN {n} IS NULL THEN format('{name} ''{{}}'' is not a number', {text})"
            f" WHEN {n} < 0 OR {n} > 10 THEN format('{name} {{}} is outside 0–10', {text})"
            f" WHEN {n} * 2 <> round({n} * 2) THEN format('{name} {{}} is not a whole or half point', {text}) END")


def _reasons(opts: CheckOptions) -> str:
    """Every reason that applies to a row, joined by a unit separator ('' when there is none)."""
    order_label = DATE_ORDER_LABELS.get(opts.date_order or "", "")
    create = "TRUE" if opts.create_clients else "FALSE"
    if opts.date_order is None:
        short = ("format('session_date ''{}'' could be day-first or month-first: write it as YYYY-MM-DD',"
                 " session_date)")
    else:
        short = f"format('session_date ''{{}}'' is not a valid date in the {order_label} order', session_date)"
    done, duration = "exercises_done", "duration_min"
    parts = [
        "shape_reason",
        "CASE WHEN client IS NULL THEN 'client is missing'"
        " WHEN client_id IS NOT NULL OR new_client_key IS NOT NULL THEN NULL"
        " WHEN client_matches > 1 THEN format('client ''{}'' matches {} clients: use the client code', client, client_matches)"
        f" WHEN {create} THEN format('client ''{{}}'' is too long to be a new client''s name', client)"
        " ELSE format('unknown client ''{}'': no client has this code, email or name', client) END",
        "CASE WHEN session_date IS NULL THEN 'session_date is missing'"
        f" WHEN d_raw IS NULL AND short_shape THEN {short}"
        " WHEN d_raw IS NULL OR d_raw < DATE '1900-01-01' THEN format('session_date ''{}'' is not a date we can read', session_date)"
        " WHEN d_raw > $as_of THEN format('session_date {} is in the future', d_raw) END",
        "CASE WHEN has_time AND t IS NULL"
        " THEN format('session time in ''{}'' is not a time we can read', coalesce(session_time, session_date)) END",
        "CASE WHEN routine IS NOT NULL AND named_routine_id IS NULL AND routine_matches > 1"
        " THEN format('routine ''{}'' matches {} routines: use the routine id', routine, routine_matches)"
        " WHEN routine IS NOT NULL AND named_routine_id IS NULL THEN format('unknown routine ''{}''', routine)"
        " WHEN routine IS NULL AND routine_id IS NULL AND client_id IS NOT NULL AND (d IS NOT NULL OR first_start IS NULL)"
        " THEN CASE WHEN cover_n > 1 THEN format('no routine given and the client had {} routines assigned on {}:"
        " name the routine', cover_n, d)"
        " ELSE format('no routine given and the client has {} active assignments: name the routine',"
        " coalesce(active_n, 0)) END"
        " WHEN routine IS NULL AND routine_id IS NULL AND new_client_key IS NOT NULL"
        " THEN 'no routine given and a new client has no assignment: name the routine' END",
        "CASE WHEN block IS NOT NULL AND routine_id IS NOT NULL AND block_items IS NULL"
        " THEN format('block ''{}'' is not a block of routine {}', block, routine_id) END",
        _count_reasons("exercises_done", COUNTS["exercises_done"]),
        _count_reasons("exercises_prescribed", COUNTS["exercises_prescribed"]),
        "CASE WHEN exercises_done_n > prescribed AND exercises_done_n BETWEEN 0 AND " + str(MAX_COUNT)
        + f" THEN format('exercises_done {{}} is more than exercises_prescribed {{}}', {done},"
        " CAST(prescribed AS BIGINT)) END",
        f"CASE WHEN {duration} IS NULL THEN NULL"
        f" WHEN duration_min_n IS NULL THEN format('duration_min ''{{}}'' is not a number', {duration})"
        f" WHEN duration_min_n < 0 THEN format('duration_min {{}} is negative', {duration})"
        f" WHEN duration_min_n > {MAX_DURATION_MIN} THEN format('duration_min {{}} is longer than a day', {duration}) END",
        *(_scale_reasons(s) for s in SCALES),
        f"CASE WHEN length(notes) > {MAX_NOTES_CHARS} THEN format('notes are {{:,}} characters long: at most"
        f" {MAX_NOTES_CHARS:,} are kept', length(notes)) END",
    ]
    return "concat_ws(chr(31), " + ",\n".join(parts) + ")"


def _may_fail() -> str:
    """TRUE for every row ``_reasons`` gives a reason (and perhaps for a few it gives none): a cheap
    test on the values, so that reasons are only worked out for those rows. Each term is TRUE
    (not NULL) whenever its part of ``_reasons`` yields a text; NULL counts as FALSE. One term per
    number (a few dozen tests on every row cost a noticeable share of the checks)."""
    def fails(name: str, test: str) -> str:  # text that did not read as a number, or a number failing test
        return f"NOT coalesce({test}, {name}_raw IS NULL)"

    terms = [
        "shape_reason IS NOT NULL",
        "(client_id IS NULL AND new_client_key IS NULL)",     # a missing client matches none
        "d IS NULL",                                          # missing, unread or out of range
        "(has_time AND t IS NULL)",
        "routine_id IS NULL",
        "(block IS NOT NULL AND block_items IS NULL)",
        *(fails(c, f"{c}_n BETWEEN {low} AND {MAX_COUNT} AND {c}_n = floor({c}_n)") for c, low in COUNTS.items()),
        f"(exercises_done_n > prescribed AND exercises_done_n BETWEEN 0 AND {MAX_COUNT})",
        fails("duration_min", f"duration_min_n BETWEEN 0 AND {MAX_DURATION_MIN}"),
        *(fails(c, f"{c}_n BETWEEN 0 AND 10 AND {c}_n * 2 = round({c}_n * 2)") for c in SCALES),
        f"coalesce(length(notes) > {MAX_NOTES_CHARS}, FALSE)",
    ]
    return " OR ".join(terms)


# The natural key of a session without a session id, in staged_sessions and in session_logs.
_NATURAL_KEY = ("client_id", "d", "t", "routine_id", "block", "done", "prescribed_i", "duration_min_n",
                "pain_before_n", "pain_after_n", "stiffness_n", "notes")
_STORED_KEY = ("client_id", "session_date", "session_time", "routine_id", "block", "exercises_done",
               "exercises_prescribed", "duration_min", "pain_before", "pain_after", "stiffness", "notes")
# staged_sessions's rows that are accepted: no reason, not a duplicate.
_ACCEPTED = "row_no NOT IN (SELECT row_no FROM li_drop)"
# Texts kept for every row (stored, or needed to name a new client); the others only for rejected rows.
_KEPT_TEXTS = ("client", "notes", "session_id", "block")
_BAD_TEXTS = tuple(f for f in FIELDS if f not in _KEPT_TEXTS)


def _row_hash() -> str:
    """The text of a row as a hash (the quarantine de-duplicates by it). A row without a block hashes
    as it did before the block field existed, so rows held in quarantine still match."""
    before = ", ".join(f for f in FIELDS if f != "block")
    return f"md5(to_json(CASE WHEN block IS NULL THEN [{before}] ELSE [{before}, block] END))"


def _assignment_tables(cur: Any) -> None:
    """Small per-client tables the row checks join to (so the big input is never the build side):
    li_asg the matched clients' assignments, li_ci per client, li_given per client and routine."""
    cur.execute(
        """
        CREATE TEMP TABLE li_asg AS
        SELECT client_id, routine_id, routine_version AS version, start_date,
               coalesce(end_date, start_date + 7 * weeks - 1) AS last_day, status
        FROM assignments WHERE client_id IN (SELECT client_id FROM li_cm WHERE client_id IS NOT NULL)
        """
    )
    cur.execute(
        """
        CREATE TEMP TABLE li_ci AS
        SELECT client_id, min(start_date) AS first_start, count(*) FILTER (status = 'active') AS active_n,
               min(routine_id) FILTER (status = 'active') AS active_routine,
               min(version) FILTER (status = 'active') AS active_version
        FROM li_asg GROUP BY client_id
        """
    )
    cur.execute(
        """
        CREATE TEMP TABLE li_given AS
        SELECT a.client_id, a.routine_id, min(a.version) AS version, count(DISTINCT a.version) AS versions,
               arg_min(a.version, a.start_date) AS first_version, any_value(i.n) AS items
        FROM li_asg a LEFT JOIN li_items i ON i.routine_id = a.routine_id AND i.version = a.version
        GROUP BY ALL
        """
    )


def _date_table(cur: Any, opts: CheckOptions) -> None:
    """li_dd: each distinct date text pair of li_dk read under the file's order (date, time, and
    the flags the reasons need), once per pair rather than once per row."""
    serial_ts = "TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(serial * 86400000000) AS BIGINT))"
    is_serial = f"serial BETWEEN {_EXCEL_SERIAL[0]} AND {_EXCEL_SERIAL[1]}"
    text_formats = "[" + ", ".join(sql_literal(f) for f in _TEXT_DATE_FORMATS) + "]"
    cur.execute(
        f"""
        CREATE TEMP TABLE li_dd AS
        SELECT sd_raw, st_raw, session_date, session_time,
               CASE WHEN session_date IS NULL THEN NULL
                    WHEN numeric_date THEN {_short_date(opts.date_order)}
                    WHEN {is_serial} THEN CAST({serial_ts} AS DATE)
                    WHEN regexp_full_match(session_date, '[0-9]{{8}}')
                        THEN CAST(try_strptime(session_date, '%Y%m%d') AS DATE)
                    ELSE CAST(try_strptime(session_date, {text_formats}) AS DATE)
               END AS d_raw,
               {_SHORT_SHAPE} AS short_shape,
               CASE WHEN session_time IS NOT NULL THEN clock_own
                    WHEN has_clock THEN clock_in_date
                    WHEN {is_serial} AND serial <> floor(serial) THEN CAST({serial_ts} AS TIME)
               END AS t,
               (session_time IS NOT NULL OR has_clock) AS has_time
        FROM li_dk
        """
    )


def _pair_table(cur: Any, opts: CheckOptions) -> None:
    """li_pair: each distinct (client, routine) text pair of the input, as written, with all that
    follows from the pair alone: the client and named routine matched (li_cm, li_rm), the client's
    assignments (li_ci) and what it was given of that routine (li_given). One join per row then
    brings them all."""
    create = "TRUE" if opts.create_clients else "FALSE"
    cur.execute("DROP TABLE IF EXISTS li_pair")
    cur.execute(
        f"""
        CREATE TEMP TABLE li_pair AS
        SELECT pr.client_raw, pr.routine_raw, cm.client, rm.routine,
               cm.client_id, coalesce(cm.matches, 0) AS client_matches,
               CASE WHEN {create} AND cm.matches = 0 AND length(cm.key) <= 120 THEN cm.key END AS new_client_key,
               rm.routine_id AS named_routine_id, coalesce(rm.matches, 0) AS routine_matches,
               ci.active_n, ci.first_start, ci.active_routine, ci.active_version,
               g.versions AS given_versions, g.version AS given_version, g.first_version AS given_first_version,
               g.items AS given_n, rt.current_version
        FROM li_pr pr
        LEFT JOIN li_cm cm ON cm.raw = pr.client_raw
        LEFT JOIN li_rm rm ON rm.raw = pr.routine_raw
        LEFT JOIN li_ci ci ON ci.client_id = cm.client_id
        LEFT JOIN li_given g ON g.client_id = cm.client_id AND g.routine_id = rm.routine_id
        LEFT JOIN routines rt ON rt.id = rm.routine_id
        """
    )


def _parse_sql(source: str = "li_p") -> str:
    """The SELECT reading each prepared row (of li_p, or ``source`` in its shape): its client and
    routine pair (li_pair), date and time (li_dd) joined by the texts the row holds."""
    return f"""
        SELECT p.* EXCLUDE (sd_raw, st_raw, client_raw, routine_raw), pr.* EXCLUDE (client_raw, routine_raw),
               dd.session_date, dd.session_time, dd.d_raw, dd.short_shape, dd.t, dd.has_time
        FROM {source} p
        LEFT JOIN li_pair pr ON pr.client_raw IS NOT DISTINCT FROM p.client_raw
                            AND pr.routine_raw IS NOT DISTINCT FROM p.routine_raw
        LEFT JOIN li_dd dd ON dd.sd_raw IS NOT DISTINCT FROM p.sd_raw AND dd.st_raw IS NOT DISTINCT FROM p.st_raw
    """


def _dated_sql(source: str = "li_p") -> str:
    return (f"SELECT *, CASE WHEN d_raw BETWEEN DATE '1900-01-01' AND $as_of THEN d_raw END AS d"
            f" FROM ({_parse_sql(source)})")


def _resolved_sql(opts: CheckOptions, source: str = "li_p") -> str:
    """Each row resolved: the routine and version it belongs to, the block of a day plan it names
    (``block_slot``, with its item count), the exercises prescribed (given, or the block's count, or
    the routine's), and ``may_fail`` (``_may_fail``)."""
    return f"""
        SELECT *, {_may_fail()} AS may_fail
        FROM (
            SELECT r.*, blocks.slot AS block_slot, blocks.n AS block_items,
                   coalesce(r.exercises_prescribed_n, blocks.n, r.given_items, items.n) AS prescribed
            FROM (
                SELECT b.*, cover.n AS cover_n,
                       CASE WHEN b.named_routine_id IS NOT NULL THEN b.named_routine_id
                            WHEN b.routine IS NOT NULL THEN NULL
                            WHEN cover.n = 1 THEN cover.routine_id
                            WHEN cover.n IS NULL AND b.active_n = 1 THEN b.active_routine END AS routine_id,
                       CASE WHEN b.named_routine_id IS NOT NULL THEN
                                CASE WHEN b.given_versions = 1 THEN b.given_version
                                     ELSE coalesce(dated.version, b.given_first_version, b.current_version) END
                            WHEN b.routine IS NOT NULL THEN NULL
                            WHEN cover.n = 1 THEN cover.version
                            WHEN cover.n IS NULL AND b.active_n = 1 THEN b.active_version END AS version,
                       CASE WHEN b.named_routine_id IS NOT NULL AND b.given_versions = 1
                            THEN b.given_n END AS given_items
                FROM ({_dated_sql(source)}) b
                LEFT JOIN li_cover cover ON cover.row_no = b.row_no
                LEFT JOIN li_dated dated ON dated.row_no = b.row_no
            ) r
            LEFT JOIN li_items items ON items.routine_id = r.routine_id AND items.version = r.version
            LEFT JOIN li_blocks blocks ON blocks.routine_id = r.routine_id AND blocks.version = r.version
                                      AND blocks.slot = lower(r.block)
        )
    """


def _resolve(cur: Any, opts: CheckOptions) -> None:
    """staged_sessions: each input row as the session it would be stored as (its client, date and
    time under the file's order, the routine and version it belongs to, the defaults that follow)
    and its hash ``h``; li_bad: the rows with a reason, with every reason and their texts.

    Two kinds of row need a look at the assignment dates, and most files have neither: a row that
    names no routine (the client's assignment that day decides), and a row naming a routine the
    client was given in more than one version (the one started last on or before the day). They
    are resolved first, into small tables, re-reading only those rows (none when there are none).

    staged_sessions holds every row, with as few columns as the later steps allow (each costs for
    every row): the values to store and ``may_fail`` (``_may_fail``). The reasons are then worked out in a
    second pass over only the rows that may fail, into li_bad, with their texts as cleaned (the
    quarantine keeps them for staff to fix) and ``row_hash``. A row is rejected when it is in li_bad.

    ``h`` groups equal rows of the input: the session id, or else the natural key. Rows with equal
    texts have equal values, so rejected rows that are the same fall into the same group too.
    """
    for name in ("li_asg", "li_ci", "li_given", "li_items", "li_blocks", "li_cover", "li_dated", "li_dd", "li_pair"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    _date_table(cur, opts)
    cur.execute("CREATE TEMP TABLE li_items AS SELECT routine_id, version, count(*) AS n FROM routine_items GROUP BY ALL")
    cur.execute("CREATE TEMP TABLE li_blocks AS SELECT routine_id, version, lower(slot) AS slot, count(*) AS n"
                " FROM routine_items WHERE slot IS NOT NULL GROUP BY ALL")
    _assignment_tables(cur)
    _pair_table(cur, opts)
    unnamed = cur.execute("SELECT coalesce(sum(rows), 0) FROM li_rm WHERE routine IS NULL").fetchone()[0]
    cur.execute(
        f"""
        CREATE TEMP TABLE li_cover AS
        SELECT b.row_no, count(*) AS n, min(a.routine_id) AS routine_id, min(a.version) AS version
        FROM ({_dated_sql()}) b JOIN li_asg a ON a.client_id = b.client_id AND b.d BETWEEN a.start_date AND a.last_day
        WHERE b.routine IS NULL AND {'TRUE' if unnamed else 'FALSE'}
        GROUP BY b.row_no
        """,
        {"as_of": opts.as_of},
    )
    several = cur.execute("SELECT count(*) FROM li_given WHERE versions > 1").fetchone()[0]
    cur.execute(
        f"""
        CREATE TEMP TABLE li_dated AS
        SELECT b.row_no, arg_max(a.version, a.start_date) AS version
        FROM ({_dated_sql()}) b
        JOIN li_given g ON g.client_id = b.client_id AND g.routine_id = b.named_routine_id AND g.versions > 1
        JOIN li_asg a ON a.client_id = b.client_id AND a.routine_id = b.named_routine_id AND a.start_date <= b.d
        WHERE {'TRUE' if several else 'FALSE'}
        GROUP BY b.row_no
        """,
        {"as_of": opts.as_of},
    )
    cur.execute(
        f"""
        CREATE TEMP TABLE staged_sessions AS
        SELECT *, CASE WHEN session_id IS NOT NULL THEN hash(session_id)
                       ELSE hash(new_client_key, {', '.join(_NATURAL_KEY)}) END AS h
        FROM (
            SELECT row_no, src, client, notes, session_id, block_slot AS block, client_id, new_client_key, d, t, routine_id,
                   try_cast(exercises_done_n AS INTEGER) AS done, try_cast(prescribed AS INTEGER) AS prescribed_i,
                   duration_min_n, pain_before_n, pain_after_n, stiffness_n,
                   (first_start IS NULL OR d < first_start) AS early, may_fail, CAST(NULL AS VARCHAR) AS red_flags
            FROM ({_resolved_sql(opts)})
        )
        """,
        {"as_of": opts.as_of},
    )
    tag_rows(cur, "staged_sessions")  # warning signs in the notes, each distinct note once
    maybe = "(SELECT * FROM li_in WHERE row_no IN (SELECT row_no FROM staged_sessions WHERE may_fail))"
    number_texts = ", ".join(f"{_clean(f + '_raw')} AS {f}" for f in _NUMBERS)
    cur.execute(
        f"""
        CREATE TEMP TABLE li_bad AS
        SELECT row_no, src, session_id IS NOT NULL AS has_sid, {', '.join(FIELDS)}, reasons_text,
               CAST(NULL AS VARCHAR) AS red_flags, {_row_hash()} AS row_hash
        FROM (SELECT *, nullif({_reasons(opts)}, '') AS reasons_text
              FROM (SELECT *, {number_texts} FROM ({_resolved_sql(opts, f'({_prepared_sql(maybe)})')})))
        WHERE reasons_text IS NOT NULL
        """,
        {"as_of": opts.as_of},
    )
    tag_rows(cur, "li_bad")


def _verdict(cur: Any, opts: CheckOptions) -> None:
    """li_dup: the rows that are duplicates; the view li_out joins staged_sessions, li_bad and li_dup
    into each row's values, texts, status (accepted | rejected | duplicate) and reasons (a list).

    Within the input the first of equal rows wins: rows are grouped by their hash ``h`` first and
    then, for the few whose hashes meet, column by column. A row with a session id is a duplicate
    when its source already has that id; a valid row without one when a stored log has the same
    natural key (client, date, time, routine and values, from any source), found by a join on all of
    them, of only the stored logs of the input's clients on the input's days (picked first by two
    integer columns, cheap to read); a rejected row without one when the same row is already held
    in quarantine for this source (file imports only).
    """
    kind = "CASE WHEN session_id IS NOT NULL THEN 'sid' WHEN bad THEN 'bad' ELSE 'ok' END"
    same_in_input = ", ".join(f"CASE WHEN session_id IS NULL AND NOT bad THEN {c} END"
                              for c in ("new_client_key", *_NATURAL_KEY))
    same_as_stored = " AND ".join(f"s.{s} IS NOT DISTINCT FROM v.{n}" for s, n in zip(_STORED_KEY, _NATURAL_KEY))
    quarantine = (
        """
            UNION ALL
            SELECT row_no FROM staged_sessions WHERE session_id IN (
                SELECT q.source_session_id FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
                WHERE b.source = $source AND b.undone_at IS NULL AND q.source_session_id IS NOT NULL)
            UNION ALL
            SELECT row_no FROM li_bad WHERE NOT has_sid AND row_hash IN (
                SELECT q.row_hash FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
                WHERE b.source = $source AND b.undone_at IS NULL AND q.row_hash IS NOT NULL)
        """ if opts.quarantine_dedupe else ""
    )
    valid = "v.session_id IS NULL AND v.client_id IS NOT NULL AND v.row_no NOT IN (SELECT row_no FROM li_bad)"
    low, high = cur.execute(f"SELECT min(d), max(d) FROM staged_sessions v WHERE {valid}").fetchone()
    cur.execute(
        f"""
        CREATE TEMP TABLE li_dup AS
        WITH same AS (
            SELECT v.*, b.row_hash, b.row_no IS NOT NULL AS bad
            FROM staged_sessions v LEFT JOIN li_bad b ON b.row_no = v.row_no
            WHERE v.h IN (SELECT h FROM staged_sessions GROUP BY h HAVING count(*) > 1)
        ),
        firsts AS (
            SELECT min(row_no) AS row_no FROM same
            GROUP BY {kind}, CASE WHEN session_id IS NOT NULL THEN session_id ELSE row_hash END, {same_in_input}
        )
        SELECT DISTINCT row_no FROM (
            SELECT row_no FROM same WHERE row_no NOT IN (SELECT row_no FROM firsts)
            UNION ALL
            SELECT row_no FROM staged_sessions WHERE session_id IN (
                SELECT source_session_id FROM session_logs WHERE source = $source AND source_session_id IS NOT NULL)
            {quarantine}
            UNION ALL
            SELECT v.row_no FROM staged_sessions v
            JOIN (SELECT * FROM session_logs
                  WHERE session_date BETWEEN $low AND $high
                    AND (client_id, session_date) IN (SELECT client_id, d FROM staged_sessions v WHERE {valid})) s
              ON s.client_id = v.client_id AND s.session_date = v.d AND {same_as_stored}
            WHERE {valid}
        )
        """,
        {"source": opts.source, "low": low, "high": high},
    )
    # The rows not stored, rejected or duplicate (few): the accepted rows are all the others.
    cur.execute("CREATE TEMP TABLE li_drop AS SELECT row_no FROM li_bad UNION SELECT row_no FROM li_dup")
    texts = ", ".join(f"b.{f}" for f in _BAD_TEXTS)
    cur.execute(
        f"""
        CREATE TEMP VIEW li_out AS
        SELECT v.* EXCLUDE (early, may_fail), {texts}, b.reasons_text, b.row_hash,
               v.early AND b.row_no IS NULL AS before_first,
               CASE WHEN d.row_no IS NOT NULL THEN 'duplicate' WHEN b.row_no IS NULL THEN 'accepted'
                    ELSE 'rejected' END AS status,
               CASE WHEN b.row_no IS NULL THEN []::VARCHAR[] ELSE string_split(b.reasons_text, chr(31)) END AS reasons
        FROM staged_sessions v LEFT JOIN li_bad b ON b.row_no = v.row_no LEFT JOIN li_dup d ON d.row_no = v.row_no
        """
    )
    # The rejected rows (few): li_bad holds all a rejected row's texts, so staged_sessions is not read.
    cur.execute(
        """
        CREATE TEMP VIEW li_rejected AS
        SELECT b.* EXCLUDE (has_sid), string_split(b.reasons_text, chr(31)) AS reasons
        FROM li_bad b WHERE b.row_no NOT IN (SELECT row_no FROM li_dup)
        """
    )


def _unmade_clients(cur: Any, opts: CheckOptions) -> None:
    """A new client is only created for rows that are kept; their other rows say the client is unknown.
    (Only when new clients may be created: otherwise no row has a new client's key.)"""
    if not opts.create_clients:
        return
    cur.execute("DROP TABLE IF EXISTS li_unmade")
    cur.execute(
        """
        CREATE TEMP TABLE li_unmade AS
        SELECT row_no, client FROM li_out
        WHERE status = 'rejected' AND new_client_key IS NOT NULL
          AND new_client_key NOT IN (SELECT new_client_key FROM li_out
                                     WHERE status = 'accepted' AND new_client_key IS NOT NULL)
        """
    )
    cur.execute(
        """
        UPDATE li_bad SET reasons_text = concat_ws(chr(31),
            format('unknown client ''{}'': no client has this code, email or name', u.client), li_bad.reasons_text)
        FROM li_unmade u WHERE u.row_no = li_bad.row_no
        """
    )


def check_rows(cur: Any, opts: CheckOptions, progress: Progress = _no_progress) -> CheckCounts:
    """Validate, resolve and de-duplicate the prepared rows (``prepare_rows``) into ``li_out``;
    writes nothing. Runs on the caller's cursor so a whole import shares one transaction."""
    # Each distinct (client, routine) text pair with its rows: the input is read once for both.
    cur.execute("CREATE TEMP TABLE li_pr AS SELECT client_raw, routine_raw, count(*) AS rows FROM li_p GROUP BY ALL")
    _match_table(cur, "li_cm", "client", opts.clients_sql(),
                 {"code_k": "code", "email_k": "email", "name_k": "display_name"}, "client_id")
    _match_table(cur, "li_rm", "routine", "routines", {"id_k": "id", "name_k": "name"}, "routine_id")
    progress(0.35, "checking rows")
    _resolve(cur, opts)
    progress(0.55, "looking for duplicates")
    _verdict(cur, opts)
    _unmade_clients(cur, opts)
    read, rejected, duplicates = cur.execute(
        "SELECT (SELECT count(*) FROM staged_sessions), (SELECT count(*) FROM li_rejected), (SELECT count(*) FROM li_dup)"
    ).fetchone()
    new_clients, before_first, red_flagged = cur.execute(
        f"""
        SELECT count(DISTINCT new_client_key), count(*) FILTER (early), count(*) FILTER (len(list_filter(string_split(red_flags, ','), lambda tag: NOT starts_with(tag, 'no_'))) > 0)
        FROM staged_sessions WHERE {_ACCEPTED}
        """
    ).fetchone()
    row = (read, read - rejected - duplicates, rejected, duplicates, new_clients, before_first, red_flagged)
    return CheckCounts(*row)


# -- writing ------------------------------------------------------------------------------------

def create_missing_clients(cur: Any, store: Store, actor: str, site: str) -> list[tuple[int, str, str]]:
    """Create the new clients the accepted rows of ``li_out`` name; returns (id, code, name).

    Minimal clients: a generated C00000-style code (continuing core.practice.clients' numbering), the name
    as the log wrote it, and the email when the text is one, at ``site``. Runs in the import's
    transaction, so an import that fails creates nobody.
    """
    from core.access.sites import move_client
    from core.practice.clients import record_client_event
    from core.practice.clients import next_client_code

    start = int(next_client_code(store)[1:])
    now = utcnow()
    cur.execute("DROP TABLE IF EXISTS li_newc")
    cur.execute(
        f"""
        CREATE TEMP TABLE li_newc AS
        SELECT new_client_key AS key, name,
               'C' || lpad(CAST({start} + row_number() OVER (ORDER BY first_row) - 1 AS VARCHAR), 5, '0') AS code,
               CASE WHEN regexp_full_match(name, {sql_literal(_EMAIL_SQL)}) THEN name END AS email
        FROM (SELECT new_client_key, min(row_no) AS first_row,
                     regexp_replace(arg_min(client, row_no), '\\s+', ' ', 'g') AS name
              FROM li_out WHERE status = 'accepted' AND new_client_key IS NOT NULL GROUP BY new_client_key)
        """
    )
    codes = [code for (code,) in cur.execute("SELECT code FROM li_newc ORDER BY code").fetchall()]
    cur.execute(
        """
        INSERT INTO clients (id, code, display_name, email, postpartum, created_at, updated_at)
        SELECT i.id, n.code, n.name, n.email, FALSE, $now, $now
        FROM li_newc n JOIN (SELECT unnest($ids) AS id, unnest($codes) AS code) i USING (code) ORDER BY n.code
        """,
        {"now": now, "ids": next_ids(cur, "client_id_seq", len(codes)), "codes": codes},
    )
    created = cur.execute("SELECT c.id, c.code, c.display_name FROM clients c JOIN li_newc n USING (code)"
                          " ORDER BY c.code").fetchall()
    for client_id, _, _ in created:
        move_client(cur, client_id, site)
        record_client_event(cur, client_id, "created", actor)
    cur.execute(
        "UPDATE staged_sessions SET client_id = c.id FROM li_newc n JOIN clients c ON c.code = n.code"
        " WHERE staged_sessions.new_client_key = n.key"
    )
    return created


def insert_accepted(cur: Any, source: str, batch_id: int | None, actor: str) -> int | None:
    """Store the accepted rows of ``li_out`` as session logs, their warning signs judged for the
    client on the session's date (core/sessions/red_flags.py), and add them to the read model in
    the same transaction (only them: core/db/figures.add_sessions); returns the first row's id
    (None when no row is accepted).

    The ids follow the input's row order, the entry order some figures break ties with: a parallel
    INSERT would draw them from the sequence out of order, so the ids from the first accepted row
    to the last are reserved as one block and each row takes its place in it by its row number
    (unique: the row's place in its input). The numbers of rejected and duplicate rows in between
    stay unused; numbering by ``row_number()`` instead cost a quarter more time to insert.
    """
    low, high = cur.execute(f"SELECT min(row_no), max(row_no) FROM staged_sessions WHERE {_ACCEPTED}").fetchone()
    if low is None:
        return None
    first = reserve_ids(cur, "session_log_id_seq", high - low + 1)
    level, pregnant = judged_sql("s.red_flags", "c", "s.d")
    cur.execute(
        f"""
        INSERT INTO session_logs (id, client_id, routine_id, session_date, session_time, exercises_done,
                                  exercises_prescribed, duration_min, pain_before, pain_after, stiffness, notes,
                                  red_flags, red_flag_level, red_flag_pregnant, before_first_assignment, source,
                                  source_session_id, batch_id, entered_by, created_at, block)
        SELECT $first + s.row_no - $low, s.client_id, s.routine_id, s.d, s.t, s.done, s.prescribed_i, s.duration_min_n,
               s.pain_before_n, s.pain_after_n, s.stiffness_n, s.notes, s.red_flags, {level}, {pregnant}, s.early,
               $source, s.session_id, $batch, $actor, $now, s.block
        FROM staged_sessions s LEFT JOIN clients c ON c.id = s.client_id
        WHERE s.{_ACCEPTED} ORDER BY s.row_no
        """,
        {"first": first, "low": low, "source": source, "batch": batch_id, "actor": actor, "now": utcnow()},
    )
    add_sessions(cur, f"id >= {int(first)}")
    return first


# -- manual entry -------------------------------------------------------------------------------

MANUAL_SOURCE = "manual"


@dataclass
class LogOutcome:
    """What happened to one session typed in by staff."""

    status: str                     # accepted | rejected | duplicate
    reasons: list[str] = field(default_factory=list)
    log_id: int | None = None
    red_flags: list[str] = field(default_factory=list)
    before_first_assignment: bool = False


def as_text(value: Any) -> str | None:
    """A canonical field's value as the text an export would hold (None for blanks and NaN)."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def stage_values(cur: Any, rows: list[Mapping[str, Any]], row_numbers: list[int]) -> None:
    """Make ``li_in`` from canonical values given as Python mappings (field -> value)."""
    frame = pd.DataFrame(
        {"row_no": pd.Series(row_numbers, dtype="int64"),
         **{f: pd.Series([as_text(r.get(f)) for r in rows], dtype="object") for f in FIELDS}}
    )
    cur.execute("DROP TABLE IF EXISTS li_in")
    cur.register("li_values", frame)
    cols = ", ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in FIELDS)
    cur.execute(f"CREATE TEMP TABLE li_in AS SELECT row_no, {cols}, CAST(NULL AS VARCHAR) AS shape_reason,"
                " CAST(NULL AS BIGINT) AS src FROM li_values")
    cur.unregister("li_values")


T = TypeVar("T")
Mark = tuple[str, int]   # (SESSION_LOGS, Store.change_mark(SESSION_LOGS)): the logs rows were checked against


def checked_again(store: Store, write: Callable[[Mark], T], on_retry: Callable[[], None] = lambda: None,
                  *, writes: bool = True) -> T:
    """Run ``write(checked_against)``, which checks new session logs and stores them in a transaction
    given ``unchanged_since=checked_against``, holding the session logs' turn among the processes
    (``Store.turn``) from before its checks to its commit (``writes``; not for a preview). Again from
    its checks when a writer that takes no turn stored session logs in between (``ChecksOutdated``)
    or took the same session id (the database's unique key): checking again then finds what the
    other stored, so a session is stored once, whichever way it came in (an import, manual entry, a
    check-in). Up to CHECK_ATTEMPTS tries; DuckDB has one writing process, whose writers take turns
    (WRITE_LOCK), so there the first try stands."""
    def once() -> T:
        with store.turn(SESSION_LOGS) if writes else nullcontext():
            return write((SESSION_LOGS, store.change_mark(SESSION_LOGS)))

    try:
        return again_on_conflict(once, CHECK_ATTEMPTS, on_retry)
    except WriteConflict as exc:
        raise WriteConflict("other servers or commands kept storing session logs while these were checked:"
                            " nothing was saved; try again") from exc


def log_session(store: Store, values: Mapping[str, Any], actor: str, as_of: date | None = None) -> LogOutcome:
    """Log one session typed in by staff, through exactly the checks an import uses.

    ``values`` holds canonical fields (``client`` is a code, email or name; dates may be
    ``date`` objects). Nothing is written unless the session is accepted; the same session
    stored meanwhile by another server is a duplicate (``checked_again``).
    """
    require_role(store, actor, STAFF_WRITERS)
    opts = CheckOptions(source=MANUAL_SOURCE, as_of=as_of or clock.today(), sites=allowed_sites(store, actor))
    return checked_again(store, lambda checked_against: _log_once(store, values, actor, opts, checked_against))


def _log_once(store: Store, values: Mapping[str, Any], actor: str, opts: CheckOptions, checked_against: Mark) -> LogOutcome:
    """One try of ``log_session``."""
    with WRITE_LOCK, store.transaction(touches=(SESSION_LOGS, ACCOUNTS), clients=(),
                                       unchanged_since=checked_against) as cur:
        stage_values(cur, [values], [1])
        prepare_rows(cur)
        check_rows(cur, opts)
        status, reasons, flags, before, client_id = cur.execute(
            "SELECT status, reasons, red_flags, before_first, client_id FROM li_out").fetchone()
        log_id = None
        if status == "accepted":
            log_id = insert_accepted(cur, MANUAL_SOURCE, None, actor)
            audit_in(cur, actor, "session_logged", {"log": log_id, "client": str(values.get("client"))})
    return LogOutcome(status, list(reasons or []), log_id, signs_mentioned(parse_tags(flags)), bool(before))


def client_sessions(store: Store, client_code: str, limit: int = 20) -> pd.DataFrame:
    """A client's latest logged sessions, newest first, for the client page."""
    return store.query(
        """
        SELECT s.session_date, s.session_time, coalesce(r.name, s.routine_id) AS routine, s.exercises_done,
               s.exercises_prescribed, s.duration_min, s.pain_before, s.pain_after, s.stiffness, s.notes,
               s.red_flags, s.before_first_assignment, s.source
        FROM session_logs s JOIN clients c ON c.id = s.client_id LEFT JOIN routines r ON r.id = s.routine_id
        WHERE lower(c.code) = lower(?)
        ORDER BY s.session_date DESC, s.session_time DESC NULLS LAST, s.id DESC LIMIT ?
        """,
        [client_code, limit],
    )
