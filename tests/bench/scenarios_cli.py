"""Bench scenario for issue 15: the ``routine-desk report`` commands tried as a new user would,
each a whole fresh process, on a copy of the chain practice, beside one bare pass over the session
logs run in a fresh process too. Not a test: it measures, it never asserts.

Both sides are measured beyond their start-up, subtracted round by round:

- the CLI's start-up is ``python -c`` importing the CLI and opening the database exactly as every
  report does before its own work (``core.commands.cli._open_store``: Store.open with its migration
  check, the library sync, the red-flag vocabulary check). The cheapest real command that opens
  it so, ``routines list``, spent about 200 ms more on its own work, which would flatter the
  reports;
- the bare pass's start-up is ``python -c`` importing duckdb and opening the file read-only.

Rounds run every command once, in turn, so the noise of a shared machine falls on all of them
alike; each figure is the median over the rounds of (command - its start-up of the same round).

    python tests/bench/scenarios_cli.py DB AS_OF      # prints the JSON result
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bench.scenarios_floors import LEAN_REPORT  # noqa: E402
from tests.bench.scenarios_metrics import BARE_PASS_SQL  # noqa: E402

CLI = [sys.executable, "-m", "core.commands.cli"]
ONE_CLIENT = "C00047"
START_UP_COMMAND = "python -c: import core.commands.cli, then _open_store(--db) and close"
# What each report is measured against: its own start-up.
REPORTS = {"report_adherence": "cli_start_up", "report_alerts": "cli_start_up",
           "report_one_client": "cli_start_up", "bare_pass": "bare_start_up",
           "lean_report_adherence": "bare_start_up"}


def commands(db: Path, as_of: date) -> dict[str, list[str]]:
    """The command lines, by figure name."""
    common = ["--as-of", as_of.isoformat(), "--db", str(db), "--json"]
    open_file = f"import duckdb; con = duckdb.connect({str(db)!r}, read_only=True)"
    open_store = (f"import argparse; from core.commands.cli import _open_store;"
                  f" _open_store(argparse.Namespace(db={str(db)!r})).close()")
    return {
        "cli_start_up": [sys.executable, "-c", open_store],
        "report_adherence": [*CLI, "report", "adherence", *common],
        "report_alerts": [*CLI, "report", "alerts", *common],
        "report_one_client": [*CLI, "report", "adherence", "--client", ONE_CLIENT, *common],
        "bare_start_up": [sys.executable, "-c", open_file],
        "bare_pass": [sys.executable, "-c", f"{open_file}; con.execute({BARE_PASS_SQL!r}).fetchall()"],
        # the floor of `report adherence --json`: its output from the kept rows, duckdb and json only
        "lean_report_adherence": [sys.executable, "-c", LEAN_REPORT, str(db), _period(as_of)],
    }


def _period(as_of: date) -> str:
    from core.analytics.metrics import Scope
    from core.analytics.period_figures import period_key

    return period_key(Scope(as_of=as_of, days=28))


def _same_output(argvs: dict[str, list[str]]) -> None:
    """The lean report must print exactly what the report prints, or it is not a floor of it."""
    printed = [subprocess.run(argvs[name], cwd=REPO, capture_output=True, text=True, check=True).stdout
               for name in ("report_adherence", "lean_report_adherence")]
    if printed[0] != printed[1]:
        raise RuntimeError("the lean report prints something else than `report adherence --json`")


def fresh_process_ms(argv: list[str]) -> float:
    """Wall time of one whole process, output written (to /dev/null) as a user's terminal would get it."""
    return fresh_process(argv)[0]


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def fresh_process(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one whole process (``fresh_process_ms``): on a shared machine
    the CPU time is the steadier of the two."""
    cpu = _children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:])} failed: {done.stderr.strip()[-500:]}")
    return (time.perf_counter() - start) * 1000, (_children_cpu_s() - cpu) * 1000


def scenario_report_cli(db: Path, as_of: date, rounds: int = 7) -> dict:
    """Each report and the bare pass beyond start-up (medians of ``rounds``), and their ratios."""
    argvs = commands(db, as_of)
    # once each, untimed but the first report: the first library sync of the copy, the OS file
    # cache, and the day's figures computed and kept (core/analytics/period_figures.py)
    first = {name: fresh_process_ms(argv) for name, argv in argvs.items()}
    _same_output(argvs)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in argvs}
    for _ in range(rounds):
        for name, argv in argvs.items():
            samples[name].append(fresh_process(argv))

    def beyond_start_up(which: int) -> dict[str, float]:
        return {name: round(statistics.median(a[which] - b[which] for a, b in zip(samples[name], samples[start_up])), 1)
                for name, start_up in REPORTS.items()}

    beyond, cpu = beyond_start_up(0), beyond_start_up(1)
    bare_ms = beyond["bare_pass"]
    return {"start_up_measured_with": START_UP_COMMAND,
            "first_report_adherence_of_the_day_whole_process_ms": round(first["report_adherence"], 1),
            "cli_start_up_ms": round(statistics.median(w for w, _ in samples["cli_start_up"]), 1),
            "bare_start_up_ms": round(statistics.median(w for w, _ in samples["bare_start_up"]), 1),
            **{f"{name}_ms": ms for name, ms in beyond.items()},
            "ratio_report_adherence_over_bare_pass": round(beyond["report_adherence"] / bare_ms, 2),
            "ratio_report_alerts_over_bare_pass": round(beyond["report_alerts"] / bare_ms, 2),
            "ratio_one_client_over_bare_pass": round(beyond["report_one_client"] / bare_ms, 2),
            "ratio_lean_report_adherence_over_bare_pass": round(beyond["lean_report_adherence"] / bare_ms, 2),
            # the same in CPU time, beyond the start-ups' CPU time
            **{f"{name}_cpu_ms": ms for name, ms in cpu.items()},
            **{f"ratio_{name}_over_bare_pass_cpu": round(cpu[name] / cpu["bare_pass"], 2)
               for name in REPORTS if name != "bare_pass"},
            "rounds": rounds}


if __name__ == "__main__":
    import json

    print(json.dumps(scenario_report_cli(Path(sys.argv[1]), date.fromisoformat(sys.argv[2])), indent=2))
