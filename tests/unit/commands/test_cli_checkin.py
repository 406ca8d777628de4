"""`routine-desk checkin …`: the JSON contract of create, list, revoke and the calendar feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core import clock
from core.db.store import Store, utcnow
from core.library.content import sync_library
from core.practice import assignments
from core.practice.clients import create_client
from core.sharing import checkin, links
from tests.unit.commands.test_cli import run


@pytest.fixture
def db(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """C7 on the four-stretch routine (4 weeks) since today; C8 with no program."""
    monkeypatch.delenv(links.BASE_URL_ENV, raising=False)
    with Store(db_path) as s:
        sync_library(s)
        create_client(s, {"code": "C7", "display_name": "Greta Hansen", "segments": ["runner"]}, "cli")
        create_client(s, {"code": "C8", "display_name": "Ida Lund", "segments": ["runner"]}, "cli")
        assignments.assign(s, "C7", "four-stretch-routine", clock.today(), "cli", clock.today())
    return db_path


def test_create_list_revoke(db: Path, capsys) -> None:
    code, out, err = run(capsys, "checkin", "create", "--db", str(db), "--client", "c7",
                         "--base-url", "https://desk.example.org/", "--json")
    assert (code, err) == (0, "")
    made = json.loads(out)
    assert set(made) == {"id", "url", "expires_at", "client"} and made["client"] == "C7"
    assert made["url"].startswith("https://desk.example.org/?checkin=")
    # 4 weeks from today: last day today + 27; valid through 14 more days
    last_day = clock.today() + timedelta(days=27)
    assert datetime.fromisoformat(made["expires_at"]) == datetime.combine(last_day + timedelta(days=15),
                                                                           datetime.min.time())
    token = made["url"].split("=", 1)[1]

    code, out, _ = run(capsys, "checkin", "list", "--db", str(db), "--client", "C7", "--json")
    [row] = json.loads(out)
    assert (row["id"], row["client"], row["status"], row["sessions"], row["created_by"]) == (
        made["id"], "C7", "active", 0, "cli")
    assert token not in out
    code, out, _ = run(capsys, "checkin", "list", "--db", str(db), "--client", "C8", "--json")
    assert (code, json.loads(out)) == (0, [])

    code, out, _ = run(capsys, "checkin", "revoke", str(made["id"]), "--db", str(db), "--json")
    assert (code, json.loads(out)) == (0, {"id": made["id"], "revoked": True})
    with Store(db) as s:
        assert checkin.resolve_checkin(s, token) is None


def test_days_and_errors(db: Path, capsys) -> None:
    before = utcnow()
    code, out, _ = run(capsys, "checkin", "create", "--db", str(db), "--client", "C8", "--days", "10", "--json")
    expires = datetime.fromisoformat(json.loads(out)["expires_at"])
    assert code == 0 and timedelta(days=10) - timedelta(seconds=5) <= expires - before <= timedelta(days=10, seconds=5)
    code, _, err = run(capsys, "checkin", "create", "--db", str(db), "--client", "C8")
    assert code == 2 and "no current program" in err
    code, _, err = run(capsys, "checkin", "revoke", "99", "--db", str(db))
    assert code == 2 and "no check-in link" in err


def test_the_calendar_feed_and_the_handout(db: Path, tmp_path: Path, capsys) -> None:
    handout = tmp_path / "handout.pdf"
    code, out, _ = run(capsys, "checkin", "create", "--db", str(db), "--client", "C7", "--handout", str(handout),
                       "--json")
    made = json.loads(out)
    assert code == 0 and made["handout"] == str(handout) and handout.read_bytes().startswith(b"%PDF")
    code, out, _ = run(capsys, "checkin", "ics", str(made["id"]), "--db", str(db))
    assert code == 0 and out.startswith("BEGIN:VCALENDAR") and "RRULE:FREQ=WEEKLY" in out
    feed = tmp_path / "routine.ics"
    code, out, _ = run(capsys, "checkin", "ics", str(made["id"]), "--db", str(db), "--out", str(feed), "--json")
    assert (code, json.loads(out)["events"]) == (0, 1) and feed.read_bytes().count(b"\r\n") > 10
