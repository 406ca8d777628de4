"""Bench scenarios for issue 5 measured through Streamlit, on a copy of the chain-sized practice:

- ``scenario_overview_apptest``: an AppTest run of the practice overview (the default page),
  signed in as the demo owner, right after a write (empty Streamlit caches: the figures are read
  from the read model in the store) and again with warm caches.
- ``scenario_server_memory``: ``streamlit run`` serving the practice; headless Chromium signs in
  and opens the overview and one client's dashboard; the server's peak resident memory (VmHWM)
  is read from /proc.

Both open the overview "as of" the chain's last day (the ``as_of`` URL parameter), so the figures
are computed over the generated logs rather than the weeks after them. Not tests: they measure,
they never assert.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.access.auth import DEMO_OWNER, DEMO_OWNER_PASSWORD  # noqa: E402
from tests.live_server import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402
from tests.bench.memory import peak_rss_mb  # noqa: E402

CLIENT = "C00047"  # the client page the browser opens


def _sign_in_as_demo_owner(at) -> None:
    from core.access.auth import get_user, start_session
    from pages.common import SESSION_KEY, get_store

    at.session_state[SESSION_KEY] = start_session(get_user(get_store(), DEMO_OWNER))


def scenario_overview_apptest(db: Path, as_of: date, runs: int = 3) -> dict:
    """Wall time of AppTest runs of the overview: cold (after an empty write: no page cache entry
    applies), after a session was logged, and warm (the page's st.cache_data)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["ROUTINE_DESK_DB"] = str(db)

    def one_run(clear: bool, logged: int | None = None) -> tuple[float, object]:
        from pages.common import get_store

        if clear:  # as after an import: a new Store.version, so no page cache entry applies
            st.cache_data.clear()
            with get_store().transaction(clients=()):  # names no client: no figure to keep again
                pass
        if logged is not None:  # a therapist logs a session, as the form does (pages.common.data_changed)
            from core.access.auth import DEMO_OWNER
            from core.sessions.checks import log_session

            store = get_store()
            code = store.scalar("SELECT code FROM clients ORDER BY code LIMIT 1 OFFSET ?", [logged])
            log_session(store, {"client": code, "session_date": as_of, "pain_before": 3}, DEMO_OWNER, as_of)
            st.cache_data.clear()
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        _sign_in_as_demo_owner(at)
        at.query_params["as_of"] = as_of.isoformat()
        start = time.perf_counter()
        at.run()
        return (time.perf_counter() - start) * 1000, at

    one_run(clear=False)  # opens the store (once per process, as the server does) and imports the pages
    cold = sorted(one_run(clear=True)[0] for _ in range(runs))
    logged = sorted(one_run(clear=False, logged=n)[0] for n in range(runs))
    warm_ms, at = one_run(clear=False)
    problems = [e.value for e in at.exception]
    return {"apptest_overview_cold_ms": round(cold[len(cold) // 2]),
            "apptest_overview_after_logging_a_session_ms": round(logged[len(logged) // 2]),
            "apptest_overview_warm_ms": round(warm_ms),
            "apptest_title": at.title[0].value if at.title else None, "apptest_exceptions": problems}


def _open_signed_in(page, address: str) -> None:
    """Open ``address`` and sign in as the demo owner at the form it answers with."""
    page.goto(address)
    page.get_by_label("Username").fill(DEMO_OWNER)
    page.get_by_role("textbox", name="Password").fill(DEMO_OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def scenario_server_memory(db: Path, as_of: date) -> dict:
    """Peak memory of a real server after the overview and a client dashboard were drawn."""
    if not CHROMIUM.exists():
        return {"server_peak_rss_mb": None, "note": "chromium not installed (make test installs it)"}
    from playwright.sync_api import expect, sync_playwright

    with serve(db) as (url, server):
        idle_mb = peak_rss_mb(server.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            start = time.perf_counter()
            _open_signed_in(page, f"{url}/?as_of={as_of.isoformat()}")
            expect(page.get_by_text(f"{as_of:%d %b %Y}. Adherence and pain")).to_be_visible()
            expect(page.get_by_role("heading", name=re.compile(r"^Open alerts"))).to_be_visible()
            overview_s = time.perf_counter() - start
            after_overview_mb = peak_rss_mb(server.pid)
            _open_signed_in(page, f"{url}/client?client={CLIENT}&as_of={as_of.isoformat()}")  # as a colleague's link
            expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
            browser.close()
        return {"server_idle_rss_mb": idle_mb, "server_peak_after_overview_mb": after_overview_mb,
                "server_peak_rss_mb": peak_rss_mb(server.pid), "browser_overview_first_open_s": round(overview_s, 2)}
