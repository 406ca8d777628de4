"""Backups kept in a folder (core/db/backup.py): the newest N stay, when one is due, and ages read
by people. The restore checks themselves are tested through the CLI (test_cli_backup.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.db import backup
from core.db.store import Store

T0 = datetime(2026, 3, 1, 9, 0, 0)


def test_backups_into_a_folder_keep_the_newest(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    made = [backup.backup_into(store, folder, keep=2, now=T0 + timedelta(days=i))[0] for i in range(3)]
    made.append(backup.backup_into(store, folder, keep=2, now=T0 + timedelta(days=2))[0])  # same second
    assert [p.name for _, p in backup.backups_in(folder)] == ["routine-desk-backup-20260303-090000",
                                                               "routine-desk-backup-20260303-090000-2"]
    assert not made[0].exists() and not made[1].exists()
    (folder / "my-notes").mkdir()  # what the module did not make is never removed
    backup.backup_into(store, folder, keep=1)
    assert (folder / "my-notes").exists()


def test_a_backup_is_due_when_the_newest_is_a_day_old(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    assert backup.backup_due(folder)
    backup.backup_into(store, folder, keep=3)
    newest = backup.backups_in(folder)[-1][0]
    assert not backup.backup_due(folder, newest + timedelta(hours=23))
    assert backup.backup_due(folder, newest + timedelta(hours=24))


def test_ages_are_rounded_for_people() -> None:
    assert backup.age_text(None) == "never"
    assert backup.age_text(T0, T0 + timedelta(minutes=59)) == "less than an hour ago"
    assert backup.age_text(T0, T0 + timedelta(hours=1, minutes=5)) == "1 hour ago"
    assert backup.age_text(T0, T0 + timedelta(hours=47)) == "47 hours ago"
    assert backup.age_text(T0, T0 + timedelta(days=3, hours=5)) == "3 days ago"


def test_the_copy_is_one_moment_of_the_practice(store: Store, tmp_path: Path) -> None:
    manifest = backup.make_backup(store, tmp_path / "bk")
    assert manifest.tables["exercises"] == store.scalar("SELECT count(*) FROM exercises") > 0
    assert manifest.migrations == [v for (v,) in store.rows("SELECT version FROM schema_version ORDER BY 1")]
    assert not (tmp_path / "bk" / f"{backup.DATABASE_FILE}.wal").exists()  # all of it is in the file


def test_an_encrypted_practice_is_never_backed_up_in_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTINE_DESK_DB_KEY", raising=False)
    with Store(tmp_path / "secret.duckdb", encryption_key="a-practice-key-of-32-characters!!") as store:
        with pytest.raises(backup.BackupError, match="encrypted: set ROUTINE_DESK_DB_KEY"):
            backup.make_backup(store, tmp_path / "bk")
    assert not (tmp_path / "bk").exists()
