"""The measure of the article reader: answer keys, pairing, what "dose right" means, and the floor
the corpus must not fall below."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.library.article_eval import (
    AnswerKey,
    KeyExercise,
    article_files,
    dose_right,
    load_key,
    main,
    name_score,
    pair_exercises,
    score_article,
    score_folder,
    total,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "articles"

# The figures reached on the corpus (docs/library/article-import.md); a change may raise them, never lower.
FLOOR = {
    "held-in": {"recall": 1.0, "dose_accuracy": 1.0, "precision": 1.0},
    "held-out": {"recall": 1.0, "dose_accuracy": 1.0, "precision": 1.0},
}


def draft(name: str, **dose: object) -> dict[str, object]:
    base = {"hold_s": None, "reps": None, "sets": None, "breaths": None, "per_side": None,
            "seconds_per_rep": None, "duration_s": None}
    return {"name": name, "dose": {**base, **dose}, "cautions": [], "position": None}


def test_name_score_is_dice_over_name_words() -> None:
    assert name_score(["Couch stretch"], "The couch stretch") == 1.0  # "the" is not a name word
    assert name_score(["Pigeon"], "Pigeon pose") == pytest.approx(2 / 3)  # {pigeon} vs {pigeon, pose}
    assert name_score(["Frog", "Frog stretch"], "Frog stretch") == 1.0  # the best of the key's names
    assert name_score(["Dead bug"], "Bird dog") == 0.0


def test_pairs_are_one_to_one_best_first() -> None:
    key = [KeyExercise("Hip flexor stretch"), KeyExercise("Standing hip flexor stretch")]
    drafts = [draft("Standing hip flexor stretch"), draft("Hip flexor stretch")]
    assert pair_exercises(key, drafts) == {0: 1, 1: 0}
    assert pair_exercises([KeyExercise("Glute bridge")], [draft("Clamshell")]) == {}


@pytest.mark.parametrize(("expected", "drafted", "right"), [
    ({"hold_s": [30, 45], "sets": [2, 2], "per_side": True},
     draft("x", hold_s=[30, 45], sets=[2, 2], per_side=True)["dose"], True),
    ({"reps": [10, 10]}, draft("x", reps=[10, 10])["dose"], True),          # per side absent = not
    ({"reps": [10, 10]}, draft("x", reps=[10, 10], per_side=False)["dose"], True),
    ({"reps": [10, 10]}, draft("x", reps=[10, 10], per_side=True)["dose"], False),
    ({"reps": [10, 10], "sets": [2, 3]}, draft("x", reps=[2, 3])["dose"], False),  # sets read as reps
    ({"duration_s": [60, 60]}, draft("x", hold_s=[60, 60])["dose"], False),  # a duration is not a hold
    ({"hold_s": [20, 30]}, draft("x", hold_s=[20, 30], seconds_per_rep=3.0)["dose"], True),  # not scored
])
def test_dose_right_means_every_amount_and_per_side(expected: dict[str, object], drafted: dict[str, object],
                                                    right: bool) -> None:
    assert dose_right(expected, drafted) is right


def test_score_counts_found_doses_and_extras() -> None:
    key = AnswerKey((KeyExercise("Bird dog", dose={"reps": [8, 8], "per_side": True}, cautions=("back lifts",),
                                 position="all_fours"),
                     KeyExercise("Dead bug", dose={"reps": [8, 8]}),
                     KeyExercise("Side plank", dose={"hold_s": [20, 20]})))
    bird = {**draft("Bird dog", reps=[8, 8], per_side=True), "cautions": ["Stop if your back lifts."],
            "position": "all_fours"}
    drafts = {"exercises": [bird, draft("Dead bug", reps=[6, 6]), draft("Intro to core work")]}
    score = score_article("a.md", key, drafts)
    assert (score.expected, score.drafted, score.found, score.doses_right) == (3, 3, 2, 1)
    assert (score.recall, score.dose_accuracy, score.precision) == (2 / 3, 1 / 3, 2 / 3)
    assert (score.cautions_found, score.positions_right) == (1, 1)
    assert score.problems == ["dose of Dead bug: wanted {'reps': [8, 8]}, got {'reps': [6, 6]}",
                              "missed: Side plank", "not in the key: Intro to core work"]
    overall = total([score, score_article("b.md", AnswerKey(()), {"exercises": []})], "all")
    assert (overall.expected, overall.found, overall.recall) == (3, 2, 2 / 3)
    assert score_article("c.md", key, {"exercises": []}).precision is None  # nothing drafted: no ratio


def test_a_malformed_key_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("exercises:\n  - name: Bridge\n    dose: {hold: [30, 30]}\n")
    with pytest.raises(ValueError, match=r"a.yaml: exercises\[0\].dose has unknown fields \['hold'\]"):
        load_key(path)
    path.write_text("exercises:\n  - dose: {}\n")
    with pytest.raises(ValueError, match=r"a.yaml: exercises\[0\] needs a name"):
        load_key(path)


def test_the_corpus_is_varied_and_keyed() -> None:
    pairs = article_files(FIXTURES)
    keys = [load_key(key) for _, key in pairs]
    assert len(pairs) >= 15
    assert {path.suffix for path, _ in pairs} == {".md", ".txt", ".html"}
    assert sum(k.holdout for k in keys) >= len(keys) // 4
    assert all(k.exercises for k in keys)


@pytest.mark.parametrize("group", ["held-in", "held-out"])
def test_the_reader_holds_its_figures_on_the_corpus(group: str) -> None:
    overall = total(score_folder(FIXTURES, (group == "held-out",)), group)
    for figure, floor in FLOOR[group].items():
        assert getattr(overall, figure) >= floor, f"{group} {figure} fell below {floor}"


def test_main_prints_a_row_per_article_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES), "--set", "in"]) == 0
    out = capsys.readouterr().out
    assert "arrow_menu.md" in out and "TOTAL held-in" in out and "symbol_blocks.txt" not in out
