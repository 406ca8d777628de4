import shutil
from pathlib import Path

import pytest

from core.library.content import DATA_DIR, ContentError, content_problems, parse_exercise, sync_library
from core.db.store import Store

VALID = """---
id: test-stretch
name: Test stretch
aliases: [Trial stretch]
kind: static_stretch
targets: [psoas]
position: standing
equipment: []
dose:
  hold_s: [20, 30]
  reps: null
  sets: [1, 2]
  breaths: null
  per_side: true
  seconds_per_rep: null
cautions: [balance]
audiences: [runner]
sources:
  - title: "An article"
---
## Steps
1. Stand tall.
2. Step back
   and hold.

## Cues
- Breathe.

## Common mistakes
- Leaning.
"""


def parse(text: str, file: str = "exercises/test-stretch.md"):
    return parse_exercise(file, text.encode())


def problems_of(text: str, file: str = "exercises/test-stretch.md") -> list[tuple[str, str]]:
    with pytest.raises(ContentError) as info:
        parse(text, file)
    return [(p.field, p.message) for p in info.value.problems]


def test_valid_file_parses_with_body_sections() -> None:
    exercise = parse(VALID)
    assert exercise.id == "test-stretch"
    assert exercise.meta.dose.hold_s.as_list() == [20, 30]
    assert exercise.steps == ["Stand tall.", "Step back and hold."]
    assert exercise.cues == ["Breathe."]
    assert exercise.mistakes == ["Leaning."]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("kind: static_stretch", "kind: stretchy"), "kind", "Input should be"),
        (("position: standing", "position: upside_down"), "position", "Input should be"),
        (("targets: [psoas]", "targets: [psoaz]"), "targets.0", "Input should be"),
        (("cautions: [balance]", "cautions: [wobbly]"), "cautions.0", "Input should be"),
        (("audiences: [runner]", "audiences: [astronaut]"), "audiences.0", "Input should be"),
        (("hold_s: [20, 30]", "hold_s: [30, 20]"), "dose.hold_s", "min 30 is greater than max 20"),
        (("hold_s: [20, 30]", "hold_s: [20, 900]"), "dose", "hold_s max 900 is above the limit of 600"),
        (("hold_s: [20, 30]", "hold_s: null"), "dose", "needs at least one of hold_s, reps or breaths"),
        (("reps: null", "reps: [8, 12]"), "dose", "seconds_per_rep is required"),
        (("name: Test stretch\n", ""), "name", "Field required"),
        (("id: test-stretch", "id: Test Stretch"), "id", "String should match pattern"),
        (("  per_side: true\n", "  per_side: true\n  colour: red\n"), "dose.colour", "Extra inputs"),
    ],
)
def test_each_invalid_field_is_named(change: tuple[str, str], field: str, message: str) -> None:
    found = problems_of(VALID.replace(*change))
    assert any(f == field and message in m for f, m in found), found


def test_file_name_must_match_id() -> None:
    assert ("id", "'test-stretch' does not match the file name") in problems_of(VALID, "exercises/other.md")


def test_steps_are_required() -> None:
    found = problems_of(VALID.split("## Steps")[0])
    assert found == [("body.steps", "needs a '## Steps' section with numbered steps")]


def test_missing_front_matter_and_bad_yaml_are_reported() -> None:
    assert problems_of("## Steps\n1. x\n")[0][0] == "(front matter)"
    assert "invalid YAML" in problems_of("---\nid: [unclosed\n---\n## Steps\n1. x\n")[0][1]


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR / "exercises", data / "exercises")
    shutil.copytree(DATA_DIR / "routines", data / "routines")
    return data


def test_the_shipped_library_loads_without_problems(db_path: Path) -> None:
    with Store(db_path) as store:
        report = sync_library(store)
        assert report.problems == []
        assert store.scalar("SELECT count(*) FROM exercises WHERE active") == len(list((DATA_DIR / "exercises").glob("*.md")))
        assert store.scalar("SELECT count(*) FROM routines") == len(list((DATA_DIR / "routines").glob("*.yaml")))


def test_one_bad_file_does_not_stop_the_others(db_path: Path, content_dir: Path) -> None:
    (content_dir / "exercises" / "broken.md").write_text(VALID.replace("test-stretch", "broken").replace("kind: static_stretch", "kind: nope"))
    with Store(db_path) as store:
        report = sync_library(store, content_dir)
        assert report.skipped_files == ["data/exercises/broken.md"]
        assert store.scalar("SELECT count(*) FROM exercises WHERE id = 'broken'") == 0
        assert store.scalar("SELECT count(*) FROM exercises") == len(list(content_dir.glob("exercises/*.md"))) - 1
        recorded = content_problems(store)
        assert [(p.file, p.field) for p in recorded] == [("data/exercises/broken.md", "kind")]


def test_sync_is_idempotent_and_picks_up_changes(db_path: Path, content_dir: Path) -> None:
    target = content_dir / "exercises" / "test-stretch.md"
    target.write_text(VALID)
    with Store(db_path) as store:
        first = sync_library(store, content_dir)
        assert "test-stretch" in first.added
        second = sync_library(store, content_dir)
        assert second.added == second.updated == second.removed == []
        target.write_text(VALID.replace("name: Test stretch", "name: Renamed stretch"))
        third = sync_library(store, content_dir)
        assert third.updated == ["test-stretch"]
        assert store.scalar("SELECT name FROM exercises WHERE id = 'test-stretch'") == "Renamed stretch"


def test_a_file_that_breaks_keeps_its_last_good_version(db_path: Path, content_dir: Path) -> None:
    target = content_dir / "exercises" / "test-stretch.md"
    target.write_text(VALID)
    with Store(db_path) as store:
        sync_library(store, content_dir)
        target.write_text(VALID.replace("hold_s: [20, 30]", "hold_s: [30, 20]"))
        report = sync_library(store, content_dir)
        assert report.skipped_files == ["data/exercises/test-stretch.md"]
        assert store.scalar("SELECT hold_min_s FROM exercises WHERE id = 'test-stretch' AND active") == 20
        target.write_text(VALID)
        assert sync_library(store, content_dir).problems == []
        assert content_problems(store) == []


def test_a_deleted_file_retires_the_exercise(db_path: Path, content_dir: Path) -> None:
    target = content_dir / "exercises" / "test-stretch.md"
    target.write_text(VALID)
    with Store(db_path) as store:
        sync_library(store, content_dir)
        target.unlink()
        report = sync_library(store, content_dir)
        assert report.removed == ["test-stretch"]
        assert store.scalar("SELECT active FROM exercises WHERE id = 'test-stretch'") is False


def test_routine_naming_an_unknown_exercise_is_rejected_with_item(db_path: Path, content_dir: Path) -> None:
    (content_dir / "routines" / "bad-routine.yaml").write_text(
        "id: bad-routine\nname: Bad\naudience: general\ndescription: x\n"
        "schedule: {sessions_per_week: 3, weeks: 4}\nitems:\n  - exercise: glute-bridge\n  - exercise: no-such-move\n"
    )
    with Store(db_path) as store:
        report = sync_library(store, content_dir)
        assert [(p.file, p.field) for p in report.problems] == [("data/routines/bad-routine.yaml", "items.1.exercise")]
        assert store.scalar("SELECT count(*) FROM routines WHERE id = 'bad-routine'") == 0


def test_changed_template_becomes_a_new_routine_version(db_path: Path, content_dir: Path) -> None:
    path = content_dir / "routines" / "four-stretch-routine.yaml"
    with Store(db_path) as store:
        sync_library(store, content_dir)
        assert store.scalar("SELECT current_version FROM routines WHERE id = 'four-stretch-routine'") == 1
        path.write_text(path.read_text().replace("weeks: ", "weeks: 1", 1))
        sync_library(store, content_dir)
        assert store.scalar("SELECT current_version FROM routines WHERE id = 'four-stretch-routine'") == 2
        assert store.scalar("SELECT count(*) FROM routine_versions WHERE routine_id = 'four-stretch-routine'") == 2
