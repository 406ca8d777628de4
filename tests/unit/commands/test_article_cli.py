"""``routine-desk content import-article``: drafts as JSON, and --save into the content files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.commands.cli import main

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "articles"
SEEDS = REPO.parent / "shared" / "seeds"


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_prints_drafts_and_writes_nothing(capsys, data_copy: Path, db_path: Path) -> None:
    before = snapshot(data_copy)
    code, out, _ = run(capsys, "content", "import-article", str(FIXTURES / "numbered_evening.txt"),
                       "--db", str(db_path), "--json")
    assert code == 0
    payload = json.loads(out)
    assert [e["name"] for e in payload["exercises"]] == [
        "Child's Pose", "Half-Kneeling Hip Flexor Stretch", "Supine Twist", "Legs Up the Wall"]
    assert payload["exercises"][1]["dose"]["hold_s"] == [30, 30]
    assert payload["exercises"][1]["match"]["exercise_id"] == "kneeling-hip-flexor-stretch"
    assert payload["routines"][0]["name"] == "A simple evening sequence"
    assert payload["title"] == "Evening unwind: four gentle moves" and "saved" not in payload
    assert snapshot(data_copy) == before


def test_seed_002_json(capsys, data_copy: Path, db_path: Path) -> None:
    if not SEEDS.is_dir():
        pytest.skip("seed articles not present")
    [path] = SEEDS.glob("002_*.txt")
    code, out, _ = run(capsys, "content", "import-article", str(path), "--db", str(db_path), "--json")
    payload = json.loads(out)
    assert code == 0
    assert [(e["match"]["exercise_id"], e["dose"]["hold_s"]) for e in payload["exercises"]] == [
        ("kneeling-hip-flexor-stretch", [30, 60]), ("supported-leg-drop", [30, 60]),
        ("dynamic-lunge-arm-reach", None), ("kneeling-hip-flexor-stretch-twist", [20, 30])]
    assert len(payload["routines"][0]["items"]) == 5


def test_save_creates_merges_reports_and_reloads(capsys, data_copy: Path, db_path: Path) -> None:
    code, out, _ = run(capsys, "content", "import-article", str(FIXTURES / "studio_handout.html"),
                       "--title", "Hip openers handout", "--url", "https://example.org/openers",
                       "--db", str(db_path), "--json", "--save")
    payload = json.loads(out)
    assert code == 1  # two drafts lack what the library needs, and say what
    assert [(s["name"], s["action"]) for s in payload["saved"]] == [
        ("Frog stretch", "rejected"), ("Standing quad stretch", "created"), ("Hip airplane", "rejected")]
    assert payload["saved"][0]["problems"] == ["dose.per_side: say whether it is done on each side"]
    assert (data_copy / "exercises" / "standing-quad-stretch.md").is_file()
    code, out, _ = run(capsys, "exercises", "list", "--db", str(db_path), "--json")
    quad = next(e for e in json.loads(out) if e["id"] == "standing-quad-stretch")
    assert quad["sources"] == [{"title": "Hip openers handout", "url": "https://example.org/openers"}]
    assert quad["dose"]["hold_s"] == [20, 30] and quad["dose"]["per_side"] is True
    assert quad["position"] == "standing" and quad["targets"] == ["quadriceps"]


def test_save_merge_adds_the_source(capsys, data_copy: Path, db_path: Path) -> None:
    code, out, _ = run(capsys, "content", "import-article", str(FIXTURES / "plain_paragraphs.txt"),
                       "--db", str(db_path), "--save")
    assert "merged side-lying-clamshell" in out and code == 1
    text = (data_copy / "exercises" / "side-lying-clamshell.md").read_text()
    assert 'title: "Three floor moves for stiff hips"' in text


def test_text_output_and_unreadable_file(capsys, data_copy: Path, db_path: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "content", "import-article", str(FIXTURES / "emoji_desk_breaks.md"),
                       "--db", str(db_path))
    assert code == 0
    assert out.splitlines()[0] == "3 exercise draft(s), 0 routine draft(s), 2 part(s) skipped"
    assert "  Seated figure-four stretch: 3 × 15 s per side; new" in out.splitlines()
    code, out, err = run(capsys, "content", "import-article", str(tmp_path / "missing.txt"), "--db", str(db_path))
    assert code == 2 and out == "" and "cannot read" in err
