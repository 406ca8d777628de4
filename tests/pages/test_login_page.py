"""Sign-in, first owner, roles and sessions through the real app (AppTest), written as attacks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.access import auth
from core.db.store import Store, utcnow
from pages.common import SESSION_KEY, get_store

PASSWORD = "owner-long-password"
OWNER_ONLY = ["pages/admin_users.py"]
WRITERS_ONLY = ["pages/admin_links.py"]


def registered(at: AppTest) -> set[str]:
    """Script paths of the pages this session has (relative to the repo)."""
    return {str(Path(info["script_path"]).resolve().relative_to(Path(at._script_path).parent))
            for info in at._registered_pages.values() if info.get("script_path")}


def can_reach(at: AppTest, page: str) -> bool:
    try:
        at.switch_page(page)
    except ValueError:
        return False
    at.run()
    return True


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("title", "subheader", "markdown", "error", "info", "caption")
                    for e in getattr(at, kind))


def sign_in_form(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


@pytest.fixture
def with_owner(app_db: Path) -> Path:
    with Store(app_db) as s:
        auth.create_first_owner(s, "ana", PASSWORD)
        auth.create_user(s, "ana", "ben", "therapist", "therapist-long-password")
        auth.create_user(s, "ana", "vic", "viewer", "viewer-long-password")
    return app_db


# -- a new database -----------------------------------------------------------------------------

def test_a_new_database_offers_only_the_owner_form(anonymous_app: AppTest) -> None:
    at = anonymous_app.run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Create the owner account"]
    assert registered(at) == {"pages/login.py"}
    assert not can_reach(at, "pages/library.py")
    assert not can_reach(at, "pages/admin_users.py")


def test_creating_the_owner_signs_in_and_the_form_is_gone_for_everyone(anonymous_app: AppTest,
                                                                        app_db: Path) -> None:
    at = anonymous_app.run()
    at.text_input(key="first_username").input("Ana")
    at.text_input(key="first_password").input(PASSWORD)
    at.text_input(key="first_repeat").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[SESSION_KEY].username == "ana"
    assert "pages/admin_users.py" in registered(at)
    assert "Signed in as **ana**" in at.sidebar.caption[0].value
    # a second visitor now gets the sign-in form, not a second owner form
    other = AppTest.from_file(at._script_path, default_timeout=30).run()
    assert [s.value for s in other.subheader] == ["Sign in"]
    assert auth.count_users(get_store()) == 1


def test_owner_form_refuses_mismatched_or_weak_passwords(anonymous_app: AppTest) -> None:
    at = anonymous_app.run()
    at.text_input(key="first_username").input("ana")
    at.text_input(key="first_password").input(PASSWORD)
    at.text_input(key="first_repeat").input(PASSWORD + "x")
    at.button[0].click().run()
    assert "differ" in at.error[0].value
    at.text_input(key="first_password").input("short")
    at.text_input(key="first_repeat").input("short")
    at.button[0].click().run()
    assert "at least 12" in at.error[0].value
    assert auth.count_users(get_store()) == 0 and SESSION_KEY not in at.session_state


# -- signing in ---------------------------------------------------------------------------------

def test_sign_in_with_the_right_password(anonymous_app: AppTest, with_owner: Path) -> None:
    at = sign_in_form(anonymous_app.run(), " ANA", PASSWORD)
    assert at.session_state[SESSION_KEY].username == "ana"
    assert {"pages/library.py", "pages/admin_users.py"} <= registered(at)
    assert "pages/login.py" not in registered(at)


def test_a_demo_database_says_how_to_sign_in_until_the_password_is_changed(anonymous_app: AppTest,
                                                                          app_db: Path) -> None:
    with Store(app_db) as s:
        auth.ensure_demo_owner(s)
    at = anonymous_app.run()
    assert "demo-owner-password" in at.info[0].value
    sign_in_form(at, "owner", "demo-owner-password")
    assert at.session_state[SESSION_KEY].username == "owner"
    auth.set_password(get_store(), "owner", "owner", "now-a-private-password")
    assert not AppTest.from_file(at._script_path, default_timeout=30).run().info


def test_wrong_password_unknown_user_and_disabled_account_look_the_same(anonymous_app: AppTest, with_owner: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "FREE_CLIENT_FAILURES", 100)  # four tries from one browser, none paused
    with Store(with_owner) as s:
        auth.set_active(s, "ana", "vic", False)
    at = anonymous_app.run()
    seen = []
    for username, password in [("ana", "not-the-password"), ("nobody", "not-the-password"),
                               ("vic", "viewer-long-password"), ("' OR '1'='1' --", "' OR '1'='1' --")]:
        sign_in_form(at, username, password)
        seen.append([e.value for e in at.error])
        assert SESSION_KEY not in at.session_state
    assert seen == [[auth.INVALID_MESSAGE]] * 4


def test_a_locked_out_user_cannot_sign_in_even_with_the_right_password(anonymous_app: AppTest, with_owner: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "FREE_CLIENT_FAILURES", 100)  # the lock per username, without the client's pause
    at = anonymous_app.run()
    for i in range(5):
        sign_in_form(at, "ben", f"guess number {i}")
    assert at.error[0].value == auth.LOCKED_MESSAGE
    sign_in_form(at, "ben", "therapist-long-password")
    assert at.error[0].value == auth.LOCKED_MESSAGE
    assert SESSION_KEY not in at.session_state
    # an unknown name gets the very same lock message
    for i in range(6):
        sign_in_form(at, "no-such-person", f"guess number {i}")
    assert at.error[0].value == auth.LOCKED_MESSAGE


def test_passwords_never_appear_in_logs(anonymous_app: AppTest, with_owner: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    at = sign_in_form(anonymous_app.run(), "ana", "a-wrong-password-attempt")
    sign_in_form(at, "ana", PASSWORD)
    assert at.session_state[SESSION_KEY].username == "ana"
    assert "a-wrong-password-attempt" not in caplog.text and PASSWORD not in caplog.text


# -- roles --------------------------------------------------------------------------------------

def test_each_role_gets_only_its_pages(app_as) -> None:
    owner = app_as("owner").run()
    assert set(OWNER_ONLY + WRITERS_ONLY) <= registered(owner)
    therapist = app_as("therapist", "ben").run()
    assert not set(OWNER_ONLY) & registered(therapist)
    assert set(WRITERS_ONLY) <= registered(therapist)
    assert not can_reach(therapist, "pages/admin_users.py")
    viewer = app_as("viewer", "vic").run()
    assert not set(OWNER_ONLY + WRITERS_ONLY) & registered(viewer)
    assert not can_reach(viewer, "pages/admin_links.py")
    assert "pages/library.py" in registered(viewer)


def test_a_session_claiming_a_higher_role_gets_the_accounts_real_role(app_as, app_db: Path) -> None:
    at = app_as("viewer", "vic")
    forged = at.session_state[SESSION_KEY]
    at.session_state[SESSION_KEY] = auth.StaffSession(forged.username, "owner", forged.signed_in_at, forged.last_seen)
    at.run()
    assert at.session_state[SESSION_KEY].role == "viewer"
    assert "pages/admin_users.py" not in registered(at)


def test_a_session_for_an_account_that_does_not_exist_is_signed_out(anonymous_app: AppTest, with_owner) -> None:
    now = utcnow()
    anonymous_app.session_state[SESSION_KEY] = auth.StaffSession("mallory", "owner", now, now)
    at = anonymous_app.run()
    assert registered(at) == {"pages/login.py"} and SESSION_KEY not in at.session_state


def test_owner_pages_work_for_the_owner(app: AppTest) -> None:
    at = app.run()
    at.switch_page("pages/admin_users.py").run()
    assert not at.exception and at.title[0].value == "Staff & audit log"
    at.text_input(key="new_username").input("cara")
    at.text_input(key="new_password").input("cara-long-password")
    at.selectbox(key="new_role").set_value("therapist")
    at.button(key="FormSubmitter:add_user-Add staff member").click().run()
    assert not at.exception
    assert auth.get_user(get_store(), "cara").role == "therapist"
    assert "Account cara created." in [s.value for s in at.success]


def test_staff_change_their_own_password_from_the_sidebar(with_owner: Path, app_as) -> None:
    at = app_as("viewer", "vic").run()
    at.switch_page("pages/library.py").run()

    def change(current: str, new: str) -> None:
        at.sidebar.text_input(key="own_current").input(current)
        at.sidebar.text_input(key="own_new").input(new)
        at.sidebar.text_input(key="own_repeat").input(new)
        at.sidebar.button(key="FormSubmitter:own_password-Change my password").click().run()

    change("not-my-password", "my-new-long-password")
    assert "current password is wrong" in at.sidebar.error[0].value
    change("viewer-long-password", "my-new-long-password")
    assert at.sidebar.success[0].value == "Password changed. Your other sign-ins (other browsers) have ended."
    assert auth.login(get_store(), "vic", "my-new-long-password").ok


def test_a_password_change_signs_out_the_accounts_other_browsers(with_owner: Path, app_as) -> None:
    phone = app_as("viewer", "vic").run()
    laptop = app_as("viewer", "vic").run()
    laptop.sidebar.text_input(key="own_current").input("viewer-long-password")
    laptop.sidebar.text_input(key="own_new").input("my-new-long-password")
    laptop.sidebar.text_input(key="own_repeat").input("my-new-long-password")
    laptop.sidebar.button(key="FormSubmitter:own_password-Change my password").click().run()
    laptop.run()
    assert laptop.session_state[SESSION_KEY].username == "vic"  # the browser that changed it stays
    phone.run()
    assert SESSION_KEY not in phone.session_state and registered(phone) == {"pages/login.py"}
    assert "your password was changed" in texts(phone)


def test_repeated_failures_from_one_browser_make_it_wait(anonymous_app: AppTest, with_owner: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "FIRST_CLIENT_WAIT_SECONDS", 600)  # however slow this machine runs the form
    at = anonymous_app.run()
    for name in ("ana", "ben", "someone"):  # different usernames: the browser is slowed, not a name
        sign_in_form(at, name, "a wrong guess")
        assert at.error[0].value == auth.INVALID_MESSAGE
    sign_in_form(at, "ana", PASSWORD)
    assert SESSION_KEY not in at.session_state
    assert at.error[0].value.startswith("Too many failed sign-ins from this browser: wait ")


# -- leaving ------------------------------------------------------------------------------------

def test_sign_out(app: AppTest) -> None:
    at = app.run()
    at.switch_page("pages/library.py").run()
    at.sidebar.button(key="sign_out").click().run()
    assert SESSION_KEY not in at.session_state
    assert registered(at) == {"pages/login.py"}
    assert "You are signed out." in texts(at)
    assert list(auth.audit_entries(get_store(), actor="owner")["action"])[:1] == ["sign_out"]


def test_idle_timeout_signs_out(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(auth.IDLE_ENV, raising=False)
    at = app.run()
    session = at.session_state[SESSION_KEY]
    stale = session.last_seen - timedelta(minutes=31)
    at.session_state[SESSION_KEY] = auth.StaffSession(session.username, session.role, stale, stale)
    at.run()
    assert SESSION_KEY not in at.session_state and registered(at) == {"pages/login.py"}
    assert "signed out after 30 minutes without activity" in texts(at)
    assert list(auth.audit_entries(get_store(), actor="owner")["action"])[:1] == ["sign_out_idle"]


def test_idle_timeout_is_configurable(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.IDLE_ENV, "5")
    at = app.run()
    session = at.session_state[SESSION_KEY]
    stale = session.last_seen - timedelta(minutes=6)
    at.session_state[SESSION_KEY] = auth.StaffSession(session.username, session.role, stale, stale)
    at.run()
    assert "signed out after 5 minutes" in texts(at)


def test_a_disabled_account_is_signed_out_on_its_next_click(app_as, app_db: Path) -> None:
    at = app_as("therapist", "ben").run()
    auth.create_user(get_store(), "cli", "olga", "owner", "owner-long-password")
    auth.set_active(get_store(), "olga", "ben", False)
    at.run()
    assert registered(at) == {"pages/login.py"}
    assert "can no longer sign in" in texts(at)


# -- single sign-on -----------------------------------------------------------------------------

SSO_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                        "client_id": "id", "client_secret": "secret",
                        "server_metadata_url": "https://id.example/.well-known/openid-configuration"}}


def test_sso_maps_the_email_to_the_staff_account(anonymous_app: AppTest, with_owner: Path) -> None:
    with Store(with_owner) as s:
        auth.set_email(s, "ana", "ben", "Ben@Clinic.example")
    anonymous_app.secrets = SSO_SECRETS
    anonymous_app.user = {"is_logged_in": True, "email": "ben@clinic.example", "email_verified": True}
    at = anonymous_app.run()
    assert not at.exception
    session = at.session_state[SESSION_KEY]
    assert (session.username, session.role, session.method) == ("ben", "therapist", "sso")


def test_sso_identity_without_a_staff_account_gets_nothing(anonymous_app: AppTest, with_owner: Path) -> None:
    anonymous_app.secrets = SSO_SECRETS
    anonymous_app.user = {"is_logged_in": True, "email": "stranger@example.org", "email_verified": True}
    at = anonymous_app.run()
    assert SESSION_KEY not in at.session_state and registered(at) == {"pages/login.py"}
    assert "not a staff account" in at.error[0].value


def test_without_sso_configured_an_identity_is_ignored(anonymous_app: AppTest, with_owner: Path) -> None:
    with Store(with_owner) as s:
        auth.set_email(s, "ana", "ana", "ana@clinic.example")
    anonymous_app.user = {"is_logged_in": True, "email": "ana@clinic.example"}
    at = anonymous_app.run()
    assert SESSION_KEY not in at.session_state
    assert not [b for b in at.button if b.key == "sso_login"]


# -- URLs that try to skip app.py -----------------------------------------------------------------

@pytest.fixture
def old_pages_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo conftest's `navigation_only`: each run starts the way a fresh server's first one does."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    monkeypatch.setattr(app_test, "PagesManager", PagesManager)


def _request_url_path(at: AppTest, url_path: str) -> AppTest:
    """What a browser asking for /<url_path> sends: the page hash of that URL path. (Streamlit
    runs a file of pages/ directly for it while it still treats pages/ as its old multipage layout.)"""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    return at.run()


@pytest.mark.parametrize("url_path", ["overview", "admin_users", "admin_links", "staff", "clients", "common",
                                      "shared_view"])
def test_a_signed_out_visitor_asking_for_a_page_url_gets_the_sign_in_page(old_pages_layout, anonymous_app: AppTest,
                                                                         with_owner: Path, url_path: str) -> None:
    at = _request_url_path(anonymous_app, url_path)
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert registered(at) == {"pages/login.py"}
    assert not at.dataframe and not at.exception


def test_a_therapist_asking_for_the_owner_page_url_does_not_get_it(old_pages_layout, app_as) -> None:
    at = app_as("therapist", "ben").run()
    for url_path in ("admin_users", "staff"):
        _request_url_path(at, url_path)
        assert "Staff & audit log" not in [t.value for t in at.title]
        assert "pages/admin_users.py" not in registered(at)
