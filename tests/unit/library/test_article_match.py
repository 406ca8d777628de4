"""Matching article names to library entries by name and aliases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.library.article_match import (
    MATCH_THRESHOLD,
    LibraryEntry,
    LibraryMatch,
    as_library_entries,
    match_library,
    name_tokens,
    similarity,
)

LIBRARY = [
    LibraryEntry("kneeling-hip-flexor-stretch", "Kneeling hip flexor stretch",
                 ("Kneeling lunge stretch", "Half-kneeling psoas stretch", "Hip flexor stretch")),
    LibraryEntry("supine-psoas-stretch", "Supine psoas stretch", ("Lying psoas stretch",)),
    LibraryEntry("side-lying-clamshell", "Side-lying clamshell", ("Clamshell",)),
    LibraryEntry("glute-bridge", "Glute bridge", ("Bridge pose", "Bridge")),
    LibraryEntry("seated-figure-four", "Seated figure-four stretch"),
]


@pytest.mark.parametrize(("names", "expected_id"), [
    (["Kneeling Lunge Stretch", "Hip Flexor Stretch"], "kneeling-hip-flexor-stretch"),
    (["Kneeling Lunge Stretch (Hip Flexor Stretch)"], "kneeling-hip-flexor-stretch"),
    (["Hip flexor stretch"], "kneeling-hip-flexor-stretch"),    # one distinctive word missing
    (["Bridge Pose"], "glute-bridge"),
    (["Glute bridges"], "glute-bridge"),
    (["Side-lying clamshells"], "side-lying-clamshell"),        # plural
    (["Clam shell"], "side-lying-clamshell"),                    # spelling
    (["Seated figure four stretch"], "seated-figure-four"),
])
def test_matches(names: list[str], expected_id: str) -> None:
    found = match_library(names, LIBRARY)
    assert found is not None and found.exercise_id == expected_id
    assert MATCH_THRESHOLD <= found.score <= 1.0


@pytest.mark.parametrize("names", [
    ["Psoas stretch"],                 # only generic words: not enough to pick one
    ["Seated psoas stretch"],          # one distinctive word swapped for another
    ["Standing quad stretch"],
    ["Hip airplane"],
    ["Standing hip flexor stretch"],   # says more than the alias "Hip flexor stretch"
    ["Glute bridge march"],            # a progression, not the glute bridge itself
    [""],
])
def test_no_match(names: list[str]) -> None:
    assert match_library(names, LIBRARY) is None


def test_exact_alias_scores_one() -> None:
    assert match_library(["Kneeling lunge stretch"], LIBRARY) == LibraryMatch("kneeling-hip-flexor-stretch", 1.0)


def test_scores_hand_computed() -> None:
    # {hip, flexor, stretch(0.3)} vs {kneel, hip, flexor, stretch(0.3)}: 2 * 2.3 / (2.3 + 3.3)
    assert similarity("Hip flexor stretch", "Kneeling hip flexor stretch") == round(4.6 / 5.6, 3)
    # {psoa(0.3), stretch(0.3)} vs {supine, psoa(0.3), stretch(0.3)}: 2 * 0.6 / (0.6 + 1.6)
    assert similarity("Psoas stretch", "Supine psoas stretch") == round(1.2 / 2.2, 3)
    assert name_tokens("The Side-Lying Clamshells") == ("side", "lying", "clamshell")


def test_library_entries_from_dicts_and_objects() -> None:
    @dataclass
    class Meta:
        id: str
        name: str
        aliases: list[str]

    entries = as_library_entries([
        {"id": "a", "name": "Knee hug", "aliases": "Knee to chest, Single knee hug"},
        Meta("b", "Cat-cow", ["Cat and cow"]),
    ])
    assert entries == [LibraryEntry("a", "Knee hug", ("Knee to chest", "Single knee hug")),
                       LibraryEntry("b", "Cat-cow", ("Cat and cow",))]
    assert match_library(["Cat and cow"], entries) == LibraryMatch("b", 1.0)


def test_tie_goes_to_first_entry() -> None:
    twins = [LibraryEntry("first", "Knee hug"), LibraryEntry("second", "Knee hug")]
    assert match_library(["Knee hug"], twins).exercise_id == "first"
