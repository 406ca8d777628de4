"""``routine-desk report adherence | symptoms | alerts``: the JSON contract and bad input.

The practice (as_of Sun 2025-03-23, 14 days = ISO weeks W11 and W12):
X  r-three 7/wk from 03-10 for 2 weeks: 7 sessions in W11, none in W12 -> expected 14, credited 7,
   adherence 0.5, at_risk, last session 03-16. Pain before 7, 7, 7, 5, 5, 4.5, 4.5 -> baseline 7,
   current 14/3 = 4.667, change -2.333, change_pct -0.333 -> improved. Pain after is one point lower
   except the last two (half a point): relief (5 x 1 + 2 x 0.5) / 7 = 0.857.
Y  r-three 2/wk from 03-10: one session 03-11 whose note is tagged saddle_numbness -> expected 4,
   credited 1, 0.25, low; a critical red-flag alert and a low-adherence alert.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from core.commands.cli import main
from core.db.store import Store
from tests.practice_rows import add_assignment, add_client, add_routine, add_session, days

AS_OF = "2025-03-23"


def build_practice(store: Store) -> None:
    add_routine(store, "r-three", 3)
    x = add_client(store, "X")
    y = add_client(store, "Y")
    add_assignment(store, x, "r-three", date(2025, 3, 10), weeks=2, sessions_per_week=7)
    add_assignment(store, y, "r-three", date(2025, 3, 10), weeks=2, sessions_per_week=2)
    for day, before, after in zip(days(date(2025, 3, 10), 7), [7, 7, 7, 5, 5, 4.5, 4.5], [6, 6, 6, 4, 4, 4, 4]):
        add_session(store, x, day, "r-three", pain_before=before, pain_after=after)
    add_session(store, y, date(2025, 3, 11), "r-three", notes="numb in the saddle area", red_flags="saddle_numbness")


@pytest.fixture
def filled_db(db_path: Path, built_file) -> Path:
    return built_file(build_practice, db_path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_adherence_json(capsys, filled_db: Path) -> None:
    code, out, err = run(capsys, "report", "adherence", "--as-of", AS_OF, "--days", "14", "--db", str(filled_db), "--json")
    assert code == 0 and err == ""
    assert json.loads(out) == [
        {"client": "X", "expected": 14.0, "completed": 7.0, "adherence": 0.5, "status": "at_risk",
         "last_session": "2025-03-16"},
        {"client": "Y", "expected": 4.0, "completed": 1.0, "adherence": 0.25, "status": "low",
         "last_session": "2025-03-11"},
    ]
    code, out, _ = run(capsys, "report", "adherence", "--as-of", AS_OF, "--days", "14", "--client", "y",
                       "--db", str(filled_db), "--json")
    assert [row["client"] for row in json.loads(out)] == ["Y"]


def test_report_adherence_with_the_default_period_and_as_text(capsys, filled_db: Path) -> None:
    # 28 days (02-24 .. 03-23) hold the same assignment days, so the same figures.
    code, out, _ = run(capsys, "report", "adherence", "--as-of", AS_OF, "--db", str(filled_db))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["client", "expected", "completed", "adherence", "status", "last_session"]
    assert lines[1].split() == ["X", "14.0", "7.0", "0.5", "at_risk", "2025-03-16"]


def test_report_symptoms_json(capsys, filled_db: Path) -> None:
    code, out, _ = run(capsys, "report", "symptoms", "--as-of", AS_OF, "--db", str(filled_db), "--json")
    assert code == 0
    assert json.loads(out) == [
        {"client": "X", "routine": "r-three", "baseline": 7.0, "current": 4.667, "change": -2.333,
         "change_pct": -0.333, "response": "improved", "relief": 0.857},
        {"client": "Y", "routine": "r-three", "baseline": None, "current": None, "change": None,
         "change_pct": None, "response": "insufficient_data", "relief": None},
    ]


def test_report_alerts_json(capsys, filled_db: Path) -> None:
    code, out, _ = run(capsys, "report", "alerts", "--as-of", AS_OF, "--db", str(filled_db), "--json")
    assert code == 0
    found = json.loads(out)
    assert [set(a) for a in found] == [{"client", "level", "kind", "reason", "since"}] * 2
    assert [(a["client"], a["level"], a["kind"], a["since"]) for a in found] == [
        ("Y", "critical", "red_flag", "2025-03-11"),
        ("Y", "medium", "low_adherence", "2025-02-24"),
    ]
    assert "same-day emergency referral" in found[0]["reason"]


@pytest.mark.parametrize("argv, message", [
    (["report", "adherence", "--as-of", AS_OF, "--client", "NOPE"], "no client with code 'NOPE'"),
    (["report", "adherence", "--as-of", AS_OF, "--days", "0"], "days must be between 1"),
    (["report", "adherence", "--as-of", "23/03/2025"], "not a date"),
    (["report", "symptoms"], "--as-of"),
    (["report", "alerts", "--as-of", AS_OF, "--days", "7"], "unrecognized arguments"),
])
def test_report_bad_input_exits_2_with_a_message(capsys, filled_db: Path, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv, "--db", str(filled_db))
    assert code == 2 and out == "" and message in err


def test_reports_cut_to_a_site(capsys, filled_db: Path) -> None:
    # Y moves to the north site: --site north reports Y alone, --site main X alone, both with a comma list
    db = ["--db", str(filled_db)]
    assert run(capsys, "sites", "add", "north", "North clinic", *db)[0] == 0
    with Store(filled_db) as store, store.transaction() as cur:
        cur.execute("UPDATE clients SET site = 'north' WHERE code = 'Y'")
    code, out, _ = run(capsys, "report", "adherence", "--as-of", AS_OF, "--days", "14", "--site", "north", *db, "--json")
    assert code == 0 and json.loads(out) == [
        {"client": "Y", "expected": 4.0, "completed": 1.0, "adherence": 0.25, "status": "low",
         "last_session": "2025-03-11"}]
    code, out, _ = run(capsys, "report", "symptoms", "--as-of", AS_OF, "--site", "main", *db, "--json")
    assert [row["client"] for row in json.loads(out)] == ["X"]
    code, out, _ = run(capsys, "report", "alerts", "--as-of", AS_OF, "--site", "main", *db, "--json")
    assert code == 0 and json.loads(out) == []        # Y's alerts stay at north
    code, out, _ = run(capsys, "report", "alerts", "--as-of", AS_OF, "--site", "main,north", *db, "--json")
    assert {row["client"] for row in json.loads(out)} == {"Y"}
    code, out, _ = run(capsys, "report", "adherence", "--as-of", AS_OF, "--site", "main", "--site", "north", *db,
                       "--json")
    assert [row["client"] for row in json.loads(out)] == ["X", "Y"]
    code, _, err = run(capsys, "report", "adherence", "--as-of", AS_OF, "--client", "Y", "--site", "main", *db)
    assert code == 2 and "no client with code 'Y' in that site" in err
    code, _, err = run(capsys, "report", "alerts", "--as-of", AS_OF, "--site", "south", *db)
    assert code == 2 and "unknown site 'south'; sites: main, north" in err
