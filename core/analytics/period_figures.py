"""A period's figures kept per client in the store, so that any process reads rows, not a computation.

The overview's figures, its client table and its alerts are sums and lists over per-client rows,
and each client's rows (adherence, weeks, pain per assignment, alerts) depend on that client's
data alone (core.analytics.metrics, core.analytics.alerts). So the rows the metric pipeline
computes for a period (as of a day, over some days) are kept per client (migration 013). A reader
computes only the clients whose rows are missing or out of date, keeps them, and reads the
scope's rows back into a pipeline that the overview and the alerts read as usual.

Out of date: every write raises the generation of the clients it may change, in its own
transaction (core/db/figures.raise_generations), and kept rows record the generations they were
computed at, read before the computation began. Rows are never edited by a write, so a reader
computing from data older than a write cannot hide it: its rows are already out of date when it
keeps them. In a process one thread computes at a time; readers of two processes keeping the same
client collide on the check's key, and the loser looks again (the winner has usually kept what it
needs) and reads live only after a few collisions.

Kept: views of the practice, or of some of its clients (segments, therapists, a list of clients,
one client's page or report: that client of the practice). A view of some routines (a client then
counts only those assignments) or of an archived client is computed as before. Rows name the code that computed them (``RECIPE``),
so an upgrade computes them again; only the ``KEPT_PERIODS`` most recently kept periods stay.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

from core.analytics import alerts, metrics
from core.analytics.alerts import ALERT_DAYS
from core.analytics.metrics import Pipeline, Scope
from core.db.store import PRACTICE, DatabaseError, Store, sql_literal, utcnow

KEPT_PERIODS = 4
# The pipeline's tables and where their rows are kept; the alerts only for the alert window.
KEPT_TABLES: tuple[tuple[str, str], ...] = (
    ("m_assignments", "period_assignments"), ("m_weeks", "period_weeks"),
    ("m_client", "period_clients"), ("m_pain", "period_pain"),
)
KEPT_ALERTS = ("m_alerts", "period_alerts")


def _recipe() -> str:
    """A fingerprint of the code the kept figures come from (the analytics, the practice's rules,
    the read model and the red-flag wording)."""
    core = Path(__file__).resolve().parents[1]
    sources = [*core.glob("analytics/*.py"), *core.glob("practice/*.py"),
               core / "sessions" / "red_flags.py", core / "db" / "figures.py"]
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


RECIPE = _recipe()


def kept_as(store: Store, scope: Scope) -> Scope | None:
    """The view of the practice whose kept rows hold ``scope``'s figures: itself, or for one client
    by id that client of the practice; None when they are computed live (a view of some routines,
    whose clients count only those assignments, or an archived client, whom no practice view holds)."""
    if scope.routines:
        return None
    if scope.client_id is None:
        return scope
    active = store.scalar("SELECT archived_at IS NULL FROM clients WHERE id = ?", [scope.client_id])
    return Scope(as_of=scope.as_of, days=scope.days, clients=(scope.client_id,), sites=scope.sites) if active else None


def period_key(scope: Scope) -> str:
    """The key of a period's kept rows: its last day, its length and the code that computed them."""
    return f"{scope.as_of.isoformat()}/{scope.days}/{RECIPE}"


@contextmanager
def practice_pipeline(store: Store, scope: Scope) -> Iterator[Pipeline]:
    """The metric tables of ``scope`` with pain (m_assignments, m_weeks, m_client, m_pain), and
    m_alerts when its period is the alert window (``run.has_alerts``), read from the kept rows of
    its clients after keeping those that were missing or out of date."""
    with _kept_pipeline(store, scope) as run:
        if run is not None:
            yield run
            return
    with metrics.pipeline(store, scope, pain=True) as run:
        yield run


@contextmanager
def client_pipeline(store: Store, client_id: int, as_of: date, days: int) -> Iterator[Pipeline]:
    """The tables of one client's page (``metrics.client_pipeline``): the practice's kept rows of
    that client for the period, kept first when missing or out of date."""
    with _kept_pipeline(store, Scope(as_of=as_of, days=days, client_id=int(client_id))) as run:
        if run is not None:
            yield run
            return
    with metrics.client_pipeline(store, client_id, as_of, days) as run:
        yield run


@contextmanager
def _kept_pipeline(store: Store, scope: Scope) -> Iterator[Pipeline | None]:
    """A pipeline of ``scope`` whose tables are views on the kept rows, or None to compute it live."""
    practice = kept_as(store, scope)
    if practice is None or not _keep_stale(store, practice):
        yield None
        return
    with metrics.empty_pipeline(store, scope) as run:
        _read_back(run, store)
        yield run


def _kept_tables(scope: Scope) -> tuple[tuple[str, str], ...]:
    """The pipeline's tables kept for ``scope``'s period: with the alerts when it is the alert window."""
    return KEPT_TABLES + ((KEPT_ALERTS,) if scope.days == ALERT_DAYS else ())


def _scope_clients_sql(scope: Scope) -> str:
    return f"SELECT c.id FROM clients c WHERE {metrics.client_where_sql(scope)}"


KEEP_ATTEMPTS = 3  # readers that collide look again: the winner has usually kept what they need
# One thread of a process computes stale clients at a time: the sessions that open a page right
# after a write then find them kept, instead of each computing the same clients.
_KEEPING = threading.Lock()


def _keep_stale(store: Store, scope: Scope) -> bool:
    """Compute and keep the clients of ``scope`` whose kept rows are missing or out of date. False
    when readers of other processes kept some of the same clients each time (read live then)."""
    if not _stale_clients(store, scope)[0]:
        return True
    with _KEEPING:
        for _ in range(KEEP_ATTEMPTS):
            stale, in_scope = _stale_clients(store, scope)
            if not stale or _keep(store, scope, stale, in_scope):
                return True
    return False


def _stale_clients(store: Store, scope: Scope) -> tuple[list[tuple[int, int, int]], int]:
    """The clients of ``scope`` whose kept rows are missing or out of date, each with its generation
    and client 0's, read before any computation (a write after this makes what is computed stale);
    and how many clients ``scope`` has (0 when none is stale). One query on a plain cursor."""
    cur = store.cursor()
    try:
        probe = Pipeline(cur, scope)
        probe.params["period"] = period_key(scope)
        rows = probe.rows(f"""
            WITH scoped AS ({_scope_clients_sql(scope)}),
                 practice AS (SELECT generation FROM figure_generations WHERE client_id = 0)
            SELECT c.id, coalesce(g.generation, 0), (SELECT generation FROM practice),
                   (SELECT count(*) FROM scoped)
            FROM scoped c
            LEFT JOIN figure_generations g ON g.client_id = c.id
            LEFT JOIN period_checks k ON k.period = $period AND k.client_id = c.id
            WHERE k.client_id IS NULL OR k.generation <> coalesce(g.generation, 0)
               OR k.practice_generation <> (SELECT generation FROM practice)
        """)
    finally:
        cur.close()
    return [(int(c), int(g), int(p)) for c, g, p, _ in rows], int(rows[0][3]) if rows else 0


def _keep(store: Store, scope: Scope, stale: list[tuple[int, int, int]], in_scope: int) -> bool:
    """Compute the ``stale`` clients of ``scope`` and keep their rows with the generations read
    before; False when another reader kept some of them first (the same check's key)."""
    ids = [client for client, _, _ in stale]
    # every client of a whole-practice view out of date (a new day): the view itself, not a list
    computed = scope if len(ids) == in_scope and not scope.clients else replace(scope, clients=tuple(ids))
    with metrics.pipeline(store, computed, pain=True) as run:
        if scope.days == ALERT_DAYS:
            alerts.build_alert_table(run, store)
        run.params.update(period=period_key(scope), ids=ids, generations=[g for _, g, _ in stale],
                          practice_generation=stale[0][2], kept_at=utcnow())
        try:
            # keeps derived rows any reader would compute the same: no figure changes, the version stays
            with store.transaction(run.cur, touches=(PRACTICE,), clients=(), changes_data=False):
                _forget_old_periods(run, store)
                period = f"period = {sql_literal(period_key(scope))}"
                for work, table in _kept_tables(scope):
                    store.delete_where(run.cur, table, period, ids)
                    run.execute(f"INSERT INTO {table} BY NAME SELECT $period AS period, * FROM {work}")
                store.delete_where(run.cur, "period_checks", period, ids)
                run.execute("INSERT INTO period_checks SELECT $period, unnest($ids), unnest($generations),"
                            " $practice_generation, $kept_at")
        except DatabaseError:
            return False
    return True


def _forget_old_periods(run: Pipeline, store: Store) -> None:
    """Delete the rows of periods other than the KEPT_PERIODS most recently kept (this one included)."""
    old = [p for (p,) in run.cur.execute(
        "SELECT period FROM period_checks WHERE period <> ? GROUP BY period ORDER BY max(kept_at) DESC OFFSET ?",
        [run.params["period"], KEPT_PERIODS - 1]).fetchall()]
    if old:
        for _, table in (*KEPT_TABLES, KEPT_ALERTS, ("", "period_checks")):
            store.delete_where(run.cur, table, f"period IN ({', '.join(map(sql_literal, old))})")


def _read_back(run: Pipeline, store: Store) -> None:
    """The scope's kept rows as the pipeline's tables: views on the period's rows (Store.rows_where),
    one client's by its id (a constant DuckDB filters the scan with), other scopes' by m_scope."""
    rows = f"period = {sql_literal(period_key(run.scope))}"  # a view takes no parameters: literals
    if run.scope.client_id is not None:
        rows, of_scope = f"{rows} AND client_id = {int(run.scope.client_id)}", ""
    else:
        run.execute(f"CREATE TABLE m_scope AS {_scope_clients_sql(run.scope)}")
        of_scope = f" WHERE client_id IN (SELECT id FROM {run.schema}.m_scope)"
    for work, table in _kept_tables(run.scope):
        store.rows_where(run.cur, f"{run.schema}.kept_{work}", table, rows)
        run.execute(f"CREATE VIEW {work} AS SELECT * EXCLUDE (period) FROM {run.schema}.kept_{work}{of_scope}")
    run.has_alerts = run.scope.days == ALERT_DAYS
