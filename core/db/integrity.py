"""Whether the database file is sound: damage found when it opens, and writes the disk refused.

DuckDB keeps a checksum for every block and verifies it whenever the block is read, so damage
(random bytes mid-file, a torn copy) shows only when a query reaches the damaged block: without a
check at start-up a practice opens "fine" and a page fails later with a traceback. ``check_readable``
reads the catalog and the first ``FIRST_ROWS`` rows of every table (every column's first block)
when the database opens: a fixed, small cost that every Store open pays (each test, each CLI call),
whatever the practice's size. ``check_everything`` reads every block of every table
(``routine-desk check``, and before a backup is trusted).

A commit on a full disk fails, and the practice's data stays as it was: reads keep working. The
callers that must not stop because a write failed (sign-in, sign-out) tell such a failure apart
from other database errors with ``is_storage_failure``.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from typing import Literal

import duckdb

from core.db.store import CATALOG, StoreError

FIRST_ROWS = 2_048  # one vector: the first block of every column, all a start-up check reads of a table

# What DuckDB (and the operating system under it) say when a write cannot reach the disk.
_STORAGE_FAILURE = re.compile(
    r"no space left|disk (is )?full|file too large|could not write|failed to commit|quota exceeded"
    r"|read-only file system|could not (fsync|truncate|sync)",
    re.IGNORECASE)
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}

OpenFailure = Literal["busy", "damaged", "key", "other"]


class DatabaseDamaged(StoreError):
    """A block of the database file fails its checksum (or cannot be read): restore a backup."""


@dataclass(frozen=True)
class TableCheck:
    """One table as the check read it."""

    name: str
    rows: int
    read_in_full: bool


def restore_advice(path: object) -> str:
    """What the person who runs the server should do about a damaged database."""
    return ("Restore the last backup: stop the app, then run"
            f" `routine-desk restore <backup folder> --db {path} --force`"
            " (the Admin page and `routine-desk backup` make backups; see README, \"Backups\").")


def explain_open_failure(exc: StoreError, path: object) -> str:
    """What the person at the command line reads when the database does not open: the message, led
    by the restore advice when the file is damaged where DuckDB reads it first (its headers or
    catalog: the open fails before ``check_readable`` can run)."""
    if isinstance(exc, DatabaseDamaged) or open_failure(exc) != "damaged":
        return str(exc)
    return (f"the database {path} is damaged: its header or catalog cannot be read (a checksum is wrong, or it"
            f" is not a Routine Desk database at all). {restore_advice(path)} Details: {exc}")


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk refused a write (full, too large, read-only), as opposed to
    bad SQL, a write conflict or damage: the data already saved is still there to read."""
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return True
    if isinstance(exc, (duckdb.IOException, duckdb.TransactionException, duckdb.FatalException)):
        return bool(_STORAGE_FAILURE.search(str(exc)))
    return False


def _tables(conn: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables()"
        " WHERE database_name = ? AND NOT temporary ORDER BY schema_name, table_name", [catalog]).fetchall()


def _read_table(conn: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str,
                full: bool) -> int:
    """Read every column of the table (all rows, or the first ``FIRST_ROWS``); returns rows read. Hashing
    the whole row makes DuckDB load, and so checksum, every column's blocks."""
    name = ".".join('"' + part.replace('"', '""') + '"' for part in (catalog, schema, table))
    source = name if full else f"(SELECT * FROM {name} LIMIT {FIRST_ROWS})"
    # fetchall, not fetchone: a result left unread keeps the connection's transaction open, and an
    # open transaction stops DuckDB from checkpointing after later updates
    return int(conn.execute(f"SELECT count(*), sum(hash(t)) FROM {source} AS t").fetchall()[0][0])


def _check(conn: duckdb.DuckDBPyConnection, catalog: str, path: object, everything: bool) -> list[TableCheck]:
    checked: list[TableCheck] = []
    reading = "the catalog"
    try:
        for schema, table in _tables(conn, catalog):
            reading = f"table {table}"
            rows = _read_table(conn, catalog, schema, table, everything)
            checked.append(TableCheck(table, rows, everything or rows < FIRST_ROWS))
    except (duckdb.IOException, duckdb.InternalException, duckdb.SerializationException,
            duckdb.FatalException) as exc:
        raise DatabaseDamaged(
            f"the database {path} is damaged: {reading} cannot be read (a checksum or a structure is"
            f" wrong). {restore_advice(path)} Details: {exc}") from exc
    return checked


def check_readable(conn: duckdb.DuckDBPyConnection, path: object, catalog: str = CATALOG) -> list[TableCheck]:
    """The start-up check (``Store`` runs it before migrating): raises ``DatabaseDamaged``, which
    says to restore the last backup and how, when the catalog or a table cannot be read."""
    return _check(conn, catalog, path, everything=False)


def check_everything(conn: duckdb.DuckDBPyConnection, path: object, catalog: str = CATALOG) -> list[TableCheck]:
    """Every block of every table read and checksummed; raises ``DatabaseDamaged`` like
    ``check_readable``. Seconds on a chain-sized practice."""
    return _check(conn, catalog, path, everything=True)


def open_failure(exc: StoreError) -> OpenFailure:
    """Why the database could not be opened, in a word pages can explain without showing the
    message itself (it names files and processes, which visitors must not see)."""
    text = str(exc)
    if re.search(r"encrypt|ROUTINE_DESK_DB_KEY|wrong key", text, re.IGNORECASE):
        return "key"  # before "damaged": a wrong key reads as a failed checksum
    if isinstance(exc, DatabaseDamaged) or re.search(r"corrupt|checksum|not a valid duckdb", text, re.IGNORECASE):
        return "damaged"
    if "another process is using it" in text or "Could not set lock" in text:
        return "busy"
    return "other"

