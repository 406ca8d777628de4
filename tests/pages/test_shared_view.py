"""A ?share= link in the real app (AppTest), attacked: it shows its own scope read-only, or one
neutral page — never anything else, never a way to write, never a way out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import clock
from core.sharing import links
from core.library.content import sync_library
from core.commands.demo import DemoSpec, create_demo_practice
from core.db.store import Store, utcnow
from pages.common import SESSION_KEY, escape_markdown, get_store

EVIL_NAME = "<script>alert('name')</script> **bold** [x](javascript:alert(1)) O'Brien\"; DROP TABLE clients;--"
EVIL_NOTE = "<img src=x onerror=alert('note')> ' OR 1=1; -- %_\\"
EVIL_LABEL = "<b>Dr</b> :red[Q] ' OR '1'='1"
NEUTRAL = ("This link is not valid",
           "It may have expired or been withdrawn. Ask the person who sent it to you for a new link.")
# The only widget a shared view may have: the period filter, which reads.
READ_ONLY_WIDGETS = {"share_filter_days"}
WIDGET_TYPES = {"button", "button_group", "checkbox", "color_picker", "date_input", "datetime_input", "download_button",
                "file_uploader", "camera_input", "audio_input", "chat_input", "data_editor", "multiselect",
                "number_input", "radio", "select_slider", "selectbox", "slider", "text_area", "text_input",
                "time_input", "toggle", "form", "form_submit_button", "link_button", "page_link", "feedback",
                "segmented_control", "pills", "menu_button"}


@pytest.fixture
def shared(app_db: Path) -> dict[str, str]:
    """A small demo practice with hostile text, and one token per kind of link."""
    with Store(app_db) as s:
        sync_library(s)
        create_demo_practice(s, DemoSpec(clients=8, days=60, seed=5, as_of=clock.today()))
        with s.transaction() as cur:
            cur.execute("UPDATE clients SET display_name = ? WHERE code = 'C00002'", [EVIL_NAME])
            cur.execute("UPDATE session_logs SET notes = ? WHERE client_id = (SELECT id FROM clients"
                        " WHERE code = 'C00002') AND session_date > ?", [EVIL_NOTE, clock.today() - timedelta(days=20)])

        def make(scope: str, **kw) -> str:
            return links.create_link(s, "cli", scope, base="http://t.example", **kw).url.split("share=")[1]

        tokens = {
            "client": make("client:C00002", label=EVIL_LABEL),
            "client_deid": make("client:C00002", deidentify=True),
            "segment": make("segment:runner"),
            "practice": make("practice"),
            "expired": make("client:C00002", days=1, now=utcnow() - timedelta(days=1, seconds=1)),
            "revoked": make("client:C00002"),
        }
        links.revoke(s, "cli", int(s.scalar("SELECT max(id) FROM share_links")))
    return tokens


def open_link(app: AppTest, **params: str | list[str]) -> AppTest:
    for name, value in params.items():
        app.query_params[name] = value
    return app.run()


def tree(at: AppTest) -> list[tuple[str, str]]:
    """Every element the visitor receives: (type, text)."""
    out = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            out.append((getattr(child, "type", type(child).__name__), str(getattr(child, "value", ""))
                        if hasattr(child, "value") else ""))
            walk(child)

    walk(at._tree)
    return out


def visible_text(at: AppTest) -> str:
    parts = [text for _, text in tree(at)]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def registered(at: AppTest) -> set[str]:
    return {Path(info["script_path"]).name for info in at._registered_pages.values() if info.get("script_path")}


def is_neutral(at: AppTest) -> bool:
    return (not at.exception and [t.value for t in at.title] == [NEUTRAL[0]]
            and [m.value for m in at.markdown] == [NEUTRAL[1]] and not at.sidebar.children
            and not at.dataframe and not at.info)


# -- invalid links: one neutral page ------------------------------------------------------------

def test_every_invalid_token_gets_the_same_neutral_page(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    good = shared["client"]
    bad = {
        "tampered": good[:5] + ("A" if good[5] != "A" else "B") + good[6:],
        "truncated": good[:-1],
        "extended": good + "x",
        "expired": shared["expired"],
        "revoked": shared["revoked"],
        "random": secrets.token_urlsafe(32),
        "empty": "",
        "sql": "' OR '1'='1' --",
        "hash": hashlib.sha256(good.encode()).hexdigest(),
        "html": "<script>alert(1)</script>",
    }
    pages = {}
    for name, token in bad.items():
        at = open_link(AppTest.from_file(anonymous_app._script_path, default_timeout=30), share=token)
        assert is_neutral(at), name
        pages[name] = tree(at)
    assert len({tuple(p) for p in pages.values()}) == 1  # identical, element for element
    assert get_store().scalar("SELECT count(*) FROM share_link_opens") == 0


def test_two_share_parameters_open_nothing(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    assert is_neutral(open_link(anonymous_app, share=[shared["client"], shared["practice"]]))


# -- a valid link: its scope only, read-only ----------------------------------------------------

def test_a_client_link_shows_the_banner_and_that_clients_dashboard(anonymous_app: AppTest,
                                                                  shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["client"])
    assert not at.exception
    banner = at.info[0].value
    assert banner.startswith("Read-only view") and "expires on" in banner
    assert escape_markdown(EVIL_LABEL) in banner  # the label shows as typed, not as markup
    assert at.title[0].value == escape_markdown(f"Progress of {EVIL_NAME}")
    sessions = at.dataframe[0].value
    client_id = get_store().scalar("SELECT id FROM clients WHERE code = 'C00002'")
    assert len(sessions) == get_store().scalar(
        "SELECT count(*) FROM session_logs WHERE client_id = ? AND session_date > ?",
        [client_id, clock.today() - timedelta(days=28)])
    assert EVIL_NOTE in set(sessions["Notes"])  # a dataframe cell: shown as text
    assert get_store().scalar("SELECT count(*) FROM clients") == 8  # the SQL in the name did nothing


def test_hostile_text_is_never_rendered_as_html(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["client"])
    for element in [*at.markdown, *at.title, *at.info, *at.caption]:
        assert not getattr(element.proto, "allow_html", False)
    assert not [kind for kind, _ in tree(at) if kind in ("html", "iframe", "components")]


def test_a_deidentified_link_shows_no_name_and_no_notes(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["client_deid"])
    assert at.title[0].value == escape_markdown("Progress of client C00002")
    text = visible_text(at)
    assert "O'Brien" not in text and "alert('note')" not in text
    assert all("Notes" not in df.value.columns for df in at.dataframe)


def test_changing_any_other_query_parameter_cannot_widen_a_client_link(anonymous_app: AppTest,
                                                                      shared: dict[str, str]) -> None:
    base = open_link(AppTest.from_file(anonymous_app._script_path, default_timeout=30), share=shared["client"])
    expected = (base.title[0].value, base.dataframe[0].value.to_csv())
    names = dict(get_store().rows("SELECT code, display_name FROM clients WHERE code <> 'C00002'"))
    attempts = [{"client": "C00001"}, {"code": "C00003"}, {"client_id": "1"}, {"scope": "practice"},
                {"segment": "runner"}, {"therapist": "Ana Ruiz"}, {"days": "3660"}, {"page": "overview"},
                {"deidentify": "false"}, {"embed": "true"}, {"client": ["C00001", "C00003"]},
                {"segment": "pregnant", "days": "182", "client": "C00004", "scope": "client:C00001"}]
    for extra in attempts:
        at = open_link(AppTest.from_file(anonymous_app._script_path, default_timeout=30),
                       share=shared["client"], **extra)
        assert (at.title[0].value, at.dataframe[0].value.to_csv()) == expected, extra
        text = visible_text(at)
        assert not [n for n in names.values() if n in text], extra


def test_the_only_widget_is_the_read_only_period_filter(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    for kind in ("client", "client_deid", "segment", "practice"):
        at = open_link(AppTest.from_file(anonymous_app._script_path, default_timeout=30), share=shared[kind])
        assert not at.exception, kind
        widgets = {(t, k) for t, k in ((getattr(e, "type", ""), getattr(e, "key", None)) for e in _elements(at))
                   if t in WIDGET_TYPES}
        assert {k for _, k in widgets} == READ_ONLY_WIDGETS, (kind, widgets)
        assert not at.sidebar.children


def _elements(at: AppTest) -> list:
    found = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            found.append(child)
            walk(child)

    walk(at._tree)
    return found


def test_the_period_filter_reads_and_records_one_open(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["segment"])
    assert "The 28 days up to" in at.caption[0].value
    at.get("segmented_control")[0].set_value(91).run()
    assert "The 91 days up to" in at.caption[0].value
    roster = at.dataframe[-1].value
    runners = {c for (c,) in get_store().rows(
        "SELECT c.code FROM clients c JOIN client_segments s ON s.client_id = c.id WHERE s.segment = 'runner'")}
    assert set(roster["Client"]) <= runners
    assert get_store().scalar("SELECT count(*) FROM share_link_opens") == 1  # one visit, one open


def test_no_other_page_is_reachable_from_a_shared_view(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["practice"])
    assert registered(at) == {"shared_view.py"}
    for page in ("pages/admin_users.py", "pages/admin_links.py", "pages/overview.py", "pages/clients.py",
                 "pages/login.py", "pages/library.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)


def test_a_signed_in_owner_opening_a_link_gets_only_the_shared_view(app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(app, share=shared["practice"])
    assert at.session_state[SESSION_KEY].username == "owner"
    assert registered(at) == {"shared_view.py"}
    assert at.title[0].value == "Practice overview" and at.info[0].value.startswith("Read-only view")
    assert not at.sidebar.children  # no account box, no sign-out, no navigation


def test_leaving_the_link_leads_to_sign_in_not_to_data(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["practice"])
    at.query_params.clear()
    at.run()
    assert registered(at) == {"login.py"}
    assert not at.dataframe


def test_a_revoked_link_stops_working_for_an_open_session(anonymous_app: AppTest, shared: dict[str, str]) -> None:
    at = open_link(anonymous_app, share=shared["client"])
    assert not is_neutral(at)
    link_id = get_store().scalar("SELECT min(id) FROM share_links")
    links.revoke(get_store(), "cli", link_id)
    at.run()
    assert is_neutral(at)


def test_tokens_never_reach_the_logs(anonymous_app: AppTest, shared: dict[str, str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    open_link(anonymous_app, share=shared["client"])
    assert shared["client"] not in caplog.text
    everything = "\n".join(get_store().query(f"SELECT * FROM {t}").astype(str).to_csv()
                           for t in ("share_links", "share_link_opens", "audit_log"))
    assert not [t for t in shared.values() if t in everything]
