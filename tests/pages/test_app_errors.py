"""What app.py shows when things go wrong (issue 17): a database the disk will not write to, a
damaged or busy database file, an error behind the sign-in page or a share link. Staff get a clear
page, and no one — least of all a visitor — reads a path, a process id or an exception text."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import VISITOR_ERROR_TEXT, WRITE_FAILED_TEXT
from core.access import auth
from core.db.store import Store, WriteConflict
from core.sharing import links
from pages.common import SESSION_KEY
from tests.damaged_file import damage_table, fill_audit_log

PASSWORD = "a long enough owner password"
DISK_FULL = ('TransactionContext Error: Failed to commit: Could not write file "/srv/rd/practice.duckdb.wal":'
             " No space left on device")
INTERNALS = ("/srv/", "/tmp/", ".duckdb", "Traceback", "Error:", "PID", "python", "No space left")


def everything_shown(at: AppTest) -> str:
    """Every text element of the page (and the exception, if Streamlit would show one)."""
    kinds = ("title", "subheader", "header", "markdown", "error", "info", "warning", "success", "caption", "text")
    shown = [str(e.value) for kind in kinds for e in getattr(at, kind)]
    return " ".join(shown + [str(e.value) for e in at.exception])


def assert_no_internals(at: AppTest) -> None:
    shown = everything_shown(at)
    assert not at.exception
    assert not [word for word in INTERNALS if word in shown], shown


@pytest.fixture
def owner_db(app_db: Path) -> Path:
    with Store(app_db) as s:
        auth.create_first_owner(s, "ana", PASSWORD)
    return app_db


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """``full_disk()`` makes every later commit fail the way DuckDB's does on a full disk."""
    real = Store.transaction

    @contextmanager
    def failing(self, *args, **kwargs):
        with real(self, *args, **kwargs) as cur:
            yield cur
            raise WriteConflict(DISK_FULL)

    return lambda: monkeypatch.setattr(Store, "transaction", failing)


def sign_in(at: AppTest, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


def test_on_a_full_disk_staff_still_sign_in_and_read(anonymous_app: AppTest, owner_db: Path, full_disk) -> None:
    at = anonymous_app.run()  # the server has opened its database
    full_disk()
    sign_in(at, "not the password")
    assert at.error[0].value == auth.INVALID_MESSAGE
    assert_no_internals(at)
    sign_in(at)
    assert at.session_state[SESSION_KEY].username == "ana"
    at.switch_page("pages/library.py").run()
    assert_no_internals(at)
    assert at.title[0].value == "Exercise library"


def test_a_write_the_disk_refuses_gives_staff_a_clear_page(app: AppTest, full_disk) -> None:
    at = app.run()
    at.switch_page("pages/admin_users.py").run()
    full_disk()
    at.text_input(key="new_username").input("ben")
    at.text_input(key="new_password").input("ben-long-password")
    at.button(key="FormSubmitter:add_user-Add staff member").click().run()
    assert WRITE_FAILED_TEXT in [e.value for e in at.error]
    assert_no_internals(at)
    assert at.session_state[SESSION_KEY].username == "owner"  # still signed in


def test_an_error_behind_a_share_link_shows_a_visitor_nothing_inside(anonymous_app: AppTest, owner_db: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError(f"cannot read /srv/rd/practice.duckdb (PID {os.getpid()}, {sys.executable})")

    monkeypatch.setattr(links, "resolve", broken)
    anonymous_app.query_params["share"] = "x" * 43
    at = anonymous_app.run()
    assert [e.value for e in at.error] == [VISITOR_ERROR_TEXT]
    assert_no_internals(at)


def test_an_error_behind_the_sign_in_page_shows_nothing_inside(anonymous_app: AppTest, owner_db: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = anonymous_app.run()
    monkeypatch.setattr(auth, "login", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "I/O error", "/srv/rd/x")))
    sign_in(at)
    assert VISITOR_ERROR_TEXT in [e.value for e in at.error]
    assert_no_internals(at)


def test_a_damaged_database_says_to_restore_the_last_backup(anonymous_app: AppTest, owner_db: Path) -> None:
    fill_audit_log(owner_db)
    damage_table(owner_db, "audit_log")
    at = anonymous_app.run()
    assert at.title[0].value == "Routine Desk cannot open its database"
    assert "Restore the last backup" in at.error[0].value and "routine-desk restore" in at.error[0].value
    assert_no_internals(at)


def test_the_server_shows_visitors_no_exception_details() -> None:
    """Behind every page's own handling, Streamlit itself must not send an uncaught exception's
    type, message or traceback to the browser: "none" (false would still send the traceback)."""
    import tomllib

    from streamlit.config import ShowErrorDetailsConfigOptions

    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    setting = config["client"]["showErrorDetails"]
    assert setting == ShowErrorDetailsConfigOptions.NONE == "none"

