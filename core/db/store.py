"""The one place that owns the DuckDB connection, the schema migrations and transactions.

The database file is ATTACHed under the catalog name ``rd`` rather than opened directly. That keeps
every query catalog-agnostic, so the same SQL can later run against a PostgreSQL catalog attached
through the postgres extension, and it is how DuckDB opens encrypted files.

DuckDB connections must not be shared across threads; Streamlit runs each session's script on its
own thread. A process therefore holds one ``Store`` (one DuckDB instance) and every read or write
takes a fresh cursor from it.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.db.figures import FIGURE_TABLES, keep_figures, raise_generations, rebuild_figures

CATALOG = "rd"
# An in-memory database beside the practice for derived tables that several cursors of one
# computation read (core.analytics.metrics: each pipeline's tables, in a schema of their own).
WORK_DB = "rd_work"
DEFAULT_DB_PATH = Path("var") / "routine-desk.duckdb"
DUCKDB_VERSION = "v1.5.5"

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_STORES = itertools.count(1)  # numbers the Store objects of this process (see Store.version)
# DuckDB's working memory, past which it spills to disk beside the database file: a chain-sized
# practice's overview needs far less, and it keeps a 1,000,000-row import under 1 GB in all
# (docs/sessions/import-format.md). ROUTINE_DESK_MEMORY_LIMIT overrides it, e.g. "2GB".
MEMORY_LIMIT = "512MB"

# What a write may change, for the read model kept with it (Store.transaction). A transaction
# that does not say what it touches counts as touching everything.
LIBRARY = "library"                  # exercises, routines and their versions, content files
PRACTICE = "practice"                # clients, assignments and their pauses, safety reviews
SESSION_LOGS = "session_logs"        # session logs (imports, manual entry, undo)
ACKNOWLEDGEMENTS = "acknowledgements"  # acknowledged alerts
ACCOUNTS = "accounts"                # staff accounts, sign-ins, share links, audit log
IMPORTS = "imports"                  # saved column mappings and the quarantine
AREAS: tuple[str, ...] = (LIBRARY, PRACTICE, SESSION_LOGS, ACKNOWLEDGEMENTS, ACCOUNTS, IMPORTS)
# Writes to these keep the read model (core/db/figures.py) in their transaction; migrations that
# create or change a figure table rebuild it.
FIGURE_INPUTS: tuple[str, ...] = (PRACTICE, SESSION_LOGS)
FIGURE_MIGRATIONS: tuple[int, ...] = (10, 11)
# Safety findings kept per assignment (core/practice/assignments.py): a write to the library or to
# some clients' practice data drops the rows it may change; the next reader checks them again.
KEPT_SAFETY_CHECKS = "assignment_safety_checks"

# What callers outside core.db name of DuckDB, so that only this package imports it.
Cursor = duckdb.DuckDBPyConnection       # a cursor from Store.cursor() or Store.transaction()
DatabaseError = duckdb.Error             # any error the database raises
WriteConflict = duckdb.TransactionException  # two transactions changed the same rows


class StoreError(RuntimeError):
    """Raised when the database cannot be opened or migrated."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def default_db_path() -> Path:
    """The database path from ``ROUTINE_DESK_DB``, else ``var/routine-desk.duckdb``."""
    return Path(os.environ.get("ROUTINE_DESK_DB") or DEFAULT_DB_PATH)


def utcnow() -> datetime:
    """Naive UTC timestamp: TIMESTAMP columns hold UTC without a zone, portably."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def load_migrations() -> list[Migration]:
    """Migrations shipped in ``core/db/migrations``, ordered by their three-digit version."""
    found = []
    for entry in resources.files("core.db.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version number: {versions}")
    return found


def _extension_file(package: str, file_name: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent / "extensions" / DUCKDB_VERSION / file_name


def load_extensions(conn: duckdb.DuckDBPyConnection) -> None:
    """Load the signed httpfs and postgres extensions from their PyPI packages, offline.

    The postgres build's entry point is named after ``postgres_scanner``, so DuckDB only accepts it
    from a file of that name: we copy it once into a per-user cache directory.
    """
    conn.execute(f"LOAD '{_extension_file('duckdb_extension_httpfs', 'httpfs.duckdb_extension')}'")
    source = _extension_file("duckdb_extension_postgres", "postgres.duckdb_extension")
    cache = Path(tempfile.gettempdir()) / f"routine-desk-ext-{os.getuid()}" / DUCKDB_VERSION
    target = cache / "postgres_scanner.duckdb_extension"
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".partial-{os.getpid()}"
        shutil.copyfile(source, partial)
        partial.replace(target)
    conn.execute(f"LOAD '{target}'")


class Store:
    """A migrated Routine Desk database.

    Use ``query``/``rows``/``scalar`` for reads and ``transaction()`` for writes; each call takes
    its own cursor, so a Store can be shared by all threads of a process.
    """

    def __init__(self, path: Path | str, *, encryption_key: str | None = None) -> None:
        self.path = Path(path)
        self._number = next(_STORES)
        self._writes = 0  # committed transactions (see version)
        self._lock = threading.Lock()
        self._keeps_figures = False  # from the end of migrate(): the figure tables exist then
        self._conn = duckdb.connect(":memory:")
        try:
            load_extensions(self._conn)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            limit = os.environ.get("ROUTINE_DESK_MEMORY_LIMIT") or MEMORY_LIMIT
            self._conn.execute(f"SET memory_limit = {sql_literal(limit)}")
            self._conn.execute(f"SET temp_directory = {sql_literal(str(self.path) + '.tmp')}")
            if encryption_key:  # what spills of an encrypted practice is encrypted too
                self._conn.execute("SET temp_file_encryption = true")
            options = f" (ENCRYPTION_KEY {sql_literal(encryption_key)})" if encryption_key else ""
            self._conn.execute(f"ATTACH {sql_literal(str(self.path))} AS {CATALOG}{options}")
            self._conn.execute(f"ATTACH ':memory:' AS {WORK_DB}")
            self._conn.execute(f"USE {CATALOG}")
        except duckdb.Error as exc:
            self._conn.close()
            if "Could not set lock" in str(exc):
                raise StoreError(
                    f"cannot open database {self.path}: another process is using it (DuckDB allows one"
                    " writer process per file). Stop the other Routine Desk server or command, or set"
                    f" ROUTINE_DESK_DB to another file. Details: {exc}"
                ) from exc
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        try:
            from core.db.integrity import check_readable  # (it imports this module)
            check_readable(self._conn, self.path)  # damage found now says "restore", not a traceback later
            self.migrate()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open(cls, path: Path | str | None = None) -> Store:
        """Open (creating and migrating when needed) the database at ``path`` or the default."""
        key = os.environ.get("ROUTINE_DESK_DB_KEY") or None
        return cls(path or default_db_path(), encryption_key=key)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cursors and transactions -------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared instance, pointed at our catalog (USE is per cursor)."""
        cur = self._conn.cursor()
        cur.execute(f"USE {CATALOG}")
        return cur

    @contextmanager
    def transaction(self, cursor: duckdb.DuckDBPyConnection | None = None, *,
                    touches: Sequence[str] = AREAS, clients: Iterable[int] | None = None,
                    changes_data: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT; any exception rolls everything back.

        ``cursor``: run the transaction on a cursor the caller holds (from ``cursor()``), e.g. one
        whose TEMP tables were filled before BEGIN; the caller closes it. ``touches``: the AREAS
        the transaction may change (all by default). ``clients``: when it touches the practice or
        the session logs, the only clients whose data it may change (None: any); their figures in
        the read model (core/db/figures.py) are computed again before COMMIT. A set the block may
        still add to (a client it creates); empty for a write that keeps the figures itself (one
        that only adds session logs: figures.add_sessions) or that changes none. ``changes_data``
        False: it only keeps derived rows that any reader would compute the same (the safety
        findings a reader keeps), so ``version`` stays and no cached page goes stale.
        """
        unknown = set(touches) - set(AREAS)
        if unknown or not touches:
            raise ValueError(f"transaction(touches=...) takes some of {AREAS}, not {sorted(unknown) or touches}")
        cur = cursor or self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            if self._keeps_figures:  # the read model, in the write's own transaction
                if set(touches) & set(FIGURE_INPUTS):
                    keep_figures(cur, clients)
                _drop_kept_safety_checks(cur, touches, clients)
                if changes_data:
                    _raise_generations(cur, touches, clients)
        except BaseException:
            cur.execute("ROLLBACK")
            if cursor is None:
                cur.close()
            raise
        cur.execute("COMMIT")
        if changes_data:
            with self._lock:
                self._writes += 1
        if cursor is None:
            cur.close()

    @property
    def version(self) -> str:
        """Changes with every committed write of data through this Store, and differs between Store objects.

        Every write goes through ``transaction()`` and DuckDB lets only one process open a file for
        writing, so nothing changes this database without changing ``version``: caches of derived
        figures (the pages' st.cache_data) key on it instead of re-reading tables.
        """
        return f"{self._number}.{self._writes}"

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def records(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name, NULL as None (a DataFrame would turn it into NaN)."""
        cur = self.cursor()
        try:
            cur.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            cur.close()

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.scalar("SELECT coalesce(max(version), 0) FROM schema_version"))

    def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply every migration the database has not recorded, in order, each in its own
        transaction (by set, not by "newer than the max", so a migration that arrived after a
        higher-numbered one is still applied).

        Returns the versions applied. Data already in the database is kept: migrations only add.
        """
        with self.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
        done = {v for (v,) in self.rows("SELECT version FROM schema_version")}
        self._keeps_figures = False
        applied = []
        for migration in migrations if migrations is not None else load_migrations():
            if migration.version in done:
                continue
            try:
                with self.transaction() as cur:
                    cur.execute(migration.sql)
                    cur.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)",
                        [migration.version, migration.name, utcnow()],
                    )
            except duckdb.Error as exc:
                raise StoreError(
                    f"migration {migration.version:03d}_{migration.name} failed: {exc}"
                ) from exc
            applied.append(migration.version)
        if set(applied) & set(FIGURE_MIGRATIONS):  # a migration that changes a summary rebuilds it
            self.rebuild_figures()
        self._keeps_figures = True
        return applied

    def rebuild_figures(self) -> dict[str, int]:
        """Every table of the read model (core/db/figures.py) recomputed from the logs, in one
        transaction; returns the rows of each. The writes keep them current: this is for a
        migration that changes a summary, and for ``routine-desk rebuild-figures``."""
        with self.transaction(touches=FIGURE_INPUTS, clients=()) as cur:
            rebuild_figures(cur)
            return {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in FIGURE_TABLES}


def _drop_kept_safety_checks(cur: duckdb.DuckDBPyConnection, touches: Sequence[str],
                             clients: Iterable[int] | None) -> None:
    """Forget the kept safety findings a write to the library or the practice may change: those of
    the clients it names, or all of them (a library change names no client)."""
    if not set(touches) & {LIBRARY, PRACTICE}:
        return
    if clients is None:
        cur.execute(f"DELETE FROM {KEPT_SAFETY_CHECKS}")
    elif clients:
        ids = sorted({int(c) for c in clients})
        cur.execute(f"DELETE FROM {KEPT_SAFETY_CHECKS} WHERE client_id IN (SELECT unnest(CAST(? AS BIGINT[])))", [ids])


def _raise_generations(cur: duckdb.DuckDBPyConnection, touches: Sequence[str],
                       clients: Iterable[int] | None) -> None:
    """Mark the period figures a write may change as out of date (core/db/figures.raise_generations):
    those of the clients it names, or every client's for a write naming none (a library change)."""
    if not set(touches) & {LIBRARY, PRACTICE, SESSION_LOGS}:
        return
    safety = bool(set(touches) & {LIBRARY, PRACTICE})
    if clients is None:
        raise_generations(cur, None, safety=safety)
    elif clients:
        raise_generations(cur, "SELECT unnest(CAST(? AS BIGINT[]))", [sorted({int(c) for c in clients})], safety=safety)


def sql_literal(text: str) -> str:
    """A string as a SQL literal, for the few statements that cannot take a parameter (DDL, views)."""
    return "'" + text.replace("'", "''") + "'"


def reserve_ids(cur: Cursor, sequence: str, n: int) -> int:
    """The first of ``n`` consecutive values taken from ``sequence`` for one bulk insert, which
    numbers its rows itself, in its own order: a parallel INSERT would draw ``nextval`` out of row
    order, and some figures break ties by session-log id.

    This is the dialect-specific part. DuckDB cannot advance a sequence by n, so it draws n values
    in one statement; they are consecutive because the caller is the only writer (DuckDB allows one
    writing process, and in it the caller holds the write lock). A PostgreSQL store would take the
    block with ``setval`` under a lock of its own."""
    if n < 1:
        raise ValueError(f"reserve at least one id, not {n}")
    first, last = cur.execute(
        f"SELECT min(v), max(v) FROM (SELECT nextval({sql_literal(sequence)}) AS v FROM range(?))", [n]).fetchone()
    if last - first + 1 != n:
        raise RuntimeError(f"{sequence}: another writer drew ids during a bulk insert ({first}..{last} for {n})")
    return int(first)
