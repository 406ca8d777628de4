"""In a real browser: sign in, assign a routine to a client 24 weeks pregnant, see the warning about
lying on the back, confirm it, and download the printable handout."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.access import auth
from core import clock
from core.practice import clients
from core.library.content import sync_library
from core.db.store import Store

PASSWORD = "a long enough test password"


@pytest.fixture
def pregnant_client(db_path: Path) -> str:
    """Library, an owner account and Ana, 24+0 weeks pregnant today; the store is closed again so
    the server can open the file."""
    with Store(db_path) as store:
        sync_library(store)
        auth.create_user(store, "cli", "olga", "owner", PASSWORD)
        clients.create_client(store, {"code": "ANA", "display_name": "Ana Silva", "gestation_weeks": 24,
                                "gestation_on": clock.today()}, "cli", clock.today())
    return "ANA"


def test_assign_to_a_pregnant_client_and_download_the_handout(pregnant_client: str, live_app: str, page,
                                                              tmp_path: Path) -> None:
    page.goto(live_app)
    page.get_by_label("Username").fill("olga")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Clients").click()      # in-app navigation keeps the signed-in session

    expect(page.get_by_role("heading", name="Ana Silva · ANA")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("24+0 weeks pregnant (trimester 2)")).to_be_visible()
    # the default routine is the daily psoas routine: two exercises lie on the back
    warning = page.get_by_text("lying flat on the back lets the womb press on the large vein")
    expect(warning.first).to_be_visible()
    expect(page.get_by_text("Try instead: Side-lying clamshell")).to_be_visible()

    assign = page.get_by_role("button", name="Assign", exact=True)
    assign.click()                                         # one form: it says what is missing
    expect(page.get_by_text("tick that you have read the warnings")).to_be_visible(timeout=30_000)
    page.get_by_text("I have read the warnings above").click()
    assign.click()
    expect(page.get_by_text("Assigned Daily psoas routine")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download handout (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"handout-ANA-{clock.today().isoformat()}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")

    # the program now shows in the client's history (the server holds the database file open)
    expect(page.get_by_text("7 sessions a week · Active")).to_be_visible()
