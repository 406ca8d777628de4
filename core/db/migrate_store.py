"""Copy a practice from its DuckDB file into PostgreSQL (``routine-desk migrate-store``), for a
practice that outgrows one machine (docs/deploy.md).

Both are migrated to the same schema first. The copy runs in one PostgreSQL transaction from the
file attached read-only beside it: every table, the sequences' positions (so new ids follow the
copied ones), nothing half-done. Then each table is read back on both sides and compared: its row
count and a checksum of all its rows (order-independent: the sum of each row's hash, computed by
DuckDB on both, so the same values give the same sum whatever the store).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.db.store import ACCOUNTS, ACKNOWLEDGEMENTS, CATALOG, IMPORTS, Cursor, Store, StoreError, is_postgres_url, sql_literal, sql_name

SOURCE = "rd_source"
# Kept by each store for itself: the migrations it applied, and its own change log (Store.version).
OWN_TABLES = ("schema_version", "data_changes")


class MigrateStoreError(StoreError):
    """The practice cannot be copied (what to do is in the message)."""


@dataclass(frozen=True)
class TableCopy:
    """One table as copied and read back: the same rows and checksum on both sides."""

    name: str
    rows: int
    checksum: str


def _columns(cur: Cursor, catalog: str, schema: str, table: str) -> list[str]:
    return [c for (c,) in cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ?"
        " ORDER BY column_index", [catalog, schema, table]).fetchall()]


def _fingerprint(cur: Cursor, table: str, columns: list[str]) -> tuple[int, str]:
    """Rows and the sum of their hashes, as DuckDB computes them for ``table`` (qualified)."""
    listed = ", ".join(sql_name(c) for c in columns)
    rows, total = cur.execute(
        f"SELECT count(*), coalesce(sum(CAST(hash({listed}) AS HUGEINT)), 0) FROM {table}").fetchone()
    return int(rows), format(int(total) & (2**128 - 1), "032x")


# Tables whose first rows the migrations write (the default site, the generations of every client):
# a new, empty practice already has them, and the copy replaces them like every other table's.
SEEDED_BY_MIGRATIONS = ("sites", "figure_generations")


def _practice_rows(store: Store, tables: list[str]) -> int:
    """Rows of the practice's own: what a new database holds from its migrations does not count."""
    return sum(int(store.scalar(f"SELECT count(*) FROM {sql_name(t)}")) for t in tables if t not in SEEDED_BY_MIGRATIONS)


def migrate_store(source: Path | str, target: str, *, force: bool = False) -> list[TableCopy]:
    """Copy the practice in the DuckDB file ``source`` into the PostgreSQL database ``target`` (a
    URL); returns each table's rows and checksum, verified equal on both sides. A target that holds
    a practice already is refused unless ``force`` (its rows are replaced)."""
    if not is_postgres_url(target):
        raise MigrateStoreError(f"--to takes a postgresql:// URL, not {target!r}")
    source = Path(source)
    if not source.is_file():
        raise MigrateStoreError(f"{source} is not a database file")
    key = os.environ.get("ROUTINE_DESK_DB_KEY") or None
    with Store(source, encryption_key=key) as practice:  # brings the file to the current schema
        tables = [t for t in practice.tables() if t not in OWN_TABLES]
    with Store(target) as store:
        missing = sorted(set(tables) - set(store.tables()))
        if missing:
            raise MigrateStoreError(f"the target lacks tables {missing}: is it a Routine Desk database of this version?")
        if not force and _practice_rows(store, tables):
            raise MigrateStoreError(f"{store.location} already holds a practice: give an empty database, or --force"
                                    " to replace everything in it")
        cur = store.cursor()
        try:
            options = f"READ_ONLY, ENCRYPTION_KEY {sql_literal(key)}" if key else "READ_ONLY"
            cur.execute(f"ATTACH {sql_literal(str(source))} AS {SOURCE} ({options})")
            try:
                _copy(store, cur, tables)
                copies = _verify(store, cur, tables)
                _analyze(store, cur, tables)
                return copies
            finally:
                cur.execute(f"DETACH {SOURCE}")
        finally:
            cur.close()


def _copy(store: Store, cur: Cursor, tables: list[str]) -> None:
    """Every table's rows and every sequence's position, in one transaction. The read model's
    tables are copied as they are (they are the file's, kept by its writes): the areas named leave
    them and the kept safety findings untouched."""
    with store.transaction(cur, touches=(ACCOUNTS, IMPORTS, ACKNOWLEDGEMENTS)):
        for table in tables:
            columns = ", ".join(sql_name(c) for c in _columns(cur, CATALOG, store.schema, table))
            cur.execute(f"DELETE FROM {sql_name(table)}")
            cur.execute(f"INSERT INTO {sql_name(table)} ({columns})"
                        f" SELECT {columns} FROM {SOURCE}.main.{sql_name(table)}")
        # A file's sequence, attached afresh, reports as last_value the value it draws next (DuckDB
        # loads a sequence starting at its counter): PostgreSQL's draws it next too (is_called false).
        for name, following in cur.execute(
                "SELECT sequence_name, last_value FROM duckdb_sequences()"
                " WHERE database_name = ? AND last_value IS NOT NULL", [SOURCE]).fetchall():
            statement = f"SELECT setval({sql_literal(name)}, {int(following)}, false)"
            cur.execute(f"SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(statement)})").fetchall()


def _analyze(store: Store, cur: Cursor, tables: list[str]) -> None:
    """PostgreSQL's statistics of the copied rows, gathered now: its first queries are planned with
    them (without, a fetch of a few clients' rows by index was planned as a scan of the whole table).
    Autovacuum would gather them only minutes later, and never in a database made from this one
    with CREATE DATABASE ... TEMPLATE (its counters start at zero)."""
    names = ", ".join(f"{store.schema}.{sql_name(t)}" for t in tables)
    cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)}, {sql_literal(f'ANALYZE {names}')})")


def _verify(store: Store, cur: Cursor, tables: list[str]) -> list[TableCopy]:
    """Each table read back from PostgreSQL and from the file: the same rows and checksum, or an error."""
    copies = []
    for table in tables:
        columns = _columns(cur, SOURCE, "main", table)
        copied = _fingerprint(cur, f"{CATALOG}.{store.schema}.{sql_name(table)}", columns)
        original = _fingerprint(cur, f"{SOURCE}.main.{sql_name(table)}", columns)
        if copied != original:
            raise MigrateStoreError(f"table {table} differs after the copy: {original[0]} rows in the file,"
                                    f" {copied[0]} in PostgreSQL (or their checksums differ)")
        copies.append(TableCopy(table, *copied))
    return copies
