"""Session logs: the one validation, matching and de-duplication path every log goes through.

A file import, a quarantined row that staff fixed, and a session typed into the client page all
become rows of the same canonical shape (``FIELDS``, text as the source wrote it) in a temporary
table ``li_in``; ``prepare_rows`` reads their texts, ``check_rows`` validates, resolves and
de-duplicates them in a few set-based DuckDB statements and leaves the verdict per row in
``li_out``. There is no second validator.

The rules (docs/import-format.md):

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

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from core.auth import STAFF_WRITERS, audit_in, require_role
from core.red_flags import parse_tags, red_flags_sql
from core.store import Store, utcnow

FIELDS: tuple[str, ...] = (
    "client", "session_date", "session_time", "routine", "exercises_done", "exercises_prescribed",
    "duration_min", "pain_before", "pain_after", "stiffness", "notes", "session_id",
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
}
DATE_ORDERS: tuple[str, ...] = ("dmy", "mdy", "ymd")
DATE_ORDER_LABELS = {"dmy": "day-first (31/12/2024)", "mdy": "month-first (12/31/2024)",
                     "ymd": "year-first (24/12/31)"}

MAX_COUNT = 200            # exercises in one session; more is a typo, and keeps INTEGER safe
MAX_DURATION_MIN = 1440    # a session cannot last longer than a day

# One process writes the database; imports, fixes and manual entries take turns so two of them
# cannot both decide the same row is new.
WRITE_LOCK = threading.RLock()

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

def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
    return f"regexp_extract({column}, {_lit(_DATE_RE)}, ['a', 'b', 'c', 'hh', 'mi', 'ss', 'ap'])"


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

_WORK_TABLES = ("li_status", "li_v", "li_cm", "li_rm", "li_cover", "li_dated", "li_asg", "li_ci", "li_given",
                "li_items", "li_dk", "li_dd")


def prepare_rows(cur: Any) -> None:
    """li_p, a view over li_in: texts trimmed (blank is NULL), numbers read; and li_dk, each
    distinct (session_date, session_time) text pair of the input with its date split into parts.

    A file holds far fewer distinct dates than rows, so the date and time patterns run once per
    distinct text and the rows join back to them (li_p's ``sd_raw``/``st_raw`` are the join keys:
    the texts as the file wrote them). li_p is a view, not a table: each later statement reads only
    the columns it needs.

    ``li_in`` must have ``row_no`` (unique), ``src`` (where the row came from, or NULL), the text
    columns in ``FIELDS`` and ``shape_reason`` (a problem found while reading the row, or NULL).
    """
    cur.execute("DROP VIEW IF EXISTS li_out")
    for name in _WORK_TABLES:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    cleaned = ", ".join(f"{_clean(f)} AS {f}" for f in FIELDS if f not in _DATE_FIELDS)
    numbers = ", ".join(f"{_number(f, scale=f in SCALES)} AS {f}_n"
                        for f in ("exercises_done", "exercises_prescribed", "duration_min", *SCALES))
    cur.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW li_p AS
        SELECT *, {numbers}
        FROM (SELECT row_no, src, shape_reason, session_date AS sd_raw, session_time AS st_raw, {cleaned} FROM li_in)
        """
    )
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
                            THEN regexp_extract(session_time, {_lit(_TIME_RE)}, ['hh', 'mi', 'ss', 'ap']) END AS tm,
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
                         regexp_extract(session_date, {_lit(_SHORT_DATE_RE)}, ['a', 'b']) AS x FROM li_dk)
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
    """``table``: each distinct text of ``column`` with the one ``target`` row it names (by the
    first of ``keys`` that matches, live rows before archived ones) and how many it could mean."""
    matches = "\n              UNION ALL ".join(
        f"SELECT kn.raw, t.id, t.live, {rank} AS how FROM kn JOIN t ON t.{key} = kn.key"
        for rank, key in enumerate(keys, start=1))
    cur.execute(
        f"""
        CREATE TEMP TABLE {table} AS
        WITH kn AS (SELECT raw, {norm_sql('raw')} AS key
                    FROM (SELECT DISTINCT {column} AS raw FROM li_p) WHERE raw IS NOT NULL),
        t AS (SELECT id, archived_at IS NULL AS live, {', '.join(f'{norm_sql(src)} AS {key}' for key, src in keys.items())}
              FROM {target}),
        m AS ({matches}),
        best AS (SELECT raw, id, live FROM m QUALIFY how = min(how) OVER (PARTITION BY raw)),
        pick AS (SELECT raw, count(DISTINCT id) AS n, count(DISTINCT id) FILTER (live) AS n_live,
                        CASE WHEN count(DISTINCT id) FILTER (live) = 1 THEN min(id) FILTER (live)
                             WHEN count(DISTINCT id) = 1 THEN min(id) END AS {id_column}
                 FROM best GROUP BY raw)
        SELECT kn.raw, kn.key, pick.{id_column},
               coalesce(CASE WHEN pick.n_live >= 2 THEN pick.n_live ELSE pick.n END, 0) AS matches
        FROM kn LEFT JOIN pick USING (raw)
        """
    )


def _count_reasons(name: str, low: int) -> str:
    n = f"{name}_n"
    below = "is negative" if low == 0 else f"must be at least {low}"
    return (f"CASE WHEN {name} IS NULL THEN NULL"
            f" WHEN {n} IS NULL THEN format('{name} ''{{}}'' is not a number', {name})"
            f" WHEN {n} <> floor({n}) THEN format('{name} ''{{}}'' is not a whole number', {name})"
            f" WHEN {n} < {low} THEN format('{name} {{}} {below}', {name})"
            f" WHEN {n} > {MAX_COUNT} THEN format('{name} {{}} is more than {MAX_COUNT}', {name}) END")


def _scale_reasons(name: str) -> str:
    n = f"{name}_n"
    return (f"CASE WHEN {name} IS NULL THEN NULL"
            f" WHEN {n} IS NULL THEN format('{name} ''{{}}'' is not a number', {name})"
            f" WHEN {n} < 0 OR {n} > 10 THEN format('{name} {{}} is outside 0–10', {name})"
            f" WHEN {n} * 2 <> round({n} * 2) THEN format('{name} {{}} is not a whole or half point', {name}) END")


def _reasons(opts: CheckOptions) -> str:
    """Every reason that applies to a row, joined by a unit separator ('' when there is none)."""
    order_label = DATE_ORDER_LABELS.get(opts.date_order or "", "")
    create = "TRUE" if opts.create_clients else "FALSE"
    if opts.date_order is None:
        short = ("format('session_date ''{}'' could be day-first or month-first: write it as YYYY-MM-DD',"
                 " session_date)")
    else:
        short = f"format('session_date ''{{}}'' is not a valid date in the {order_label} order', session_date)"
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
        _count_reasons("exercises_done", COUNTS["exercises_done"]),
        _count_reasons("exercises_prescribed", COUNTS["exercises_prescribed"]),
        "CASE WHEN exercises_done_n > prescribed AND exercises_done_n BETWEEN 0 AND " + str(MAX_COUNT)
        + " THEN format('exercises_done {} is more than exercises_prescribed {}', exercises_done,"
        " CAST(prescribed AS BIGINT)) END",
        "CASE WHEN duration_min IS NULL THEN NULL"
        " WHEN duration_min_n IS NULL THEN format('duration_min ''{}'' is not a number', duration_min)"
        " WHEN duration_min_n < 0 THEN format('duration_min {} is negative', duration_min)"
        f" WHEN duration_min_n > {MAX_DURATION_MIN} THEN format('duration_min {{}} is longer than a day', duration_min) END",
        *(_scale_reasons(s) for s in SCALES),
    ]
    return "concat_ws(chr(31), " + ",\n".join(parts) + ")"


# The natural key of a session without a session id, in li_v and in session_logs.
_NATURAL_KEY = ("client_id", "d", "t", "routine_id", "done", "prescribed_i", "duration_min_n",
                "pain_before_n", "pain_after_n", "stiffness_n", "notes")
_STORED_KEY = ("client_id", "session_date", "session_time", "routine_id", "exercises_done", "exercises_prescribed",
               "duration_min", "pain_before", "pain_after", "stiffness", "notes")
# Texts kept for every row (stored, or needed to name a new client); the others only for rejected rows.
_KEPT_TEXTS = ("client", "notes", "session_id")


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
    text_formats = "[" + ", ".join(_lit(f) for f in _TEXT_DATE_FORMATS) + "]"
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


def _parse_sql(opts: CheckOptions) -> str:
    """The SELECT reading each prepared row: client and named routine matched, date and time
    (li_dd) joined by the texts the row holds."""
    create = "TRUE" if opts.create_clients else "FALSE"
    return f"""
        SELECT p.* EXCLUDE (sd_raw, st_raw), dd.session_date, dd.session_time,
               cm.client_id, coalesce(cm.matches, 0) AS client_matches,
               CASE WHEN {create} AND cm.matches = 0 AND length(cm.key) <= 120 THEN cm.key END AS new_client_key,
               rm.routine_id AS named_routine_id, coalesce(rm.matches, 0) AS routine_matches,
               dd.d_raw, dd.short_shape, dd.t, dd.has_time
        FROM li_p p
        LEFT JOIN li_cm cm ON cm.raw = p.client
        LEFT JOIN li_rm rm ON rm.raw = p.routine
        LEFT JOIN li_dd dd ON dd.sd_raw IS NOT DISTINCT FROM p.sd_raw AND dd.st_raw IS NOT DISTINCT FROM p.st_raw
    """


def _resolve(cur: Any, opts: CheckOptions) -> None:
    """li_v: each row's client, date and time under the file's order, the routine and version it
    belongs to, the defaults that follow, every reason it cannot be stored, and its keys.

    Two kinds of row need a look at the assignment dates, and most files have neither: a row that
    names no routine (the client's assignment that day decides), and a row naming a routine the
    client was given in more than one version (the one started last on or before the day). They
    are resolved first, into small tables, re-reading only those rows.
    """
    for name in ("li_asg", "li_ci", "li_given", "li_items", "li_cover", "li_dated", "li_dd"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    _date_table(cur, opts)
    cur.execute("CREATE TEMP TABLE li_items AS SELECT routine_id, version, count(*) AS n FROM routine_items GROUP BY ALL")
    _assignment_tables(cur)
    dated = f"SELECT *, CASE WHEN d_raw BETWEEN DATE '1900-01-01' AND $as_of THEN d_raw END AS d FROM ({_parse_sql(opts)})"
    cur.execute(
        f"""
        CREATE TEMP TABLE li_cover AS
        SELECT b.row_no, count(*) AS n, min(a.routine_id) AS routine_id, min(a.version) AS version
        FROM ({dated}) b JOIN li_asg a ON a.client_id = b.client_id AND b.d BETWEEN a.start_date AND a.last_day
        WHERE b.routine IS NULL
        GROUP BY b.row_no
        """,
        {"as_of": opts.as_of},
    )
    several = cur.execute("SELECT count(*) FROM li_given WHERE versions > 1").fetchone()[0]
    cur.execute(
        f"""
        CREATE TEMP TABLE li_dated AS
        SELECT b.row_no, arg_max(a.version, a.start_date) AS version
        FROM ({dated}) b
        JOIN li_given g ON g.client_id = b.client_id AND g.routine_id = b.named_routine_id AND g.versions > 1
        JOIN li_asg a ON a.client_id = b.client_id AND a.routine_id = b.named_routine_id AND a.start_date <= b.d
        WHERE {'TRUE' if several else 'FALSE'}
        GROUP BY b.row_no
        """,
        {"as_of": opts.as_of},
    )
    texts = ", ".join(f if f in _KEPT_TEXTS else f"CASE WHEN reasons_text <> '' THEN {f} END AS {f}" for f in FIELDS)
    cur.execute(
        f"""
        CREATE TEMP TABLE li_v AS
        WITH r AS (
            SELECT b.*, cover.n AS cover_n, ci.active_n, ci.first_start,
                   CASE WHEN b.named_routine_id IS NOT NULL THEN b.named_routine_id
                        WHEN b.routine IS NOT NULL THEN NULL
                        WHEN cover.n = 1 THEN cover.routine_id
                        WHEN cover.n IS NULL AND ci.active_n = 1 THEN ci.active_routine END AS routine_id,
                   CASE WHEN b.named_routine_id IS NOT NULL THEN
                            CASE WHEN g.versions = 1 THEN g.version
                                 ELSE coalesce(dated.version, g.first_version, rt.current_version) END
                        WHEN b.routine IS NOT NULL THEN NULL
                        WHEN cover.n = 1 THEN cover.version
                        WHEN cover.n IS NULL AND ci.active_n = 1 THEN ci.active_version END AS version,
                   CASE WHEN b.named_routine_id IS NOT NULL AND g.versions = 1 THEN g.items END AS given_items
            FROM ({dated}) b
            LEFT JOIN li_cover cover ON cover.row_no = b.row_no
            LEFT JOIN li_dated dated ON dated.row_no = b.row_no
            LEFT JOIN li_ci ci ON ci.client_id = b.client_id
            LEFT JOIN li_given g ON g.client_id = b.client_id AND g.routine_id = b.named_routine_id
            LEFT JOIN routines rt ON rt.id = b.named_routine_id
        ),
        checked AS (
            SELECT *, {_reasons(opts)} AS reasons_text
            FROM (SELECT r.*, coalesce(r.exercises_prescribed_n, r.given_items, items.n) AS prescribed
                  FROM r LEFT JOIN li_items items ON items.routine_id = r.routine_id AND items.version = r.version)
        ),
        typed AS (
            SELECT row_no, src, {texts}, client_id, new_client_key, d, t, routine_id,
                   try_cast(exercises_done_n AS INTEGER) AS done, try_cast(prescribed AS INTEGER) AS prescribed_i,
                   duration_min_n, pain_before_n, pain_after_n, stiffness_n, reasons_text,
                   reasons_text = '' AND (first_start IS NULL OR d < first_start) AS before_first,
                   CASE WHEN session_id IS NOT NULL THEN 'sid' WHEN reasons_text = '' THEN 'ok' ELSE 'bad' END AS kind,
                   CASE WHEN reasons_text <> '' THEN md5(to_json([{', '.join(FIELDS)}])) END AS row_hash
            FROM checked
        )
        SELECT *, {red_flags_sql('notes')} AS red_flags,
               CASE kind WHEN 'sid' THEN hash('sid', session_id) WHEN 'bad' THEN hash('bad', row_hash)
                         ELSE hash('ok', new_client_key, {', '.join(_NATURAL_KEY)}) END AS h,
               CASE WHEN kind = 'ok' AND client_id IS NOT NULL THEN hash({', '.join(_NATURAL_KEY)}) END AS h_nat
        FROM typed
        """,
        {"as_of": opts.as_of},
    )


def _verdict(cur: Any, opts: CheckOptions) -> None:
    """li_status: each row's status (accepted | rejected | duplicate); the view li_out joins it to
    li_v and splits the reasons into a list.

    Within the input the first of equal rows wins. A row with a session id is a duplicate when its
    source already has that id; a valid row without one when a stored log has the same natural key
    (client, date, time, routine and values, from any source); a rejected row without one when the
    same row is already held in quarantine for this source (file imports only). Rows are compared
    by a hash first and then, for the few whose hashes meet, column by column.
    """
    quarantine = (
        """
            WHEN v.kind = 'sid' AND v.session_id IN (
                SELECT q.source_session_id FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
                WHERE b.source = $source AND b.undone_at IS NULL AND q.source_session_id IS NOT NULL) THEN 'duplicate'
            WHEN v.kind = 'bad' AND v.row_hash IN (
                SELECT q.row_hash FROM quarantined_rows q JOIN import_batches b ON b.id = q.batch_id
                WHERE b.source = $source AND b.undone_at IS NULL AND q.row_hash IS NOT NULL) THEN 'duplicate'
        """ if opts.quarantine_dedupe else ""
    )
    same_in_input = ", ".join(f"CASE WHEN v.kind = 'ok' THEN v.{c} END" for c in ("new_client_key", *_NATURAL_KEY))
    same_as_stored = " AND ".join(f"s.{s} IS NOT DISTINCT FROM c.{n}" for s, n in zip(_STORED_KEY, _NATURAL_KEY))
    low, high = cur.execute("SELECT min(d), max(d) FROM li_v WHERE h_nat IS NOT NULL").fetchone()
    cur.execute(
        f"""
        CREATE TEMP TABLE li_status AS
        WITH grp AS (SELECT h, count(*) AS n FROM li_v GROUP BY h HAVING count(*) > 1),
        firsts AS (
            SELECT min(v.row_no) AS row_no FROM li_v v JOIN grp USING (h)
            GROUP BY v.kind, CASE v.kind WHEN 'sid' THEN v.session_id WHEN 'bad' THEN v.row_hash END, {same_in_input}
        ),
        candidates AS (
            SELECT row_no, {', '.join(_NATURAL_KEY)} FROM li_v
            WHERE h_nat IN (SELECT hash({', '.join(_STORED_KEY)}) FROM session_logs
                            WHERE session_date BETWEEN $low AND $high)
        ),
        stored AS (
            SELECT DISTINCT c.row_no FROM candidates c JOIN session_logs s
            ON s.client_id = c.client_id AND s.session_date = c.d AND {same_as_stored}
        )
        SELECT v.row_no,
            CASE
                WHEN v.h IN (SELECT h FROM grp) AND v.row_no NOT IN (SELECT row_no FROM firsts) THEN 'duplicate'
                WHEN v.kind = 'sid' AND v.session_id IN (
                    SELECT source_session_id FROM session_logs
                    WHERE source = $source AND source_session_id IS NOT NULL) THEN 'duplicate'
                {quarantine}
                WHEN v.row_no IN (SELECT row_no FROM stored) THEN 'duplicate'
                WHEN v.reasons_text = '' THEN 'accepted'
                ELSE 'rejected'
            END AS status
        FROM li_v v
        """,
        {"source": opts.source, "low": low, "high": high},
    )
    cur.execute(
        "CREATE TEMP VIEW li_out AS SELECT v.*, s.status, CASE WHEN v.reasons_text = '' THEN []::VARCHAR[]"
        " ELSE string_split(v.reasons_text, chr(31)) END AS reasons FROM li_v v JOIN li_status s USING (row_no)"
    )


def _unmade_clients(cur: Any) -> None:
    """A new client is only created for rows that are kept; their other rows say the client is unknown."""
    cur.execute(
        """
        UPDATE li_v SET reasons_text = concat_ws(chr(31),
            format('unknown client ''{}'': no client has this code, email or name', client), nullif(reasons_text, ''))
        WHERE new_client_key IS NOT NULL
          AND row_no IN (SELECT row_no FROM li_status WHERE status = 'rejected')
          AND new_client_key NOT IN (SELECT new_client_key FROM li_out
                                     WHERE status = 'accepted' AND new_client_key IS NOT NULL)
        """
    )


def check_rows(cur: Any, opts: CheckOptions, progress: Progress = _no_progress) -> CheckCounts:
    """Validate, resolve and de-duplicate the prepared rows (``prepare_rows``) into ``li_out``;
    writes nothing. Runs on the caller's cursor so a whole import shares one transaction."""
    _match_table(cur, "li_cm", "client", "clients",
                 {"code_k": "code", "email_k": "email", "name_k": "display_name"}, "client_id")
    _match_table(cur, "li_rm", "routine", "routines", {"id_k": "id", "name_k": "name"}, "routine_id")
    progress(0.35, "checking rows")
    _resolve(cur, opts)
    progress(0.55, "looking for duplicates")
    _verdict(cur, opts)
    _unmade_clients(cur)
    row = cur.execute(
        """
        SELECT count(*), count(*) FILTER (status = 'accepted'), count(*) FILTER (status = 'rejected'),
               count(*) FILTER (status = 'duplicate'),
               count(DISTINCT new_client_key) FILTER (status = 'accepted'),
               count(*) FILTER (status = 'accepted' AND before_first),
               count(*) FILTER (status = 'accepted' AND red_flags IS NOT NULL)
        FROM li_out
        """
    ).fetchone()
    return CheckCounts(*row)


# -- writing ------------------------------------------------------------------------------------

def create_missing_clients(cur: Any, store: Store, actor: str) -> list[tuple[int, str, str]]:
    """Create the new clients the accepted rows of ``li_out`` name; returns (id, code, name).

    Minimal clients: a generated C00000-style code (continuing core.clients' numbering), the name
    as the log wrote it, and the email when the text is one. Runs in the import's transaction, so
    an import that fails creates nobody.
    """
    from core.clients import record_client_event
    from core.clients import next_client_code

    start = int(next_client_code(store)[1:])
    now = utcnow()
    cur.execute("DROP TABLE IF EXISTS li_newc")
    cur.execute(
        f"""
        CREATE TEMP TABLE li_newc AS
        SELECT new_client_key AS key, name,
               'C' || lpad(CAST({start} + row_number() OVER (ORDER BY first_row) - 1 AS VARCHAR), 5, '0') AS code,
               CASE WHEN regexp_full_match(name, {_lit(_EMAIL_SQL)}) THEN name END AS email
        FROM (SELECT new_client_key, min(row_no) AS first_row,
                     regexp_replace(arg_min(client, row_no), '\\s+', ' ', 'g') AS name
              FROM li_out WHERE status = 'accepted' AND new_client_key IS NOT NULL GROUP BY new_client_key)
        """
    )
    created = cur.execute(
        """
        INSERT INTO clients (code, display_name, email, postpartum, created_at, updated_at)
        SELECT code, name, email, FALSE, $now, $now FROM li_newc ORDER BY code
        RETURNING id, code, display_name
        """,
        {"now": now},
    ).fetchall()
    for client_id, _, _ in created:
        record_client_event(cur, client_id, "created", actor)
    cur.execute(
        "UPDATE li_v SET client_id = c.id FROM li_newc n JOIN clients c ON c.code = n.code"
        " WHERE li_v.new_client_key = n.key"
    )
    return created


def insert_accepted(cur: Any, source: str, batch_id: int | None, actor: str) -> int:
    """Store the accepted rows of ``li_out`` as session logs, in input order."""
    return cur.execute(
        """
        INSERT INTO session_logs (client_id, routine_id, session_date, session_time, exercises_done,
                                  exercises_prescribed, duration_min, pain_before, pain_after, stiffness, notes,
                                  red_flags, before_first_assignment, source, source_session_id, batch_id,
                                  entered_by, created_at)
        SELECT client_id, routine_id, d, t, done, prescribed_i, duration_min_n, pain_before_n, pain_after_n,
               stiffness_n, notes, red_flags, before_first, $source, session_id, $batch, $actor, $now
        FROM li_v WHERE row_no IN (SELECT row_no FROM li_status WHERE status = 'accepted') ORDER BY row_no
        """,
        {"source": source, "batch": batch_id, "actor": actor, "now": utcnow()},
    ).fetchone()[0]


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


def log_session(store: Store, values: Mapping[str, Any], actor: str, as_of: date | None = None) -> LogOutcome:
    """Log one session typed in by staff, through exactly the checks an import uses.

    ``values`` holds canonical fields (``client`` is a code, email or name; dates may be
    ``date`` objects). Nothing is written unless the session is accepted.
    """
    require_role(store, actor, STAFF_WRITERS)
    opts = CheckOptions(source=MANUAL_SOURCE, as_of=as_of or date.today())
    with WRITE_LOCK, store.transaction() as cur:
        stage_values(cur, [values], [1])
        prepare_rows(cur)
        check_rows(cur, opts)
        status, reasons, flags, before = cur.execute(
            "SELECT status, reasons, red_flags, before_first FROM li_out").fetchone()
        log_id = None
        if status == "accepted":
            insert_accepted(cur, MANUAL_SOURCE, None, actor)
            log_id = cur.execute("SELECT currval('session_log_id_seq')").fetchone()[0]
            audit_in(cur, actor, "session_logged", {"log": log_id, "client": str(values.get("client"))})
    return LogOutcome(status, list(reasons or []), log_id, parse_tags(flags), bool(before))


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
