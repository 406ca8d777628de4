"""The read model (core/db/figures.py): figures kept by the writes equal a rebuild from the logs.

A small practice worked out by hand, then a hypothesis state machine that runs random sequences
of writes (clients, assignments, pauses, sessions typed in or imported, imports undone, routine
versions, programs ended) and checks after each one that the kept figures are what
``rebuild_figures`` computes from scratch (floats to 9 places: kept sums add up in another order),
and that the overview read from the period figures kept per client is the one computed live.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from core.access.auth import create_user
from core.analytics import alerts, metrics, overview
from core.analytics.metrics import Scope
from core.db.figures import FIGURE_TABLES, exact_avg, exact_sum, rebuild_figures
from core.db.store import Store
from core.practice import assignments
from core.practice.assignments import AssignmentError
from core.sessions import imports
from core.sessions.checks import log_session
from tests.practice_rows import add_assignment, add_client, add_pause, add_routine, add_session

_ORDER = {
    "session_attribution": "session_id",
    "assignment_day_figures": "assignment_id, day",
    "assignment_pain_ends": "assignment_id, session_order",
    "assignment_pain_figures": "assignment_id",
    "client_figures": "client_id",
}


def _rounded(rows: list[tuple]) -> list[tuple]:
    """Rows with floats to 9 places: kept sums are added up in another order than a rebuild's."""
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def kept(store: Store) -> dict[str, list[tuple]]:
    return {t: _rounded(store.rows(f"SELECT * FROM {t} ORDER BY {_ORDER[t]}")) for t in FIGURE_TABLES}


def rebuilt(store: Store) -> dict[str, list[tuple]]:
    """The figures a rebuild would give, computed in a transaction that is rolled back."""
    cur = store.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        rebuild_figures(cur)
        found = {t: _rounded(cur.execute(f"SELECT * FROM {t} ORDER BY {_ORDER[t]}").fetchall()) for t in FIGURE_TABLES}
        cur.execute("ROLLBACK")
        return found
    finally:
        cur.close()


def imported(store: Store, text: str) -> dict[str, list[tuple]]:
    """The kept figures after ``text`` (a CSV whose every row is stored) is imported by ann."""
    result = imports.import_file(store, text.encode(), imports.ImportOptions(actor="ann", as_of=date(2025, 3, 20)),
                                 name="log.csv")
    assert result.accepted == text.count("\n") - 1
    return kept(store)


def test_figures_of_a_small_practice_by_hand(store: Store) -> None:
    # r-two (2 items), 3 a week, from Mon 2025-03-03 for 2 weeks (last day 03-16), paused 03-10..03-11.
    # 03-04 done 1 of 2 -> 0.5, pain 6 -> 4;  03-05 unnamed, pain 5 -> 5;
    # 03-10 named, on a paused day: attributed, not on an active day, completion 1, pain 4 -> 2;
    # 03-10 unnamed on the paused day: belongs to nothing; 03-20 after the last day: nothing.
    add_routine(store, "r-two", 2)
    cid = add_client(store, "F1")
    aid = add_assignment(store, cid, "r-two", date(2025, 3, 3), weeks=2)
    add_pause(store, aid, date(2025, 3, 10), date(2025, 3, 11))
    add_session(store, cid, date(2025, 3, 4), "r-two", done=1, pain_before=6, pain_after=4)
    add_session(store, cid, date(2025, 3, 5), pain_before=5, pain_after=5, at=time(9, 0))
    add_session(store, cid, date(2025, 3, 10), "r-two", pain_before=4, pain_after=2)
    add_session(store, cid, date(2025, 3, 10))
    add_session(store, cid, date(2025, 3, 20), "r-two", pain_before=9)
    figures = kept(store)
    assert [(r[3], r[5], r[6]) for r in figures["session_attribution"]] == [
        (date(2025, 3, 4), True, 0.5), (date(2025, 3, 5), True, 1.0), (date(2025, 3, 10), False, 1.0)]
    assert figures["assignment_day_figures"] == [
        (aid, cid, date(2025, 3, 4), 0.5, 1, 1, 6.0), (aid, cid, date(2025, 3, 5), 1.0, 1, 1, 5.0),
        (aid, cid, date(2025, 3, 10), 0.0, 0, 1, 4.0)]
    # 3 scored: first three 6 + 5 + 4 = 15, last three the same; relief 2 + 0 + 2 = 4 over 3.
    assert figures["assignment_pain_figures"] == [(aid, cid, 3, 15.0, 15.0, 4.0, 3, date(2025, 3, 10))]
    assert figures["client_figures"] == [(cid, date(2025, 3, 20))]
    assert figures == rebuilt(store)


def test_a_sum_of_figures_does_not_depend_on_the_order_of_its_rows(store: Store) -> None:
    # A client due 3 sessions a week over 4 days, then 4 a week for three weeks, expected
    # 3 x 4/7 + 4 + 4 + 4 = 96/7, who did 6: adherence 6 / (96/7) = 42/96 = 0.4375, which rounds
    # to 0.438. Added as floats, the expected sum's last bit follows the order of the rows (a
    # parallel aggregate takes them in any order): 0.43749999999999994 one way, 0.4375 the other.
    weeks = [3 * 4 / 7, 4.0, 4.0, 4.0]
    assert sum(weeks) != sum(reversed(weeks))  # the hazard: float addition is not associative
    cur = store.cursor()
    for order in (weeks, list(reversed(weeks))):
        cur.execute("CREATE OR REPLACE TEMP TABLE w AS SELECT * FROM (VALUES " +
                    ", ".join(f"({i}, CAST({v!r} AS DOUBLE))" for i, v in enumerate(order)) + ") t(k, expected)")
        floats = {cur.execute(f"SELECT round(6 / list_sum(list(expected ORDER BY k {way})), 3) FROM w").fetchone()[0]
                  for way in ("ASC", "DESC")}
        assert floats == {0.437, 0.438}
        exact = cur.execute(f"SELECT round(6 / {exact_sum('expected')}, 3), {exact_avg('expected', where='k > 0')},"
                            f" {exact_sum('expected', where='k > 0')} FROM w").fetchone()
        assert exact[0] == 0.438 and exact[2] == pytest.approx(exact[1] * 3, abs=1e-12)
    cur.close()


def test_an_import_adds_only_its_sessions_to_the_pain_ends(store: Store) -> None:
    # Stored, scored 5, 4, 6, 7, 3 on 03-05..03-09: first three 5 + 4 + 6 = 15, last three 6 + 7 + 3 = 16.
    # The import adds 8 on 03-04 (before them all), 2 on 03-12 (after) and an unscored 03-13:
    # first three become 8 + 5 + 4 = 17, last three 7 + 3 + 2 = 12; 7 scored in all.
    add_routine(store, "r-two", 2)
    create_user(store, "cli", "ann", "therapist", PASSWORD)
    cid = add_client(store, "F3")
    aid = add_assignment(store, cid, "r-two", date(2025, 3, 3), weeks=2)
    for day, pain in zip(range(5, 10), (5, 4, 6, 7, 3)):
        add_session(store, cid, date(2025, 3, day), "r-two", pain_before=pain, pain_after=pain - 1)
    figures = imported(store, "client,session_date,routine,pain_before,pain_after\n"
                       "F3,2025-03-04,r-two,8,2\nF3,2025-03-12,r-two,2,\nF3,2025-03-13,r-two,,\n")
    # relief: five stored sessions 1 each, plus 8 - 2 = 6; the 03-12 score has no pain after.
    assert figures["assignment_pain_figures"] == [(aid, cid, 7, 17.0, 12.0, 11.0, 6, date(2025, 3, 13))]
    assert [(r[3], r[4], r[5]) for r in figures["assignment_pain_ends"]] == [
        (8.0, True, False), (5.0, True, False), (4.0, True, False), (7.0, False, True), (3.0, False, True),
        (2.0, False, True)]
    assert figures == rebuilt(store)



@pytest.mark.both_stores
def test_an_import_adds_to_the_days_already_kept_and_inserts_the_new_ones(store: Store) -> None:
    # r-two (2 items) from 03-03 for 2 weeks. Stored: 03-05 done 1 (0.5), pain 5; 03-06 done 2 (1.0).
    # The import: 03-05 again at 18:00, done 2 (1.0), pain 3; 03-07 done 1 (0.5), pain 4; a second client
    # G2 on 03-06, three weeks from 03-03, with nothing stored.
    # Day figures after: 03-05 completed 1.5 over 2 sessions, 2 scored, pain sum 8; 03-06 unchanged; 03-07 new.
    add_routine(store, "r-two", 2)
    create_user(store, "cli", "ann", "therapist", PASSWORD)
    cid = add_client(store, "G1")
    other = add_client(store, "G2")
    aid = add_assignment(store, cid, "r-two", date(2025, 3, 3), weeks=2)
    other_aid = add_assignment(store, other, "r-two", date(2025, 3, 3), weeks=3)
    add_session(store, cid, date(2025, 3, 5), "r-two", done=1, pain_before=5, at=time(8, 0))
    add_session(store, cid, date(2025, 3, 6), "r-two", done=2)
    figures = imported(store, "client,session_date,session_time,routine,exercises_done,pain_before\n"
                       "G1,2025-03-05,18:00,r-two,2,3\nG1,2025-03-07,,r-two,1,4\nG2,2025-03-06,,r-two,2,\n")
    assert figures["assignment_day_figures"] == [
        (aid, cid, date(2025, 3, 5), 1.5, 2, 2, 8.0), (aid, cid, date(2025, 3, 6), 1.0, 1, 0, None),
        (aid, cid, date(2025, 3, 7), 0.5, 1, 1, 4.0), (other_aid, other, date(2025, 3, 6), 1.0, 1, 0, None)]
    assert figures["client_figures"] == [(cid, date(2025, 3, 7)), (other, date(2025, 3, 6))]
    assert figures == rebuilt(store)


DAYS = [date(2025, 3, 3) + timedelta(days=i) for i in range(28)]
PASSWORD = "a-long-enough-password"


def _machine_start(store: Store) -> None:
    """What every run of the state machine starts from: the therapist who writes, and two routines."""
    create_user(store, "cli", "ann", "therapist", PASSWORD)
    add_routine(store, "r-two", 2)
    add_routine(store, "r-day", 3, sessions_per_week=7, slots=("morning", "morning", "evening"))


@pytest.fixture(scope="module")
def machine_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed practice file written by ``_machine_start`` once; each run of the machine copies it
    (migrating a new file for every run was a fifth of the test's time)."""
    path = tmp_path_factory.mktemp("figures") / "start.duckdb"
    with Store(path) as s:
        _machine_start(s)
    return path


class KeptFiguresMachine(RuleBasedStateMachine):
    """Random writes through the service functions and the tests' plain-SQL helpers (each names the
    clients it changes, as every write does); the kept figures must equal a rebuild after each."""

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        path = Path(self.folder.name) / "figures.duckdb"
        shutil.copyfile(start, path)
        self.store = Store(path)
        self.clients: list[int] = []
        self.assignments: list[int] = []
        self.batches: list[int] = []
        self.imported = 0

    def teardown(self) -> None:
        self.store.close()
        self.folder.cleanup()

    @rule()
    def new_client(self) -> None:
        self.clients.append(add_client(self.store, f"K{len(self.clients) + 1:03d}"))

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), routine=st.sampled_from(["r-two", "r-day"]), start=st.sampled_from(DAYS),
          weeks=st.integers(1, 3), per_week=st.integers(1, 7))
    def assign(self, data, routine: str, start: date, weeks: int, per_week: int) -> None:
        client = data.draw(st.sampled_from(self.clients))
        self.assignments.append(add_assignment(self.store, client, routine, start, weeks=weeks,
                                               sessions_per_week=per_week))

    @precondition(lambda self: self.assignments)
    @rule(data=st.data(), day=st.sampled_from(DAYS), kind=st.sampled_from(["pause", "resume", "end"]))
    def change_program(self, data, day: date, kind: str) -> None:
        assignment = data.draw(st.sampled_from(self.assignments))
        change = {"pause": assignments.pause_assignment, "resume": assignments.resume_assignment,
                  "end": assignments.end_assignment}[kind]
        try:
            change(self.store, assignment, day, "ann")
        except AssignmentError:
            pass  # not allowed on this day: nothing written

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), day=st.sampled_from(DAYS), routine=st.sampled_from([None, "r-two", "r-day"]),
          block=st.sampled_from([None, "morning", "evening"]), done=st.sampled_from([None, 0, 1, 2, 3]),
          before=st.sampled_from([None, 2, 4.5, 7]), after=st.sampled_from([None, 1, 6]))
    def log(self, data, day: date, routine, block, done, before, after) -> None:
        client = data.draw(st.sampled_from(self.clients))
        add_session(self.store, client, day, routine, done=done, pain_before=before, pain_after=after, block=block)

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), day=st.sampled_from(DAYS), block=st.sampled_from([None, "morning"]))
    def type_in(self, data, day: date, block) -> None:
        client = data.draw(st.sampled_from(self.clients))
        code = self.store.scalar("SELECT code FROM clients WHERE id = ?", [client])
        log_session(self.store, {"client": code, "session_date": day, "block": block, "exercises_done": 1,
                                 "pain_before": 3}, "ann", as_of=DAYS[-1])

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), day=st.sampled_from(DAYS), newcomer=st.booleans())
    def import_file(self, data, day: date, newcomer: bool) -> None:
        chosen = data.draw(st.lists(st.sampled_from(self.clients), min_size=1, max_size=3))
        self.imported += 1
        codes = [self.store.scalar("SELECT code FROM clients WHERE id = ?", [c]) for c in chosen]
        if newcomer:  # a client the import creates: a last session, no assignment yet
            codes.append(f"N{self.imported:03d}")
        text = "client,session_date,routine,pain_before,session_id\n" + "".join(
            f"{code},{day.isoformat()},r-two,{n % 10},i{self.imported}-{n}\n" for n, code in enumerate(codes))
        options = imports.ImportOptions(actor="ann", as_of=DAYS[-1], create_clients=newcomer)
        result = imports.import_file(self.store, text.encode(), options, name="log.csv")
        created = self.store.scalar("SELECT id FROM clients WHERE code = ?", [codes[-1]]) if newcomer else None
        if created is not None:  # (not when her row was rejected)
            self.clients.append(created)
        if result.batch_id is not None:
            self.batches.append(result.batch_id)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def undo(self, data) -> None:
        batch = data.draw(st.sampled_from(self.batches))
        self.batches.remove(batch)
        imports.undo_batch(self.store, batch, "ann")

    @rule(items=st.integers(1, 4))
    def new_routine_version(self, items: int) -> None:
        # A routine version with another item count: a write that names no client.
        version = self.store.scalar("SELECT max(version) FROM routine_versions WHERE routine_id = 'r-two'") + 1
        add_routine(self.store, "r-two", items, version=version)
        with self.store.transaction(clients=self.clients) as cur:
            cur.execute("UPDATE assignments SET routine_version = ? WHERE routine_id = 'r-two'", [version])

    @invariant()
    def kept_equals_rebuilt(self) -> None:
        assert kept(self.store) == rebuilt(self.store)

    @invariant()
    def kept_period_equals_live(self) -> None:
        """The overview read from the period figures kept per client (core.analytics.period_figures)
        is the one computed from scratch."""
        scope = Scope(as_of=DAYS[-1])
        view, open_now = overview.practice_overview(self.store, scope)
        live = metrics.overview(self.store, scope)
        assert view.kpis == live.kpis
        pd.testing.assert_frame_equal(view.weekly, live.weekly)
        for by, table in live.groups.items():
            pd.testing.assert_frame_equal(view.groups[by], table)
        pd.testing.assert_frame_equal(open_now, alerts.current_alerts(self.store, scope, open_only=True))


def test_kept_figures_equal_a_rebuild_after_any_writes(machine_start: Path) -> None:
    # No shrinking: each step opens a database, so shrinking takes minutes; a failure prints its steps.
    run_state_machine_as_test(lambda: KeptFiguresMachine(machine_start),
                              settings=settings(max_examples=10, stateful_step_count=12, deadline=None,
                                                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                                                suppress_health_check=[HealthCheck.too_slow]))


def test_rebuild_figures_command_restores_lost_figures(db_path: Path, capsys) -> None:
    import json

    from core.commands.cli import main

    with Store(db_path) as s:
        add_routine(s, "r-two", 2)
        cid = add_client(s, "F2")
        add_assignment(s, cid, "r-two", date(2025, 3, 3))
        add_session(s, cid, date(2025, 3, 4), "r-two", pain_before=3)
        with s.transaction(clients=()) as cur:  # names no client: nothing kept, figures lost
            cur.execute("DELETE FROM assignment_day_figures")
    assert main(["rebuild-figures", "--db", str(db_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == {"session_attribution": 1, "assignment_day_figures": 1, "assignment_pain_ends": 1,
                           "assignment_pain_figures": 1, "client_figures": 1}
    with Store(db_path) as s:
        assert kept(s) == rebuilt(s)
