"""The ``routine-desk`` command line: automation for staff and other tools.

Every subcommand takes ``--db PATH`` and ``--json``. With ``--json`` the output is a stable
contract other tools parse, so fields are only ever added, never renamed. Errors go to stderr
with exit code 2.

Each command group is added by one ``_add_<group>`` function listed in ``COMMAND_GROUPS``; a
handler receives the parsed arguments and returns a ``Result``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from core.store import Store, StoreError


class UsageError(Exception):
    """Bad input from the user: printed to stderr, exit code ``code`` (2 unless a command says)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Result:
    """What a command prints: ``payload`` as JSON with --json, else ``text``; and its exit code."""

    payload: Any
    text: str
    code: int = 0


Handler = Callable[[argparse.Namespace], Result]


def _open_store(args: argparse.Namespace, *, sync: bool = True) -> Store:
    """Open the database; by default also bring the library in line with data/ (cheap when
    nothing changed), so every command sees the content files as they are now."""
    from core.content import sync_library

    try:
        store = Store.open(args.db)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    if sync:
        sync_library(store)
    return store


def parse_date(text: str) -> date:
    """argparse type for ISO dates (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (use YYYY-MM-DD): {text!r}") from exc


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Plain-text table for humans; JSON is the machine format."""
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


# -- init ---------------------------------------------------------------------------------------

def _cmd_init(args: argparse.Namespace) -> Result:
    from core import content, demo

    with _open_store(args, sync=False) as store:
        report = content.sync_library(store)
        payload: dict[str, Any] = {
            "db": str(store.path),
            "schema_version": store.schema_version(),
            "library": report.as_dict(),
            "demo": None,
        }
        if args.demo:
            summary = demo.create_demo_practice(
                store, demo.DemoSpec(clients=args.clients, days=args.days, seed=args.seed, as_of=args.as_of)
            )
            payload["demo"] = summary.as_dict() if summary else {"created": False}
    lines = [f"database {payload['db']} at schema version {payload['schema_version']}",
             f"library: {len(report.added)} added, {len(report.updated)} updated, "
             f"{len(report.unchanged)} unchanged, {len(report.removed)} removed"]
    lines += [f"skipped {p}" for p in report.problems]
    if args.demo:
        demo_info = payload["demo"]
        lines.append(
            "demo practice: already present, nothing changed" if not demo_info.get("created")
            else f"demo practice: {demo_info['clients']} clients, {demo_info['assignments']} assignments,"
                 f" {demo_info['session_logs']} session logs"
        )
    return Result(payload, "\n".join(lines))


def _add_init(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.demo import DemoSpec

    p = sub.add_parser("init", parents=[common], help="create or migrate the database and load the library")
    p.add_argument("--demo", action="store_true", help="also create the demo practice (only into an empty practice)")
    p.add_argument("--clients", type=int, default=DemoSpec.clients, help="demo size: number of clients")
    p.add_argument("--days", type=int, default=DemoSpec.days, help="demo size: days of history")
    p.add_argument("--seed", type=int, default=DemoSpec.seed, help="demo random seed")
    p.add_argument("--as-of", type=parse_date, default=None, help="demo history ends on this date (default today)")
    p.set_defaults(handler=_cmd_init)


# -- exercises ----------------------------------------------------------------------------------

def _cmd_exercises_list(args: argparse.Namespace) -> Result:
    from core.library import all_exercises

    with _open_store(args) as store:
        exercises = all_exercises(store)
    fields = ("id", "name", "aliases", "kind", "position", "targets", "audiences", "dose", "cautions", "sources")
    payload = [{f: ex[f] for f in fields} for ex in exercises]
    rows = [{"id": e["id"], "name": e["name"], "kind": e["kind"], "position": e["position"], "dose": e["dose_text"]}
            for e in exercises]
    return Result(payload, _table(rows, ["id", "name", "kind", "position", "dose"]))


def _add_exercises(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("exercises", help="the exercise library")
    group = p.add_subparsers(dest="action", required=True)
    group.add_parser("list", parents=[common], help="list the library").set_defaults(handler=_cmd_exercises_list)


# -- assembly -----------------------------------------------------------------------------------

COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    _add_init,
    _add_exercises,
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: stderr, exit 2
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None,
                        help="database file (default: $ROUTINE_DESK_DB or var/routine-desk.duckdb)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser = _Parser(prog="routine-desk", description="Routine Desk command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add_group in COMMAND_GROUPS:
        add_group(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        result = args.handler(args)
    except UsageError as exc:
        print(f"routine-desk: error: {exc}", file=sys.stderr)
        return exc.code
    if getattr(args, "json", False):
        print(json.dumps(result.payload, indent=2, default=str, ensure_ascii=False))
    else:
        print(result.text)
    return result.code


if __name__ == "__main__":
    sys.exit(main())
