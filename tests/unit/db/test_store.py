from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pytest

from core.db.store import Cursor, Migration, Store, StoreError, load_migrations, next_id, reserve_ids


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


def test_kept_safety_rows_are_dropped_when_their_checks_gain_generations(db_path: Path) -> None:
    """Migration 014 on a practice whose kept safety findings (migration 012) have rows."""
    conn = duckdb.connect(str(db_path))
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
    for migration in load_migrations():
        if migration.version < 14:
            conn.execute(migration.sql)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, now())", [migration.version, migration.name])
    conn.execute("INSERT INTO assignment_safety_checks VALUES (1, 1, DATE '2026-03-02', DATE '2026-03-09')")
    conn.execute("INSERT INTO assignment_safety_findings VALUES (1, 1, 'r', NULL, 'warn', 'why', DATE '2026-03-02')")
    conn.close()
    with Store(db_path) as upgraded:
        assert upgraded.schema_version() == load_migrations()[-1].version
        assert upgraded.scalar("SELECT count(*) FROM assignment_safety_checks") == 0
        assert upgraded.scalar("SELECT count(*) FROM assignment_safety_findings") == 0


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
        before = next_id(cur, "session_log_id_seq")
        first = reserve_ids(cur, "session_log_id_seq", 300_000)
        after = next_id(cur, "session_log_id_seq")
        assert (first, after) == (before + 1, before + 300_001)
        with pytest.raises(ValueError, match="at least one"):
            reserve_ids(cur, "session_log_id_seq", 0)


def test_extensions_load_offline_from_their_packages(store: Store, store_kind: str) -> None:
    """httpfs always (encrypted files); the postgres extension only for a practice on PostgreSQL."""
    loaded = {n for (n,) in store.rows("SELECT extension_name FROM duckdb_extensions() WHERE loaded")}
    assert "httpfs" in loaded
    assert ("postgres_scanner" in loaded) == (store_kind == "postgres")


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


# -- version --------------------------------------------------------------------------------------------------------

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


def test_a_write_that_keeps_only_derived_rows_leaves_the_version(db_path: Path) -> None:
    with Store(db_path) as store:
        first = store.version
        with store.transaction(clients=(), changes_data=False) as cur:
            cur.execute("DELETE FROM assignment_safety_checks")
        assert store.version == first
        with store.transaction(clients=()) as cur:
            cur.execute("DELETE FROM assignment_safety_checks")
        assert store.version != first


def test_a_transaction_names_only_known_areas(db_path: Path) -> None:
    with Store(db_path) as store, pytest.raises(ValueError, match="touches"), store.transaction(touches=("sessions",)):
        pass


def test_a_check_then_write_that_lost_a_race_is_run_again() -> None:
    from core.db.store import WriteConflict, again_on_conflict

    calls = []

    retries = []

    def write() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise WriteConflict("another server changed the same data at the same moment")
        return len(calls)

    assert again_on_conflict(write, on_retry=lambda: retries.append(len(calls))) == 3
    assert retries == [1, 2]  # before the second and the third try, none after the last
    calls.clear()
    with pytest.raises(WriteConflict):
        again_on_conflict(write, attempts=2)
    assert len(calls) == 2



@contextmanager
def _three_clients_figures(store: Store) -> Iterator[tuple[Cursor, str]]:
    """client_figures of clients 1, 2, 3 (last sessions 2026-03-01, 02, 03), and a cursor with an
    empty work schema (its name given) for copies, dropped at the end."""
    from core.db.store import WORK_DB

    with store.transaction(clients=()) as cur:
        cur.execute("INSERT INTO client_figures VALUES (1, ?), (2, ?), (3, ?)",
                    [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)])
    cur = store.cursor()
    try:
        cur.execute(f"CREATE SCHEMA {WORK_DB}.copied")
        yield cur, f"{WORK_DB}.copied"
    finally:
        cur.execute(f"DROP SCHEMA IF EXISTS {WORK_DB}.copied CASCADE")
        cur.close()


def test_a_few_clients_rows_are_copied_beside_a_computation_on_postgresql(store: Store, store_kind: str) -> None:
    """On PostgreSQL the large per-client tables' rows of the clients named are copied into a work
    schema under the same names (read there first); a DuckDB file reads its own blocks."""
    from core.db.store import CLIENT_ROW_TABLES, WORK_DB

    with _three_clients_figures(store) as (cur, schema):
        store.copy_client_rows(cur, schema, [3, 1])
        copied = {t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?"
                                            " AND schema_name = 'copied'", [WORK_DB]).fetchall()}
        if store_kind == "postgres":
            assert copied == set(CLIENT_ROW_TABLES)
            assert cur.execute(f"SELECT client_id, last_session FROM {schema}.client_figures"
                               " ORDER BY 1").fetchall() == [(1, date(2026, 3, 1)), (3, date(2026, 3, 3))]
            assert cur.execute(f"SELECT count(*) FROM {schema}.session_logs").fetchone() == (0,)
        else:
            assert copied == set()


def test_a_computation_copies_whole_tables_and_deletes_where_the_database_finds_the_rows(store: Store,
                                                                                         store_kind: str) -> None:
    """On PostgreSQL the smaller tables a computation reads often are copied whole beside it, and a
    fetch or a delete with a condition runs in PostgreSQL; a DuckDB file reads and deletes in place."""
    with _three_clients_figures(store) as (cur, schema):
        copied = store.copy_tables(cur, schema, ["client_figures"])
        assert copied == (("client_figures",) if store_kind == "postgres" else ())
        if copied:
            assert cur.execute(f"SELECT count(*) FROM {schema}.client_figures").fetchone() == (3,)
        store.rows_where(cur, f"{schema}.later", "client_figures", "client_id > 1", ["client_id"])
        assert cur.execute(f"SELECT * FROM {schema}.later ORDER BY 1").fetchall() == [(2,), (3,)]
    with store.transaction(clients=()) as cur:
        store.delete_where(cur, "client_figures", "last_session >= DATE '2026-03-02'", [1, 2])
    assert store.rows("SELECT client_id FROM client_figures ORDER BY 1") == [(1,), (3,)]
    with store.transaction(clients=()) as cur:
        store.delete_where(cur, "client_figures", "client_id = 3")
        store.delete_where(cur, "client_figures", "TRUE", [])
    assert store.rows("SELECT client_id FROM client_figures ORDER BY 1") == [(1,)]


def test_rows_on_days_holds_every_row_of_the_days_named_and_on_postgresql_only_their_clients_runs(
        store: Store, store_kind: str) -> None:
    """The stored rows of some clients' days: all of them on both stores. PostgreSQL finds them itself
    from each client's runs of consecutive calendar weeks holding its days, so another client's rows
    and a client's days outside its runs never come; a DuckDB file gives a view of the days' range,
    which the caller's join narrows."""
    from datetime import date

    from core.db.store import drop_kept, rows_on_days

    def day(n: int) -> date:
        return date(2026, 3, n)

    # client 1 on 03-01, 03-03, 03-20, 03-28; client 2 on 03-05; client 3 on 03-05.
    stored = [(1, day(1)), (1, day(3)), (1, day(20)), (1, day(28)), (2, day(5)), (3, day(5))]
    with store.transaction(clients=()) as cur:
        cur.executemany("INSERT INTO client_figures VALUES (?, ?)", [list(row) for row in stored])
    cur = store.cursor()
    try:
        # Named: client 1 on Sunday 03-01 and Sunday 03-08 (in consecutive weeks: one run, 03-01..03-08) and
        # on 03-20 (the week of 03-09 has none: a run of its own); client 2 on 03-05.
        cur.execute("CREATE TEMP TABLE named AS SELECT * FROM (VALUES (1, DATE '2026-03-01'), (1, DATE '2026-03-08'),"
                    " (1, DATE '2026-03-20'), (2, DATE '2026-03-05'), (1, DATE '2026-03-01')) t(client_id, day)")
        rows_on_days(cur, "found", "client_figures", "last_session", "SELECT client_id, day FROM named")
        found = set(cur.execute("SELECT client_id, last_session FROM found").fetchall())
        assert {(1, day(1)), (1, day(20)), (2, day(5))} <= found
        if store_kind == "postgres":  # 03-03 lies in client 1's first run; 03-28 in none; client 3 not named
            assert found == {(1, day(1)), (1, day(3)), (1, day(20)), (2, day(5))}
        else:  # the range 03-01..03-20
            assert found == {(1, day(1)), (1, day(3)), (1, day(20)), (2, day(5)), (3, day(5))}
        drop_kept(cur, "found")
        rows_on_days(cur, "found", "client_figures", "last_session", "SELECT client_id, day FROM named WHERE FALSE")
        assert cur.execute("SELECT count(*) FROM found").fetchone() == (0,)
        drop_kept(cur, "found")
    finally:
        cur.close()
