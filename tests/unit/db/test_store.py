import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from core.db.store import Migration, Store, StoreError, load_migrations, reserve_ids


@contextmanager
def in_a_thread(work: Callable[[], Any]) -> Iterator[Future[Any]]:
    """``work`` started in another thread for the block (another page's run); leaving waits for it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(work)


def test_new_database_is_migrated_to_the_latest_version(db_path: Path) -> None:
    with Store(db_path) as store:
        latest = max(m.version for m in load_migrations())
        assert store.schema_version() == latest
        names = {n for (n,) in store.rows("SELECT name FROM schema_version")}
        assert {"library", "practice", "session_logs"} <= names


def test_opening_an_older_database_upgrades_it_and_keeps_its_data(db_path: Path) -> None:
    migrations = load_migrations()
    # A database written by the first release: only migration 001 applied, with data in it.
    conn = duckdb.connect(str(db_path))
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
    conn.execute(migrations[0].sql)
    conn.execute("INSERT INTO schema_version VALUES (1, 'library', now())")
    conn.execute(
        "INSERT INTO exercises (id, name, kind, position, per_side, steps_json, cues_json, mistakes_json,"
        " source_file, content_hash, updated_at) VALUES ('kept', 'Kept', 'mobility', 'standing', false,"
        " '[]', '[]', '[]', 'x.md', 'h', now())"
    )
    conn.close()
    with Store(db_path) as upgraded:
        assert upgraded.schema_version() == migrations[-1].version
        assert upgraded.scalar("SELECT name FROM exercises WHERE id = 'kept'") == "Kept"
        assert upgraded.scalar("SELECT count(*) FROM clients") == 0


def test_reopening_applies_nothing(db_path: Path) -> None:
    with Store(db_path):
        pass
    with Store(db_path) as again:
        assert again.migrate() == []


def test_a_failing_migration_is_rolled_back_and_named(db_path: Path) -> None:
    with Store(db_path) as store:
        before = store.schema_version()
        broken = Migration(before + 1, "broken", "CREATE TABLE half_done (a INTEGER); SELECT * FROM no_such_table;")
        with pytest.raises(StoreError, match=f"{before + 1:03d}_broken"):
            store.migrate([broken])
        assert store.schema_version() == before
        assert store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'") == 0


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as cur:
            cur.execute("INSERT INTO import_mappings (name, mapping_json, updated_at) VALUES ('form', '{}', now())")
            raise RuntimeError("crash mid-write")
    assert store.scalar("SELECT count(*) FROM import_mappings") == 0


def test_reserved_ids_are_a_block_the_sequence_then_continues_after(store: Store) -> None:
    with store.transaction() as cur:
        before = cur.execute("SELECT nextval('session_log_id_seq')").fetchone()[0]
        first = reserve_ids(cur, "session_log_id_seq", 300_000)
        after = cur.execute("SELECT nextval('session_log_id_seq')").fetchone()[0]
        assert (first, after) == (before + 1, before + 300_001)
        with pytest.raises(ValueError, match="at least one"):
            reserve_ids(cur, "session_log_id_seq", 0)


def test_extensions_load_offline_from_their_packages(store: Store) -> None:
    loaded = {n for (n,) in store.rows("SELECT extension_name FROM duckdb_extensions() WHERE loaded")}
    assert {"httpfs", "postgres_scanner"} <= loaded


def test_encrypted_database_cannot_be_read_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.duckdb"
    with Store(path, encryption_key="s3cret") as store:
        assert store.schema_version() > 0
    with pytest.raises(StoreError):
        Store(path)
    with Store(path, encryption_key="s3cret") as again:
        assert again.schema_version() > 0


def test_what_an_encrypted_database_spills_to_disk_is_encrypted_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROUTINE_DESK_MEMORY_LIMIT", "40MB")               # small, so the table spills
    path = tmp_path / "secret.duckdb"
    with Store(path, encryption_key="s3cret") as store:
        cur = store.cursor()
        cur.execute("CREATE TEMP TABLE notes AS SELECT 'client note ' || i AS note FROM range(3000000) t(i)")
        spilled = list((tmp_path / "secret.duckdb.tmp").glob("*"))
        assert spilled and not any(b"client note" in f.read_bytes() for f in spilled)
        assert cur.execute("SELECT count(*) FROM notes WHERE note = 'client note 7'").fetchone() == (1,)


def test_duckdb_memory_is_bounded_and_spills_beside_the_database(db_path: Path, monkeypatch) -> None:
    def settings(store: Store) -> tuple[str, str]:
        return store.rows("SELECT current_setting('memory_limit'), current_setting('temp_directory')")[0]

    monkeypatch.delenv("ROUTINE_DESK_MEMORY_LIMIT", raising=False)
    with Store(db_path) as store:
        assert settings(store) == ("488.2 MiB", str(db_path) + ".tmp")      # MEMORY_LIMIT, 512MB
    monkeypatch.setenv("ROUTINE_DESK_MEMORY_LIMIT", "2GiB")
    with Store(db_path) as store:
        assert settings(store)[0] == "2.0 GiB"
    monkeypatch.setenv("ROUTINE_DESK_MEMORY_LIMIT", "lots")
    with pytest.raises(StoreError, match="cannot open database"):
        Store(db_path)


def test_cursors_work_from_other_threads(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: store.scalar("SELECT count(*) FROM exercises"), range(8)))
    assert len(set(counts)) == 1 and counts[0] > 0


PORTABLE_TYPES = {"VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "DATE", "TIME", "TIMESTAMP", "BOOLEAN"}


def test_schema_uses_only_types_postgres_also_has(store: Store) -> None:
    """The same schema must be creatable in a PostgreSQL catalog attached through DuckDB."""
    used = {t for (t,) in store.rows(
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_catalog = 'rd'")}
    assert used <= PORTABLE_TYPES, used - PORTABLE_TYPES


def test_a_migration_that_arrived_late_is_still_applied(store: Store) -> None:
    later = Migration(901, "later", "CREATE TABLE t901 (a INTEGER)")
    earlier = Migration(900, "earlier", "CREATE TABLE t900 (a INTEGER)")
    assert store.migrate([later]) == [901]
    assert store.migrate([earlier, later]) == [900]
    assert store.scalar("SELECT count(*) FROM schema_version WHERE version IN (900, 901)") == 2


# -- version and remembered figures -----------------------------------------------------------------------------

def test_version_changes_with_each_committed_write_only(db_path: Path) -> None:
    with Store(db_path) as store:
        first = store.version
        assert store.scalar("SELECT count(*) FROM schema_version") > 0
        assert store.version == first                      # reads do not count
        with pytest.raises(RuntimeError), store.transaction() as cur:
            cur.execute("INSERT INTO import_mappings (name, mapping_json, updated_at) VALUES ('x', '{}', now())")
            raise RuntimeError("rolled back")
        assert store.version == first                      # nor do rolled-back writes
        with store.transaction() as cur:
            cur.execute("INSERT INTO import_mappings (name, mapping_json, updated_at) VALUES ('x', '{}', now())")
        assert store.version != first
    with Store(db_path) as again:                          # another Store object never shares a version
        assert again.version != first


def test_remember_computes_once_until_the_next_write(db_path: Path) -> None:
    calls = []

    def count_mappings() -> int:
        calls.append(1)
        return store.scalar("SELECT count(*) FROM import_mappings")

    with Store(db_path) as store:
        assert store.recall("n") is None
        assert store.remember("n", count_mappings) == 0
        assert store.remember("n", count_mappings) == 0
        assert store.recall("n") == 0
        assert len(calls) == 1
        with store.transaction() as cur:
            cur.execute("INSERT INTO import_mappings (name, mapping_json, updated_at) VALUES ('x', '{}', now())")
        assert store.recall("n") is None
        assert store.remember("n", count_mappings) == 1
        assert len(calls) == 2


def test_figures_of_some_clients_outlive_writes_that_name_only_others(db_path: Path) -> None:
    from core.db.store import PRACTICE, SESSION_LOGS

    with Store(db_path) as store:
        def remember_pages() -> None:
            store.remember("page 1", lambda: "one", depends_on=(SESSION_LOGS,), clients=(1,))
            store.remember("page 2", lambda: "two", depends_on=(SESSION_LOGS,), clients=[2, 3])
            store.remember("practice", lambda: "all", depends_on=(SESSION_LOGS,))

        def kept() -> list[str]:
            return [k for k in ("page 1", "page 2", "practice") if store.recall(k) is not None]

        remember_pages()
        with store.transaction(touches=(SESSION_LOGS,), clients=(3,)):
            pass
        assert kept() == ["page 1"]                     # client 3 changed: its page and the practice go
        remember_pages()
        with store.transaction(touches=(PRACTICE,), clients=(1,)):
            pass
        assert kept() == ["page 1", "page 2", "practice"]   # another area: nothing goes
        with store.transaction(touches=(SESSION_LOGS,), clients=set()) as _:
            pass
        assert kept() == ["page 1", "page 2"]           # a write naming no one still changes the practice
        with store.transaction(touches=(SESSION_LOGS,)):
            pass
        assert kept() == []                             # not saying which clients: every page goes


def test_remembered_figures_stay_until_a_write_touches_what_they_depend_on(db_path: Path) -> None:
    from core.db.store import ACCOUNTS, PRACTICE, SESSION_LOGS

    with Store(db_path) as store:
        assert store.remember("logs", lambda: "first", depends_on=(SESSION_LOGS,)) == "first"
        assert store.remember("programs", lambda: "first", depends_on=(PRACTICE,)) == "first"
        assert store.remember("all", lambda: "first") == "first"      # depends on every area
        with store.transaction(touches=(ACCOUNTS,)):
            pass
        assert store.recall("logs") == store.recall("programs") == "first" and store.recall("all") is None
        with store.transaction(touches=(PRACTICE,)):
            pass
        assert store.recall("logs") == "first" and store.recall("programs") is None
        with store.transaction():                       # not saying what it touches: everything
            pass
        assert store.recall("logs") is None
        with pytest.raises(ValueError, match="touches"), store.transaction(touches=("sessions",)):
            pass


def test_a_figure_being_computed_is_waited_for_not_computed_again(db_path: Path) -> None:
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_count() -> int:
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(timeout=10)
        return len(calls)

    with Store(db_path) as store:
        with in_a_thread(lambda: store.remember("n", slow_count)) as first:
            assert started.wait(timeout=10)
            threading.Timer(0.2, release.set).start()
            assert store.remember("n", slow_count) == 1     # asked while the first computes: waits for it
            assert first.result(timeout=10) == 1
        assert len(calls) == 1


def test_a_figure_started_before_a_write_is_not_handed_to_callers_after_it(db_path: Path) -> None:
    started, release, calls = threading.Event(), threading.Event(), []

    def count() -> int:
        calls.append(1)
        number = len(calls)
        if number == 1:
            started.set()
            release.wait(timeout=10)
        return number

    with Store(db_path) as store:
        with in_a_thread(lambda: store.remember("n", count)) as first:
            assert started.wait(timeout=10)
            with store.transaction():
                pass
            assert store.remember("n", count) == 2          # computed afresh, not the stale one
            release.set()
            assert first.result(timeout=10) == 1
        assert store.recall("n") == 2                    # the stale result was not kept


def test_an_error_reaches_every_caller_waiting_for_the_figure(db_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def failing() -> int:
        started.set()
        release.wait(timeout=10)
        raise RuntimeError("query failed")

    with Store(db_path) as store:
        with in_a_thread(lambda: store.remember("n", failing)) as first:
            assert started.wait(timeout=10)
            threading.Timer(0.2, release.set).start()
            with pytest.raises(RuntimeError, match="query failed"):
                store.remember("n", failing)
            with pytest.raises(RuntimeError, match="query failed"):
                first.result(timeout=10)
        assert store.recall("n") is None
        assert store.remember("n", lambda: 5) == 5       # nothing left half-computed
