"""What people read (issues 17 and 18), across pages: stored text is escaped where it meets
Markdown, CSV downloads cannot run formulas, codes read as labels, and the share-link form starts
empty and warns when a de-identified link's label names a client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import clock
from core.library.content import sync_library
from core.practice import assignments, clients, routines
from core.db.store import Store
from pages import common
from pages.common import code_label, csv_text, escape_markdown, for_people, get_store
from tests.practice_rows import add_session

TODAY = clock.today()
IMAGE = "![pic](http://host/x.png)"
HOSTILE = {"display_name": IMAGE, "therapist": "[Dr](http://host/t)", "email": "a_b_c@host.org",
           "conditions": ":red[loud] :material/home: `code`", "notes": "# Heading\n- item\n<img src=x>"}
REPO = Path(__file__).resolve().parents[2]


# -- the helpers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\",\"y\")", "+SUM(1)", "-1+2", "@cmd", "\tx", "\rx"])
def test_a_formula_cell_is_neutralised(cell: str) -> None:
    assert common.neutralise_csv_cell(cell) == "'" + cell


def test_csv_keeps_codes_numbers_and_plain_text() -> None:
    frame = pd.DataFrame({"status": ["on_track", "=1+1"], "change": [-1.5, 2.0], "note": ["fine", None]})
    lines = csv_text(frame).splitlines()
    assert lines == ["status,change,note", "on_track,-1.5,fine", "'=1+1,2.0,"]


def test_every_csv_download_goes_through_the_one_helper() -> None:
    """No page builds a CSV of its own: table_with_csv (pages/common.py) is the only "Download CSV"."""
    for page in (REPO / "pages").glob("*.py"):
        source = page.read_text()
        assert ".to_csv(" not in source or page.name == "common.py", page.name
        assert '"Download CSV"' not in source or page.name == "common.py", page.name
    assert "data=lambda: csv_text(frame)" in (REPO / "pages" / "common.py").read_text()


def test_escaping_stops_links_images_directives_and_html() -> None:
    assert escape_markdown(IMAGE) == "!\\[pic\\](http\\://host/x.png)"
    assert escape_markdown(":red[x] :material/home:") == "\\:red\\[x\\] \\:material/home:"
    assert escape_markdown("<b>x</b>") == "\\<b\\>x\\</b\\>"
    assert escape_markdown("# h\n- i\n1. one") == "\\# h  \n\\- i  \n1\\. one"
    assert escape_markdown("Ana Silva-Berg, 3.5 kg") == "Ana Silva-Berg, 3.5 kg"   # ordinary text as typed
    assert escape_markdown(None) == "—"


def test_codes_read_as_labels_numbers_are_rounded_and_empty_cells_stay_empty() -> None:
    assert code_label("desk_worker, pregnant") == "Desk worker, Pregnant"
    assert code_label("at_risk") == "At risk" and code_label("Nico Quinn") == "Nico Quinn"
    frame = pd.DataFrame({"status": ["on_track", None], "adherence": [0.827, 0.059], "sessions": [17.2857, 3.0]})
    shown, config = for_people(frame, {"adherence": common.HEADINGS["adherence"]})
    assert list(shown["status"].fillna("")) == ["On track", ""]
    assert list(shown["adherence"]) == [83.0, 6.0] and config["adherence"]["type_config"]["format"] == "%d%%"
    assert list(shown["sessions"]) == [17.3, 3.0]


# -- across pages -----------------------------------------------------------------------------------

@pytest.fixture
def hostile_practice(app_db: Path) -> str:
    """A client whose stored words are Markdown and HTML, on a routine staff named the same way,
    with a session note that is an image."""
    with Store(app_db) as store:
        sync_library(store)
        client = clients.create_client(store, {"code": "H1", **HOSTILE, "segments": ["runner"]}, "cli", TODAY)
        template = routines.load_draft(store, "four-stretch-routine")
        draft = routines.set_details(template, name=f"Plan {IMAGE}", audience=template.audience)
        saved = routines.save_draft(store, draft, "cli", as_new=True)
        start = TODAY - timedelta(days=10)
        assignments.assign(store, "H1", saved.routine_id, start, "cli", start)
        for day in range(3):
            add_session(store, client.id, TODAY - timedelta(days=day + 1), saved.routine_id, pain_before=8.0,
                        pain_after=8.0, notes=IMAGE)
    return "H1"


def texts(at: AppTest) -> list[str]:
    """Every Markdown body and label of the run: what the browser renders as Markdown."""
    found: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "success", "info", "warning", "error"):
        found += [str(element.value) for element in getattr(at, kind)]
    found += [str(link.proto.label) for link in at.get("page_link")]
    found += [str(expander.label) for expander in at.expander]
    return found


UNESCAPED = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<!\\)<img|(?<!\\):red\[")


def assert_escaped(at: AppTest) -> None:
    assert not at.exception, at.exception
    bodies = texts(at)
    assert not [b for b in bodies if UNESCAPED.search(b)], [b for b in bodies if UNESCAPED.search(b)]


def test_stored_text_is_escaped_on_every_page_that_shows_it(app_as, hostile_practice: str) -> None:
    at = app_as("owner")
    at.run()
    at.query_params["client"] = hostile_practice
    at.switch_page("pages/clients.py").run()
    assert_escaped(at)
    assert any("!\\[pic\\]" in b for b in texts(at))        # the name is shown, as typed
    at.switch_page("pages/client_dashboard.py").run()
    assert_escaped(at)
    assert any("!\\[pic\\]" in h.value for h in at.header)
    at.switch_page("pages/overview.py").run()
    assert_escaped(at)
    at.switch_page("pages/routine_builder.py").run()
    at.selectbox(key="builder_source").set_value(get_store().scalar(
        "SELECT id FROM routines WHERE origin = 'custom'")).run()
    at.button(key="builder_load").click().run()
    assert_escaped(at)


def test_the_share_link_form_starts_empty_and_warns_about_a_clients_name(app_as, hostile_practice: str) -> None:
    at = app_as("owner")
    at.run()
    at.switch_page("pages/admin_links.py").run()
    at.radio(key="share_kind").set_value("practice").run()
    at.text_input(key="share_label").input("Midwife Sarah")
    at.button(key="share_create").click().run()
    assert not at.exception and at.text_input(key="share_label").value == ""   # cleared for the next link
    clients.create_client(get_store(), {"code": "N1", "display_name": "Nico Quinn"}, "cli", TODAY)
    at.text_input(key="share_label").input("Midwife Sarah (Nico's care team)")
    at.checkbox(key="share_deidentify").check()
    at.button(key="share_create").click().run()
    assert any("names a client" in w.value and "Nico Quinn" in w.value for w in at.warning)
    assert any("Not made yet" in e.value for e in at.error)
    assert get_store().scalar("SELECT count(*) FROM share_links") == 1
    at.checkbox(key="share_named_ok").check()
    at.button(key="share_create").click().run()
    assert get_store().scalar("SELECT count(*) FROM share_links") == 2
    assert any(m.value.startswith("**Whole practice**") for m in at.markdown)   # the scope as a label
