"""On a phone-sized screen (390 x 844): a client opens their check-in link, runs a short hold
timer to its end (both sides), ticks the exercise and saves; a second tap on Save stores nothing
more. Staff then see the session on the client's page and revoke the link, which from then on
shows the neutral page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core import clock
from core.access import auth
from core.db.store import Store, utcnow
from core.library.content import sync_library
from core.practice import assignments
from core.practice.clients import create_client
from core.sharing import checkin

EXERCISE = "kneeling-hip-flexor-stretch"
HOLD_S = 2
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture
def client_link(db_path: Path) -> str:
    """The demo owner; client C1 on a one-exercise routine (a 2 s hold per side, one set) since
    today; returns C1's check-in token."""
    today = clock.today()
    with Store(db_path) as store:
        sync_library(store)
        auth.ensure_demo_owner(store)
        create_client(store, {"code": "C1", "display_name": "Amira Berg"}, "cli", today)
        with store.transaction() as cur:
            cur.execute("INSERT INTO routines VALUES ('quick-check', 'Quick check', 'general', NULL, 'custom', NULL,"
                        " 1, NULL, ?)", [utcnow()])
            cur.execute("INSERT INTO routine_versions VALUES ('quick-check', 1, 3, NULL, 1, 2, NULL, 'test', ?)",
                        [utcnow()])
            cur.execute("INSERT INTO routine_items (routine_id, version, position, exercise_id, hold_min_s, hold_max_s,"
                        " sets_min, sets_max, per_side) VALUES ('quick-check', 1, 0, ?, ?, ?, 1, 1, TRUE)",
                        [EXERCISE, HOLD_S, HOLD_S])
        assignments.assign(store, "C1", "quick-check", today, "cli", today)
        [routine] = checkin.todays_routines(store, checkin.CheckinLink(0, 1, utcnow()), today)
        assert routine.exercises[0].timer_plan()["reps"] == 1   # one hold per side
        made = checkin.create_checkin(store, "cli", "C1", base="http://unused.example", today=today)
        return made.url.split("?checkin=")[1]


def test_a_client_checks_in_on_a_phone_and_staff_see_it(client_link: str, live_app: str, page: Page,
                                                       browser) -> None:
    phone = browser.new_context(**PHONE)
    phone.set_default_timeout(20_000)
    try:
        client = phone.new_page()
        link = f"{live_app}/?checkin={client_link}"
        client.goto(link)
        expect(client.get_by_role("heading", name="Today's exercises")).to_be_visible(timeout=30_000)
        expect(client.get_by_text("Signed in as")).to_have_count(0)
        expect(client.get_by_label("Username")).to_have_count(0)

        timer = client.frame_locator("iframe").first
        timer.get_by_role("button", name="Start").click()
        expect(timer.locator("#timer")).to_have_attribute("data-state", "waiting", timeout=10_000)
        timer.get_by_role("button", name="Start right side").click()
        expect(timer.locator("#timer")).to_have_attribute("data-state", "done", timeout=10_000)
        expect(timer.locator("#clock")).to_have_text("Done")

        client.get_by_text(re.compile("^Done: ")).first.click()
        client.get_by_role("button", name="Save session").click()
        expect(client.get_by_text("Saved. Thank you!")).to_be_visible(timeout=30_000)
        expect(client.get_by_role("heading", name="Your week")).to_be_visible()
        client.get_by_role("button", name="Save session").click()
        expect(client.get_by_text("This session is already saved.")).to_be_visible(timeout=30_000)

        page.goto(f"{live_app}/clients?client=C1")
        page.get_by_label("Username").fill(auth.DEMO_OWNER)
        page.get_by_role("textbox", name="Password").fill(auth.DEMO_OWNER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Amira Berg · C1")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("No sessions logged yet.")).to_have_count(0)
        page.get_by_text("Check-in link: the client logs sessions on their phone").click()
        expect(page.get_by_text("1 session(s) saved")).to_be_visible(timeout=30_000)   # one, not two
        page.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text(re.compile(r"^Check-in link \d+ revoked\.$"))).to_be_visible(timeout=30_000)

        client.goto(link)
        expect(client.get_by_role("heading", name="This link is not valid")).to_be_visible(timeout=30_000)
        expect(client.get_by_role("heading", name="Today's exercises")).to_have_count(0)
    finally:
        phone.close()
