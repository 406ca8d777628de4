"""`routine-desk users …` and `routine-desk share …`: JSON contracts, exit codes, no secrets echoed."""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.access import auth
from core.sharing import links
from core.commands.cli import main
from core.practice.clients import create_client
from core.db.store import Store, utcnow

PASSWORD = "cli-made-password"


def run(capsys, argv: list[str], stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(links.BASE_URL_ENV, raising=False)
    with Store(db_path) as s:
        create_client(s, {"code": "C7", "display_name": "Greta Hansen", "segments": ["runner"]}, "cli")
    return db_path


def test_users_add_reads_the_password_from_stdin_only(db: Path, capsys, monkeypatch) -> None:
    code, out, err = run(capsys, ["users", "add", "--db", str(db), "--username", "Ana", "--role", "owner",
                                  "--password-stdin", "--json"], PASSWORD + "\n", monkeypatch)
    assert (code, err) == (0, "")
    assert json.loads(out) | {"created_at": None} == {
        "username": "ana", "role": "owner", "email": None, "display_name": None, "active": True,
        "created_by": "cli", "created_at": None, "last_login_at": None, "password": True,
        "sites": []}   # an owner works at every site whatever is listed (issue 19 added the key)
    assert PASSWORD not in out
    with Store(db) as s:
        assert auth.login(s, "ana", PASSWORD).ok  # the newline is not part of the password
        assert PASSWORD not in s.query("SELECT * FROM users").to_csv()


def test_users_add_without_a_password_is_refused(db: Path, capsys, monkeypatch) -> None:
    code, out, err = run(capsys, ["users", "add", "--db", str(db), "--username", "ana", "--role", "owner"])
    assert code == 2 and "--password-stdin" in err and out == ""
    # a password as an argument is not an option (it would land in shell history and ps)
    code, _, err = run(capsys, ["users", "add", "--db", str(db), "--username", "ana", "--role", "owner",
                                "--password", PASSWORD])
    assert code == 2 and "unrecognized arguments" in err
    with Store(db) as s:
        assert auth.count_users(s) == 0


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--username", "ana", "--role", "admin"], PASSWORD, "invalid choice"),
    (["--username", "ana", "--role", "owner"], "short", "at least 12"),
    (["--username", "cli", "--role", "owner"], PASSWORD, "reserved"),
    (["--username", "a b", "--role", "owner"], PASSWORD, "username"),
])
def test_users_add_bad_input(db: Path, capsys, monkeypatch, args, stdin, message) -> None:
    code, _, err = run(capsys, ["users", "add", "--db", str(db), *args, "--password-stdin"], stdin, monkeypatch)
    assert code == 2 and message in err
    assert stdin not in err  # the password is never echoed


def test_users_list_passwd_and_unlock(db: Path, capsys, monkeypatch) -> None:
    with Store(db) as s:
        auth.create_user(s, "cli", "ana", "owner", PASSWORD)
        auth.create_user(s, "cli", "ben", "therapist", email="ben@clinic.example")
        for _ in range(5):
            auth.login(s, "ana", "wrong-guess")
    code, out, _ = run(capsys, ["users", "list", "--db", str(db), "--json"])
    listed = {u["username"]: u for u in json.loads(out)}
    assert code == 0 and set(listed) == {"ana", "ben"}
    assert (listed["ana"]["status"], listed["ana"]["sign_in"]) == ("locked", "password")
    assert (listed["ben"]["status"], listed["ben"]["sign_in"], listed["ben"]["email"]) == (
        "active", "SSO", "ben@clinic.example")
    assert "password_hash" not in out and "$argon2" not in out

    code, out, _ = run(capsys, ["users", "unlock", "--db", str(db), "--username", "ana", "--json"])
    assert (code, json.loads(out)) == (0, {"username": "ana", "unlocked": True})
    code, out, _ = run(capsys, ["users", "passwd", "--db", str(db), "--username", "ana", "--password-stdin",
                                "--json"], "a-brand-new-password\n", monkeypatch)
    assert (code, json.loads(out)) == (0, {"username": "ana", "password_changed": True})
    with Store(db) as s:
        assert auth.login(s, "ana", "a-brand-new-password").ok
    code, _, err = run(capsys, ["users", "passwd", "--db", str(db), "--username", "nobody", "--password-stdin"],
                       "a-brand-new-password\n", monkeypatch)
    assert code == 2 and "no account" in err


def test_share_create_list_and_revoke(db: Path, capsys) -> None:
    before = utcnow()
    code, out, err = run(capsys, ["share", "create", "--db", str(db), "--scope", "client:c7", "--label",
                                  "Dr <b>Q</b>", "--deidentify", "--base-url", "https://desk.example.org/",
                                  "--json"])
    assert (code, err) == (0, "")
    made = json.loads(out)
    assert set(made) >= {"id", "url", "expires_at"}
    assert (made["scope"], made["label"], made["deidentify"]) == ("client:C7", "Dr <b>Q</b>", True)
    assert made["url"].startswith("https://desk.example.org/?share=")
    expires = datetime.fromisoformat(made["expires_at"])
    assert timedelta(days=7) - timedelta(seconds=5) <= expires - before <= timedelta(days=7, seconds=5)
    token = made["url"].split("=", 1)[1]
    with Store(db) as s:
        assert links.resolve(s, token).client_code == "C7"

    code, out, _ = run(capsys, ["share", "list", "--db", str(db), "--json"])
    [row] = json.loads(out)
    assert (row["id"], row["scope"], row["status"], row["opens"], row["created_by"]) == (
        made["id"], "client:C7", "active", 0, "cli")
    assert token not in out

    code, out, _ = run(capsys, ["share", "revoke", str(made["id"]), "--db", str(db), "--json"])
    assert (code, json.loads(out)) == (0, {"id": made["id"], "revoked": True})
    code, out, _ = run(capsys, ["share", "revoke", str(made["id"]), "--db", str(db), "--json"])
    assert (code, json.loads(out)) == (0, {"id": made["id"], "revoked": False})
    with Store(db) as s:
        assert links.resolve(s, token) is None


def test_share_create_prints_id_url_and_expiry_for_humans(db: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(links.BASE_URL_ENV, "http://clinic.local:8501")
    code, out, _ = run(capsys, ["share", "create", "--db", str(db), "--scope", "practice", "--days", "90"])
    lines = out.splitlines()
    assert code == 0 and [line.split(" ")[0] for line in lines] == ["id", "url", "expires_at"]
    assert lines[1].startswith("url http://clinic.local:8501/?share=")


@pytest.mark.parametrize(("args", "message"), [
    (["--scope", "client:C404"], "no client"),
    (["--scope", "segment:athletes"], "unknown segment"),
    (["--scope", "everything"], "scope"),
    (["--scope", "practice", "--days", "91"], "1 to 90"),
    (["--scope", "practice", "--days", "0"], "1 to 90"),
    (["--scope", "practice", "--days", "seven"], "invalid int"),
    (["--scope", "practice", "--base-url", "javascript:alert(1)"], "base URL"),
])
def test_share_create_bad_input(db: Path, capsys, args, message) -> None:
    code, out, err = run(capsys, ["share", "create", "--db", str(db), *args])
    assert code == 2 and message in err and out == ""
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM share_links") == 0


def test_share_revoke_unknown_id(db: Path, capsys) -> None:
    code, _, err = run(capsys, ["share", "revoke", "41", "--db", str(db)])
    assert code == 2 and "no link with id 41" in err


def test_users_work_at_sites_and_share_links_carry_them(db: Path, capsys, monkeypatch) -> None:
    base = ["--db", str(db), "--json"]
    assert run(capsys, ["sites", "add", "north", "North clinic", *base])[0] == 0
    code, out, _ = run(capsys, ["users", "add", "--username", "nico", "--role", "therapist", "--password-stdin",
                                "--site", "north", *base], PASSWORD + "\n", monkeypatch)
    assert code == 0 and json.loads(out)["sites"] == ["north"]
    code, out, err = run(capsys, ["users", "add", "--username", "lost", "--role", "viewer", "--password-stdin",
                                  "--site", "south", *base], PASSWORD + "\n", monkeypatch)
    assert code == 2 and "unknown site 'south'" in err
    code, out, _ = run(capsys, ["users", "sites", "--username", "nico", "--site", "main,north", *base])
    assert code == 0 and json.loads(out) == {"username": "nico", "sites": ["main", "north"]}
    listed = {u["username"]: u for u in json.loads(run(capsys, ["users", "list", *base])[1])}
    assert "lost" not in listed and listed["nico"]["sites"] == ["main", "north"]
    code, out, _ = run(capsys, ["share", "create", "--scope", "segment:runner", "--site", "north", *base])
    assert code == 0 and json.loads(out)["sites"] == ["north"]
    listed = json.loads(run(capsys, ["share", "list", *base])[1])
    assert [link["sites"] for link in listed] == ["north"]
    code, out, _ = run(capsys, ["share", "create", "--scope", "practice", *base])
    assert json.loads(out)["sites"] is None
