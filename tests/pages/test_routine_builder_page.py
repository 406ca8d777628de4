"""Routine builder (AppTest): load, edit items and doses, minutes, findings for a client, save versions."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.practice import clients
from core import clock
from core.practice import routines
from core.library.content import sync_library
from core.db.store import Store
from pages.common import get_store


def open_builder(app_as, app_db: Path, role: str = "therapist") -> AppTest:
    """The builder for ``olga``, with the library and Ana (24 weeks pregnant today) in the database."""
    at = app_as(role, "olga")
    with Store(app_db) as store:
        sync_library(store)
        clients.create_client(store, {"code": "ANA", "display_name": "Ana", "gestation_weeks": 24,
                                "gestation_on": clock.today()}, "cli", clock.today())
    at.run()
    at.switch_page("pages/routine_builder.py").run()
    assert not at.exception, at.exception
    return at


def load(at: AppTest, routine_id: str) -> AppTest:
    at.selectbox(key="builder_source").set_value(routine_id).run()
    at.button(key="builder_load").click().run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def item_titles(at: AppTest) -> list[str]:
    return [m.value.split("** ·")[0].lstrip("*") for m in at.markdown if m.value[:2] == "**" and ". " in m.value[:6]]


def item_buttons(at: AppTest, suffix: str) -> list:
    return [b for b in at.button if b.key and b.key.endswith(suffix)]


def test_load_a_template_shows_its_minutes(app_as, app_db: Path) -> None:
    at = load(open_builder(app_as, app_db), "daily-psoas-routine")
    assert metric(at, "Estimated minutes per session") == "14.4"
    assert metric(at, "Sessions per week") == "7" and metric(at, "Exercises") == "6"
    assert item_titles(at)[0] == "1. Supported leg drop"
    # a template is saved as a new routine only
    assert {b.key for b in at.button} >= {"builder_save_new"} and "builder_save_version" not in {b.key for b in at.button}


def test_remove_reorder_add_and_dose(app_as, app_db: Path) -> None:
    at = load(open_builder(app_as, app_db), "four-stretch-routine")
    assert item_titles(at) == ["1. Kneeling hip flexor stretch", "2. Supine psoas stretch", "3. Pigeon pose",
                               "4. Butterfly stretch"]
    item_buttons(at, "_down")[0].click().run()
    assert item_titles(at)[:2] == ["1. Supine psoas stretch", "2. Kneeling hip flexor stretch"]
    item_buttons(at, "_remove")[2].click().run()                     # pigeon pose
    assert [t[3:] for t in item_titles(at)] == ["Supine psoas stretch", "Kneeling hip flexor stretch",
                                                "Butterfly stretch"]
    at.selectbox(key="b1_add_exercise").set_value("side-lying-clamshell").run()
    at.button(key="b1_add").click().run()
    assert item_titles(at)[-1] == "4. Side-lying clamshell"
    # 3.9 min before; minus pigeon (65 s), plus the clamshell at its usual 2.5 x 2 x 12.5 x 2 s + 15 = 140 s
    # -> 235 - 65 + 140 = 310 s = 5.2 min
    assert metric(at, "Estimated minutes per session") == "5.2"
    hold_max = next(n for n in at.number_input if n.key.endswith("hold_s_max"))
    hold_max.set_value(700).run()
    assert any("10 minutes" in e.value for e in at.error)
    assert at.button(key="builder_save_new").disabled
    hold_max.set_value(45).run()
    assert not at.error and not at.button(key="builder_save_new").disabled


def test_findings_for_a_chosen_client(app_as, app_db: Path) -> None:
    at = load(open_builder(app_as, app_db), "daily-psoas-routine")
    at.selectbox(key="builder_client").set_value(1).run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("**Glute bridge**") and "vena cava" in w for w in warnings)
    assert any("Try instead: **Side-lying clamshell**" in w for w in warnings)


def test_save_as_new_routine_then_a_new_version(app_as, app_db: Path) -> None:
    at = load(open_builder(app_as, app_db), "four-stretch-routine")
    at.text_input(key="b1_name").input("Evening stretches").run()
    at.button(key="builder_save_new").click().run()
    assert not at.exception
    assert any("Saved “Evening stretches” version 1" in s.value for s in at.success)   # its name, not its id
    store = get_store()
    assert routines.get_version(store, "evening-stretches").origin == "custom"
    # the saved routine is now in the builder; change the schedule and save a version
    at.number_input(key="b2_weeks").set_value(6).run()
    at.button(key="builder_save_version").click().run()
    assert any("version 2" in s.value for s in at.success)
    assert (routines.get_version(store, "evening-stretches").weeks, routines.get_version(store, "evening-stretches", 1).weeks) == (6, 4)
    assert store.scalar("SELECT created_by FROM routine_versions WHERE routine_id = 'evening-stretches' AND version = 2") == "olga"


def test_start_empty_and_viewers_cannot_save(app_as, app_db: Path) -> None:
    at = open_builder(app_as, app_db, role="viewer")
    at.button(key="builder_empty").click().run()
    assert metric(at, "Exercises") == "0"
    assert any("cannot" in i.value or "not save" in i.value for i in at.info)
    assert "builder_save_new" not in {b.key for b in at.button}


def test_breath_counts_can_be_set_in_the_builder(app_as, app_db: Path) -> None:
    at = load(open_builder(app_as, app_db), "four-stretch-routine")
    assert metric(at, "Estimated minutes per session") == "3.9"                      # 235 s
    first = item_buttons(at, "_up")[0].key.removesuffix("up")          # the first item's widget keys
    at.number_input(key=first + "breaths_min").set_value(4)
    at.number_input(key=first + "breaths_max").set_value(4).run()
    # kneeling hip flexor stretch: 1 set x 2 sides x 4 breaths x 5 s = +40 s -> 275 s = 4.6 min
    assert metric(at, "Estimated minutes per session") == "4.6"
    assert "1 × 20–30 s + 4 breaths per side" in item_titles_with_dose(at)[0]     # the header follows the edit


def item_titles_with_dose(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value[:2] == "**" and ". " in m.value[:6]]
