"""`make load`: N staff sessions at once against `streamlit run` servers, at the websocket level.

Each session speaks Streamlit's own protocol, as the browser does, with the streamlit package's
protobuf classes: it opens ``/_stcore/stream``, sends a ``BackMsg`` ``rerun_script`` with the
widget states a person would have set, and reads ``ForwardMsg``s until ``script_finished``. A
"page time" is that round trip: from the rerun sent to the page fully drawn by the server. No
browser renders anything, so N sessions cost the server what N people would, without N Chromiums
on the same two cores.

Each session signs in as its own therapist, then, until the time is up, loops: the practice
overview, a client's page, assigns a routine to the next of its own clients, and imports a
small CSV (uploaded as the browser does: a file-URL request, then an HTTP PUT) on the Data page.
At the end every write is checked in the database: each assignment and each imported session a
session made is there exactly once.

Several servers (``--servers N``) share one practice on PostgreSQL (``--postgres``: a throwaway
cluster from Debian's package, tests/postgres_server.py, with the practice copied in by
``migrate-store``), as a chain deploys it (docs/deploy.md); each session stays with one server, as a
reverse proxy with sticky sessions keeps it. A DuckDB file allows one server.

Not a test: it measures and prints; it exits 1 when a page errored or a write is missing or doubled.
Usage: python tests/load/load.py [--sessions 20] [--seconds 120] [--db PATH] [--postgres [--servers 2]]
(default: a fresh demo practice in a temporary folder; the servers run with XSRF protection off so
the uploads need no browser cookie).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402
import requests  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from core import clock  # noqa: E402
from core.db.store import Store, utcnow  # noqa: E402
from tests.live_server import serve  # noqa: E402

PASSWORD = "load-test password 1"
CLIENTS_PER_SESSION = 400
SITE = "main"  # every session's therapist and fresh clients are at the practice's first site
PAGE_TIMEOUT = 300.0
EARLY_FOR_RERUN = 2       # ScriptFinishedStatus: the script stopped for a rerun it asked for


@dataclass
class Widget:
    id: str
    kind: str
    label: str
    disabled: bool


@dataclass
class Drawn:
    """What one run of the script drew: its widgets, errors shown, and tracebacks."""

    widgets: list[Widget] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    def widget(self, key: str) -> Widget | None:
        """A widget by its key (Streamlit ends a keyed widget's id with ``-<key>``)."""
        return next((w for w in self.widgets if w.id.endswith(f"-{key}")), None)


class StaffSession:
    """One staff member's browser tab, as far as the server can tell."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.pages: dict[str, str] = {}          # url path -> page script hash
        self.session_id = ""
        self.ws: Any = None

    async def open(self) -> None:
        self.ws = await connect(self.base.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                max_size=256 * 2 ** 20, open_timeout=PAGE_TIMEOUT, ping_interval=None)

    async def run(self, page: str = "", query: str = "", states: list[WidgetState] = ()) -> tuple[float, Drawn]:
        """Rerun ``page`` with ``states``; seconds until the server finished drawing, and what it drew."""
        message = BackMsg()
        client = message.rerun_script
        client.query_string = query
        client.page_name = page
        client.page_script_hash = self.pages.get(page, "")
        client.widget_states.widgets.extend(states)
        started = time.perf_counter()
        await self.ws.send(message.SerializeToString())
        drawn = Drawn()
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), PAGE_TIMEOUT)
            forward = ForwardMsg()
            forward.ParseFromString(raw)
            kind = forward.WhichOneof("type")
            if kind == "new_session":
                self.session_id = forward.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":
                self.pages.update({p.url_pathname: p.page_script_hash for p in forward.navigation.app_pages})
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                _collect(forward.delta.new_element, drawn)
            elif kind == "script_finished":
                if forward.script_finished == EARLY_FOR_RERUN:
                    drawn = Drawn()                # the script reruns itself: what counts is the next run
                    continue
                return time.perf_counter() - started, drawn

    async def upload(self, widget: Widget, name: str, content: bytes) -> WidgetState:
        """Upload a file as the browser's file uploader does; the widget state that names it."""
        message = BackMsg()
        request_id = uuid.uuid4().hex
        message.file_urls_request.request_id = request_id
        message.file_urls_request.file_names.append(name)
        message.file_urls_request.session_id = self.session_id
        await self.ws.send(message.SerializeToString())
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await asyncio.wait_for(self.ws.recv(), PAGE_TIMEOUT))
            if forward.WhichOneof("type") == "file_urls_response" and forward.file_urls_response.response_id == request_id:
                urls = forward.file_urls_response.file_urls[0]
                break
        upload_url = urls.upload_url if urls.upload_url.startswith("http") else self.base + urls.upload_url
        sent = await asyncio.to_thread(requests.put, upload_url, files={"file": (name, content, "text/csv")},
                                       timeout=PAGE_TIMEOUT)
        sent.raise_for_status()
        state = WidgetState(id=widget.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, name, len(content)
        info.file_urls.CopyFrom(urls)
        return state


def _collect(element: Any, drawn: Drawn) -> None:
    kind = element.WhichOneof("type")
    if kind is None:
        return
    body = getattr(element, kind)
    if kind == "exception":
        drawn.exceptions.append(f"{body.type}: {body.message}")
    elif kind == "alert" and body.format == 1:          # Alert.ERROR
        drawn.alerts.append(body.body)
    elif kind == "alert" and body.format == 2:          # Alert.WARNING (a rejected row, for one)
        drawn.warnings.append(body.body)
    widget_id = getattr(body, "id", "")
    if isinstance(widget_id, str) and widget_id:
        drawn.widgets.append(Widget(widget_id, kind, getattr(body, "label", ""), getattr(body, "disabled", False)))


def text(widget: Widget, value: str) -> WidgetState:
    return WidgetState(id=widget.id, string_value=value)


def click(widget: Widget) -> WidgetState:
    return WidgetState(id=widget.id, trigger_value=True)


@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    assigned: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))   # user -> client codes
    imported: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))   # user -> session ids

    def page(self, name: str, seconds: float, drawn: Drawn, who: str) -> Drawn:
        self.times[name].append(seconds)
        self.errors += [f"{who} {name}: {e}" for e in drawn.exceptions]
        return drawn


def small_import(user: str, round_no: int, codes: list[str], day: str) -> bytes:
    lines = ["client,session_date,routine,exercises_done,pain_before,session_id"]
    lines += [f"{code},{day},daily-psoas-routine,3,2,{user}-{round_no}-{i}" for i, code in enumerate(codes)]
    return ("\n".join(lines) + "\n").encode()


async def staff_loop(base: str, user: str, clients: list[str], until: float, tally: Tally) -> None:
    """Sign in, then overview, a client's page, an assignment and a small import, until ``until``."""
    session = StaffSession(base, user)
    await session.open()
    seconds, drawn = await session.run()
    form = [w for w in drawn.widgets if w.kind == "button"]
    name, password = drawn.widget("login_username"), drawn.widget("login_password")
    if not (name and password and form):
        tally.errors.append(f"{user}: no sign-in form")
        return
    seconds, drawn = await session.run(states=[text(name, user), text(password, PASSWORD), click(form[-1])])
    tally.page("sign in", seconds, drawn, user)
    day = (clock.today() - timedelta(days=1)).isoformat()
    round_no = 0
    while time.monotonic() < until and clients:
        round_no += 1
        tally.page("overview", *(await session.run("overview")), user)
        code = clients.pop(0)
        seconds, drawn = await session.run("clients", f"client={code}")
        tally.page("client page", seconds, drawn, user)
        go = drawn.widget("assign_go")
        if go is None or go.disabled:
            tally.errors.append(f"{user}: no enabled Assign button for {code}")
        else:
            seconds, drawn = await session.run("clients", f"client={code}", [click(go)])
            tally.page("assign", seconds, drawn, user)
            if drawn.alerts:
                tally.errors.append(f"{user}: assigning {code}: {drawn.alerts[0]}")
            else:
                tally.assigned[user].append(code)
        seconds, drawn = await session.run("data")
        tally.page("data page", seconds, drawn, user)
        uploader = drawn.widget("data_upload")
        if uploader is None:
            tally.errors.append(f"{user}: no uploader on the Data page")
            continue
        content = small_import(user, round_no, [code], day)
        uploaded = await session.upload(uploader, f"{user}-{round_no}.csv", content)
        seconds, drawn = await session.run("data", states=[uploaded])
        tally.page("upload", seconds, drawn, user)
        go = drawn.widget("data_import")
        if go is None:
            tally.errors.append(f"{user}: no Import button after the upload ({drawn.alerts[:1]})")
            continue
        seconds, drawn = await session.run("data", states=[uploaded, click(go)])
        tally.page("import", seconds, drawn, user)
        if drawn.alerts or drawn.warnings:
            tally.errors.append(f"{user}: importing {code}: {(drawn.alerts + drawn.warnings)[0]}")
        else:
            tally.imported[user].append(f"{user}-{round_no}-0")
    await session.ws.close()


def prepare(db: Path | str, sessions: int) -> dict[str, list[str]]:
    """A therapist account per session, and fresh clients for each to assign and log for."""
    from core.access.auth import create_user
    from core.access.sites import set_member_sites

    now = utcnow()
    plan: dict[str, list[str]] = {}
    with Store(db) as store:
        for s in range(sessions):
            user = f"load{s:02d}"
            if store.scalar("SELECT count(*) FROM users WHERE username = ?", [user]) == 0:
                create_user(store, "cli", user, "therapist", PASSWORD)
            set_member_sites(store, "cli", user, [SITE])  # a chain's therapist works at one site
            codes = [f"L{s:02d}{run}{n:03d}" for run in [uuid.uuid4().hex[:4].upper()] for n in range(CLIENTS_PER_SESSION)]
            with store.transaction() as cur:
                cur.executemany("INSERT INTO clients (code, display_name, site, created_at, updated_at)"
                                " VALUES (?, ?, ?, ?, ?)", [[c, f"Load client {c}", SITE, now, now] for c in codes])
            plan[user] = codes
    return plan


def check_writes(db: Path | str, tally: Tally) -> list[str]:
    """Each assignment and each imported session the sessions made: exactly once in the database."""
    problems = []
    with Store(db) as store:
        for user, codes in tally.assigned.items():
            found = dict(store.rows(
                "SELECT c.code, count(*) FROM assignments a JOIN clients c ON c.id = a.client_id"
                " WHERE c.code IN (SELECT unnest(?::VARCHAR[])) GROUP BY c.code", [codes]))
            problems += [f"assignment for {c}: {found.get(c, 0)} stored" for c in codes if found.get(c, 0) != 1]
        for user, ids in tally.imported.items():
            found = dict(store.rows(
                "SELECT source_session_id, count(*) FROM session_logs WHERE source_session_id IN"
                " (SELECT unnest(?::VARCHAR[])) GROUP BY ALL", [ids]))
            problems += [f"session {i}: {found.get(i, 0)} stored" for i in ids if found.get(i, 0) != 1]
    return problems


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def drive(bases: list[str], plan: dict[str, list[str]], seconds: float) -> Tally:
    """Every session's loop at once, session i on server i mod N (sticky, as behind a proxy)."""
    tally = Tally()
    until = time.monotonic() + seconds
    results = await asyncio.gather(*(staff_loop(bases[i % len(bases)], user, codes, until, tally)
                                     for i, (user, codes) in enumerate(plan.items())),
                                   return_exceptions=True)
    tally.errors += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return tally


def practice_or_demo(given: Path | None, folder: str) -> Path:
    """The practice given, else a fresh demo practice created in ``folder``."""
    if given is not None:
        return given
    from core.commands.cli import main as cli

    db = Path(folder) / "demo.duckdb"
    if cli(["init", "--db", str(db), "--demo"]) != 0:
        raise SystemExit("could not create the demo practice")
    return db


@contextmanager
def on_postgres(db: Path) -> Iterator[str]:
    """The practice ``db`` copied into a throwaway PostgreSQL (verified by migrate-store); its URL."""
    from core.db.migrate_store import migrate_store
    from tests.postgres_server import postgres_bin, running_postgres

    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("--postgres needs Debian's postgresql package (make postgresql)")
    with running_postgres(bin_dir) as server:
        url = server.new_database()
        migrate_store(str(db), url)
        yield url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--db", type=Path, help="a practice to load (it gets load accounts and clients)")
    parser.add_argument("--postgres", action="store_true",
                        help="serve the practice from a throwaway PostgreSQL (a copy of --db or the demo)")
    parser.add_argument("--servers", type=int, default=1, help="app servers sharing it (needs --postgres)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.servers > 1 and not args.postgres:
        parser.error("several servers share a practice on PostgreSQL only: add --postgres")
    with tempfile.TemporaryDirectory(prefix="rd-load-") as tmp, ExitStack() as stack:
        db: Path | str = practice_or_demo(args.db, tmp)
        if args.postgres:
            db = stack.enter_context(on_postgres(db))
        plan = prepare(db, args.sessions)
        os.environ["STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION"] = "false"   # read by the servers serve() starts
        with ExitStack() as servers:
            bases = [servers.enter_context(serve(db))[0] for _ in range(args.servers)]
            started = time.perf_counter()
            tally = asyncio.run(drive(bases, plan, args.seconds))
            wall = time.perf_counter() - started
        problems = check_writes(db, tally)
    every = [t for times in tally.times.values() for t in times]
    figures = {
        "sessions": args.sessions, "servers": args.servers, "store": "postgresql" if args.postgres else "duckdb",
        "seconds": round(wall, 1), "pages": len(every),
        "p50_s": round(statistics.median(every), 2) if every else None,
        "p95_s": round(percentile(every, 0.95), 2) if every else None,
        "by_page": {name: {"n": len(t), "p50_s": round(statistics.median(t), 2), "p95_s": round(percentile(t, 0.95), 2)}
                    for name, t in tally.times.items()},
        "errors": len(tally.errors), "assignments": sum(map(len, tally.assigned.values())),
        "imports": sum(map(len, tally.imported.values())), "lost_or_doubled_writes": len(problems),
    }
    print(json.dumps(figures, indent=2))
    for line in (tally.errors + problems)[:20]:
        print("  ", line)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if tally.errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
