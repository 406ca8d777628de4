"""Bench scenario for issue 4: a 1,000,000-row session-log CSV imported into a practice that already
holds 2,000,000 session logs. Not a test: it measures, it never asserts.

The file is what a busy practice's form export looks like: client codes, day-first dates with a
time, the routine named, no session ids (so de-duplication uses the natural key, the harder
path), about 5% rows already stored and about 1% with a problem.

Baseline, measured in the same run: a bare ``CREATE TABLE ... AS SELECT * FROM read_csv(file)``
(DuckDB sniffing and typing the file) into a table of the same database file.

    python tests/bench/scenarios_import.py          # prints the JSON result
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.sessions import imports  # noqa: E402
from core.library.content import sync_library  # noqa: E402
from core.db.store import Store  # noqa: E402
from tests.bench.memory import peak_rss_mb, reset_peak_rss  # noqa: E402

AS_OF = date(2026, 11, 1)
CLIENTS = 10_000
EXISTING = 2_000_000
FILE_ROWS = 1_000_000
ROUTINES = ("daily-psoas-routine", "runner-warm-up-cool-down", "desk-micro-breaks", "four-stretch-routine")


def build_practice(path: Path, clients: int = CLIENTS, existing: int = EXISTING) -> None:
    """Clients with one assignment each and ``existing`` stored session logs, set-based, each with
    the prescribed count an import gives a row that names none (the routine's items), so the
    export's repeated rows are true duplicates."""
    with Store(path) as store:
        sync_library(store)
        routines = "[" + ", ".join(f"'{r}'" for r in ROUTINES) + "]"
        with store.transaction() as cur:
            cur.execute(
                "INSERT INTO clients (code, display_name, email, created_at, updated_at)"
                " SELECT 'C' || lpad(CAST(i AS VARCHAR), 5, '0'), 'Client ' || i, 'c' || i || '@example.com', now(), now()"
                " FROM range(1, ? + 1) t(i)", [clients])
            cur.execute(
                f"INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks, sessions_per_week,"
                f" status, assigned_at)"
                f" SELECT id, {routines}[1 + id % 4], 1, DATE '2023-01-01', 200, 5, 'active', now() FROM clients")
            cur.execute(
                f"""
                INSERT INTO session_logs (client_id, routine_id, session_date, session_time, exercises_done,
                                          exercises_prescribed, duration_min, pain_before, pain_after, stiffness,
                                          notes, red_flags, before_first_assignment, source, batch_id, entered_by,
                                          created_at)
                SELECT c, {routines}[1 + c % 4], DATE '2024-01-01' + CAST(i // {clients} AS INTEGER),
                       TIME '07:00:00' + INTERVAL (i % 600) MINUTE, 3, (SELECT count(*) FROM routine_items ri WHERE ri.version = 1 AND ri.routine_id = {routines}[1 + c % 4]), 10 + i % 20,
                       (i % 21) / 2, (i % 19) / 2,
                       i % 11, NULL, NULL, FALSE, 'bench', NULL, 'bench', now()
                FROM (SELECT i, 1 + i % {clients} AS c FROM range(?) t(i))
                """,
                [existing],
            )


def write_export(path: Path, rows: int = FILE_ROWS, existing: int = EXISTING, clients: int = CLIENTS) -> None:
    """The CSV export: rows continue after the stored ones; every 20th repeats a stored row and
    every 100th has a problem (pain out of range)."""
    routines = "[" + ", ".join(f"'{r}'" for r in ROUTINES) + "]"
    with Store(path.with_suffix(".tmp.duckdb")) as scratch:
        scratch.rows(
            f"""
            COPY (
                SELECT 'C' || lpad(CAST(c AS VARCHAR), 5, '0') AS "Client code",
                       strftime(DATE '2024-01-01' + CAST(k // {clients} AS INTEGER), '%d/%m/%Y') || ' '
                           || strftime(TIMESTAMP '2000-01-01 07:00:00' + INTERVAL (k % 600) MINUTE, '%H:%M') AS "Date",
                       {routines}[1 + c % 4] AS "Routine", '3' AS "Exercises done",
                       CAST(10 + k % 20 AS VARCHAR) AS "Minutes",
                       CASE WHEN j % 100 = 7 THEN '12' ELSE CAST((k % 21) / 2 AS VARCHAR) END AS "Pain before",
                       CAST((k % 19) / 2 AS VARCHAR) AS "Pain after", CAST(k % 11 AS VARCHAR) AS "Stiffness",
                       CASE WHEN j % 500 = 3 THEN 'felt dizzy after' END AS "Notes"
                FROM (SELECT j, k, 1 + k % {clients} AS c
                      FROM (SELECT j, CASE WHEN j % 20 = 0 THEN j ELSE {existing} + j END AS k
                            FROM range({int(rows)}) t(j)))
                ORDER BY j
            ) TO '{path}' (HEADER, DELIMITER ',')
            """
        )
    for leftover in path.parent.glob(path.stem + ".tmp.duckdb*"):
        leftover.unlink()


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def scenario_log_import(workdir: Path | str | None = None, runs: int = 5, rows: int = FILE_ROWS,
                        existing: int = EXISTING) -> dict:
    """Import the export ``runs`` times into fresh copies of the practice; the bare read_csv
    baseline runs against the same copies. Returns timings (ms), rows/s, the ratio, and the
    process's peak memory during an import."""
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rd-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    practice, export = work / "practice-v3.duckdb", work / "export.csv"
    if not practice.exists():
        build_practice(practice, existing=existing)
    if not export.exists():
        write_export(export, rows, existing)
    bare, import_times, result = [], [], None
    import_peak_mb = _first_import_peak_mb(practice, export, work)
    for run in range(runs):
        copy = work / f"run-{run}.duckdb"
        shutil.copyfile(practice, copy)
        with Store(copy) as store:
            cur = store.cursor()  # plain SQL, outside the store's transactions and their read-model upkeep
            start = time.perf_counter()
            cur.execute(f"CREATE TABLE bare_read AS SELECT * FROM read_csv('{export}')")
            bare.append(time.perf_counter() - start)
            cur.execute("DROP TABLE bare_read")
            cur.close()
            start = time.perf_counter()
            result = imports.import_file(store, export, imports.ImportOptions(source="bench", as_of=AS_OF, actor="cli"))
            import_times.append(time.perf_counter() - start)
        for leftover in work.glob(f"run-{run}.duckdb*"):
            leftover.unlink()
    import_ms, bare_ms = _median_ms(import_times), _median_ms(bare)
    return {
        "file_rows": rows, "existing_logs": existing, "read": result.read, "accepted": result.accepted,
        "rejected": result.rejected, "duplicates": result.duplicates,
        "import_ms": import_ms, "baseline_bare_read_csv_ms": bare_ms,
        "rows_per_s": round(rows / (import_ms / 1000)), "ratio_import_vs_bare_read": round(import_ms / bare_ms, 2),
        "import_peak_rss_mb": import_peak_mb,
    }


def _first_import_peak_mb(practice: Path, export: Path, work: Path) -> int:
    """The whole process's peak memory over one import done before anything else in it (as a CLI
    import; later runs start from what earlier ones left allocated). Not timed."""
    copy = work / "memory-run.duckdb"
    shutil.copyfile(practice, copy)
    try:
        with Store(copy) as store:
            reset_peak_rss()
            imports.import_file(store, export, imports.ImportOptions(source="bench", as_of=AS_OF, actor="cli"))
            return peak_rss_mb()
    finally:
        for leftover in work.glob("memory-run.duckdb*"):
            leftover.unlink()


if __name__ == "__main__":
    print(json.dumps(scenario_log_import(sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
