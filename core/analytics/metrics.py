"""Adherence and symptom metrics, exactly as defined in docs/analytics/metrics.md.

Every figure staff see about how clients follow their routines and how their pain responds comes
from here, so each must be reproducible by hand. The work is set-based DuckDB SQL: one cursor
builds a handful of small tables in a schema of its own (the assignments in scope, attributed
sessions, assignment-weeks, per-client and per-assignment results) and every view reads its
aggregates from those, so only what is drawn reaches Python and nothing is computed in a per-row
Python loop.

Conventions (reasoning in docs/analytics/metrics.md):
- the period is the ``days`` days ending on ``as_of``, both inclusive;
- an assignment runs from ``start_date`` to ``end_date``, or, while that is NULL, to
  ``start_date + 7 * weeks - 1``; paused days (``assignment_pauses``; an open pause runs on) are
  not active days;
- ratios are rounded to 3 decimals and thresholds read the rounded value, so the figure on
  screen decides the status;
- sessions are ordered by date, then time (a missing time counts as 00:00), then entry order (id).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal, TypeVar

import pandas as pd

from core.access.sites import offered_sites, site_labels, within_sites
from core.db.figures import ASSIGNMENT_END, ASSIGNMENT_NOT_EMPTY, exact_avg, exact_sum, session_order_key
from core.db.store import CATALOG, WORK_DB, Cursor, Store, ids_sql
from core.practice.clients import SEGMENT_LABELS

DEFAULT_DAYS = 28
MAX_DAYS = 3660
LAPSE_DAYS = 14          # active at least this long and no session for more than this: lapsed
ON_TRACK = 0.80
AT_RISK = 0.50
BASELINE_SESSIONS = 3    # baseline = mean of the first 3 scored sessions, current = of the last 3
MIN_SCORED = 2 * BASELINE_SESSIONS  # the first-3 and last-3 windows never overlap: fewer is insufficient_data
MCID_POINTS = 2.0        # a change that matters on the 0-10 scale (docs/analytics/metrics.md, clinical notes)
MCID_FRACTION = 0.30
COHORT_WEEKS = 12
COHORT_LOOKBACK_DAYS = 182

T = TypeVar("T")

STATUSES = ("on_track", "at_risk", "low", "lapsed")
RESPONSES = ("improved", "unchanged", "worse", "insufficient_data")
STATUS_LABELS = {"on_track": "On track", "at_risk": "At risk", "low": "Low", "lapsed": "Lapsed"}
RESPONSE_LABELS = {"improved": "Improved", "unchanged": "Unchanged", "worse": "Worse",
                   "insufficient_data": "Not enough scores yet"}
GroupBy = Literal["segment", "routine", "therapist"]
GROUP_BYS: tuple[GroupBy, ...] = ("segment", "routine", "therapist")
# Segment groups as people read them: a client without a segment is in the group 'none'.
SEGMENT_GROUP_LABELS = {**SEGMENT_LABELS, "none": "No segment"}


class MetricsError(ValueError):
    """Inputs that cannot describe a period or a grouping (e.g. days < 1); the message is for staff."""


@dataclass(frozen=True)
class Scope:
    """Which clients, assignments and days a metric looks at.

    ``segments`` and ``therapists`` select clients; ``routines`` selects assignments (a client is
    then in scope through its assignments of those routines only). Empty means "all". Practice
    views leave out archived clients; ``client_id`` narrows to one client, archived or not;
    ``clients`` to some clients of the practice view (to recompute only those: core.analytics.overview).
    ``sites`` selects clients by site: None means every site, a tuple only those sites' clients —
    an empty one none at all (what a member without a site may see: core.access.sites).
    """

    as_of: date
    days: int = DEFAULT_DAYS
    segments: tuple[str, ...] = ()
    therapists: tuple[str, ...] = ()
    routines: tuple[str, ...] = ()
    client_id: int | None = None
    clients: tuple[int, ...] = ()
    sites: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.as_of, date):
            raise MetricsError(f"as_of must be a date, not {self.as_of!r}")
        try:
            days = int(self.days)
        except (TypeError, ValueError) as exc:
            raise MetricsError(f"days must be a whole number, not {self.days!r}") from exc
        if not 1 <= days <= MAX_DAYS:
            raise MetricsError(f"days must be between 1 and {MAX_DAYS}, not {self.days}")
        object.__setattr__(self, "days", days)
        for name in ("segments", "therapists", "routines"):
            values = getattr(self, name) or ()
            values = (values,) if isinstance(values, str) else values
            object.__setattr__(self, name, tuple(sorted({str(v) for v in values if v})))
        object.__setattr__(self, "clients", tuple(sorted({int(c) for c in self.clients or ()})))
        if self.sites is not None:
            sites = (self.sites,) if isinstance(self.sites, str) else self.sites
            object.__setattr__(self, "sites", tuple(sorted({str(v) for v in sites if v})))

    @property
    def period_start(self) -> date:
        return self.as_of - timedelta(days=self.days - 1)

    def with_days(self, days: int) -> Scope:
        return replace(self, days=days)


# -- running SQL --------------------------------------------------------------------------------

_PARAM = re.compile(r"\$([a-z_]+)")


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` a statement names (DuckDB rejects unused named parameters)."""
    return {name: params[name] for name in set(_PARAM.findall(sql))}


class Pipeline:
    """One cursor for one computation. Its tables (m_assignments, m_pause, m_agg, m_weeks, m_client,
    m_pain; see ``_prepare`` for their meaning) live in ``schema``, a schema of the store's work
    database of its own, which the cursor creates tables in and reads first; they vanish with it."""

    def __init__(self, cur: Cursor, scope: Scope, schema: str | None = None) -> None:
        self.cur = cur
        self.scope = scope
        self.schema = schema
        self.has_alerts = False  # m_alerts is there already (read back from kept rows: core.analytics.period_figures)
        self.copied: tuple[str, ...] = ()  # practice tables copied into ``schema`` (Store.copy_client_rows, copy_tables)
        self.params: dict[str, Any] = {
            "as_of": scope.as_of, "p_start": scope.period_start, "lo": scope.period_start,
            "segments": list(scope.segments), "therapists": list(scope.therapists),
            "routines": list(scope.routines), "client_id": scope.client_id, "clients": list(scope.clients),
            "sites": list(scope.sites or ()),
        }

    def execute(self, sql: str) -> None:
        self.cur.execute(sql, _bind(sql, self.params))

    def df(self, sql: str) -> pd.DataFrame:
        # Arrow is several times faster than DuckDB's own DataFrame conversion for string columns.
        return self.cur.execute(sql, _bind(sql, self.params)).to_arrow_table().to_pandas()

    def scalar(self, sql: str) -> Any:
        row = self.cur.execute(sql, _bind(sql, self.params)).fetchone()
        return row[0] if row else None

    def rows(self, sql: str) -> list[tuple]:
        return self.cur.execute(sql, _bind(sql, self.params)).fetchall()


def frame(store: Store, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """A query as a DataFrame through Arrow: dates stay ``datetime.date`` (as in every metrics
    frame) and string columns convert several times faster than DuckDB's own ``.df()``."""
    cur = store.cursor()
    try:
        return cur.execute(sql, params or []).to_arrow_table().to_pandas()
    finally:
        cur.close()


@contextmanager
def pipeline(store: Store, scope: Scope, *, pain: bool = True, adherence: bool = True) -> Iterator[Pipeline]:
    """The metric tables for ``scope``, built in a schema of their own; read them inside the block.
    ``adherence=False`` skips m_weeks and m_client (pain only)."""
    with empty_pipeline(store, scope) as run:
        named = named_clients(scope)
        run.copied = (store.copy_client_rows(run.cur, run.schema, named) if named
                      else store.copy_tables(run.cur, run.schema, PRACTICE_TABLES))
        _prepare(run, store, scope, pain=pain, adherence=adherence)
        yield run


# The practice's smaller tables that a computation of the practice reads in several statements: on
# PostgreSQL each is copied once beside it (Store.copy_tables). Those it reads once (assignments,
# pauses, segments) are read where they are: a copy would cost as much.
PRACTICE_TABLES: tuple[str, ...] = ("clients", "assignment_pain_figures", "client_figures", "routines")


def named_clients(scope: Scope) -> tuple[int, ...]:
    """The clients a scope names by id (one client's page, a list of clients); none for a view
    that selects clients by what they are (all, segments, therapists, sites)."""
    return (scope.client_id,) if scope.client_id is not None else tuple(scope.clients)


def rows_of(run: Pipeline, store: Store, table: str, condition: str, *, name: str,
            columns: tuple[str, ...] = (), clients: str | None = None) -> str:
    """What a statement of the run reads FROM for the rows of the practice's ``table`` where
    ``condition`` holds (SQL without parameters), with ``columns`` (all when empty). ``clients``: a
    query of the run giving the only clients whose rows the statements use (they filter by it
    themselves).

    On PostgreSQL, unless the run holds a copy of the table (a few clients' rows, or a smaller table
    whole: ``Store.copy_client_rows``, ``copy_tables``), the rows are fetched once into ``name``, the condition
    and the clients run there (by its index on client_id): the extension would otherwise fetch
    the whole table for each statement that reads it. Otherwise the same rows as a subquery, which
    DuckDB reads from its own blocks as the statement's own."""
    chosen = ", ".join(columns) or "*"
    if not store.postgres or table in run.copied:
        return f"(SELECT {chosen} FROM {table} WHERE {condition})"
    if clients is not None:
        condition += f" AND client_id IN ({ids_sql([c for (c,) in run.rows(clients)])})"
    store.rows_where(run.cur, f"{run.schema}.{name}", table, condition, columns)
    return name


def period_days(run: Pipeline, store: Store) -> str:
    """The day figures of the run's period (``rows_of``)."""
    period = f"day BETWEEN {date_sql(run.scope.period_start)} AND {date_sql(run.scope.as_of)}"
    return rows_of(run, store, "assignment_day_figures", period, name="m_days")


def date_sql(day: date) -> str:
    """A day as a SQL literal, for the conditions of ``rows_of`` (which take no parameters)."""
    return f"DATE '{day.isoformat()}'"


_SCHEMAS = itertools.count(1)


@contextmanager
def empty_pipeline(store: Store, scope: Scope) -> Iterator[Pipeline]:
    """A pipeline on a new schema of the store's work database (WORK_DB), dropped with everything
    in it at the end; its cursor creates its tables there and looks there first, then in the practice."""
    schema = f"{WORK_DB}.m{next(_SCHEMAS)}"
    cur = store.cursor()
    try:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"USE {schema}")
        cur.execute(f"SET search_path = '{schema},{CATALOG}.{store.schema}'")
        yield Pipeline(cur, scope, schema=schema)
    finally:
        cur.execute(f"USE {CATALOG}")
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.close()


# -- the shared pipeline ------------------------------------------------------------------------
# Effective last day of an assignment: staff's end_date, else the planned end.
_END = ASSIGNMENT_END
# The same tests written so DuckDB does not build the end date for every row first (3x faster on
# a large assignments table): the assignment is not empty and its last day is on or after $param.
_NOT_EMPTY = ASSIGNMENT_NOT_EMPTY


def _ends_from(param: str) -> str:
    return (f"CASE WHEN a.end_date IS NULL THEN a.start_date >= CAST(${param} AS DATE) - (7 * a.weeks - 1)"
            f" ELSE a.end_date >= ${param} END")
# NB: DuckDB's least()/greatest() skip NULLs, so sums over LEFT JOINed pauses filter on p.lo.


def client_where_sql(scope: Scope) -> str:
    """SQL condition on ``clients c`` selecting the scope's clients (parameters: see Pipeline)."""
    parts = ["c.id = $client_id" if scope.client_id is not None else "c.archived_at IS NULL"]
    if scope.segments:
        parts.append("c.id IN (SELECT client_id FROM client_segments WHERE segment IN (SELECT unnest($segments)))")
    if scope.therapists:
        parts.append("c.therapist IN (SELECT unnest($therapists))")
    if scope.clients:
        parts.append("c.id IN (SELECT unnest($clients))")
    if scope.sites is not None:
        parts.append("c.site IN (SELECT unnest(CAST($sites AS VARCHAR[])))" if scope.sites else "FALSE")
    return " AND ".join(parts)


def _filters_clients(scope: Scope) -> bool:
    return (scope.client_id is not None or bool(scope.segments) or bool(scope.therapists) or bool(scope.clients)
            or scope.sites is not None)


def clients_in_scope_sql(scope: Scope, column: str) -> str:
    """SQL condition: ``column`` is a client in scope (cheapest form for the unfiltered practice)."""
    if not _filters_clients(scope):
        return f"{column} NOT IN (SELECT id FROM clients WHERE archived_at IS NOT NULL)"
    return f"{column} IN (SELECT c.id FROM clients c WHERE {client_where_sql(scope)})"


def _analysis_sql(scope: Scope, started_from: bool = False) -> str:
    """Assignments in scope: overlapping the period, or (cohorts) started in it."""
    window = (f"a.start_date BETWEEN $p_start AND $as_of AND {_NOT_EMPTY}" if started_from else
              f"a.start_date <= $as_of AND {_ends_from('p_start')} AND {_NOT_EMPTY}")
    routine_filter = "AND a.routine_id IN (SELECT unnest($routines))" if scope.routines else ""
    return f"""
        SELECT a.id AS assignment_id, a.client_id, a.routine_id, a.routine_version, a.start_date,
               {_END} AS end_date, a.sessions_per_week
        FROM assignments a
        WHERE {window} {routine_filter} AND {clients_in_scope_sql(scope, "a.client_id")}
    """


# Which assignment a session belongs to (docs/analytics/metrics.md, "Attribution") is worked out when
# a write changes it, and kept in the read model (core/db/figures.py): session_attribution and the
# summaries per assignment and day, and per assignment. Views sum those rows.


def _scoped_clients(scope: Scope, column: str = "client_id") -> str:
    """``AND <column> IN (clients of m_assignments)`` when the scope filters clients, else nothing."""
    return f"AND {column} IN (SELECT client_id FROM m_assignments)" if _filters_clients(scope) else ""


_ISO_WEEK = "CAST(date_trunc('week', f.day) AS DATE)"
_PROGRAM_WEEK = "CAST((f.day - g.start_date) // 7 + 1 AS INTEGER)"
# Sessions in order (date, time, entry order) as one integer key: core.db.figures.session_order_key.
sort_key = session_order_key
_SORT_KEY = session_order_key()  # attributed sessions: session_time is already coalesced to 00:00


def _prepare(run: Pipeline, store: Store, scope: Scope, *, pain: bool, cohort: bool = False,
             adherence: bool = True) -> None:
    """Build the temp tables every metric reads.

    m_assignments    assignments in scope that overlap the period (the analysis set); for cohorts, those
             started in the period
    m_pause  pauses merged into non-overlapping [lo, hi] ranges (an open pause ends in 9999)
    m_agg    attributed sessions of m_assignments: per assignment and bucket (ISO week, or program
             week for cohorts) those of the period, for adherence; per assignment (bucket NULL)
             its pain figures up to as_of (from its whole history when pain is wanted)
    m_weeks  m_assignments x ISO week in the period: active days, expected, completed (raw), credited
    m_client clients with an active day in the period: expected, completed, adherence, status
    m_pain   (pain) per m_assignments assignment: baseline, current, change, change_pct, response, relief
    """
    if run.schema is None:  # its tables would land in the practice's own database
        raise ValueError("metric tables are built on a pipeline with a schema of its own (pipeline())")
    run.execute(f"CREATE TABLE m_assignments AS {_analysis_sql(scope, started_from=cohort)}")
    first = run.scalar("SELECT min(start_date) FROM m_assignments")
    run.params["first"] = first or scope.period_start
    if pain and first is not None and first < run.params["lo"]:
        run.params["lo"] = first
    # Gaps and islands: a pause starting inside (or the day after) an earlier one extends it.
    run.execute("""
        CREATE TABLE m_pause AS
        WITH p AS (
            SELECT assignment_id, paused_from AS lo, coalesce(paused_until, DATE '9999-12-31') AS hi
            FROM assignment_pauses
            WHERE (paused_until IS NULL OR paused_until >= paused_from) AND paused_from <= $as_of
              AND (paused_until IS NULL OR paused_until >= least($first, $lo))
        ), touching AS (  -- assignments with two pauses that overlap or meet: only these need merging
            SELECT DISTINCT x.assignment_id FROM p x JOIN p y
              ON x.assignment_id = y.assignment_id AND x.lo < y.lo AND y.lo - x.hi <= 1
        ), ordered AS (
            SELECT *, max(hi) OVER (PARTITION BY assignment_id ORDER BY lo, hi
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
            FROM p WHERE assignment_id IN (SELECT assignment_id FROM touching)
        ), islands AS (
            SELECT *, sum(CASE WHEN prev_hi IS NULL OR lo - prev_hi > 1 THEN 1 ELSE 0 END)
                      OVER (PARTITION BY assignment_id ORDER BY lo, hi) AS island
            FROM ordered
        )
        SELECT assignment_id, lo, hi FROM p WHERE assignment_id NOT IN (SELECT assignment_id FROM touching)
        UNION ALL
        SELECT assignment_id, min(lo), max(hi) FROM islands GROUP BY assignment_id, island
    """)
    bucket = _PROGRAM_WEEK if cohort else _ISO_WEEK
    # Sums per assignment and bucket from the day figures; per assignment the pain figures, kept
    # for its whole history: exact for a view as of its last session or later, else (a view of
    # the past) worked out from its attributed sessions up to as_of.
    days = period_days(run, store)
    past_assignments = ("(SELECT assignment_id, client_id FROM assignment_pain_figures"
                        " WHERE last_day > $as_of AND assignment_id IN (SELECT assignment_id FROM m_assignments))")
    past = rows_of(run, store, "session_attribution",
                   f"session_date BETWEEN {date_sql(run.params['lo'])} AND {date_sql(scope.as_of)}",
                   name="m_past_sessions", clients=f"SELECT client_id FROM {past_assignments}")
    run.execute(f"""
        CREATE TABLE m_agg AS
        SELECT f.assignment_id, {bucket} AS bucket,
               {exact_sum("f.completed")} AS completed, sum(f.sessions) AS sessions,
               sum(f.scored) AS scored, {exact_sum("f.pain_sum")} AS pain_sum,
               CAST(NULL AS DOUBLE) AS relief_sum, CAST(NULL AS BIGINT) AS relief_n,
               CAST(NULL AS DOUBLE) AS first3_sum, CAST(NULL AS DOUBLE) AS last3_sum
        FROM {days} f JOIN m_assignments g USING (assignment_id)
        WHERE f.day BETWEEN $p_start AND $as_of
        GROUP BY f.assignment_id, bucket
        UNION ALL
        SELECT p.assignment_id, NULL, NULL, NULL, p.scored, NULL, p.relief_sum, p.relief_n, p.first3_sum, p.last3_sum
        FROM assignment_pain_figures p JOIN m_assignments g USING (assignment_id)
        WHERE p.last_day <= $as_of
        UNION ALL
        SELECT x.assignment_id, NULL, NULL, NULL, count(x.pain_before), NULL,
               {exact_sum("x.pain_before - x.pain_after")}, count(x.pain_before - x.pain_after),
               list_sum(min_by(x.pain_before, {_SORT_KEY}, {BASELINE_SESSIONS}) FILTER (WHERE x.pain_before IS NOT NULL)),
               list_sum(max_by(x.pain_before, {_SORT_KEY}, {BASELINE_SESSIONS}) FILTER (WHERE x.pain_before IS NOT NULL))
        FROM {past} x
        WHERE x.session_date BETWEEN $lo AND $as_of
          AND x.assignment_id IN (SELECT assignment_id FROM {past_assignments})
        GROUP BY x.assignment_id
    """)
    if adherence and not cohort:
        _prepare_weeks(run)
        _prepare_clients(run, store)
    if pain:
        _prepare_pain(run, store)


def _prepare_weeks(run: Pipeline) -> None:
    """m_weeks: expected_w = sessions_per_week x active days in w / 7; credited = min(completed, expected)."""
    run.execute("""
        CREATE TABLE m_weeks AS
        WITH spans AS (
            SELECT assignment_id, client_id, sessions_per_week,
                   greatest(start_date, $p_start) AS span_lo, least(end_date, $as_of) AS span_hi
            FROM m_assignments
        ), calendar AS (  -- the ISO weeks (Monday starts) that touch the period
            SELECT CAST(range AS DATE) AS week_start
            FROM range(CAST(date_trunc('week', CAST($p_start AS DATE)) AS TIMESTAMP),
                       CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP), INTERVAL 7 DAY)
        ), bounded AS (
            SELECT spans.assignment_id, spans.client_id, spans.sessions_per_week, calendar.week_start,
                   greatest(calendar.week_start, spans.span_lo) AS d_lo,
                   least(calendar.week_start + 6, spans.span_hi) AS d_hi
            FROM spans CROSS JOIN calendar
            WHERE spans.span_hi >= spans.span_lo
              AND calendar.week_start <= spans.span_hi AND calendar.week_start + 6 >= spans.span_lo
        ), paused AS (
            SELECT b.assignment_id, b.week_start, sum(least(p.hi, b.d_hi) - greatest(p.lo, b.d_lo) + 1) AS days
            FROM bounded b JOIN m_pause p ON p.assignment_id = b.assignment_id AND p.lo <= b.d_hi AND p.hi >= b.d_lo
            GROUP BY b.assignment_id, b.week_start
        ), active AS (
            SELECT b.assignment_id, b.client_id, b.sessions_per_week, b.week_start,
                   CAST(b.d_hi - b.d_lo + 1 - coalesce(p.days, 0) AS INTEGER) AS active_days
            FROM bounded b LEFT JOIN paused p USING (assignment_id, week_start)
        )
        SELECT a.assignment_id, a.client_id, a.week_start, a.active_days,
               a.sessions_per_week * a.active_days / 7.0 AS expected,
               coalesce(d.completed, 0.0) AS completed, CAST(coalesce(d.sessions, 0) AS INTEGER) AS sessions,
               least(coalesce(d.completed, 0.0), a.sessions_per_week * a.active_days / 7.0) AS credited
        FROM active a LEFT JOIN m_agg d ON d.assignment_id = a.assignment_id AND d.bucket = a.week_start
    """)


def _prepare_clients(run: Pipeline, store: Store) -> None:
    """m_client: sums over weeks and assignments, the last session (any session, any routine), and
    the status."""
    logged_since = f"SELECT client_id FROM client_figures WHERE last_session > $as_of {_scoped_clients(run.scope)}"
    logs = rows_of(run, store, "session_logs", f"session_date <= {date_sql(run.scope.as_of)}", name="m_logs_until",
                   columns=("client_id", "session_date"), clients=logged_since)
    run.execute(f"""
        CREATE TABLE m_client AS
        WITH per AS (
            SELECT client_id, {exact_sum("expected")} AS expected, {exact_sum("credited")} AS credited, {exact_sum("completed")} AS logged,
                   sum(sessions) AS sessions, sum(active_days) AS active_days
            FROM m_weeks GROUP BY client_id HAVING sum(active_days) > 0
        ), last AS (  -- kept per client; a view of the past reads the logs of clients who logged since
            SELECT client_id, last_session FROM client_figures
            WHERE last_session <= $as_of {_scoped_clients(run.scope)}
            UNION ALL
            SELECT client_id, max(session_date) FROM {logs}
            WHERE session_date <= $as_of AND client_id IN ({logged_since})
            GROUP BY client_id
        ),
        programs AS (  -- per client: the longest-active program, and whether one runs unpaused on as_of
            SELECT client_id, max(days_active) AS longest_active, bool_or(running_unpaused) AS running_unpaused
            FROM (
                SELECT g.assignment_id, g.client_id,
                       (least(g.end_date, $as_of) - g.start_date + 1)
                       - coalesce(sum(least(p.hi, g.end_date, $as_of) - greatest(p.lo, g.start_date) + 1)
                                  FILTER (WHERE p.lo IS NOT NULL), 0) AS days_active,
                       g.end_date >= $as_of AND count(p.lo) FILTER (WHERE $as_of BETWEEN p.lo AND p.hi) = 0
                           AS running_unpaused
                FROM m_assignments g
                LEFT JOIN m_pause p ON p.assignment_id = g.assignment_id AND p.lo <= least(g.end_date, $as_of)
                                   AND p.hi >= g.start_date
                WHERE g.start_date <= $as_of
                GROUP BY g.assignment_id, g.client_id, g.start_date, g.end_date
            )
            GROUP BY client_id
        ), result AS (
            SELECT per.*, round(round(per.credited / nullif(per.expected, 0), 6), 3) AS adherence, last.last_session,
                   coalesce(programs.longest_active, 0) AS longest_active,
                   coalesce(programs.longest_active >= {LAPSE_DAYS} AND programs.running_unpaused, FALSE)
                   AND (last.last_session IS NULL OR $as_of - last.last_session > {LAPSE_DAYS}) AS lapsed
            FROM per LEFT JOIN last USING (client_id) LEFT JOIN programs USING (client_id)
        )
        SELECT client_id, round(expected, 3) AS expected, round(credited, 3) AS completed,
               round(logged, 3) AS logged, CAST(sessions AS INTEGER) AS sessions,
               CAST(active_days AS INTEGER) AS active_days, adherence,
               CASE WHEN lapsed THEN 'lapsed'
                    WHEN adherence IS NULL THEN NULL
                    WHEN adherence >= {ON_TRACK} THEN 'on_track'
                    WHEN adherence >= {AT_RISK} THEN 'at_risk'
                    ELSE 'low' END AS status,
               last_session, CAST($as_of - last_session AS INTEGER) AS days_since_last,
               CAST(longest_active AS INTEGER) AS longest_active
        FROM result
    """)


def _prepare_pain(run: Pipeline, store: Store) -> None:
    """m_pain: baseline / current from the first / last 3 scored sessions, the response, relief,
    and for a ``worse`` response the first session of the run of sessions that kept it worse."""
    run.execute(f"""
        CREATE TABLE m_pain AS
        WITH calc AS (
            SELECT g.assignment_id, g.client_id, g.routine_id, g.start_date, g.end_date,
                   CAST(coalesce(a.scored, 0) AS INTEGER) AS scored_sessions,
                   CASE WHEN a.scored >= {BASELINE_SESSIONS} THEN a.first3_sum / {BASELINE_SESSIONS} END AS baseline,
                   CASE WHEN a.scored >= {MIN_SCORED} THEN a.last3_sum / {BASELINE_SESSIONS} END AS current,
                   a.relief_sum / nullif(a.relief_n, 0) AS relief, CAST(coalesce(a.relief_n, 0) AS INTEGER) AS relief_sessions
            FROM m_assignments g LEFT JOIN m_agg a ON a.assignment_id = g.assignment_id AND a.bucket IS NULL
        )
        SELECT assignment_id, client_id, routine_id, start_date, end_date, scored_sessions,
               round(baseline, 3) AS baseline, round(current, 3) AS current,
               round(round(current - baseline, 6), 3) AS change,
               round(round((current - baseline) / nullif(baseline, 0), 6), 3) AS change_pct,
               CASE WHEN current IS NULL THEN 'insufficient_data'
                    WHEN round(current - baseline, 6) <= -{MCID_POINTS}
                         AND round((current - baseline) / nullif(baseline, 0), 6) <= -{MCID_FRACTION} THEN 'improved'
                    WHEN round(current - baseline, 6) >= {MCID_POINTS} THEN 'worse'
                    ELSE 'unchanged' END AS response,
               round(relief, 3) AS relief, relief_sessions, baseline AS baseline_exact,
               CAST(NULL AS DATE) AS worse_since
        FROM calc
    """)
    if not run.scalar("SELECT count(*) FROM m_pain WHERE response = 'worse'"):
        return
    # worse since: only the (few) worse assignments need their scored sessions one by one (on
    # PostgreSQL fetched by their clients, not read from every attributed session).
    scored = rows_of(run, store, "session_attribution",
                     f"pain_before IS NOT NULL AND session_date <= {date_sql(run.scope.as_of)}", name="m_worse_sessions",
                     clients="SELECT DISTINCT client_id FROM m_pain WHERE response = 'worse'")
    run.execute(f"""
        UPDATE m_pain SET worse_since = w.since
        FROM (
            WITH rows AS (
                SELECT t.assignment_id, t.session_date, row_number() OVER w AS rn,
                       avg(t.pain_before) OVER (w ROWS BETWEEN {BASELINE_SESSIONS - 1} PRECEDING AND CURRENT ROW) AS last3
                FROM {scored} t
                WHERE t.pain_before IS NOT NULL AND t.session_date <= $as_of
                  AND t.assignment_id IN (SELECT assignment_id FROM m_pain WHERE response = 'worse')
                WINDOW w AS (PARTITION BY t.assignment_id ORDER BY t.session_date, t.session_time, t.session_id)
            ), start_rn AS (
                SELECT r.assignment_id,
                       coalesce(max(r.rn) FILTER (WHERE round(r.last3 - m.baseline_exact, 6) < {MCID_POINTS}),
                                {MIN_SCORED - 1}) + 1 AS rn
                FROM rows r JOIN m_pain m USING (assignment_id)
                WHERE r.rn >= {MIN_SCORED}
                GROUP BY r.assignment_id
            )
            SELECT r.assignment_id, r.session_date AS since
            FROM rows r JOIN start_rn USING (assignment_id, rn)
        ) w
        WHERE m_pain.assignment_id = w.assignment_id
    """)


# -- public: per client and per assignment ------------------------------------------------------

_CLIENT_SELECT = """
    WITH segs AS (
        SELECT client_id, string_agg(segment, ', ' ORDER BY segment) AS segments
        FROM client_segments WHERE client_id IN (SELECT client_id FROM m_client) GROUP BY client_id
    )
    SELECT m.client_id, c.code AS client, c.display_name, c.therapist, segs.segments,
           m.expected, m.completed, m.logged, m.sessions, m.active_days, m.adherence, m.status,
           m.last_session, m.days_since_last
    FROM m_client m JOIN clients c ON c.id = m.client_id LEFT JOIN segs USING (client_id)
    {where}
    ORDER BY c.code
"""

_PAIN_SELECT = """
    SELECT p.assignment_id, p.client_id, c.code AS client, p.routine_id, r.name AS routine_name,
           p.start_date, p.end_date, p.scored_sessions, p.baseline, p.current, p.change, p.change_pct,
           p.response, p.relief, p.relief_sessions, p.worse_since
    FROM m_pain p JOIN clients c ON c.id = p.client_id LEFT JOIN routines r ON r.id = p.routine_id
    {where}
    ORDER BY c.code, p.start_date, p.assignment_id
"""


def client_adherence(store: Store, scope: Scope) -> pd.DataFrame:
    """One row per client with an active assignment day in the period, by client code.

    ``expected`` and ``completed`` are sums over weeks and assignments of expected_w and
    min(completed_w, expected_w), so ``adherence = completed / expected`` (3 decimals);
    ``logged`` is the uncapped sum of completions.
    """
    with pipeline(store, scope, pain=False) as run:
        return client_adherence_from(run)


def client_adherence_from(run: Pipeline) -> pd.DataFrame:
    """``client_adherence`` read from the run's m_client table (built, or kept: core.analytics.overview)."""
    return run.df(_CLIENT_SELECT.format(where=""))


def assignment_weeks(store: Store, scope: Scope) -> pd.DataFrame:
    """Assignment x ISO week rows in the period: active days, expected, completed (raw), credited."""
    with pipeline(store, scope, pain=False) as run:
        return run.df("""
            SELECT w.assignment_id, w.client_id, c.code AS client, g.routine_id, w.week_start, w.active_days,
                   round(w.expected, 3) AS expected, round(w.completed, 3) AS completed, w.sessions,
                   round(w.credited, 3) AS credited
            FROM m_weeks w JOIN clients c ON c.id = w.client_id JOIN m_assignments g USING (assignment_id)
            ORDER BY c.code, w.assignment_id, w.week_start
        """)


def pain_responses(store: Store, scope: Scope, *, whole_history: bool = False) -> pd.DataFrame:
    """Pain response per assignment overlapping the period, by client code and start date.

    With ``whole_history`` every assignment started on or before as_of is included (the period
    then reaches back to the first start); the response itself never depends on the period.
    """
    if whole_history:
        first = store.scalar("SELECT min(start_date) FROM assignments WHERE start_date <= ?", [scope.as_of])
        if first is not None and first < scope.period_start:
            scope = scope.with_days(min(MAX_DAYS, (scope.as_of - first).days + 1))
    with pipeline(store, scope, pain=True, adherence=False) as run:
        return run.df(_PAIN_SELECT.format(where=""))


# -- public: the practice overview --------------------------------------------------------------

@dataclass
class Overview:
    """Everything the practice overview draws for one scope (see docs/analytics/metrics.md, "Overview")."""

    scope: Scope
    kpis: dict[str, Any]
    weekly: pd.DataFrame
    by_segment: pd.DataFrame
    by_routine: pd.DataFrame
    by_therapist: pd.DataFrame
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.groups = {"segment": self.by_segment, "routine": self.by_routine, "therapist": self.by_therapist}


_KPI_SQL = f"""
    SELECT (SELECT count(*) FROM m_client) AS active_clients,
           (SELECT round({exact_avg("adherence")}, 3) FROM m_client) AS mean_adherence,
           (SELECT round(avg(CASE WHEN status = 'on_track' THEN 1.0 ELSE 0.0 END), 3) FROM m_client) AS on_track_pct,
           (SELECT count(*) FROM m_client WHERE status = 'lapsed') AS lapsed,
           (SELECT count(*) FROM m_pain WHERE response <> 'insufficient_data') AS assessed,
           (SELECT round(count(*) FILTER (WHERE response = 'improved')
                         / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3)
            FROM m_pain) AS improved_pct
"""

# Practice adherence in week w: the mean over clients of the client's adherence in w (the sum over
# its assignments of credited / expected in w, rounded), over clients with something expected in w.
_WEEKLY_SQL = f"""
    WITH cw AS (
        SELECT client_id, week_start, {exact_sum("expected")} AS e, {exact_sum("credited")} AS c
        FROM m_weeks GROUP BY client_id, week_start HAVING {exact_sum("expected")} > 0
    )
    SELECT week_start,
           CAST(least(week_start + 6, $as_of) - greatest(week_start, $p_start) + 1 AS INTEGER) AS days_in_period,
           count(*) AS clients, round({exact_sum("e")}, 3) AS expected, round({exact_sum("c")}, 3) AS completed,
           round({exact_avg("round(round(c / e, 6), 3)")}, 3) AS adherence
    FROM cw GROUP BY week_start ORDER BY week_start
"""

# Units of the group tables: (grp, client_id, adherence, on_track, lapsed) and pain rows
# (grp, response, change). Segment and therapist tables count clients; the routine table counts
# assignments (a client's adherence mixes routines, an assignment's does not).
_GROUP_UNITS: dict[str, tuple[str, str]] = {
    "segment": (
        """SELECT coalesce(s.segment, 'none') AS grp, m.client_id, m.adherence,
                  m.status = 'on_track' AS on_track, m.status = 'lapsed' AS lapsed
           FROM m_client m LEFT JOIN client_segments s USING (client_id)""",
        """SELECT coalesce(s.segment, 'none') AS grp, p.response, p.change
           FROM m_pain p LEFT JOIN client_segments s USING (client_id)""",
    ),
    "therapist": (
        """SELECT coalesce(c.therapist, '(none)') AS grp, m.client_id, m.adherence,
                  m.status = 'on_track' AS on_track, m.status = 'lapsed' AS lapsed
           FROM m_client m JOIN clients c ON c.id = m.client_id""",
        """SELECT coalesce(c.therapist, '(none)') AS grp, p.response, p.change
           FROM m_pain p JOIN clients c ON c.id = p.client_id""",
    ),
    "routine": (
        f"""SELECT g.routine_id AS grp, a.client_id, a.adherence, a.adherence >= {ON_TRACK} AS on_track,
                   m.status = 'lapsed' AS lapsed
            FROM (SELECT assignment_id, any_value(client_id) AS client_id,
                         round(round({exact_sum("credited")} / nullif({exact_sum("expected")}, 0), 6), 3) AS adherence
                  FROM m_weeks GROUP BY assignment_id HAVING sum(active_days) > 0) a
            JOIN m_assignments g USING (assignment_id) JOIN m_client m ON m.client_id = a.client_id""",
        "SELECT routine_id AS grp, response, change FROM m_pain",
    ),
}


def _group_sql(by: str) -> str:
    if by not in _GROUP_UNITS:
        raise MetricsError(f"group by one of {', '.join(GROUP_BYS)}, not {by!r}")
    units, pain = _GROUP_UNITS[by]
    return f"""
        WITH u AS ({units}), p AS ({pain}),
        a AS (
            SELECT grp, count(DISTINCT client_id) AS clients, count(*) AS units,
                   round({exact_avg("adherence")}, 3) AS mean_adherence,
                   round(avg(CASE WHEN on_track THEN 1.0 ELSE 0.0 END), 3) AS on_track_pct,
                   count(DISTINCT client_id) FILTER (WHERE lapsed) AS lapsed
            FROM u GROUP BY grp
        ), r AS (
            SELECT grp, count(*) FILTER (WHERE response <> 'insufficient_data') AS assessed,
                   round(count(*) FILTER (WHERE response = 'improved')
                         / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3) AS improved_pct,
                   round(count(*) FILTER (WHERE response = 'worse')
                         / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3) AS worse_pct,
                   round({exact_avg("change")}, 3) AS mean_change
            FROM p GROUP BY grp
        )
        SELECT coalesce(a.grp, r.grp) AS "group", CAST(coalesce(a.clients, 0) AS INTEGER) AS clients,
               CAST(coalesce(a.units, 0) AS INTEGER) AS units,
               a.mean_adherence, a.on_track_pct, CAST(coalesce(a.lapsed, 0) AS INTEGER) AS lapsed,
               CAST(coalesce(r.assessed, 0) AS INTEGER) AS assessed, r.improved_pct, r.worse_pct, r.mean_change
        FROM a FULL JOIN r USING (grp)
        ORDER BY "group"
    """


def overview(store: Store, scope: Scope) -> Overview:
    """KPIs, weekly adherence and the segment / routine / therapist tables for one scope."""
    with pipeline(store, scope, pain=True) as run:
        return overview_from(run)[0]


def overview_from(run: Pipeline, also: Callable[[Pipeline], T] | None = None) -> tuple[Overview, T | None]:
    """The overview read from the run's tables (m_assignments, m_weeks, m_client, m_pain: built by the
    pipeline, or views on figures kept per client, core.analytics.overview), and what ``also`` reads of the
    same tables (the alerts: they need not be built again), or None without it.

    """
    kpis, weekly = _row(run, _KPI_SQL), run.df(_WEEKLY_SQL)
    by_segment, by_therapist = run.df(_group_sql("segment")), run.df(_group_sql("therapist"))
    by_routine, extra = run.df(_group_sql("routine")), None if also is None else also(run)
    return Overview(scope=run.scope, kpis=kpis, weekly=weekly, by_segment=by_segment, by_routine=by_routine,
                    by_therapist=by_therapist), extra


def _row(run: Pipeline, sql: str) -> dict[str, Any]:
    """One result row as plain Python values (a DataFrame row would turn counts into floats)."""
    cur = run.cur.execute(sql, _bind(sql, run.params))
    names = [c[0] for c in cur.description]
    return {name: _plain(value) for name, value in zip(names, cur.fetchone())}


def _plain(value: Any) -> Any:
    """numpy / pandas scalars to plain Python (None for missing), for JSON and st.metric."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready dicts: plain Python values, dates as ISO strings, missing as None.
    Column by column, each converted to Python values at once."""
    names = list(frame.columns)  # a list: zipping with a pandas Index costs more than the rows' values
    return [dict(zip(names, row)) for row in zip(*(_json_column(frame[name]) for name in names))]


_JSON_TYPES = (str, int, float, bool, type(None))


def _json_column(column: pd.Series) -> list[Any]:
    # to_numpy converts an Arrow-backed column in one call (iterating one goes value by value) and
    # turns every missing value into None; only dates and numpy scalars are left to convert.
    values = column.to_numpy(dtype=object, na_value=None).tolist()
    return [value if type(value) in _JSON_TYPES else _json_value(value) for value in values]


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) and value is not pd.NaT else _plain(value)


# -- public: one client -------------------------------------------------------------------------

@dataclass
class ClientDetail:
    """What the client page draws, for one client over one period."""

    scope: Scope
    client: dict[str, Any]
    summary: dict[str, Any] | None   # the client's row of client_adherence, None if nothing expected
    weekly: pd.DataFrame             # ISO week: active_days, expected, completed (raw), credited, adherence
    sessions: pd.DataFrame           # every logged session in the period, with its attribution
    calendar: pd.DataFrame           # every day of the period: sessions logged, completion
    pain: pd.DataFrame               # pain response per assignment overlapping the period
    assignments: pd.DataFrame        # every assignment of the client, newest first
    findings: pd.DataFrame           # safety findings staff saw or overrode, per assignment


_CLIENT_INFO_SQL = """
    SELECT c.id AS client_id, c.code AS client, c.display_name, c.email, c.therapist, c.due_date,
           c.postpartum, c.conditions, c.archived_at,
           (SELECT string_agg(segment, ', ' ORDER BY segment) FROM client_segments WHERE client_id = $client_id)
               AS segments
    FROM clients c WHERE c.id = $client_id
"""

_CLIENT_WEEKLY_SQL = f"""
    SELECT week_start, CAST(sum(active_days) AS INTEGER) AS active_days, round({exact_sum("expected")}, 3) AS expected,
           round({exact_sum("completed")}, 3) AS completed, round({exact_sum("credited")}, 3) AS credited,
           round(round({exact_sum("credited")} / nullif({exact_sum("expected")}, 0), 6), 3) AS adherence
    FROM m_weeks GROUP BY week_start ORDER BY week_start
"""

# Every session of the client in the period, attributed or not (the read model's attribution).
_CLIENT_SESSIONS_SQL = """
    CREATE TEMP TABLE m_csess AS
    SELECT l.id AS session_id, l.session_date, l.session_time, l.routine_id AS named_routine,
           a.assignment_id, x.routine_id,
           coalesce(a.on_active_day AND a.assignment_id IN (SELECT assignment_id FROM m_assignments), FALSE) AS counted,
           a.completion, l.exercises_done, l.exercises_prescribed, l.duration_min,
           l.pain_before, l.pain_after, l.pain_before - l.pain_after AS relief, l.stiffness,
           l.notes, l.red_flags, l.source
    FROM session_logs l
    LEFT JOIN (SELECT * FROM session_attribution
               WHERE client_id = $client_id AND session_date BETWEEN $p_start AND $as_of) a ON a.session_id = l.id
    LEFT JOIN assignments x ON x.id = a.assignment_id
    WHERE l.client_id = $client_id AND l.session_date BETWEEN $p_start AND $as_of
"""

_CLIENT_CALENDAR_SQL = f"""
    WITH d AS (
        SELECT CAST(range AS DATE) AS day
        FROM range(CAST(CAST($p_start AS DATE) AS TIMESTAMP), CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP),
                   INTERVAL 1 DAY)
    )
    SELECT d.day, CAST(date_trunc('week', d.day) AS DATE) AS week_start, isodow(d.day) AS weekday,
           count(s.session_id) AS sessions, round(coalesce({exact_sum("s.completion")}, 0), 3) AS completion
    FROM d LEFT JOIN m_csess s ON s.session_date = d.day
    GROUP BY d.day ORDER BY d.day
"""

_CLIENT_ASSIGNMENTS_SQL = f"""
    WITH mine AS (
        SELECT * FROM assignments WHERE client_id = $client_id
    ), adh AS (
        SELECT assignment_id, round({exact_sum("expected")}, 3) AS expected, round({exact_sum("credited")}, 3) AS completed,
               round(round({exact_sum("credited")} / nullif({exact_sum("expected")}, 0), 6), 3) AS adherence
        FROM m_weeks GROUP BY assignment_id
    ), pauses AS (
        SELECT assignment_id,
               string_agg(CAST(paused_from AS VARCHAR) || ' to '
                          || coalesce(CAST(paused_until AS VARCHAR), 'open'), '; ' ORDER BY paused_from) AS pauses,
               bool_or($as_of BETWEEN paused_from AND coalesce(paused_until, DATE '9999-12-31')) AS paused_now
        FROM assignment_pauses
        WHERE assignment_id IN (SELECT id FROM mine)
        GROUP BY assignment_id
    ), reviews AS (
        SELECT assignment_id, count(*) FILTER (WHERE level = 'block') AS blocks,
               count(*) FILTER (WHERE level = 'warn') AS warnings, count(*) AS findings
        FROM safety_reviews WHERE client_id = $client_id GROUP BY assignment_id
    )
    SELECT a.id AS assignment_id, a.routine_id, coalesce(r.name, a.routine_id) AS routine, a.routine_version,
           a.start_date, coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) AS last_day, a.weeks,
           a.sessions_per_week, a.status,
           CASE WHEN a.status IN ('ended', 'replaced') THEN a.status
                WHEN $as_of < a.start_date THEN 'upcoming'
                WHEN $as_of > coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) THEN 'finished'
                WHEN pauses.paused_now THEN 'paused'
                ELSE 'active' END AS state,
           pauses.pauses, adh.expected, adh.completed, adh.adherence,
           pain.response, pain.baseline, pain.current, pain.change,
           coalesce(reviews.findings, 0) AS findings, coalesce(reviews.blocks, 0) AS blocks,
           coalesce(reviews.warnings, 0) AS warnings, a.assigned_by, a.assigned_at
    FROM mine a LEFT JOIN routines r ON r.id = a.routine_id
    LEFT JOIN adh ON adh.assignment_id = a.id LEFT JOIN pauses ON pauses.assignment_id = a.id
    LEFT JOIN m_pain pain ON pain.assignment_id = a.id LEFT JOIN reviews ON reviews.assignment_id = a.id
    ORDER BY a.start_date DESC, a.id DESC
"""

_CLIENT_FINDINGS_SQL = """
    SELECT sr.assignment_id, sr.reviewed_at, sr.level, sr.rule_id, coalesce(e.name, sr.exercise_id) AS exercise,
           sr.reason, sr.override_reason, sr.reviewed_by
    FROM safety_reviews sr LEFT JOIN exercises e ON e.id = sr.exercise_id
    WHERE sr.client_id = $client_id
    ORDER BY sr.reviewed_at DESC, sr.id DESC
"""


def client_detail(store: Store, client_id: int, as_of: date, days: int = DEFAULT_DAYS) -> ClientDetail | None:
    """Everything the client page shows; None when there is no such client."""
    with client_pipeline(store, client_id, as_of, days) as run:
        return client_detail_from(run)[0]


def client_pipeline(store: Store, client_id: int, as_of: date,
                    days: int = DEFAULT_DAYS) -> AbstractContextManager[Pipeline]:
    """The metric tables of one client's page (``client_detail_from`` reads them)."""
    return pipeline(store, Scope(as_of=as_of, days=days, client_id=int(client_id)), pain=True)


def client_detail_from(run: Pipeline,
                       also: Callable[[Pipeline], T] | None = None) -> tuple[ClientDetail | None, T | None]:
    """The client page's figures from the metric tables of ``run`` for one client
    (``run.scope.client_id``, ``client_pipeline``), and what ``also`` reads of the same tables (the
    alerts), or None without it. (None, None) when there is no such client."""
    info = run.df(_CLIENT_INFO_SQL)
    if info.empty:
        return None, None
    summary = run.df(_CLIENT_SELECT.format(where=""))
    run.execute(_CLIENT_SESSIONS_SQL)
    sessions = run.df("SELECT * FROM m_csess ORDER BY session_date, session_time NULLS FIRST, session_id")
    weekly, calendar = run.df(_CLIENT_WEEKLY_SQL), run.df(_CLIENT_CALENDAR_SQL)
    findings = run.df(_CLIENT_FINDINGS_SQL)
    pain, assignments = run.df(_PAIN_SELECT.format(where="")), run.df(_CLIENT_ASSIGNMENTS_SQL)
    extra = None if also is None else also(run)
    sessions.insert(sessions.columns.get_loc("red_flags") + 1, "warning_signs",
                    sessions["red_flags"].map(_warning_signs).astype(object))
    return ClientDetail(
        scope=run.scope,
        client={k: _plain(v) for k, v in info.iloc[0].to_dict().items()},
        summary=None if summary.empty else {k: _plain(v) for k, v in summary.iloc[0].to_dict().items()},
        weekly=weekly, sessions=sessions, calendar=calendar,
        pain=pain, assignments=assignments, findings=findings,
    ), extra


def _warning_signs(tags: Any) -> str | None:
    """Red-flag tags (core/sessions/red_flags.py) as the labels staff read, e.g. "Tingling, Sharp pain"."""
    from core.sessions.red_flags import BY_TAG, parse_tags

    found = parse_tags(tags if isinstance(tags, str) else None)
    return ", ".join(BY_TAG[t].label if t in BY_TAG else t.replace("_", " ") for t in found) or None


def find_client_id(store: Store, code: str, sites: tuple[str, ...] | None = None) -> int | None:
    """The id of the client with this code (exact, then ignoring case and outer spaces); with
    ``sites`` (core.access.sites.allowed_sites), a client of another site is not found."""
    code = (code or "").strip()
    if not code:
        return None
    found = store.rows(
        "SELECT id, site FROM clients WHERE code = ? OR lower(code) = lower(?) ORDER BY code = ? DESC, id LIMIT 1",
        [code, code, code])
    if not found or (sites is not None and found[0][1] not in sites):
        return None
    return int(found[0][0])


# -- public: cohorts ----------------------------------------------------------------------------

_COHORT_GROUP = {
    "segment": ("coalesce(s.segment, 'none')", "LEFT JOIN client_segments s ON s.client_id = u.client_id"),
    "routine": ("u.routine_id", ""),
}


def cohorts(store: Store, scope: Scope, by: Literal["segment", "routine"] = "segment",
            weeks: int = COHORT_WEEKS) -> pd.DataFrame:
    """Adherence and pain response by week of program, for assignments started in the period.

    Week k of an assignment is days [start + 7(k-1), start + 7k - 1] (not ISO weeks), so clients
    who started at different times line up. Per group and k: the assignments with something
    expected in k, mean adherence in k (mean of credited_k / expected_k), mean pain_before in k,
    and mean change from the assignment's baseline (docs/analytics/metrics.md, "Cohorts").
    """
    if by not in _COHORT_GROUP:
        raise MetricsError(f"cohorts compare segments or routines, not {by!r}")
    if not 1 <= int(weeks) <= 52:
        raise MetricsError(f"weeks must be between 1 and 52, not {weeks}")
    group_expr, group_join = _COHORT_GROUP[by]
    with empty_pipeline(store, scope) as run:
        _prepare(run, store, scope, pain=True, cohort=True)
        return run.df(f"""
            WITH pw AS (
                SELECT g.assignment_id, g.client_id, g.routine_id, g.sessions_per_week, g.start_date, r.k,
                       g.start_date + 7 * CAST(r.k - 1 AS INTEGER) AS w_lo,
                       least(g.start_date + 7 * CAST(r.k AS INTEGER) - 1, g.end_date, $as_of) AS w_hi
                FROM m_assignments g CROSS JOIN range(1, {int(weeks) + 1}) r(k)
                WHERE g.start_date + 7 * CAST(r.k - 1 AS INTEGER) <= least(g.end_date, $as_of)
            ), active AS (
                SELECT pw.assignment_id, pw.client_id, pw.routine_id, pw.sessions_per_week, pw.k,
                       (pw.w_hi - pw.w_lo + 1)
                       - coalesce(sum(least(p.hi, pw.w_hi) - greatest(p.lo, pw.w_lo) + 1)
                                  FILTER (WHERE p.lo IS NOT NULL), 0) AS active_days
                FROM pw LEFT JOIN m_pause p ON p.assignment_id = pw.assignment_id AND p.lo <= pw.w_hi AND p.hi >= pw.w_lo
                GROUP BY pw.assignment_id, pw.client_id, pw.routine_id, pw.sessions_per_week, pw.k, pw.w_lo, pw.w_hi
            ), by_week AS (  -- m_agg's buckets are program weeks here
                SELECT assignment_id, bucket AS k, completed, pain_sum / nullif(scored, 0) AS pain
                FROM m_agg WHERE bucket IS NOT NULL
            ), u AS (
                SELECT a.*, a.sessions_per_week * a.active_days / 7.0 AS expected,
                       least(coalesce(w.completed, 0), a.sessions_per_week * a.active_days / 7.0) AS credited,
                       w.pain, w.pain - b.baseline AS pain_change
                FROM active a LEFT JOIN by_week w USING (assignment_id, k)
                LEFT JOIN m_pain b USING (assignment_id)
            )
            SELECT {group_expr} AS "group", CAST(u.k AS INTEGER) AS week,
                   CAST(count(*) FILTER (WHERE u.expected > 0) AS INTEGER) AS assignments,
                   round({exact_avg("round(round(u.credited / u.expected, 6), 3)", where="u.expected > 0")}, 3) AS adherence,
                   CAST(count(u.pain) AS INTEGER) AS scored,
                   round({exact_avg("u.pain")}, 3) AS mean_pain,
                   round({exact_avg("u.pain_change")}, 3) AS pain_change
            FROM u {group_join}
            GROUP BY ALL ORDER BY "group", week
        """)


# -- caching ------------------------------------------------------------------------------------


# -- view filters in the URL --------------------------------------------------------------------

PERIODS: tuple[int, ...] = (28, 56, 91, 182, 365)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def scope_from_query(query: dict[str, list[str]], today: date, *, default_days: int = DEFAULT_DAYS,
                     client_id: int | None = None,
                     options: dict[str, list[str]] | None = None) -> tuple[Scope, list[str]]:
    """The scope a bookmarked URL describes (``days``, ``as_of``, ``segment``, ``therapist``,
    ``routine``, ``site``; list values may repeat) and what had to be ignored, in words for the page.

    Anything malformed falls back to the default instead of failing: a link typed by hand must
    still open a page. With ``options`` (filter_options), values nobody can choose are dropped.
    """
    problems: list[str] = []

    def first(name: str) -> str | None:
        values = [v for v in query.get(name, []) if v not in (None, "")]
        return str(values[0]).strip() if values else None

    days = default_days
    if (raw := first("days")) is not None:
        if raw.isdigit() and 1 <= int(raw) <= MAX_DAYS:
            days = int(raw)
        else:
            problems.append(f"period {raw!r} is not a number of days between 1 and {MAX_DAYS}: using {days}")
    as_of = today
    if (raw := first("as_of")) is not None:
        try:
            if not _DATE.match(raw):
                raise ValueError(raw)
            as_of = date.fromisoformat(raw)
        except ValueError:
            problems.append(f"date {raw!r} is not YYYY-MM-DD: using {today.isoformat()}")

    def many(name: str) -> tuple[str, ...]:
        values = tuple(str(v).strip()[:120] for v in query.get(name, []) if v and str(v).strip())
        if options is not None:
            unknown = [v for v in values if v not in options.get(name, [])]
            if unknown:
                problems.append(f"unknown {name} {', '.join(repr(v) for v in unknown)}: ignored")
            values = tuple(v for v in values if v in options.get(name, []))
        return values

    scope = Scope(as_of=as_of, days=days, segments=many("segment"), therapists=many("therapist"),
                  routines=many("routine"), client_id=client_id, sites=many("site") or None)
    return scope, problems


def scope_to_query(scope: Scope, today: date, *, default_days: int = DEFAULT_DAYS) -> dict[str, list[str]]:
    """The URL parameters for a scope; defaults are left out so plain URLs stay plain."""
    query: dict[str, list[str]] = {}
    if scope.days != default_days:
        query["days"] = [str(scope.days)]
    if scope.as_of != today:
        query["as_of"] = [scope.as_of.isoformat()]
    for name, values in (("segment", scope.segments), ("therapist", scope.therapists), ("routine", scope.routines),
                         ("site", scope.sites)):
        if values:
            query[name] = list(values)
    return query


def filter_options(store: Store, allowed: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """What the filters can choose from, for a visitor who may see the sites ``allowed``
    (core.access.sites.allowed_sites; None: every site): the segments and therapists of current
    clients, the routines ever assigned, and the sites, all of those sites only, so no choice names
    a therapist or routine of another site (small queries; pages cache them on the store's version
    and the allowed sites)."""
    clients = "TRUE" if allowed is None else "c.site IN (SELECT unnest(CAST($sites AS VARCHAR[])))"
    params = None if allowed is None else {"sites": list(allowed)}

    def values(sql: str) -> list[str]:
        return [r[0] for r in store.rows(sql, params)]

    return {
        "segment": values("SELECT DISTINCT s.segment FROM client_segments s JOIN clients c ON c.id = s.client_id"
                          f" WHERE c.archived_at IS NULL AND {clients} ORDER BY 1"),
        "therapist": values("SELECT DISTINCT c.therapist FROM clients c WHERE c.archived_at IS NULL"
                            f" AND c.therapist IS NOT NULL AND c.therapist <> '' AND {clients} ORDER BY 1"),
        "routine": values("SELECT DISTINCT a.routine_id FROM assignments a JOIN clients c ON c.id = a.client_id"
                          f" WHERE {clients} ORDER BY 1"),
        "site": offered_sites(site_labels(store), allowed),
    }


def within_allowed_sites(scope: Scope, allowed: tuple[str, ...] | None) -> Scope:
    """``scope`` cut to the sites a member may see (core.access.sites.allowed_sites, None: all):
    what the filters ask, intersected with what is allowed, so no widget or URL reaches past it."""
    return replace(scope, sites=within_sites(scope.sites, allowed))


def routine_names(store: Store) -> dict[str, str]:
    return dict(store.rows("SELECT id, name FROM routines"))
