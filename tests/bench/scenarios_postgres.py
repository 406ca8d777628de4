"""Bench scenarios for issue 19: the chain practice on PostgreSQL beside the DuckDB file. Not a
test: it measures and never judges a time; it fails only on wrong results.

`make bench` starts one throwaway PostgreSQL for the whole run (``bench_server``: Debian's
binaries through tests/postgres_server.py, fsync on and the few settings a host would give a
server of this size, ``SETTINGS``) and hands it to each scenario's process (``server_from_env``).
The first PostgreSQL scenario copies the cached chain into it with ``migrate-store`` (timed); every
later scenario works on a copy of that database (``CREATE DATABASE ... TEMPLATE``, a file copy
inside the server), so no scenario sees another's writes. Nothing outlives the run: the server and
its databases are removed at its end, so nothing cached can go stale.

- ``scenario_overview_on``: the overview from the read model on either store: the day's first
  view in a fresh process, the first view of a fresh process once the day is kept, the next day's
  first view (and on PostgreSQL what such a view fetches, timed alone), later views of
  one process, the overview after logging a session, the client page, and the bare pass.
- ``scenario_write_visibility``: a write through one process seen by another. Process A (the
  scenario's own, a long-lived Store like an app server) has read the overview and polls as a
  page rerun would: it reads ``Store.version`` every POLL_S and recomputes the overview only when
  the version moved. Process B (a fresh ``python -c``) logs one session for a lapsed client through
  the manual-entry path (``log_session``) and commits. The figure is the time from B's
  ``log_session`` returning (its commit done) to A's overview showing one lapsed client fewer. On
  the DuckDB file B cannot be another process (DuckDB allows one process per file): B is then a
  second thread of A's process writing through the same Store, as a second staff session of one
  app server does.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.analytics import metrics, overview  # noqa: E402
from core.db.migrate_store import migrate_store  # noqa: E402
from core.db.store import Store, is_postgres_url  # noqa: E402
from tests.bench.scenarios_metrics import (  # noqa: E402
    BARE_PASS_SQL, DAYS, bare_pass, overview_in_fresh_process_ms, scenario_client_detail, scenario_overview,
    scenario_overview_after_logging)
from tests.postgres_server import PostgresServer, postgres_bin, running_postgres  # noqa: E402

# Where the bench's server is, for the scenario processes: "bin directory|port|socket directory".
SERVER_ENV = "ROUTINE_DESK_BENCH_POSTGRES"
# What a host would set on a server with a few GB for PostgreSQL (fsync stays on): a quarter of the
# memory for its buffers, room for sorts and index builds, and checkpoints not forced every 1 GB of
# WAL by a bulk import. Everything else is PostgreSQL's default.
SETTINGS = {"shared_buffers": "1GB", "work_mem": "64MB", "maintenance_work_mem": "256MB", "max_wal_size": "4GB"}
CHAIN_DATABASE = "rd_bench_chain"
POLL_S = 0.05      # how often process A looks at the data version (a page rerun's cheap check)
SEEN_WITHIN_S = 60  # process A gives up after this long (the figure is then reported as not seen)


def skipped_reason() -> str | None:
    """Why the PostgreSQL scenarios cannot run here (None: they can)."""
    if postgres_bin() is None:
        return ("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql,"
                " which `make test` does as root)")
    return None


@contextmanager
def bench_server() -> Iterator[PostgresServer | None]:
    """The bench's throwaway PostgreSQL, announced to scenario processes through SERVER_ENV (None,
    and nothing started, when the binaries are missing)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        yield None
        return
    with running_postgres(bin_dir, fsync=True, settings=SETTINGS) as server:
        os.environ[SERVER_ENV] = f"{server.bin}|{server.port}|{server.socket_dir}"
        try:
            yield server
        finally:
            os.environ.pop(SERVER_ENV, None)


def server_from_env() -> PostgresServer:
    """The bench's server, in a scenario's process."""
    bin_dir, port, socket_dir = os.environ[SERVER_ENV].split("|")
    return PostgresServer(Path(bin_dir), int(port), Path(socket_dir))


def fresh_database(server: PostgresServer, name: str) -> str:
    """An empty database ``name`` (dropped first if a failed scenario left it); returns its URL."""
    server.sql(f"DROP DATABASE IF EXISTS {name}")
    server.sql(f"CREATE DATABASE {name}")
    return server.url(name)


def copy_of(server: PostgresServer, template: str) -> str:
    """A new database copied from ``template`` (no one may be connected to it); returns its URL."""
    return server.new_database(template)


def migrate_into(server: PostgresServer, source: Path, name: str) -> dict[str, Any]:
    """``migrate-store`` of the DuckDB file ``source`` into a new database ``name``: its time (the
    new database's migrations apart) and the rows it copied and verified."""
    url = fresh_database(server, name)
    start = time.perf_counter()
    Store(url).close()  # the schema, as the first server or `routine-desk init` would create it
    schema_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    copies = migrate_store(source, url)
    copy_ms = (time.perf_counter() - start) * 1000
    return {"migrate_store_ms": round(copy_ms), "new_database_schema_ms": round(schema_ms),
            "tables_copied": len(copies), "rows_copied": sum(c.rows for c in copies),
            "session_logs_copied": next(c.rows for c in copies if c.name == "session_logs")}


def scenario_chain_into_postgres(chain: Path) -> dict[str, Any]:
    """The cached chain copied into the bench's PostgreSQL (CHAIN_DATABASE), which the later
    PostgreSQL scenarios copy. The file is copied first: migrate-store opens it as a Store, which
    brings it to the current schema, and the cache stays as generated."""
    import shutil
    import tempfile

    server = server_from_env()
    with tempfile.TemporaryDirectory(prefix="rd-bench-") as folder:
        source = Path(folder) / chain.name
        shutil.copyfile(chain, source)
        figures = migrate_into(server, source, CHAIN_DATABASE)
    return {**figures, "server_settings": ", ".join(f"{k}={v}" for k, v in SETTINGS.items()) + ", fsync=on"}


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


# The fetches of a practice computation on PostgreSQL alone, in a process of its own (argv: URL,
# as_of, repo): the smaller tables copied whole, the period's day figures and the alert window's
# logs (with the earlier scores it reads by client), each once through the extension, as the
# day's first view fetches them; prints their milliseconds. The floor of that view on PostgreSQL.
_FETCHES_IN_A_PROCESS = """
import sys, time
from datetime import date
sys.path[:0] = [sys.argv[3]]
from core.analytics import alerts, metrics
from core.db.store import Store
with Store(sys.argv[1]) as store:
    scope = metrics.Scope(as_of=date.fromisoformat(sys.argv[2]), days=alerts.ALERT_DAYS)
    with metrics.empty_pipeline(store, scope) as run:
        start = time.perf_counter()
        run.copied = store.copy_tables(run.cur, run.schema, metrics.PRACTICE_TABLES)
        metrics.period_days(run, store)
        alerts.alert_logs(run, store)
        print(round((time.perf_counter() - start) * 1000, 1))
"""


def fetches_in_fresh_process_ms(location: str, as_of: date) -> float:
    """What a practice computation of ``as_of`` fetches from PostgreSQL, timed alone in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _FETCHES_IN_A_PROCESS, location, as_of.isoformat(), str(REPO)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def scenario_overview_on(location: Path | str, as_of: date, runs: int = 7) -> dict[str, Any]:
    """The overview and the client page on ``location`` (a file or a PostgreSQL URL), in the keys
    of the DuckDB analytics scenario so the two stores print side by side: the day's first view,
    the first view of another fresh process (``overview_in_fresh_process_ms``), the next day's first
    view and, on PostgreSQL, what a day's first view fetches, alone (``fetches_in_fresh_process_ms``),
    then, in this
    process, later views, the view after logging a session, the client page and the bare pass
    (through the postgres extension on PostgreSQL, and pushed down whole with ``postgres_query``)."""
    figures: dict[str, Any] = {
        "overview_first_of_the_day_ms": overview_in_fresh_process_ms(location, as_of),
        "overview_first_in_fresh_process_ms": overview_in_fresh_process_ms(location, as_of),
        # the next morning: every client's period rows again, the safety checks mostly still valid
        "overview_first_of_the_next_day_ms": overview_in_fresh_process_ms(location, as_of + timedelta(days=1)),
    }
    if is_postgres_url(location):
        figures["first_view_fetches_ms"] = fetches_in_fresh_process_ms(location, as_of + timedelta(days=2))
    with Store(location) as store:
        start = time.perf_counter()
        seen = scenario_overview(store, as_of)
        figures["overview_first_in_process_ms"] = round((time.perf_counter() - start) * 1000, 1)
        figures["overview_ms"] = _median([_ms(lambda: scenario_overview(store, as_of)) for _ in range(runs)])
        figures["overview_after_logging_a_session_ms"] = _median(
            [scenario_overview_after_logging(store, as_of, n) for n in range(runs)])
        codes = [c for (c,) in store.rows("SELECT code FROM clients ORDER BY code LIMIT ?", [runs])]
        figures["client_page_ms"] = _median(
            [_ms(lambda c=c: scenario_client_detail(store, as_of, c)) for c in codes])
        figures["bare_pass_ms"] = _median([_ms(lambda: bare_pass(store)) for _ in range(runs)])
        if store.postgres:
            pushed = f"SELECT * FROM postgres_query('rd', '{BARE_PASS_SQL}')"
            figures["bare_pass_pushed_down_ms"] = _median([_ms(lambda: store.rows(pushed)) for _ in range(runs)])
        figures["bare_pass_clients"] = bare_pass(store)
    figures["active_clients"], figures["lapsed"] = seen["active_clients"], seen["lapsed"]
    return figures


# -- a write through one process seen by another --------------------------------------------------

# Process B: log one session for a client (argv: location, as_of, client code); prints the wall
# clock when log_session began and when it returned, its commit done.
_LOG_ONE_SESSION = """
import json, sys, time
from datetime import date
sys.path[:0] = [sys.argv[4]]
from core.access.auth import DEMO_OWNER
from core.db.store import Store
from core.sessions.checks import log_session
as_of = date.fromisoformat(sys.argv[2])
with Store(sys.argv[1]) as store:
    began = time.time()
    outcome = log_session(store, {"client": sys.argv[3], "session_date": as_of, "pain_before": 3}, DEMO_OWNER, as_of)
    committed = time.time()
print(json.dumps({"status": outcome.status, "began": began, "committed": committed}))
"""


def _log_in_another_process(location: Path | str, as_of: date, code: str) -> Callable[[], dict[str, Any]]:
    """Start process B; returns a call that waits for it and gives what it printed."""
    child = subprocess.Popen([sys.executable, "-c", _LOG_ONE_SESSION, str(location), as_of.isoformat(), code,
                              str(REPO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finished() -> dict[str, Any]:
        out, err = child.communicate(timeout=300)
        if child.returncode != 0:
            raise RuntimeError(f"process B failed: {err.strip().splitlines()[-1] if err.strip() else child.returncode}")
        return json.loads(out.strip().splitlines()[-1])
    return finished


def _log_in_another_thread(store: Store, as_of: date, code: str) -> Callable[[], dict[str, Any]]:
    """B as a second thread of this process, writing through the same Store (the DuckDB file)."""
    from core.access.auth import DEMO_OWNER
    from core.sessions.checks import log_session

    done: dict[str, Any] = {}

    def write() -> None:
        done["began"] = time.time()
        done["status"] = log_session(store, {"client": code, "session_date": as_of, "pain_before": 3},
                                     DEMO_OWNER, as_of).status
        done["committed"] = time.time()

    thread = threading.Thread(target=write)
    thread.start()

    def finished() -> dict[str, Any]:
        thread.join()
        return done
    return finished


def _lapsed_codes(store: Store, as_of: date, n: int) -> list[str]:
    """``n`` clients the overview counts as lapsed: a session logged for one today makes the count
    drop by one, a figure every view of the overview shows."""
    table = overview.client_adherence(store, metrics.Scope(as_of=as_of, days=DAYS))
    codes = sorted(table.loc[table["status"] == "lapsed", "client"])
    if len(codes) < n:
        raise RuntimeError(f"the practice has {len(codes)} lapsed clients, the scenario needs {n}")
    return codes[:n]


def scenario_write_visibility(location: Path | str, as_of: date, runs: int = 5) -> dict[str, Any]:
    """From B's commit to A's next overview showing it (see the module docstring), ``runs`` times
    with a different lapsed client each; fails when A never sees the write or sees the wrong figure."""
    seen_after, recompute, write = [], [], []
    with Store(location) as store:
        scope = metrics.Scope(as_of=as_of, days=DAYS)
        lapsed = scenario_overview(store, as_of)["lapsed"]  # A has read the overview (the day kept)
        for code in _lapsed_codes(store, as_of, runs):
            version = store.version
            if store.postgres:
                b_finished = _log_in_another_process(location, as_of, code)
            else:
                b_finished = _log_in_another_thread(store, as_of, code)
            deadline, seen_at, recompute_ms = time.time() + SEEN_WITHIN_S, None, None
            while seen_at is None and time.time() < deadline:
                if store.version != version:  # a page rerun's cheap check; the cache key moved
                    version = store.version
                    start = time.perf_counter()
                    now = overview.practice_overview(store, scope)[0].kpis["lapsed"]
                    if now == lapsed - 1:
                        seen_at, recompute_ms = time.time(), (time.perf_counter() - start) * 1000
                    elif now != lapsed:
                        raise RuntimeError(f"A saw {now} lapsed clients after one session, not {lapsed} or {lapsed - 1}")
                else:
                    time.sleep(POLL_S)
            b = b_finished()
            if b["status"] != "accepted":
                raise RuntimeError(f"process B's session for {code} was {b['status']}, not accepted")
            if seen_at is None:
                raise RuntimeError(f"A did not see B's session within {SEEN_WITHIN_S} s")
            seen_after.append((seen_at - b["committed"]) * 1000)
            recompute.append(recompute_ms)
            write.append((b["committed"] - b["began"]) * 1000)
            lapsed -= 1
        postgres = store.postgres
    return {"write_seen_by_another_process_ms": _median(seen_after),
            "write_seen_by_another_process_max_ms": round(max(seen_after), 1),
            "overview_recomputed_on_new_version_ms": _median(recompute),
            "logging_one_session_ms": _median(write), "runs": runs, "poll_interval_ms": POLL_S * 1000,
            "writer": "another process (a fresh python)" if postgres else
                      "another thread of the same process, through its one Store (DuckDB: one process per file)"}


def drop(server: PostgresServer, url: str) -> None:
    """Remove a database a scenario copied (every connection to it closed)."""
    server.sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")
