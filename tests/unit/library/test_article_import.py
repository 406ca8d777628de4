"""Saving accepted drafts: new exercise files, and merges into existing ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.library.article_dose import DoseDraft
from core.library.article_import import (
    ArticleSource,
    Extras,
    accept_all,
    accept_draft,
    create_exercise,
    dose_text,
    edited_draft,
    exercise_file_text,
    free_id,
    merge_into,
    missing_fields,
    save_drafts,
    slugify,
)
from core.library.article_match import LibraryMatch
from core.library.articles import ExerciseDraft, read_article_file
from core.access.auth import PermissionDenied, audit_entries, create_user
from core.library.content import parse_exercise
from core.db.store import Store

REPO = Path(__file__).resolve().parents[3]
SEEDS = REPO.parent / "shared" / "seeds"
SOURCE = ArticleSource("Evening unwind", "https://example.org/unwind")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped exercise files, so saving never touches data/."""
    target = tmp_path / "exercises"
    shutil.copytree(REPO / "data" / "exercises", target)
    return target


def complete_draft(**changes) -> ExerciseDraft:
    draft = ExerciseDraft(
        name="Supine twist",
        steps=["Lie on your back and draw both knees toward your chest.", "Let both knees fall to the left."],
        dose=DoseDraft(breaths=(5, 5), sets=(2, 2), per_side=True),
        position="supine", kind="mobility", targets=["spine", "obliques"],
        cues=["Keep both shoulders on the floor."], mistakes=["Forcing the knees down."],
    )
    return edited_draft(draft, **changes)


def test_new_exercise_file_validates_with_the_loader(folder: Path) -> None:
    result = create_exercise(complete_draft(), SOURCE, folder)
    assert (result.action, result.exercise_id, result.problems) == ("created", "supine-twist", [])
    exercise = parse_exercise("supine-twist.md", (folder / "supine-twist.md").read_bytes())
    meta = exercise.meta
    assert (meta.name, meta.kind, meta.position, meta.targets) == ("Supine twist", "mobility", "supine",
                                                                 ["spine", "obliques"])
    assert meta.dose.breaths.as_list() == [5, 5] and meta.dose.sets.as_list() == [2, 2] and meta.dose.per_side
    assert meta.cautions == ["supine"]  # lying on the back: the safety rules must see it
    assert [(s.title, s.url) for s in meta.sources] == [("Evening unwind", "https://example.org/unwind")]
    assert exercise.steps == ["Lie on your back and draw both knees toward your chest.",
                              "Let both knees fall to the left."]
    assert exercise.cues == ["Keep both shoulders on the floor."]
    assert exercise.mistakes == ["Forcing the knees down."]


def test_incomplete_draft_is_rejected_and_nothing_is_written(folder: Path) -> None:
    before = sorted(p.name for p in folder.iterdir())
    draft = complete_draft(kind=None, targets=[], dose=DoseDraft(reps=(8, 12)))
    result = create_exercise(draft, SOURCE, folder)
    assert result.action == "rejected"
    assert result.problems == missing_fields(draft) == [
        "kind: not given by the article, pick one",
        "targets: pick at least one",
        "dose.per_side: say whether it is done on each side",
        "dose.seconds_per_rep: needed when reps are set (how long one rep takes)",
    ]
    assert create_exercise(complete_draft(), ArticleSource(" "), folder).problems == [
        "source: the article needs a title"]
    assert sorted(p.name for p in folder.iterdir()) == before


def test_loader_limits_still_apply(folder: Path) -> None:
    result = create_exercise(complete_draft(dose=DoseDraft(hold_s=(30, 900), per_side=False)), SOURCE, folder)
    assert (result.action, result.problems) == ("rejected", ["dose: hold_s max 900 is above the limit of 600"])
    assert not (folder / "supine-twist.md").exists()


def test_ids_are_slugs_and_never_overwrite(folder: Path) -> None:
    assert slugify("Child's Pose (Wide-Knee)") == "child-s-pose-wide-knee"
    assert slugify("  ✨ ") == "exercise"
    assert free_id("Glute bridge", folder) == "glute-bridge-2"
    first = create_exercise(complete_draft(name="Glute bridge", kind="strength"), SOURCE, folder)
    assert first.exercise_id == "glute-bridge-2"
    assert "Glute bridge" in (folder / "glute-bridge.md").read_text()  # the original is untouched


def test_file_text_quotes_what_yaml_would_misread() -> None:
    draft = complete_draft(name='Knee hug: "easy" version', aliases=["Yes", "#1 stretch"], steps=["Step: one"])
    text = exercise_file_text(draft, "knee-hug", ArticleSource("A: title"), Extras(audiences=["pregnant"]))
    meta = parse_exercise("knee-hug.md", text.encode()).meta
    assert meta.name == 'Knee hug: "easy" version' and meta.aliases == ["Yes", "#1 stretch"]
    assert meta.sources[0].title == "A: title" and meta.sources[0].url is None
    assert meta.audiences == ["pregnant"]


def test_merge_adds_source_and_alias_keeping_comments(folder: Path) -> None:
    path = folder / "kneeling-hip-flexor-stretch.md"
    original = path.read_text()
    draft = complete_draft(name="Low lunge with a pelvic tuck", aliases=["Kneeling lunge stretch"])
    result = merge_into("kneeling-hip-flexor-stretch", draft, SOURCE, folder)
    assert (result.action, result.problems) == ("merged", [])
    text = path.read_text()
    meta = parse_exercise(path.name, text.encode()).meta
    assert meta.aliases[-1] == "Low lunge with a pelvic tuck"
    assert meta.aliases.count("Kneeling lunge stretch") == 1  # already there: not added twice
    assert (meta.sources[-1].title, meta.sources[-1].url) == ("Evening unwind", "https://example.org/unwind")
    assert "# dose: the 002 article's fuller description" in text
    assert text.split("---", 2)[2] == original.split("---", 2)[2]  # the body is unchanged
    again = merge_into("kneeling-hip-flexor-stretch", draft, SOURCE, folder)
    assert again.action == "unchanged" and path.read_text() == text


@pytest.mark.parametrize(("front", "aliases"), [
    ("aliases:\n  - Cat and cow\n", ["Cat and cow", "Cat camel"]),
    ("aliases: []\n", ["Cat camel"]),
    ("", ["Cat camel"]),
])
def test_merge_handles_each_way_of_writing_aliases(tmp_path: Path, front: str, aliases: list[str]) -> None:
    text = ("---\nid: cat-cow\nname: Cat-cow\n" + front + "kind: mobility\ntargets: [spine]\nposition: all_fours\n"
            "dose:\n  hold_s: [30, 60]\n  per_side: false\ncautions: []\naudiences: []\nsources:\n  - title: Old\n---\n"
            "## Steps\n1. Begin on all fours.\n")
    (tmp_path / "cat-cow.md").write_text(text)
    result = merge_into("cat-cow", complete_draft(name="Cat camel"), SOURCE, tmp_path)
    assert result.action == "merged", result.problems
    meta = parse_exercise("cat-cow.md", (tmp_path / "cat-cow.md").read_bytes()).meta
    assert meta.aliases == aliases and [s.title for s in meta.sources] == ["Old", "Evening unwind"]


def test_merge_into_missing_or_broken_file_is_rejected(folder: Path) -> None:
    assert merge_into("no-such", complete_draft(), SOURCE, folder).action == "rejected"
    (folder / "broken.md").write_text("not front matter")
    result = merge_into("broken", complete_draft(), SOURCE, folder)
    assert result.action == "rejected" and result.problems
    assert (folder / "broken.md").read_text() == "not front matter"


def test_save_drafts_merges_matched_and_creates_the_rest(folder: Path) -> None:
    drafts = [
        complete_draft(name="Kneeling lunge stretch", match=LibraryMatch("kneeling-hip-flexor-stretch", 1.0)),
        complete_draft(),
        complete_draft(name="Frog stretch", targets=[]),
    ]
    results = save_drafts(drafts, SOURCE, folder)
    assert [(r.action, r.exercise_id) for r in results] == [
        ("merged", "kneeling-hip-flexor-stretch"), ("created", "supine-twist"), ("rejected", None)]


def test_seed_002_merges_into_the_shipped_library(folder: Path) -> None:
    if not SEEDS.is_dir():
        pytest.skip("seed articles not present")
    library = [parse_exercise(p.name, p.read_bytes()).meta for p in sorted(folder.glob("*.md"))]
    [path] = SEEDS.glob("002_*.txt")
    drafts = read_article_file(path.read_bytes(), path.name, library)
    results = save_drafts(drafts.exercises, ArticleSource(drafts.title), folder)
    assert [(r.action, r.exercise_id) for r in results] == [
        ("unchanged", "kneeling-hip-flexor-stretch"), ("unchanged", "supported-leg-drop"),
        ("unchanged", "dynamic-lunge-arm-reach"), ("unchanged", "kneeling-hip-flexor-stretch-twist")]


def test_dose_text_and_edits() -> None:
    assert dose_text(DoseDraft(hold_s=(30, 60), sets=(2, 3), per_side=True)) == "2–3 × 30–60 s per side"
    assert dose_text(DoseDraft(reps=(8, 12))) == "8–12 reps"
    assert dose_text(DoseDraft()) == ""
    assert dose_text(DoseDraft(duration_s=(60, 60))) == "for 60 s"
    assert dose_text(DoseDraft(reps=(10, 10), duration_s=(30, 45))) == "10 reps, for 30–45 s"
    draft = edited_draft(complete_draft(), name="  Supine   twist ", steps="Lie down.\n\n  Roll the knees. \n")
    assert draft.name == "Supine twist" and draft.steps == ["Lie down.", "Roll the knees."]


def test_accept_checks_the_role_audits_and_reloads(data_copy: Path, store: Store) -> None:
    folder = data_copy / "exercises"
    create_user(store, "cli", "vic", "viewer", "test-password-of-staff")
    create_user(store, "cli", "tess", "therapist", "test-password-of-staff")
    with pytest.raises(PermissionDenied):
        accept_draft(store, "vic", complete_draft(), SOURCE, folder)
    assert not (folder / "supine-twist.md").exists()
    result = accept_draft(store, "tess", complete_draft(), SOURCE, folder, extras=Extras(cautions=[]))
    assert result.action == "created"
    assert store.scalar("SELECT position FROM exercises WHERE id = 'supine-twist'") == "supine"
    assert parse_exercise("supine-twist.md", (folder / "supine-twist.md").read_bytes()).meta.cautions == []
    merged = accept_draft(store, "tess", complete_draft(name="Lying twist"), SOURCE, folder,
                          merge_into_id="supine-twist")
    assert merged.action == "merged"
    assert store.scalar("SELECT count(*) FROM exercise_tags WHERE exercise_id = 'supine-twist'"
                        " AND facet = 'alias' AND value = 'Lying twist'") == 1
    log = audit_entries(store, actor="tess")
    assert sorted(log["action"]) == ["exercise_created_from_article", "exercise_merged_from_article"]
    rejected = accept_all(store, "cli", [complete_draft(name="Frog", targets=[])], SOURCE, folder)
    assert [r.action for r in rejected] == ["rejected"]
    assert not any(audit_entries(store, actor="cli")["action"].str.contains("article"))  # nothing written


@pytest.mark.parametrize(("problem", "read"), [
    ("dose.hold_s: 'thirty-ish' is not a number", "Hold (seconds): 'thirty-ish' is not a number"),
    ("dose.per_side: say whether it is done on each side", "Each side?: say whether it is done on each side"),
    ("dose: hold_s max 900 is above the limit of 600", "Dose: Hold (seconds) max 900 is above the limit of 600"),
    ("targets.0: Input should be 'hips'", "Targets: Input should be 'hips'"),
    ("sources.0.url: not a web address", "Article URL: not a web address"),
    ("source: the article needs a title", "Article title: the article needs a title"),
    ("front matter not found", "front matter not found"),
])
def test_problems_read_with_the_fields_labels_and_keep_their_paths(problem: str, read: str) -> None:
    from core.library.article_import import readable_problem

    assert readable_problem(problem) == read
