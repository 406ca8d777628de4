"""Damage found when the database opens, and writes the disk refused (core/db/integrity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import integrity
from core.db.integrity import DatabaseDamaged
from core.db.store import Store, StoreError, WriteConflict
from tests.damaged_file import damage_table, fill_audit_log


def test_damage_mid_file_is_found_when_the_database_opens(db_path: Path) -> None:
    fill_audit_log(db_path)
    damage_table(db_path, "audit_log")
    with pytest.raises(DatabaseDamaged) as found:
        Store(db_path)
    message = str(found.value)
    assert "table audit_log cannot be read" in message
    assert "Restore the last backup" in message
    assert f"routine-desk restore <backup folder> --db {db_path} --force" in message


def test_a_sound_database_passes_and_every_table_is_read(db_path: Path) -> None:
    fill_audit_log(db_path, rows=3_000)
    with Store(db_path) as s:
        checked = {t.name: t for t in integrity.check_readable(s.cursor(), db_path)}
        tables = {name for (name,) in s.rows("SELECT table_name FROM duckdb_tables() WHERE database_name = 'rd'")}
    assert set(checked) == tables
    assert all(t.read_in_full for name, t in checked.items() if name != "audit_log")   # all under 2,048 rows


def test_start_up_reads_the_first_block_of_a_table_and_a_full_check_all_of_it(db_path: Path) -> None:
    """The start-up check costs the same on a chain-sized practice as on a new one: 2,048 rows a table."""
    fill_audit_log(db_path, rows=3_000)
    with Store(db_path) as s:
        quick = {t.name: t for t in integrity.check_readable(s.cursor(), db_path)}
        full = {t.name: t for t in integrity.check_everything(s.cursor(), db_path)}
    assert (quick["audit_log"].rows, quick["audit_log"].read_in_full) == (2_048, False)
    assert (full["audit_log"].rows, full["audit_log"].read_in_full) == (3_000, True)


@pytest.mark.parametrize(("message", "kind"), [
    ("cannot open database /x/rd.duckdb: another process is using it (DuckDB allows one writer", "busy"),
    ("cannot open database /x/rd.duckdb: IO Error: Corrupt database file: computed checksum 1", "damaged"),
    ('cannot open database /x/rd.duckdb: Catalog Error: Cannot open encrypted database "/x/rd.duckdb" without a key',
     "key"),
    ("cannot open database /x/rd.duckdb: Invalid Input Error: Wrong encryption key used to open the database file",
     "key"),
    ("migration 009_x failed: Parser Error", "other"),
])
def test_why_a_database_did_not_open_is_told_apart(message: str, kind: str) -> None:
    assert integrity.open_failure(StoreError(message)) == kind


def test_a_full_disk_is_told_apart_from_other_database_errors() -> None:
    assert integrity.is_storage_failure(WriteConflict('Failed to commit: Could not write file "x.wal": File too large'))
    assert integrity.is_storage_failure(OSError(28, "No space left on device"))
    assert not integrity.is_storage_failure(WriteConflict("Conflict on tuple deletion!"))
    assert not integrity.is_storage_failure(RuntimeError("could not write"))


def test_only_damage_met_while_opening_gets_the_restore_advice() -> None:
    header = StoreError("cannot open database /x/rd.duckdb: IO Error: Corrupt database file: computed checksum 1")
    assert integrity.explain_open_failure(header, "/x/rd.duckdb").startswith(
        "the database /x/rd.duckdb is damaged: its header or catalog cannot be read")
    for other in ("cannot open database /x/rd.duckdb: Invalid Input Error: Wrong encryption key used",
                  "cannot open database /x/rd.duckdb: another process is using it (DuckDB allows one writer"):
        assert integrity.explain_open_failure(StoreError(other), "/x/rd.duckdb") == other
    found = DatabaseDamaged("the database /x/rd.duckdb is damaged: table audit_log cannot be read")
    assert integrity.explain_open_failure(found, "/x/rd.duckdb") == str(found)
