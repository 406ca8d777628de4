"""core.analytics.period_figures: a period's figures kept per client, computed again only for the
clients a write has changed since, and never hiding a write that lands while a reader computes.

The practice of tests/unit/analytics/test_overview.py, as of Wed 2025-03-26.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pandas as pd
import pytest

from core.analytics import alerts, metrics, overview, period_figures
from core.analytics.metrics import Scope
from core.sessions.checks import log_session
from tests.practice_rows import add_assignment, add_routine
from tests.unit.analytics.test_overview import AS_OF, client_id, d, practice  # noqa: F401 (fixture)

SCOPE = Scope(as_of=AS_OF)


@pytest.fixture
def computed(monkeypatch):
    """The scopes the metric pipeline computes for the kept figures, in order."""
    seen: list[Scope] = []
    real = period_figures.metrics.pipeline

    @contextmanager
    def spy(store, scope, **kwargs):
        seen.append(scope)
        with real(store, scope, **kwargs) as run:
            yield run

    monkeypatch.setattr(period_figures.metrics, "pipeline", spy)
    return seen


def assert_live(store, scope: Scope = SCOPE) -> None:
    view, open_now = overview.practice_overview(store, scope)
    live = metrics.overview(store, scope)
    assert view.kpis == live.kpis
    pd.testing.assert_frame_equal(view.weekly, live.weekly)
    for by, table in live.groups.items():
        pd.testing.assert_frame_equal(view.groups[by], table)
    pd.testing.assert_frame_equal(open_now, alerts.current_alerts(store, scope, open_only=True))


@pytest.mark.both_stores
def test_a_second_reader_computes_nothing(practice, computed):
    overview.practice_overview(practice, SCOPE)
    assert computed == [SCOPE]  # the whole practice, as a view, not a list of clients
    clients = practice.scalar("SELECT count(*) FROM clients WHERE archived_at IS NULL")
    assert practice.scalar("SELECT count(*) FROM period_checks") == clients
    version = practice.version
    overview.practice_overview(practice, SCOPE)
    overview.client_adherence(practice, SCOPE)
    assert computed == [SCOPE]
    assert practice.version == version  # keeping rows is no change of data: no cached page goes stale
    assert_live(practice)


@pytest.mark.both_stores
def test_a_write_to_one_client_computes_that_client_again(practice, computed):
    overview.practice_overview(practice, SCOPE)
    run = client_id(practice, "RUN")
    log_session(practice, {"client": "RUN", "session_date": d(3, 25), "routine": "r-three", "pain_before": 8},
                "ana", AS_OF)
    _, open_now = overview.practice_overview(practice, SCOPE)
    assert computed[1:] == [replace(SCOPE, clients=(run,))]
    assert "pain_high" in open_now.loc[open_now["client"] == "RUN", "kind"].tolist()
    assert_live(practice)


def test_a_library_change_computes_every_client_again(practice, computed):
    overview.practice_overview(practice, SCOPE)
    add_routine(practice, "r-three", 4, version=2)
    overview.practice_overview(practice, SCOPE)
    assert computed == [SCOPE, SCOPE]


def test_a_write_while_a_reader_computes_is_not_hidden(practice, monkeypatch):
    """The reader read the generations, then the write committed, then the reader computed and kept
    its rows: they are out of date at once, and the next reader computes that client again."""
    real = period_figures.metrics.pipeline
    flag = client_id(practice, "FLAG")
    written = []

    @contextmanager
    def write_first(store, scope, **kwargs):
        if not written:
            written.append(add_assignment(store, flag, "r-five", d(3, 2), weeks=4, sessions_per_week=2))
        with real(store, scope, **kwargs) as run:
            yield run

    monkeypatch.setattr(period_figures.metrics, "pipeline", write_first)
    overview.practice_overview(practice, SCOPE)
    monkeypatch.setattr(period_figures.metrics, "pipeline", real)
    stale = practice.rows(
        "SELECT k.client_id FROM period_checks k JOIN figure_generations g USING (client_id) WHERE k.generation <> g.generation")
    assert stale == [(flag,)]
    assert_live(practice)


def test_another_reader_keeping_the_same_client_first_leaves_a_live_view(practice):
    overview.practice_overview(practice, SCOPE)
    log_session(practice, {"client": "DESK", "session_date": d(3, 25), "routine": "r-five", "pain_before": 1},
                "ana", AS_OF)
    desk = client_id(practice, "DESK")
    current = ("SELECT count(*) FROM period_checks k JOIN figure_generations g USING (client_id)"
               " WHERE client_id = ? AND k.generation = g.generation")
    other = practice.cursor()
    try:  # another reader, holding its own rows for DESK uncommitted: this one's keep collides
        other.execute("BEGIN TRANSACTION")
        other.execute("DELETE FROM period_checks WHERE client_id = ?", [desk])
        assert_live(practice)
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert practice.scalar(current, [desk]) == 0  # this reader kept nothing: it read live
    assert_live(practice)
    assert practice.scalar(current, [desk]) == 1


def test_views_of_some_routines_are_not_kept_and_one_client_is_that_client_of_the_practice(practice, computed):
    overview.practice_overview(practice, Scope(as_of=AS_OF, routines=("r-three",)))
    assert practice.scalar("SELECT count(*) FROM period_checks") == 0
    run = client_id(practice, "RUN")
    one = Scope(as_of=AS_OF, client_id=run)
    found = overview.client_adherence(practice, one)
    assert computed[1:] == [replace(SCOPE, clients=(run,))]
    assert practice.rows("SELECT client_id FROM period_checks") == [(run,)]
    pd.testing.assert_frame_equal(found, metrics.client_adherence(practice, one))
    pd.testing.assert_frame_equal(overview.open_alerts(practice, one), alerts.current_alerts(practice, one, open_only=True))


def test_only_the_most_recently_kept_periods_stay(practice):
    for day in range(10, 10 + period_figures.KEPT_PERIODS + 2):
        overview.client_adherence(practice, Scope(as_of=d(3, day)))
    periods = [p for (p,) in practice.rows("SELECT DISTINCT period FROM period_checks ORDER BY period")]
    assert [p.split("/")[0] for p in periods] == [
        f"2025-03-{day}" for day in range(12, 10 + period_figures.KEPT_PERIODS + 2)]
    for table in ("period_clients", "period_weeks", "period_assignments", "period_pain"):
        assert practice.scalar(f"SELECT count(*) FROM {table} WHERE period NOT IN (SELECT period FROM period_checks)") == 0


@pytest.mark.both_stores
def test_a_client_page_reads_and_keeps_that_client_of_the_practice_period(practice, computed):
    desk = client_id(practice, "DESK")
    detail, found = overview.client_view(practice, desk, AS_OF)
    assert computed == [replace(SCOPE, clients=(desk,))]  # that client only, kept for the overview
    assert practice.rows("SELECT client_id FROM period_checks") == [(desk,)]
    live = metrics.client_detail(practice, desk, AS_OF)
    assert (detail.client, detail.summary) == (live.client, live.summary)
    for frame in ("weekly", "sessions", "calendar", "pain", "assignments"):
        pd.testing.assert_frame_equal(getattr(detail, frame), getattr(live, frame), obj=frame)
    pd.testing.assert_frame_equal(found, alerts.current_alerts(practice, Scope(as_of=AS_OF, client_id=desk)))
    before = len(computed)  # (the live functions above compute too)
    overview.client_view(practice, desk, AS_OF)
    assert len(computed) == before


def test_an_archived_clients_page_is_computed_as_before(practice, computed):
    from core.practice import clients

    run = client_id(practice, "RUN")
    clients.archive_client(practice, run, "ana")
    detail, _ = overview.client_view(practice, run, AS_OF)
    assert computed == [Scope(as_of=AS_OF, client_id=run)]  # (the live pipeline of the page)
    assert detail.client["client"] == "RUN"
    assert practice.scalar("SELECT count(*) FROM period_checks") == 0


def test_a_reader_that_lost_the_race_reads_what_the_winner_kept(practice, computed, monkeypatch):
    real_keep, attempts = period_figures._keep, []

    def another_reader_first(store, scope, stale, in_scope):
        attempts.append(len(stale))
        if len(attempts) == 1:  # the winner keeps these clients; this reader's own keep then collides
            assert real_keep(store, scope, stale, in_scope)
            return False
        return real_keep(store, scope, stale, in_scope)

    monkeypatch.setattr(period_figures, "_keep", another_reader_first)
    overview.practice_overview(practice, SCOPE)
    assert attempts == [practice.scalar("SELECT count(*) FROM clients")]  # looked again: nothing left to keep
    assert computed == [SCOPE]  # the winner's computation only: no live view of the practice
    assert_live(practice)
