"""Plotly figures for the analytics pages, all in one theme.

Every builder is a pure function of the DataFrames core.analytics.metrics returns: no queries, no
Streamlit, so each is tested as a function (AppTest cannot look inside a Plotly chart). An empty
frame gives an empty chart that says so, never an exception. Pages draw them with
``st.plotly_chart(fig, theme=None)`` so this theme, not Streamlit's, applies.

Colours match .streamlit/config.toml; statuses and responses keep the same colour everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from core.analytics.metrics import AT_RISK, MCID_POINTS, ON_TRACK

PRIMARY = "#3b7a78"
TEXT = "#1f2a2e"
BACKGROUND = "#fbfaf7"
GRID = "#e3e7e4"
MUTED = "#8a9599"
STATUS_COLORS = {"on_track": "#3b7a78", "at_risk": "#d99a2b", "low": "#c0504d", "lapsed": "#8a9599"}
RESPONSE_COLORS = {"improved": "#3b7a78", "unchanged": "#b8c4c2", "worse": "#c0504d",
                   "insufficient_data": "#e3e7e4"}
PAIN_COLORS = {"before": "#c0504d", "after": "#3b7a78", "band": "rgba(59, 122, 120, 0.12)"}
SERIES = ("#3b7a78", "#d99a2b", "#5b6fb5", "#c0504d", "#7a9a3b", "#9b5ba5", "#4a9cc4", "#8a6d3b")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

TEMPLATE = go.layout.Template(layout=go.Layout(
    font={"family": "Source Sans Pro, Helvetica, Arial, sans-serif", "size": 13, "color": TEXT},
    paper_bgcolor=BACKGROUND,
    plot_bgcolor=BACKGROUND,
    colorway=list(SERIES),
    # The title sits at the top of the figure and the legend in a row of its own between title and
    # plot: in a half-width column a legend beside the title would run over it.
    margin={"l": 56, "r": 24, "t": 80, "b": 48},
    title={"font": {"size": 16}, "x": 0, "xanchor": "left", "yref": "container", "y": 0.98, "yanchor": "top"},
    xaxis={"gridcolor": GRID, "zeroline": False, "linecolor": GRID, "automargin": True},
    yaxis={"gridcolor": GRID, "zeroline": False, "linecolor": GRID, "automargin": True},  # long category names
    legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
    hoverlabel={"bgcolor": "white", "font": {"color": TEXT}},
    bargap=0.25,
))


def _figure(title: str, *, height: int = 340) -> go.Figure:
    # The layout given whole to the constructor: update_layout(template=...) validates the template
    # again, about twice as slow for every chart drawn.
    return go.Figure(layout={"template": TEMPLATE, "title": title, "height": height})


def _empty(fig: go.Figure, message: str = "No data for this period") -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"color": MUTED, "size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _thresholds(fig: go.Figure) -> None:
    """The on-track and at-risk lines (docs/analytics/metrics.md, "Status")."""
    fig.add_hline(y=ON_TRACK, line={"color": STATUS_COLORS["on_track"], "dash": "dot", "width": 1},
                  annotation_text="on track", annotation_position="top left")
    fig.add_hline(y=AT_RISK, line={"color": STATUS_COLORS["low"], "dash": "dot", "width": 1},
                  annotation_text="at risk", annotation_position="top left")


def _share_axis(fig: go.Figure, title: str = "adherence") -> None:
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title=title)


def _week_labels(weeks: Iterable) -> list[str]:
    return [pd.Timestamp(w).strftime("%G-W%V") for w in weeks]


# -- practice overview --------------------------------------------------------------------------

def weekly_adherence(weekly: pd.DataFrame, title: str = "Adherence by week") -> go.Figure:
    """Mean client adherence per ISO week (metrics.overview().weekly); partial weeks are hollow."""
    fig = _figure(title)
    if weekly.empty:
        return _empty(fig)
    partial = weekly["days_in_period"] < 7
    fig.add_trace(go.Scatter(
        x=_week_labels(weekly["week_start"]), y=weekly["adherence"], mode="lines+markers", name="adherence",
        line={"color": PRIMARY, "width": 2},
        marker={"size": 9, "color": [BACKGROUND if p else PRIMARY for p in partial],
                "line": {"color": PRIMARY, "width": 2}},
        customdata=weekly[["clients", "expected", "completed", "days_in_period"]].to_numpy(),
        hovertemplate=("%{x}: %{y:.1%}<br>%{customdata[0]} clients, %{customdata[2]} of %{customdata[1]}"
                       " expected sessions<br>%{customdata[3]} of 7 days in the period<extra></extra>"),
    ))
    _thresholds(fig)
    _share_axis(fig, "mean adherence")
    fig.update_xaxes(title="ISO week (hollow: only part of the week is in the period)", type="category")
    return fig


def group_adherence(groups: pd.DataFrame, by: str) -> go.Figure:
    """Mean adherence and the share on track per group (metrics.Overview.groups[by])."""
    fig = _figure(f"Adherence by {by}", height=max(260, 70 + 44 * len(groups)))
    data = groups.dropna(subset=["mean_adherence"]) if not groups.empty else groups
    if data.empty:
        return _empty(fig)
    data = data.iloc[::-1]  # first group on top
    fig.add_trace(go.Bar(
        y=data["group"], x=data["mean_adherence"], orientation="h", name="mean adherence",
        marker_color=PRIMARY, customdata=data[["clients", "units"]].to_numpy(),
        hovertemplate="%{y}: %{x:.1%} mean adherence (%{customdata[0]} clients)<extra></extra>",
    ))
    fig.add_trace(go.Bar(
        y=data["group"], x=data["on_track_pct"], orientation="h", name="share on track",
        marker_color=STATUS_COLORS["at_risk"],
        hovertemplate="%{y}: %{x:.1%} on track<extra></extra>",
    ))
    fig.update_layout(barmode="group")
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(type="category")
    return fig


def group_pain(groups: pd.DataFrame, by: str) -> go.Figure:
    """Share of assessed pain responses improved / unchanged / worse per group."""
    fig = _figure(f"Pain response by {by}", height=max(260, 70 + 44 * len(groups)))
    data = groups[groups["assessed"] > 0] if not groups.empty else groups
    if data.empty:
        return _empty(fig, "No pain response with enough scored sessions yet")
    data = data.iloc[::-1]
    improved = data["improved_pct"].fillna(0.0)
    worse = data["worse_pct"].fillna(0.0)
    shares = {"improved": improved, "unchanged": (1 - improved - worse).clip(lower=0), "worse": worse}
    for response, share in shares.items():
        fig.add_trace(go.Bar(
            y=data["group"], x=share, orientation="h", name=response, marker_color=RESPONSE_COLORS[response],
            customdata=data[["assessed"]].to_numpy(),
            hovertemplate=f"%{{y}}: %{{x:.1%}} {response} (of %{{customdata[0]}} assessed)<extra></extra>",
        ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(type="category")
    return fig


# -- client detail ------------------------------------------------------------------------------

def session_calendar(calendar: pd.DataFrame, title: str = "Sessions logged") -> go.Figure:
    """Heat map: one column per ISO week, one row per weekday, colour = sessions logged that day."""
    fig = _figure(title, height=300)
    if calendar.empty:
        return _empty(fig)
    grid = calendar.pivot_table(index="weekday", columns="week_start", values="sessions", aggfunc="sum")
    grid = grid.reindex(index=range(1, 8))
    weeks = _week_labels(grid.columns)
    text = [[("" if pd.isna(v) else str(int(v))) for v in row] for row in grid.to_numpy()]
    fig.add_trace(go.Heatmap(
        z=grid.to_numpy(), x=weeks, y=list(WEEKDAYS), text=text, texttemplate="%{text}",
        colorscale=[[0, "#eef2ef"], [1, PRIMARY]], zmin=0, zmax=max(1.0, float(grid.max().max() or 1)),
        xgap=3, ygap=3, showscale=False, hoverongaps=False,
        hovertemplate="%{y} of %{x}: %{z} session(s)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False)
    return fig


# What a week's bar colour says, in the legend (a colour no legend names leaves staff guessing).
_WEEK_STATUS_NAMES = {
    "on_track": f"counted: on track (≥ {ON_TRACK:.0%})", "at_risk": f"counted: at risk (≥ {AT_RISK:.0%})",
    "low": f"counted: low (< {AT_RISK:.0%})", "lapsed": "counted: nothing expected",
}


def weekly_against_expected(weekly: pd.DataFrame, title: str = "Sessions per week against expected") -> go.Figure:
    """Bars: credited sessions (completion, capped at expected), one bar trace per week status so
    the legend names each colour; markers for logged and expected."""
    fig = _figure(title)
    if weekly.empty:
        return _empty(fig)
    weeks = _week_labels(weekly["week_start"])
    statuses = [_status(a) for a in weekly["adherence"]]
    for status, name in _WEEK_STATUS_NAMES.items():
        mine = [i for i, s in enumerate(statuses) if s == status]
        if not mine:
            continue
        rows = weekly.iloc[mine]
        fig.add_trace(go.Bar(
            x=[weeks[i] for i in mine], y=rows["credited"], name=name, marker_color=STATUS_COLORS[status],
            customdata=rows[["adherence", "active_days"]].to_numpy(),
            hovertemplate="%{x}: %{y:.1f} counted, adherence %{customdata[0]:.0%} (%{customdata[1]} active days)"
                          "<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=weeks, y=weekly["completed"], name="logged", mode="markers",
        marker={"symbol": "circle-open", "size": 10, "color": TEXT},
        hovertemplate="%{x}: %{y} logged<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=weeks, y=weekly["expected"], name="expected", mode="markers",
        marker={"symbol": "line-ew-open", "size": 28, "color": TEXT, "line": {"width": 3, "color": TEXT}},
        hovertemplate="%{x}: %{y:.1f} expected<extra></extra>",
    ))
    fig.update_xaxes(type="category", title="ISO week", categoryorder="array", categoryarray=weeks)
    fig.update_yaxes(title="sessions", rangemode="tozero")
    fig.update_layout(barmode="overlay")  # one bar per week, whichever trace holds it
    return fig


def _status(adherence: float | None) -> str:
    if adherence is None or pd.isna(adherence):
        return "lapsed"
    return "on_track" if adherence >= ON_TRACK else "at_risk" if adherence >= AT_RISK else "low"


def pain_over_time(sessions: pd.DataFrame, pain: pd.DataFrame, title: str = "Pain before and after sessions") -> go.Figure:
    """Pain before / after each scored session, each assignment's baseline and its +/-2 band.

    The band is the change that matters on the 0-10 scale (docs/analytics/metrics.md, "Pain response").
    """
    fig = _figure(title, height=360)
    scored = sessions[sessions["pain_before"].notna() | sessions["pain_after"].notna()] if not sessions.empty else sessions
    if scored.empty:
        return _empty(fig, "No pain scores in this period")
    when = pd.to_datetime(scored["session_date"].astype(str)) + pd.to_timedelta(
        scored["session_time"].astype(str).where(scored["session_time"].notna(), "00:00:00"))
    first, last = pd.to_datetime(sessions["session_date"].astype(str)).min(), when.max()
    drawn = 0
    for _, row in pain.dropna(subset=["baseline"]).iterrows() if not pain.empty else []:
        x0 = max(pd.Timestamp(row["start_date"]), first)
        x1 = min(pd.Timestamp(row["end_date"]) + pd.Timedelta(hours=23), last + pd.Timedelta(hours=12))
        if x1 < x0:
            continue
        base = float(row["baseline"])
        routine = row.get("routine_name") or row["routine_id"]
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=max(0.0, base - MCID_POINTS), y1=min(10.0, base + MCID_POINTS),
                      fillcolor=PAIN_COLORS["band"], line={"width": 0}, layer="below")
        fig.add_trace(go.Scatter(
            x=[x0, x1], y=[base, base], mode="lines", name="baseline (first 3 scored sessions)",
            line={"color": MUTED, "dash": "dash", "width": 1.5}, legendgroup="baseline", showlegend=drawn == 0,
            hovertemplate=f"baseline {base:.1f} ({routine}); band ±{MCID_POINTS:g}<extra></extra>",
        ))
        drawn += 1
    if drawn:  # the shaded band is a shape, which has no legend entry of its own: a square stands for it
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=f"baseline ± {MCID_POINTS:g} points (a change that matters)",
            marker={"symbol": "square", "size": 14, "color": PAIN_COLORS["band"],
                    "line": {"color": MUTED, "width": 1}}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=when, y=scored["pain_before"], mode="lines+markers", name="before",
                             line={"color": PAIN_COLORS["before"]}, connectgaps=True,
                             hovertemplate="%{x|%Y-%m-%d}: %{y}/10 before<extra></extra>"))
    fig.add_trace(go.Scatter(x=when, y=scored["pain_after"], mode="lines+markers", name="after",
                             line={"color": PAIN_COLORS["after"]}, connectgaps=True,
                             hovertemplate="%{x|%Y-%m-%d}: %{y}/10 after<extra></extra>"))
    fig.update_yaxes(range=[-0.2, 10.2], title="pain (0-10)", dtick=2)
    return fig


def relief_per_session(sessions: pd.DataFrame, title: str = "Relief per session (before - after)") -> go.Figure:
    """Bars of pain_before - pain_after; below zero means pain was higher after the session."""
    fig = _figure(title, height=300)
    data = sessions.dropna(subset=["relief"]) if not sessions.empty else sessions
    if data.empty:
        return _empty(fig, "No session with both pain scores in this period")
    fig.add_trace(go.Bar(
        x=pd.to_datetime(data["session_date"].astype(str)), y=data["relief"],
        marker_color=[PAIN_COLORS["after"] if r >= 0 else PAIN_COLORS["before"] for r in data["relief"]],
        hovertemplate="%{x|%d %b %Y}: %{y:+.1f} points<extra></extra>", name="relief",
    ))
    fig.add_hline(y=0, line={"color": MUTED, "width": 1})
    # A date axis, so the gaps between sessions show (a category axis would close them up).
    fig.update_xaxes(type="date", title="session date", tickformat="%d %b")
    fig.update_yaxes(title="points")
    return fig


# -- cohorts ------------------------------------------------------------------------------------

def cohort_lines(cohorts: pd.DataFrame, measure: str = "adherence") -> go.Figure:
    """One line per group over weeks since start: ``adherence`` or ``pain_change``."""
    labels = {"adherence": "Adherence by week of program", "pain_change": "Pain change from baseline by week of program",
              "mean_pain": "Mean pain before sessions by week of program"}
    if measure not in labels:
        raise ValueError(f"measure must be one of {', '.join(labels)}")
    fig = _figure(labels[measure], height=380)
    data = cohorts.dropna(subset=[measure]) if not cohorts.empty else cohorts
    if data.empty:
        return _empty(fig, "No cohort has data for this measure yet")
    for i, (group, rows) in enumerate(data.groupby("group", sort=True)):
        count = "assignments" if measure == "adherence" else "scored"
        fig.add_trace(go.Scatter(
            x=rows["week"], y=rows[measure], mode="lines+markers", name=str(group),
            line={"color": SERIES[i % len(SERIES)]}, customdata=rows[[count]].to_numpy(),
            hovertemplate=f"{group}, week %{{x}}: %{{y:{'.0%' if measure == 'adherence' else '.1f'}}}"
                          " (n = %{customdata[0]})<extra></extra>",
        ))
    fig.update_xaxes(title="week since start", dtick=1)
    if measure == "adherence":
        _thresholds(fig)
        _share_axis(fig)
    elif measure == "pain_change":
        fig.add_hline(y=-MCID_POINTS, line={"color": STATUS_COLORS["on_track"], "dash": "dot", "width": 1},
                      annotation_text="-2: a change that matters", annotation_position="bottom left")
        fig.add_hline(y=0, line={"color": MUTED, "width": 1})
        fig.update_yaxes(title="points from baseline")
    else:
        fig.update_yaxes(range=[0, 10], title="pain (0-10)")
    return fig
