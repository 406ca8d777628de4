import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.library.content import DATA_DIR
from pages.common import get_store


def open_library(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page("pages/library.py").run()
    assert not at.exception, at.exception
    return at


def listed(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["name"])


def test_app_shell_opens_and_loads_the_library(app: AppTest, app_db: Path) -> None:
    at = app.run()
    assert not at.exception
    # the app holds the database open: read through the same process-wide store
    assert get_store().scalar("SELECT count(*) FROM exercises") > 0
    assert at.title[0].value == "Practice overview"  # the default page for signed-in staff


def test_search_narrows_the_list(app: AppTest, app_db: Path) -> None:
    at = open_library(app)
    everything = listed(at)
    assert len(everything) >= 14
    at.text_input(key="lib_text").input("pigeon").run()
    assert listed(at) == ["Pigeon pose"]
    assert at.header[0].value == "Pigeon pose"


def test_filters_change_what_is_listed(app: AppTest, app_db: Path) -> None:
    at = open_library(app)
    total = len(listed(at))
    at.multiselect(key="lib_position").set_value(["supine"]).run()
    supine = listed(at)
    assert 0 < len(supine) < total
    at.multiselect(key="lib_kind").set_value(["strength"]).run()
    both = listed(at)
    assert set(both) < set(supine)
    at.multiselect(key="lib_caution").set_value(["kneeling"]).run()
    assert listed(at) == [] or all(n in both for n in listed(at))


def test_nothing_matches_shows_a_hint(app: AppTest, app_db: Path) -> None:
    at = open_library(app)
    at.text_input(key="lib_text").input("zzz").run()
    assert "No exercise matches" in at.info[0].value


def test_detail_shows_steps_dose_and_source(app: AppTest, app_db: Path) -> None:
    at = open_library(app)
    at.selectbox(key="lib_detail").set_value("kneeling-hip-flexor-stretch").run()
    text = " ".join(m.value for m in at.markdown)
    assert "**Dose:** 2–3 × 30–60 s per side" in text
    assert any("Source:" in c.value for c in at.caption)
    assert any(s.value == "Steps" for s in at.subheader)


def test_skipped_content_files_are_shown(app: AppTest, tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "content"
    shutil.copytree(DATA_DIR, data)
    broken = data / "exercises" / "leg-lowering.md"  # no routine template uses it
    broken.write_text(broken.read_text().replace("kind: strength", "kind: lifting"))
    monkeypatch.setenv("ROUTINE_DESK_DATA", str(data))
    at = open_library(app)
    assert "1 content file(s) skipped" in at.expander[0].label
    problems = at.expander[0].dataframe[0].value
    assert list(problems["file"]) == ["leg-lowering.md"]          # the file's name, not a server path
    assert problems["problem"].iloc[0].startswith("Kind: ")


def test_a_database_in_use_elsewhere_gives_a_clear_page(app: AppTest, app_db: Path) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(  # another process holding the file, like a second server
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(app_db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        at = app.run()
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception
    assert at.title[0].value == "Routine Desk cannot open its database"
    assert "another process is using it" in at.error[0].value
    shown = " ".join(str(e.value) for e in (*at.title, *at.error, *at.caption))  # no path, PID or interpreter
    assert str(app_db) not in shown and str(holder.pid) not in shown and "PID" not in shown and sys.executable not in shown
