"""The ?checkin= page in the real app (AppTest): today's routine with a timer per exercise, the
log that stores one session per page load, warning-sign advice at once, the client's own
progress after saving; and the same neutral page as share links for every link that opens nothing."""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import clock
from core.db.store import Store, utcnow
from core.library.content import sync_library
from core.practice import assignments
from core.practice.clients import create_client
from core.sharing import checkin, links
from pages.common import get_store

NEUTRAL = ("This link is not valid",
           "It may have expired or been withdrawn. Ask the person who sent it to you for a new link.")
OTHER_NAME = "Other Person Zed"


@pytest.fixture
def tokens(app_db: Path) -> dict[str, str]:
    """C1 on the four-stretch routine since a week ago; C2 (another client) with a session of their own."""
    today = clock.today()
    with Store(app_db) as s:
        sync_library(s)
        create_client(s, {"code": "C1", "display_name": "Amira Berg", "segments": ["desk_worker"]}, "cli", today)
        create_client(s, {"code": "C2", "display_name": OTHER_NAME, "segments": ["desk_worker"]}, "cli", today)
        for code in ("C1", "C2"):
            assignments.assign(s, code, "four-stretch-routine", today - timedelta(days=7), "cli", today)

        def make(code: str = "C1", **kw) -> tuple[int, str]:
            made = checkin.create_checkin(s, "cli", code, base="http://t.example", today=today, **kw)
            return made.id, made.url.split("checkin=")[1]

        made = {"good": make()[1], "other": make("C2")[1]}
        revoked_id, made["revoked"] = make()
        checkin.revoke_checkin(s, "cli", revoked_id)
        made["expired"] = make(days=1, now=utcnow() - timedelta(days=1, seconds=1))[1]
        share = links.create_link(s, "cli", "client:C1", base="http://t.example")
        made["share"] = share.url.split("share=")[1]
    return made


def open_page(app: AppTest, **params: str | list[str]) -> AppTest:
    for name, value in params.items():
        app.query_params[name] = value
    return app.run()


def fresh(app: AppTest) -> AppTest:
    return AppTest.from_file(app._script_path, default_timeout=30)


def is_neutral(at: AppTest) -> bool:
    return (not at.exception and [t.value for t in at.title] == [NEUTRAL[0]]
            and [m.value for m in at.markdown] == [NEUTRAL[1]] and not at.sidebar.children and not at.button)


def test_every_link_that_opens_nothing_gets_the_neutral_page(anonymous_app: AppTest, tokens: dict[str, str]) -> None:
    bad = {"revoked": tokens["revoked"], "expired": tokens["expired"], "random": secrets.token_urlsafe(32),
           "share_token": tokens["share"], "truncated": tokens["good"][:-1], "empty": "",
           "html": "<script>alert(1)</script>"}
    for name, token in bad.items():
        assert is_neutral(open_page(fresh(anonymous_app), checkin=token)), name
    assert is_neutral(open_page(fresh(anonymous_app), checkin=[tokens["good"], tokens["other"]]))


def test_the_page_shows_todays_routine_in_order_with_a_timer_each(anonymous_app: AppTest,
                                                                  tokens: dict[str, str]) -> None:
    at = open_page(anonymous_app, checkin=tokens["good"])
    assert not at.exception and at.title[0].value == "Today's exercises"
    names = [n for (n,) in get_store().rows(
        "SELECT e.name FROM routine_items i JOIN exercises e ON e.id = i.exercise_id"
        " WHERE i.routine_id = 'four-stretch-routine' AND i.version = 1 ORDER BY i.position")]
    headings = [h.value for h in at.subheader]
    assert [h.split(". ", 1)[1].replace("\\", "") for h in headings] == names
    timers = at.get("iframe")
    assert len(timers) == len(names)
    # the first item, the kneeling hip-flexor stretch: 20-30 s per side in the template, one set
    plan = json.loads(re.search(r"const plan = (\{.*?\});", timers[0].proto.srcdoc)[1])
    assert plan == {"sets": 1, "sides": ["left side", "right side"], "reps": 1, "seconds": 20, "name": names[0]}
    assert not at.sidebar.children
    shown = "\n".join(str(e.value) for kind in (at.markdown, at.caption, at.subheader) for e in kind)
    assert OTHER_NAME not in shown and "Amira" not in shown     # no names: a lost phone shows no one


def test_saving_stores_one_session_and_shows_the_clients_own_week(anonymous_app: AppTest,
                                                                 tokens: dict[str, str]) -> None:
    at = open_page(anonymous_app, checkin=tokens["good"])
    boxes = [c for c in at.checkbox if c.key.startswith("checkin_done_")]
    boxes[0].check()
    boxes[1].check()
    at.select_slider(key="checkin_pain_before").set_value(4.5)
    at.select_slider(key="checkin_pain_after").set_value(3.0)
    at.text_area(key="checkin_notes").input("went well")
    at.run()
    at.button(key="checkin_submit").click().run()
    assert not at.exception
    assert at.success[0].value == "Saved. Thank you!"
    stored = get_store().rows("SELECT c.code, s.source, s.exercises_done, s.pain_before, s.pain_after, s.stiffness,"
                              " s.notes FROM session_logs s JOIN clients c ON c.id = s.client_id")
    assert stored == [("C1", "checkin", 2, 4.5, 3.0, None, "went well")]
    assert any("this week" in m.value for m in at.markdown)
    at.button(key="checkin_submit").click().run()          # the same page load again: nothing more
    assert at.success[0].value == "This session is already saved."
    assert get_store().scalar("SELECT count(*) FROM session_logs") == 1


def test_warning_signs_in_the_notes_show_advice_at_once(anonymous_app: AppTest, tokens: dict[str, str]) -> None:
    at = open_page(anonymous_app, checkin=tokens["good"])
    at.text_area(key="checkin_notes").input("some numbness in the saddle area").run()
    assert not at.exception
    assert "get medical help today" in at.error[0].value
    assert get_store().scalar("SELECT count(*) FROM session_logs") == 0   # advice comes before any save


def test_a_refused_session_saves_nothing_and_says_why(anonymous_app: AppTest, tokens: dict[str, str]) -> None:
    store = get_store()
    link = checkin.resolve_checkin(store, tokens["good"])
    with store.transaction() as cur:   # the link's 10 submissions of the last 24 hours are used up
        cur.executemany("INSERT INTO checkin_submissions VALUES (?, ?, ?, 'accepted', NULL)",
                        [[link.id, utcnow() - timedelta(hours=1), f"key-{n:04}"] for n in range(checkin.DAILY_LIMIT)])
    at = open_page(anonymous_app, checkin=tokens["good"])
    at.button(key="checkin_submit").click().run()
    assert not at.exception and store.scalar("SELECT count(*) FROM session_logs") == 0
    assert at.error and "24 hours" in at.error[0].value


def test_a_paused_program_is_not_offered_while_paused(anonymous_app: AppTest, tokens: dict[str, str],
                                                      app_db: Path) -> None:
    with Store(app_db) as s:
        program = s.scalar("SELECT a.id FROM assignments a JOIN clients c ON c.id = a.client_id WHERE c.code = 'C1'")
        assignments.pause_assignment(s, program, clock.today() - timedelta(days=1), "cli")
    at = open_page(anonymous_app, checkin=tokens["good"])
    assert not at.exception, at.exception
    assert "No routine is planned for today" in at.info[0].value
    assert not [b for b in at.button if "Save" in (b.label or "")] and not at.get("download_button")
