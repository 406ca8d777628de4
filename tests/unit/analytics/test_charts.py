"""The figure builders as functions: what each draws from a frame, the shared theme, empty input."""

from __future__ import annotations

from datetime import date, time

import pandas as pd
import plotly.graph_objects as go
import pytest

from core.analytics import charts
from core.analytics import metrics
from core.analytics import overview
from core.analytics.metrics import Scope
from tests.practice_rows import add_assignment, add_client, add_routine, add_session, days


def weekly_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "week_start": [date(2025, 3, 10), date(2025, 3, 17), date(2025, 3, 24)],
        "days_in_period": [7, 7, 3], "clients": [3, 3, 2], "expected": [16.0, 16.0, 4.0],
        "completed": [10.0, 4.0, 1.0], "adherence": [0.714, 0.429, 0.25],
    })


def groups_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "group": ["desk_worker", "pregnant", "runner"], "clients": [1, 1, 2], "units": [1, 1, 2],
        "mean_adherence": [1.0, None, 0.75], "on_track_pct": [1.0, None, 0.5], "lapsed": [0, 0, 0],
        "assessed": [1, 0, 4], "improved_pct": [0.0, None, 0.5], "worse_pct": [1.0, None, 0.25],
        "mean_change": [2.5, None, -1.0],
    })


def test_weekly_adherence_marks_partial_weeks_and_thresholds():
    fig = charts.weekly_adherence(weekly_frame())
    (line,) = fig.data
    assert list(line.x) == ["2025-W11", "2025-W12", "2025-W13"]
    assert list(line.y) == [0.714, 0.429, 0.25]
    assert list(line.marker.color) == [charts.PRIMARY, charts.PRIMARY, charts.BACKGROUND]   # W13 is partial
    assert sorted(shape.y0 for shape in fig.layout.shapes) == [0.5, 0.8]
    assert fig.layout.yaxis.tickformat == ".0%" and tuple(fig.layout.yaxis.range) == (0, 1.05)


def test_group_adherence_skips_groups_without_adherence_and_lists_the_first_on_top():
    fig = charts.group_adherence(groups_frame(), "segment")
    mean, on_track = fig.data
    assert list(mean.y) == ["runner", "desk_worker"] and list(mean.x) == [0.75, 1.0]
    assert list(on_track.x) == [0.5, 1.0]
    assert fig.layout.title.text == "Adherence by segment"


def test_group_pain_stacks_shares_of_assessed_responses():
    fig = charts.group_pain(groups_frame(), "segment")
    assert [t.name for t in fig.data] == ["improved", "unchanged", "worse"]
    improved, unchanged, worse = (list(t.x) for t in fig.data)
    # groups with assessed > 0, first on top: runner (0.5, 0.25, 0.25), desk_worker (0, 0, 1)
    assert list(fig.data[0].y) == ["runner", "desk_worker"]
    assert (improved, unchanged, worse) == ([0.5, 0.0], [0.25, 0.0], [0.25, 1.0])
    assert fig.layout.barmode == "stack"


def test_session_calendar_puts_each_day_in_its_week_and_weekday():
    cal = pd.DataFrame({
        "day": [date(2025, 3, 10), date(2025, 3, 12), date(2025, 3, 18)],
        "week_start": [date(2025, 3, 10), date(2025, 3, 10), date(2025, 3, 17)],
        "weekday": [1, 3, 2], "sessions": [1, 2, 0], "completion": [1.0, 1.5, 0.0],
    })
    (heat,) = charts.session_calendar(cal).data
    assert list(heat.x) == ["2025-W11", "2025-W12"] and list(heat.y) == list(charts.WEEKDAYS)
    z = [list(row) for row in heat.z]
    assert z[0][0] == 1 and z[2][0] == 2 and z[1][1] == 0      # Mon W11, Wed W11, Tue W12
    assert pd.isna(z[6][1])                                     # a day outside the period stays blank
    assert heat.text[2][0] == "2"


def test_weekly_against_expected_colours_weeks_by_status():
    weekly = pd.DataFrame({
        "week_start": [date(2025, 3, 10), date(2025, 3, 17), date(2025, 3, 24)], "active_days": [7, 7, 3],
        "expected": [3.0, 3.0, 1.286], "completed": [4.0, 1.5, 0.0], "credited": [3.0, 1.5, 0.0],
        "adherence": [1.0, 0.5, 0.0],
    })
    fig = charts.weekly_against_expected(weekly)
    *counted, logged, expected = fig.data
    assert list(logged.y) == [4.0, 1.5, 0.0] and list(expected.y) == [3.0, 3.0, 1.286]
    s = charts.STATUS_COLORS
    # one bar trace per status, so the legend names each colour; each week in the one of its status
    assert [(t.name, t.marker.color, list(t.x), list(t.y)) for t in counted] == [
        ("counted: on track (≥ 80%)", s["on_track"], ["2025-W11"], [3.0]),
        ("counted: at risk (≥ 50%)", s["at_risk"], ["2025-W12"], [1.5]),
        ("counted: low (< 50%)", s["low"], ["2025-W13"], [0.0]),
    ]
    assert list(fig.layout.xaxis.categoryarray) == ["2025-W11", "2025-W12", "2025-W13"]
    assert fig.layout.barmode == "overlay"


def test_pain_over_time_draws_baseline_and_two_point_band():
    sessions = pd.DataFrame({
        "session_date": [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12), date(2025, 3, 13)],
        "session_time": [time(7, 0), None, None, None],
        "pain_before": [1.0, 1.5, None, 3.0], "pain_after": [0.5, 1.0, None, 2.0],
        "relief": [0.5, 0.5, None, 1.0],
    })
    pain = pd.DataFrame({"assignment_id": [1], "routine_id": ["r-six"], "start_date": [date(2025, 3, 1)],
                         "end_date": [date(2025, 4, 1)], "baseline": [1.5]})
    fig = charts.pain_over_time(sessions, pain)
    (band,) = fig.layout.shapes
    assert (band.y0, band.y1) == (0.0, 3.5)                    # 1.5 - 2 is clipped at 0
    baseline, band_key, before, after = fig.data
    assert list(baseline.y) == [1.5, 1.5]
    # the dashed line and the grey band are named in the legend
    assert baseline.showlegend and baseline.name.startswith("baseline") and baseline.line.dash == "dash"
    assert band_key.showlegend is not False and "± 2 points" in band_key.name
    assert [v for v in before.y] == [1.0, 1.5, 3.0] and [v for v in after.y] == [0.5, 1.0, 2.0]
    assert pd.Timestamp(before.x[0]) == pd.Timestamp("2025-03-10 07:00")
    assert tuple(fig.layout.yaxis.range) == (-0.2, 10.2)


def test_relief_bars_below_zero_are_red():
    sessions = pd.DataFrame({"session_date": [date(2025, 3, 10), date(2025, 3, 11)], "relief": [1.0, -0.5]})
    (bars,) = charts.relief_per_session(sessions).data
    assert list(bars.y) == [1.0, -0.5]
    assert list(bars.marker.color) == [charts.PAIN_COLORS["after"], charts.PAIN_COLORS["before"]]


def test_relief_uses_a_date_axis_so_gaps_between_sessions_show():
    sessions = pd.DataFrame({"session_date": [date(2025, 3, 1), date(2025, 3, 20)], "relief": [1.0, 2.0]})
    fig = charts.relief_per_session(sessions)
    assert fig.layout.xaxis.type == "date"
    assert pd.Timestamp(fig.data[0].x[1]) - pd.Timestamp(fig.data[0].x[0]) == pd.Timedelta(days=19)


def test_cohort_lines_one_line_per_group():
    cohorts = pd.DataFrame({
        "group": ["pregnant", "pregnant", "runner"], "week": [1, 2, 1], "assignments": [2, 2, 1],
        "adherence": [0.9, 0.7, 0.5], "scored": [2, 1, 0], "mean_pain": [5.0, 4.0, None],
        "pain_change": [0.0, -1.0, None],
    })
    fig = charts.cohort_lines(cohorts, "adherence")
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [("pregnant", [1, 2], [0.9, 0.7]), ("runner", [1], [0.5])]
    pain = charts.cohort_lines(cohorts, "pain_change")
    assert [t.name for t in pain.data] == ["pregnant"]          # runner has no pain change yet
    assert -2.0 in [shape.y0 for shape in pain.layout.shapes]
    with pytest.raises(ValueError):
        charts.cohort_lines(cohorts, "weekday")


EMPTY_CASES = [
    lambda: charts.weekly_adherence(weekly_frame().iloc[0:0]),
    lambda: charts.group_adherence(groups_frame().iloc[0:0], "routine"),
    lambda: charts.group_pain(groups_frame().iloc[0:0], "routine"),
    lambda: charts.session_calendar(pd.DataFrame(columns=["day", "week_start", "weekday", "sessions"])),
    lambda: charts.weekly_against_expected(pd.DataFrame(columns=["week_start", "expected", "completed", "credited",
                                                                 "adherence", "active_days"])),
    lambda: charts.pain_over_time(pd.DataFrame(columns=["session_date", "session_time", "pain_before", "pain_after"]),
                                  pd.DataFrame(columns=["baseline"])),
    lambda: charts.relief_per_session(pd.DataFrame(columns=["session_date", "relief"])),
    lambda: charts.cohort_lines(pd.DataFrame(columns=["group", "week", "adherence", "assignments"])),
]


@pytest.mark.parametrize("build", EMPTY_CASES)
def test_empty_input_gives_an_empty_chart_that_says_so(build):
    fig = build()
    assert isinstance(fig, go.Figure) and len(fig.data) == 0
    assert fig.layout.annotations[0].text.startswith("No ")


def test_every_figure_of_real_metrics_uses_the_one_theme(store):
    # Frames straight from core.analytics.metrics, so the builders and the metrics agree on column names.
    add_routine(store, "r-three", 3)
    cid = add_client(store, "TH", segments=("runner",))
    add_assignment(store, cid, "r-three", date(2025, 3, 3), weeks=4, sessions_per_week=3)
    for day, pain in zip(days(date(2025, 3, 3), 8, step=2), [6, 6, 5.5, 5, 4, 3.5, 3.5, 3]):
        add_session(store, cid, day, "r-three", pain_before=pain, pain_after=pain - 1)
    scope = Scope(as_of=date(2025, 3, 26))
    view, _ = overview.practice_overview(store, scope)
    detail = metrics.client_detail(store, cid, scope.as_of)
    cohorts = metrics.cohorts(store, scope.with_days(56))
    figures = [
        charts.weekly_adherence(view.weekly),
        *(charts.group_adherence(view.groups[by], by) for by in metrics.GROUP_BYS),
        *(charts.group_pain(view.groups[by], by) for by in metrics.GROUP_BYS),
        charts.session_calendar(detail.calendar),
        charts.weekly_against_expected(detail.weekly),
        charts.pain_over_time(detail.sessions, detail.pain),
        charts.relief_per_session(detail.sessions),
        charts.cohort_lines(cohorts, "adherence"),
        charts.cohort_lines(cohorts, "pain_change"),
    ]
    for fig in figures:
        assert fig.data, fig.layout.title.text                          # something drawn
        assert fig.layout.template.layout.paper_bgcolor == charts.BACKGROUND
        assert fig.layout.template.layout.font.color == charts.TEXT
    assert sum(detail.calendar["sessions"]) == 8
