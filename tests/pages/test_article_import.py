"""The "Import from article" page: read, review side by side, accept, merge or discard."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import get_store

REPO = Path(__file__).resolve().parents[2]
ARTICLES = REPO / "tests" / "fixtures" / "articles"


def read(app: AppTest, name: str) -> AppTest:
    at = app.run()
    at.switch_page("pages/article_import.py").run()
    assert not at.exception, at.exception
    at.text_area(key="ai_text").input((ARTICLES / name).read_text()).run()
    at.button(key="ai_read").click().run()
    assert not at.exception, at.exception
    return at


def test_reading_shows_drafts_and_writes_nothing(app: AppTest, app_db: Path, data_copy: Path) -> None:
    before = sorted(p.name for p in (data_copy / "exercises").iterdir())
    at = read(app, "numbered_evening.txt")
    assert at.title[0].value == "Import from article"
    assert at.subheader[0].value == "4 exercise draft(s)"
    assert at.text_input(key="ai_title").value == "Evening unwind: four gentle moves"
    assert at.text_input(key="ai_name_1").value == "Half-Kneeling Hip Flexor Stretch"
    assert at.text_input(key="ai_hold_1").value == "30" and at.text_input(key="ai_sets_1").value == "2-3"
    assert any("Library match:** Kneeling hip flexor stretch" in m.value for m in at.markdown)
    assert "**Cautions:** Balance, Hip at the end of its range, Kneeling" in [w.value for w in at.warning]
    assert at.subheader[1].value == "1 routine draft(s)"
    routine = at.dataframe[0].value
    assert list(routine["item"]) == ["Child's pose", "Half-kneeling hip flexor stretch", "Supine twist",
                                     "Legs up the wall"]
    assert sorted(p.name for p in (data_copy / "exercises").iterdir()) == before


def test_accept_after_editing_creates_the_exercise(app: AppTest, app_db: Path, data_copy: Path) -> None:
    at = read(app, "numbered_evening.txt")
    at.multiselect(key="ai_targets_2").set_value(["spine", "obliques"])
    at.button(key="ai_accept_2").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    path = data_copy / "exercises" / "supine-twist.md"
    assert path.is_file()
    text = path.read_text()
    assert 'title: "Evening unwind: four gentle moves"' in text and "cautions: [supine]" in text
    assert get_store().scalar("SELECT name FROM exercises WHERE id = 'supine-twist'") == "Supine Twist"
    # staff read the exercise's name, never the server's path to its file
    assert any(s.value.startswith("Created: “Supine Twist”") and "/" not in s.value for s in at.success)


def test_incomplete_draft_is_not_saved(app: AppTest, app_db: Path, data_copy: Path) -> None:
    at = read(app, "numbered_evening.txt")
    at.button(key="ai_accept_0").click().run()  # Child's pose: no targets, per side unknown
    assert "Targets: pick at least one" in at.error[0].value
    assert not list((data_copy / "exercises").glob("child*"))
    at.text_input(key="ai_hold_0").input("thirty-ish")
    at.button(key="ai_accept_0").click().run()
    # the field as the form labels it, never its path; the typed text escaped
    assert "Hold (seconds): 'thirty-ish' is not a number or a range like 30-60" in at.error[0].value
    assert "dose" not in at.error[0].value


def test_merge_and_discard(app: AppTest, app_db: Path, data_copy: Path) -> None:
    at = read(app, "numbered_evening.txt")
    at.text_input(key="ai_url").input("https://example.org/unwind").run()
    at.button(key="ai_merge_1").click().run()
    assert not at.exception and not at.error
    text = (data_copy / "exercises" / "kneeling-hip-flexor-stretch.md").read_text()
    assert 'title: "Evening unwind: four gentle moves"\n    url: "https://example.org/unwind"' in text
    at.button(key="ai_discard_3").click().run()
    assert [s.value for s in at.success] == [
        "Merged: “Kneeling hip flexor stretch” is in the exercise library (find it on the Exercise library page).",
        "Discarded."]
    assert not list((data_copy / "exercises").glob("legs*"))


def test_merge_needs_a_target_and_a_new_article_starts_fresh(app: AppTest, app_db: Path, data_copy: Path) -> None:
    at = read(app, "numbered_evening.txt")
    at.text_input(key="ai_name_0").input("Wide child's pose")
    at.button(key="ai_merge_0").click().run()  # no library match and none picked
    assert "Pick the library exercise to merge into." in at.error[0].value
    at.text_area(key="ai_text").input((ARTICLES / "plain_paragraphs.txt").read_text()).run()
    at.button(key="ai_read").click().run()
    assert at.text_input(key="ai_name_0").value == "Knee hug"
    assert at.text_input(key="ai_title").value == "Three floor moves for stiff hips"


def test_empty_paste_warns(app: AppTest, app_db: Path, data_copy: Path) -> None:
    at = app.run()
    at.switch_page("pages/article_import.py").run()
    at.button(key="ai_read").click().run()
    assert at.warning[0].value == "Paste some text or choose a file first."
    assert at.info[0].value == "Read an article to see its draft exercises here."


def test_viewers_do_not_get_the_page(app_as, data_copy: Path) -> None:
    at = app_as("viewer").run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/article_import.py")
