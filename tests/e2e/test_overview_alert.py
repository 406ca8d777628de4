"""In a real browser: sign in, land on the practice overview, click an alert, arrive on that client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.access import auth
from core import clock
from core.library.content import sync_library
from core.db.store import Store
from tests.practice_rows import add_assignment, add_client, add_routine, add_session

PASSWORD = "a long enough test password"


@pytest.fixture
def flagged_practice(db_path: Path) -> str:
    """An owner account and two clients on a routine; Rosa's note of three days ago mentions saddle
    numbness (a critical alert). Dates are relative to today, the page's default as_of."""
    today = clock.today()
    with Store(db_path) as store:
        sync_library(store)
        auth.create_user(store, "cli", "olga", "owner", PASSWORD)
        add_routine(store, "r-three", 3)
        rosa = add_client(store, "RF1", name="Rosa Flag", segments=("runner",))
        calm = add_client(store, "OK1", name="Otto Calm", segments=("runner",))
        for cid in (rosa, calm):
            add_assignment(store, cid, "r-three", today - timedelta(days=20), weeks=6, sessions_per_week=3)
            add_session(store, cid, today - timedelta(days=5), "r-three")
        add_session(store, rosa, today - timedelta(days=3), "r-three", notes="numb in the saddle area",
                    red_flags="saddle_numbness")
    return "RF1"


def test_click_an_alert_on_the_overview_and_land_on_that_client(flagged_practice: str, db_path: Path,
                                                                live_app: str, page) -> None:
    page.goto(live_app)
    page.get_by_label("Username").fill("olga")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Practice overview")).to_be_visible(timeout=30_000)
    # the open alerts are a table, most urgent first; picking a row opens its client
    page.get_by_text("Open alerts (").first.scroll_into_view_if_needed()   # a table draws once on screen
    alerts = page.locator("[data-testid='stDataFrame']").filter(
        has=page.locator("td", has_text="possible cauda equina signs"))
    expect(alerts).to_be_visible(timeout=30_000)
    alerts.scroll_into_view_if_needed()
    box = alerts.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)     # the first row's selection box

    expect(page).to_have_url(re.compile(r"/client\?client=RF1$"), timeout=30_000)
    expect(page.get_by_role("heading", name="RF1 · Rosa Flag")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Acknowledge").first).to_be_visible()


def test_a_link_to_a_client_page_asks_to_sign_in_then_opens_that_client(flagged_practice: str, db_path: Path,
                                                                       live_app: str, page) -> None:
    """A colleague's link (or a bookmark, or an idle sign-out) to a client's page: the sign-in form
    answers at that address, and signing in opens the client the link named.

    The server has served a page before, as a running practice's has: the very first page a new
    server process serves still passes Streamlit's check for its old pages/ layout, which says
    "page not found" before app.py runs (the right page is shown all the same)."""
    page.goto(live_app)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    page.goto(f"{live_app}/client?client={flagged_practice}")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.get_by_label("Username").fill("olga")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="RF1 · Rosa Flag")).to_be_visible(timeout=30_000)
    expect(page).to_have_url(re.compile(r"/client\?client=RF1$"))
