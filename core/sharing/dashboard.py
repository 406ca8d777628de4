"""What a read-only share link shows: one scope's dashboard, and nothing beyond it.

The figures come from core/analytics (the practice's through core.analytics.overview, read from
its kept period figures), always for the link's own scope (the practice, the clients of one
segment, or the one client the link is pinned to) and its sites, so no request parameter can widen
it. Every table is cut down to an allow-list of columns here, not in the page: a column the
metrics add later stays hidden until someone decides it may be shared. A de-identified link shows
client codes instead of names, no notes, and routines by their template's name (a routine staff
named themselves may carry a client's name, so it reads "Own routine 2"); staff-only material (safety reviews and override
reasons, emails, conditions, client notes, who assigned what) is never part of a shared view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core.analytics import charts
from core.analytics import metrics
from core.analytics import overview
from core.access.sites import site_labels
from core.practice.clients import SEGMENT_LABELS
from core.sharing.links import SharedLink
from core.db.store import Store

PERIODS: tuple[int, ...] = (28, 56, 91, 182)
STATUS_LABELS = metrics.STATUS_LABELS
# Shares shown as whole percents ("83%"); other figures to one decimal.
_PERCENT_HEADINGS = ("Mean adherence", "On track", "Pain improved", "Adherence")

# Column allow-lists per table: (source column, heading). Names and notes are listed separately
# because de-identified links drop them.
_GROUP_COLUMNS = [("group", "Group"), ("clients", "Clients"), ("mean_adherence", "Mean adherence"),
                  ("on_track_pct", "On track"), ("lapsed", "Lapsed"), ("assessed", "Pain assessed"),
                  ("improved_pct", "Pain improved")]
_ROSTER_COLUMNS = [("client", "Client"), ("therapist", "Therapist"), ("adherence", "Adherence"),
                   ("status", "Status"), ("sessions", "Sessions"), ("last_session", "Last session")]
_SESSION_COLUMNS = [("session_date", "Date"), ("routine_id", "Routine"), ("exercises_done", "Exercises done"),
                    ("exercises_prescribed", "Prescribed"), ("duration_min", "Minutes"),
                    ("pain_before", "Pain before"), ("pain_after", "Pain after"), ("stiffness", "Stiffness")]
_PAIN_COLUMNS = [("routine_name", "Routine"), ("start_date", "Started"), ("scored_sessions", "Scored sessions"),
                 ("baseline", "Baseline pain"), ("current", "Current pain"), ("change", "Change"),
                 ("response", "Response")]
_PROGRAM_COLUMNS = [("routine", "Routine"), ("start_date", "Start"), ("last_day", "Last day"),
                    ("state", "State"), ("sessions_per_week", "Sessions / week"), ("adherence", "Adherence")]
_NAME = ("display_name", "Name")
_NOTES = ("notes", "Notes")


@dataclass
class SharedDashboard:
    """Everything the shared page draws, already scoped and de-identified."""

    title: str
    as_of: date
    days: int
    kpis: dict[str, str]                          # heading -> value as shown
    charts: list[go.Figure] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _cut(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Only the allow-listed columns, renamed for readers; a missing column stays out."""
    present = [(src, name) for src, name in columns if src in frame.columns]
    return frame[[src for src, _ in present]].rename(columns=dict(present)).reset_index(drop=True)


def _with_status_labels(frame: pd.DataFrame) -> pd.DataFrame:
    if "status" in frame.columns:
        frame = frame.assign(status=frame["status"].map(STATUS_LABELS).fillna(frame["status"]))
    return frame


def _for_readers(frame: pd.DataFrame) -> pd.DataFrame:
    """Shares as whole percents, other fractions to one decimal, codes of responses as words."""
    shown = frame.copy()
    for column in shown.columns:
        if column in _PERCENT_HEADINGS:
            shown[column] = shown[column].map(lambda v: None if pd.isna(v) else f"{v:.0%}")
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].round(1)
    if "Response" in shown.columns:
        shown["Response"] = shown["Response"].map(lambda r: metrics.RESPONSE_LABELS.get(r, r))
    return shown


def routine_labels(store: Store, deidentify: bool) -> dict[str, str]:
    """How a shared view names each routine: by its name, or on a de-identified link by the
    template's name only; routines staff wrote themselves read "Own routine N" (numbered by when
    they were made), since their names and ids are staff words that may name a client."""
    rows = store.rows("SELECT id, name, origin FROM routines ORDER BY created_at, id")
    if not deidentify:
        return {rid: name for rid, name, _ in rows}
    own = [rid for rid, _, origin in rows if origin != "template"]
    return {rid: name if origin == "template" else f"Own routine {own.index(rid) + 1}" for rid, name, origin in rows}


def _named_routines(frame: pd.DataFrame, names: dict[str, str], columns: tuple[str, ...]) -> pd.DataFrame:
    present = {c: frame[c].map(lambda r: names.get(r, r)) for c in columns if c in frame.columns}
    return frame.assign(**present) if present else frame


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value:.0%}"


def _plain(value: Any) -> str:
    """Counts arrive as floats from a mixed-type KPI row: 12.0 reads as 12."""
    if value is None:
        return "—"
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _overview_kpis(kpis: dict[str, Any]) -> dict[str, str]:
    return {"Clients with a program": _plain(kpis.get("active_clients")),
            "Mean adherence": _pct(kpis.get("mean_adherence")), "On track": _pct(kpis.get("on_track_pct")),
            "Lapsed": _plain(kpis.get("lapsed")), "Pain improved": _pct(kpis.get("improved_pct"))}


def shared_dashboard(store: Store, link: SharedLink, as_of: date, days: int = PERIODS[0]) -> SharedDashboard | None:
    """The dashboard of ``link`` over the ``days`` days ending ``as_of``; None when its client is gone.
    ``days`` must be one of PERIODS (the only filter a shared view offers)."""
    if days not in PERIODS:
        days = PERIODS[0]
    if link.kind == "client":
        return _client_dashboard(store, link, as_of, days)
    segments = (link.segment,) if link.kind == "segment" else ()
    scope = metrics.Scope(as_of=as_of, days=days, segments=segments, sites=link.sites)
    view = overview.practice_figures(store, scope)
    by_routine = _named_routines(view.by_routine, routine_labels(store, link.deidentify), ("group",))
    tables = {"By routine": _cut(by_routine, _GROUP_COLUMNS)}
    figures = [charts.weekly_adherence(view.weekly)]
    if link.kind == "practice":
        title = "Practice overview"
        tables = {"By segment": _cut(view.by_segment, _GROUP_COLUMNS), **tables,
                  "By therapist": _cut(view.by_therapist, _GROUP_COLUMNS)}
        figures += [charts.group_adherence(view.by_segment, "segment"), charts.group_pain(view.by_segment, "segment")]
    else:
        title = f"Segment: {SEGMENT_LABELS.get(link.segment, link.segment)}"
        roster = overview.client_adherence(store, scope)
        columns = _ROSTER_COLUMNS if link.deidentify else [_ROSTER_COLUMNS[0], _NAME, *_ROSTER_COLUMNS[1:]]
        tables["Clients"] = _with_status_labels(_cut(roster, columns))
        figures += [charts.group_adherence(by_routine, "routine"), charts.group_pain(by_routine, "routine")]
    if link.kind == "practice":
        by_segment = tables["By segment"]
        tables["By segment"] = by_segment.assign(Group=by_segment["Group"].map(lambda g: metrics.SEGMENT_GROUP_LABELS.get(g, g)))
    if link.sites is not None:
        names = site_labels(store)
        title += " · " + ", ".join(names.get(code, code) for code in link.sites)
    tables = {heading: _for_readers(table) for heading, table in tables.items()}
    return SharedDashboard(title, as_of, days, _overview_kpis(view.kpis), figures, tables)


def _client_dashboard(store: Store, link: SharedLink, as_of: date, days: int) -> SharedDashboard | None:
    if link.sites is not None and metrics.find_client_id(store, link.client_code, link.sites) != link.client_id:
        return None  # the client has moved to a site the link does not show
    detail = overview.client_detail(store, link.client_id, as_of, days)
    if detail is None:
        return None
    who = detail.client.get("client") if link.deidentify else detail.client.get("display_name")
    title = f"Progress of client {who}" if link.deidentify else f"Progress of {who}"
    summary = detail.summary or {}
    kpis = {"Adherence": _pct(summary.get("adherence")), "Status": STATUS_LABELS.get(summary.get("status"), "—"),
            "Sessions": _plain(summary.get("sessions")), "Last session": _plain(summary.get("last_session"))}
    names = routine_labels(store, link.deidentify)
    sessions = _cut(_named_routines(detail.sessions, names, ("routine_id",)),
                    _SESSION_COLUMNS if link.deidentify else [*_SESSION_COLUMNS, _NOTES])
    pain = detail.pain.assign(routine_name=detail.pain["routine_id"].map(lambda r: names.get(r, r))) \
        if "routine_id" in detail.pain.columns else detail.pain
    assignments = detail.assignments.assign(routine=detail.assignments["routine_id"].map(lambda r: names.get(r, r))) \
        if "routine_id" in detail.assignments.columns else detail.assignments
    tables = {"Sessions": sessions, "Pain response": _cut(pain, _PAIN_COLUMNS),
              "Programs": _cut(assignments, _PROGRAM_COLUMNS)}
    tables = {heading: _for_readers(table) for heading, table in tables.items()}
    figures = [charts.weekly_against_expected(detail.weekly), charts.session_calendar(detail.calendar),
               charts.pain_over_time(detail.sessions, pain)]
    return SharedDashboard(title, as_of, days, kpis, figures, tables)
