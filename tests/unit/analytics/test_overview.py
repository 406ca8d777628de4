"""core.analytics.overview: the overview and a client's page, composed from the read model the writes
keep (core/db/figures.py), stay equal to a rebuild of it after every kind of write, and agree with
the metric and alert functions they compose.

as_of = Wed 2025-03-26 (the alerts' 28 days: 2025-02-27 .. 2025-03-26).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core.analytics import alerts
from core.practice import clients
from core.analytics import metrics
from core.analytics import overview
from core.access.auth import create_user
from core.analytics.metrics import Scope
from core.sessions.checks import log_session
from tests.unit.db.test_figures import kept, rebuilt
from tests.practice_rows import add_assignment, add_client, add_pause, add_routine, add_session, add_sessions, days

AS_OF = date(2025, 3, 26)
SCOPES = (
    Scope(as_of=AS_OF),
    Scope(as_of=AS_OF, days=56),
    Scope(as_of=AS_OF, segments=("runner",)),
    Scope(as_of=AS_OF, therapists=("Ana",)),
)


def d(month: int, day: int) -> date:
    return date(2025, month, day)


def build_practice(store) -> None:
    add_routine(store, "r-three", 3)
    add_routine(store, "r-five", 5)
    create_user(store, "cli", "ana", "therapist", "a-long-enough-password")
    run = add_client(store, "RUN", segments=("runner",), therapist="Ana")
    a = add_assignment(store, run, "r-three", d(2, 3), weeks=12, sessions_per_week=3)
    add_sessions(store, run, days(d(2, 3), 26, 2), "r-three", done=3, pain_before=3, pain_after=2)
    desk = add_client(store, "DESK", segments=("desk_worker",), therapist="Ben")
    add_assignment(store, desk, "r-five", d(1, 6), weeks=20, sessions_per_week=5)
    add_sessions(store, desk, days(d(1, 6), 18, 3), "r-five", done=2, pain_before=2)
    add_sessions(store, desk, days(d(3, 2), 6, 4), "r-five", done=5, pain_before=6)
    lapse = add_client(store, "LAPSE", segments=("runner",), therapist="Ben")
    add_assignment(store, lapse, "r-three", d(1, 13), weeks=16, sessions_per_week=2)
    add_sessions(store, lapse, days(d(1, 13), 8, 5), "r-three", pain_before=4)
    flag = add_client(store, "FLAG", therapist="Ana")
    add_session(store, flag, d(3, 20), notes="tingling in my foot", red_flags="tingling")
    add_pause(store, a, d(3, 10), d(3, 14))


@pytest.fixture
def practice(built_store):
    return built_store(build_practice)


def assert_current(store) -> None:
    """The kept figures equal a rebuild, and every view composed from them agrees with its parts."""
    assert kept(store) == rebuilt(store)
    for scope in SCOPES:
        view, open_now = overview.practice_overview(store, scope)
        live = metrics.overview(store, scope)
        assert view.kpis == live.kpis, scope
        pd.testing.assert_frame_equal(view.weekly, live.weekly)
        for by, table in live.groups.items():
            pd.testing.assert_frame_equal(view.groups[by], table, obj=by)
        pd.testing.assert_frame_equal(open_now, alerts.current_alerts(store, scope, open_only=True))
        pd.testing.assert_frame_equal(overview.client_adherence(store, scope), metrics.client_adherence(store, scope))
    for (cid,) in store.rows("SELECT id FROM clients ORDER BY id"):
        for period in (28, 56):
            detail, found = overview.client_view(store, cid, AS_OF, period)
            pd.testing.assert_frame_equal(found, alerts.current_alerts(store, Scope(as_of=AS_OF, client_id=cid)))
            assert_same_detail(detail, metrics.client_detail(store, cid, AS_OF, period))


def assert_same_detail(one: metrics.ClientDetail, other: metrics.ClientDetail) -> None:
    assert (one.scope, one.client, one.summary) == (other.scope, other.client, other.summary)
    for frame in ("weekly", "sessions", "calendar", "pain", "assignments", "findings"):
        pd.testing.assert_frame_equal(getattr(one, frame), getattr(other, frame), obj=frame)


def client_id(store, code: str) -> int:
    return metrics.find_client_id(store, code)


def test_views_follow_every_kind_of_write(practice):
    assert_current(practice)
    # pain rising on a logged session (manual entry), a new assignment, a pause, a new client
    log_session(practice, {"client": "RUN", "session_date": d(3, 25), "routine": "r-three", "pain_before": 8},
                "ana", AS_OF)
    add_assignment(practice, client_id(practice, "FLAG"), "r-five", d(3, 2), weeks=4, sessions_per_week=2)
    lapse = client_id(practice, "LAPSE")
    add_pause(practice, practice.scalar("SELECT id FROM assignments WHERE client_id = ?", [lapse]), d(3, 1), None)
    new = add_client(practice, "NEW", segments=("runner",), therapist="Ana")
    add_assignment(practice, new, "r-three", d(3, 16), weeks=4)
    add_session(practice, new, d(3, 18), "r-three", notes="saddle numbness", red_flags="saddle_numbness")
    assert_current(practice)
    _, open_now = overview.practice_overview(practice, SCOPES[0])
    assert "pain_high" in open_now.loc[open_now["client"] == "RUN", "kind"].tolist()
    # details that only choose clients: segment and therapist changes, archiving
    desk = client_id(practice, "DESK")
    details = clients.client_input(clients.get_client(practice, desk))
    clients.update_client(practice, desk, details | {"segments": ["runner"], "therapist": "Ana"}, "ana", AS_OF)
    clients.archive_client(practice, client_id(practice, "RUN"), "ana")
    assert_current(practice)
    # a write that names no client (a routine changes): everything is kept again
    add_routine(practice, "r-three", 4, version=2)
    add_assignment(practice, client_id(practice, "FLAG"), "r-three", d(3, 20), version=2, weeks=2)
    assert_current(practice)


def test_imports_and_undo_keep_the_figures(practice):
    from core.sessions import imports

    export = b"client,session_date,routine,pain_before\nRUN,2025-03-25,r-three,9\nLAPSE,2025-03-24,r-three,2\n"
    options = imports.ImportOptions(source="form", as_of=AS_OF, actor="ana")
    result = imports.import_file(practice, export, options, name="week.csv")
    assert result.accepted == 2
    assert_current(practice)
    _, open_now = overview.practice_overview(practice, SCOPES[0])
    lapse_alerts = open_now.loc[open_now["client"] == "LAPSE", "kind"].tolist()
    assert "lapsed" not in lapse_alerts and "low_adherence" in lapse_alerts  # no longer lapsed
    imports.undo_batch(practice, result.batch_id, "ana")
    assert_current(practice)


def test_a_view_of_the_past_is_exact(practice):
    # As of 03-10 RUN's later sessions (to 03-25) are in the logs: its pain figures come from the
    # attributed sessions up to 03-10, equal to a practice holding only those sessions.
    past = Scope(as_of=d(3, 10))
    before = metrics.pain_responses(practice, past)
    with practice.transaction() as cur:
        cur.execute("DELETE FROM session_logs WHERE session_date > ?", [d(3, 10)])
    pd.testing.assert_frame_equal(before, metrics.pain_responses(practice, past))


def test_pages_opened_at_once_in_several_sessions_agree_with_one_at_a_time(practice):
    """Each Streamlit session runs on its own thread with its own cursor: the overview and every
    client page opened at the same moment get the figures one alone gets."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ids = [cid for (cid,) in practice.rows("SELECT id FROM clients ORDER BY id")]
    scope = SCOPES[0]
    start = threading.Barrier(len(ids) + 1)

    def at_once(open_page):
        start.wait(timeout=30)
        return open_page()

    with ThreadPoolExecutor(len(ids) + 1) as sessions:
        view = sessions.submit(at_once, lambda: overview.practice_overview(practice, scope))
        pages = {cid: sessions.submit(at_once, lambda cid=cid: overview.client_view(practice, cid, AS_OF))
                 for cid in ids}
        (seen, seen_alerts), pages = view.result(timeout=60), {c: p.result(timeout=60) for c, p in pages.items()}
    alone, alone_alerts = overview.practice_overview(practice, scope)
    assert seen.kpis == alone.kpis
    pd.testing.assert_frame_equal(seen_alerts, alone_alerts)
    for cid, (detail, found) in pages.items():
        assert_same_detail(detail, metrics.client_detail(practice, cid, AS_OF))
        pd.testing.assert_frame_equal(found, alerts.current_alerts(practice, Scope(as_of=AS_OF, client_id=cid)))
