"""Lean floors for issue 15's read targets: the same reads written as plainly as they can be, timed
in the same run as the app's, so a target below what the work costs shows as such (the import has
its own, ``scenarios_import.lean_sql_import``). Not a test: it measures; it fails only when a lean
read disagrees with the app's.

Each lean read starts where the app's fastest path starts, the day's period figures already kept in
the store (core/analytics/period_figures.py), and skips what is not reading them: no work schema,
no views, no freshness check of the kept rows (the app checks every view that no write has made
them out of date), no labels, one cursor, each figure one plain query on the practice's tables.

- ``lean_overview``: the overview's KPIs, weekly adherence, the three group tables, the open
  alerts and the filter choices: fourteen queries.
- ``lean_client_page``: the client page's record, summary, sessions, weekly adherence, programs,
  pain, safety findings, current alerts and alert history: nine queries (the calendar is the
  sessions counted per day, in pandas).
- ``LEAN_REPORT``: ``report adherence --json`` as a script of its own (duckdb and json only): the
  kept rows of every client, printed in the report's JSON shape; run as a fresh process and
  measured beyond the bare pass's start-up, as the bare pass is.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd

from core.analytics import metrics
from core.analytics.period_figures import period_key
from core.db.store import Store

ON_TRACK = metrics.ON_TRACK
_PARAM = re.compile(r"\$([a-z_]+)")


def _frame(cur: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    named = {name: params[name] for name in set(_PARAM.findall(sql))}
    return cur.execute(sql, named).to_arrow_table().to_pandas()


def _params(as_of: date, days: int, client_id: int | None = None) -> dict[str, Any]:
    scope = metrics.Scope(as_of=as_of, days=days)
    return {"period": period_key(scope), "as_of": as_of, "p_start": scope.period_start, "client": client_id}


# -- the overview -------------------------------------------------------------------------------

_CURRENT = "client_id IN (SELECT id FROM clients WHERE archived_at IS NULL)"

_OVERVIEW = {
    "kpis": f"""
        WITH m AS (SELECT * FROM period_clients WHERE period = $period AND {_CURRENT}),
             p AS (SELECT response FROM period_pain WHERE period = $period AND {_CURRENT})
        SELECT (SELECT count(*) FROM m) AS active_clients, (SELECT round(avg(adherence), 3) FROM m) AS mean_adherence,
               (SELECT round(avg(CAST(status = 'on_track' AS DOUBLE)), 3) FROM m) AS on_track_pct,
               (SELECT count(*) FILTER (WHERE status = 'lapsed') FROM m) AS lapsed,
               (SELECT count(*) FILTER (WHERE response <> 'insufficient_data') FROM p) AS assessed,
               (SELECT round(count(*) FILTER (WHERE response = 'improved')
                             / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3) FROM p) AS improved_pct""",
    "weekly": f"""
        SELECT week_start, count(*) AS clients, round(sum(e), 3) AS expected, round(sum(c), 3) AS completed,
               round(avg(round(c / e, 3)), 3) AS adherence
        FROM (SELECT client_id, week_start, sum(expected) AS e, sum(credited) AS c FROM period_weeks
              WHERE period = $period AND {_CURRENT} GROUP BY ALL HAVING sum(expected) > 0)
        GROUP BY week_start ORDER BY week_start""",
    "open_alerts": f"""
        SELECT a.alert_key, a.client_id, c.code AS client, c.display_name, a.level, a.kind, a.reason, a.since
        FROM period_alerts a JOIN clients c ON c.id = a.client_id
        WHERE a.period = $period AND c.archived_at IS NULL
          AND a.alert_key NOT IN (SELECT alert_key FROM alert_acknowledgements)
        ORDER BY a.level, a.since DESC, c.code""",
    "segments": "SELECT DISTINCT segment FROM client_segments WHERE {current} ORDER BY 1".format(current=_CURRENT),
    "therapists": "SELECT DISTINCT therapist FROM clients WHERE archived_at IS NULL AND therapist <> '' ORDER BY 1",
    "routines": "SELECT DISTINCT routine_id FROM assignments ORDER BY 1",
    "sites": "SELECT code FROM sites ORDER BY created_at, code",
}

# A group table: per group, clients, units, mean adherence, on-track share, lapsed clients (from the
# units), then assessed, improved and worse shares and mean pain change (from the pain rows).
_UNITS = {
    "segment": ("coalesce(s.segment, 'none')", "period_clients m LEFT JOIN client_segments s USING (client_id)",
                "m.adherence", "m.status = 'on_track'", "period_pain p LEFT JOIN client_segments s USING (client_id)"),
    "therapist": ("coalesce(c.therapist, '(none)')", "period_clients m JOIN clients c ON c.id = m.client_id",
                  "m.adherence", "m.status = 'on_track'", "period_pain p JOIN clients c ON c.id = p.client_id"),
}


def _group_sql(by: str) -> str:
    if by == "routine":
        units = f"""
            SELECT g.routine_id AS grp, w.client_id, w.adherence, w.adherence >= {ON_TRACK} AS on_track,
                   m.status = 'lapsed' AS lapsed
            FROM (SELECT assignment_id, any_value(client_id) AS client_id,
                         round(sum(credited) / nullif(sum(expected), 0), 3) AS adherence
                  FROM period_weeks WHERE period = $period AND {_CURRENT}
                  GROUP BY assignment_id HAVING sum(active_days) > 0) w
            JOIN period_assignments g ON g.period = $period AND g.assignment_id = w.assignment_id
            JOIN period_clients m ON m.period = $period AND m.client_id = w.client_id"""
        pain = f"SELECT routine_id AS grp, response, change FROM period_pain WHERE period = $period AND {_CURRENT}"
    else:
        grp, source, adherence, on_track, pain_source = _UNITS[by]
        units = (f"SELECT {grp} AS grp, m.client_id, {adherence} AS adherence, {on_track} AS on_track,"
                 f" m.status = 'lapsed' AS lapsed FROM {source} WHERE m.period = $period AND m.{_CURRENT}")
        pain = f"SELECT {grp} AS grp, p.response, p.change FROM {pain_source} WHERE p.period = $period AND p.{_CURRENT}"
    return f"""
        WITH u AS ({units}), p AS ({pain})
        SELECT coalesce(a.grp, r.grp) AS "group", coalesce(a.clients, 0) AS clients, coalesce(a.units, 0) AS units,
               a.mean_adherence, a.on_track_pct, coalesce(a.lapsed, 0) AS lapsed, coalesce(r.assessed, 0) AS assessed,
               r.improved_pct, r.worse_pct, r.mean_change
        FROM (SELECT grp, count(DISTINCT client_id) AS clients, count(*) AS units, round(avg(adherence), 3) AS mean_adherence,
                     round(avg(CAST(on_track AS DOUBLE)), 3) AS on_track_pct,
                     count(DISTINCT client_id) FILTER (WHERE lapsed) AS lapsed
              FROM u GROUP BY grp) a
        FULL JOIN (SELECT grp, count(*) FILTER (WHERE response <> 'insufficient_data') AS assessed,
                          round(count(*) FILTER (WHERE response = 'improved')
                                / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3) AS improved_pct,
                          round(count(*) FILTER (WHERE response = 'worse')
                                / nullif(count(*) FILTER (WHERE response <> 'insufficient_data'), 0), 3) AS worse_pct,
                          round(avg(change), 3) AS mean_change
                   FROM p GROUP BY grp) r USING (grp)
        ORDER BY "group\""""


def lean_overview(store: Store, as_of: date, days: int) -> dict[str, pd.DataFrame]:
    """The overview's figures read straight from the kept period rows (see the module docstring)."""
    params = _params(as_of, days)
    cur = store.cursor()
    try:
        found = {name: _frame(cur, sql, params) for name, sql in _OVERVIEW.items()}
        found.update({f"by_{by}": _frame(cur, _group_sql(by), params) for by in ("segment", "therapist", "routine")})
        return found
    finally:
        cur.close()


def overview_disagreements(lean: dict[str, pd.DataFrame], view: metrics.Overview, open_now: pd.DataFrame) -> list[str]:
    """Where the lean overview differs from the app's (empty when they agree)."""
    found = []
    kpis = metrics.records(lean["kpis"])[0]
    found += [f"kpi {k}: {v} != {view.kpis.get(k)}" for k, v in kpis.items() if v != view.kpis.get(k)]
    for name, ours in (("weekly", view.weekly), ("by_segment", view.by_segment), ("by_therapist", view.by_therapist),
                       ("by_routine", view.by_routine)):
        theirs = lean[name]
        columns = [c for c in theirs.columns if c in ours.columns]
        if not theirs[columns].astype(str).reset_index(drop=True).equals(ours[columns].astype(str).reset_index(drop=True)):
            found.append(f"{name} differs")
    if set(lean["open_alerts"]["alert_key"]) != set(open_now["alert_key"]):
        found.append(f"open alerts: {len(lean['open_alerts'])} != {len(open_now)}")
    return found


# -- the client page ----------------------------------------------------------------------------

_CLIENT_PAGE = {
    "record": """
        SELECT c.id AS client_id, c.code AS client, c.display_name, c.email, c.therapist, c.due_date, c.postpartum,
               c.conditions, c.archived_at,
               (SELECT string_agg(segment, ', ' ORDER BY segment) FROM client_segments WHERE client_id = $client) AS segments
        FROM clients c WHERE c.id = $client""",
    "summary": """
        SELECT expected, completed, logged, sessions, active_days, adherence, status, last_session, days_since_last
        FROM period_clients WHERE period = $period AND client_id = $client""",
    "sessions": """
        SELECT l.id AS session_id, l.session_date, l.session_time, l.routine_id AS named_routine, a.assignment_id,
               x.routine_id, coalesce(a.on_active_day AND a.assignment_id IN (
                   SELECT assignment_id FROM period_assignments WHERE period = $period AND client_id = $client), FALSE) AS counted,
               a.completion, l.exercises_done, l.exercises_prescribed, l.duration_min, l.pain_before, l.pain_after,
               l.pain_before - l.pain_after AS relief, l.stiffness, l.notes, l.red_flags, l.source
        FROM session_logs l
        LEFT JOIN session_attribution a ON a.session_id = l.id AND a.client_id = $client
        LEFT JOIN assignments x ON x.id = a.assignment_id
        WHERE l.client_id = $client AND l.session_date BETWEEN $p_start AND $as_of
        ORDER BY l.session_date, l.session_time NULLS FIRST, l.id""",
    "weekly": """
        SELECT week_start, round(sum(expected), 3) AS expected, round(sum(credited), 3) AS credited,
               round(sum(credited) / nullif(sum(expected), 0), 3) AS adherence
        FROM period_weeks WHERE period = $period AND client_id = $client GROUP BY week_start ORDER BY week_start""",
    "programs": """
        SELECT a.id AS assignment_id, a.routine_id, a.start_date, a.status, w.expected, w.credited,
               (SELECT string_agg(CAST(paused_from AS VARCHAR), '; ') FROM assignment_pauses WHERE assignment_id = a.id) AS pauses,
               (SELECT count(*) FROM safety_reviews WHERE client_id = $client AND assignment_id = a.id) AS findings
        FROM assignments a
        LEFT JOIN (SELECT assignment_id, round(sum(expected), 3) AS expected, round(sum(credited), 3) AS credited
                   FROM period_weeks WHERE period = $period AND client_id = $client GROUP BY assignment_id) w
               ON w.assignment_id = a.id
        WHERE a.client_id = $client ORDER BY a.start_date DESC, a.id DESC""",
    "pain": """
        SELECT p.*, r.name AS routine_name FROM period_pain p LEFT JOIN routines r ON r.id = p.routine_id
        WHERE p.period = $period AND p.client_id = $client ORDER BY p.start_date, p.assignment_id""",
    "findings": """
        SELECT sr.assignment_id, sr.reviewed_at, sr.level, sr.rule_id, coalesce(e.name, sr.exercise_id) AS exercise,
               sr.reason, sr.override_reason, sr.reviewed_by
        FROM safety_reviews sr LEFT JOIN exercises e ON e.id = sr.exercise_id
        WHERE sr.client_id = $client ORDER BY sr.reviewed_at DESC, sr.id DESC""",
    "alerts": """
        SELECT a.alert_key, a.level, a.kind, a.reason, a.since, k.note, k.acknowledged_by, k.acknowledged_at
        FROM period_alerts a LEFT JOIN alert_acknowledgements k ON k.alert_key = a.alert_key
        WHERE a.period = $period AND a.client_id = $client""",
    "alert_history": """
        SELECT alert_key, level, kind, reason, since, note, acknowledged_by, acknowledged_at
        FROM alert_acknowledgements WHERE client_id = $client ORDER BY acknowledged_at DESC, id DESC""",
}


def lean_client_page(store: Store, client_id: int, as_of: date, days: int) -> dict[str, pd.DataFrame]:
    """The client page's tables read straight from the kept rows and the logs (module docstring)."""
    params = _params(as_of, days, client_id)
    cur = store.cursor()
    try:
        found = {name: _frame(cur, sql, params) for name, sql in _CLIENT_PAGE.items()}
    finally:
        cur.close()
    found["calendar"] = found["sessions"].groupby("session_date").size()
    return found


def client_page_disagreements(lean: dict[str, pd.DataFrame], detail: metrics.ClientDetail | None,
                              alerts_now: pd.DataFrame) -> list[str]:
    """Where the lean client page differs from the app's (empty when they agree)."""
    if detail is None:
        return [] if lean["record"].empty else ["the app found no client"]
    found = []
    if list(lean["sessions"]["session_id"]) != list(detail.sessions["session_id"]):
        found.append("sessions differ")
    elif list(lean["sessions"]["counted"]) != list(detail.sessions["counted"]):
        found.append("counted sessions differ")
    if list(lean["weekly"]["adherence"].astype(str)) != list(detail.weekly["adherence"].astype(str)):
        found.append("weekly adherence differs")
    if list(lean["programs"]["assignment_id"]) != list(detail.assignments["assignment_id"]):
        found.append("programs differ")
    if set(lean["alerts"]["alert_key"]) != set(alerts_now["alert_key"]):
        found.append("alerts differ")
    if detail.summary and lean["summary"]["adherence"].iloc[0] != detail.summary["adherence"]:
        found.append("adherence differs")
    return found


# -- the report ---------------------------------------------------------------------------------

# sys.argv: the database file, the period key; prints what ``report adherence --json`` prints. The
# period is a literal: DuckDB's Python parameters import pandas on their first use (about 0.4 s).
LEAN_REPORT = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
period = "'" + sys.argv[2].replace("'", "''") + "'"
cur = con.execute(
    "SELECT c.code AS client, m.expected, m.completed, m.adherence, m.status, m.last_session"
    " FROM period_clients m JOIN clients c ON c.id = m.client_id"
    f" WHERE m.period = {period} AND c.archived_at IS NULL ORDER BY c.code")
names = [d[0] for d in cur.description]
print(json.dumps([dict(zip(names, row)) for row in cur.fetchall()], indent=2, default=str, ensure_ascii=False))
"""
