"""core.analytics.overview: the figures kept per client agree with the practice computed from scratch after
every kind of write, and a write recomputes only the clients it names.

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


@pytest.fixture
def practice(store):
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
    return store


def assert_kept_equals_afresh(store) -> None:
    for scope in SCOPES:
        kept, kept_alerts = overview.practice_overview(store, scope)
        fresh, fresh_alerts = overview.practice_overview(store, scope, afresh=True)
        assert kept.kpis == fresh.kpis, scope
        pd.testing.assert_frame_equal(kept.weekly, fresh.weekly)
        for by in metrics.GROUP_BYS:
            pd.testing.assert_frame_equal(kept.groups[by], fresh.groups[by])
        pd.testing.assert_frame_equal(kept_alerts, fresh_alerts)
        pd.testing.assert_frame_equal(overview.client_adherence(store, scope), metrics.client_adherence(store, scope))
    # a client's page reads its figures and alerts from the kept ones once the overview keeps them
    for (cid,) in store.rows("SELECT id FROM clients ORDER BY id"):
        for period in (28, 56):
            detail, found = overview.client_view(store, cid, AS_OF, period)
            pd.testing.assert_frame_equal(found, alerts.current_alerts(store, Scope(as_of=AS_OF, client_id=cid)))
            assert_same_detail(detail, metrics.client_detail(store, cid, AS_OF, period))


def assert_same_detail(kept: metrics.ClientDetail, fresh: metrics.ClientDetail) -> None:
    assert (kept.scope, kept.client, kept.summary) == (fresh.scope, fresh.client, fresh.summary)
    for frame in ("weekly", "sessions", "calendar", "pain", "assignments", "findings"):
        pd.testing.assert_frame_equal(getattr(kept, frame), getattr(fresh, frame), obj=frame)


def client_id(store, code: str) -> int:
    return metrics.find_client_id(store, code)


def test_kept_figures_follow_every_kind_of_write(practice):
    assert_kept_equals_afresh(practice)
    # pain rising on a logged session (manual entry), a new assignment, a pause, a new client
    log_session(practice, {"client": "RUN", "session_date": d(3, 25), "routine": "r-three", "pain_before": 8},
                "ana", AS_OF)
    add_assignment(practice, client_id(practice, "FLAG"), "r-five", d(3, 2), weeks=4, sessions_per_week=2)
    lapse = client_id(practice, "LAPSE")
    add_pause(practice, practice.scalar("SELECT id FROM assignments WHERE client_id = ?", [lapse]), d(3, 1), None)
    new = add_client(practice, "NEW", segments=("runner",), therapist="Ana")
    add_assignment(practice, new, "r-three", d(3, 16), weeks=4)
    add_session(practice, new, d(3, 18), "r-three", notes="saddle numbness", red_flags="saddle_numbness")
    assert_kept_equals_afresh(practice)
    # details that only choose clients: segment and therapist changes, archiving
    desk = client_id(practice, "DESK")
    details = clients.client_input(clients.get_client(practice, desk))
    clients.update_client(practice, desk, details | {"segments": ["runner"], "therapist": "Ana"}, "ana", AS_OF)
    clients.archive_client(practice, client_id(practice, "RUN"), "ana")
    assert_kept_equals_afresh(practice)
    # a write that names no client (a routine changes): everything is recomputed
    add_routine(practice, "r-three", 4, version=2)
    add_assignment(practice, client_id(practice, "FLAG"), "r-three", d(3, 20), version=2, weeks=2)
    assert_kept_equals_afresh(practice)


def test_a_client_page_reads_kept_alerts_only_once_the_overview_keeps_them(practice, monkeypatch):
    desk = client_id(practice, "DESK")
    computed = []
    real = alerts.alerts_from
    monkeypatch.setattr(alerts, "alerts_from", lambda *a: computed.append(1) or real(*a))
    before, _ = overview.client_view(practice, desk, AS_OF)            # nothing kept: its own pipeline
    assert computed == [1]
    overview.practice_overview(practice, SCOPES[0])                       # the overview keeps the figures
    add_session(practice, desk, d(3, 26), "r-five", pain_before=9)        # a write: the page is read again
    after, found = overview.client_view(practice, desk, AS_OF)
    assert computed == [1] and after is not before                        # kept alerts: no alert pipeline of its own
    assert "pain_high" in set(found["kind"])


def test_a_write_recomputes_only_the_clients_it_names(practice, monkeypatch):
    overview.practice_overview(practice, SCOPES[0])
    seen: list[Scope] = []
    real = metrics.pipeline
    monkeypatch.setattr(metrics, "pipeline", lambda store, scope, **k: seen.append(scope) or real(store, scope, **k))

    add_session(practice, client_id(practice, "LAPSE"), d(3, 25), "r-three", pain_before=2)
    _, open_now = overview.practice_overview(practice, SCOPES[0])
    assert [s.clients for s in seen] == [(client_id(practice, "LAPSE"),)]
    lapse_alerts = open_now.loc[open_now["client"] == "LAPSE", "kind"].tolist()
    assert "lapsed" not in lapse_alerts and "low_adherence" in lapse_alerts  # no longer lapsed

    seen.clear()
    overview.practice_overview(practice, SCOPES[2])                  # a new filter: read, not computed
    assert seen == []

    add_routine(practice, "r-six", 6)                                # names no client
    overview.practice_overview(practice, SCOPES[0])
    assert [s.clients for s in seen] == [()]


def test_store_tells_which_clients_were_written(store):
    mark = store.writes
    assert store.clients_written_since(mark) == frozenset()
    one = add_client(store, "ONE")
    two = add_client(store, "TWO")
    add_session(store, one, d(3, 1))
    assert store.clients_written_since(mark) == {one, two}
    with store.transaction(touches=("accounts",)):
        pass                                                         # not a practice write
    assert store.clients_written_since(mark, ("practice", "session_logs")) == {one, two}
    with store.transaction():
        pass                                                         # names no client
    assert store.clients_written_since(mark) is None


def test_imports_and_undo_name_the_clients_they_change(practice):
    from core.sessions import imports

    assert_kept_equals_afresh(practice)
    mark = practice.writes
    export = b"client,session_date,routine,pain_before\nRUN,2025-03-25,r-three,9\nLAPSE,2025-03-24,r-three,2\n"
    options = imports.ImportOptions(source="form", as_of=AS_OF, actor="ana")
    result = imports.import_file(practice, export, options, name="week.csv")
    assert result.accepted == 2
    assert practice.clients_written_since(mark) == {client_id(practice, "RUN"), client_id(practice, "LAPSE")}
    assert_kept_equals_afresh(practice)
    imports.undo_batch(practice, result.batch_id, "ana")
    assert_kept_equals_afresh(practice)


def test_a_client_page_never_recomputes_the_practice(practice, monkeypatch):
    overview.practice_overview(practice, SCOPES[0])
    add_routine(practice, "r-six", 6)                                     # names no client
    seen: list[Scope] = []
    real = metrics.pipeline
    monkeypatch.setattr(metrics, "pipeline", lambda store, scope, **k: seen.append(scope) or real(store, scope, **k))
    overview.client_view(practice, client_id(practice, "DESK"), AS_OF)
    assert [s.client_id for s in seen] == [client_id(practice, "DESK")]   # its own pipeline only


def test_a_client_page_outlives_writes_for_other_clients(practice, monkeypatch):
    desk, run = client_id(practice, "DESK"), client_id(practice, "RUN")
    page, _ = overview.client_view(practice, desk, AS_OF)
    seen: list[Scope] = []
    real = metrics.pipeline
    monkeypatch.setattr(metrics, "pipeline", lambda store, scope, **k: seen.append(scope) or real(store, scope, **k))

    log_session(practice, {"client": "RUN", "session_date": d(3, 25), "routine": "r-three", "pain_before": 8},
                "ana", AS_OF)                                             # another client's session
    again, _ = overview.client_view(practice, desk, AS_OF)
    assert again is page and seen == []                                   # kept, nothing recomputed
    assert overview.client_view(practice, run, AS_OF)[0].sessions["pain_before"].iloc[-1] == 8

    seen.clear()
    add_session(practice, desk, d(3, 26), "r-five", pain_before=9)        # her own
    fresh, found = overview.client_view(practice, desk, AS_OF)
    assert fresh is not page and [s.client_id for s in seen] == [desk]
    assert "pain_high" in set(found["kind"])


def test_a_client_page_opened_from_the_overview_reads_the_kept_figures(practice, monkeypatch):
    overview.practice_overview(practice, SCOPES[0])
    desk = client_id(practice, "DESK")
    seen: list[Scope] = []
    real = metrics.pipeline
    monkeypatch.setattr(metrics, "pipeline", lambda store, scope, **k: seen.append(scope) or real(store, scope, **k))

    detail, _ = overview.client_view(practice, desk, AS_OF)
    assert seen == [] and detail.sessions["session_id"].size == 6           # no pipeline at all
    add_session(practice, desk, d(3, 26), "r-five", pain_before=9)          # her own session
    detail, found = overview.client_view(practice, desk, AS_OF)
    assert [s.clients for s in seen] == [(desk,)]                           # the write kept the figures
    assert detail.sessions["session_id"].size == 7 and "pain_high" in set(found["kind"])
    assert_same_detail(detail, metrics.client_detail(practice, desk, AS_OF))


def test_the_safety_recheck_started_beside_the_tables_runs_once(practice, monkeypatch):
    from core.practice import assignments

    checks: list[tuple[int, ...] | None] = []
    real = assignments._unreviewed_findings
    monkeypatch.setattr(assignments, "_unreviewed_findings",
                        lambda store, as_of, ids: checks.append(ids) or real(store, as_of, ids))
    desk = client_id(practice, "DESK")
    overview.client_view(practice, desk, AS_OF)                           # its own pipeline and alerts
    assert checks == [(desk,)]
    checks.clear()
    overview.practice_overview(practice, SCOPES[0])                       # the kept figures, computed
    overview.practice_overview(practice, SCOPES[0], afresh=True)          # and from scratch
    assert checks == [None]                                               # remembered for the second


def test_pages_opened_at_once_in_several_sessions_agree_with_one_at_a_time(practice):
    """Each Streamlit session runs on its own thread, and each page reads beside itself (store.beside):
    the overview and every client page opened at the same moment get the figures one alone gets."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ids = [cid for (cid,) in practice.rows("SELECT id FROM clients ORDER BY id")]
    scope = SCOPES[0]
    for _ in range(3):  # nothing kept yet; then after writes that name no client (all recomputed)
        start = threading.Barrier(len(ids) + 1)

        def at_once(open_page):
            start.wait(timeout=30)
            return open_page()

        with ThreadPoolExecutor(len(ids) + 1) as sessions:
            view = sessions.submit(at_once, lambda: overview.practice_overview(practice, scope))
            pages = {cid: sessions.submit(at_once, lambda cid=cid: overview.client_view(practice, cid, AS_OF))
                     for cid in ids}
            (kept, kept_alerts), pages = view.result(timeout=60), {c: p.result(timeout=60) for c, p in pages.items()}
        fresh, fresh_alerts = overview.practice_overview(practice, scope, afresh=True)
        assert kept.kpis == fresh.kpis
        pd.testing.assert_frame_equal(kept_alerts, fresh_alerts)
        for cid, (detail, found) in pages.items():
            assert_same_detail(detail, metrics.client_detail(practice, cid, AS_OF))
            pd.testing.assert_frame_equal(found, alerts.current_alerts(practice, Scope(as_of=AS_OF, client_id=cid)))
        with practice.transaction():
            pass
