"""The practice on PostgreSQL shared by several processes (issue 19): what one writes the others
see, the database enforces the unique keys, and overlapping imports neither duplicate nor lose rows.

Each Store is its own DuckDB instance with its own PostgreSQL connections, as a server process
is; the import race runs the real CLI in two processes."""

from __future__ import annotations

import itertools
import json
import os
import threading
from contextlib import nullcontext
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TypeVar
from pathlib import Path

import pytest

from core import clock
from core.access import auth
from core.commands.cli import main
from core.db import store as store_module
from core.db.store import SESSION_LOGS, Store, StoreError, WriteConflict, display_location, next_id, utcnow
from core.practice.clients import create_client
from core.sessions import checks, imports
from core.sessions.checks import log_session
from core.sharing import checkin, links
from tests.postgres_server import PostgresServer
from tests.practice_rows import add_assignment

REPO = Path(__file__).resolve().parents[3]
T = TypeVar("T")


@pytest.fixture
def url(postgres: PostgresServer, postgres_templates: dict[str, str]) -> str:
    return postgres.new_database(postgres_templates["library"])


@pytest.fixture
def two_servers(url: str) -> Iterator[tuple[Store, Store]]:
    with Store(url) as one, Store(url) as other:
        yield one, other


def test_a_write_through_one_server_shows_in_the_other_and_changes_its_version(two_servers) -> None:
    one, other = two_servers
    before = other.version
    assert other.version == before                       # reading the version is not a change
    create_client(one, {"code": "C7", "display_name": "Ines Roth"}, "cli")
    assert other.scalar("SELECT display_name FROM clients WHERE code = 'C7'") == "Ines Roth"
    assert other.version != before and other.version == one.version


def test_reads_rollbacks_and_derived_writes_leave_the_version(two_servers) -> None:
    one, other = two_servers
    before = other.version
    one.rows("SELECT * FROM clients")
    with pytest.raises(RuntimeError), one.transaction() as cur:
        cur.execute("INSERT INTO audit_log (event_at, actor, action) VALUES (?, 'cli', 'x')", [utcnow()])
        raise RuntimeError("rolled back")
    with one.transaction(changes_data=False):
        pass
    assert other.version == before


def test_a_link_revoked_in_one_server_no_longer_opens_in_the_other(two_servers) -> None:
    one, other = two_servers
    auth.create_first_owner(one, "ana", "owner-password-long")
    link = links.create_link(one, "ana", "practice", base="https://desk.example.org")
    token = link.url.split("share=", 1)[1]
    assert links.open_link(other, token) is not None
    assert links.revoke(one, "ana", link.id)
    assert links.open_link(other, token) is None


def test_usernames_are_unique_in_the_database_itself(two_servers) -> None:
    one, other = two_servers
    insert = "INSERT INTO users (id, username, role, created_at) VALUES (?, 'ana', 'owner', ?)"
    with one.transaction() as cur:
        cur.execute(insert, [next_id(cur, "staff_user_id_seq"), utcnow()])
    with pytest.raises(WriteConflict, match="already saved"), other.transaction() as cur:
        cur.execute(insert, [next_id(cur, "staff_user_id_seq"), utcnow()])      # no check in Python: the key refuses it
    assert one.scalar("SELECT count(*) FROM users") == 1


def test_share_token_hashes_are_unique_in_the_database_itself(two_servers) -> None:
    one, other = two_servers
    insert = ("INSERT INTO share_links (id, token_sha256, scope_kind, deidentify, created_by, created_at, expires_at)"
              " VALUES (?, 'same-hash', 'practice', FALSE, 'ana', ?, ?)")
    with one.transaction() as cur:
        cur.execute(insert, [next_id(cur, "share_link_id_seq"), utcnow(), utcnow()])
    with pytest.raises(WriteConflict), other.transaction() as cur:
        cur.execute(insert, [next_id(cur, "share_link_id_seq"), utcnow(), utcnow()])


def test_an_edit_that_lost_a_race_fails_with_a_clear_message(two_servers) -> None:
    one, other = two_servers
    client = create_client(one, {"code": "C8", "display_name": "Old name"}, "cli")
    with pytest.raises(WriteConflict, match="at the same moment"), other.transaction() as cur:
        cur.execute("SELECT display_name FROM clients WHERE id = ?", [client.id]).fetchall()  # its snapshot
        with one.transaction() as theirs:
            theirs.execute("UPDATE clients SET display_name = 'Theirs' WHERE id = ?", [client.id])
        cur.execute("UPDATE clients SET display_name = 'Mine' WHERE id = ?", [client.id])
    assert one.scalar("SELECT display_name FROM clients WHERE id = ?", [client.id]) == "Theirs"


def _cli(url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ROUTINE_DESK_DB": url}
    return subprocess.Popen([sys.executable, "-m", "core.commands.cli", *args, "--json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _practice_with_files(url: str, folder: Path, with_ids: bool = True) -> list[Path]:
    """Three clients on a routine, and two files that overlap: 150 sessions with the same ids (none
    when not ``with_ids``), and 20 sessions without an id whose natural key (client, day, values)
    is the same in both."""
    with Store(url) as s:
        for code in ("C1", "C2", "C3"):
            client = create_client(s, {"code": code, "display_name": f"Client {code}"}, "cli")
            add_assignment(s, client.id, "desk-micro-breaks", date(2024, 1, 1), weeks=20)
    header = "client,session_date,exercises_done,pain_before,session_id,notes\n"
    with_id = [f"C{1 + i % 3},2024-03-{1 + i % 28:02d},3,{i % 10},s{i},with id" for i in range(450 if with_ids else 0)]
    plain = [f"C1,2024-02-{d:02d},2,4,,plain" for d in range(1, 21)]
    files = []
    for name, rows in (("a.csv", with_id[:300] + plain), ("b.csv", plain + with_id[150:])):
        (folder / name).write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
        files.append(folder / name)
    return files


def _assert_each_session_once(url: str, results: list[dict], with_ids: bool = True) -> None:
    ids = 450 if with_ids else 0
    assert sum(r["accepted"] for r in results) == ids + 20
    assert sum(r["duplicates"] for r in results) == ids // 3 + 20
    with Store(url) as s:
        assert s.scalar("SELECT count(*) FROM session_logs") == ids + 20
        assert s.scalar("SELECT count(DISTINCT source_session_id) FROM session_logs") == ids
        assert s.scalar("SELECT count(DISTINCT id) FROM session_logs") == ids + 20
        assert s.scalar("SELECT sum(sessions) FROM assignment_day_figures") == ids + 20  # the read model agrees


@pytest.mark.parametrize("with_ids", [True, False], ids=["session ids", "natural keys only"])
def test_imports_checked_at_the_same_moment_by_two_servers_store_each_session_once(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_ids: bool) -> None:
    """Two servers import overlapping files at the same moment (neither goes on from its checks
    before the other has checked too or waits its turn): each session is stored once."""
    files, picked = _practice_with_files(url, tmp_path, with_ids), itertools.count()
    results = _stored_by_two_servers_at_once(url, monkeypatch, lambda server: imports.import_file(
        server, files[next(picked)], imports.ImportOptions(source="form")).as_json())
    _assert_each_session_once(url, results, with_ids)


def test_an_import_is_stored_at_its_first_try_while_another_server_keeps_importing(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each time one server has checked its rows, another server imports a file of its own (or waits
    its turn to). The session logs' turn is held from the checks to the commit (Store.turn), so the
    first import is stored at its first try; checks outdated by every commit of a busy second
    server refused it until it gave up."""
    files = _practice_with_files(url, tmp_path)
    small = []
    for n in range(checks.CHECK_ATTEMPTS + 1):
        small.append(tmp_path / f"busy{n}.csv")
        small[-1].write_text(f"client,session_date,exercises_done,session_id\nC2,2024-03-05,3,busy{n}\n")
    checked, other_went, tries = threading.Semaphore(0), threading.Semaphore(0), itertools.count(1)
    real_check_rows, real_take_turn = imports.check_rows, store_module.take_turn

    def check_then_let_the_other_import(cur, opts, progress):
        counts = real_check_rows(cur, opts, progress)
        if threading.current_thread().name == "patient":
            next(tries)
            checked.release()
            assert other_went.acquire(timeout=60), "the other server neither imported nor waited its turn"
        return counts

    def take_turn_and_say_if_waiting(cur, name: str) -> None:
        if name == SESSION_LOGS and threading.current_thread().name == "busy":
            free = cur.execute("SELECT * FROM postgres_query('rd', 'SELECT pg_try_advisory_xact_lock("
                               f"hashtext(''{SESSION_LOGS}''))')").fetchone()[0]
            if not free:
                other_went.release()       # it waits its turn: the patient server goes on
        real_take_turn(cur, name)

    monkeypatch.setattr(imports, "check_rows", check_then_let_the_other_import)
    monkeypatch.setattr(store_module, "take_turn", take_turn_and_say_if_waiting)
    monkeypatch.setattr(imports, "WRITE_LOCK", nullcontext())
    outcome: dict[str, object] = {}

    def patient() -> None:
        try:
            with Store(url) as server:
                outcome["patient"] = imports.import_file(server, files[0], imports.ImportOptions(source="form")).accepted
        except BaseException as exc:  # reported below
            outcome["patient"] = exc
        finally:
            other_went.release()

    def busy() -> None:
        with Store(url) as server:
            for path in small:
                if not checked.acquire(timeout=60) or "patient" in outcome:
                    return
                imports.import_file(server, path, imports.ImportOptions(source="busy"))
                other_went.release()      # stored: the patient server goes on, its checks now outdated

    threads = [threading.Thread(target=patient, name="patient"), threading.Thread(target=busy, name="busy")]
    for thread in threads:
        thread.start()
    threads[0].join(timeout=240)
    checked.release()
    threads[1].join(timeout=60)
    assert outcome["patient"] == 320, outcome
    assert next(tries) == 2               # checked once


def _stored_by_two_servers_at_once(url: str, monkeypatch: pytest.MonkeyPatch, write: Callable[[Store], T]) -> list[T]:
    """``write`` run at the same moment by two servers (two threads, each with its own Store; the
    in-process lock that makes one server's writers take turns is taken away, as between processes).

    Neither goes on from its checks before the other has checked too or is waiting for its turn to
    store session logs (``take_turn``): a writer that does not take that turn stores on checks made
    before the other's commit, while one that does is let through, since the other waits for it."""
    arrived, met = set(), threading.Condition()
    real_check_rows, real_take_turn = checks.check_rows, store_module.take_turn

    def arrive() -> None:
        with met:
            arrived.add(threading.get_ident())
            met.notify_all()

    def check_then_meet(*args, **kwargs):
        counts = real_check_rows(*args, **kwargs)
        arrive()
        with met:
            assert met.wait_for(lambda: len(arrived) == 2, timeout=60), "the other server never checked"
        return counts

    def take_turn_and_say_so(cur, name: str) -> None:
        if name == SESSION_LOGS:
            arrive()
        real_take_turn(cur, name)

    for module in (checks, imports):   # manual entry and check-ins, and imports
        monkeypatch.setattr(module, "check_rows", check_then_meet)
        monkeypatch.setattr(module, "WRITE_LOCK", nullcontext())
    monkeypatch.setattr(store_module, "take_turn", take_turn_and_say_so)
    outcomes: dict[int, T | BaseException] = {}

    def run(n: int) -> None:
        try:
            with Store(url) as server:
                outcomes[n] = write(server)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            outcomes[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failed = [o for o in outcomes.values() if isinstance(o, BaseException)]
    assert sorted(outcomes) == [0, 1] and not failed, failed
    return [outcomes[0], outcomes[1]]


@pytest.fixture
def client_on_a_routine(url: str) -> int:
    """Client C1 on the desk micro-breaks routine since three days ago."""
    with Store(url) as s:
        client = create_client(s, {"code": "C1", "display_name": "Client C1"}, "cli")
        add_assignment(s, client.id, "desk-micro-breaks", clock.today() - timedelta(days=3), weeks=4)
    return client.id


def test_the_same_session_typed_into_two_servers_at_once_is_stored_once(
        url: str, client_on_a_routine: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Manual entry has no session id: the natural key (client, date, routine, values) is the only
    guard, and no unique index holds it, so the writers must check again after the other's commit."""
    session = {"client": "C1", "session_date": clock.today(), "routine": "desk-micro-breaks",
               "exercises_done": 3, "pain_before": 4, "notes": "typed twice"}
    outcomes = _stored_by_two_servers_at_once(url, monkeypatch, lambda s: log_session(s, session, "cli"))
    assert sorted(o.status for o in outcomes) == ["accepted", "duplicate"]
    assert next(o for o in outcomes if o.status == "duplicate").log_id is None
    with Store(url) as s:
        assert s.scalar("SELECT count(*) FROM session_logs") == 1
        assert s.scalar("SELECT sum(sessions) FROM assignment_day_figures") == 1   # the read model agrees


def test_one_check_in_sent_to_two_servers_at_once_is_stored_once(
        url: str, client_on_a_routine: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check-in page load submitted twice at the same moment (a double tap through two replicas):
    one session, and the other told it is already saved with that session's id, not an error."""
    with Store(url) as s:
        token = checkin.create_checkin(s, "cli", "C1", base="https://desk.example.org").url.split("checkin=", 1)[1]
        routine = checkin.todays_routines(s, checkin.resolve_checkin(s, token), clock.today())[0]
    entry = checkin.CheckinEntry(key=checkin.new_idempotency_key(), session_date=clock.today(),
                                 routine_id=routine.routine_id, exercises_done=2,
                                 exercises_prescribed=len(routine.exercises), pain_before=3.0)
    outcomes = _stored_by_two_servers_at_once(url, monkeypatch,
                                              lambda s: checkin.submit_checkin(s, token, entry, clock.today()))
    assert sorted(o.status for o in outcomes) == ["accepted", "duplicate"]
    assert outcomes[0].log_id == outcomes[1].log_id is not None
    with Store(url) as s:
        assert s.scalar("SELECT count(*) FROM session_logs") == 1
        assert s.scalar("SELECT count(*) FROM checkin_submissions") == 1


def test_imports_through_the_cli_show_in_a_running_server(url: str, tmp_path: Path) -> None:
    files = _practice_with_files(url, tmp_path)
    with Store(url) as server:
        before = server.version
        runs = [_cli(url, "logs", "import", str(f), "--source", "form") for f in files]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert server.version != before
        assert server.scalar("SELECT count(*) FROM session_logs") == 470
    _assert_each_session_once(url, [json.loads(out) for out, _ in outputs])


def test_a_url_is_shown_without_its_password_and_a_key_is_refused() -> None:
    assert display_location("postgresql://desk:s3cret@db.example.org/rd") == "postgresql://desk:***@db.example.org/rd"
    assert display_location("var/routine-desk.duckdb") == "var/routine-desk.duckdb"
    with pytest.raises(StoreError, match="ROUTINE_DESK_DB_KEY"):
        Store("postgresql://desk:s3cret@127.0.0.1:1/rd", encryption_key="k")


def test_a_server_that_cannot_be_reached_says_so_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql://desk:s3cret@127.0.0.1:1/rd")
    assert "s3cret" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def _run_cli(capsys: pytest.CaptureFixture, *args: str) -> str:
    """``routine-desk ARGS --json`` in this process (the concurrent imports use real processes)."""
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_same_demo_gives_the_same_reports_on_both_stores(postgres: PostgresServer, tmp_path: Path, capsys) -> None:
    url = postgres.new_database()
    demo = ["--demo", "--clients", "24", "--days", "60", "--seed", "11", "--as-of", "2025-06-30"]
    made = {db: json.loads(_run_cli(capsys, "init", "--db", db, *demo)) for db in (url, str(tmp_path / "demo.duckdb"))}
    assert made[url]["demo"] == made[str(tmp_path / "demo.duckdb")]["demo"]
    for report in ("adherence", "symptoms", "alerts"):
        on_postgres, on_file = (_run_cli(capsys, "report", report, "--db", db, "--as-of", "2025-06-30")
                                for db in (url, str(tmp_path / "demo.duckdb")))
        assert json.loads(on_postgres) == json.loads(on_file), report
        assert json.loads(on_file)  # not an empty report


def test_migrate_store_continues_every_sequence_where_the_file_would(postgres: PostgresServer, tmp_path: Path,
                                                                     capsys) -> None:
    """After the copy, PostgreSQL draws next the id the file would have drawn next (no id skipped:
    the same import into either stores the same ids)."""
    source = tmp_path / "practice.duckdb"
    _run_cli(capsys, "init", "--db", str(source), "--demo", "--clients", "6", "--days", "20", "--seed", "3",
             "--as-of", "2025-06-30")
    url = postgres.new_database()
    _run_cli(capsys, "migrate-store", "--from", str(source), "--to", url)
    with Store(source) as file, Store(url) as pg:
        for sequence in ("session_log_id_seq", "client_id_seq", "assignment_id_seq"):
            on_file, on_postgres = next_id(file.cursor(), sequence), next_id(pg.cursor(), sequence)
            assert on_postgres == on_file > 1, sequence


def test_migrate_store_copies_a_practice_and_verifies_every_table(postgres: PostgresServer, tmp_path: Path,
                                                                  capsys) -> None:
    source = tmp_path / "practice.duckdb"
    _run_cli(capsys, "init", "--db", str(source), "--demo", "--clients", "12", "--days", "40", "--seed", "5",
             "--as-of", "2025-06-30")
    url = postgres.new_database()
    copied = json.loads(_run_cli(capsys, "migrate-store", "--from", str(source), "--to", url))
    assert copied["verified"] and copied["tables"]["session_logs"]["rows"] > 100
    reports = [json.loads(_run_cli(capsys, "report", "adherence", "--db", db, "--as-of", "2025-06-30")) for db in (str(source), url)]
    assert reports[0] == reports[1] and reports[0]
    with Store(source) as file, Store(url) as pg:
        for table in ("clients", "session_logs", "assignment_day_figures", "users"):
            assert file.scalar(f"SELECT count(*) FROM {table}") == copied["tables"][table]["rows"]
        # PostgreSQL plans the first queries with statistics of the copied rows
        statistics = "SELECT count(*) FROM pg_stats WHERE schemaname = ''public'' AND tablename = ''session_logs''"
        assert pg.scalar(f"SELECT * FROM postgres_query('rd', '{statistics}')") > 0
        client = create_client(pg, {"code": "NEW1", "display_name": "After the move"}, "cli")  # ids go on
        assert client.id > file.scalar("SELECT max(id) FROM clients")
    assert main(["migrate-store", "--from", str(source), "--to", url]) == 2
    assert "already holds a practice" in capsys.readouterr().err
    assert json.loads(_run_cli(capsys, "migrate-store", "--from", str(source), "--to", url, "--force"))["verified"]
