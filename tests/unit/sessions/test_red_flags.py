"""Warning signs in session notes: which phrases are tagged, at which level, in SQL."""

from __future__ import annotations

import pytest

from core.sessions.red_flags import (
    BY_TAG, LEVELS, RED_FLAGS, TAG_LEVELS, highest_level, parse_tags, tag_notes, tag_session_logs,
    tag_session_logs_sql,
)
from core.db.store import Store, utcnow

TAGGED = [
    # pregnancy warning signs
    ("Some spotting this morning", ["bleeding"]),
    ("I noticed bleeding after the stretch", ["bleeding"]),
    ("Felt dizzy when I stood up.", ["dizziness"]),
    ("a bit light-headed after the bridge", ["dizziness"]),
    ("felt faint on the way up", ["dizziness"]),
    ("chest felt tight during the lunge", ["chest_pain"]),
    ("pain in my chest afterwards", ["chest_pain"]),
    ("regular contractions since lunch", ["contractions"]),
    ("Braxton Hicks again", ["contractions"]),
    ("leaking some fluid after", ["fluid_leaking"]),
    ("I think my waters broke", ["fluid_leaking"]),
    ("left calf swollen and warm", ["calf_pain_swelling"]),
    ("pain in the back of my calf", ["calf_pain_swelling"]),
    # low-back red flags
    ("numbness around the groin since yesterday", ["saddle_numbness", "numbness"]),
    ("saddle area feels numb", ["saddle_numbness", "numbness"]),
    ("can’t pee properly since Tuesday", ["bladder_bowel_change"]),
    ("some bowel changes this week", ["bladder_bowel_change"]),
    ("Some tingling in the left foot afterwards.", ["tingling"]),
    ("pins and needles down the leg", ["pins_and_needles"]),
    ("pins & needles in my toes", ["pins_and_needles"]),
    ("Sharp pain in the hip on the lunge, stopped.", ["sharp_pain"]),
    ("stabbing feeling in the lower back", ["sharp_pain"]),
    # several at once, most urgent first
    ("felt dizzy, then tingling and sharp pain", ["dizziness", "tingling", "sharp_pain"]),
    # we do not read negations: a person reads the note
    ("no dizziness today", ["dizziness"]),
]

NOT_TAGGED = [
    "Felt looser afterwards.",
    "Hips tight after a long drive.",
    "blood pressure fine at the check-up",
    "saddle sore after the bike ride",
    "a faint ache in the hip, nothing more",
    "my numbers went up on the app",
    "calf stretch felt good",
    "",
    None,
]


@pytest.mark.parametrize(("note", "tags"), TAGGED)
def test_warning_signs_are_tagged(store: Store, note: str, tags: list[str]) -> None:
    assert tag_notes(store, [note]) == [tags]


@pytest.mark.parametrize("note", NOT_TAGGED)
def test_ordinary_notes_are_not_tagged(store: Store, note: str | None) -> None:
    assert tag_notes(store, [note]) == [[]]


def test_levels_for_the_alerts() -> None:
    critical = {"saddle_numbness", "bladder_bowel_change", "bleeding", "dizziness", "chest_pain", "contractions",
                "fluid_leaking", "calf_pain_swelling"}
    high = {"numbness", "tingling", "pins_and_needles", "sharp_pain"}
    assert {t for t, level in TAG_LEVELS.items() if level == "critical"} == critical
    assert {t for t, level in TAG_LEVELS.items() if level == "high"} == high
    assert LEVELS == ("critical", "high")
    assert [f.tag for f in RED_FLAGS] == list(BY_TAG)
    assert {BY_TAG[t].context for t in ("bleeding", "dizziness", "calf_pain_swelling")} == {"pregnancy"}
    assert {BY_TAG[t].context for t in ("saddle_numbness", "tingling")} == {"low_back"}


def test_highest_level_and_stored_tags() -> None:
    assert parse_tags("tingling,dizziness") == ["tingling", "dizziness"]
    assert parse_tags(None) == [] and parse_tags("") == []
    assert highest_level(["tingling", "dizziness"]) == "critical"
    assert highest_level(["tingling", "unknown_tag"]) == "high"
    assert highest_level([]) is None


def test_existing_rows_can_be_tagged_set_based(store: Store) -> None:
    now = utcnow()
    with store.transaction() as cur:
        cur.execute("INSERT INTO clients (code, display_name, created_at, updated_at) VALUES ('C1', 'A', ?, ?)", [now, now])
        cur.executemany(
            "INSERT INTO session_logs (client_id, session_date, notes, source, created_at) VALUES (1, DATE '2024-03-01', ?, ?, ?)",
            [["felt dizzy", "demo", now], ["all fine", "demo", now], ["sharp pain", "other", now]])
        tag_session_logs(cur, "source = ?", ["demo"])
    assert store.rows("SELECT notes, red_flags FROM session_logs ORDER BY id") == [
        ("felt dizzy", "dizziness"), ("all fine", None), ("sharp pain", None)]
    assert tag_session_logs_sql().startswith("UPDATE session_logs SET red_flags = ")
