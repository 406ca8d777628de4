"""Real-browser fixtures: `streamlit run app.py` on a free loopback port, driven by Playwright
through Debian's Chromium (Playwright's own browser download does not work offline)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import CHROMIUM, CHROMIUM_ARGS, serve


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_app(db_path: Path) -> Iterator[str]:
    """Serve the app against the test's database (prepare `db_path` first, then close it).

    Yields the base URL, e.g. http://127.0.0.1:41234.
    """
    with serve(db_path, timeout=60) as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies, no storage) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()
