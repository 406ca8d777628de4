"""Backups of the practice and their restore, checked before anything is overwritten.

A backup is a folder holding ``practice.duckdb`` (a copy of the database) and ``manifest.json``
(what was copied: the schema migrations applied, each table's row count, and the SHA-256 of the
copy). The copy is made by ``COPY FROM DATABASE`` inside one transaction of the running store, so
it is one consistent moment of the practice even while staff keep working, and it is made through
the same DuckDB instance because, while the app runs, no other process may open the file. An
encrypted practice (``ROUTINE_DESK_DB_KEY``) is copied into a file encrypted with the same key.

``restore`` trusts nothing it has not checked: the manifest, the checksum of every file, the
schema (a backup from a newer Routine Desk is refused), every table's row count and a full read
of every block. Only then does the copy replace the practice, and an existing practice only when
asked (``force``); the file it replaces is kept beside it as ``<name>.before-restore``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from core.db.integrity import check_everything
from core.db.store import CATALOG, Store, StoreError, load_extensions, load_migrations, sql_literal, sql_name, utcnow

MANIFEST = "manifest.json"
DATABASE_FILE = "practice.duckdb"
FORMAT = 1  # of the manifest; a reader refuses formats it does not know
FOLDER_PREFIX = "routine-desk-backup-"
_FOLDER_NAME = re.compile(r"^routine-desk-backup-\d{8}-\d{6}(-\d+)?$")
_CHUNK = 1 << 20


class BackupError(ValueError):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside the copy and checked before a restore."""

    format: int
    created_at: str                 # UTC, ISO 8601
    schema_version: int             # the highest migration applied
    migrations: list[int]           # every migration applied (they are applied by set)
    encrypted: bool
    tables: dict[str, int]          # row count per table
    checksums: dict[str, str] = field(default_factory=dict)  # SHA-256 per file of the backup

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _row_counts(cur: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int]:
    tables = [name for (name,) in cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary ORDER BY table_name",
        [catalog]).fetchall()]
    return {t: int(cur.execute(f"SELECT count(*) FROM {sql_name(catalog)}.main.{sql_name(t)}").fetchone()[0])
            for t in tables}


def _migrations(cur: duckdb.DuckDBPyConnection, catalog: str) -> list[int]:
    return [v for (v,) in cur.execute(
        f"SELECT version FROM {sql_name(catalog)}.main.schema_version ORDER BY version").fetchall()]


def _key() -> str | None:
    return os.environ.get("ROUTINE_DESK_DB_KEY") or None


# What a PostgreSQL practice's owner reads instead of a backup made here.
POSTGRES_BACKUPS = ("This practice is kept in PostgreSQL: back it up with the database's own tools, e.g. a nightly"
                    " `pg_dump --format=custom` and `pg_restore` to restore (docs/deploy.md, \"Backups\").")


def make_backup(store: Store, dest: Path | str) -> Manifest:
    """Copy the practice into the new folder ``dest`` (it must not exist, or be empty) and write
    its manifest. The copy is encrypted with the practice's key when the practice is."""
    if store.postgres:
        raise BackupError(POSTGRES_BACKUPS)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty folder: give a new folder for the backup")
    target = dest / DATABASE_FILE
    key = _key()
    if store.scalar("SELECT encrypted FROM duckdb_databases() WHERE database_name = ?", [CATALOG]) and not key:
        raise BackupError("the practice is encrypted: set ROUTINE_DESK_DB_KEY to its key, so the backup is"
                          " encrypted too")
    dest.mkdir(parents=True, exist_ok=True)
    alias = f"rd_backup_{secrets.token_hex(4)}"
    options = f" (ENCRYPTION_KEY {sql_literal(key)})" if key else ""
    cur = store.cursor()
    try:
        cur.execute(f"ATTACH {sql_literal(str(target))} AS {alias}{options}")
        try:
            cur.execute("BEGIN TRANSACTION")  # one snapshot: the copy and its counts agree
            cur.execute(f"COPY FROM DATABASE {CATALOG} TO {alias}")
            tables = _row_counts(cur, CATALOG)
            migrations = _migrations(cur, CATALOG)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.execute(f"DETACH {alias}")  # writes the copy out in full (a checkpoint)
    except duckdb.Error as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise BackupError(f"the backup could not be written to {dest}: {exc}") from exc
    finally:
        cur.close()
    manifest = Manifest(FORMAT, utcnow().isoformat(timespec="seconds"), max(migrations, default=0), migrations,
                        key is not None, tables, {DATABASE_FILE: _sha256(target)})
    (dest / MANIFEST).write_text(json.dumps(manifest.as_dict(), indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(src: Path) -> Manifest:
    """The manifest of the backup folder ``src``; BackupError when it is missing or malformed."""
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} is not a Routine Desk backup: it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise BackupError(f"the backup's {MANIFEST} is damaged: {exc}") from exc
    if manifest.format != FORMAT:
        raise BackupError(f"the backup's format {manifest.format} is not one this Routine Desk reads ({FORMAT})")
    return manifest


def _check_files(src: Path, manifest: Manifest) -> None:
    if DATABASE_FILE not in manifest.checksums:
        raise BackupError(f"the backup is damaged: its manifest lists no checksum for {DATABASE_FILE}")
    for name, expected in manifest.checksums.items():
        path = src / name
        if Path(name).name != name or not path.is_file():
            raise BackupError(f"the backup is damaged: {name} is missing")
        if _sha256(path) != expected:
            raise BackupError(f"the backup is damaged: {name} does not match its checksum. Use another backup.")


def _check_schema(manifest: Manifest) -> None:
    known = {m.version for m in load_migrations()}
    unknown = sorted(set(manifest.migrations) - known)
    if unknown:
        raise BackupError(
            f"the backup was made by a newer Routine Desk (schema version {manifest.schema_version}; this one knows"
            f" up to {max(known)}): update Routine Desk, then restore it")


@contextmanager
def _opened(path: Path, key: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(":memory:")
    try:
        load_extensions(conn)
        options = f" (ENCRYPTION_KEY {sql_literal(key)})" if key else ""
        conn.execute(f"ATTACH {sql_literal(str(path))} AS backup{options}")
        yield conn
    finally:
        conn.close()


def _check_contents(copy: Path, manifest: Manifest) -> None:
    """Open the copy, read every block, and compare migrations and row counts with the manifest."""
    key = _key()
    if manifest.encrypted and not key:
        raise BackupError("the backup is encrypted: set ROUTINE_DESK_DB_KEY to the practice's key to restore it")
    try:
        with _opened(copy, key if manifest.encrypted else None) as conn:
            check_everything(conn, copy, catalog="backup")
            found_tables, found_migrations = _row_counts(conn, "backup"), _migrations(conn, "backup")
    except StoreError as exc:
        raise BackupError("the backup is damaged: its database fails its checksums. Use another backup.") from exc
    except duckdb.Error as exc:
        if manifest.encrypted:
            raise BackupError(f"the backup cannot be opened with the key in ROUTINE_DESK_DB_KEY: {exc}") from exc
        raise BackupError(f"the backup is damaged: its database cannot be opened ({exc})") from exc
    if found_migrations != manifest.migrations or found_tables != manifest.tables:
        raise BackupError("the backup is damaged: its database does not hold what its manifest lists")


def _in_use(target: Path) -> bool:
    """Whether another process (a running app) holds the practice's file."""
    try:
        duckdb.connect(str(target), read_only=True).close()
    except duckdb.Error as exc:
        return "lock" in str(exc).lower()
    return False


def restore(src: Path | str, target: Path | str, *, force: bool = False) -> Manifest:
    """Check the backup ``src`` (a folder, or a .zip of one as the Admin page downloads it) in full,
    then put it in place as the practice at ``target``. Refuses to replace an existing practice
    unless ``force``; the replaced file is kept as ``<target>.before-restore``."""
    src, target = Path(src), Path(target)
    if not src.exists():
        raise BackupError(f"no backup at {src}")
    with _unpacked(src) as folder:
        manifest = read_manifest(folder)
        _check_files(folder, manifest)
        _check_schema(manifest)
        if target.exists() and not force:
            raise BackupError(f"{target} already holds a practice: add --force to replace it"
                              f" (it is kept as {target.name}.before-restore)")
        if target.exists() and _in_use(target):
            raise BackupError(f"{target} is in use by a running Routine Desk: stop it, then restore")
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.restoring-{os.getpid()}")
        shutil.copyfile(folder / DATABASE_FILE, staged)
        try:
            _check_contents(staged, manifest)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
    if target.exists():
        os.replace(target, target.with_name(target.name + ".before-restore"))
    Path(str(target) + ".wal").unlink(missing_ok=True)  # a log of the old file must not replay onto the copy
    os.replace(staged, target)
    return manifest


@contextmanager
def _unpacked(src: Path) -> Iterator[Path]:
    if src.is_dir():
        yield src
        return
    if not zipfile.is_zipfile(src):
        raise BackupError(f"{src} is neither a backup folder nor a .zip of one")
    with tempfile.TemporaryDirectory(prefix="routine-desk-restore-", dir=src.parent) as temp:
        with zipfile.ZipFile(src) as archive:
            for member in archive.namelist():
                name = Path(member).name
                if name in (MANIFEST, DATABASE_FILE):
                    with archive.open(member) as packed, (Path(temp) / name).open("wb") as out:
                        shutil.copyfileobj(packed, out, _CHUNK)
        yield Path(temp)


def zipped(folder: Path) -> Path:
    """The backup folder as one .zip beside it (stored, not compressed: DuckDB files are compressed
    already), for a download."""
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        for name in (MANIFEST, DATABASE_FILE):
            out.write(folder / name, f"{folder.name}/{name}")
    return archive


# -- backups kept in a folder (the Admin page's "Back up now" and the daily backup) ----------------

def backups_in(folder: Path) -> list[tuple[datetime, Path]]:
    """The backups this module made in ``folder``, oldest first, with when each was made."""
    found = []
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and _FOLDER_NAME.match(entry.name) and (entry / MANIFEST).is_file():
                try:
                    found.append((datetime.fromisoformat(read_manifest(entry).created_at), entry))
                except BackupError:
                    continue
    return sorted(found)


def backup_into(store: Store, folder: Path | str, keep: int, now: datetime | None = None) -> tuple[Path, Manifest]:
    """A new backup in its own dated subfolder of ``folder``; then only the newest ``keep`` remain."""
    folder = Path(folder)
    stamp = (now or utcnow()).strftime("%Y%m%d-%H%M%S")
    dest, n = folder / f"{FOLDER_PREFIX}{stamp}", 1
    while dest.exists():
        n += 1
        dest = folder / f"{FOLDER_PREFIX}{stamp}-{n}"
    manifest = make_backup(store, dest)
    for _, old in backups_in(folder)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return dest, manifest


def age_text(made_at: datetime | None, now: datetime | None = None) -> str:
    """How long ago a backup was made, rounded for people ("never" when there is none)."""
    if made_at is None:
        return "never"
    hours = max(0.0, ((now or utcnow()) - made_at).total_seconds() / 3600)
    if hours < 1:
        return "less than an hour ago"
    if hours < 48:
        return f"{int(hours)} hour{'s' if int(hours) != 1 else ''} ago"
    return f"{int(hours // 24)} days ago"


def backup_due(folder: Path | str, now: datetime | None = None, every: timedelta = timedelta(days=1)) -> bool:
    """Whether the newest backup in ``folder`` is older than ``every`` (or there is none)."""
    found = backups_in(Path(folder))
    return not found or (now or utcnow()) - found[-1][0] >= every
