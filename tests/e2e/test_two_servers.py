"""Two real app servers (`streamlit run app.py`) on one PostgreSQL, as a chain runs them behind a
proxy (issue 19, docs/deploy.md): a session import through the CLI while both run shows in both on
their next run, and a share link revoked through one server's Share links page no longer opens on
the other, at once. Staff sign in on each server in a real browser; nothing is restarted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core import clock
from core.access import auth
from core.db.store import Store
from core.sharing import links
from tests.live_server import REPO, serve
from tests.postgres_server import PostgresServer
from tests.practice_rows import add_assignment, add_client

PASSWORD = "a long enough test password"
WAIT = 30_000  # ms: a page's first run on a busy machine


@pytest.fixture
def practice_url(postgres: PostgresServer, postgres_templates: dict[str, str]) -> str:
    """A practice in a new PostgreSQL database: owner olga; Ines Roth (C1) on a daily routine since
    20 days ago and no session yet; a read-only link to the whole practice. Returns the database URL."""
    url = postgres.new_database(postgres_templates["library"])
    with Store(url) as store:
        auth.create_user(store, "cli", "olga", "owner", PASSWORD)
        client = add_client(store, "C1", name="Ines Roth")
        add_assignment(store, client, "desk-micro-breaks", clock.today() - timedelta(days=20), weeks=6,
                       sessions_per_week=7)
    return url


@pytest.fixture
def two_servers(practice_url: str) -> Iterator[tuple[str, str]]:
    with serve(practice_url, timeout=60) as (one, _), serve(practice_url, timeout=60) as (other, _):
        yield one, other


def open_client_signed_in(page: Page, server: str) -> None:
    """A link to C1's page on ``server``: the sign-in form answers there, then the page opens. The
    server has served a page before (a new server's very first page says "page not found" over the
    form first: tests/e2e/test_overview_alert.py)."""
    page.goto(server)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
    page.goto(f"{server}/client?client=C1")
    page.get_by_label("Username").fill("olga")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="C1 · Ines Roth")).to_be_visible(timeout=WAIT)


def sessions_counted(page: Page):
    return page.get_by_test_id("stMetric").filter(has_text="Sessions counted").get_by_test_id("stMetricValue")


def pick_period(page: Page, days: int) -> None:
    """A widget change: the page runs again in the same browser session (no reload, no new session)."""
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name=f"last {days} days").click()


def import_through_the_cli(url: str, folder: Path) -> None:
    """Two sessions of C1 (yesterday and the day before, one a day: each counts 1 of a daily
    routine), imported by the `routine-desk` command, a third process."""
    today = clock.today()
    csv = folder / "form-export.csv"
    csv.write_text("client,session_date,notes\n"
                   f"C1,{today - timedelta(days=2):%Y-%m-%d},first one\n"
                   f"C1,{today - timedelta(days=1):%Y-%m-%d},second one\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "core.commands.cli", "logs", "import", str(csv), "--source",
                           "form", "--json"], cwd=REPO, env={**os.environ, "ROUTINE_DESK_DB": url},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"accepted": 2' in done.stdout, done.stdout


def test_an_import_and_a_revoked_link_show_in_both_servers_at_once(
        practice_url: str, two_servers: tuple[str, str], browser: Browser, tmp_path: Path) -> None:
    one, other = two_servers
    with Store(practice_url) as store:
        token = links.create_link(store, "olga", "practice", label="Board", base=one).url.split("share=", 1)[1]
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    try:
        for context in contexts:
            context.set_default_timeout(WAIT)
        staff = [contexts[0].new_page(), contexts[1].new_page()]
        for page, server in zip(staff, two_servers):
            open_client_signed_in(page, server)
            expect(sessions_counted(page)).to_have_text(re.compile(r"^0 of "), timeout=WAIT)
            pick_period(page, 56)                  # drawn once more: its figures are cached per version
            expect(page).to_have_url(re.compile(r"days=56"), timeout=WAIT)
            expect(sessions_counted(page)).to_have_text(re.compile(r"^0 of "), timeout=WAIT)

        import_through_the_cli(practice_url, tmp_path)
        for page in staff:                         # each server's next run of the same session
            pick_period(page, 28)
            expect(sessions_counted(page)).to_have_text(re.compile(r"^2 of "), timeout=WAIT)

        visitor = contexts[2].new_page()           # the link opens on the other server
        visitor.goto(f"{other}/?share={token}")
        expect(visitor.get_by_text(re.compile(r"^Read-only view · Board · expires on "))).to_be_visible(timeout=WAIT)

        admin = staff[0]                           # revoked on the first server's Share links page
        admin.get_by_role("link", name="Share links").click()
        expect(admin.get_by_role("heading", name="Share links")).to_be_visible(timeout=WAIT)
        admin.get_by_role("button", name="Revoke").click()
        expect(admin.get_by_text(re.compile(r"^Link \d+ revoked\.$"))).to_be_visible(timeout=WAIT)

        visitor.get_by_text("56 days", exact=True).click()      # the open view's next run on the other server
        expect(visitor.get_by_role("heading", name="This link is not valid")).to_be_visible(timeout=WAIT)
        expect(visitor.get_by_text("Read-only view")).to_have_count(0)
        visitor.goto(f"{other}/?share={token}")                  # and a new visit
        expect(visitor.get_by_role("heading", name="This link is not valid")).to_be_visible(timeout=WAIT)
    finally:
        for context in contexts:
            context.close()
