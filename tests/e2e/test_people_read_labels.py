"""In a real browser, on the demo practice as its owner: every page, one client and a de-identified
shared view speak the studio's language (issue 18). The visible text and the table cells hold no
snake_case code, no "None" cell and no number with three or more decimals — outside client codes,
e-mail addresses and code blocks (the template's column names, for instance, are shown as code)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core import clock
from core.access import auth
from core.commands.demo import DemoSpec, create_demo_practice
from core.db.store import Store
from core.library.content import sync_library
from core.sharing import links

STAFF_PAGES = ("overview", "cohorts", "about-figures", "clients", "client?client=C00003", "routine-builder",
               "library", "import-article", "data", "staff", "share-links")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
LONG_DECIMAL = re.compile(r"\b\d+\.\d{3,}\b")
EMAIL = re.compile(r"\S+@\S+")
# Visible text and table cells, without code, pre and e-mail text; tables are read from the grid's
# accessible copy of its visible cells (the grid itself is drawn on a canvas).
READ_PAGE = """() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('code, pre, [data-testid="stDataFrame"], [data-testid="stDataFrameResizable"]').forEach(e => e.remove());
  const cells = [...main.querySelectorAll('[data-testid="stDataFrame"] td, [data-testid="stDataFrame"] th')]
      .map(c => c.innerText.trim());
  return {text: copy.innerText, cells: cells};
}"""


@pytest.fixture
def demo(db_path: Path) -> str:
    """The demo practice as `routine-desk init --demo` makes it; returns a de-identified link's address."""
    with Store(db_path) as store:
        sync_library(store)
        create_demo_practice(store, DemoSpec(as_of=clock.today()))
        made = links.create_link(store, "cli", "client:C00003", deidentify=True, base="http://x")
    return made.url.rsplit("?", 1)[1]


def settle(page: Page) -> None:
    """Wait until the app has stopped running and the page's text holds still for a second."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
    last, steady = None, 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and steady < 4:
        now = page.evaluate(READ_PAGE)["text"]
        running = page.locator('[data-testid="stSpinner"], [data-stale="true"], form [data-testid="stTextInputRootElement"] input[type="password"]').count()
        steady = steady + 1 if now == last and not running else 0
        last = now
        page.wait_for_timeout(400)


def show_every_table(page: Page) -> None:
    """Scroll each visible table into view: a table draws its cells (and their accessible copy) only
    once it is on screen."""
    grids = page.locator('[data-testid="stDataFrame"]')
    for n in range(grids.count()):
        if grids.nth(n).is_visible():
            grids.nth(n).scroll_into_view_if_needed()
            page.wait_for_timeout(300)


def problems_on(page: Page) -> list[str]:
    show_every_table(page)
    read = page.evaluate(READ_PAGE)
    text = EMAIL.sub(" ", read["text"])
    cells = [EMAIL.sub(" ", c) for c in read["cells"]]
    found = [f"code: {m}" for m in SNAKE.findall(text)]
    found += [f"code in a cell: {c}" for c in cells if SNAKE.search(c)]
    found += ["None cell" for c in cells if c == "None"]
    found += [f"long decimal: {m}" for m in LONG_DECIMAL.findall(text) + [n for c in cells for n in LONG_DECIMAL.findall(c)]]
    return found


def sign_in_at(page: Page, address: str) -> None:
    """Open a staff address: a new page load starts a new session, whose sign-in form answers at
    that address and then opens the page it names."""
    page.goto(address)
    page.get_by_label("Username").fill(auth.DEMO_OWNER)
    page.get_by_role("textbox", name="Password").fill(auth.DEMO_OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=60_000)


def test_every_page_speaks_the_studios_language(demo: str, live_app: str, page: Page) -> None:
    page.goto(live_app)  # the server's first page (see tests/e2e/test_overview_alert.py)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    found: dict[str, list[str]] = {}
    for address in STAFF_PAGES:
        sign_in_at(page, f"{live_app}/{address}")
        settle(page)
        found[address] = problems_on(page)
    page.goto(f"{live_app}/?{demo}")
    settle(page)
    expect(page.get_by_text("Read-only view")).to_be_visible()
    found["shared view"] = problems_on(page)
    assert not {where: what for where, what in found.items() if what}
