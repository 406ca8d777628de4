"""The one place that owns the DuckDB connection, the schema migrations and transactions.

The practice is ATTACHed under the catalog name ``rd`` rather than opened directly: a DuckDB file
(the default, one process) or a PostgreSQL database given as a ``postgresql://`` URL (several app
servers and the CLI at once), through the pinned postgres extension. Every query is the same SQL
on both; the few dialect differences live here (``Dialect``): DDL on PostgreSQL goes through
``postgres_execute`` (migrations are written once, in DuckDB's dialect, and translated), ids come
from ``next_id``/``reserve_ids`` (the extension cannot INSERT ... RETURNING, nor see PostgreSQL's
sequences from DuckDB SQL), and PostgreSQL's conflict errors are raised as ``WriteConflict``.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from core.db.figures import FIGURE_TABLES, keep_figures, raise_generations, rebuild_figures

CATALOG = "rd"
# An in-memory database beside the practice for derived tables that several cursors of one
# computation read (core.analytics.metrics: each pipeline's tables, in a schema of their own).
WORK_DB = "rd_work"
T = TypeVar("T")
DEFAULT_DB_PATH = Path("var") / "routine-desk.duckdb"
DUCKDB_VERSION = "v1.5.5"

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# A PostgreSQL store: ROUTINE_DESK_DB / --db given as a URL rather than a file path.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

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
# The large tables whose rows belong to one client each (Store.copy_client_rows).
CLIENT_ROW_TABLES: tuple[str, ...] = ("session_logs", "session_attribution", "assignment_day_figures",
                                      "assignment_pain_figures", "client_figures")
# PostgreSQL: how many rows of data_changes (Store.version) are kept; a writer that checked its rows
# against an area whose newest change was pruned meanwhile checks them again (Store.transaction).
KEPT_CHANGES = 1000

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
    # NNN_name.postgres.sql: what PostgreSQL runs instead, for the rare migration whose DuckDB SQL
    # does not translate word for word (postgres_sql); None: the translated ``sql``.
    postgres: str | None = None

    def sql_for(self, postgres: bool) -> str:
        if not postgres:
            return self.sql
        return self.postgres if self.postgres is not None else postgres_sql(self.sql)


def is_postgres_url(location: object) -> bool:
    """Whether a ``--db`` / ``ROUTINE_DESK_DB`` value names a PostgreSQL database, not a file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def db_location(text: str) -> Path | str:
    """A ``--db`` / ``ROUTINE_DESK_DB`` value: a PostgreSQL URL kept as text (a Path would fold its
    ``//``), anything else a DuckDB file path."""
    return text if is_postgres_url(text) else Path(text)


def display_location(location: Path | str) -> str:
    """Where the practice is, for messages and JSON: a file path, or a URL without its password."""
    if not is_postgres_url(location):
        return str(location)
    return re.sub(r"^(postgres(?:ql)?://[^:@/]*):[^@/]*@", r"\1:***@", str(location))


def default_db_path() -> Path | str:
    """The practice from ``ROUTINE_DESK_DB`` (a file path or a PostgreSQL URL), else
    ``var/routine-desk.duckdb``."""
    return db_location(os.environ.get("ROUTINE_DESK_DB") or str(DEFAULT_DB_PATH))


def postgres_sql(sql: str) -> str:
    """A migration written in DuckDB's dialect, as PostgreSQL DDL: the portable types of the house
    rules are the same words on both but one (DuckDB's DOUBLE is PostgreSQL's DOUBLE PRECISION)."""
    return re.sub(r"\bDOUBLE\b(?!\s+PRECISION)", "DOUBLE PRECISION", sql)


def utcnow() -> datetime:
    """Naive UTC timestamp: TIMESTAMP columns hold UTC without a zone, portably."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def load_migrations() -> list[Migration]:
    """Migrations shipped in ``core/db/migrations``, ordered by their three-digit version."""
    found = []
    folder = resources.files("core.db.migrations")
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            twin = folder / entry.name.replace(".sql", ".postgres.sql")
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8"),
                                   twin.read_text(encoding="utf-8") if twin.is_file() else None))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version number: {versions}")
    return found


def _extension_file(package: str, file_name: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent / "extensions" / DUCKDB_VERSION / file_name


def load_extensions(conn: duckdb.DuckDBPyConnection, *, postgres: bool = False) -> None:
    """Load the signed httpfs extension (and postgres, for a practice on PostgreSQL) from their PyPI
    packages, offline. Only a PostgreSQL practice pays for the postgres extension (about 0.2 s of
    every open: each CLI command, each app server).

    The postgres build's entry point is named after ``postgres_scanner``, so DuckDB only accepts it
    from a file of that name: we copy it once into a per-user cache directory.
    """
    conn.execute(f"LOAD '{_extension_file('duckdb_extension_httpfs', 'httpfs.duckdb_extension')}'")
    if not postgres:
        return
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
        self.postgres = is_postgres_url(path)
        # path: the DuckDB file (None on PostgreSQL); location: where the practice is, safe to show.
        self.path: Path | None = None if self.postgres else Path(path)
        self.location = display_location(path)
        self.schema = "public" if self.postgres else "main"  # where the practice's tables are
        self._number = next(_STORES)
        self._writes = 0  # committed transactions (see version)
        self._lock = threading.Lock()
        self._keeps_figures = False  # from the end of migrate(): the figure tables exist then
        if self.postgres and encryption_key:
            raise StoreError("ROUTINE_DESK_DB_KEY encrypts a DuckDB file; a PostgreSQL practice is protected by"
                             " the database server (TLS, disk encryption): unset it for a postgresql:// store")
        self._conn = duckdb.connect(":memory:")
        try:
            load_extensions(self._conn, postgres=self.postgres)
            limit = os.environ.get("ROUTINE_DESK_MEMORY_LIMIT") or MEMORY_LIMIT
            self._conn.execute(f"SET memory_limit = {sql_literal(limit)}")
            self._conn.execute(f"SET temp_directory = {sql_literal(self._spill_directory())}")
            if self.postgres:
                self._conn.execute(f"ATTACH {sql_literal(str(path))} AS {CATALOG} (TYPE postgres)")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
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
                    f"cannot open database {self.location}: another process is using it (DuckDB allows one"
                    " writer process per file). Stop the other Routine Desk server or command, or set"
                    f" ROUTINE_DESK_DB to another file. Details: {exc}"
                ) from exc
            raise StoreError(f"cannot open database {self.location}: {_without_password(str(exc), path)}") from exc
        try:
            if not self.postgres:  # PostgreSQL checks its own pages; the file check reads DuckDB blocks
                from core.db.integrity import check_readable  # (it imports this module)
                check_readable(self._conn, self.path)  # damage found now says "restore", not a traceback later
            self.migrate()
        except BaseException:
            self._conn.close()
            raise

    def _spill_directory(self) -> str:
        """Where DuckDB spills what does not fit its memory: beside the file, or for PostgreSQL a
        local directory of this user's (the database server's disk is not ours to write)."""
        if self.path is not None:
            return str(self.path) + ".tmp"
        return str(Path(tempfile.gettempdir()) / f"routine-desk-spill-{os.getuid()}")

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
                    changes_data: bool = True,
                    unchanged_since: tuple[str, int] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
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
        ``unchanged_since``: (area, ``change_mark(area)`` taken before the caller's checks ran
        outside the transaction, holding the area's turn, ``Store.turn``); on PostgreSQL it raises
        ``ChecksOutdated`` if a writer that takes no turn committed there since the mark (the caller
        checks again). DuckDB has one writing process.

        On PostgreSQL, a transaction that lost a race (the same rows changed by another server, a
        unique key taken at the same moment) raises ``WriteConflict`` with a message for people.
        """
        unknown = set(touches) - set(AREAS)
        if unknown or not touches:
            raise ValueError(f"transaction(touches=...) takes some of {AREAS}, not {sorted(unknown) or touches}")
        cur = cursor or self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            if unchanged_since is not None and self.postgres:
                area, mark = unchanged_since
                if self.change_mark(area) != mark:
                    raise ChecksOutdated(f"another server or command changed the {area.replace('_', ' ')}"
                                         " while these rows were checked: check them again")
            yield cur
            if self._keeps_figures:  # the read model, in the write's own transaction
                if set(touches) & set(FIGURE_INPUTS):
                    keep_figures(cur, clients)
                if changes_data:
                    _raise_generations(cur, touches, clients)
                if changes_data and self.postgres:
                    _record_change(cur, touches)
            cur.execute("COMMIT")
        except BaseException as exc:
            _rollback(cur)
            if cursor is None:
                cur.close()
            if self.postgres and isinstance(exc, duckdb.Error) and not isinstance(exc, WriteConflict):
                conflict = postgres_conflict(exc)
                if conflict is not None:
                    raise conflict from exc
            raise
        if changes_data:
            with self._lock:
                self._writes += 1
                prune = self.postgres and self._writes % KEPT_CHANGES == 0
            if prune:
                _forget_old_changes(cur)
        if cursor is None:
            cur.close()

    @property
    def version(self) -> str:
        """Changes with every committed write of data, and differs between Store objects of a DuckDB file.

        Every write goes through ``transaction()``. DuckDB lets only one process open a file for
        writing, so a count of this Store's commits is the version. On PostgreSQL other servers
        and the CLI write too: every data-changing transaction adds a row to ``data_changes``
        (migration 070) in the same commit, and the version is the newest row's id, one indexed
        read (pushed down to PostgreSQL). Caches of derived figures (the pages' st.cache_data) key
        on it instead of re-reading tables.
        """
        if self.postgres:
            return f"pg.{self.change_mark()}"
        return f"{self._number}.{self._writes}"

    def change_mark(self, area: str | None = None) -> int:
        """PostgreSQL: the id of the newest committed change (of ``area``: one of AREAS), read
        outside any transaction, so it sees every process's commits. DuckDB: this process's count
        of commits (the only writer)."""
        if not self.postgres:
            return self._writes
        where = f" WHERE touches LIKE {sql_literal('%' + area + '%')}" if area else ""
        query = f"SELECT coalesce(max(id), 0) FROM data_changes{where}"
        return int(self.scalar(f"SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(query)})"))

    @contextmanager
    def turn(self, area: str) -> Iterator[None]:
        """Hold the turn of ``area``'s writers in every process for the block (PostgreSQL: an
        advisory lock held by a transaction of its own, on its own connection), so a writer checks
        its rows and stores them while no other process's writer of that area can: checking after
        an optimistic start lost every time to a busy second server. Waiting writers go in order.
        DuckDB has one writing process, whose writers take turns in it (core/sessions WRITE_LOCK)."""
        if not self.postgres:
            yield
            return
        holder = self.cursor()
        try:
            holder.execute("BEGIN TRANSACTION")
            take_turn(holder, area)
            yield
        finally:
            _rollback(holder)
            holder.close()

    def copy_client_rows(self, cur: duckdb.DuckDBPyConnection, schema: str,
                         client_ids: Iterable[int]) -> tuple[str, ...]:
        """On PostgreSQL, the rows of ``client_ids`` in the large per-client tables (CLIENT_ROW_TABLES)
        copied into ``schema`` under the same names, so a cursor that looks there first reads them
        locally: PostgreSQL finds a few clients' rows by its index (migration 085). A DuckDB file
        reads them from its own blocks: nothing to do. Returns the tables copied."""
        ids = sorted({int(c) for c in client_ids})
        if not self.postgres or not ids:
            return ()
        for table in CLIENT_ROW_TABLES:
            self.rows_where(cur, f"{schema}.{table}", table, f"client_id IN ({ids_sql(ids)})")
        return CLIENT_ROW_TABLES

    def copy_tables(self, cur: duckdb.DuckDBPyConnection, schema: str, tables: Iterable[str]) -> tuple[str, ...]:
        """On PostgreSQL, the practice's ``tables`` copied whole into ``schema`` under the same names,
        each fetched once, for a computation whose statements read them several times (the
        extension fetches a table again for each). A DuckDB file reads its own blocks: nothing to
        do. Returns the tables copied."""
        if not self.postgres:
            return ()
        for table in tables:
            self.rows_where(cur, f"{schema}.{table}", table, "TRUE")
        return tuple(tables)

    def rows_where(self, cur: duckdb.DuckDBPyConnection, name: str, table: str, condition: str,
                   columns: Sequence[str] = ()) -> None:
        """``name``: the rows of the practice's ``table`` where ``condition`` holds (SQL that both
        databases read alike, without parameters), with only ``columns`` when given. On a DuckDB
        file a view, which costs less than a copy for a few reads; on PostgreSQL a table fetched
        once, the condition run there (with its indexes), since the extension fetches the whole
        table for every statement that reads it through a view."""
        chosen = ", ".join(sql_name(c) for c in columns) or "*"
        if self.postgres:
            query = f"SELECT {chosen} FROM {self.schema}.{table} WHERE {condition}"
            cur.execute(f"CREATE TABLE {name} AS SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(query)})")
        else:
            cur.execute(f"CREATE VIEW {name} AS SELECT {chosen} FROM {CATALOG}.{self.schema}.{table} WHERE {condition}")

    def delete_where(self, cur: duckdb.DuckDBPyConnection, table: str, condition: str,
                     client_ids: Sequence[int] | None = None) -> None:
        """Delete the rows of the practice's ``table`` where ``condition`` holds (SQL that both
        databases read alike, without parameters) and, when given, whose client is one of
        ``client_ids``, in the cursor's transaction. On PostgreSQL the statement runs there: a
        DELETE through the extension first fetches the whole table to find the rows."""
        if self.postgres:
            chosen = "" if client_ids is None else f" AND client_id IN ({ids_sql(client_ids)})"
            statement = f"DELETE FROM {self.schema}.{table} WHERE {condition}{chosen}"
            cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)}, {sql_literal(statement)})")
        elif client_ids is None:
            cur.execute(f"DELETE FROM {CATALOG}.{self.schema}.{table} WHERE {condition}")
        else:  # a list parameter: DuckDB plans a long literal list far more slowly
            cur.execute(f"DELETE FROM {CATALOG}.{self.schema}.{table} WHERE {condition}"
                        " AND client_id IN (SELECT unnest(CAST(? AS BIGINT[])))", [[int(c) for c in client_ids]])

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

    def tables(self) -> list[str]:
        """The practice's tables, by name (DuckDB's ``main`` schema, PostgreSQL's ``public``)."""
        return [t for (t,) in self.rows(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary"
            " AND schema_name = ? ORDER BY table_name", [CATALOG, self.schema])]

    def schema_version(self) -> int:
        return int(self.scalar("SELECT coalesce(max(version), 0) FROM schema_version"))

    def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply every migration the database has not recorded, in order, each in its own
        transaction (by set, not by "newer than the max", so a migration that arrived after a
        higher-numbered one is still applied).

        Returns the versions applied. Data already in the database is kept: migrations only add.
        """
        self._keeps_figures = False
        with self.transaction() as cur:
            self._run_ddl(cur, "CREATE TABLE IF NOT EXISTS schema_version ("
                               " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
        self._clear_catalog_cache()
        done = {v for (v,) in self.rows("SELECT version FROM schema_version")}
        applied = []
        for migration in migrations if migrations is not None else load_migrations():
            if migration.version in done:
                continue
            try:
                with self.transaction() as cur:
                    self._run_ddl(cur, migration.sql_for(self.postgres))
                    cur.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)",
                        [migration.version, migration.name, utcnow()],
                    )
            except duckdb.Error as exc:
                self._clear_catalog_cache()
                if self.postgres and migration.version in {v for (v,) in self.rows("SELECT version FROM schema_version")}:
                    continue  # another server migrated the same database at the same moment
                raise StoreError(
                    f"migration {migration.version:03d}_{migration.name} failed: {exc}"
                ) from exc
            self._clear_catalog_cache()
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

    def _run_ddl(self, cur: duckdb.DuckDBPyConnection, sql: str) -> None:
        """Schema statements: DuckDB runs them itself; PostgreSQL receives them whole through the
        extension (which refuses CREATE SEQUENCE in an attached catalog), in the open transaction."""
        if self.postgres:
            cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)}, {sql_literal(sql)})")
        else:
            cur.execute(sql)

    def _clear_catalog_cache(self) -> None:
        """After DDL sent to PostgreSQL, DuckDB forgets the tables it knew (it reads them again)."""
        if self.postgres:
            self._conn.execute("CALL pg_clear_cache()")


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


def _without_password(text: str, location: object) -> str:
    """An error message of the postgres extension, which may quote the URL, with its password hidden."""
    return text.replace(str(location), display_location(location)) if is_postgres_url(location) else text


def sql_name(name: str) -> str:
    """A table or column name quoted for SQL (the same on DuckDB and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def again_on_conflict(write: Callable[[], T], attempts: int = 3, on_retry: Callable[[], None] = lambda: None) -> T:
    """Run ``write``, a check-then-write (bringing the library in line with data/ at open, storing
    checked session logs), again when it lost a race to another process's write on PostgreSQL:
    checking again then usually finds what the other process did. ``on_retry`` runs before each new
    try; the last try's WriteConflict is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except WriteConflict:
            if attempt == attempts:
                raise
            on_retry()
    raise ValueError(f"try at least once, not {attempts} times")


def ids_sql(ids: Iterable[int]) -> str:
    """Ids as a SQL list for ``IN (...)``, for statements that cannot take a list parameter (views,
    statements sent to PostgreSQL); ``NULL`` for none, which no row matches."""
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def sql_literal(text: str) -> str:
    """A string as a SQL literal, for the few statements that cannot take a parameter (DDL, views)."""
    return "'" + text.replace("'", "''") + "'"


def reserve_ids(cur: Cursor, sequence: str, n: int) -> int:
    """The first of ``n`` consecutive values taken from ``sequence`` for one bulk insert, which
    numbers its rows itself, in its own order: a parallel INSERT would draw ``nextval`` out of row
    order, and some figures break ties by session-log id.

    This is the dialect-specific part. DuckDB cannot advance a sequence by n, so it draws n values
    in one statement; they are consecutive because the caller is the only writer (DuckDB allows one
    writing process, and in it the caller holds the write lock). PostgreSQL takes the block with
    ``setval(seq, nextval(seq) + n - 1)`` holding a transaction-level advisory lock on the sequence's
    name (``take_turn``), which every block drawn from it takes too: no other block can interleave
    (single ids from ``next_id`` never come from a sequence blocks are drawn from)."""
    if n < 1:
        raise ValueError(f"reserve at least one id, not {n}")
    if is_postgres(cur):
        take_turn(cur, sequence)  # every drawer of a block takes the same lock, until its commit
        last = _postgres_value(cur, f"SELECT setval({sql_literal(sequence)}, nextval({sql_literal(sequence)}) + {int(n) - 1})")
        return int(last) - n + 1
    first, last = cur.execute(
        f"SELECT min(v), max(v) FROM (SELECT nextval({sql_literal(sequence)}) AS v FROM range(?))", [n]).fetchone()
    if last - first + 1 != n:
        raise RuntimeError(f"{sequence}: another writer drew ids during a bulk insert ({first}..{last} for {n})")
    return int(first)


class ChecksOutdated(duckdb.TransactionException):
    """Another process committed to the area a writer checked its rows against (PostgreSQL): the
    transaction was rolled back; check the rows again (a kind of ``WriteConflict``)."""


# PostgreSQL's SQLSTATE words for a lost race, as the postgres extension passes them on.
_POSTGRES_CONFLICTS = (
    (re.compile(r"could not serialize access|deadlock detected", re.IGNORECASE),
     "another server or command changed the same data at the same moment: nothing was saved, try again"),
    (re.compile(r"duplicate key value violates unique constraint \"?([a-z0-9_]+)", re.IGNORECASE),
     "that is already saved (another server or command saved the same key at the same moment,"
     " or before): nothing was saved"),
)


def postgres_conflict(exc: duckdb.Error) -> WriteConflict | None:
    """The ``WriteConflict`` a PostgreSQL error stands for (a serialization failure, a deadlock, a
    unique key taken), with a message for people and PostgreSQL's first line kept; None for others."""
    text = str(exc)
    for pattern, message in _POSTGRES_CONFLICTS:
        if pattern.search(text):
            detail = next((line.strip() for line in text.splitlines() if "ERROR" in line), text.splitlines()[0])
            return WriteConflict(f"{message} ({detail})")
    return None


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK; a transaction PostgreSQL already ended with an error leaves nothing to roll back."""
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass


def is_postgres(cur: Cursor) -> bool:
    """Whether the practice behind a cursor is PostgreSQL (for the helpers that take only a cursor)."""
    return cur.execute("SELECT type FROM duckdb_databases() WHERE database_name = ?",
                       [CATALOG]).fetchone()[0] == "postgres"


def _postgres_value(cur: Cursor, query: str) -> Any:
    """One value computed by PostgreSQL itself, in the cursor's transaction (DuckDB SQL cannot see
    PostgreSQL's sequences or functions)."""
    return cur.execute(f"SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(query)})").fetchone()[0]


def next_ids(cur: Cursor, sequence: str, n: int) -> list[int]:
    """``n`` new ids from ``sequence`` (ascending, not necessarily consecutive), for INSERTs that
    name their ids: ``INSERT ... RETURNING`` is not available through the postgres extension, so
    the ids are drawn first, on both stores."""
    draw = f"SELECT nextval({sql_literal(sequence)}) AS id FROM"
    if is_postgres(cur):
        query = f"{draw} generate_series(1, {int(n)}) ORDER BY 1"
        found = cur.execute(f"SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(query)})").fetchall()
    else:
        found = cur.execute(f"{draw} range(?) ORDER BY 1", [n]).fetchall()
    return [int(v) for (v,) in found]


def next_id(cur: Cursor, sequence: str) -> int:
    """A new id from ``sequence`` (see ``next_ids``)."""
    return next_ids(cur, sequence, 1)[0]


def insert_kept_locally(cur: Cursor, table: str, columns: Sequence[str], query: str,
                        params: Sequence[Any] | dict[str, Any] | None = None, *, name: str, inserted: str) -> None:
    """INSERT INTO the practice's ``table`` (``columns``) the rows of ``query``, whose columns bear
    those names, and make ``name`` those rows (a temporary relation), for what the same
    transaction goes on to compute from them (the read model's upkeep).

    A DuckDB file inserts them, and ``name`` is a view picking them out of ``table`` again
    (``inserted``: the condition that does, e.g. ``id >= 41``). On PostgreSQL every read of
    ``table`` would fetch it through the extension, so the rows are kept in a local table and sent
    from there, once, in client order: PostgreSQL then adds them to its client_id indexes in index
    order, which costs it far less than in the input's order. Drop ``name`` with ``drop_kept``."""
    names = ", ".join(columns)
    if is_postgres(cur):
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}", params or [])
        cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {name} ORDER BY client_id")
    else:
        cur.execute(f"INSERT INTO {table} ({names}) {query}", params or [])
        cur.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {CATALOG}.main.{table} WHERE {inserted}")


def rows_on_days(cur: Cursor, name: str, table: str, day_column: str, days: str,
                 columns: Sequence[str] = ("*",)) -> None:
    """``name``: the ``columns`` of the practice's ``table`` on the days of its clients that ``days``
    (a query of client_id and day pairs) names, such as the stored session logs an import's rows
    may repeat; a temporary relation, dropped with ``drop_kept``.

    A DuckDB file: a view of the rows in the pairs' range of days, reading its own blocks (its zone
    maps make the range cheap; the join the caller makes with the pairs does the rest).
    PostgreSQL: fetched once, PostgreSQL itself finding the rows next to the data: the pairs go to
    it as each client's runs of consecutive calendar weeks holding one of its days (so a few rows
    more may come), and only those rows come through the extension, never the whole table."""
    picked = ", ".join(f"t.{c}" for c in columns)
    if not is_postgres(cur):
        low, high = cur.execute(f"SELECT min(day), max(day) FROM ({days}) p(client_id, day)").fetchone()
        within = f"t.{day_column} BETWEEN DATE '{low}' AND DATE '{high}'" if low is not None else "FALSE"
        cur.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {picked} FROM {CATALOG}.main.{table} t WHERE {within}")
        return
    # each client's days by calendar week (from Monday), then its runs of consecutive weeks
    runs = cur.execute(
        f"""
        SELECT client_id, min(low), max(high)
        FROM (SELECT client_id, low, high, week - row_number() OVER (PARTITION BY client_id ORDER BY week) AS run
              FROM (SELECT client_id, (day - DATE '2000-01-03') // 7 AS week, min(day) AS low, max(day) AS high
                    FROM ({days}) p(client_id, day) WHERE client_id IS NOT NULL AND day IS NOT NULL GROUP BY ALL))
        GROUP BY client_id, run
        """).fetchall()
    query = f"SELECT {picked} FROM {table} t WHERE FALSE"
    if runs:
        clients, lows, highs = ("{" + ",".join(str(run[i]) for run in runs) + "}" for i in range(3))
        named = "{" + ",".join(str(c) for c in sorted({run[0] for run in runs})) + "}"
        # A semi-join: PostgreSQL hashes the runs and reads the table once, rather than hashing the
        # table. The clients named again as a list let it read a few clients' rows by their client_id
        # index (migration 085): a session typed in, 3 ms instead of 0.8 s over 2,000,000 logs.
        query = (f"SELECT {picked} FROM {table} t WHERE t.client_id = ANY(CAST('{named}' AS bigint[]))"
                 f" AND EXISTS (SELECT 1 FROM unnest(CAST('{clients}' AS bigint[]), CAST('{lows}' AS date[]),"
                 f" CAST('{highs}' AS date[])) AS k(client_id, low, high)"
                 f" WHERE k.client_id = t.client_id AND t.{day_column} BETWEEN k.low AND k.high)")
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS"
                f" SELECT * FROM postgres_query({sql_literal(CATALOG)}, {sql_literal(query)})")


def drop_kept(cur: Cursor, *names: str) -> None:
    """Drop the relations ``insert_kept_locally`` and ``rows_on_days`` made (views on a DuckDB file,
    tables on PostgreSQL)."""
    kind = "TABLE" if is_postgres(cur) else "VIEW"
    for name in names:
        cur.execute(f"DROP {kind} IF EXISTS {name}")


def take_turn(cur: Cursor, name: str) -> None:
    """PostgreSQL: wait for, then hold to the end of the transaction, the advisory lock of ``name``
    (an area or a sequence): writers that must not interleave across processes take turns."""
    cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)},"
                f" {sql_literal(f'SELECT pg_advisory_xact_lock(hashtext({sql_literal(name)}))')})")


def _forget_old_changes(cur: Cursor) -> None:
    """Keep the newest KEPT_CHANGES rows of ``data_changes`` (every KEPT_CHANGES commits of a Store);
    best effort: another server pruning at the same moment is as good."""
    statement = f"DELETE FROM data_changes WHERE id < (SELECT max(id) FROM data_changes) - {KEPT_CHANGES}"
    try:
        cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)}, {sql_literal(statement)})")
    except duckdb.Error:
        pass


def _record_change(cur: Cursor, touches: Sequence[str]) -> None:
    """PostgreSQL: a row of ``data_changes`` in the write's own transaction (see Store.version):
    insert-only, so concurrent writers never conflict on it."""
    statement = ("INSERT INTO data_changes (touches, changed_at) VALUES"
                 f" ({sql_literal(','.join(sorted(touches)))}, now() AT TIME ZONE 'UTC')")
    cur.execute(f"CALL postgres_execute({sql_literal(CATALOG)}, {sql_literal(statement)})")
