"""Staff accounts, sign-in, locks, roles, sessions and the audit log — mostly written as attacks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest

from core.access import auth
from core.access.auth import AuthError, PermissionDenied
from core.db.store import Store, WriteConflict, utcnow

PASSWORD = "correct horse battery"
AUTH_TABLES = ("users", "first_owner_claim", "login_attempts", "login_lockouts", "audit_log")


@pytest.fixture(scope="module")
def module_store(blank_store: Callable[[str], Store]) -> Iterator[Store]:
    with blank_store("auth") as s:
        yield s


@pytest.fixture
def store(module_store: Store) -> Store:
    """One migrated database for the module (opening one costs a second), emptied of accounts."""
    with module_store.transaction() as cur:
        for table in AUTH_TABLES:
            cur.execute(f"DELETE FROM {table}")
    return module_store


@pytest.fixture
def library_store(db_path) -> Iterator[Store]:
    from core.library.content import sync_library

    with Store(db_path) as s:
        sync_library(s)
        yield s


def dump(store: Store) -> str:
    """Every value of every table as text: what someone with a copy of the database file can read."""
    tables = store.tables()
    return "\n".join(store.query(f'SELECT * FROM "{t}"').astype(str).to_csv() for t in tables)


@pytest.fixture
def owner(store: Store) -> auth.User:
    return auth.create_first_owner(store, "Ana", PASSWORD)


# -- first owner and accounts -------------------------------------------------------------------

def test_first_owner_only_while_there_are_no_accounts(store: Store) -> None:
    first = auth.create_first_owner(store, "  Ana ", PASSWORD, display_name="Ana Ruiz")
    assert (first.username, first.role, first.label) == ("ana", "owner", "Ana Ruiz")
    with pytest.raises(AuthError, match="already exists"):
        auth.create_first_owner(store, "mallory", "mallory-takes-over")
    assert auth.count_users(store) == 1
    assert auth.get_user(store, "mallory") is None


def test_a_racing_second_first_owner_is_refused_by_the_claim(store: Store) -> None:
    # Another request claimed the first owner in a transaction this one could not see yet.
    with store.transaction() as cur:
        cur.execute("INSERT INTO first_owner_claim VALUES (1, 'other', ?)", [utcnow()])
    with pytest.raises(AuthError, match="already exists"):
        auth.create_first_owner(store, "mallory", "mallory-takes-over")
    assert auth.count_users(store) == 0


def test_passwords_are_argon2id_with_sane_default_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(auth.FAST_HASH_ENV, raising=False)
    encoded = auth.hash_password(PASSWORD)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    monkeypatch.setenv(auth.FAST_HASH_ENV, "1")
    assert auth.hash_password(PASSWORD).startswith("$argon2id$")  # the test switch is still argon2id


def test_passwords_never_reach_the_database_in_clear(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", "bens-own-secret-pass")
    auth.login(store, "ben", "bens-own-secret-pass")
    auth.login(store, "ben", "a-wrong-guess-for-ben")
    auth.login(store, "typed-my-password-as-username", "x")  # a password typed into the wrong box
    auth.set_password(store, "ana", "ben", "bens-second-secret")
    text = dump(store)
    for secret in (PASSWORD, "bens-own-secret-pass", "a-wrong-guess-for-ben", "typed-my-password-as-username",
                   "bens-second-secret"):
        assert secret not in text
    assert "$argon2id$" in text  # only hashes are there


def test_an_unverifiable_hash_is_a_wrong_password_not_a_crash(store: Store, owner: auth.User) -> None:
    with store.transaction() as cur:
        cur.execute("UPDATE users SET password_hash = 'not-a-hash' WHERE username = 'ana'")
    assert auth.login(store, "ana", PASSWORD).outcome == "invalid"


@pytest.mark.parametrize("name", ["", "  ", "cli", "demo", "a" * 65, "ana smith", "ana'--", "-ana", "ána", "a/b"])
def test_bad_and_reserved_usernames_are_refused(store: Store, owner: auth.User, name: str) -> None:
    with pytest.raises(AuthError):
        auth.create_user(store, "ana", name, "viewer", PASSWORD)


@pytest.mark.parametrize("password", ["short", " " * 20, "x" * 1025, None, "Ben-The-Therapist"])
def test_weak_or_odd_passwords_are_refused(store: Store, owner: auth.User, password) -> None:
    with pytest.raises(AuthError):
        auth.create_user(store, "ana", "ben-the-therapist", "therapist", password)


def test_usernames_are_unique_without_case(store: Store, owner: auth.User) -> None:
    with pytest.raises(AuthError, match="taken"):
        auth.create_user(store, "ana", "ANA", "viewer", "another-long-pass")


def test_sql_meta_characters_in_names_are_stored_literally(store: Store, owner: auth.User) -> None:
    name = "Robert'); DROP TABLE users;-- \" % _ \\"
    user = auth.create_user(store, "ana", "bobby", "viewer", "long-enough-pass", display_name=name)
    assert user.display_name == name
    assert auth.count_users(store) == 2
    # the attacker-shaped username is only ever a parameter: it finds nothing and breaks nothing
    assert auth.login(store, "' OR '1'='1", "' OR '1'='1").outcome == "invalid"
    assert auth.get_user(store, "' OR 1=1 --") is None


# -- roles --------------------------------------------------------------------------------------

def test_require_role(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    auth.create_user(store, "ana", "vic", "viewer", "long-enough-pass")
    assert auth.require_role(store, "ana", auth.OWNER) == "owner"
    assert auth.require_role(store, "ben", auth.STAFF_WRITERS) == "therapist"
    assert auth.require_role(store, "cli", auth.OWNER) == "system"
    assert auth.require_role(store, "demo", auth.OWNER) == "system"
    for actor, allowed in [("vic", auth.STAFF_WRITERS), ("ben", auth.OWNER), ("nobody", auth.ALL_STAFF),
                           ("", auth.ALL_STAFF), ("staff", auth.ALL_STAFF), ("CLI ", auth.OWNER)]:
        with pytest.raises(PermissionDenied):
            auth.require_role(store, actor, allowed)
    auth.set_active(store, "ana", "ben", False)
    with pytest.raises(PermissionDenied):
        auth.require_role(store, "ben", auth.STAFF_WRITERS)


def test_only_owners_manage_accounts(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    auth.create_user(store, "ana", "vic", "viewer", "long-enough-pass")
    for actor in ("ben", "vic"):
        with pytest.raises(PermissionDenied):
            auth.create_user(store, actor, "eve", "owner", "long-enough-pass")
        with pytest.raises(PermissionDenied):
            auth.set_role(store, actor, actor, "owner")
        with pytest.raises(PermissionDenied):
            auth.set_password(store, actor, "ana", "taken-over-owner")
        with pytest.raises(PermissionDenied):
            auth.unlock(store, actor, "ana")
    assert auth.get_user(store, "ben").role == "therapist"
    assert auth.login(store, "ana", PASSWORD).ok


def test_anyone_may_change_their_own_password(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "vic", "viewer", "long-enough-pass")
    auth.set_password(store, "vic", "vic", "a-new-long-passphrase")
    assert auth.login(store, "vic", "a-new-long-passphrase").ok
    assert not auth.login(store, "vic", "long-enough-pass").ok


def test_changing_your_own_password_needs_the_current_one(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    with pytest.raises(AuthError):
        auth.change_own_password(store, "ben", "long-enough-pass", "short")
    t0 = utcnow()
    for _ in range(5):  # someone at an unlocked screen guessing: that is a sign-in attempt, and it locks
        assert auth.change_own_password(store, "ben", "a-wrong-guess!", "taken-over-now") is False
    assert auth.change_own_password(store, "ben", "long-enough-pass", "taken-over-now") is False  # locked
    assert auth.locked_until(store, "ben", t0) is not None
    auth.unlock(store, "ana", "ben")
    assert auth.change_own_password(store, "ben", "long-enough-pass", "my-own-new-secret") is True
    assert auth.login(store, "ben", "my-own-new-secret").ok


def test_the_last_owner_cannot_be_removed(store: Store, owner: auth.User) -> None:
    with pytest.raises(AuthError, match="only active owner"):
        auth.set_role(store, "ana", "ana", "viewer")
    with pytest.raises(AuthError, match="only active owner"):
        auth.set_active(store, "ana", "ana", False)
    auth.create_user(store, "ana", "olga", "owner", "long-enough-pass")
    auth.set_role(store, "olga", "ana", "therapist")
    assert auth.get_user(store, "ana").role == "therapist"


def test_a_role_change_takes_effect_on_the_next_request(store: Store, owner: auth.User) -> None:
    ben = auth.create_user(store, "ana", "ben", "owner", "long-enough-pass")
    session = auth.start_session(ben)
    auth.set_role(store, "ana", "ben", "viewer")
    assert auth.refresh_session(store, session).role == "viewer"
    auth.set_active(store, "ana", "ben", False)
    assert auth.refresh_session(store, session) is None


# -- sign-in and locks --------------------------------------------------------------------------

def test_sign_in_ignores_case_and_outer_spaces_of_the_username(store: Store, owner: auth.User) -> None:
    result = auth.login(store, "  ANA ", PASSWORD)
    assert result.ok and result.user.username == "ana"
    assert not auth.login(store, "ana", PASSWORD.upper()).ok
    assert not auth.login(store, "ana", PASSWORD + " ").ok


def test_unknown_disabled_and_wrong_password_answer_alike(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "gone", "viewer", "long-enough-pass")
    auth.set_active(store, "ana", "gone", False)
    answers = {auth.login(store, name, pw).message for name, pw in
               [("ana", "wrong-password!"), ("nobody", "wrong-password!"), ("gone", "long-enough-pass"), ("", "")]}
    assert answers == {auth.INVALID_MESSAGE}


def test_every_path_spends_one_argon2_verification(store: Store, owner: auth.User,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: calls.append(h) or real(h, p))
    auth.login(store, "ana", "wrong-password!")
    auth.login(store, "nobody", "wrong-password!")
    for _ in range(5):
        auth.login(store, "nobody2", "x")
    auth.login(store, "nobody2", "x")  # locked
    assert len(calls) == 8


def test_five_failures_lock_for_fifteen_minutes(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    outcomes = [auth.login(store, "ana", f"guess-{i}", t0 + timedelta(seconds=i)).outcome for i in range(5)]
    assert outcomes == ["invalid"] * 4 + ["locked"]
    # the right password does not get through the lock, and says nothing about being right
    during = auth.login(store, "ana", PASSWORD, t0 + timedelta(minutes=14))
    assert (during.outcome, during.user) == ("locked", None)
    assert during.message == auth.LOCKED_MESSAGE
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(minutes=15, seconds=5)).ok


def test_the_lock_does_not_reveal_whether_the_account_exists(store: Store, owner: auth.User) -> None:
    t0 = utcnow()

    def attack(name: str) -> list[str]:
        return [auth.login(store, name, "guess", t0 + timedelta(seconds=i)).message for i in range(7)]

    assert attack("ana") == attack("no-such-user")
    assert auth.locked_until(store, "no-such-user", t0 + timedelta(seconds=10)) is not None


def test_attempts_while_locked_do_not_extend_the_lock(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    for i in range(5):
        auth.login(store, "ana", "guess", t0 + timedelta(seconds=i))
    for minute in range(1, 15):
        auth.login(store, "ana", "guess", t0 + timedelta(minutes=minute))
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(minutes=16)).ok


def test_after_a_lock_another_five_failures_lock_again(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    for i in range(5):
        auth.login(store, "ana", "guess", t0 + timedelta(seconds=i))
    later = t0 + timedelta(minutes=20)
    outcomes = [auth.login(store, "ana", "guess", later + timedelta(seconds=i)).outcome for i in range(5)]
    assert outcomes == ["invalid"] * 4 + ["locked"]


def test_a_success_resets_the_count(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    for i in range(4):
        auth.login(store, "ana", "guess", t0 + timedelta(seconds=i))
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(seconds=5)).ok
    outcomes = [auth.login(store, "ana", "guess", t0 + timedelta(seconds=10 + i)).outcome for i in range(4)]
    assert outcomes == ["invalid"] * 4


def test_an_owner_can_clear_a_lock(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    for _ in range(5):
        auth.login(store, "ben", "guess")
    assert auth.users_table(store).set_index("username").loc["ben", "status"] == "locked"
    assert auth.unlock(store, "ana", "ben") is True
    assert auth.unlock(store, "ana", "ben") is False
    assert auth.login(store, "ben", "long-enough-pass").ok


def test_old_attempts_are_forgotten_after_a_successful_sign_in(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    auth.login(store, "ana", "guess", t0 - timedelta(days=91))
    auth.login(store, "nobody", "guess", t0 - timedelta(days=89))
    assert auth.login(store, "ana", PASSWORD, t0).ok
    assert store.scalar("SELECT count(*) FROM login_attempts") == 2  # the 89-day-old one and today's


def test_simultaneous_sign_ins_of_one_account_all_get_an_answer(store: Store, owner: auth.User) -> None:
    import threading

    outcomes, errors = [], []

    def attempt(password: str) -> None:
        try:
            outcomes.append(auth.login(store, "ana", password).outcome)
        except Exception as exc:  # noqa: BLE001 - the test is that there is none
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(PASSWORD,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (errors, outcomes) == ([], ["ok"] * 8)


def test_an_oversized_password_is_refused_without_hashing(store: Store, owner: auth.User) -> None:
    assert auth.login(store, "ana", "x" * 100_000).outcome == "invalid"


def test_a_weaker_hash_is_upgraded_at_sign_in(store: Store, owner: auth.User, monkeypatch) -> None:
    assert store.scalar("SELECT password_hash FROM users").startswith("$argon2id$v=19$m=8,")  # test parameters
    monkeypatch.delenv(auth.FAST_HASH_ENV)
    assert auth.login(store, "ana", PASSWORD).ok
    assert store.scalar("SELECT password_hash FROM users").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


# -- sessions -----------------------------------------------------------------------------------

def test_idle_timeout(store: Store, owner: auth.User) -> None:
    t0 = utcnow()
    session = auth.start_session(owner, t0)
    kept = auth.refresh_session(store, session, t0 + timedelta(minutes=29), 30)
    assert kept is not None and kept.last_seen == t0 + timedelta(minutes=29)
    assert auth.refresh_session(store, kept, t0 + timedelta(minutes=58), 30) is not None  # activity moved it
    assert auth.refresh_session(store, session, t0 + timedelta(minutes=30, seconds=1), 30) is None


@pytest.mark.parametrize(("env", "configured", "expected"), [
    (None, None, 30), ("10", None, 10), (None, "45", 45), ("10", "45", 10), ("0", None, 30), ("-5", "20", 20),
    ("soon", None, 30), ("99999", None, 1440), ("", "15", 15),
])
def test_idle_minutes_config(monkeypatch: pytest.MonkeyPatch, env, configured, expected) -> None:
    if env is None:
        monkeypatch.delenv(auth.IDLE_ENV, raising=False)
    else:
        monkeypatch.setenv(auth.IDLE_ENV, env)
    assert auth.idle_timeout_minutes(configured) == expected


# -- single sign-on -----------------------------------------------------------------------------

def test_sso_maps_a_verified_email_to_an_active_account(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", email="Ben@Clinic.example")
    assert auth.get_user(store, "ben").has_password is False
    assert auth.sso_login(store, "ben@clinic.EXAMPLE", True).user.username == "ben"
    assert auth.sso_login(store, "ben@clinic.example", None).ok  # providers that omit the claim
    assert not auth.sso_login(store, "ben@clinic.example", False).ok
    assert not auth.sso_login(store, "eve@clinic.example", True).ok
    assert not auth.sso_login(store, None, True).ok
    assert not auth.sso_login(store, "' OR 1=1 --", True).ok
    auth.set_active(store, "ana", "ben", False)
    assert not auth.sso_login(store, "ben@clinic.example", True).ok
    # an SSO-only account has no password to guess
    assert not auth.login(store, "ben", "").ok


def test_sso_emails_are_unique(store: Store, owner: auth.User) -> None:
    auth.create_user(store, "ana", "ben", "therapist", email="ben@clinic.example")
    with pytest.raises(AuthError, match="another account"):
        auth.create_user(store, "ana", "eve", "owner", email="BEN@clinic.example")
    with pytest.raises(AuthError, match="another account"):
        auth.set_email(store, "ana", "ana", "ben@clinic.example")


# -- audit --------------------------------------------------------------------------------------

def test_sign_ins_and_account_changes_are_audited(store: Store, owner: auth.User) -> None:
    auth.login(store, "ana", PASSWORD)
    auth.login(store, "ana", "wrong-password!")
    auth.login(store, "someone-unknown", "wrong-password!")
    auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    auth.end_session(store, auth.start_session(owner), "idle")
    log = auth.audit_entries(store)
    assert list(zip(log["actor"], log["action"]))[::-1] == [
        ("ana", "first_owner_created"), ("ana", "sign_in"), ("ana", "sign_in_failed"),
        ("(unknown)", "sign_in_failed"), ("ana", "user_created"), ("ana", "sign_out_idle")]
    assert "someone-unknown" not in dump(store)


def test_audit_details_cannot_carry_secrets(store: Store) -> None:
    auth.audit(store, "cli", "test", {"password": "p1", "new_password": "p2", "token": "t", "token_sha256": "h",
                                      "client": "C1"})
    assert json.loads(store.scalar("SELECT detail FROM audit_log")) == {"client": "C1"}


# -- demo ---------------------------------------------------------------------------------------

def test_the_demo_owner_is_only_added_to_a_database_without_accounts(store: Store) -> None:
    demo_owner = auth.ensure_demo_owner(store)
    assert (demo_owner.username, demo_owner.role) == ("owner", "owner")
    assert auth.login(store, auth.DEMO_OWNER, auth.DEMO_OWNER_PASSWORD).ok
    assert auth.ensure_demo_owner(store) is None
    assert auth.demo_owner_unchanged(store)
    auth.change_own_password(store, "owner", auth.DEMO_OWNER_PASSWORD, "a-private-password")
    assert not auth.demo_owner_unchanged(store)


def test_an_owner_called_owner_is_not_mistaken_for_the_demo(store: Store) -> None:
    auth.create_first_owner(store, "owner", PASSWORD)
    assert not auth.demo_owner_unchanged(store)


def test_demo_practice_comes_with_the_demo_owner_but_never_beside_real_accounts(library_store: Store,
                                                                                    tmp_path) -> None:
    from datetime import date

    from core.library.content import sync_library
    from core.commands.demo import DemoSpec, create_demo_practice

    create_demo_practice(library_store, DemoSpec(clients=3, days=30, as_of=date(2025, 3, 1)))
    assert [u.username for u in auth.list_users(library_store)] == ["owner"]
    assert auth.login(library_store, "owner", "demo-owner-password").ok

    with Store(tmp_path / "real.duckdb") as real:
        sync_library(real)
        auth.create_first_owner(real, "ana", PASSWORD)
        create_demo_practice(real, DemoSpec(clients=3, days=30, as_of=date(2025, 3, 1)))
        assert [u.username for u in auth.list_users(real)] == ["ana"]


# -- hardening (issue 17): parallel attempts, other sessions, argon2 load, a full disk -----------

def _slow_verify(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.05) -> None:
    """Make each password check take as long as a real argon2 verification does on a busy server,
    which is the window parallel attempts raced through."""
    real = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: time.sleep(seconds) or real(h, p))


def _at_once(count: int, attempt) -> list:
    """Run ``attempt(i)`` in ``count`` threads released together."""
    start = threading.Barrier(count)

    def run(i: int):
        start.wait()
        return attempt(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_wrong_passwords_count_at_most_five_then_lock(store: Store, owner: auth.User,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_verify(monkeypatch)
    t0 = utcnow()
    outcomes = _at_once(12, lambda i: auth.login(store, "ana", f"guess-{i}", t0).outcome)
    assert outcomes.count("invalid") == 4 and outcomes.count("locked") == 8
    assert store.scalar("SELECT count(*) FROM login_attempts WHERE outcome = 'failed'") == 5
    assert store.scalar("SELECT count(*) FROM login_lockouts") == 1
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(seconds=1)).outcome == "locked"


def test_the_right_password_racing_wrong_ones_cannot_slip_past_the_lock(store: Store, owner: auth.User,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_verify(monkeypatch)
    t0 = utcnow()
    for i in range(4):
        auth.login(store, "ana", f"guess-{i}", t0)
    # the fifth wrong guess and the right password at the same moment: either the right one came
    # first (signed in, counter reset) or the lock did (refused); never a success after the lock
    outcomes = _at_once(2, lambda i: auth.login(store, "ana", PASSWORD if i else "guess-5", t0).outcome)
    assert sorted(outcomes) in (["invalid", "ok"], ["locked", "locked"]), outcomes


def test_a_password_change_ends_the_accounts_other_sessions(store: Store, owner: auth.User) -> None:
    ben = auth.create_user(store, "ana", "ben", "therapist", "long-enough-pass")
    laptop = auth.start_session(ben, utcnow())
    phone = auth.start_session(ben, utcnow())
    assert auth.refresh_session(store, laptop) is not None
    assert auth.change_own_password(store, "ben", "long-enough-pass", "a-new-long-passphrase")
    laptop = auth.after_own_password_change(store, laptop)  # the session that changed it stays
    assert auth.refresh_session(store, laptop) is not None
    assert auth.refresh_session(store, phone) is None
    auth.set_password(store, "ana", "ben", "owner-reset-pass!")  # the owner resets it after a leak
    assert auth.refresh_session(store, laptop) is None
    after = auth.start_session(auth.login(store, "ben", "owner-reset-pass!").user, utcnow())
    assert auth.refresh_session(store, after) is not None


def test_at_most_two_password_checks_run_at_once(store: Store, owner: auth.User,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = [0], [0]
    guard = threading.Lock()
    real = auth.hasher()

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            with guard:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with guard:
                running[0] -= 1
            return real.verify(stored, password)

        def check_needs_rehash(self, stored: str) -> bool:
            return False

    monkeypatch.setattr(auth, "hasher", Counting)
    _at_once(8, lambda i: auth.login(store, f"user-{i}", "wrong-password!"))
    assert most[0] == auth.PARALLEL_PASSWORD_CHECKS == 2


def test_a_client_that_keeps_failing_has_to_wait_longer_and_longer() -> None:
    throttle = auth.ClientThrottle()
    t0 = utcnow()
    for _ in range(3):
        assert throttle.wait_seconds("10.0.0.7", t0) == 0
        throttle.failed("10.0.0.7", t0)
    assert [throttle.wait_seconds("10.0.0.7", t0 + timedelta(seconds=s)) for s in (0, 3.5, 5)] == [5, 2, 0]
    throttle.failed("10.0.0.7", t0 + timedelta(seconds=5))
    assert throttle.wait_seconds("10.0.0.7", t0 + timedelta(seconds=5)) == 10
    for i in range(10):
        throttle.failed("10.0.0.7", t0 + timedelta(seconds=3 + i))
    assert throttle.wait_seconds("10.0.0.7", t0 + timedelta(seconds=12)) == auth.MAX_CLIENT_WAIT_SECONDS
    assert throttle.wait_seconds("10.0.0.8", t0) == 0  # another client is not slowed
    assert throttle.wait_seconds("10.0.0.7", t0 + timedelta(minutes=16)) == 0  # a quiet quarter hour forgets
    throttle.succeeded("10.0.0.7")
    assert throttle.wait_seconds("10.0.0.7", t0 + timedelta(seconds=12)) == 0


def test_the_throttle_keeps_only_the_newest_clients() -> None:
    throttle = auth.ClientThrottle(max_clients=2)
    t0 = utcnow()
    for client in ("a", "b", "c"):
        for _ in range(4):
            throttle.failed(client, t0)
    assert [throttle.wait_seconds(c, t0) for c in ("a", "b", "c")] == [0, 10, 10]


def test_sign_in_from_a_failing_client_waits_without_checking_or_counting(
        store: Store, owner: auth.User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CLIENTS", auth.ClientThrottle())
    t0 = utcnow()
    for i in range(3):  # three different usernames: the client is slowed, not the names
        assert auth.login(store, f"name-{i}", "guess", t0, client="203.0.113.9").outcome == "invalid"
    checks = []
    real = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: checks.append(1) or real(h, p))
    waited = auth.login(store, "ana", PASSWORD, t0 + timedelta(seconds=1), client="203.0.113.9")
    assert (waited.outcome, waited.wait_seconds, checks) == ("wait", 4, [])
    assert waited.message == "Too many failed sign-ins from this browser: wait 4 seconds, then try again."
    assert store.scalar("SELECT count(*) FROM login_attempts") == 3
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(seconds=1), client="198.51.100.1").ok
    assert auth.login(store, "ana", PASSWORD, t0 + timedelta(seconds=5), client="203.0.113.9").ok


@pytest.fixture
def full_disk(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store as on a full disk: every commit fails the way DuckDB's does (and rolls back)."""
    real = Store.transaction

    @contextmanager
    def failing(self, *args, **kwargs):
        with real(self, *args, **kwargs) as cur:
            yield cur
            raise WriteConflict('TransactionContext Error: Failed to commit: Could not write file'
                                ' "/srv/practice.duckdb.wal": No space left on device')

    monkeypatch.setattr(Store, "transaction", failing)
    return store


def test_on_a_full_disk_staff_still_sign_in_and_out(owner: auth.User, full_disk: Store) -> None:
    result = auth.login(full_disk, "ana", PASSWORD)
    assert result.ok and result.user.username == "ana"
    auth.end_session(full_disk, auth.start_session(result.user), "signed_out")
    assert auth.sso_login(full_disk, "nobody@example.org").outcome == "invalid"


def test_on_a_full_disk_failures_still_lock(owner: auth.User, full_disk: Store) -> None:
    t0 = utcnow()
    outcomes = [auth.login(full_disk, "ana", f"guess-{i}", t0 + timedelta(seconds=i)).outcome for i in range(5)]
    assert outcomes == ["invalid"] * 4 + ["locked"]
    assert auth.login(full_disk, "ana", PASSWORD, t0 + timedelta(minutes=1)).outcome == "locked"
    assert full_disk.scalar("SELECT count(*) FROM login_attempts") == 0  # nothing could be saved
    assert auth.login(full_disk, "ana", PASSWORD, t0 + timedelta(minutes=16)).ok


def test_other_database_errors_are_not_taken_for_a_full_disk() -> None:
    from core.db.integrity import is_storage_failure

    assert is_storage_failure(WriteConflict("Failed to commit: Could not write file: No space left on device"))
    assert is_storage_failure(OSError(28, "No space left on device"))
    assert not is_storage_failure(WriteConflict("Transaction conflict: cannot update a table that has been altered"))
    assert not is_storage_failure(ValueError("No space left on device"))
