"""Alerts: who needs a person to look at them today, and why.

Alerts are not stored; they are computed from the data as of a date, over a fixed window of the
last ``ALERT_DAYS`` days (whatever period a page shows), so the open list is the same on every
page and in the CLI. What is stored is the acknowledgement: who looked, their note, and a copy of
the alert as it was shown. An acknowledged alert leaves the open list and stays in the history.

Each alert has a key naming its episode (docs/analytics/metrics.md, "Alerts"): when the condition ends and
comes back (a new red-flag note, a new run of high pain, a new lapse after sessions resumed) the
key changes and the alert is open again.

Rules and levels (issue 5; reasons cite ../shared/clinical-notes.md):
- red_flag      the level stored with the note's tags, judged for the client on the session's date
                (core/sessions/red_flags.py: cauda equina critical for everyone, pregnancy warning
                signs critical while pregnant or up to 6 weeks after, otherwise judged on their own)
- pain_worse    high: the assignment's pain response is ``worse`` (metrics)
- pain_high     high: the latest pain_before in the window is 7 or more
- pain_after    high: the latest pain_after in the window is above 5, or 2 or more above pain_before
                (pain-monitoring model)
- lapsed        medium: status ``lapsed``
- low_adherence medium: status ``low``, once a program of the client has run 7 active days
- safety        medium: a safety finding that began to apply after the assignment was checked
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from core.analytics import metrics
from core.analytics.metrics import Pipeline, Scope
from core.db.store import ACCOUNTS, ACKNOWLEDGEMENTS, Store, next_id, utcnow

ALERT_DAYS = 28
PAIN_HIGH = 7.0
PAIN_AFTER_LIMIT = 5.0     # pain-monitoring model: above 5/10 with exercise is not acceptable
PAIN_AFTER_RISE = 2.0      # a rise of 2 points over pain before is a change that matters
LOW_ADHERENCE_MIN_DAYS = 7  # low adherence is only called once a program has run this many active days
LEVELS = ("critical", "high", "medium")
KINDS = ("red_flag", "pain_worse", "pain_high", "pain_after", "lapsed", "low_adherence", "safety")
LEVEL_LABELS = {"critical": "Critical", "high": "High", "medium": "Medium"}
KIND_LABELS = {"red_flag": "Warning sign in notes", "pain_worse": "Pain worse", "pain_high": "High pain",
               "pain_after": "Pain after a session", "lapsed": "Lapsed", "low_adherence": "Low adherence",
               "safety": "Safety finding"}
MAX_NOTE = 2000

COLUMNS = ["alert_key", "client_id", "client", "display_name", "level", "kind", "reason", "since",
           "assignment_id", "session_id", "detail"]
ACK_COLUMNS = ["acknowledged", "note", "acknowledged_by", "acknowledged_at"]

_KEY = re.compile(r"^[a-z_]+:c(\d+):")


class AlertError(ValueError):
    """An acknowledgement that cannot be recorded; the message says why, for staff."""


@dataclass(frozen=True)
class Acknowledgement:
    id: int
    alert_key: str
    note: str
    acknowledged_by: str


# -- computing ----------------------------------------------------------------------------------

def _client_filter(scope: Scope) -> str:
    """Clients whose notes and pain scores are read: the scope's clients (any with a session count,
    not only those with an active assignment); with a routine filter, those on that routine."""
    parts = [metrics.clients_in_scope_sql(scope, "client_id")]
    if scope.routines:
        parts.append("client_id IN (SELECT client_id FROM m_assignments)")
    return " AND ".join(parts)


# The session logs' columns the alerts read (of the window, and earlier pain scores).
LOG_COLUMNS = ("id", "client_id", "session_date", "session_time", "pain_before", "pain_after", "notes",
               "red_flags", "red_flag_level", "red_flag_pregnant")
_LOG_KEY = metrics.sort_key("coalesce(session_time, TIME '00:00:00')", "id")


def _high_pain_sql(scope: Scope, logs: str) -> str:
    """The CTEs of pain_high over the window's ``logs``: scored, latest, high_now, calm_recent
    and high_all_window, the clients whose scores were high all through the window."""
    return f"""
        scored AS (  -- pain scores in the window, in session order
            SELECT client_id, session_date, pain_before, {_LOG_KEY} AS k
            FROM {logs}
            WHERE session_date BETWEEN $p_start AND $as_of AND pain_before IS NOT NULL AND {_client_filter(scope)}
        ), latest AS (
            SELECT client_id, arg_max(pain_before, k) AS pain, max(k) AS k, max(session_date) AS on_date
            FROM scored GROUP BY client_id
        ), high_now AS (SELECT * FROM latest WHERE pain >= {PAIN_HIGH}),
        calm_recent AS (  -- the last score below the threshold, in the window ...
            SELECT client_id, max(k) AS k FROM scored
            WHERE pain_before < {PAIN_HIGH} AND client_id IN (SELECT client_id FROM high_now)
            GROUP BY client_id
        ), high_all_window AS (SELECT client_id FROM high_now ANTI JOIN calm_recent USING (client_id))
    """


def _metric_alerts_sql(scope: Scope, logs: str, earlier: str) -> str:
    """lapsed, low_adherence and pain_worse from the pipeline tables; pain_high and pain_after from
    the window's ``logs`` and, for clients high all through the window, their ``earlier`` scores."""
    return f"""
        WITH act AS (  -- for the reason text of lapsed clients: what runs on as_of, since when
            SELECT g.client_id, min(g.start_date) AS first_start,
                   string_agg(DISTINCT coalesce(r.name, g.routine_id), ', ' ORDER BY coalesce(r.name, g.routine_id))
                       FILTER (WHERE g.end_date >= $as_of) AS routines
            FROM m_assignments g LEFT JOIN routines r ON r.id = g.routine_id
            WHERE g.start_date <= $as_of
              AND g.client_id IN (SELECT client_id FROM m_client WHERE status = 'lapsed')
            GROUP BY g.client_id
        ), lapsed AS (
            SELECT m.client_id, CAST(NULL AS BIGINT) AS assignment_id, CAST(NULL AS BIGINT) AS session_id,
                   'medium' AS level, 'lapsed' AS kind,
                   coalesce(m.last_session, a.first_start) AS since,
                   'lapsed:c' || m.client_id || ':' || coalesce(CAST(m.last_session AS VARCHAR), 'none') AS alert_key,
                   CASE WHEN m.last_session IS NULL THEN
                        printf('No session logged since the program started on %s (%d days ago); %s is active.'
                               ' Contact the client.', a.first_start, $as_of - a.first_start, a.routines)
                   ELSE printf('No session logged for %d days (last on %s) while %s is active. Contact the client.',
                               m.days_since_last, m.last_session, a.routines) END AS reason
            FROM m_client m JOIN act a USING (client_id)
            WHERE m.status = 'lapsed'
        ), low AS (
            SELECT client_id, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), 'medium', 'low_adherence',
                   CAST($p_start AS DATE),
                   'low_adherence:c' || client_id || ':' || strftime(CAST($as_of AS DATE), '%G-W%V'),
                   printf('Adherence %.1f%% over the last {ALERT_DAYS} days: %g of %g expected sessions done '
                          '(below 50%%). Ask what gets in the way; short routines of 2-4 exercises are '
                          'followed better.', adherence * 100, completed, expected)
            FROM m_client WHERE status = 'low' AND longest_active >= {LOW_ADHERENCE_MIN_DAYS}
        ), worse AS (
            SELECT p.client_id, p.assignment_id, CAST(NULL AS BIGINT), 'high', 'pain_worse', p.worse_since,
                   'pain_worse:c' || p.client_id || ':a' || p.assignment_id || ':' || p.worse_since,
                   printf('Pain before sessions rose from %g to %g (%+g points) on %s; a rise of 2 points '
                          'or more is a change that matters. Review the load or the routine with the client.',
                          p.baseline, p.current, p.change, coalesce(r.name, p.routine_id))
            FROM m_pain p LEFT JOIN routines r ON r.id = p.routine_id
            WHERE p.response = 'worse'
        ), {_high_pain_sql(scope, logs)},
        before AS (  -- ... or, for clients high all through the window, back to their program start
            SELECT s.client_id, s.session_date, s.pain_before
            FROM {earlier} s
            JOIN (SELECT client_id, min(start_date) AS bound FROM m_assignments GROUP BY client_id) b USING (client_id)
            WHERE s.session_date >= $lo AND s.session_date < $p_start AND s.session_date >= b.bound
              AND s.pain_before IS NOT NULL AND s.client_id IN (SELECT client_id FROM high_all_window)
        ), calm_before AS (
            SELECT client_id, max(session_date) AS calm_day FROM before
            WHERE pain_before < {PAIN_HIGH} GROUP BY client_id
        ), run_before AS (  -- their high scores before the window, after that calm day
            SELECT s.client_id, min(s.session_date) AS since, count(*) AS n
            FROM before s LEFT JOIN calm_before c USING (client_id)
            WHERE s.pain_before >= {PAIN_HIGH} AND (c.calm_day IS NULL OR s.session_date > c.calm_day)
            GROUP BY s.client_id
        ), run_window AS (
            SELECT s.client_id, min(s.session_date) AS since, count(*) AS n
            FROM scored s JOIN high_now h USING (client_id) LEFT JOIN calm_recent c USING (client_id)
            WHERE s.pain_before >= {PAIN_HIGH} AND (c.k IS NULL OR s.k > c.k)
            GROUP BY s.client_id
        ), streak AS (
            SELECT w.client_id, coalesce(b.since, w.since) AS since, w.n + coalesce(b.n, 0) AS n
            FROM run_window w LEFT JOIN run_before b USING (client_id)
        ), high AS (
            SELECT h.client_id, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), 'high', 'pain_high', st.since,
                   'pain_high:c' || h.client_id || ':' || st.since,
                   printf('Latest pain score before a session was %g/10 on %s (%d session(s) in a row at 7 or '
                          'more since %s). Check in with the client before the next session and review the load.',
                          h.pain, h.on_date, st.n, st.since)
            FROM high_now h JOIN streak st USING (client_id)
        ), after_scored AS (  -- pain after sessions in the window, in session order
            SELECT client_id, id AS session_id, session_date, pain_before, pain_after, {_LOG_KEY} AS k,
                   pain_after > {PAIN_AFTER_LIMIT}
                   OR coalesce(pain_after - pain_before >= {PAIN_AFTER_RISE}, FALSE) AS too_much
            FROM {logs}
            WHERE session_date BETWEEN $p_start AND $as_of AND pain_after IS NOT NULL AND {_client_filter(scope)}
        ), after_now AS (  -- clients whose latest score after a session is too much
            SELECT * FROM after_scored
            QUALIFY k = max(k) OVER (PARTITION BY client_id) AND too_much
        ), after_fine AS (
            SELECT client_id, max(k) AS k FROM after_scored
            WHERE NOT too_much AND client_id IN (SELECT client_id FROM after_now) GROUP BY client_id
        ), after_run AS (  -- the current run of sessions with too much pain after, in the window
            SELECT s.client_id, min(s.session_date) AS since, count(*) AS n
            FROM after_scored s LEFT JOIN after_fine f USING (client_id)
            WHERE s.too_much AND s.client_id IN (SELECT client_id FROM after_now) AND (f.k IS NULL OR s.k > f.k)
            GROUP BY s.client_id
        ), after AS (
            SELECT n.client_id, CAST(NULL AS BIGINT), n.session_id, 'high', 'pain_after', r.since,
                   'pain_after:c' || n.client_id || ':' || r.since,
                   printf('Pain after the session on %s was %g/10%s (%d session(s) in a row since %s). With '
                          'exercise, pain above 5/10 is not acceptable (pain-monitoring model) and a rise of 2 '
                          'points is a change that matters: reduce the load, and ask how the pain is the next '
                          'morning.', n.session_date, n.pain_after,
                          CASE WHEN n.pain_before IS NOT NULL THEN printf(', %g before', n.pain_before) ELSE '' END, r.n, r.since)
            FROM after_now n JOIN after_run r USING (client_id)
        )
        SELECT * FROM lapsed UNION ALL SELECT * FROM low UNION ALL SELECT * FROM worse
        UNION ALL SELECT * FROM high UNION ALL SELECT * FROM after
    """


def alert_logs(run: Pipeline, store: Store) -> tuple[str, str]:
    """The session logs the alerts read (``metrics.rows_of``): those of the window, and the earlier
    pain scores of the clients whose scores were high all through it."""
    scope = run.scope
    window = f"session_date BETWEEN {metrics.date_sql(scope.period_start)} AND {metrics.date_sql(scope.as_of)}"
    logs = metrics.rows_of(run, store, "session_logs", window, name="m_logs", columns=LOG_COLUMNS)
    earlier = metrics.rows_of(
        run, store, "session_logs", f"session_date < {metrics.date_sql(scope.period_start)} AND pain_before IS NOT NULL",
        name="m_logs_before", columns=LOG_COLUMNS,
        clients=f"WITH {_high_pain_sql(scope, logs)} SELECT client_id FROM high_all_window")
    return logs, earlier


def _red_flag_rows(run: Pipeline, logs: str) -> pd.DataFrame:
    return run.df(f"""
        SELECT client_id, id AS session_id, session_date, red_flags, red_flag_level, red_flag_pregnant, notes
        FROM {logs}
        WHERE session_date BETWEEN $p_start AND $as_of AND red_flag_level IN ('critical', 'high', 'medium')
          AND {_client_filter(run.scope)}
        ORDER BY session_date, id
    """)


def _red_flag_alerts(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One alert per flagged session, at the level stored with its tags (judged for the client on
    the session's date, core/sessions/red_flags.py), worded by the same module."""
    from core.sessions.red_flags import alert_reason, parse_tags

    alerts = []
    for r in rows.itertuples(index=False):
        when = pd.Timestamp(r.session_date).date()
        alerts.append({
            "client_id": int(r.client_id), "assignment_id": None, "session_id": int(r.session_id),
            "level": r.red_flag_level, "kind": "red_flag", "since": when,
            "alert_key": f"red_flag:c{int(r.client_id)}:s{int(r.session_id)}",
            "reason": alert_reason(when.isoformat(), parse_tags(r.red_flags), bool(r.red_flag_pregnant)),
            "detail": r.notes,
        })
    return alerts


def _safety_changes(store: Store, scope: Scope) -> pd.DataFrame:
    """The safety re-check behind ``scope``'s safety alerts (kept rows: see core.practice.assignments)."""
    from core.practice.assignments import safety_changes_since_assignment

    if scope.client_id is None and not scope.clients:
        return safety_changes_since_assignment(store, scope.as_of)
    # one client's page, or some clients recomputed: check only their assignments
    return safety_changes_since_assignment(
        store, scope.as_of, client_ids=scope.clients if scope.client_id is None else scope.client_id)


def _safety_alerts(store: Store, run: Pipeline) -> None:
    """Findings that began to apply after an assignment was last checked (core.practice.assignments,
    issue 3) into m_alerts: one alert per assignment, rule and level, naming its exercises."""
    found = _safety_changes(store, run.scope)
    if found.empty:
        return
    in_scope = ("f.assignment_id IN (SELECT assignment_id FROM m_assignments)" if run.scope.routines
                else metrics.clients_in_scope_sql(run.scope, "f.client_id"))
    run.cur.register("m_found", found)
    try:
        run.execute(f"""
            INSERT INTO m_alerts
            SELECT f.client_id, f.assignment_id, NULL, 'medium', 'safety', min(CAST(f.since AS DATE)),
                   'safety:c' || f.client_id || ':a' || f.assignment_id || ':' || f.rule_id || ':' || f.level,
                   printf('New safety finding (%s) since %s%s: %s Review the routine''s safety on the client page.',
                          f.level, min(CAST(f.since AS DATE)),
                          coalesce(' (' || string_agg(DISTINCT coalesce(e.name, f.exercise_id), ', '
                                                      ORDER BY coalesce(e.name, f.exercise_id)) || ')', ''),
                          any_value(f.reason)),
                   f.rule_id
            FROM m_found f LEFT JOIN exercises e ON e.id = f.exercise_id
            WHERE {in_scope}
            GROUP BY f.client_id, f.assignment_id, f.rule_id, f.level
        """)
    finally:
        run.cur.unregister("m_found")


_ALERT_TABLE = """
    CREATE TEMP TABLE m_alerts (client_id BIGINT, assignment_id BIGINT, session_id BIGINT, level VARCHAR,
                                kind VARCHAR, since DATE, alert_key VARCHAR, reason VARCHAR, detail VARCHAR)
"""

_ALERT_SELECT = f"""
    SELECT a.alert_key, a.client_id, c.code AS client, c.display_name, a.level, a.kind, a.reason, a.since,
           a.assignment_id, a.session_id, a.detail
    FROM m_alerts a JOIN clients c ON c.id = a.client_id
    ORDER BY CASE a.level {" ".join(f"WHEN '{lvl}' THEN {i}" for i, lvl in enumerate(LEVELS))} END,
             a.since DESC, c.code, a.alert_key
"""

def current_alerts(store: Store, scope: Scope, *, open_only: bool = False,
                   run: Pipeline | None = None) -> pd.DataFrame:
    """Every current alert for ``scope``'s clients as of ``scope.as_of`` (COLUMNS + ACK_COLUMNS: who
    acknowledged it, when and why), most urgent first, then newest first, then by client code.
    ``open_only`` keeps those nobody has acknowledged yet.

    Alerts always cover the last ALERT_DAYS days, whatever ``scope.days``, so the open list is the
    same on every page. ``run`` is a metric pipeline already built for that window with its pain
    tables (the overview and the client page pass their own when their period is the window, so
    its tables are not built twice); without it the alerts build one of their own.
    """
    window = scope.with_days(ALERT_DAYS)
    if run is None:
        with metrics.pipeline(store, window, pain=True) as own:
            return current_alerts(store, scope, open_only=open_only, run=own)
    if run.scope != window:
        raise ValueError(f"alerts read a pipeline of {window}, not of {run.scope}")
    if not run.has_alerts:
        build_alert_table(run, store)
    found = _with_acknowledgements(store, _typed(run.df(_ALERT_SELECT)))
    return found.loc[~found["acknowledged"]].reset_index(drop=True) if open_only else found


def build_alert_table(run: Pipeline, store: Store) -> None:
    """m_alerts: one row per alert of the pipeline's clients (see ``current_alerts``), built on a
    pipeline of the alert window."""
    run.execute(_ALERT_TABLE)
    logs, earlier = alert_logs(run, store)
    run.execute(f"INSERT INTO m_alerts SELECT *, NULL FROM ({_metric_alerts_sql(run.scope, logs, earlier)})")
    flagged = _red_flag_alerts(_red_flag_rows(run, logs))
    if flagged:
        run.cur.register("m_flagged", pd.DataFrame(flagged))
        try:
            run.execute("INSERT INTO m_alerts SELECT client_id, CAST(assignment_id AS BIGINT), session_id, level, kind,"
                        " CAST(since AS DATE), alert_key, reason, detail FROM m_flagged")
        finally:
            run.cur.unregister("m_flagged")
    _safety_alerts(store, run)


def _typed(found: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes whether or not there are alerts (an empty object column would turn boolean
    indexing into column selection)."""
    types = {"client_id": "int64", "assignment_id": "Int64", "session_id": "Int64", "acknowledged": bool}
    wrong = {c: t for c, t in types.items() if c in found.columns and found[c].dtype != t}
    return found.astype(wrong) if wrong else found


def _with_acknowledgements(store: Store, found: pd.DataFrame) -> pd.DataFrame:
    """``found`` (COLUMNS) with ACK_COLUMNS: who acknowledged each alert, when, and why."""
    # Acknowledgements are few (people make them one at a time): all of them, looked up by key.
    acks = metrics.frame(store, "SELECT alert_key, note, acknowledged_by, acknowledged_at FROM alert_acknowledgements")
    out = found[COLUMNS].copy()
    if acks.empty:
        out = out.assign(note=None, acknowledged_by=None, acknowledged_at=None, acknowledged=False)
    else:
        acks = acks.set_index("alert_key")
        for column in ("note", "acknowledged_by", "acknowledged_at"):
            out[column] = out["alert_key"].map(acks[column])
        out["acknowledged"] = out["acknowledged_by"].notna()
    return _typed(out[COLUMNS + ACK_COLUMNS])


# -- acknowledging ------------------------------------------------------------------------------

def client_of(alert_key: str) -> int:
    """The client id an alert key names (every key is ``<kind>:c<client_id>:...``)."""
    match = _KEY.match(alert_key or "")
    if not match:
        raise AlertError(f"not an alert key: {alert_key!r}")
    return int(match[1])


def acknowledge(store: Store, alert_key: str, note: str, actor: str, as_of: date) -> Acknowledgement:
    """Record that ``actor`` has looked at an open alert, with a note of what they did.

    The alert is recomputed for its client as of ``as_of``, so only a real, current alert can be
    acknowledged, and the stored copy is what the data said. Owners and therapists may do it
    (PermissionDenied otherwise). Nothing is written on any error.
    """
    from core.access.auth import STAFF_WRITERS, audit_in, require_role
    from core.access.sites import require_client_access

    require_role(store, actor, STAFF_WRITERS)
    note = (note or "").strip()
    if not note:
        raise AlertError("write a short note: what you did or decided about this alert")
    if len(note) > MAX_NOTE:
        raise AlertError(f"the note is too long ({len(note)} characters; at most {MAX_NOTE})")
    client_id = client_of(alert_key)
    require_client_access(store, actor, client_id)
    existing = store.rows(
        "SELECT acknowledged_by, acknowledged_at FROM alert_acknowledgements WHERE alert_key = ?", [alert_key])
    if existing:
        by, at = existing[0]
        raise AlertError(f"already acknowledged by {by} at {at:%Y-%m-%d %H:%M}")
    found = current_alerts(store, Scope(as_of=as_of, client_id=client_id))
    match = found[found["alert_key"] == alert_key]
    if match.empty:
        raise AlertError("this alert is no longer open as of " + as_of.isoformat() + " (the data changed); reload the page")
    a = match.iloc[0]
    with store.transaction(touches=(ACKNOWLEDGEMENTS, ACCOUNTS)) as cur:
        ack_id = next_id(cur, "alert_ack_id_seq")
        cur.execute(
            """
            INSERT INTO alert_acknowledgements (id, alert_key, client_id, assignment_id, session_id, level, kind,
                                                reason, since, note, acknowledged_by, acknowledged_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [ack_id, alert_key, client_id, _int_or_none(a["assignment_id"]), _int_or_none(a["session_id"]), a["level"],
             a["kind"], a["reason"], a["since"], note, actor.strip(), utcnow()],
        )
        audit_in(cur, actor.strip(), "alert_acknowledged",
                 {"alert_key": alert_key, "client_id": client_id, "kind": a["kind"], "level": a["level"]})
    return Acknowledgement(int(ack_id), alert_key, note, actor.strip())


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value is pd.NA or pd.isna(value) else int(value)


def alert_history(store: Store, client_id: int | None = None) -> pd.DataFrame:
    """Acknowledged alerts as they were shown, newest acknowledgement first."""
    where = "WHERE a.client_id = ?" if client_id is not None else ""
    return metrics.frame(
        store,
        f"""
        SELECT a.alert_key, a.client_id, c.code AS client, c.display_name, a.level, a.kind, a.reason, a.since,
               a.note, a.acknowledged_by, a.acknowledged_at
        FROM alert_acknowledgements a LEFT JOIN clients c ON c.id = a.client_id
        {where}
        ORDER BY a.acknowledged_at DESC, a.id DESC
        """,
        [client_id] if client_id is not None else [],
    )
