"""`make bench`: speed figures for the sizes the issues name. Not a test: it prints, never asserts.

Each scenario runs in its own subprocess, so its peak memory (VmHWM) is its own and its first
query is a fresh process's. A scenario reports medians of several runs and, where it has one, a
baseline measured in the same run (the bare-DuckDB or pandas way of doing the same work) and the
ratio between them. Where a scenario times a bare pass over all session logs, every time it prints
is shown as a multiple of it; the targets of issue 15 are printed beside their figures.

The chain-sized practice (10,000 clients, about 2,000,000 session logs) is generated once and
cached under var/bench/.

Issue 19: when Debian's PostgreSQL binaries are there, the bench starts a throwaway PostgreSQL for
the run, copies the chain into it with migrate-store and runs the same figures on it; a table then
prints both stores side by side with issue 19's targets (scenarios_postgres.py). Without the
binaries it says plainly that it skipped them.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core.library.content import sync_library  # noqa: E402
from core.commands.demo import GENERATOR_VERSION, DemoSpec, create_demo_practice  # noqa: E402
from core.db.store import Store  # noqa: E402
from tests.bench.memory import peak_rss_mb  # noqa: E402

BENCH_DIR = REPO / "var" / "bench"
CHAIN_SPEC = DemoSpec(clients=10_000, days=570, seed=11, as_of=date(2026, 11, 1))  # ~2,000,000 logs
RUNS = 5


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of `runs` calls, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 1)


def chain_db() -> Path:
    """The chain-sized practice, built once and reused by later bench runs."""
    path = BENCH_DIR / f"chain-v{GENERATOR_VERSION}-{CHAIN_SPEC.clients}-{CHAIN_SPEC.days}-{CHAIN_SPEC.seed}.duckdb"
    if not path.exists():
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with Store(partial) as store:
            sync_library(store)
            create_demo_practice(store, CHAIN_SPEC)
        partial.rename(path)
    return path


def working_copy(name: str) -> Path:
    """A private copy of the chain database, so write scenarios never touch the cache; removed
    when the scenario's process exits."""
    folder = tempfile.mkdtemp(prefix="rd-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = Path(folder) / f"{name}.duckdb"
    shutil.copyfile(chain_db(), target)
    return target


# -- scenarios ----------------------------------------------------------------------------------

def scenario_library_load() -> dict:
    """Cold load of the library into a new database, then a re-sync with nothing changed;
    baseline: only reading and hashing the same files."""
    import hashlib

    from core.library.content import data_dir

    def cold() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "lib.duckdb") as store:
            sync_library(store)

    files = sorted(data_dir().rglob("*.*"))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "lib.duckdb") as store:
        sync_library(store)
        warm_ms = timed(lambda: sync_library(store))
    baseline_ms = timed(lambda: [hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    return {"cold_ms": timed(cold, 3), "unchanged_resync_ms": warm_ms, "baseline_read_hash_ms": baseline_ms,
            "ratio_resync_vs_baseline": round(warm_ms / baseline_ms, 1), "files": len(files)}


def scenario_demo_generation() -> dict:
    """The default demo practice, and the chain-sized one; baseline: a bare DuckDB insert of the
    same number of session-log rows from range()."""
    def default_demo() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "demo.duckdb") as store:
            sync_library(store)
            create_demo_practice(store, DemoSpec(as_of=CHAIN_SPEC.as_of))

    start = time.perf_counter()
    path = chain_db()
    chain_ms = (time.perf_counter() - start) * 1000
    with Store(path) as store:
        logs = store.scalar("SELECT count(*) FROM session_logs")
        clients = store.scalar("SELECT count(*) FROM clients")

    def bare_insert() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bare.duckdb") as store, store.transaction() as cur:
            cur.execute(
                "INSERT INTO session_logs (client_id, session_date, pain_before, source, created_at)"
                " SELECT i % 10000, DATE '2025-01-01' + CAST(i % 700 AS INTEGER), (i % 21) / 2, 'bare', now()"
                " FROM range(?) t(i)", [logs])

    bare_ms = timed(bare_insert, 1)
    return {"default_demo_ms": timed(default_demo, 3), "chain_clients": clients, "chain_session_logs": logs,
            "chain_build_ms_or_cached": round(chain_ms), "baseline_bare_insert_ms": round(bare_ms)}


def scenario_log_import() -> dict:
    """Issue 4: a 1,000,000-row export deduplicated against 2,000,000 stored logs, against a bare
    read_csv of the same file and a lean hand-written SQL import of the same work (issue 15: at
    most 1.3x of it; see scenarios_import.py)."""
    from scenarios_import import scenario_log_import as run

    return run(BENCH_DIR / "import")


def scenario_analytics() -> dict:
    """Issues 5 and 15: every overview query, the client page, a bare pass over the logs and a
    pandas implementation of the same metrics, on the chain practice (see scenarios_metrics.py).
    Another process viewed the day first, as a server does before the CLI or a second server."""
    from scenarios_metrics import bench, overview_in_fresh_process_ms

    copy = working_copy("analytics")
    first_of_the_day_ms = overview_in_fresh_process_ms(copy, CHAIN_SPEC.as_of)
    with Store(copy) as store:
        return {"overview_first_of_the_day_ms": first_of_the_day_ms, **bench(store, CHAIN_SPEC.as_of)}


def scenario_report_cli() -> dict:
    """Issue 15: `routine-desk report` in fresh processes beyond start-up, beside a bare pass in a
    fresh process (see scenarios_cli.py)."""
    from scenarios_cli import scenario_report_cli as run

    return run(working_copy("cli"), CHAIN_SPEC.as_of)


def scenario_analytics_app() -> dict:
    """Issue 5 through Streamlit: an AppTest run of the overview, and a real server's peak memory
    after a browser opened the overview and a client (see scenarios_app.py)."""
    from scenarios_app import scenario_overview_apptest, scenario_server_memory

    # two copies: the AppTest's store keeps its file open (DuckDB allows one process per file)
    served = scenario_server_memory(working_copy("served"), CHAIN_SPEC.as_of)
    return {**scenario_overview_apptest(working_copy("apptest"), CHAIN_SPEC.as_of), **served}


def scenario_chain_into_postgres() -> dict:
    """Issue 19: the chain copied into the bench's PostgreSQL with migrate-store (timed); the
    later PostgreSQL scenarios copy it (see scenarios_postgres.py)."""
    from scenarios_postgres import scenario_chain_into_postgres as run

    return run(chain_db())


def _chain_on_postgres() -> str:
    """A private copy of the chain in the bench's PostgreSQL (a database made from the migrated one)."""
    from scenarios_postgres import CHAIN_DATABASE, copy_of, server_from_env

    return copy_of(server_from_env(), CHAIN_DATABASE)


def scenario_analytics_postgres() -> dict:
    """Issue 19: the overview from the read model on PostgreSQL, in the analytics scenario's keys."""
    from scenarios_postgres import scenario_overview_on

    return scenario_overview_on(_chain_on_postgres(), CHAIN_SPEC.as_of)


def scenario_overview_file() -> dict:
    """Issue 19: the same overview figures as analytics_postgres, on a copy of the file."""
    from scenarios_postgres import scenario_overview_on

    return scenario_overview_on(working_copy("overview"), CHAIN_SPEC.as_of)


def scenario_write_visibility_file() -> dict:
    """Issue 19: a session logged by one staff session seen by another's overview, on the file."""
    from scenarios_postgres import scenario_write_visibility

    return scenario_write_visibility(working_copy("visibility"), CHAIN_SPEC.as_of)


def scenario_write_visibility_postgres() -> dict:
    """Issue 19: a session logged by one process seen by another's overview, on PostgreSQL."""
    from scenarios_postgres import scenario_write_visibility

    return scenario_write_visibility(_chain_on_postgres(), CHAIN_SPEC.as_of)


def scenario_log_import_postgres() -> dict:
    """Issue 19: the 1,000,000-row import into PostgreSQL (see scenarios_import.py)."""
    from scenarios_import import scenario_log_import_postgres as run

    return run(BENCH_DIR / "import")


SCENARIOS: dict[str, Callable[[], dict]] = {
    "library_load": scenario_library_load,
    "demo_generation": scenario_demo_generation,
    "log_import": scenario_log_import,
    "analytics": scenario_analytics,
    "report_cli": scenario_report_cli,
    "analytics_app": scenario_analytics_app,
    "overview_file": scenario_overview_file,
    "write_visibility_file": scenario_write_visibility_file,
    "postgres_chain": scenario_chain_into_postgres,
    "analytics_postgres": scenario_analytics_postgres,
    "write_visibility_postgres": scenario_write_visibility_postgres,
    "log_import_postgres": scenario_log_import_postgres,
}
# They need the bench's PostgreSQL (started by main when the binaries are there), postgres_chain first.
POSTGRES_SCENARIOS = ("postgres_chain", "analytics_postgres", "write_visibility_postgres", "log_import_postgres")


# The targets of issue 15 (at most this), printed beside the figures; the bench never fails on them.
TARGETS: dict[str, float] = {
    "overview_first_in_process_ms": 150, "overview_ms": 150, "overview_after_logging_a_session_ms": 50,
    "client_page_ms": 30, "ratio_report_adherence_over_bare_pass": 2, "ratio_report_alerts_over_bare_pass": 2,
    "ratio_one_client_over_bare_pass": 0.5,
    "import_ms": 2000, "ratio_import_vs_lean_sql": 1.3,
}
# Issue 19's targets, for the scenarios they are about (instead of issue 15's).
WRITE_SEEN_TARGET_MS = 2000
SCENARIO_TARGETS: dict[str, dict[str, float]] = {
    "analytics_postgres": {"overview_first_of_the_day_ms": 1000, "overview_first_in_fresh_process_ms": 1000,
                           "overview_first_in_process_ms": 1000, "overview_ms": 1000},
    "write_visibility_file": {"write_seen_by_another_process_ms": WRITE_SEEN_TARGET_MS},
    "write_visibility_postgres": {"write_seen_by_another_process_ms": WRITE_SEEN_TARGET_MS},
    "log_import_postgres": {"import_ms": 15000},
}

# Issue 19: both stores side by side: (figure, its scenario and key on the file, on PostgreSQL).
BOTH_STORES: tuple[tuple[str, tuple[str, str] | None, tuple[str, str]], ...] = (
    ("chain copied with migrate-store", None, ("postgres_chain", "migrate_store_ms")),
    ("overview, the day's first view (fresh process)", ("overview_file", "overview_first_of_the_day_ms"),
     ("analytics_postgres", "overview_first_of_the_day_ms")),
    ("overview, the next day's first view (fresh process)", ("overview_file", "overview_first_of_the_next_day_ms"),
     ("analytics_postgres", "overview_first_of_the_next_day_ms")),
    ("  its fetches from PostgreSQL alone (fresh process)", None, ("analytics_postgres", "first_view_fetches_ms")),
    ("overview, first view of a fresh process (day kept)", ("overview_file", "overview_first_in_fresh_process_ms"),
     ("analytics_postgres", "overview_first_in_fresh_process_ms")),
    ("overview, later views (median)", ("overview_file", "overview_ms"), ("analytics_postgres", "overview_ms")),
    ("overview after logging a session", ("overview_file", "overview_after_logging_a_session_ms"),
     ("analytics_postgres", "overview_after_logging_a_session_ms")),
    ("client page", ("overview_file", "client_page_ms"), ("analytics_postgres", "client_page_ms")),
    ("bare pass over all logs", ("overview_file", "bare_pass_ms"), ("analytics_postgres", "bare_pass_ms")),
    ("write seen by another server (median)", ("write_visibility_file", "write_seen_by_another_process_ms"),
     ("write_visibility_postgres", "write_seen_by_another_process_ms")),
    ("1,000,000-row import (file: one import, same process)", ("log_import_postgres", "file_import_ms_same_process"),
     ("log_import_postgres", "import_ms")),
)


def targets_of(scenario: str) -> dict[str, float]:
    return SCENARIO_TARGETS.get(scenario, {} if scenario in POSTGRES_SCENARIOS else TARGETS)


def figure_line(key: str, value: object, bare_pass_ms: float | None, targets: dict[str, float] = TARGETS) -> str:
    """One printed figure: its value, as a multiple of the scenario's bare pass when it is a time
    (start-up aside), and its target."""
    line = f"  {key:<44} {value}"
    if not isinstance(value, (int, float)):
        return line
    if bare_pass_ms and key.endswith("_ms") and key != "bare_pass_ms" and "start_up" not in key:
        line += f"   ({value / bare_pass_ms:.1f}x bare pass)"
    if key in targets:
        line += f"   target <= {targets[key]:g}: {'met' if value <= targets[key] else 'NOT met'}"
    return line


def both_stores(results: dict[str, dict]) -> list[dict]:
    """The rows of BOTH_STORES with their figures, targets and whether each store met its target."""
    rows = []
    for figure, on_file, on_postgres in BOTH_STORES:
        row: dict = {"figure": figure}
        for store, where in (("duckdb_file", on_file), ("postgresql", on_postgres)):
            if where is None:
                row[store] = None
                continue
            value = results.get(where[0], {}).get(where[1])
            target = SCENARIO_TARGETS.get(where[0], {}).get(where[1])
            row[store] = value
            if target is not None:
                row[f"target_{store}_ms"] = target
                row[f"met_{store}"] = ("yes" if value <= target else "no") if isinstance(value, (int, float)) else "not measured"
        rows.append(row)
    return rows


def both_stores_lines(rows: list[dict]) -> list[str]:
    """The side-by-side table as printed."""
    def cell(row: dict, store: str) -> str:
        value = row[store]
        text = "-" if value is None else (f"{value:,.0f} ms" if isinstance(value, (int, float)) else str(value))
        if f"met_{store}" in row:
            text += f" (< {row[f'target_{store}_ms']:,.0f}: met: {row[f'met_{store}']})"
        return text
    lines = [f"  {'figure':<48} {'DuckDB file':<36} PostgreSQL"]
    lines += [f"  {row['figure']:<48} {cell(row, 'duckdb_file'):<36} {cell(row, 'postgresql')}" for row in rows]
    return lines


def run_one(name: str) -> None:
    result = SCENARIOS[name]()
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--only", help="comma-separated scenarios to run, in the bench's order (default: all)")
    args = parser.parse_args()
    if args.scenario:
        run_one(args.scenario)
        return
    chain_db()  # build the cached chain once, outside any timing
    from scenarios_postgres import bench_server, skipped_reason

    results: dict[str, dict] = {}
    with bench_server() as server:
        for name in [n for n in SCENARIOS if not args.only or n in args.only.split(",")]:
            if server is None and name in POSTGRES_SCENARIOS:
                results[name] = {"skipped": skipped_reason()}
            elif name in POSTGRES_SCENARIOS and "error" in results.get("postgres_chain", {}):
                results[name] = {"skipped": "the chain could not be copied into PostgreSQL (postgres_chain)"}
            else:
                done = subprocess.run([sys.executable, __file__, "--scenario", name], capture_output=True, text=True)
                if done.returncode != 0:
                    results[name] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
                else:
                    results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"\n== {name}")
            for key, value in results[name].items():
                print(figure_line(key, value, results[name].get("bare_pass_ms"), targets_of(name)))
    if server is None:
        print(f"\nPostgreSQL scenarios SKIPPED: {skipped_reason()}")
    rows = both_stores(results)
    print("\n== both stores (issue 19)")
    print("\n".join(both_stores_lines(rows)))
    out = REPO / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"chain": CHAIN_SPEC.__dict__, "results": results, "both_stores": rows},
                              indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
