"""Staff side of check-in links (AppTest): made on the client page and shown once with the QR
handout, listed on the client page and on Share links, revoked with one click."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import clock
from core.db.store import Store
from core.library.content import sync_library
from core.practice import assignments, clients
from core.sharing import checkin
from pages.common import get_store

TODAY = clock.today()


def open_client(app_as, app_db: Path) -> AppTest:
    at = app_as("therapist", "olga")
    with Store(app_db) as store:
        sync_library(store)
        clients.create_client(store, {"code": "C1", "display_name": "Amira Berg"}, "cli", TODAY)
        assignments.assign(store, "C1", "four-stretch-routine", TODAY - timedelta(days=3), "cli", TODAY)
    at.run()
    at.query_params["client"] = "C1"
    at.switch_page("pages/clients.py").run()
    assert not at.exception, at.exception
    return at


def test_make_show_once_list_and_revoke(app_as, app_db: Path) -> None:
    at = open_client(app_as, app_db)
    at.button(key="checkin_create").click().run()
    assert not at.exception, at.exception
    url = next(c.value for c in at.code if "?checkin=" in c.value)
    token = url.split("?checkin=")[1]
    link = checkin.resolve_checkin(get_store(), token)
    assert link is not None and link.client_id == get_store().scalar("SELECT id FROM clients WHERE code = 'C1'")
    assert any(b.label == "Handout with the check-in QR code (PDF)" for b in at.get("download_button"))
    assert get_store().scalar("SELECT created_by FROM checkin_links") == "olga"
    at.button(key="checkin_hide").click().run()
    assert not any("?checkin=" in c.value for c in at.code)     # shown once: gone when hidden
    at.switch_page("pages/admin_links.py").run()
    assert not at.exception, at.exception
    assert any(f"Check-in {link.id}" in m.value for m in at.markdown)
    at.button(key=f"checkin_revoke_{link.id}").click().run()
    assert checkin.resolve_checkin(get_store(), token) is None
    assert any("revoked" in s.value for s in at.success)
