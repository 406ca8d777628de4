"""The practice commands: clients add / list, routines list, assign (exit 3 on a block), handout."""

import json
from pathlib import Path

from core import clock
from core.commands.cli import main
from core.db.store import Store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, *argv: str) -> tuple[int, object]:
    code, out, err = run(capsys, *argv, "--json")
    assert err == "" or code != 0, err
    return code, json.loads(out) if out.strip() else None


def rows(db: Path, sql: str) -> list[tuple]:
    with Store(db) as store:
        return store.rows(sql)


def test_clients_add_and_list(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    code, ana = as_json(capsys, "clients", "add", *db, "--name", "Ana", "--gestation-weeks", "24+3",
                        "--on", "2026-03-02", "--flag", "knee_pain", "--therapist", "Ben")
    assert code == 0
    # 24+3 on 2 March: due 280 - 171 = 109 days later, 19 June
    assert (ana["code"], ana["due_date"], ana["gestational_week"], ana["segments"], ana["flags"]) == (
        "C00001", "2026-06-19", 24, ["pregnant"], ["knee_pain"])
    code, ravi = as_json(capsys, "clients", "add", *db, "--code", "R-1", "--name", "Ravi", "--segment", "runner",
                         "--segment", "desk_worker")
    assert code == 0 and ravi["segments"] == ["desk_worker", "runner"] and ravi["gestational_week"] is None
    code, listed = as_json(capsys, "clients", "list", *db, "--on", "2026-03-09")
    assert [(c["code"], c["pregnancy_week"]) for c in listed] == [("C00001", 25), ("R-1", None)]
    code, runners = as_json(capsys, "clients", "list", *db, "--segment", "runner")
    assert [c["code"] for c in runners] == ["R-1"]
    code, out, _ = run(capsys, "clients", "list", *db, "--therapist", "Ben")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["code", "name"] and "C00001" in out and "R-1" not in out


def test_clients_add_bad_input_exits_2_and_writes_nothing(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    code, out, err = run(capsys, "clients", "add", *db, "--name", "A", "--due-date", "2027-06-01", "--on", "2026-03-02")
    assert code == 2 and "more than 42 weeks" in err and out == ""
    code, _, err = run(capsys, "clients", "add", *db, "--name", "A", "--flag", "broken_leg")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "clients", "add", *db, "--name", "A", "--gestation-weeks", "50")
    assert code == 2 and "weeks must be 0–42" in err
    code, _, err = run(capsys, "clients", "add", *db, "--name", "A", "--due-date", "2026-06-01", "--gestation-weeks", "20")
    assert code == 2 and "not allowed with" in err
    assert rows(db_path, "SELECT count(*) FROM clients") == [(0,)]
    assert run(capsys, "clients", "add", *db, "--name", "A", "--code", "X")[0] == 0
    code, _, err = run(capsys, "clients", "add", *db, "--name", "B", "--code", "x")
    assert code == 2 and "already used" in err


def test_routines_list_json(capsys, db_path: Path) -> None:
    code, routines = as_json(capsys, "routines", "list", "--db", str(db_path))
    assert code == 0
    daily = next(r for r in routines if r["id"] == "daily-psoas-routine")
    assert {"id", "name", "audience", "items", "sessions_per_week", "est_minutes"} <= set(daily)
    assert (daily["audience"], daily["sessions_per_week"], daily["est_minutes"]) == ("general", 7, 14.4)
    assert daily["items"][1]["exercise_id"] == "kneeling-hip-flexor-stretch"
    assert daily["items"][1]["dose"]["hold_s"] == [30, 60] and daily["items"][1]["dose"]["sets"] == [2, 3]
    assert {r["audience"] for r in routines} >= {"general", "pregnant", "runner", "desk_worker"}


def test_assign_prints_the_id_and_the_findings(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    run(capsys, "clients", "add", *db, "--name", "Ana", "--gestation-weeks", "24", "--on", "2026-03-02")
    code, result = as_json(capsys, "assign", *db, "--client", "c00001", "--routine", "daily-psoas-routine",
                           "--start", "2026-03-02", "--sessions-per-week", "4", "--weeks", "6", "--on", "2026-03-02")
    assert code == 0 and result["assignment_id"] == 1 and result["blocked"] is False
    assert (result["start_date"], result["end_date"], result["sessions_per_week"], result["weeks"]) == (
        "2026-03-02", "2026-04-12", 4, 6)
    warns = [(f["rule_id"], f["exercise_id"]) for f in result["findings"] if f["level"] == "warn"]
    assert ("pregnancy_supine_from_week_20", "glute-bridge") in warns
    assert rows(db_path, "SELECT count(*), min(reviewed_by) FROM safety_reviews") == [(len(result["findings"]), "cli")]
    code, out, _ = run(capsys, "assign", *db, "--client", "C00001", "--routine", "pregnancy-second-trimester",
                       "--start", "2026-03-02", "--on", "2026-03-02")
    assert code == 0 and out.startswith("assignment 2: pregnancy-second-trimester v1 from 2026-03-02 to 2026-03-29")


def test_assign_exits_3_on_a_block_and_assigns_nothing(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    run(capsys, "clients", "add", *db, "--code", "BO", "--name", "Bo", "--segment", "runner",
        "--flag", "bladder_bowel_change")
    args = ["assign", *db, "--client", "BO", "--routine", "four-stretch-routine", "--start", "2026-03-02"]
    code, result = as_json(capsys, *args)
    assert code == 3 and result["assignment_id"] is None and result["blocked"] is True
    assert [(f["level"], f["rule_id"]) for f in result["findings"]] == [("block", "low_back_red_flag")]
    code, out, _ = run(capsys, *args)
    assert code == 3 and out.startswith("not assigned: blocked")
    assert rows(db_path, "SELECT (SELECT count(*) FROM assignments), (SELECT count(*) FROM safety_reviews)") == [(0, 0)]
    code, result = as_json(capsys, *args, "--override-reason", "urology review done, cleared by GP")
    assert code == 0 and result["assignment_id"] == 1
    assert rows(db_path, "SELECT override_reason FROM safety_reviews") == [("urology review done, cleared by GP",)]


def test_assign_bad_input_exits_2(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    run(capsys, "clients", "add", *db, "--name", "Ana", "--segment", "runner")
    for extra, message in ((["--client", "nobody", "--routine", "four-stretch-routine"], "unknown client"),
                           (["--client", "C00001", "--routine", "nope"], "unknown routine"),
                           (["--client", "C00001", "--routine", "four-stretch-routine", "--sessions-per-week", "22"],
                            "sessions per week must be 1–21"),
                           (["--client", "C00001", "--routine", "four-stretch-routine", "--on", "2026-05-01"],
                            "after the program's last day")):
        code, out, err = run(capsys, "assign", *db, "--start", "2026-03-02", *extra)
        assert code == 2 and message in err and out == "", extra
    assert rows(db_path, "SELECT count(*) FROM assignments") == [(0,)]


def test_handout_writes_a_pdf(capsys, db_path: Path, tmp_path: Path) -> None:
    db = ["--db", str(db_path)]
    run(capsys, "clients", "add", *db, "--name", "Ana", "--segment", "desk_worker")
    code, _, err = run(capsys, "handout", *db, "--client", "C00001")
    assert code == 2 and "no current assignment" in err
    start = clock.today().isoformat()
    run(capsys, "assign", *db, "--client", "C00001", "--routine", "desk-micro-breaks", "--start", start)
    out_file = tmp_path / "ana.pdf"
    code, result = as_json(capsys, "handout", *db, "--client", "C00001", "--out", str(out_file))
    assert code == 0 and result["file"] == str(out_file) and result["assignments"] == [1]
    data = out_file.read_bytes()
    assert data.startswith(b"%PDF-") and result["bytes"] == len(data) and result["pages"] >= 2
    code, _, err = run(capsys, "handout", *db, "--client", "C00001", "--out", str(tmp_path / "missing" / "x.pdf"))
    assert code == 2 and "cannot write" in err


def test_sites_and_clients_add_site(capsys, db_path: Path) -> None:
    db = ["--db", str(db_path)]
    code, site = as_json(capsys, "sites", "add", "north", "North clinic", *db)
    assert code == 0 and (site["code"], site["name"]) == ("north", "North clinic")
    code, added = as_json(capsys, "clients", "add", *db, "--name", "Noor", "--site", "north")
    assert code == 0 and added["site"] == "north"
    code, added = as_json(capsys, "clients", "add", *db, "--name", "Mia")   # no --site: the default site
    assert code == 0 and added["site"] == "main"
    code, out, err = run(capsys, "clients", "add", *db, "--name", "Lost", "--site", "south")
    assert code == 2 and out == "" and "unknown site 'south'; sites: main, north" in err
    assert rows(db_path, "SELECT count(*) FROM clients") == [(2,)]
    code, listed = as_json(capsys, "clients", "list", *db, "--site", "north")
    assert [(c["code"], c["site"]) for c in listed] == [("C00001", "north")]
    code, listed = as_json(capsys, "sites", "list", *db)
    assert [(s["code"], s["name"], s["clients"]) for s in listed] == [("main", "Main site", 1),
                                                                     ("north", "North clinic", 1)]
    code, out, err = run(capsys, "sites", "add", "north", "Again", *db)
    assert code == 2 and "site 'north' already exists" in err
