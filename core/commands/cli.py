"""The ``routine-desk`` command line: automation for staff and other tools.

Every subcommand takes ``--db PATH`` and ``--json``. With ``--json`` the output is a stable
contract other tools parse, so fields are only ever added, never renamed. Errors go to stderr
with exit code 2.

Each command group is added by one ``_add_<group>`` function listed in ``COMMAND_GROUPS`` with
the commands it adds (a run builds only its own group); a handler receives the parsed arguments
and returns a ``Result``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from core import clock
from core.db.store import Store, StoreError, WriteConflict, again_on_conflict, db_location, default_db_path, display_location, is_postgres_url


class UsageError(Exception):
    """Bad input from the user: printed to stderr, exit code ``code`` (2 unless a command says)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Result:
    """What a command prints: ``payload`` as JSON with --json, else ``text``; and its exit code.

    ``text`` may be a ``Table``, laid out only when printed (not when JSON is asked for).
    ``items`` (a key and an iterable) is printed after the payload, one item at a time, as the
    payload's last key (JSON) or as lines by ``item_text`` — for lists too long to hold at once."""

    payload: Any
    text: str | Table
    code: int = 0
    items: tuple[str, Iterable[Any]] | None = None
    item_text: Callable[[Any], str] | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def _print_result(result: Result, as_json: bool, out: TextIO) -> None:
    """Print a result; its ``items`` streamed, the JSON exactly as if they were in the payload."""
    if result.items is None:
        print(_dumps(result.payload) if as_json else result.text, file=out)
        return
    key, items = result.items
    if not as_json:
        print(result.text, file=out)
        for item in items:
            print(result.item_text(item) if result.item_text else item, file=out)
        return
    head = _dumps(result.payload)                    # a non-empty object: "{\n ... \n}"
    out.write(head[:-2] + f",\n  {json.dumps(key)}: [")
    first = True
    for item in items:
        out.write(("\n" if first else ",\n") + textwrap.indent(_dumps(item), "    "))
        first = False
    out.write("]\n}\n" if first else "\n  ]\n}\n")


Handler = Callable[[argparse.Namespace], Result]


def _open_store(args: argparse.Namespace, *, sync: bool = True) -> Store:
    """Open the database; by default also bring the library in line with data/ (cheap when
    nothing changed), so every command sees the content files as they are now."""
    from core.library.content import sync_library
    from core.sessions.red_flags import retag_if_vocabulary_changed

    from core.db.integrity import explain_open_failure

    try:
        store = Store.open(args.db)
    except StoreError as exc:
        raise UsageError(explain_open_failure(exc, display_location(args.db or default_db_path()))) from exc
    if sync:
        again_on_conflict(lambda: (sync_library(store), retag_if_vocabulary_changed(store)))
    return store


def parse_date(text: str) -> date:
    """argparse type for ISO dates (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (use YYYY-MM-DD): {text!r}") from exc


@dataclass(frozen=True)
class Table:
    """A plain-text table for humans (JSON is the machine format), laid out when printed: a report of
    every client asked for as JSON does not pay for its columns' widths."""

    rows: list[dict[str, Any]]
    columns: Sequence[str]

    def __str__(self) -> str:
        if not self.rows:
            return "(none)"
        cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in self.columns] for r in self.rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(self.columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.columns, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)


# -- init ---------------------------------------------------------------------------------------

def _cmd_init(args: argparse.Namespace) -> Result:
    from core.library import content
    from core.commands import demo

    with _open_store(args, sync=False) as store:
        report = content.sync_library(store)
        payload: dict[str, Any] = {
            "db": store.location,
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
    from core.commands.demo import DemoSpec

    p = sub.add_parser("init", parents=[common], help="create or migrate the database and load the library")
    p.add_argument("--demo", action="store_true", help="also create the demo practice (only into an empty practice)")
    p.add_argument("--clients", type=int, default=DemoSpec.clients, help="demo size: number of clients")
    p.add_argument("--days", type=int, default=DemoSpec.days, help="demo size: days of history")
    p.add_argument("--seed", type=int, default=DemoSpec.seed, help="demo random seed")
    p.add_argument("--as-of", type=parse_date, default=None, help="demo history ends on this date (default today)")
    p.set_defaults(handler=_cmd_init)


# -- exercises ----------------------------------------------------------------------------------

def _cmd_exercises_list(args: argparse.Namespace) -> Result:
    from core.library.search import all_exercises

    with _open_store(args) as store:
        exercises = all_exercises(store)
    fields = ("id", "name", "aliases", "kind", "position", "targets", "audiences", "dose", "cautions", "sources")
    payload = [{f: ex[f] for f in fields} for ex in exercises]
    rows = [{"id": e["id"], "name": e["name"], "kind": e["kind"], "position": e["position"], "dose": e["dose_text"]}
            for e in exercises]
    return Result(payload, Table(rows, ["id", "name", "kind", "position", "dose"]))


def _add_exercises(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("exercises", help="the exercise library")
    group = p.add_subparsers(dest="action", required=True)
    group.add_parser("list", parents=[common], help="list the library").set_defaults(handler=_cmd_exercises_list)


# -- content ------------------------------------------------------------------------------------

def _cmd_content_import_article(args: argparse.Namespace) -> Result:
    """Draft exercises from an article; only ``--save`` writes (accepting every draft)."""
    from core.library.article_import import ArticleSource, accept_all, dose_text
    from core.library.articles import read_article_file
    from core.library.content import data_dir
    from core.library.search import all_exercises

    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    code = 0
    with _open_store(args) as store:
        drafts = read_article_file(raw, args.file.name, all_exercises(store))
        payload = drafts.to_dict()
        payload["title"] = args.title or drafts.title or args.file.stem
        lines = [f"{len(drafts.exercises)} exercise draft(s), {len(drafts.routines)} routine draft(s),"
                 f" {len(drafts.skipped)} part(s) skipped"]
        lines += [f"  {e.name}: {dose_text(e.dose) or 'no dose given'}; "
                  + (f"matches {e.match.exercise_id} ({e.match.score:.2f})" if e.match else "new")
                  for e in drafts.exercises]
        lines += [f"  routine {r.name}: {len(r.items)} item(s)" for r in drafts.routines]
        if args.save:
            source = ArticleSource(payload["title"], args.url)
            results = accept_all(store, "cli", drafts.exercises, source, data_dir() / "exercises")
            payload["saved"] = [r.to_dict() for r in results]
            lines += [f"{r.action} {r.exercise_id or r.draft_name}" + (": " + "; ".join(r.problems) if r.problems else "")
                      for r in results]
            code = 1 if any(r.action == "rejected" for r in results) else 0
    return Result(payload, "\n".join(lines), code)


def _add_content(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("content", help="content files: exercises and routine templates")
    group = p.add_subparsers(dest="action", required=True)
    imp = group.add_parser(
        "import-article", parents=[common],
        help="draft exercises from an article (.txt, .md or .html); nothing is written without --save",
        description="Reads exercises, doses and routines from an article and prints them as drafts. "
                    "With --save every draft is accepted: one that matches the library adds the article "
                    "as a source (and its name as an alias); any other becomes data/exercises/<id>.md. "
                    "Drafts the library cannot take yet are listed with what is missing; exit code 1 then.")
    imp.add_argument("file", type=Path, help="the article: .txt, .md or .html")
    imp.add_argument("--title", default=None, help="article title for the sources (default: its first heading)")
    imp.add_argument("--url", default=None, help="article URL for the sources")
    imp.add_argument("--save", action="store_true", help="accept all drafts and reload the library")
    imp.set_defaults(handler=_cmd_content_import_article)


# -- clients, routines, assign, handout (issue 3) -------------------------------------------------

def _parse_gestation(text: str) -> tuple[int, int]:
    """argparse type for weeks of pregnancy: "24" or "24+3" (weeks + days)."""
    weeks, _, days = text.strip().partition("+")
    try:
        value = (int(weeks), int(days or 0))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not weeks of pregnancy (use W or W+D): {text!r}") from exc
    if not (0 <= value[0] <= 42 and 0 <= value[1] <= 6):
        raise argparse.ArgumentTypeError(f"weeks must be 0–42 and days 0–6: {text!r}")
    return value


def _cmd_clients_add(args: argparse.Namespace) -> Result:
    from core.practice.clients import ClientError, create_client

    on = args.on or clock.today()
    fields: dict[str, Any] = {
        "code": args.code, "display_name": args.name, "email": args.email, "therapist": args.therapist,
        "segments": args.segment or [], "flags": args.flag or [], "notes": args.notes,
        "conditions": args.conditions, "due_date": args.due_date, "care_provider_cleared_on": args.cleared_on,
        "site": args.site,
    }
    if args.gestation_weeks is not None:
        fields |= {"gestation_weeks": args.gestation_weeks[0], "gestation_days": args.gestation_weeks[1],
                   "gestation_on": on}
    with _open_store(args, sync=False) as store:
        try:
            client = create_client(store, fields, actor="cli", as_of=on)
        except ClientError as exc:
            raise UsageError(str(exc)) from exc
    payload = client.as_dict(on)
    week = f", week {payload['gestational_week']} on {on.isoformat()}" if payload["gestational_week"] is not None else ""
    return Result(payload, f"added client {client.code} ({client.display_name}){week}")


def _cmd_clients_list(args: argparse.Namespace) -> Result:
    from core.practice.clients import ClientFilter, list_clients

    on = args.on or clock.today()
    with _open_store(args, sync=False) as store:
        flt = ClientFilter(text=args.search or "", segments=tuple(args.segment or ()),
                           therapists=tuple(args.therapist or ()), status=args.status,
                           sites=_sites_asked(store, args))
        frame = list_clients(store, flt, on)
    payload = [{
        "code": r["code"], "name": r["name"], "email": r["email"], "therapist": r["therapist"],
        "segments": [s for s in r["segments"].split(", ") if s], "flags": [f for f in r["flags"].split(", ") if f],
        "pregnancy_week": None if r["pregnancy_week"] is None else int(r["pregnancy_week"]),
        "due_date": r["due_date"].isoformat() if r["due_date"] else None,
        "current_routines": r["current_routines"], "status": r["status"], "site": r["site"],
    } for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]
    rows = [r | {"segments": ", ".join(r["segments"])} for r in payload]
    return Result(payload, Table(rows, ["code", "name", "therapist", "segments", "pregnancy_week", "status", "site"]))


def _add_clients(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.practice.clients import SEGMENTS, STATUSES
    from core.practice.safety import HEALTH_FLAGS

    p = sub.add_parser("clients", help="clients of the practice")
    group = p.add_subparsers(dest="action", required=True)
    add = group.add_parser("add", parents=[common], help="register a client")
    add.add_argument("--code", help="client code (default: the next free C00000 number)")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--email")
    add.add_argument("--therapist")
    add.add_argument("--segment", action="append", choices=SEGMENTS, help="repeat for several")
    add.add_argument("--flag", action="append", choices=list(HEALTH_FLAGS), help="health flag; repeat for several")
    add.add_argument("--conditions", help="other conditions, free text")
    add.add_argument("--notes")
    pregnancy = add.add_mutually_exclusive_group()
    pregnancy.add_argument("--due-date", type=parse_date, help="due date of a pregnancy")
    pregnancy.add_argument("--gestation-weeks", type=_parse_gestation, metavar="W[+D]",
                           help="weeks (+days) of pregnancy on the --on date, converted to a due date")
    add.add_argument("--on", type=parse_date, help="the date --gestation-weeks was measured (default today)")
    add.add_argument("--cleared-on", type=parse_date,
                     help="the day her care provider cleared her to exercise in this pregnancy")
    add.add_argument("--site", help="the client's site (code; default: the practice's default site, main)")
    add.set_defaults(handler=_cmd_clients_add)
    lst = group.add_parser("list", parents=[common], help="list clients")
    lst.add_argument("--search", help="part of a code, name or email")
    lst.add_argument("--segment", action="append", choices=SEGMENTS)
    lst.add_argument("--therapist", action="append")
    lst.add_argument("--status", choices=STATUSES, default="active")
    _site_option(lst, "only clients of this site")
    lst.add_argument("--on", type=parse_date, help="pregnancy weeks and current routines on this date (default today)")
    lst.set_defaults(handler=_cmd_clients_list)


def _cmd_routines_list(args: argparse.Namespace) -> Result:
    from core.practice.routines import list_routines

    with _open_store(args) as store:
        payload = list_routines(store, include_archived=args.all)
    rows = [r | {"items": len(r["items"])} for r in payload]
    return Result(payload, Table(rows, ["id", "audience", "version", "items", "sessions_per_week", "weeks", "est_minutes"]))


def _add_routines(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("routines", help="routine templates and custom routines")
    group = p.add_subparsers(dest="action", required=True)
    lst = group.add_parser("list", parents=[common], help="every routine at its current version")
    lst.add_argument("--all", action="store_true", help="include archived routines")
    lst.set_defaults(handler=_cmd_routines_list)


def _findings_text(findings: list[Any]) -> list[str]:
    return [f"  {f.level.upper():5} {f.exercise_name or 'routine'}: {f.reason}"
            + (f" (instead: {f.substitute_name})" if f.substitute_name else "") for f in findings]


def _planned_weeks(store: Store, args: argparse.Namespace) -> int:
    """The program length the assignment will have: --weeks, else the routine version's."""
    from core.practice.assignments import AssignmentError
    from core.practice.routines import RoutineError, get_version

    if args.weeks is not None:
        return args.weeks
    try:
        return get_version(store, args.routine, args.version).weeks
    except RoutineError as exc:
        raise AssignmentError(str(exc)) from exc


def _cmd_assign(args: argparse.Namespace) -> Result:
    from core.practice.assignments import AssignmentError, SafetyBlocked, assign, default_check_date

    with _open_store(args) as store:
        try:
            on = args.on or default_check_date(args.start, clock.today(), _planned_weeks(store, args))
            result = assign(store, args.client, args.routine, args.start, actor="cli", on=on, version=args.version,
                            sessions_per_week=args.sessions_per_week, weeks=args.weeks,
                            override_reason=args.override_reason)
        except SafetyBlocked as exc:
            payload = {"assignment_id": None, "blocked": True, "checked_on": on.isoformat(),
                       "findings": [f.as_dict() for f in exc.findings]}
            text = "\n".join(["not assigned: blocked by the safety rules; give --override-reason to assign anyway",
                              *_findings_text(exc.findings)])
            return Result(payload, text, code=3)
        except AssignmentError as exc:
            raise UsageError(str(exc)) from exc
    payload = result.as_dict() | {"blocked": False, "checked_on": on.isoformat()}
    a = result.assignment
    lines = [f"assignment {a.id}: {a.routine_id} v{a.routine_version} from {a.start_date} to {a.last_day},"
             f" {a.sessions_per_week} sessions a week"]
    if result.findings:
        lines += [f"safety findings on {on.isoformat()} (recorded as seen):", *_findings_text(result.findings)]
    if result.ahead:
        lines += ["coming up during the program:"] + [
            f"  from {day.isoformat()}: {f.level.upper()} {f.exercise_name or 'routine'}: {f.reason}"
            for day, f in result.ahead]
    return Result(payload, "\n".join(lines))


def _add_assign(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("assign", parents=[common], help="assign a routine to a client (checks safety first)")
    p.add_argument("--client", required=True, help="client code")
    p.add_argument("--routine", required=True, help="routine id")
    p.add_argument("--start", required=True, type=parse_date, help="first day of the program")
    p.add_argument("--version", type=int, help="routine version (default: current)")
    p.add_argument("--sessions-per-week", type=int, help="1–21 (default: the routine's)")
    p.add_argument("--weeks", type=int, help="program length (default: the routine's)")
    p.add_argument("--on", type=parse_date, help="date to check safety for (default: the start, or today once started)")
    p.add_argument("--override-reason", help="required to assign despite a block; stored with your name")
    p.set_defaults(handler=_cmd_assign)


def _cmd_handout(args: argparse.Namespace) -> Result:
    from core.practice.handouts import HandoutError, handout_data, handout_file_name, render_pdf

    on = args.on or clock.today()
    with _open_store(args) as store:
        try:
            handout = handout_data(store, args.client, on)
        except HandoutError as exc:
            raise UsageError(str(exc)) from exc
    rendered = render_pdf(handout)
    out = args.out or Path(handout_file_name(handout.client_code, on))
    try:
        out.write_bytes(rendered.pdf)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc}") from exc
    payload = {"file": str(out), "client": handout.client_code,
               "assignments": [p.assignment_id for p in handout.programs], "pages": rendered.pages,
               "bytes": len(rendered.pdf)}
    return Result(payload, f"wrote {out} ({rendered.pages} pages) for {handout.client_code}")


def _add_handout(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("handout", parents=[common], help="print a client's current programs as a PDF")
    p.add_argument("--client", required=True, help="client code")
    p.add_argument("--out", type=Path, help="PDF file to write (default: handout-CODE-DATE.pdf here)")
    p.add_argument("--on", type=parse_date, help="print the programs current on this date (default today)")
    p.set_defaults(handler=_cmd_handout)


# -- sites (issue 19) ----------------------------------------------------------------------------

def _site_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--site", action="append", metavar="CODE",
                        help=f"{what}; repeat or give a comma list for several")


def _sites_asked(store: Store, args: argparse.Namespace) -> tuple[str, ...] | None:
    """The known site codes of --site (None when not given); an unknown one is a usage error."""
    from core.access.sites import SiteError, known_sites

    if not getattr(args, "site", None):
        return None
    try:
        return known_sites(store, args.site)
    except SiteError as exc:
        raise UsageError(str(exc)) from exc


def _cmd_sites_list(args: argparse.Namespace) -> Result:
    from core.access.sites import list_sites

    with _open_store(args, sync=False) as store:
        counts = dict(store.rows("SELECT site, count(*) FROM clients WHERE archived_at IS NULL GROUP BY site"))
        payload = [site.as_dict() | {"clients": int(counts.get(site.code, 0))} for site in list_sites(store)]
    return Result(payload, Table(payload, ["code", "name", "clients"]))


def _cmd_sites_add(args: argparse.Namespace) -> Result:
    from core.access.sites import add_site

    with _open_store(args, sync=False) as store, _account_errors():
        site = add_site(store, "cli", args.code, args.name)
    return Result(site.as_dict(), f"added site {site.code} ({site.name})")


def _cmd_sites_rename(args: argparse.Namespace) -> Result:
    from core.access.sites import rename_site

    with _open_store(args, sync=False) as store, _account_errors():
        site = rename_site(store, "cli", args.code, args.name)
    return Result(site.as_dict(), f"site {site.code} is now called {site.name}")


def _add_sites(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sites", help="the practice's sites (clinics, studios) and their clients")
    group = p.add_subparsers(dest="action", required=True)
    group.add_parser("list", parents=[common], help="every site with its current clients").set_defaults(
        handler=_cmd_sites_list)
    add = group.add_parser("add", parents=[common], help="add a site")
    add.add_argument("code", help="a short stable code: lower-case letters, digits, '-' or '_' (URLs and files use it)")
    add.add_argument("name", help="the name people read, e.g. 'North clinic'")
    add.set_defaults(handler=_cmd_sites_add)
    rename = group.add_parser("rename", parents=[common], help="give a site another name (its code stays)")
    rename.add_argument("code")
    rename.add_argument("name")
    rename.set_defaults(handler=_cmd_sites_rename)


# -- users and share links ----------------------------------------------------------------------

@contextmanager
def _account_errors() -> Iterator[None]:
    """Account, site and link errors are the user's input problems: stderr and exit code 2."""
    from core.access.auth import AuthError, PermissionDenied
    from core.access.sites import SiteError
    from core.sharing.links import LinkError

    try:
        yield
    except (AuthError, LinkError, PermissionDenied, SiteError) as exc:
        raise UsageError(str(exc)) from exc


def _null_records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON rows with missing values as null (pandas would say NaN / NaT)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _password_from_stdin(args: argparse.Namespace) -> str:
    """Passwords come on stdin only (never as an argument: those end up in shell history and ps)."""
    if not args.password_stdin:
        raise UsageError("give the password on stdin with --password-stdin (it is never taken as an argument)")
    return sys.stdin.readline().rstrip("\r\n")


def _cmd_users_add(args: argparse.Namespace) -> Result:
    from core.access.auth import create_user
    from core.access.sites import known_sites, member_sites, set_member_sites

    password = _password_from_stdin(args) if args.password_stdin or not args.email else None
    with _open_store(args, sync=False) as store, _account_errors():
        if args.site:
            known_sites(store, args.site)  # an unknown site is refused before the account is made
        user = create_user(store, "cli", args.username, args.role, password, email=args.email,
                           display_name=args.name)
        if args.site:
            set_member_sites(store, "cli", user.username, args.site)
        sites = member_sites(store, user.username)
    return Result(user.as_dict() | {"sites": list(sites)}, f"created {user.role} {user.username}"
                  + (f" at {', '.join(sites)}" if sites else ""))


def _cmd_users_list(args: argparse.Namespace) -> Result:
    from core.access.auth import users_table
    from core.access.sites import member_sites

    with _open_store(args, sync=False) as store:
        payload = [row | {"sites": list(member_sites(store, row["username"]))}
                   for row in _null_records(users_table(store))]
    rows = [r | {"sites": "all" if r["role"] == "owner" else ", ".join(r["sites"])} for r in payload]
    return Result(payload, Table(rows, ["username", "role", "status", "sign_in", "email", "last_login_at", "sites"]))


def _cmd_users_sites(args: argparse.Namespace) -> Result:
    from core.access.sites import set_member_sites

    with _open_store(args, sync=False) as store, _account_errors():
        sites = set_member_sites(store, "cli", args.username, args.site or [])
    return Result({"username": args.username, "sites": list(sites)},
                  f"{args.username} works at: {', '.join(sites) or 'no site'}")


def _cmd_users_passwd(args: argparse.Namespace) -> Result:
    from core.access.auth import set_password

    password = _password_from_stdin(args)
    with _open_store(args, sync=False) as store, _account_errors():
        user = set_password(store, "cli", args.username, password)
    return Result({"username": user.username, "password_changed": True}, f"password of {user.username} changed")


def _cmd_users_unlock(args: argparse.Namespace) -> Result:
    from core.access.auth import unlock

    with _open_store(args, sync=False) as store, _account_errors():
        cleared = unlock(store, "cli", args.username)
    return Result({"username": args.username, "unlocked": cleared},
                  f"{args.username}: lock cleared" if cleared else f"{args.username}: was not locked")


def _add_users(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.access.auth import ROLES

    p = sub.add_parser("users", help="staff accounts (owner, therapist, viewer)")
    group = p.add_subparsers(dest="action", required=True)
    add = group.add_parser("add", parents=[common], help="create a staff account")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--email", help="single-sign-on email mapped to this account (then a password is optional)")
    add.add_argument("--name", help="display name")
    _site_option(add, "a site the account works at (therapists and viewers see only their sites' clients)")
    add.set_defaults(handler=_cmd_users_add)
    sites = group.add_parser("sites", parents=[common], help="set the sites an account works at (replaces them)")
    sites.add_argument("--username", required=True)
    _site_option(sites, "a site the account works at (none given: no site)")
    sites.set_defaults(handler=_cmd_users_sites)
    group.add_parser("list", parents=[common], help="list staff accounts").set_defaults(handler=_cmd_users_list)
    passwd = group.add_parser("passwd", parents=[common], help="set a new password (e.g. a locked-out owner)")
    passwd.add_argument("--username", required=True)
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    passwd.set_defaults(handler=_cmd_users_passwd)
    unlock = group.add_parser("unlock", parents=[common], help="clear a sign-in lock before its 15 minutes are up")
    unlock.add_argument("--username", required=True)
    unlock.set_defaults(handler=_cmd_users_unlock)


def _cmd_share_create(args: argparse.Namespace) -> Result:
    from core.sharing.links import create_link

    with _open_store(args, sync=False) as store, _account_errors():
        link = create_link(store, "cli", args.scope, days=args.days, label=args.label,
                           deidentify=args.deidentify, base=args.base_url, sites=args.site)
    payload = link.as_dict()
    return Result(payload, f"id {link.id}\nurl {link.url}\nexpires_at {payload['expires_at']}")


def _cmd_share_list(args: argparse.Namespace) -> Result:
    from core.sharing.links import list_links

    with _open_store(args, sync=False) as store:
        payload = _null_records(list_links(store, "cli"))
    return Result(payload, Table(payload, ["id", "scope", "label", "status", "expires_at", "opens", "created_by"]))


def _cmd_share_revoke(args: argparse.Namespace) -> Result:
    from core.sharing.links import revoke

    with _open_store(args, sync=False) as store, _account_errors():
        revoked = revoke(store, "cli", args.id)
    return Result({"id": args.id, "revoked": revoked},
                  f"link {args.id} revoked" if revoked else f"link {args.id} was already revoked")


def _add_share(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.sharing.links import DEFAULT_DAYS, MAX_DAYS

    p = sub.add_parser("share", help="read-only dashboard links")
    group = p.add_subparsers(dest="action", required=True)
    create = group.add_parser("create", parents=[common], help="make a link; prints id, url, expires_at")
    create.add_argument("--scope", required=True, help="practice | client:CODE | segment:NAME")
    create.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"valid for N days (1-{MAX_DAYS})")
    create.add_argument("--deidentify", action="store_true", help="client codes instead of names, no notes")
    create.add_argument("--label", help="who or what the link is for")
    create.add_argument("--base-url", help="e.g. https://desk.example.org (default: $ROUTINE_DESK_BASE_URL)")
    _site_option(create, "the link shows only this site's clients")
    create.set_defaults(handler=_cmd_share_create)
    group.add_parser("list", parents=[common], help="every link with its use").set_defaults(handler=_cmd_share_list)
    revoke = group.add_parser("revoke", parents=[common], help="revoke a link now")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=_cmd_share_revoke)


def _cmd_checkin_create(args: argparse.Namespace) -> Result:
    from core.practice.handouts import HandoutError, handout_data, render_pdf
    from core.sharing.checkin import create_checkin

    with _open_store(args, sync=False) as store, _account_errors():
        link = create_checkin(store, "cli", args.client, days=args.days, base=args.base_url, today=clock.today())
        payload, text = link.as_dict(), f"id {link.id}\nurl {link.url}\nexpires_at {link.as_dict()['expires_at']}"
        if args.handout is not None:  # the only moment the link is known: print it on the handout now
            try:
                pdf = render_pdf(handout_data(store, link.client, clock.today(), checkin_url=link.url)).pdf
                args.handout.write_bytes(pdf)
            except (HandoutError, OSError) as exc:
                raise UsageError(f"link {link.id} made, but no handout written: {exc}") from exc
            payload["handout"], text = str(args.handout), text + f"\nhandout {args.handout}"
    return Result(payload, text)


def _cmd_checkin_list(args: argparse.Namespace) -> Result:
    from core.sharing.checkin import list_checkins

    with _open_store(args, sync=False) as store, _account_errors():
        payload = _null_records(list_checkins(store, "cli", args.client))
    return Result(payload, Table(payload, ["id", "client", "status", "expires_at", "sessions", "last_used_at",
                                            "created_by"]))


def _cmd_checkin_revoke(args: argparse.Namespace) -> Result:
    from core.sharing.checkin import revoke_checkin

    with _open_store(args, sync=False) as store, _account_errors():
        revoked = revoke_checkin(store, "cli", args.id)
    return Result({"id": args.id, "revoked": revoked},
                  f"check-in link {args.id} revoked" if revoked else f"check-in link {args.id} was already revoked")


def _cmd_checkin_ics(args: argparse.Namespace) -> Result:
    from core.sharing.checkin import calendar_ics

    with _open_store(args, sync=False) as store, _account_errors():
        ics = calendar_ics(store, args.id, clock.today())
    if args.out is None:
        return Result({"id": args.id, "ics": ics}, ics.rstrip("\r\n"))
    try:
        args.out.write_text(ics, encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc}") from exc
    return Result({"id": args.id, "file": str(args.out), "events": ics.count("BEGIN:VEVENT")},
                  f"wrote {args.out} ({ics.count('BEGIN:VEVENT')} reminder(s))")


def _add_checkin(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.sharing.checkin import GRACE_DAYS, MAX_DAYS

    p = sub.add_parser("checkin", help="clients' check-in links: they log their own sessions on their phone")
    group = p.add_subparsers(dest="action", required=True)
    create = group.add_parser("create", parents=[common], help="make a client's link; prints id, url, expires_at")
    create.add_argument("--client", required=True, help="client code")
    create.add_argument("--days", type=int, default=None,
                        help=f"valid for N days (1-{MAX_DAYS}; default: {GRACE_DAYS} days after the current programs)")
    create.add_argument("--base-url", help="e.g. https://desk.example.org (default: $ROUTINE_DESK_BASE_URL)")
    create.add_argument("--handout", type=Path, help="also write the client's handout PDF with the link's QR code")
    create.set_defaults(handler=_cmd_checkin_create)
    lst = group.add_parser("list", parents=[common], help="every check-in link with its use")
    lst.add_argument("--client", help="only this client's links")
    lst.set_defaults(handler=_cmd_checkin_list)
    revoke = group.add_parser("revoke", parents=[common], help="revoke a check-in link now")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=_cmd_checkin_revoke)
    ics = group.add_parser("ics", parents=[common], help="the link's calendar reminders (iCalendar)")
    ics.add_argument("id", type=int)
    ics.add_argument("--out", type=Path, help="write the .ics file here (default: print it)")
    ics.set_defaults(handler=_cmd_checkin_ics)


# -- logs -----------------------------------------------------------------------------------------

@contextmanager
def _import_errors() -> Iterator[None]:
    """File-level import problems (and bad batch ids) are the user's: stderr, exit 2, nothing written."""
    from core.sessions.imports import BatchError, ImportFileError
    from core.sessions.checks import DateOrderNeeded

    try:
        yield
    except DateOrderNeeded as exc:
        raise UsageError(f"{exc}; pass --date-order dmy or --date-order mdy") from exc
    except (ImportFileError, BatchError) as exc:
        raise UsageError(str(exc)) from exc


def _cmd_logs_import(args: argparse.Namespace) -> Result:
    from core.sessions import imports

    with _import_errors(), _open_store(args) as store:
        log = imports.read_log_file(args.file)
        for note in log.notes:          # how the file was read (its encoding): stderr, so --json stays as it is
            print(f"routine-desk: note: {note}", file=sys.stderr)
        saved = imports.get_mapping(store, args.source)
        mapping = imports.build_mapping(log.headers, saved.mapping if saved else None, imports.parse_map_options(args.map))
        options = imports.ImportOptions(source=args.source, mapping=mapping, date_order=args.date_order,
                                   create_clients=args.create_clients, dry_run=args.dry_run, actor="cli")
        result = imports.import_log_file(store, log, options)
    verb = "would import" if result.dry_run else "imported"
    lines = [f"{result.file_name}: read {result.read}, {verb} {result.accepted}, rejected {result.rejected},"
             f" duplicates {result.duplicates}"
             + (f" (batch {result.batch_id})" if result.batch_id else " (dry run: nothing saved)")]
    if result.new_clients:
        lines.append(f"new clients: {result.new_clients}")
    return Result(result.summary_json(), "\n".join(lines), items=("rejects", result.reject_rows),
                  item_text=lambda r: f"row {r['row']}: {'; '.join(r['reasons'])}")


def _cmd_logs_undo(args: argparse.Namespace) -> Result:
    from core.sessions.imports import undo_batch

    with _import_errors(), _open_store(args, sync=False) as store:
        undone = undo_batch(store, args.batch_id, "cli")
    return Result(undone.as_json(), f"batch {undone.batch_id} undone: {undone.removed_logs} session log(s) removed,"
                                    f" {undone.closed_rows} quarantined row(s) closed")


def _cmd_logs_batches(args: argparse.Namespace) -> Result:
    from core.sessions.imports import list_batches

    with _open_store(args, sync=False) as store:
        frame = list_batches(store)
    payload = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return Result(payload, Table(payload, ["id", "source", "file_name", "imported_at", "rows_read", "accepted",
                                            "rejected", "duplicates", "still_open", "undone_at"]))


def _add_logs(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from core.sessions.imports import DEFAULT_SOURCE, IGNORE
    from core.sessions.checks import DATE_ORDERS

    p = sub.add_parser("logs", help="session logs: import files, undo imports")
    group = p.add_subparsers(dest="action", required=True)
    imp = group.add_parser("import", parents=[common], help="import a CSV or XLSX file of session logs")
    imp.add_argument("file", type=Path)
    imp.add_argument("--source", default=DEFAULT_SOURCE,
                     help="where the file comes from (its saved column mapping is used; session ids are per source)")
    imp.add_argument("--map", action="append", default=[], metavar="HEADER=field",
                     help=f"map a column to a field (or to '{IGNORE}'); repeatable")
    imp.add_argument("--date-order", choices=DATE_ORDERS, help="how to read dates like 03/04/2024")
    imp.add_argument("--create-clients", action="store_true", help="create clients the file names but we do not know")
    imp.add_argument("--dry-run", action="store_true", help="check everything, save nothing")
    imp.set_defaults(handler=_cmd_logs_import)
    undo = group.add_parser("undo", parents=[common], help="remove every session log an import batch stored")
    undo.add_argument("batch_id", type=int)
    undo.set_defaults(handler=_cmd_logs_undo)
    group.add_parser("batches", parents=[common], help="list import batches").set_defaults(handler=_cmd_logs_batches)


# -- report (issue 5: adherence, symptoms, alerts) ---------------------------------------------

def _report_scope(args: argparse.Namespace, store: Any) -> Any:
    """The metrics scope for --as-of / --days / --client / --site; an unknown client or site is a
    usage error."""
    from core.analytics.metrics import MetricsError, Scope, find_client_id

    client_id = None
    sites = _sites_asked(store, args)
    if getattr(args, "client", None):
        client_id = find_client_id(store, args.client, sites)
        if client_id is None:
            raise UsageError(f"no client with code {args.client!r}" + (" in that site" if sites else ""))
    try:
        return Scope(as_of=args.as_of, days=getattr(args, "days", 28), client_id=client_id, sites=sites)
    except MetricsError as exc:
        raise UsageError(str(exc)) from exc


def _cmd_report_adherence(args: argparse.Namespace) -> Result:
    from core.analytics.metrics import records
    from core.analytics.overview import client_adherence

    fields = ["client", "expected", "completed", "adherence", "status", "last_session"]
    with _open_store(args) as store:
        payload = records(client_adherence(store, _report_scope(args, store))[fields])
    return Result(payload, Table(payload, fields))


def _cmd_report_symptoms(args: argparse.Namespace) -> Result:
    from core.analytics.metrics import pain_responses, records

    fields = ["client", "routine", "baseline", "current", "change", "change_pct", "response", "relief"]
    with _open_store(args) as store:
        found = pain_responses(store, _report_scope(args, store), whole_history=True)
    payload = records(found.rename(columns={"routine_id": "routine"})[fields])
    return Result(payload, Table(payload, fields))


def _cmd_report_alerts(args: argparse.Namespace) -> Result:
    from core.analytics.metrics import records
    from core.analytics.overview import open_alerts

    fields = ["client", "level", "kind", "reason", "since"]
    with _open_store(args) as store:
        payload = records(open_alerts(store, _report_scope(args, store))[fields])
    return Result(payload, Table(payload, ["level", "kind", "client", "since", "reason"]))


def _add_report(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", help="adherence, pain response and alerts (definitions: docs/analytics/metrics.md)")
    group = p.add_subparsers(dest="action", required=True)
    adherence = group.add_parser("adherence", parents=[common],
                                 help="one row per client with an assignment active in the period")
    adherence.add_argument("--as-of", type=parse_date, required=True, help="last day of the period (YYYY-MM-DD)")
    adherence.add_argument("--days", type=int, default=28, help="length of the period in days (default 28)")
    adherence.add_argument("--client", help="only this client (code)")
    _site_option(adherence, "only clients of this site")
    adherence.set_defaults(handler=_cmd_report_adherence)
    symptoms = group.add_parser("symptoms", parents=[common],
                                help="pain response per assignment started on or before --as-of")
    symptoms.add_argument("--as-of", type=parse_date, required=True, help="the date to report on (YYYY-MM-DD)")
    symptoms.add_argument("--client", help="only this client (code)")
    _site_option(symptoms, "only clients of this site")
    symptoms.set_defaults(handler=_cmd_report_symptoms)
    alerts = group.add_parser("alerts", parents=[common], help="open alerts over the 28 days up to --as-of")
    alerts.add_argument("--as-of", type=parse_date, required=True, help="the date to report on (YYYY-MM-DD)")
    _site_option(alerts, "only clients of this site")
    alerts.set_defaults(handler=_cmd_report_alerts)


# -- backup and restore ---------------------------------------------------------------------------

def _cmd_backup(args: argparse.Namespace) -> Result:
    from core.access.auth import audit
    from core.db.backup import BackupError, make_backup

    with _open_store(args, sync=False) as store:
        try:
            manifest = make_backup(store, args.dest)
        except BackupError as exc:
            raise UsageError(str(exc)) from exc
        audit(store, "cli", "backup_made", {"dest": str(args.dest), "rows": sum(manifest.tables.values())})
    payload = {"dest": str(args.dest), **manifest.as_dict()}
    return Result(payload, f"backup written to {args.dest}: schema version {manifest.schema_version},"
                           f" {len(manifest.tables)} tables, {sum(manifest.tables.values())} rows"
                           + (", encrypted with ROUTINE_DESK_DB_KEY" if manifest.encrypted else ""))


def _cmd_restore(args: argparse.Namespace) -> Result:
    from core.db.backup import BackupError, restore

    target = args.db or default_db_path()
    if is_postgres_url(target):
        from core.db.backup import POSTGRES_BACKUPS
        raise UsageError(POSTGRES_BACKUPS)
    try:
        manifest = restore(args.src, target, force=args.force)
    except BackupError as exc:
        raise UsageError(str(exc)) from exc
    with _open_store(argparse.Namespace(db=target), sync=False) as store:  # migrates an older backup
        schema_now = store.schema_version()
    payload = {"restored": str(target), "from": str(args.src), "backup_created_at": manifest.created_at,
               "backup_schema_version": manifest.schema_version, "schema_version": schema_now,
               "tables": manifest.tables}
    return Result(payload, f"restored {target} from the backup of {manifest.created_at} (UTC):"
                           f" {sum(manifest.tables.values())} rows checked, schema version {schema_now}")


def _cmd_check(args: argparse.Namespace) -> Result:
    from core.db.integrity import DatabaseDamaged, check_everything

    with _open_store(args, sync=False) as store:  # opening reads each table's first block
        if store.postgres:
            raise UsageError("`check` reads the blocks of a DuckDB file; PostgreSQL checks its own pages"
                             " (data checksums, `pg_amcheck`)")
        cursor = store.cursor()
        try:
            checked = check_everything(cursor, store.path)
        except DatabaseDamaged as exc:
            raise UsageError(str(exc)) from exc
        finally:
            cursor.close()
    payload = {"db": str(store.path), "ok": True, "tables": {t.name: t.rows for t in checked}}
    return Result(payload, f"{store.path}: every block of {len(checked)} tables read,"
                           f" {sum(t.rows for t in checked)} rows, no damage found")


def _add_backup(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    c = sub.add_parser("check", parents=[common], help="read every block of the database and verify its checksums")
    c.set_defaults(handler=_cmd_check)
    p = sub.add_parser("backup", parents=[common],
                       help="write a consistent copy of the practice and its manifest into a new folder")
    p.add_argument("dest", type=Path, help="a new (or empty) folder for the backup")
    p.set_defaults(handler=_cmd_backup)
    r = sub.add_parser("restore", parents=[common],
                       help="check a backup in full, then make it the practice at --db (stop the app first)")
    r.add_argument("src", type=Path, help="a backup folder, or the .zip the Admin page downloads")
    r.add_argument("--force", action="store_true",
                   help="replace an existing practice (kept beside it as <file>.before-restore)")
    r.set_defaults(handler=_cmd_restore)


# -- rebuild-figures ------------------------------------------------------------------------------

def _cmd_rebuild_figures(args: argparse.Namespace) -> Result:
    with _open_store(args, sync=False) as store:
        rows = store.rebuild_figures()
    text = "figures rebuilt from the session logs: " + ", ".join(f"{table} {n}" for table, n in rows.items())
    return Result({"db": store.location, "rows": rows}, text)


def _add_rebuild_figures(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rebuild-figures", parents=[common],
                       help="recompute the kept figures (attributed sessions, day and pain summaries) from the logs")
    p.set_defaults(handler=_cmd_rebuild_figures)


# -- migrate-store (issue 19) -------------------------------------------------------------------

def _cmd_migrate_store(args: argparse.Namespace) -> Result:
    from core.db.migrate_store import migrate_store

    try:
        copies = migrate_store(args.source, args.target, force=args.force)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    to = display_location(args.target)
    payload = {"from": str(args.source), "to": to, "verified": True,
               "tables": {c.name: {"rows": c.rows, "checksum": c.checksum} for c in copies}}
    return Result(payload, f"copied {args.source} into {to}: {len(copies)} tables,"
                           f" {sum(c.rows for c in copies)} rows; row counts and checksums match")


def _add_migrate_store(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("migrate-store", help="copy a practice from its DuckDB file into PostgreSQL, and verify it")
    p.add_argument("--from", dest="source", type=Path, required=True, help="the practice's .duckdb file")
    p.add_argument("--to", dest="target", required=True, help="postgresql://user:password@host/database")
    p.add_argument("--force", action="store_true", help="replace a practice the target already holds")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=_cmd_migrate_store)


# -- assembly -----------------------------------------------------------------------------------

# Each group's builder by the commands it adds.
COMMAND_GROUPS: dict[tuple[str, ...], Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = {
    ("init",): _add_init,
    ("exercises",): _add_exercises,
    ("clients",): _add_clients,
    ("routines",): _add_routines,
    ("assign",): _add_assign,
    ("handout",): _add_handout,
    ("content",): _add_content,
    ("users",): _add_users,
    ("sites",): _add_sites,
    ("share",): _add_share,
    ("checkin",): _add_checkin,
    ("logs",): _add_logs,
    ("report",): _add_report,
    ("check", "backup", "restore"): _add_backup,
    ("rebuild-figures",): _add_rebuild_figures,
    ("migrate-store",): _add_migrate_store,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: stderr, exit 2
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with only the group of ``command`` when it names one, else every
    group (for help and for a mistyped command). A builder imports what its options' defaults need
    (the demo generator's sizes, the links' limits), which a report should not pay for."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=db_location, default=None,
                        help="database file or postgresql:// URL (default: $ROUTINE_DESK_DB or var/routine-desk.duckdb)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser = _Parser(prog="routine-desk", description="Routine Desk command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    chosen = [add for names, add in COMMAND_GROUPS.items() if command in names]
    for add_group in chosen or COMMAND_GROUPS.values():
        add_group(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        given = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(given[0] if given else None).parse_args(given)
        result = args.handler(args)
    except UsageError as exc:
        print(f"routine-desk: error: {exc}", file=sys.stderr)
        return exc.code
    except WriteConflict as exc:  # another server or command won a race (PostgreSQL): nothing was saved
        print(f"routine-desk: error: {exc}", file=sys.stderr)
        return 2
    _print_result(result, getattr(args, "json", False), sys.stdout)
    return result.code


if __name__ == "__main__":
    sys.exit(main())
