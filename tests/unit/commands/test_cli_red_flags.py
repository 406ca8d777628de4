"""End to end through the CLI, as the held-out notes are checked: ``clients add``, ``logs import`` of
a CSV, then ``report alerts --json``. A pregnant client (P, 30 weeks on the session dates) and a runner
who is not pregnant (R) write the same notes."""

from __future__ import annotations

import json
from pathlib import Path

from core.commands.cli import main

NOTES = [  # note, expected level for R (not pregnant), for P (pregnant); None: no alert
    ("calf cramp after run", None, None),
    ("no dizziness", None, None),
    ("bowel movements normal", None, None),
    ("felt dizzy on the stairs", "medium", "critical"),
    ("chest pain on the walk home", "high", "critical"),
    ("baby moving less", "medium", "critical"),
    ("cant feel my bum", "critical", "critical"),
    ("bad headache", None, "critical"),
    ("night pain and fever", "high", "high"),
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_then_report_alerts(capsys, db_path: Path, tmp_path: Path) -> None:
    db = ("--db", str(db_path))
    assert run(capsys, "clients", "add", *db, "--code", "P", "--name", "Pia", "--segment", "pregnant",
               "--gestation-weeks", "30", "--on", "2025-03-10")[0] == 0
    assert run(capsys, "clients", "add", *db, "--code", "R", "--name", "Ravi", "--segment", "runner")[0] == 0
    lines = ["client,session_date,routine,notes"]
    for i, (note, _, _) in enumerate(NOTES):
        for client in ("P", "R"):
            lines.append(f'{client},2025-03-{10 + i:02d},desk-micro-breaks,"{note}"')
    csv = tmp_path / "logs.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "logs", "import", str(csv), *db, "--json")
    assert code == 0, err
    assert json.loads(out)["accepted"] == 2 * len(NOTES), out
    code, out, err = run(capsys, "report", "alerts", "--as-of", "2025-03-20", *db, "--json")
    assert code == 0, err
    found = [a for a in json.loads(out) if a["kind"] == "red_flag"]
    levels = {(a["client"], a["since"]): a["level"] for a in found}
    for i, (note, runner, pregnant) in enumerate(NOTES):
        day = f"2025-03-{10 + i:02d}"
        assert levels.get(("R", day)) == runner, note
        assert levels.get(("P", day)) == pregnant, note
    assert not any("pregnan" in a["reason"] for a in found if a["client"] == "R")
    dizzy = [a for a in found if a["client"] == "P" and a["since"] == "2025-03-13"]
    assert "pregnancy warning sign" in dizzy[0]["reason"]
