"""A staff member signs in, opens the library in a real browser and finds an exercise."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.access import auth
from core.db.store import Store

PASSWORD = "a long enough test password"


@pytest.fixture
def staff_account(db_path: Path) -> str:
    with Store(db_path) as store:
        auth.create_user(store, "cli", "vic", "viewer", PASSWORD)
    return "vic"


def test_library_search_and_detail(staff_account: str, db_path: Path, live_app: str, page) -> None:
    page.goto(live_app)
    page.get_by_label("Username").fill(staff_account)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Exercise library").click()  # in-app navigation keeps the session
    expect(page.get_by_role("heading", name="Exercise library")).to_be_visible(timeout=30_000)
    search = page.get_by_label("Search name or alias")
    search.fill("clamshell")
    search.press("Enter")
    expect(page.get_by_text("1 exercise(s)")).to_be_visible()
    expect(page.get_by_role("heading", name="Side-lying clamshell")).to_be_visible()
    expect(page.get_by_text("Source:")).to_be_visible()
