"""The Staff page's backups (owners): back up now and download, the last backup's age, and the
daily backup made on the owner's visit, keeping the newest N."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db import backup


def staff_page(at: AppTest, **settings: object) -> AppTest:
    if settings:
        at.secrets["routine_desk"] = settings
    at.run()
    return at.switch_page("pages/admin_users.py").run()


def shown(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "success", "info", "error", "caption")
                    for e in getattr(at, kind))


def test_back_up_now_makes_a_backup_and_offers_it_for_download(app: AppTest, tmp_path: Path) -> None:
    at = staff_page(app, backup_folder=str(tmp_path / "bk"))
    assert "Last backup: **never**" in shown(at)
    at.button(key="backup_now").click().run()
    assert not at.exception
    made = backup.backups_in(tmp_path / "bk")
    assert len(made) == 1
    assert f"Backup made: {made[0][1].name}" in shown(at)
    assert "Last backup: **less than an hour ago**" in shown(at)
    download = at.get("download_button")[0]
    assert download.proto.label == "Download the backup (.zip)"
    name, data = at.session_state["backup_download"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [f"{made[0][1].name}/{backup.MANIFEST}",
                                              f"{made[0][1].name}/{backup.DATABASE_FILE}"]
    assert backup.read_manifest(made[0][1]).tables["users"] == 1


def test_the_daily_backup_is_made_once_a_day_and_keeps_the_newest(app: AppTest, tmp_path: Path) -> None:
    folder = tmp_path / "daily"
    at = staff_page(app, backup_folder=str(folder), daily_backup=True, backup_keep=2)
    assert "Daily backup made" in shown(at)
    at.run()
    assert "Daily backup made" not in shown(at) and len(backup.backups_in(folder)) == 1  # not due yet
    at.button(key="backup_now").click().run()
    at.button(key="backup_now").click().run()
    assert len(backup.backups_in(folder)) == 2  # the oldest of three was removed
