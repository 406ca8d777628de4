import json
import subprocess
import sys
from pathlib import Path

from core.commands.cli import main

REPO = Path(__file__).resolve().parents[3]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_creates_the_library_and_is_idempotent(capsys, db_path: Path) -> None:
    code, out, _ = run(capsys, "init", "--db", str(db_path), "--json")
    assert code == 0
    first = json.loads(out)
    assert first["library"]["added"] and first["library"]["problems"] == []
    assert first["demo"] is None
    code, out, _ = run(capsys, "init", "--db", str(db_path), "--json")
    again = json.loads(out)
    assert again["library"]["added"] == [] and again["library"]["updated"] == []


def test_init_demo_only_once(capsys, db_path: Path) -> None:
    args = ["init", "--db", str(db_path), "--demo", "--clients", "30", "--days", "60", "--as-of", "2026-02-01", "--json"]
    code, out, _ = run(capsys, *args)
    demo = json.loads(out)["demo"]
    assert code == 0 and demo["created"] and demo["clients"] == 30 and demo["session_logs"] > 0
    code, out, _ = run(capsys, *args)
    assert json.loads(out)["demo"] == {"created": False}


def test_exercises_list_json_shape(capsys, db_path: Path) -> None:
    code, out, _ = run(capsys, "exercises", "list", "--db", str(db_path), "--json")
    assert code == 0
    exercises = json.loads(out)
    assert len(exercises) >= 14
    fields = {"id", "name", "aliases", "kind", "position", "targets", "audiences", "dose", "cautions", "sources"}
    assert all(set(e) == fields for e in exercises)
    bridge = next(e for e in exercises if e["id"] == "glute-bridge")
    assert set(bridge["dose"]) == {"hold_s", "reps", "sets", "breaths", "per_side", "seconds_per_rep"}
    assert bridge["sources"][0]["title"]


def test_exercises_list_text_is_a_table(capsys, db_path: Path) -> None:
    code, out, _ = run(capsys, "exercises", "list", "--db", str(db_path))
    assert code == 0 and out.splitlines()[0].split()[:3] == ["id", "name", "kind"]


def test_errors_go_to_stderr_with_exit_code_2(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "init", "--db", str(tmp_path / "x.duckdb"), "--as-of", "yesterday")
    assert code == 2 and out == "" and "not a date" in err
    code, out, err = run(capsys, "no-such-command")
    assert code == 2 and "invalid choice" in err
    not_a_db = tmp_path / "not-a-db.duckdb"
    not_a_db.write_text("this is not a database")
    code, out, err = run(capsys, "exercises", "list", "--db", str(not_a_db))
    assert code == 2 and "cannot open database" in err


def test_console_script_runs(db_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "core.commands.cli", "exercises", "list", "--db", str(db_path), "--json"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)


def test_a_report_builds_only_its_own_commands(db_path: Path) -> None:
    """Building every command's options imports the demo generator and the check-in links (their
    defaults), which a report in a fresh process should not pay for; help still lists every command."""
    assert main(["init", "--db", str(db_path)]) == 0
    probe = ("import sys; from core.commands.cli import main;"
             f" code = main(['report', 'adherence', '--as-of', '2026-03-02', '--db', {str(db_path)!r}, '--json']);"
             " print(code, 'core.commands.demo' in sys.modules, 'core.sharing.checkin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split()[-3:] == ["0", "False", "False"]
    listed = subprocess.run([sys.executable, "-m", "core.commands.cli", "--help"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    assert all(name in listed for name in ("init", "share", "checkin", "report", "backup", "restore", "migrate-store"))


def test_a_write_that_lost_a_race_exits_2_with_a_message(capsys, db_path: Path, tmp_path: Path, monkeypatch) -> None:
    """Another server or command won a race (PostgreSQL): a plain message and exit 2, no traceback."""
    from core.db.store import WriteConflict
    from core.sessions import imports

    assert main(["init", "--db", str(db_path)]) == 0
    capsys.readouterr()
    log = tmp_path / "form.csv"
    log.write_text("client,session_date\nC1,2026-03-02\n")
    monkeypatch.setattr(imports, "import_log_file", lambda *a, **k: (_ for _ in ()).throw(
        WriteConflict("other servers or commands kept storing session logs while these were checked:"
                      " nothing was saved; try again")))
    code, out, err = run(capsys, "logs", "import", str(log), "--db", str(db_path))
    assert code == 2 and out == ""
    assert err.startswith("routine-desk: error: other servers") and "Traceback" not in err
