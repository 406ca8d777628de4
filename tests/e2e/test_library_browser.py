"""A staff member opens the app in a real browser and finds an exercise in the library."""

from pathlib import Path

from playwright.sync_api import expect



def test_library_search_and_detail(db_path: Path, live_app: str, page) -> None:
    page.goto(f"{live_app}/library")
    expect(page.get_by_role("heading", name="Exercise library")).to_be_visible(timeout=30_000)
    search = page.get_by_label("Search name or alias")
    search.fill("clamshell")
    search.press("Enter")
    expect(page.get_by_text("1 exercise(s)")).to_be_visible()
    expect(page.get_by_role("heading", name="Side-lying clamshell")).to_be_visible()
    expect(page.get_by_text("Source:")).to_be_visible()
