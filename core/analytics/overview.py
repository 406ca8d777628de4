"""The practice overview, kept up to date client by client.

Everything the overview shows is summed from figures per client and per assignment (metrics'
m_asg, m_weeks, m_client, m_pain and alerts' m_alerts; the client page also lists the period's
attributed sessions, m_att), and a write changes a few clients at most:
an assignment, a pause, a session logged, a client's details. Recomputing the whole chain-sized
practice costs about half a second; recomputing one client, about a tenth of that. So the practice's
tables are kept for each (as_of, days) in an in-memory database beside the practice, and before a
read only the clients written since (``Store.clients_written_since``) are recomputed and their rows
replaced. A write that does not say which clients it changed (a routine or library change), or
changes more than ``_RECOMPUTE_AT_MOST`` clients (a large import), makes the next read recompute
everything.

Segment and therapist filters only choose clients: a filtered overview reads the kept rows of the
clients it shows. A routine filter changes the client figures themselves (a client's adherence
then sums that routine's assignments only), so those overviews are computed afresh.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import date
from typing import TypeVar

import pandas as pd

from core.analytics import alerts
from core.analytics import metrics
from core.analytics.alerts import ALERT_DAYS, ALERT_INPUTS
from core.analytics.metrics import Overview, Pipeline, Scope
from core.db.store import Cursor, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

KEPT_DB = "rd_kept"
# Tables kept per client, by the name the metric and alert queries read them under; m_att (every
# attributed session) only for the period: the client page lists those sessions.
_FIGURES = ("m_asg", "m_weeks", "m_client", "m_pain", "m_att")
_KEPT_ROWS = {"m_att": "SELECT session_id, client_id, assignment_id, session_date, on_active_day, completion"
                       " FROM m_att WHERE session_date >= $p_start"}
_KEPT_PERIODS = 4          # (as_of, days) pairs kept: today's default period and a few others
# Beyond this many clients written, recompute everything. (At chain size, 2,000 of the 10,000
# clients took about a fifth of the whole practice's time, one client about a tenth.)
_RECOMPUTE_AT_MOST = 2000


class _Kept:
    """One (as_of, days)'s tables in KEPT_DB, and the Store write they reflect."""

    def __init__(self, number: int, as_of: date, days: int) -> None:
        self.scope = Scope(as_of=as_of, days=days)
        self.prefix = f"{KEPT_DB}.p{number}_"
        self.tables = _FIGURES + (("m_alerts",) if days == ALERT_DAYS else ())
        self.synced: int | None = None
        self.lock = threading.Lock()

    def catches_up_cheaply(self, store: Store) -> bool:
        """Whether ``sync`` would recompute a few clients at most (not everything)."""
        if self.synced is None:
            return False
        changed = store.clients_written_since(self.synced, ALERT_INPUTS)
        return changed is not None and len(changed) <= _RECOMPUTE_AT_MOST

    def sync(self, store: Store) -> None:
        """Recompute the clients written since the last sync (all of them the first time).
        Call it holding ``lock``, and read while still holding it."""
        mark = store.writes
        changed = None if self.synced is None else store.clients_written_since(self.synced, ALERT_INPUTS)
        if changed == frozenset():
            return
        self.synced = None  # until this sync is through
        if changed is None or len(changed) > _RECOMPUTE_AT_MOST:
            self._compute(store, self.scope, changed=None)
        else:
            self._compute(store, replace(self.scope, clients=tuple(changed)), changed=changed)
        self.synced = mark

    def _compute(self, store: Store, scope: Scope, changed: frozenset[int] | None) -> None:
        with_alerts = "m_alerts" in self.tables
        checking = alerts.safety_check_beside(store, scope) if with_alerts else nullcontext()
        with checking, metrics.pipeline(store, scope, pain=True, keep_sessions=True) as run:
            if with_alerts:
                alerts.build_alert_table(run, store)
            cur = run.cur
            cur.execute("BEGIN TRANSACTION")
            try:
                for name in self.tables:
                    rows = _KEPT_ROWS.get(name, f"SELECT * FROM {name}")
                    if changed is None:
                        run.execute(f"CREATE OR REPLACE TABLE {self.prefix}{name} AS {rows}")
                        continue
                    cur.execute(f"DELETE FROM {self.prefix}{name} WHERE client_id IN (SELECT unnest($ids))",
                                {"ids": sorted(changed)})
                    run.execute(f"INSERT INTO {self.prefix}{name} {rows}")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def read(self, store: Store, scope: Scope) -> Pipeline:
        """A pipeline whose m_* names are views on the kept rows of ``scope``'s clients (the
        caller closes ``run.cur``); its sibling reads the same rows on a cursor of its own."""
        cur = store.cursor()
        run = Pipeline(cur, scope, sibling=lambda: self.read(store, scope))
        where = ""
        if scope.client_id is not None:  # one client's page: a filter the scans apply
            where = f" WHERE client_id = {int(scope.client_id)}"
        elif scope.segments or scope.therapists or scope.clients:
            run.execute(f"CREATE TEMP TABLE m_in_scope AS SELECT c.id AS client_id FROM clients c"
                        f" WHERE {metrics.client_where_sql(scope)}")
            where = " WHERE client_id IN (SELECT client_id FROM m_in_scope)"
        for name in self.tables:
            cur.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {self.prefix}{name}{where}")
        return run

    def drop(self, cur: Cursor) -> None:
        for name in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {self.prefix}{name}")


class _KeptPeriods:
    """The kept (as_of, days) pairs of one Store, the least recently read dropped first.

    The most recently read one is brought up to date by the write itself when the write names its
    clients (about a tenth of a second at chain size for one client or a few, paid once by the
    writer instead of by the next reader); the others catch up when they are read.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._numbers = itertools.count(1)
        self._periods: OrderedDict[tuple[date, int], _Kept] = OrderedDict()
        self._lock = threading.Lock()
        cur = store.cursor()
        try:
            cur.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {KEPT_DB}")
        finally:
            cur.close()
        store.after_commit(self._written)

    def _written(self, areas: frozenset[str], clients: frozenset[int] | None) -> None:
        if clients is None or len(clients) > _RECOMPUTE_AT_MOST or not areas & set(ALERT_INPUTS):
            return  # the next read recomputes everything: not at the writer's expense
        with self._lock:
            recent = next(reversed(self._periods.values()), None)
        if recent is None:
            return
        with recent.lock:
            if recent.synced is None:
                return
            try:
                recent.sync(self._store)
            except Exception:  # the write stands; the next read recomputes everything
                recent.synced = None
                log.exception("could not bring the kept overview figures up to date; recomputing on next read")

    def peek(self, as_of: date, days: int) -> _Kept | None:
        """The period's kept figures if they exist, without making them."""
        with self._lock:
            return self._periods.get((as_of, days))

    def get(self, as_of: date, days: int) -> _Kept:
        with self._lock:
            kept = self._periods.pop((as_of, days), None) or _Kept(next(self._numbers), as_of, days)
            self._periods[(as_of, days)] = kept
            stale = [self._periods.popitem(last=False)[1] for _ in range(len(self._periods) - _KEPT_PERIODS)]
        if stale:
            cur = self._store.cursor()
            try:
                for old in stale:
                    with old.lock:
                        old.drop(cur)
            finally:
                cur.close()
        return kept


def _periods(store: Store) -> _KeptPeriods:
    return store.kept("overview.kept_periods", lambda: _KeptPeriods(store))


@contextmanager
def _reading(store: Store, scope: Scope) -> Iterator[Pipeline]:
    """The kept figures of ``scope``'s period brought up to date, as a pipeline to read."""
    kept = _periods(store).get(scope.as_of, scope.days)
    with kept.lock:
        kept.sync(store)
        run = kept.read(store, scope)
        try:
            yield run
        finally:
            run.cur.close()


def _from_kept(store: Store, scope: Scope) -> tuple[Overview, pd.DataFrame]:
    with _reading(store, scope) as run:
        view, found = metrics.overview_from(run, also=alerts.select_alerts if scope.days == ALERT_DAYS else None)
    if found is not None:
        return view, found
    with _reading(store, alerts.alert_scope(scope)) as run:
        return view, alerts.select_alerts(run)


def _afresh(store: Store, scope: Scope) -> tuple[Overview, pd.DataFrame]:
    """The overview and its alerts computed from scratch (one pipeline when the period is the
    alert window)."""
    with alerts.safety_check_beside(store, scope):
        if scope.days == ALERT_DAYS:
            with metrics.pipeline(store, scope, pain=True) as run:
                return metrics.overview_from(run, also=lambda r: alerts.alerts_from(r, store))
        return metrics.overview(store, scope), alerts.computed_alerts(store, scope)


def practice_overview(store: Store, scope: Scope, *, afresh: bool = False) -> tuple[Overview, pd.DataFrame]:
    """The overview and its open alerts for ``scope``.

    Read from the figures kept per client (recomputing the clients written since), unless the
    scope filters routines or ``afresh`` asks for a computation from scratch (the two agree; the
    tests hold them to it). The result is also remembered until a write touches ALERT_INPUTS, so
    staff working down the alert list (acknowledge, back to the overview, next one) wait for
    nothing; acknowledgements are read afresh each time.
    """
    def compute() -> tuple[Overview, pd.DataFrame]:
        return _afresh(store, scope) if afresh or scope.routines else _from_kept(store, scope)

    if afresh:
        view, found = compute()
    else:
        view, found = store.remember(("practice_overview", scope), compute, depends_on=ALERT_INPUTS)
    return view, alerts.only_open(alerts.with_acknowledgements(store, found))


def client_adherence(store: Store, scope: Scope) -> pd.DataFrame:
    """``metrics.client_adherence`` for the overview's client table, from the kept figures when the
    scope does not filter routines."""
    if scope.routines:
        return metrics.client_adherence(store, scope)
    with _reading(store, scope) as run:
        return metrics.client_adherence_from(run)


# -- a client's page ------------------------------------------------------------------------------

def _read_kept(store: Store, client_id: int, as_of: date, days: int, read: Callable[[Pipeline], T]) -> T | None:
    """``read`` of the practice's kept figures for one client that is not archived (they hold no
    archived client), when the period's are kept already (the overview was opened) and catch up by
    recomputing a few clients at most; else None (a client's page never recomputes the practice)."""
    kept = _periods(store).peek(as_of, days)
    if kept is None:
        return None
    with kept.lock:
        if not kept.catches_up_cheaply(store):
            return None
        kept.sync(store)
        run = kept.read(store, Scope(as_of=as_of, days=days, client_id=int(client_id)))
        try:
            return read(run)
        finally:
            run.cur.close()


def _kept_client_view(store: Store, client_id: int, as_of: date,
                      days: int) -> tuple[metrics.ClientDetail | None, pd.DataFrame | None]:
    """The page's figures and alerts from the kept figures, each None where they are not kept."""
    if store.scalar("SELECT archived_at IS NULL FROM clients WHERE id = ?", [client_id]) is not True:
        return None, None  # archived, or no such client: not in the kept figures
    if days == ALERT_DAYS:
        both = _read_kept(store, client_id, as_of, days,
                          lambda run: metrics.client_detail_from(run, also=alerts.select_alerts))
        return both or (None, None)
    return (_read_kept(store, client_id, as_of, days, lambda run: metrics.client_detail_from(run)[0]),
            _read_kept(store, client_id, as_of, ALERT_DAYS, alerts.select_alerts))


def client_view(store: Store, client_id: int, as_of: date,
                days: int = metrics.DEFAULT_DAYS) -> tuple[metrics.ClientDetail | None, pd.DataFrame]:
    """The client page's figures and the client's current alerts (open and acknowledged).

    Both come from the practice's kept figures when the overview keeps them already (a client
    opened from the overview's alert list): a few reads of that client's rows, no pipeline. Else
    from the client's own pipeline (the alerts too, when the page's period is the alert window).
    Remembered like ``practice_overview``, and kept through writes that name other clients.
    """
    def compute() -> tuple[metrics.ClientDetail | None, pd.DataFrame | None]:
        detail, found = _kept_client_view(store, client_id, as_of, days)
        if detail is not None and found is not None:
            return detail, found
        with alerts.safety_check_beside(store, Scope(as_of=as_of, client_id=int(client_id))):
            if detail is None:
                # the page's own pipeline; its alerts too when its period is the alert window
                also = (lambda run: alerts.alerts_from(run, store)) if found is None and days == ALERT_DAYS else None
                with metrics.client_pipeline(store, client_id, as_of, days) as run:
                    detail, alerts_read = metrics.client_detail_from(run, also=also)
                if detail is None:
                    return None, None
                found = alerts_read if found is None else found
            if found is None:
                found = alerts.computed_alerts(store, Scope(as_of=as_of, client_id=int(client_id)))
            return detail, found

    detail, found = store.remember(("client_view", int(client_id), as_of, days), compute, depends_on=ALERT_INPUTS,
                                   clients=(client_id,))
    if detail is None:
        return None, alerts.empty_alerts()
    return detail, alerts.with_acknowledgements(store, found)
