"""In a real browser: the owner makes a read-only link, a stranger's fresh browser opens it and sees
the banner and that client's dashboard; after the owner revokes it, the same URL shows the neutral
page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from core.access import auth
from core import clock
from core.library.content import sync_library
from core.commands.demo import DemoSpec, create_demo_practice
from core.db.store import Store


@pytest.fixture
def demo_practice(db_path: Path) -> str:
    """A small demo practice with its demo owner; returns the name of client C00002."""
    with Store(db_path) as store:
        sync_library(store)
        create_demo_practice(store, DemoSpec(clients=6, days=60, seed=11, as_of=clock.today()))
        return store.scalar("SELECT display_name FROM clients WHERE code = 'C00002'")


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(auth.DEMO_OWNER)
    page.get_by_role("textbox", name="Password").fill(auth.DEMO_OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)


def test_owner_shares_a_client_dashboard_then_revokes_it(demo_practice: str, live_app: str, page: Page,
                                                         browser) -> None:
    sign_in(page, live_app)
    page.get_by_role("link", name="Share links").click()   # in-app navigation keeps the session
    expect(page.get_by_role("heading", name="Share links")).to_be_visible(timeout=30_000)
    client = page.get_by_role("combobox").first
    client.click()
    page.keyboard.type("C00002")
    page.get_by_role("option", name=re.compile("^C00002")).click()
    page.get_by_role("textbox", name="Label (who it is for; optional)").fill("Referring doctor")
    page.get_by_role("button", name="Make link").click()
    shown = page.locator("code", has_text="?share=")
    expect(shown).to_be_visible(timeout=30_000)
    token = parse_qs(urlsplit(shown.inner_text().strip()).query)["share"][0]
    link = f"{live_app}/?share={token}"

    stranger = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        visitor = stranger.new_page()
        visitor.goto(link)
        banner = visitor.get_by_text(re.compile(r"^Read-only view · Referring doctor · expires on "))
        expect(banner).to_be_visible(timeout=30_000)
        expect(visitor.get_by_role("heading", name=f"Progress of {demo_practice}")).to_be_visible()
        expect(visitor.get_by_role("heading", name="Sessions")).to_be_visible()
        expect(visitor.get_by_role("link", name="Share links")).to_have_count(0)    # no navigation
        expect(visitor.get_by_role("button", name="Sign out")).to_have_count(0)
        expect(visitor.get_by_label("Username")).to_have_count(0)

        # a page URL with the token still shows only the shared view
        visitor.goto(f"{live_app}/staff?share={token}")
        expect(visitor.get_by_role("heading", name=f"Progress of {demo_practice}")).to_be_visible(timeout=30_000)
        expect(visitor.get_by_role("heading", name="Staff & audit log")).to_have_count(0)

        page.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text(re.compile(r"^Link \d+ revoked\.$"))).to_be_visible(timeout=30_000)

        visitor.goto(link)
        expect(visitor.get_by_role("heading", name="This link is not valid")).to_be_visible(timeout=30_000)
        expect(visitor.get_by_text("Read-only view")).to_have_count(0)
        expect(visitor.get_by_role("heading", name=f"Progress of {demo_practice}")).to_have_count(0)
    finally:
        stranger.close()


def test_a_page_url_without_signing_in_leads_to_the_sign_in_page(demo_practice: str, live_app: str,
                                                                 page: Page) -> None:
    page.goto(f"{live_app}/overview")  # the very first request of a fresh server
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Practice overview")).to_have_count(0)
    page.goto(f"{live_app}/staff")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Staff & audit log")).to_have_count(0)
