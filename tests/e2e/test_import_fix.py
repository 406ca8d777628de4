"""In a real browser: sign in, upload a session-log export, import it, fix the row that was
rejected (an unknown client) in the quarantine table, and re-submit it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.access import auth
from core import clock
from core.library.content import sync_library
from core.db.store import Store, utcnow

PASSWORD = "a long enough test password"
TODAY = clock.today()


@pytest.fixture
def practice(db_path: Path, tmp_path: Path) -> Path:
    """Library, a therapist account, client C00001 on the daily psoas routine; returns the export.
    The store is closed again so the server can open the file."""
    now = utcnow()
    with Store(db_path) as store:
        sync_library(store)
        auth.create_user(store, "cli", "olga", "therapist", PASSWORD)
        with store.transaction() as cur:
            cur.execute("INSERT INTO clients (code, display_name, created_at, updated_at)"
                        " VALUES ('C00001', 'Ann Lee', ?, ?)", [now, now])
            cur.execute("INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks,"
                        " sessions_per_week, status, assigned_at)"
                        " VALUES (1, 'daily-psoas-routine', 1, ?, 8, 5, 'active', ?)", [TODAY - timedelta(days=30), now])
    export = tmp_path / "form-export.csv"
    export.write_text(
        "Timestamp,Your name,How many exercises did you complete?,Pain before (0-10)\n"
        f"{TODAY - timedelta(days=2):%Y-%m-%d} 08:10,C00001,5,3\n"
        f"{TODAY - timedelta(days=1):%Y-%m-%d} 08:15,Ann Leee,4,2\n"
    )
    return export


def settled(page) -> None:
    """Wait until Streamlit's current run has finished: while a run goes on, the elements of the
    previous run it has not drawn again are marked stale, and the run's end removes them."""
    expect(page.locator("[data-stale='true']")).to_have_count(0)


def test_upload_import_fix_and_resubmit(practice: Path, db_path: Path, live_app: str, page) -> None:
    page.goto(live_app)
    page.get_by_label("Username").fill("olga")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Session logs in").click()
    expect(page.get_by_role("heading", name="Session logs in")).to_be_visible(timeout=30_000)

    page.locator("input[type=file]").first.set_input_files(str(practice))
    expect(page.get_by_text("Read as CSV (comma-separated, utf-8)")).to_be_visible()
    page.get_by_role("button", name="Import").click()
    # an import is a transaction that also keeps the figures and judges warning signs: on a busy
    # machine it takes more than Playwright's default 5 s, so wait for its result, not a fixed time
    expect(page.get_by_text("Imported as batch 1").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 read = 1 accepted + 1 rejected + 0 duplicates")).to_be_visible(timeout=30_000)

    page.get_by_role("tab", name="Quarantine").click()
    expect(page.get_by_text("1 row(s) waiting")).to_be_visible()
    # The tab's rerun drops the import's message above the tabs only when it ends, moving the grid
    # up: click the grid once that run is over (a click at coordinates read earlier, on a busy
    # machine, landed on the wrong row and the cell editor never opened).
    settled(page)
    expect(page.get_by_text("Imported as batch 1")).to_have_count(0)
    grid = page.locator("[data-testid='stDataFrame']").filter(has=page.locator("canvas")).last
    expect(grid).to_be_visible()
    # first data row, first column ("pick"): select it, then move right to "client" (pick, row, reasons,
    # client). A locator click measures the grid when it clicks, once it has stopped moving.
    grid.click(position={"x": 12, "y": 35 + 17})
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")                       # open the cell editor
    editor = page.locator("textarea").last
    expect(editor).to_be_visible()
    editor.fill("C00001")
    page.keyboard.press("Enter")                       # commit the edit
    resubmit = page.get_by_role("button", name=re.compile(r"Re-submit 1 picked or corrected row"))
    expect(resubmit).to_be_enabled()
    settled(page)  # the edit's run is over: the click goes with the corrected value
    resubmit.click()
    expect(page.get_by_text(re.compile(r"Re-submitted: 1 stored, 0 still rejected"))).to_be_visible(timeout=30_000)
    expect(page.get_by_text("No rejected rows are waiting.")).to_be_visible()   # the tab stays open

    page.get_by_role("tab", name="Import batches").click()
    expect(page.get_by_text("Undo a batch")).to_be_visible()
