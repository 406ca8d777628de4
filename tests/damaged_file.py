"""Damage a database file the way a failing disk or a torn copy does, for the integrity tests."""

from __future__ import annotations

from pathlib import Path

from core.db.store import Store

FILE_HEADERS = 3 * 4096  # DuckDB's file header and its two database headers precede block 0


def fill_audit_log(path: Path, rows: int = 20_000) -> None:
    """Enough rows that the audit log has blocks of its own, written to the file (checkpointed)."""
    with Store(path) as s:
        with s.transaction() as cur:
            cur.execute("INSERT INTO audit_log (event_at, actor, action, detail)"
                        " SELECT now()::TIMESTAMP, 'cli', 'filler', 'entry ' || i FROM range(?) r(i)", [rows])
        s.rows("CHECKPOINT")


def damage_table(path: Path, table: str = "audit_log") -> None:
    """Overwrite bytes at the start of the first block holding ``table``'s data: the next read of
    that block fails its checksum."""
    with Store(path) as s:
        block = s.scalar(f"SELECT min(block_id) FROM pragma_storage_info('{table}') WHERE block_id >= 0")
        block_size = s.scalar("SELECT block_size FROM pragma_database_size() WHERE database_name = 'rd'")
    with path.open("r+b") as f:
        f.seek(FILE_HEADERS + block * block_size + 100)
        f.write(bytes(range(256)) * 4)
