"""Benchmark scenarios for the analytics (issues 5 and 15), called by tests/bench/bench.py on the
chain-sized demo practice. Each returns the figures it computed, so the bench can check that both
ways agree.

Every view reads the read model the writes keep in the store (core/db/figures.py); nothing is kept
in this process's memory between calls (the pages cache only with st.cache_data keyed on
``Store.version``), so a later run costs what a first run in another process would, apart from
DuckDB's warm buffers. The first overview of the process is timed on its own for that reason.

- ``bare_pass``: one plain DuckDB query over every session log (per-client count, last date,
  mean pain): the yardstick every figure is printed beside.
- ``scenario_overview``: every query behind the practice overview page, as the page runs them
  (filter options, metrics, alerts with the safety check), default filters.
- ``scenario_overview_after_acknowledging`` / ``_after_logging`` / ``_after_pausing``: the same
  right after a write (an acknowledged alert, a logged session, a paused program).
- ``scenario_metrics_only``: the overview metrics without alerts — the same work as the pandas
  baseline, for the speed ratio.
- ``scenario_client_detail``: everything the client page reads for one client.
- ``scenario_pandas_baseline``: the same metrics computed from the tables in pandas, vectorised
  (merge / groupby / filter, no row loops): load and compute times reported apart.

``compare(sql, pandas)`` lists the figures on which the two disagree (empty when they agree); the
unit tests run it on a small demo practice, so the baseline is a real second implementation of
docs/analytics/metrics.md, not a stand-in.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from core.analytics import alerts
from core.analytics import metrics
from core.analytics import overview
from core.db.store import Store

DAYS = metrics.DEFAULT_DAYS
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall time of one call in milliseconds, and what it returned."""
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def _median(samples: Iterable[float]) -> float:
    return round(float(np.median(list(samples))), 1)


def _summary(kpis: dict[str, Any], weekly: pd.DataFrame, groups: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return {
        **{k: kpis[k] for k in ("active_clients", "mean_adherence", "on_track_pct", "lapsed", "assessed",
                                "improved_pct")},
        "weekly_adherence": [float(v) for v in weekly["adherence"]],
        **{f"{by}_mean_adherence": {str(g): (None if pd.isna(v) else float(v))
                                    for g, v in zip(frame["group"], frame["mean_adherence"])}
           for by, frame in groups.items()},
    }


BARE_PASS_SQL = ("SELECT client_id, count(*) AS sessions, max(session_date) AS last_session,"
                 " avg(pain_before) AS mean_pain FROM session_logs GROUP BY client_id")


def bare_pass(store: Store) -> int:
    """The yardstick of issue 15: one plain aggregate over all session logs, fetched into Python;
    returns the clients it found (so the bench can show it read them all)."""
    return len(store.rows(BARE_PASS_SQL))


def scenario_overview(store: Store, as_of: date) -> dict[str, Any]:
    """All queries behind the overview page (no Streamlit cache): the figures and the alert count."""
    metrics.filter_options(store)
    view, open_now = overview.practice_overview(store, metrics.Scope(as_of=as_of, days=DAYS))
    return {**_summary(view.kpis, view.weekly, view.groups), "open_alerts": len(open_now)}


# The overview in a process of its own (a file path or a PostgreSQL URL): the day's first view
# computes the practice's figures for the day and keeps them (core/analytics/period_figures.py),
# which every later process then reads.
_OVERVIEW_IN_A_PROCESS = """
import sys, time
from datetime import date
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/tests/bench"]
from core.db.store import Store
from scenarios_metrics import scenario_overview
with Store(sys.argv[1]) as store:
    start = time.perf_counter()
    scenario_overview(store, date.fromisoformat(sys.argv[2]))
    print(round((time.perf_counter() - start) * 1000, 1))
"""


def overview_in_fresh_process_ms(location: Path | str, as_of: date) -> float:
    """The overview on ``location`` in a fresh process, beyond opening the store: the first of the
    day when no process has viewed the day yet (see _OVERVIEW_IN_A_PROCESS)."""
    done = subprocess.run([sys.executable, "-c", _OVERVIEW_IN_A_PROCESS, str(location), as_of.isoformat(), str(REPO)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def scenario_overview_after_acknowledging(store: Store, as_of: date) -> float:
    """Staff working down the alert list: acknowledge the top open alert (as the demo owner; not
    timed), then the overview again. Returns the overview's milliseconds."""
    from core.access.auth import DEMO_OWNER

    _, open_now = overview.practice_overview(store, metrics.Scope(as_of=as_of, days=DAYS))
    alerts.acknowledge(store, open_now["alert_key"].iloc[0], "bench: called the client", DEMO_OWNER, as_of)
    return _timed(lambda: scenario_overview(store, as_of))[0]


def scenario_overview_after_logging(store: Store, as_of: date, n: int) -> float:
    """A therapist logs a session (the manual-entry form; not timed), then the overview again: the
    write has already brought that client's figures in the read model up to date."""
    from core.access.auth import DEMO_OWNER
    from core.sessions.checks import log_session

    code = store.scalar("SELECT code FROM clients ORDER BY code LIMIT 1 OFFSET ?", [n])
    log_session(store, {"client": code, "session_date": as_of, "pain_before": 3, "pain_after": 2}, DEMO_OWNER, as_of)
    return _timed(lambda: scenario_overview(store, as_of))[0]


def scenario_client_after_logging(store: Store, as_of: date, n: int) -> float:
    """A therapist has a client's page open; a session is logged for that client (not timed), and
    the page is drawn again."""
    from core.access.auth import DEMO_OWNER
    from core.sessions.checks import log_session

    code = store.scalar("SELECT code FROM clients ORDER BY code LIMIT 1 OFFSET ?", [100 + n])
    scenario_client_detail(store, as_of, code)
    log_session(store, {"client": code, "session_date": as_of, "pain_before": 3}, DEMO_OWNER, as_of)
    return _timed(lambda: scenario_client_detail(store, as_of, code))[0]


def scenario_overview_after_pausing(store: Store, as_of: date, n: int) -> tuple[float, float]:
    """A therapist pauses one client's program (the write keeps that client's figures), then the
    overview again. Returns (pause ms, overview ms)."""
    from core.practice.assignments import pause_assignment
    from core.access.auth import DEMO_OWNER

    assignment_id = store.scalar(
        "SELECT a.id FROM assignments a WHERE a.status = 'active' AND a.start_date <= $d"
        " AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= $d"
        " AND NOT EXISTS (SELECT 1 FROM assignment_pauses p WHERE p.assignment_id = a.id AND p.paused_until IS NULL)"
        " ORDER BY a.id LIMIT 1 OFFSET $n", {"d": as_of, "n": n})
    pause_ms, _ = _timed(lambda: pause_assignment(store, assignment_id, as_of, DEMO_OWNER, "bench: away for a week"))
    return pause_ms, _timed(lambda: scenario_overview(store, as_of))[0]


def scenario_new_filter(store: Store, as_of: date, segment: str) -> float:
    """The overview for one segment (the metrics and alerts of fewer clients)."""
    return _timed(lambda: overview.practice_overview(
        store, metrics.Scope(as_of=as_of, days=DAYS, segments=(segment,))))[0]


def scenario_metrics_only(store: Store, as_of: date) -> dict[str, Any]:
    view = metrics.overview(store, metrics.Scope(as_of=as_of, days=DAYS))
    return _summary(view.kpis, view.weekly, view.groups)


def scenario_client_detail(store: Store, as_of: date, client_code: str | None = None) -> dict[str, Any]:
    """Everything the client page reads, for one client (by default the lowest client code)."""
    code = client_code or store.scalar("SELECT min(code) FROM clients")
    client_id = metrics.find_client_id(store, code)
    detail, found = overview.client_view(store, client_id, as_of, DAYS)
    alerts.alert_history(store, client_id)
    return {"client": code, "adherence": detail.summary and detail.summary["adherence"],
            "sessions": len(detail.sessions), "assignments": len(detail.assignments), "alerts": len(found)}


# -- the same metrics in pandas, vectorised ---------------------------------------------------

def _load(store: Store) -> dict[str, pd.DataFrame]:
    """Whole tables into pandas, the way a notebook would start. TIME has no pandas dtype, so the
    session time arrives as seconds since midnight (a datetime.time object per row could only be
    compared in a Python loop)."""
    return {
        "clients": store.query("SELECT id AS client_id, therapist, archived_at FROM clients"),
        "segments": store.query("SELECT client_id, segment FROM client_segments"),
        "assignments": store.query(
            "SELECT id AS assignment_id, client_id, routine_id, routine_version, start_date, weeks,"
            " sessions_per_week, end_date FROM assignments"),
        "pauses": store.query("SELECT assignment_id, paused_from, paused_until FROM assignment_pauses"),
        "items": store.query("SELECT routine_id, version AS routine_version, count(*) AS items FROM routine_items"
                             " GROUP BY ALL"),
        "logs": store.query(
            "SELECT id AS session_id, client_id, routine_id AS named_routine, session_date,"
            " epoch(session_time) AS session_seconds, exercises_done, exercises_prescribed, pain_before,"
            " pain_after FROM session_logs"),
    }


def _each_day(frame: pd.DataFrame, lo: str, hi: str) -> pd.DataFrame:
    """``frame``'s rows repeated once per day of [``lo``, ``hi``], that day in ``day`` (no row when
    hi < lo): one numpy repeat and an offset per copy, rather than a date_range per row."""
    length = ((frame[hi] - frame[lo]).dt.days + 1).clip(lower=0).to_numpy(dtype="int64")
    rows = frame.iloc[np.repeat(np.arange(len(frame)), length)]
    offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    first = rows[lo].to_numpy().astype("datetime64[ns]")
    return rows.assign(day=first + offset.astype("timedelta64[D]"))


def _merged_pauses(pauses: pd.DataFrame) -> pd.DataFrame:
    """Each assignment's pauses merged where they overlap or touch: (assignment_id, lo, hi)."""
    p = pauses[pauses["paused_until"].isna() | (pauses["paused_until"] >= pauses["paused_from"])].copy()
    p["lo"] = pd.to_datetime(p["paused_from"])
    p["hi"] = pd.to_datetime(p["paused_until"]).fillna(pd.Timestamp("2262-01-01"))
    p = p.sort_values(["assignment_id", "lo", "hi"])
    prev = p.groupby("assignment_id")["hi"].cummax().groupby(p["assignment_id"]).shift()
    p["island"] = (prev.isna() | ((p["lo"] - prev).dt.days > 1)).groupby(p["assignment_id"]).cumsum()
    return p.groupby(["assignment_id", "island"], as_index=False).agg(lo=("lo", "min"), hi=("hi", "max"))


def _paused_days(merged: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """(assignment_id, day) for every paused day in [lo, hi]."""
    p = merged.assign(lo=merged["lo"].clip(lower=lo), hi=merged["hi"].clip(upper=hi))
    return _each_day(p, "lo", "hi")[["assignment_id", "day"]].drop_duplicates()


def _round(x: pd.Series | float) -> Any:
    return np.round(x + 0.0, 3)


def scenario_pandas_baseline(store: Store, as_of: date) -> dict[str, Any]:
    """The overview metrics in pandas, with the time to load the tables and to compute apart."""
    load_ms, tables = _timed(lambda: _load(store))
    compute_ms, result = _timed(lambda: _pandas_metrics(tables, as_of))
    return {**result, "load_ms": round(load_ms, 1), "compute_ms": round(compute_ms, 1)}


def _pandas_metrics(t: dict[str, pd.DataFrame], as_of: date) -> dict[str, Any]:
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=DAYS - 1)
    clients = t["clients"][t["clients"]["archived_at"].isna()]
    a = t["assignments"].copy()
    a["start"] = pd.to_datetime(a["start_date"])
    a["last"] = pd.to_datetime(a["end_date"]).fillna(a["start"] + pd.to_timedelta(7 * a["weeks"] - 1, unit="D"))
    a = a[a["client_id"].isin(clients["client_id"]) & (a["last"] >= a["start"])]
    asg = a[(a["start"] <= end) & (a["last"] >= start)]
    merged = _merged_pauses(t["pauses"])

    # active days, one row per assignment-day of the period
    days = _each_day(asg.assign(lo=asg["start"].clip(lower=start), hi=asg["last"].clip(upper=end)), "lo", "hi")
    paused = _paused_days(merged, start, end)
    days = days.merge(paused.assign(paused=True), on=["assignment_id", "day"], how="left")
    days = days[days["paused"].isna()]
    days["week"] = days["day"] - pd.to_timedelta(days["day"].dt.day_of_week, unit="D")
    weeks = days.groupby(["assignment_id", "client_id", "routine_id", "week"], as_index=False).agg(
        active=("day", "size"), spw=("sessions_per_week", "first"))
    weeks["expected"] = weeks["spw"] * weeks["active"] / 7.0

    # attribution of sessions in [lo, as_of]
    lo = min(start, asg["start"].min()) if len(asg) else start
    logs = t["logs"].astype({"exercises_done": "float64", "exercises_prescribed": "float64",
                             "pain_before": "float64", "pain_after": "float64"})
    logs["date"] = pd.to_datetime(logs["session_date"])
    logs = logs[(logs["date"] >= lo) & (logs["date"] <= end)]
    cand = a[(a["start"] <= end) & (a["last"] >= lo)]
    pairs = logs.merge(cand[["assignment_id", "client_id", "routine_id", "routine_version", "start", "last"]],
                       on="client_id")
    pairs = pairs[(pairs["date"] >= pairs["start"]) & (pairs["date"] <= pairs["last"])]
    all_paused = _paused_days(merged, lo, end).rename(columns={"day": "date"})
    pairs = pairs.merge(all_paused.assign(paused=True), on=["assignment_id", "date"], how="left")
    pairs["paused"] = pairs["paused"].fillna(False).astype(bool)
    pairs = pairs[(pairs["named_routine"] == pairs["routine_id"]) | (pairs["named_routine"].isna() & ~pairs["paused"])]
    pairs = pairs.sort_values(["session_id", "start", "assignment_id"], ascending=[True, False, False])
    attr = pairs.drop_duplicates("session_id").merge(t["items"], on=["routine_id", "routine_version"], how="left")
    attr["items"] = attr["items"].astype("float64")
    prescribed = attr["exercises_prescribed"].where(attr["exercises_prescribed"] > 0)
    prescribed = prescribed.fillna(attr["items"].where(attr["items"] > 0)).fillna(attr["exercises_done"])
    attr["completion"] = np.where(attr["exercises_done"].isna(), 1.0,
                                  np.where(attr["exercises_done"] <= 0, 0.0,
                                           np.minimum(1.0, attr["exercises_done"] / prescribed)))
    attr = attr[attr["assignment_id"].isin(asg["assignment_id"])]

    counted = attr[~attr["paused"] & (attr["date"] >= start)].copy()
    counted["week"] = counted["date"] - pd.to_timedelta(counted["date"].dt.day_of_week, unit="D")
    done = counted.groupby(["assignment_id", "week"], as_index=False)["completion"].sum()
    weeks = weeks.merge(done, on=["assignment_id", "week"], how="left").fillna({"completion": 0.0})
    weeks["credited"] = np.minimum(weeks["completion"], weeks["expected"])

    # per client: adherence, last session, lapse, status
    per = weeks.groupby("client_id", as_index=False).agg(expected=("expected", "sum"), credited=("credited", "sum"),
                                                         active=("active", "sum"))
    per = per[per["active"] > 0]
    per["adherence"] = _round(per["credited"] / per["expected"])
    all_logs = t["logs"][pd.to_datetime(t["logs"]["session_date"]) <= end]
    last = all_logs.groupby("client_id")["session_date"].max().rename("last_session")
    per = per.merge(last, left_on="client_id", right_index=True, how="left")
    started = asg[asg["start"] <= end].copy()
    started["upto"] = started["last"].clip(upper=end)
    overlap = merged.merge(started[["assignment_id", "start", "upto"]], on="assignment_id")
    overlap["n"] = ((overlap[["hi", "upto"]].min(axis=1) - overlap[["lo", "start"]].max(axis=1)).dt.days + 1).clip(lower=0)
    overlap["now"] = (overlap["lo"] <= end) & (overlap["hi"] >= end)
    pz = overlap.groupby("assignment_id").agg(n=("n", "sum"), now=("now", "any"))
    started = started.merge(pz, left_on="assignment_id", right_index=True, how="left").fillna({"n": 0, "now": False})
    started["days_active"] = (started["upto"] - started["start"]).dt.days + 1 - started["n"]
    started["running"] = (started["last"] >= end) & ~started["now"].astype(bool)
    by_client = started.groupby("client_id").agg(days=("days_active", "max"), running=("running", "any"))
    eligible = set(by_client[(by_client["days"] >= metrics.LAPSE_DAYS) & by_client["running"]].index)
    gap = (end - pd.to_datetime(per["last_session"])).dt.days
    per["lapsed"] = per["client_id"].isin(eligible) & (per["last_session"].isna() | (gap > metrics.LAPSE_DAYS))
    per["status"] = np.select(
        [per["lapsed"], per["adherence"] >= metrics.ON_TRACK, per["adherence"] >= metrics.AT_RISK],
        ["lapsed", "on_track", "at_risk"], default="low")

    # pain response per assignment
    scored = attr[attr["pain_before"].notna()].copy()
    scored["time"] = scored["session_seconds"].fillna(0.0)
    scored = scored.sort_values(["assignment_id", "date", "time", "session_id"])
    g = scored.groupby("assignment_id")
    pain = pd.DataFrame({"n": g.size(), "base": g.head(3).groupby("assignment_id")["pain_before"].mean(),
                         "cur": g.tail(3).groupby("assignment_id")["pain_before"].mean()})
    pain = pain.reindex(asg["assignment_id"]).fillna({"n": 0})
    change = np.round(pain["cur"] - pain["base"], 6)
    pct = np.round((pain["cur"] - pain["base"]) / pain["base"].replace(0, np.nan), 6)
    pain["response"] = np.select(
        [pain["n"] < metrics.MIN_SCORED, (change <= -metrics.MCID_POINTS) & (pct <= -metrics.MCID_FRACTION),
         change >= metrics.MCID_POINTS], ["insufficient_data", "improved", "worse"], default="unchanged")
    assessed = pain[pain["response"] != "insufficient_data"]

    # overview figures
    cw = weeks.groupby(["client_id", "week"], as_index=False)[["expected", "credited"]].sum()
    cw = cw[cw["expected"] > 0]
    cw["adherence"] = _round(cw["credited"] / cw["expected"])
    weekly = cw.groupby("week")["adherence"].mean().sort_index()
    segs = per.merge(t["segments"], on="client_id", how="left").fillna({"segment": "none"})
    ther = per.merge(clients, on="client_id", how="left").fillna({"therapist": "(none)"})
    by_asg = weeks.groupby(["assignment_id", "routine_id"], as_index=False).agg(
        e=("expected", "sum"), c=("credited", "sum"), active=("active", "sum"))
    by_asg = by_asg[by_asg["active"] > 0]
    by_asg["adherence"] = _round(by_asg["c"] / by_asg["e"])
    kpis = {
        "active_clients": int(len(per)),
        "mean_adherence": None if per.empty else float(_round(per["adherence"].mean())),
        "on_track_pct": None if per.empty else float(_round((per["status"] == "on_track").mean())),
        "lapsed": int((per["status"] == "lapsed").sum()),
        "assessed": int(len(assessed)),
        "improved_pct": None if assessed.empty else float(_round((assessed["response"] == "improved").mean())),
    }
    groups = {
        "segment": segs.groupby("segment")["adherence"].mean(),
        "routine": by_asg.groupby("routine_id")["adherence"].mean(),
        "therapist": ther.groupby("therapist")["adherence"].mean(),
    }
    return {
        **kpis,
        "weekly_adherence": [float(v) for v in _round(weekly)],
        **{f"{by}_mean_adherence": {str(k): float(_round(v)) for k, v in s.items()} for by, s in groups.items()},
    }


def compare(sql: dict[str, Any], pandas: dict[str, Any], tolerance: float = 0.0015) -> list[str]:
    """The figures on which the two implementations disagree (beyond rounding of a mean)."""
    problems = []
    for key, want in sql.items():
        if key in ("open_alerts", "load_ms", "compute_ms"):
            continue
        got = pandas.get(key)
        if isinstance(want, dict):
            for group in sorted(set(want) | set(got or {})):
                a, b = want.get(group), (got or {}).get(group)
                if a is None or b is None or abs(a - b) > tolerance:
                    if not (a is None and b is None):
                        problems.append(f"{key}[{group}]: sql {a} pandas {b}")
        elif isinstance(want, list):
            if len(want) != len(got or []) or any(abs(x - y) > tolerance for x, y in zip(want, got)):
                problems.append(f"{key}: sql {want} pandas {got}")
        elif isinstance(want, float) or isinstance(got, float):
            if want is None or got is None or abs(want - got) > tolerance:
                problems.append(f"{key}: sql {want} pandas {got}")
        elif want != got:
            problems.append(f"{key}: sql {want} pandas {got}")
    return problems


def bench(store: Store, as_of: date, runs: int = 7) -> dict[str, Any]:
    """Every analytics figure on ``store`` (medians of ``runs``; the first overview of the process
    on its own), the bare pass timed in the same run, and the pandas comparison with its agreement
    check. Reads come first, then the scenarios that write. For this file on its own:
    ``python tests/bench/scenarios_metrics.py DB AS_OF``."""
    first_ms, figures = _timed(lambda: scenario_overview(store, as_of))  # must stay the first query
    bare_ms = _median(_timed(lambda: bare_pass(store))[0] for _ in range(runs))
    overview_ms = _median(_timed(lambda: scenario_overview(store, as_of))[0] for _ in range(runs))
    segments = [s for (s,) in store.rows("SELECT DISTINCT segment FROM client_segments ORDER BY 1")]
    new_filter_ms = _median(scenario_new_filter(store, as_of, s) for s in segments)
    metrics_runs = [_timed(lambda: scenario_metrics_only(store, as_of)) for _ in range(runs)]
    metrics_ms, sql = _median(ms for ms, _ in metrics_runs), metrics_runs[-1][1]
    codes = [c for (c,) in store.rows("SELECT code FROM clients ORDER BY code LIMIT ?", [runs])]
    client_ms = _median(_timed(lambda c=c: scenario_client_detail(store, as_of, c))[0] for c in codes)
    lean = lean_floors(store, as_of, codes, runs)
    pandas_runs = [scenario_pandas_baseline(store, as_of) for _ in range(3)]
    pandas_load_ms = _median(r["load_ms"] for r in pandas_runs)
    pandas_compute_ms = _median(r["compute_ms"] for r in pandas_runs)
    pandas_ms = _median(r["load_ms"] + r["compute_ms"] for r in pandas_runs)
    # from scratch in SQL: the read model recomputed from every log, then the same metrics
    from_scratch_ms = round(_median(_timed(store.rebuild_figures)[0] for _ in range(3)) + metrics_ms, 1)
    scenario_overview(store, as_of)  # a rebuild makes every kept period figure out of date: the day again, untimed
    after_ack_ms = _median(scenario_overview_after_acknowledging(store, as_of) for _ in range(runs))
    after_log_ms = _median(scenario_overview_after_logging(store, as_of, n) for n in range(runs))
    pauses = [scenario_overview_after_pausing(store, as_of, n) for n in range(runs)]
    client_after_log_ms = _median(scenario_client_after_logging(store, as_of, n) for n in range(runs))
    return {"bare_pass_ms": bare_ms, "bare_pass_clients": bare_pass(store),
            "overview_first_in_process_ms": round(first_ms, 1), "overview_ms": overview_ms,
            "overview_after_acknowledging_ms": after_ack_ms, "overview_after_logging_a_session_ms": after_log_ms,
            "pausing_a_program_ms": _median(p for p, _ in pauses),
            "overview_after_pausing_a_program_ms": _median(o for _, o in pauses),
            "overview_one_segment_ms": new_filter_ms, "metrics_only_ms": metrics_ms,
            "client_page_ms": client_ms, "client_page_after_its_own_session_ms": client_after_log_ms,
            "sql_from_scratch_ms": from_scratch_ms,
            "pandas_ms": pandas_ms, "pandas_load_ms": pandas_load_ms, "pandas_compute_ms": pandas_compute_ms,
            "ratio_pandas_over_sql": _ratio(pandas_ms, metrics_ms),
            "ratio_pandas_compute_over_sql": _ratio(pandas_compute_ms, metrics_ms),
            "ratio_pandas_over_sql_from_scratch": _ratio(pandas_ms, from_scratch_ms),
            "ratio_pandas_compute_over_sql_from_scratch": _ratio(pandas_compute_ms, from_scratch_ms),
            **lean, "open_alerts": figures["open_alerts"], "disagreements": compare(sql, pandas_runs[-1])}


def lean_floors(store: Store, as_of: date, codes: list[str], runs: int) -> dict[str, Any]:
    """The lean overview and client page (scenarios_floors.py), timed in this run, after checking
    that they read what the app's show; a disagreement stops the bench."""
    from scenarios_floors import client_page_disagreements, lean_client_page, lean_overview, overview_disagreements

    view, open_now = overview.practice_overview(store, metrics.Scope(as_of=as_of, days=DAYS))
    problems = overview_disagreements(lean_overview(store, as_of, DAYS), view, open_now)
    ids = [metrics.find_client_id(store, code) for code in codes]
    for client_id in ids:
        detail, found = overview.client_view(store, client_id, as_of, DAYS)
        problems += client_page_disagreements(lean_client_page(store, client_id, as_of, DAYS), detail, found)
    if problems:
        raise RuntimeError(f"the lean reads disagree with the app's: {problems}")
    return {"overview_lean_floor_ms": _median(_timed(lambda: lean_overview(store, as_of, DAYS))[0] for _ in range(runs)),
            "client_page_lean_floor_ms": _median(_timed(lambda c=c: lean_client_page(store, c, as_of, DAYS))[0] for c in ids)}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


if __name__ == "__main__":
    import json
    import sys

    with Store(sys.argv[1]) as s:
        day = date.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else date.today()
        print(json.dumps(bench(s, day), indent=2, default=str))
