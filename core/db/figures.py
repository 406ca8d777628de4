"""The read model: summaries of the session logs kept by the writes, in the same transaction.

Which assignment a session belongs to (attribution, docs/analytics/metrics.md) does not depend on
the date figures are read as of: only on the client's assignments, pauses and routine items. So
it is worked out once, when a write changes one of them, and kept with the figures every view sums:

- ``session_attribution``: each attributed session with its assignment, completion and scores;
- ``assignment_day_figures``: per assignment and day, the completion sum and session count of the
  sessions on active days, and the pain scores of all its sessions;
- ``assignment_pain_figures``: per assignment, the scored sessions, the sums of the first and the
  last three scores, relief, and the day of its last session (a view as of an earlier day reads
  ``session_attribution`` instead, exactly);
- ``assignment_pain_ends``: per assignment, its first and last three scored sessions, so that new
  scores merge with them without re-reading the others;
- ``client_figures``: per client, the last session.

``Store.transaction`` calls ``keep_figures`` before it commits any write to the practice or the
session logs, with the clients the write names (every write names the clients it may change;
none named means any). A client's rows are rebuilt from that client's data alone: a figure of one
client never depends on another client's. A write that only adds session logs calls
``add_sessions`` itself instead, which adds just those. ``rebuild_figures`` recomputes everything
(``routine-desk rebuild-figures``); the property test in tests/unit/db/test_figures.py holds the
kept rows equal to a rebuild after random writes.

Figures computed from these for a period (core/analytics/period_figures.py) are kept per client
and checked against ``figure_generations``: every write raises the generation of the clients it
may change (``raise_generations``), in its own transaction, so a reader in any process sees which
kept rows are out of date.

This is the lowest floor that every writer reaches (core/practice and core/sessions may not
import core/analytics), so the attribution SQL lives here and core.analytics.metrics reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# In the order a rebuild fills them (the pain figures sum the pain ends).
FIGURE_TABLES: tuple[str, ...] = ("session_attribution", "assignment_day_figures", "assignment_pain_ends",
                                  "assignment_pain_figures", "client_figures")
BASELINE_SESSIONS = 3  # the pain baseline is the mean of the first 3 scored sessions, current of the last 3

# Effective last day of an assignment: staff's end_date, else the planned end.
ASSIGNMENT_END = "coalesce(a.end_date, a.start_date + 7 * a.weeks - 1)"
# The assignment is not empty (written so DuckDB need not build the end date for every row).
ASSIGNMENT_NOT_EMPTY = "CASE WHEN a.end_date IS NULL THEN a.weeks >= 1 ELSE a.end_date >= a.start_date END"


def exact_sum(expression: str, where: str = "") -> str:
    """SQL: the sum of a DOUBLE ``expression`` (over the rows where ``where`` holds) that does not
    depend on the order the rows come in. A parallel aggregate adds them in any order and a float
    sum's last bits follow it, which tipped a figure on a tie (6 / 13.714285... = 0.4375) to 0.437
    in one run and 0.438 in the next; each value to 9 decimals, added exactly, gives one answer."""
    return _exactly("sum", expression, where)


def exact_avg(expression: str, where: str = "") -> str:
    """SQL: the mean of a DOUBLE ``expression``, whatever the rows' order (``exact_sum``)."""
    return _exactly("avg", expression, where)


def _exactly(aggregate: str, expression: str, where: str) -> str:
    condition = f" FILTER (WHERE {where})" if where else ""
    return f"CAST({aggregate}(CAST({expression} AS DECIMAL(18, 9))){condition} AS DOUBLE)"


def session_order_key(time_sql: str = "session_time", id_sql: str = "session_id") -> str:
    """Sessions in order: date, then time (a missing one counts as 00:00), then entry order, packed
    in one BIGINT (seconds since 2000 x 2^31 + the log id; exact for ids below 2^31 and dates
    before 2100). Integer keys make top-3 aggregates far cheaper than a window sort."""
    return (f"(CAST(session_date - DATE '2000-01-01' AS BIGINT) * 86400 + CAST(epoch({time_sql}) AS BIGINT))"
            f" * 2147483648 + {id_sql} % 2147483648")


def attribution_sql(*, clients: str = "", sessions: str = "") -> str:
    """A WITH list ending in ``attributed``: every session of the clients ``clients`` selects (an
    ``AND client_id ...`` condition, empty for all), or only those of them ``sessions`` selects (an
    ``AND ...`` condition on session_logs), that belongs to an assignment, with that assignment,
    whether the session day is an active (unpaused) day, and its completion.

    A session naming a routine belongs to the client's assignment of that routine whose [start,
    last day] holds the session date; one naming none to an assignment active (not paused) that
    day; the most recently started wins, then the most recently created. Only clients with two
    candidates that share a day need that tie-break, so only their sessions go through the window.
    Completion: min(1, done / prescribed), prescribed defaulting to the items of the session's
    block (a day plan's slot) or else of the routine version; no count given is a complete session.
    """
    return f"""
    s AS (
        SELECT id AS session_id, client_id, routine_id AS named_routine, session_date,
               coalesce(session_time, TIME '00:00:00') AS session_time,
               exercises_done, exercises_prescribed, pain_before, pain_after, lower(block) AS block
        FROM session_logs
        WHERE TRUE {clients} {sessions}
    ), items AS (
        SELECT routine_id, version, count(*) AS items FROM routine_items GROUP BY routine_id, version
    ), block_items AS (  -- the items of each block of a day plan (routine items with a slot)
        SELECT routine_id, version, lower(slot) AS block, count(*) AS items
        FROM routine_items WHERE slot IS NOT NULL GROUP BY ALL
    ), cand AS (
        SELECT a.id AS assignment_id, a.client_id, a.routine_id, a.routine_version, a.start_date,
               {ASSIGNMENT_END} AS end_date, i.items
        FROM assignments a LEFT JOIN items i ON i.routine_id = a.routine_id AND i.version = a.routine_version
        WHERE {ASSIGNMENT_NOT_EMPTY} {clients}
    ), overlapping AS (
        SELECT DISTINCT x.client_id FROM cand x JOIN cand y
          ON x.client_id = y.client_id AND x.assignment_id < y.assignment_id
         AND x.start_date <= y.end_date AND y.start_date <= x.end_date
    ), covering AS (
        SELECT s.*, c.assignment_id, c.routine_id, c.start_date, coalesce(b.items, c.items) AS items
        FROM s JOIN cand c
          ON c.client_id = s.client_id AND s.session_date BETWEEN c.start_date AND c.end_date
        LEFT JOIN block_items b ON b.routine_id = c.routine_id AND b.version = c.routine_version AND b.block = s.block
    ), paused_days AS (  -- (session, assignment) pairs on a paused day of that assignment
        SELECT DISTINCT v.session_id, v.assignment_id
        FROM covering v JOIN assignment_pauses p
          ON p.assignment_id = v.assignment_id AND v.session_date >= p.paused_from
         AND (p.paused_until IS NULL OR (v.session_date <= p.paused_until AND p.paused_until >= p.paused_from))
    ), pairs AS (
        SELECT v.*, d.session_id IS NOT NULL AS paused
        FROM covering v LEFT JOIN paused_days d USING (session_id, assignment_id)
        WHERE v.named_routine = v.routine_id OR (v.named_routine IS NULL AND d.session_id IS NULL)
    ), chosen AS (
        SELECT * FROM pairs WHERE client_id NOT IN (SELECT client_id FROM overlapping)
        UNION ALL
        SELECT * FROM (
            SELECT * FROM pairs WHERE client_id IN (SELECT client_id FROM overlapping)
            QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY start_date DESC, assignment_id DESC) = 1)
    ), attributed AS (
        SELECT session_id, client_id, assignment_id, session_date, session_time, NOT paused AS on_active_day,
               CASE WHEN exercises_done IS NULL THEN 1.0
                    WHEN exercises_done <= 0 THEN 0.0
                    ELSE least(1.0, exercises_done / coalesce(
                        CASE WHEN exercises_prescribed > 0 THEN exercises_prescribed END,
                        nullif(items, 0), exercises_done))
               END AS completion,
               pain_before, pain_after
        FROM chosen
    )
    """


def _day_figures(source: str, condition: str = "") -> str:
    """Per assignment and day of the attributed sessions in ``source`` (a table with the columns of
    session_attribution): the rows of assignment_day_figures."""
    return f"""
        SELECT assignment_id, any_value(client_id) AS client_id, session_date AS day,
               coalesce({exact_sum("completion", where="on_active_day")}, 0.0) AS completed,
               CAST(count(*) FILTER (WHERE on_active_day) AS INTEGER) AS sessions,
               CAST(count(pain_before) AS INTEGER) AS scored, {exact_sum("pain_before")} AS pain_sum
        FROM {source} x WHERE TRUE {condition}
        GROUP BY assignment_id, session_date"""


def _pain_totals(source: str, condition: str = "") -> str:
    """Per assignment of the attributed sessions in ``source``: the pain figures that add up."""
    return f"""
        SELECT assignment_id, any_value(client_id) AS client_id, CAST(count(pain_before) AS INTEGER) AS scored,
               {exact_sum("pain_before - pain_after")} AS relief_sum, CAST(count(pain_before - pain_after) AS INTEGER) AS relief_n,
               max(session_date) AS last_day
        FROM {source} x WHERE TRUE {condition}
        GROUP BY assignment_id"""


def _merged_pain_totals(new: str) -> str:
    """The kept pain totals of the assignments with new sessions (``new``: a condition on
    session_attribution) and the totals of those sessions, added up per assignment."""
    return f"""
        SELECT assignment_id, any_value(client_id) AS client_id, CAST(sum(scored) AS INTEGER) AS scored,
               {exact_sum("relief_sum")} AS relief_sum, CAST(sum(relief_n) AS INTEGER) AS relief_n, max(last_day) AS last_day
        FROM (SELECT assignment_id, client_id, scored, relief_sum, relief_n, last_day FROM assignment_pain_figures
              WHERE assignment_id IN (SELECT assignment_id FROM session_attribution x WHERE TRUE {new})
              UNION ALL {_pain_totals('session_attribution', new)})
        GROUP BY assignment_id"""


def _scored(source: str, condition: str = "") -> str:
    """The scored sessions of ``source`` (attributed sessions) with their place in session order."""
    return (f"SELECT assignment_id, client_id, {session_order_key()} AS session_order, pain_before"
            f" FROM {source} x WHERE pain_before IS NOT NULL {condition}")


def _pain_ends(scored: str) -> str:
    """Rows of assignment_pain_ends from ``scored`` (a query of _scored's columns): the sessions among
    the first or the last BASELINE_SESSIONS of their assignment."""
    n = BASELINE_SESSIONS
    return f"""
        WITH scored AS ({scored}), ends AS (
            SELECT assignment_id, min(session_order, {n}) AS firsts, max(session_order, {n}) AS lasts
            FROM scored GROUP BY assignment_id)
        SELECT s.assignment_id, s.client_id, s.session_order, s.pain_before,
               list_contains(e.firsts, s.session_order), list_contains(e.lasts, s.session_order)
        FROM scored s JOIN ends e USING (assignment_id)
        WHERE list_contains(e.firsts, s.session_order) OR list_contains(e.lasts, s.session_order)"""


def _pain_figures(totals: str, ends_condition: str) -> str:
    """Rows of assignment_pain_figures: ``totals`` (a query of _pain_totals' columns) with the sums
    of the first and the last scores from assignment_pain_ends (the rows ``ends_condition`` picks),
    each summed in session order so that every way of keeping them gives the same number."""
    return f"""
        WITH totals AS ({totals}), end_sums AS (
            SELECT assignment_id,
                   list_sum(list(pain_before ORDER BY session_order) FILTER (WHERE is_first)) AS first3_sum,
                   list_sum(list(pain_before ORDER BY session_order) FILTER (WHERE is_last)) AS last3_sum
            FROM assignment_pain_ends x WHERE TRUE {ends_condition} GROUP BY assignment_id)
        SELECT t.assignment_id, t.client_id, t.scored, e.first3_sum, e.last3_sum, t.relief_sum, t.relief_n,
               t.last_day
        FROM totals t LEFT JOIN end_sums e USING (assignment_id)"""


def _statements(clients: str) -> list[str]:
    """The INSERTs that fill every figure table for the clients ``clients`` selects, in order."""
    on_clients = clients.replace("AND client_id", "AND x.client_id", 1)
    return [
        f"""INSERT INTO session_attribution
            WITH {attribution_sql(clients=clients)}
            SELECT session_id, client_id, assignment_id, session_date, session_time, on_active_day, completion,
                   pain_before, pain_after
            FROM attributed""",
        f"INSERT INTO assignment_day_figures {_day_figures('session_attribution', on_clients)}",
        f"INSERT INTO assignment_pain_ends {_pain_ends(_scored('session_attribution', on_clients))}",
        f"INSERT INTO assignment_pain_figures {_pain_figures(_pain_totals('session_attribution', on_clients), on_clients)}",
        f"""INSERT INTO client_figures
            SELECT client_id, max(session_date) FROM session_logs x WHERE TRUE {on_clients}
            GROUP BY client_id""",
    ]


def keep_figures(cur: Any, clients: Iterable[int] | None) -> None:
    """Bring the figure tables up to date for ``clients`` (None: every client), inside the caller's
    transaction: their rows are deleted and computed again from their logs and assignments."""
    if clients is None:
        rebuild_figures(cur)
        return
    ids = sorted({int(c) for c in clients})
    if not ids:
        return
    cur.execute("CREATE OR REPLACE TEMP TABLE figures_clients AS SELECT unnest(CAST($ids AS BIGINT[])) AS client_id",
                {"ids": ids})
    chosen = "AND client_id IN (SELECT client_id FROM figures_clients)"
    try:
        for table in FIGURE_TABLES:
            cur.execute(f"DELETE FROM {table} WHERE TRUE {chosen}")
        for statement in _statements(chosen):
            cur.execute(statement)
    finally:
        cur.execute("DROP TABLE IF EXISTS figures_clients")


def add_sessions(cur: Any, added: str) -> None:
    """Add to the figures the session logs that ``added`` (a condition on session_logs, such as
    ``id > 41``) selects, inside the caller's transaction, for a write that only added them; their
    ids must all be above every attributed session's.

    Nothing else a figure reads may have changed (assignments, pauses, routine items), so the other
    sessions keep their attribution: only the new ones are attributed, and the rows they change are
    merged with the kept ones (sums add up; the first and last scores are the ends of the kept ends
    and the new scores). A 1,000,000-row import so costs the figures of its own rows, not a rebuild
    of every client it names.
    """
    new_clients = f"AND client_id IN (SELECT client_id FROM session_logs WHERE {added})"
    first_new = cur.execute(f"SELECT min(id) FROM session_logs WHERE {added}").fetchone()[0]
    if first_new is None:
        return
    new = f"AND x.session_id >= {int(first_new)}"  # the attributed new sessions (ids only grow)
    touched = f"assignment_id IN (SELECT assignment_id FROM session_attribution x WHERE TRUE {new})"
    statements = [
        f"""INSERT INTO session_attribution
            WITH {attribution_sql(clients=new_clients, sessions=f"AND ({added})")}
            SELECT session_id, client_id, assignment_id, session_date, session_time, on_active_day, completion,
                   pain_before, pain_after
            FROM attributed""",
        # days: those already kept get the new sums added, the others are inserted (one join says which)
        f"""CREATE OR REPLACE TEMP TABLE figures_days AS
            SELECT n.*, EXISTS (SELECT 1 FROM assignment_day_figures d
                                WHERE d.assignment_id = n.assignment_id AND d.day = n.day) AS kept
            FROM ({_day_figures('session_attribution', new)}) n""",
        """UPDATE assignment_day_figures SET completed = assignment_day_figures.completed + n.completed,
                  sessions = assignment_day_figures.sessions + n.sessions,
                  scored = assignment_day_figures.scored + n.scored,
                  pain_sum = CASE WHEN n.pain_sum IS NULL THEN assignment_day_figures.pain_sum
                                  ELSE coalesce(assignment_day_figures.pain_sum, 0) + n.pain_sum END
           FROM figures_days n
           WHERE n.kept AND n.assignment_id = assignment_day_figures.assignment_id
             AND n.day = assignment_day_figures.day""",
        """INSERT INTO assignment_day_figures
           SELECT assignment_id, client_id, day, completed, sessions, scored, pain_sum FROM figures_days WHERE NOT kept""",
        # pain: the new ends of the kept ends and the new scores, then the totals added up
        f"""CREATE OR REPLACE TEMP TABLE figures_scored AS
            SELECT assignment_id, client_id, session_order, pain_before FROM assignment_pain_ends WHERE {touched}
            UNION ALL {_scored('session_attribution', new)}""",
        f"DELETE FROM assignment_pain_ends WHERE {touched}",
        f"INSERT INTO assignment_pain_ends {_pain_ends('SELECT * FROM figures_scored')}",
        f"CREATE OR REPLACE TEMP TABLE figures_pain AS {_pain_figures(_merged_pain_totals(new), f'AND x.{touched}')}",
        f"DELETE FROM assignment_pain_figures WHERE {touched}",
        "INSERT INTO assignment_pain_figures SELECT * FROM figures_pain",
        f"""UPDATE client_figures SET last_session = greatest(client_figures.last_session, n.last_session)
            FROM (SELECT client_id, max(session_date) AS last_session FROM session_logs WHERE {added}
                  GROUP BY client_id) n
            WHERE n.client_id = client_figures.client_id""",
        f"""INSERT INTO client_figures SELECT client_id, max(session_date) FROM session_logs
            WHERE {added} AND client_id NOT IN (SELECT client_id FROM client_figures) GROUP BY client_id""",
    ]
    try:
        for statement in statements:
            cur.execute(statement)
    finally:
        for table in ("figures_days", "figures_pain", "figures_scored"):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
    raise_generations(cur, f"SELECT DISTINCT client_id FROM session_logs WHERE {added}", safety=False)


def raise_generations(cur: Any, clients: str | None, params: Sequence[Any] = (), *, safety: bool) -> None:
    """Mark the figures kept for a period of some clients as out of date, inside the writer's
    transaction: ``clients`` is a query of their ids (with ``params``), None for every client.
    ``safety``: the write may change their safety findings too (core/practice/assignments.py), as
    a change to a client, an assignment or the library may and a session log may not.

    Kept rows are never edited by a write (a reader may be computing them at that moment, from data
    older than the write); they record the generations they were computed at, and a reader computes
    a client again when its generation, or client 0's, has moved on."""
    raised = "generation = generation + 1" + (", safety_generation = safety_generation + 1" if safety else "")
    if clients is None:
        cur.execute(f"UPDATE figure_generations SET {raised} WHERE client_id = 0")
        return
    cur.execute(f"CREATE OR REPLACE TEMP TABLE changed_clients AS SELECT DISTINCT CAST(c AS BIGINT) AS client_id"
                f" FROM ({clients}) t(c) WHERE c IS NOT NULL", list(params))
    try:
        cur.execute(f"UPDATE figure_generations SET {raised} WHERE client_id IN (SELECT client_id FROM changed_clients)")
        cur.execute(f"INSERT INTO figure_generations SELECT client_id, 1, {int(safety)} FROM changed_clients"
                    " WHERE client_id NOT IN (SELECT client_id FROM figure_generations)")
    finally:
        cur.execute("DROP TABLE IF EXISTS changed_clients")


def rebuild_figures(cur: Any) -> None:
    """Every figure table recomputed from the logs (inside the caller's transaction)."""
    for table in FIGURE_TABLES:
        cur.execute(f"DELETE FROM {table}")
    for statement in _statements(""):
        cur.execute(statement)
    raise_generations(cur, None, safety=False)
