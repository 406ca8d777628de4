"""``routine-desk backup`` and ``routine-desk restore``: a restore drill on the demo practice, and
every way a backup can be unfit (damaged, newer, lying, encrypted without the key) refused with
exit 2 before anything is overwritten."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from core.commands.cli import main
from core.db.backup import DATABASE_FILE, MANIFEST
from core.db.store import Store

AS_OF = "2025-06-30"
REPORTS = (("report", "adherence", "--as-of", AS_OF, "--days", "28"),
           ("report", "symptoms", "--as-of", AS_OF),
           ("report", "alerts", "--as-of", AS_OF))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo practice and a backup of it, made once for the module; tests work on copies."""
    folder = tmp_path_factory.mktemp("demo")
    assert main(["init", "--demo", "--clients", "24", "--days", "90", "--seed", "7", "--as-of", AS_OF,
                 "--db", str(folder / "demo.duckdb")]) == 0
    assert main(["backup", str(folder / "backup"), "--db", str(folder / "demo.duckdb")]) == 0
    return folder


def reports(capsys, db: Path) -> list[object]:
    found = []
    for argv in REPORTS:
        code, out, err = run(capsys, *argv, "--db", str(db), "--json")
        assert (code, err) == (0, "")
        found.append(json.loads(out))
    return found


def test_restore_drill_back_up_destroy_restore_and_every_report_is_identical(capsys, demo_backup: Path,
                                                                               tmp_path: Path) -> None:
    db = tmp_path / "practice.duckdb"
    shutil.copyfile(demo_backup / "demo.duckdb", db)
    before = reports(capsys, db)
    assert all(before[:2]) and before[0] != before[1]  # the demo has figures to compare
    code, out, err = run(capsys, "backup", str(tmp_path / "bk"), "--db", str(db), "--json")
    assert (code, err) == (0, "")
    manifest = json.loads(out)
    assert manifest["schema_version"] >= 8 and manifest["tables"]["clients"] == 24 and not manifest["encrypted"]
    assert set(manifest["checksums"]) == {DATABASE_FILE}
    db.unlink()  # the disk dies
    code, out, err = run(capsys, "restore", str(tmp_path / "bk"), "--db", str(db), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["tables"] == manifest["tables"]
    assert reports(capsys, db) == before
    with Store(db) as store:  # the restored practice goes on: ids continue after the copied ones
        with store.transaction() as cur:
            cur.execute("INSERT INTO audit_log (event_at, actor, action) VALUES (now()::TIMESTAMP, 'cli', 'after')")
        assert store.scalar("SELECT count(DISTINCT id) = count(*) FROM audit_log")


def test_restore_never_replaces_a_practice_without_force(capsys, demo_backup: Path, tmp_path: Path) -> None:
    db = tmp_path / "practice.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    capsys.readouterr()
    original = db.read_bytes()
    code, _, err = run(capsys, "restore", str(demo_backup / "backup"), "--db", str(db))
    assert code == 2 and "already holds a practice: add --force" in err
    assert db.read_bytes() == original
    code, _, err = run(capsys, "restore", str(demo_backup / "backup"), "--db", str(db), "--force")
    assert (code, err) == (0, "")
    assert (tmp_path / "practice.duckdb.before-restore").read_bytes() == original
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM clients") == 24


def _copy_backup(demo_backup: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_backup / "backup", tmp_path / "bk"))


def test_a_damaged_backup_is_refused_and_nothing_is_written(capsys, demo_backup: Path, tmp_path: Path) -> None:
    backup = _copy_backup(demo_backup, tmp_path)
    with (backup / DATABASE_FILE).open("r+b") as f:
        f.seek(300_000)
        f.write(b"\x00garbage\xff" * 8)
    code, _, err = run(capsys, "restore", str(backup), "--db", str(tmp_path / "new.duckdb"))
    assert code == 2 and "the backup is damaged" in err and "checksum" in err
    assert not (tmp_path / "new.duckdb").exists() and not list(tmp_path.glob(".new.duckdb*"))


def test_a_backup_whose_manifest_lies_is_refused(capsys, demo_backup: Path, tmp_path: Path) -> None:
    backup = _copy_backup(demo_backup, tmp_path)
    manifest = json.loads((backup / MANIFEST).read_text())
    manifest["tables"]["clients"] += 1
    (backup / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = run(capsys, "restore", str(backup), "--db", str(tmp_path / "new.duckdb"))
    assert code == 2 and "does not hold what its manifest lists" in err
    assert not (tmp_path / "new.duckdb").exists()


def test_a_backup_from_a_newer_routine_desk_is_refused(capsys, demo_backup: Path, tmp_path: Path) -> None:
    backup = _copy_backup(demo_backup, tmp_path)
    manifest = json.loads((backup / MANIFEST).read_text())
    manifest["migrations"].append(999)
    manifest["schema_version"] = 999
    (backup / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = run(capsys, "restore", str(backup), "--db", str(tmp_path / "new.duckdb"))
    assert code == 2 and "made by a newer Routine Desk (schema version 999" in err


@pytest.mark.parametrize("broken", ["no manifest", "bad json", "not a backup"])
def test_anything_else_is_not_a_backup(capsys, demo_backup: Path, tmp_path: Path, broken: str) -> None:
    backup = _copy_backup(demo_backup, tmp_path)
    if broken == "no manifest":
        (backup / MANIFEST).unlink()
    elif broken == "bad json":
        (backup / MANIFEST).write_text("{not json")
    else:
        backup = tmp_path / "notes.txt"
        backup.write_text("hello")
    code, _, err = run(capsys, "restore", str(backup), "--db", str(tmp_path / "new.duckdb"))
    assert code == 2 and "routine-desk: error:" in err and "Traceback" not in err


def test_a_backup_goes_into_a_new_folder_only(capsys, demo_backup: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "backup", str(tmp_path / "full"), "--db", str(demo_backup / "demo.duckdb"))
    assert code == 2 and "not an empty folder" in err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_the_downloaded_zip_restores_too(capsys, demo_backup: Path, tmp_path: Path) -> None:
    from core.db.backup import zipped

    archive = zipped(_copy_backup(demo_backup, tmp_path))
    assert zipfile.is_zipfile(archive)
    code, _, err = run(capsys, "restore", str(archive), "--db", str(tmp_path / "new.duckdb"))
    assert (code, err) == (0, "")


def test_an_encrypted_practice_backs_up_encrypted_and_restores_with_its_key(
        capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTINE_DESK_DB_KEY", "a-practice-key-of-32-characters!!")
    db = tmp_path / "secret.duckdb"
    assert run(capsys, "init", "--db", str(db), "--demo", "--clients", "6", "--days", "30", "--as-of", AS_OF)[0] == 0
    before = reports(capsys, db)
    code, out, _ = run(capsys, "backup", str(tmp_path / "bk"), "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["encrypted"] is True
    names = Store.open(db)
    try:
        a_name = names.scalar("SELECT display_name FROM clients ORDER BY id LIMIT 1")
    finally:
        names.close()
    assert a_name.encode() not in (tmp_path / "bk" / DATABASE_FILE).read_bytes()
    monkeypatch.delenv("ROUTINE_DESK_DB_KEY")
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb"))
    assert code == 2 and "set ROUTINE_DESK_DB_KEY" in err
    monkeypatch.setenv("ROUTINE_DESK_DB_KEY", "a-practice-key-of-32-characters!!")
    code, _, err = run(capsys, "restore", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb"))
    assert (code, err) == (0, "")
    assert reports(capsys, tmp_path / "new.duckdb") == before


def test_check_reads_everything_and_names_the_damage(capsys, tmp_path: Path) -> None:
    from tests.damaged_file import damage_table, fill_audit_log

    db = tmp_path / "practice.duckdb"
    fill_audit_log(db, rows=5_000)
    code, out, err = run(capsys, "check", "--db", str(db), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["tables"]["audit_log"] == 5_000
    damage_table(db, "audit_log")
    code, _, err = run(capsys, "check", "--db", str(db))
    assert code == 2 and "table audit_log cannot be read" in err and "routine-desk restore" in err


@pytest.mark.parametrize("offset", [0, 3 * 4096], ids=["file header", "first block (the catalog)"])
def test_a_database_damaged_where_it_opens_says_to_restore_the_last_backup(capsys, tmp_path: Path,
                                                                           offset: int) -> None:
    """Damage DuckDB meets before the start-up check can run (issue 17, item 8): the open itself fails."""
    db = tmp_path / "practice.duckdb"
    Store(db).close()
    with db.open("r+b") as f:
        f.seek(offset)
        f.write(bytes(range(256)) * 4)
    code, out, err = run(capsys, "check", "--db", str(db))
    assert (code, out) == (2, "")
    assert f"the database {db} is damaged" in err and "Restore the last backup" in err
    assert f"routine-desk restore <backup folder> --db {db} --force" in err
