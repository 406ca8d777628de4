"""Staff accounts, sign-in, roles and the audit log.

The practice's data is health data, so every person who reads it inside the app signs in, and every
change is made by a named account whose role allows it.

Roles:
- ``owner``: everything, including staff accounts and every share link;
- ``therapist``: clients, routines, assignments, session logs, and the share links they made;
- ``viewer``: reads inside the app, changes nothing.

System actors: ``cli`` (the ``routine-desk`` command) and ``demo`` (the demo generator) pass every
role check. Whoever can run the command can already open the database file directly, so a role
check there would protect nothing; the demo generator only runs into an empty practice. The names
are reserved: no staff account can be called ``cli`` or ``demo``.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile: 3 passes, 64 MiB,
4 lanes) and never stored or logged in clear. ``ROUTINE_DESK_FAST_HASH=1`` switches to the
cheapest argon2id parameters so the test suite stays fast; hashes made that way are upgraded on the
next successful sign-in without it. Never set it on a server.

Sign-in failures lock a username for 15 minutes after 5 in a row. Attempts are counted per username
as typed, whether or not such an account exists, and an unknown name costs the same argon2 work as
a wrong password, so neither the message, the lock nor the timing tells an attacker which accounts
exist. Attempts are keyed by a SHA-256 of the name, so a password typed into the username box never
lands in the database.

Parallel attempts cannot outrun the lock: for one username, deciding (locked? count, lock) and
recording an attempt is one transaction taken under a per-username lock of this process, and DuckDB
lets only one process open the file. At most ``PARALLEL_PASSWORD_CHECKS`` argon2 computations run at
once (64 MiB each), and a client (address or browser session) that keeps failing must wait longer
and longer before its next attempt is even checked.

When the database cannot save (a full disk), sign-in still works from what it can read: the
attempt is held in this process's memory (so failures still count towards the lock) and noted in
the server log, and signing out or in never fails because its audit entry could not be written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import pandas as pd
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.db.integrity import is_storage_failure
from core.db.store import ACCOUNTS, Cursor, DatabaseError, Store, WriteConflict, utcnow

ROLES: tuple[str, ...] = ("owner", "therapist", "viewer")
ROLE_LABELS = {"owner": "Owner", "therapist": "Therapist", "viewer": "Viewer (read-only)"}
OWNER: tuple[str, ...] = ("owner",)
STAFF_WRITERS: tuple[str, ...] = ("owner", "therapist")
ALL_STAFF: tuple[str, ...] = ROLES
SYSTEM_ACTORS = frozenset({"cli", "demo"})
SYSTEM_ROLE = "system"

MAX_FAILURES = 5
LOCK_MINUTES = 15
DEFAULT_IDLE_MINUTES = 30
MAX_IDLE_MINUTES = 24 * 60
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_USERNAME = 64
ATTEMPTS_KEPT_DAYS = 90
PARALLEL_PASSWORD_CHECKS = 2  # argon2 runs at once in this process: 2 x 64 MiB at most
FREE_CLIENT_FAILURES = 3      # failed sign-ins from one client before it has to wait
FIRST_CLIENT_WAIT_SECONDS = 5  # then 5, 10, 20, 40, 60, 60 … seconds after each further failure
MAX_CLIENT_WAIT_SECONDS = 60
DEMO_OWNER = "owner"
DEMO_OWNER_PASSWORD = "demo-owner-password"  # published in the README: demo databases only

IDLE_ENV = "ROUTINE_DESK_IDLE_MINUTES"
FAST_HASH_ENV = "ROUTINE_DESK_FAST_HASH"

# What a failed sign-in shows; the same words for an unknown name, a wrong password and a
# disabled account.
INVALID_MESSAGE = "Wrong username or password."
WAIT_MESSAGE = "Too many failed sign-ins from this browser: wait {wait}, then try again."
LOCKED_MESSAGE = (f"Too many failed sign-ins for this username: sign-in is paused for {LOCK_MINUTES} minutes."
                  " Try again later, or ask the practice owner to unlock it.")

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECRET_KEYS = re.compile(r"pass|token|secret|hash", re.IGNORECASE)
_LOG = logging.getLogger(__name__)


class AuthError(ValueError):
    """Bad account input (the message is written for staff)."""


class PermissionDenied(PermissionError):
    """The actor's role does not allow this action (or the actor is not an active account)."""


# -- hashing ------------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def _hasher_for(fast: bool) -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST if fast else profiles.RFC_9106_LOW_MEMORY)


def hasher() -> PasswordHasher:
    """argon2id with sane parameters; the cheapest argon2id only when the test switch is set."""
    return _hasher_for(os.environ.get(FAST_HASH_ENV) == "1")


@lru_cache(maxsize=2)
def _dummy_hash_for(fast: bool) -> str:
    return _hasher_for(fast).hash("routine-desk: no such account")


def _dummy_hash() -> str:
    """A hash with the current parameters to verify against when there is no account (or it is
    locked), so that path costs the same time as checking a real password."""
    return _dummy_hash_for(os.environ.get(FAST_HASH_ENV) == "1")


# argon2 takes 64 MiB per computation: a burst of sign-ins queues here instead of taking the
# server's memory (30 wrong sign-ins at once: +1.8 GB peak unbounded, +85 MB through this).
_PASSWORD_WORK = threading.BoundedSemaphore(PARALLEL_PASSWORD_CHECKS)


def hash_password(password: str) -> str:
    with _PASSWORD_WORK:
        return hasher().hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        with _PASSWORD_WORK:
            return hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- validation ---------------------------------------------------------------------------------

def normalize_username(text: Any) -> str:
    """Usernames are compared without case and outer spaces ("Ana " signs in as "ana")."""
    return str(text or "").strip().casefold()


def validate_username(text: Any) -> str:
    name = normalize_username(text)
    if not _USERNAME.match(name):
        raise AuthError("username: use 1–64 lower-case letters, digits, '.', '_', '-' or '@', "
                        "starting with a letter or digit")
    if name in SYSTEM_ACTORS:
        raise AuthError(f"username: '{name}' is reserved for the system")
    return name


def validate_role(role: Any) -> str:
    if role not in ROLES:
        raise AuthError(f"role: use one of {', '.join(ROLES)}")
    return role


def validate_password(password: Any, username: str = "") -> str:
    """At least 12 characters (long passphrases welcome), not the username."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AuthError(f"password: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AuthError(f"password: use at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise AuthError("password: cannot be only spaces")
    if username and password.strip().casefold() == username.casefold():
        raise AuthError("password: must not be the username")
    return password


def normalize_email(email: Any) -> str | None:
    text = str(email or "").strip().casefold()
    if not text:
        return None
    if len(text) > 200 or not _EMAIL.match(text):
        raise AuthError(f"email: '{email}' is not an email address")
    return text


def idle_timeout_minutes(configured: Any = None) -> int:
    """Minutes without activity before a staff session ends: ``ROUTINE_DESK_IDLE_MINUTES``, else
    ``configured`` (e.g. from secrets), else 30. Nonsense falls back to 30, and the value is
    capped at one day, so a typo can never switch the timeout off."""
    for value in (os.environ.get(IDLE_ENV), configured):
        if value is None or str(value).strip() == "":
            continue
        try:
            minutes = int(str(value).strip())
        except ValueError:
            continue
        if minutes >= 1:
            return min(minutes, MAX_IDLE_MINUTES)
    return DEFAULT_IDLE_MINUTES


def _username_key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


# -- the audit log ------------------------------------------------------------------------------

def _detail_json(detail: Any) -> str | None:
    """Details as JSON; keys that look like secrets are dropped so no caller can log one."""
    if detail is None:
        return None
    if isinstance(detail, dict):
        clean = {k: v for k, v in detail.items() if not _SECRET_KEYS.search(str(k))}
        return json.dumps(clean, sort_keys=True, default=str, ensure_ascii=False)
    return json.dumps({"note": str(detail)}, ensure_ascii=False)


def audit_in(cur: Cursor, actor: str, action: str, detail: Any = None) -> None:
    """Record an action inside the caller's transaction, so the action and its record commit together."""
    cur.execute("INSERT INTO audit_log (event_at, actor, action, detail) VALUES (?, ?, ?, ?)",
                [utcnow(), str(actor), action, _detail_json(detail)])


# Audit actions as the owner reads them; the log itself keeps the codes (filters, exports).
AUDIT_LABELS = {
    "alert_acknowledged": "Alert acknowledged", "assignments_safety_reviewed": "Safety findings reviewed",
    "first_owner_created": "Owner account created", "import_batch_undone": "Import undone",
    "import_mapping_saved": "Import mapping saved", "password_changed": "Password changed",
    "quarantine_discarded": "Rejected rows discarded", "quarantine_resubmitted": "Rejected rows re-submitted",
    "safety_override": "Safety block overridden", "session_logged": "Session logged",
    "session_logs_imported": "Session logs imported", "share_link_created": "Share link made",
    "share_link_revoked": "Share link revoked", "sign_in": "Signed in", "sign_in_failed": "Sign-in failed",
    "sign_in_refused_locked": "Sign-in refused (locked)", "sign_in_unlocked": "Sign-in lock cleared",
    "sign_out": "Signed out", "sign_in_sso_refused": "Single sign-on refused", "user_created": "Account created",
    "user_email_changed": "Sign-on email changed", "user_enabled": "Account enabled",
    "user_disabled": "Account disabled", "user_role_changed": "Role changed",
    "assignment_assigned": "Routine assigned", "assignment_ended": "Program ended",
    "assignment_paused": "Program paused", "assignment_resumed": "Program resumed",
    "assignment_replaced": "Program replaced", "assignment_safety_reviewed": "Safety findings reviewed",
    "site_added": "Site added", "site_renamed": "Site renamed", "user_sites_changed": "Sites changed",
}


def audit_label(action: str) -> str:
    """An audit action as a phrase; an action without a label reads as its words."""
    return AUDIT_LABELS.get(action) or action.replace("_", " ").capitalize()


def audit_detail_text(detail: Any) -> str:
    """The stored JSON detail as "key: value · key: value" (keys as words), "" when there is none."""
    if detail is None or (isinstance(detail, float) and detail != detail):
        return ""
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return str(detail)
    if not isinstance(parsed, dict):
        return str(parsed)
    return " · ".join(f"{str(key).replace('_', ' ')}: {_detail_value(value)}" for key, value in parsed.items())


def _detail_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "—" if value is None else str(value)


def audit(store: Store, actor: str, action: str, detail: Any = None) -> None:
    """Record who did what, now. ``detail`` is a small dict (never a password or token)."""
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        audit_in(cur, actor, action, detail)


def audit_entries(store: Store, limit: int = 500, actor: str | None = None,
                  action: str | None = None) -> pd.DataFrame:
    """The newest audit entries first, optionally for one actor or one action."""
    where, params = [], []
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = ("SELECT event_at, actor, action, detail FROM audit_log"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY event_at DESC, id DESC LIMIT ?")
    return store.query(sql, [*params, max(1, int(limit))])


# -- accounts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    """A staff account as the app sees it: never carries the password hash."""

    id: int
    username: str
    role: str
    email: str | None
    display_name: str | None
    disabled_at: datetime | None
    created_by: str | None
    created_at: datetime
    last_login_at: datetime | None
    has_password: bool

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "email": self.email,
                "display_name": self.display_name, "active": self.active,
                "created_by": self.created_by, "created_at": self.created_at,
                "last_login_at": self.last_login_at, "password": self.has_password}


_USER_COLUMNS = ("id, username, role, email, display_name, disabled_at, created_by, created_at, last_login_at,"
                 " password_hash IS NOT NULL")


def count_users(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM users"))


def get_user(store: Store, username: str) -> User | None:
    found = store.rows(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", [normalize_username(username)])
    return User(*found[0]) if found else None


def user_for_email(store: Store, email: str) -> User | None:
    """The active account mapped to a single-sign-on email, if any."""
    try:
        address = normalize_email(email)
    except AuthError:
        return None
    if address is None:
        return None
    found = store.rows(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ? AND disabled_at IS NULL"
                       " ORDER BY id LIMIT 1", [address])
    return User(*found[0]) if found else None


def list_users(store: Store) -> list[User]:
    return [User(*row) for row in store.rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")]


def users_table(store: Store, now: datetime | None = None) -> pd.DataFrame:
    """Accounts with whether sign-in is locked right now, for the owner's Staff page."""
    users = list_users(store)
    locked_keys = {key for (key,) in store.rows(
        "SELECT DISTINCT username_key FROM login_lockouts WHERE cleared_at IS NULL AND locked_until > ?",
        [now or utcnow()])}
    locks = {u.username: _username_key(u.username) in locked_keys for u in users}
    return pd.DataFrame([{
        "username": u.username, "name": u.display_name, "role": u.role, "email": u.email,
        "status": "disabled" if not u.active else ("locked" if locks[u.username] else "active"),
        "sign_in": "password" + (" + SSO" if u.email else "") if u.has_password else ("SSO" if u.email else "none"),
        "last_login_at": u.last_login_at, "created_by": u.created_by, "created_at": u.created_at,
    } for u in users], columns=["username", "name", "role", "email", "status", "sign_in", "last_login_at",
                                 "created_by", "created_at"])


def require_role(store: Store, actor: str, allowed: Iterable[str]) -> str:
    """Raise PermissionDenied unless ``actor`` is a system actor or an active account whose role is
    in ``allowed``; returns the role ("system" for cli/demo). Call it at the top of every write."""
    allowed = tuple(allowed)
    if actor in SYSTEM_ACTORS:
        return SYSTEM_ROLE
    user = get_user(store, actor) if isinstance(actor, str) and actor else None
    if user is None or not user.active:
        raise PermissionDenied(f"'{actor}' is not an active staff account")
    if user.role not in allowed:
        raise PermissionDenied(f"{user.username} ({user.role}) may not do this; it needs: {', '.join(allowed)}")
    return user.role


def _email_taken(store: Store, email: str | None, except_username: str | None = None) -> bool:
    if email is None:
        return False
    return bool(store.scalar("SELECT count(*) FROM users WHERE email = ? AND username <> ?",
                             [email, except_username or ""]))


def _check_new_account(store: Store, username: str, role: str, password: str | None,
                       email: str | None) -> tuple[str, str, str | None]:
    name = validate_username(username)
    validate_role(role)
    address = normalize_email(email)
    if password is None and address is None:
        raise AuthError("give a password, or an email for single sign-on")
    if password is not None:
        validate_password(password, name)
    if get_user(store, name) is not None:
        raise AuthError(f"username: '{name}' is taken")
    if _email_taken(store, address):
        raise AuthError(f"email: '{address}' already belongs to another account")
    return name, (hash_password(password) if password is not None else None), address


def _insert_user(cur: Cursor, name: str, role: str, password_hash: str | None,
                 email: str | None, display_name: str | None, created_by: str) -> None:
    now = utcnow()
    cur.execute(
        "INSERT INTO users (username, role, password_hash, email, display_name, created_by, created_at,"
        " password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [name, role, password_hash, email, (display_name or "").strip()[:120] or None, created_by, now,
         now if password_hash else None])


def create_user(store: Store, actor: str, username: str, role: str, password: str | None = None,
                email: str | None = None, display_name: str | None = None) -> User:
    """A new staff account (owners and system actors only). ``email`` maps single sign-on."""
    require_role(store, actor, OWNER)
    name, password_hash, address = _check_new_account(store, username, role, password, email)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        _insert_user(cur, name, role, password_hash, address, display_name, actor)
        # a practice with one site: the new member works there (core/access/sites.py); with more,
        # the owner chooses, and until then the member sees no client
        cur.execute("INSERT INTO staff_sites (user_id, site) SELECT u.id, s.code FROM users u, sites s"
                    " WHERE u.username = ? AND u.role <> 'owner' AND (SELECT count(*) FROM sites) = 1", [name])
        audit_in(cur, actor, "user_created", {"username": name, "role": role, "email": address})
    return get_user(store, name)


def create_first_owner(store: Store, username: str, password: str, email: str | None = None,
                       display_name: str | None = None) -> User:
    """The one-time owner account of a new database, from the web form; refused once any account
    exists. The claim row makes two simultaneous requests yield one owner, not two."""
    if count_users(store):
        raise AuthError("the owner account already exists: sign in instead")
    name, password_hash, address = _check_new_account(store, username, "owner", password, email)
    try:
        with store.transaction(touches=(ACCOUNTS,)) as cur:
            if cur.execute("SELECT count(*) FROM users").fetchone()[0]:
                raise AuthError("the owner account already exists: sign in instead")
            cur.execute("INSERT INTO first_owner_claim VALUES (1, ?, ?)", [name, utcnow()])
            _insert_user(cur, name, "owner", password_hash, address, display_name, name)
            audit_in(cur, name, "first_owner_created", {"username": name})
    except DatabaseError as exc:
        raise AuthError("the owner account already exists: sign in instead") from exc
    return get_user(store, name)


def ensure_demo_owner(store: Store, username: str = DEMO_OWNER, password: str = DEMO_OWNER_PASSWORD) -> User | None:
    """The demo practice's owner, only into a database without accounts (never beside real ones).
    Its password is published in the README: demo databases are not for real client data."""
    if count_users(store):
        return None
    return create_user(store, "demo", username, "owner", password, display_name="Demo owner")


def demo_owner_unchanged(store: Store) -> bool:
    """Whether the demo owner still has its published password (the sign-in page then says so:
    the README publishes it anyway, and the first launch should not need the README)."""
    return bool(store.scalar(
        "SELECT count(*) FROM users WHERE username = ? AND created_by = 'demo' AND disabled_at IS NULL"
        " AND password_changed_at = created_at", [DEMO_OWNER]))


def _require_account(store: Store, username: str) -> User:
    user = get_user(store, username)
    if user is None:
        raise AuthError(f"no account '{normalize_username(username)}'")
    return user


def _active_owners(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM users WHERE role = 'owner' AND disabled_at IS NULL"))


def _keep_an_owner(store: Store, user: User) -> None:
    if user.role == "owner" and user.active and _active_owners(store) <= 1:
        raise AuthError(f"{user.username} is the only active owner: make another owner first")


def set_role(store: Store, actor: str, username: str, role: str) -> User:
    require_role(store, actor, OWNER)
    validate_role(role)
    user = _require_account(store, username)
    if user.role == role:
        return user
    if role != "owner":
        _keep_an_owner(store, user)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE users SET role = ? WHERE id = ?", [role, user.id])
        audit_in(cur, actor, "user_role_changed", {"username": user.username, "from": user.role, "to": role})
    return get_user(store, user.username)


def set_active(store: Store, actor: str, username: str, active: bool) -> User:
    """Disable an account (it can no longer sign in; its name stays in history) or enable it again."""
    require_role(store, actor, OWNER)
    user = _require_account(store, username)
    if user.active == active:
        return user
    if not active:
        _keep_an_owner(store, user)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE users SET disabled_at = ? WHERE id = ?", [None if active else utcnow(), user.id])
        audit_in(cur, actor, "user_enabled" if active else "user_disabled", {"username": user.username})
    return get_user(store, user.username)


def set_password(store: Store, actor: str, username: str, password: str) -> User:
    """Owners (and system actors) set anyone's password; any account may change its own."""
    user = _require_account(store, username)
    if actor != user.username:
        require_role(store, actor, OWNER)
    validate_password(password, user.username)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                    [hash_password(password), utcnow(), user.id])
        audit_in(cur, actor, "password_changed", {"username": user.username})
    return get_user(store, user.username)


def change_own_password(store: Store, username: str, current: str, new: str) -> bool:
    """A signed-in member changes their password. The current one is checked like a sign-in (a
    wrong one counts towards the lock), so a session left open cannot be used to take the account
    over. False when the current password is wrong or the username is locked."""
    validate_password(new, normalize_username(username))
    if not login(store, username, current).ok:
        return False
    set_password(store, normalize_username(username), username, new)
    return True


def set_email(store: Store, actor: str, username: str, email: str | None) -> User:
    """Map (or unmap, with None) the single-sign-on email of an account."""
    require_role(store, actor, OWNER)
    user = _require_account(store, username)
    address = normalize_email(email)
    if address is None and not user.has_password:
        raise AuthError(f"{user.username} signs in only through SSO: set a password before removing the email")
    if _email_taken(store, address, user.username):
        raise AuthError(f"email: '{address}' already belongs to another account")
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE users SET email = ? WHERE id = ?", [address, user.id])
        audit_in(cur, actor, "user_email_changed", {"username": user.username, "email": address})
    return get_user(store, user.username)


# -- sign-in ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginResult:
    outcome: Literal["ok", "invalid", "locked", "wait"]
    user: User | None = None
    wait_seconds: int = 0  # "wait": how long this client must wait before its next attempt is checked

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def message(self) -> str:
        if self.outcome == "wait":
            return WAIT_MESSAGE.format(wait=f"{self.wait_seconds} second{'s' if self.wait_seconds != 1 else ''}")
        return {"ok": "Signed in.", "invalid": INVALID_MESSAGE, "locked": LOCKED_MESSAGE}[self.outcome]


class ClientThrottle:
    """Slows one client that keeps failing: after ``FREE_CLIENT_FAILURES`` failures in a row, its next
    attempt is refused unchecked (no argon2, nothing counted) until 5, 10, 20 … up to 60 seconds have
    passed since its last failure. Keyed by the client's address or browser session, so an attacker
    spraying many usernames slows down too; a success or 15 quiet minutes forget the client. Held in
    memory for the newest ``max_clients`` clients only, so it cannot grow without limit."""

    def __init__(self, max_clients: int = 10_000) -> None:
        self._failures: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_clients = max_clients

    def wait_seconds(self, client: str, now: datetime) -> int:
        with self._lock:
            count, last = self._failures.get(client, (0, now))
        if count < FREE_CLIENT_FAILURES or now - last > timedelta(minutes=LOCK_MINUTES):
            return 0
        pause = min(FIRST_CLIENT_WAIT_SECONDS * 2 ** (count - FREE_CLIENT_FAILURES), MAX_CLIENT_WAIT_SECONDS)
        left = pause - (now - last).total_seconds()
        return max(0, math.ceil(left))

    def failed(self, client: str, now: datetime) -> None:
        with self._lock:
            count, last = self._failures.pop(client, (0, now))
            fresh = now - last <= timedelta(minutes=LOCK_MINUTES)
            self._failures[client] = ((count if fresh else 0) + 1, now)
            while len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


CLIENTS = ClientThrottle()  # this process's sign-in clients (the web app passes one to ``login``)

# One lock per slice of usernames: deciding and recording an attempt for a username happens under
# it, so parallel attempts are counted one after another (different usernames rarely share one).
_USERNAME_LOCKS = tuple(threading.Lock() for _ in range(64))


def _username_lock(key: str) -> threading.Lock:
    return _USERNAME_LOCKS[int(key[:8], 16) % len(_USERNAME_LOCKS)]


@dataclass
class _UnsavedAttempts:
    """Failures and locks the database could not save (a full disk), per username key, so that
    the lock keeps working until writes succeed again. Touched only under the username's lock."""

    failures: dict[str, list[datetime]]
    locks: dict[str, datetime]

    def locked(self, key: str, now: datetime) -> bool:
        until = self.locks.pop(key, now)
        if until > now:
            self.locks[key] = until
        return until > now

    def recent_failures(self, key: str, now: datetime) -> int:
        since = now - timedelta(minutes=LOCK_MINUTES)
        kept = [t for t in self.failures.pop(key, []) if t > since]
        if kept:  # only names that failed while the disk was full take memory
            self.failures[key] = kept
        return len(kept)

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)
        self.locks.pop(key, None)


_UNSAVED = _UnsavedAttempts({}, {})


def locked_until(store: Store, username: str, now: datetime | None = None) -> datetime | None:
    """When the current lock on this username ends, or None if it may try now."""
    return store.scalar(
        "SELECT max(locked_until) FROM login_lockouts"
        " WHERE username_key = ? AND cleared_at IS NULL AND locked_until > ?",
        [_username_key(normalize_username(username)), now or utcnow()])


def _failures_in_a_row(cur: Cursor, key: str) -> int:
    """Failed attempts since the last success and since the last lock ended (or was cleared)."""
    return cur.execute(
        """
        SELECT count(*) FROM login_attempts
        WHERE username_key = $key AND outcome = 'failed'
          AND attempted_at > coalesce((SELECT max(attempted_at) FROM login_attempts
                                       WHERE username_key = $key AND outcome = 'ok'), TIMESTAMP '1970-01-01')
          AND attempted_at >= coalesce((SELECT max(least(locked_until, coalesce(cleared_at, locked_until)))
                                        FROM login_lockouts WHERE username_key = $key), TIMESTAMP '1970-01-01')
        """, {"key": key}).fetchone()[0]


def _best_effort(store: Store, sql: str, params: list[Any]) -> None:
    """A write that may lose to a concurrent one on the same row without harm (two sign-ins of one
    account at the same moment both stamp last_login_at; either stamp is right), or fail on a full
    disk without stopping anyone from working."""
    try:
        with store.transaction(touches=(ACCOUNTS,)) as cur:
            cur.execute(sql, params)
    except DatabaseError as exc:
        if is_storage_failure(exc):
            _LOG.warning("not saved (the database cannot write): %s", exc)
        elif not isinstance(exc, WriteConflict):
            raise


def _settle_attempt(store: Store, key: str, password_matches: bool, now: datetime, user: User | None) -> str:
    """Decide and record one checked attempt as one step: "locked" when the username is locked (a
    right password included), else "ok" or "invalid" — and "locked" for the failure that is the
    fifth in a row. Call it holding the username's lock."""
    # Failures against unknown names are logged without the name: it may be a mistyped password.
    actor = user.username if user else "(unknown)"
    outcome, recorded, new_lock = "locked", "locked", False
    try:
        with store.transaction(touches=(ACCOUNTS,)) as cur:
            locked = _UNSAVED.locked(key, now) or cur.execute(
                "SELECT count(*) FROM login_lockouts WHERE username_key = ? AND cleared_at IS NULL"
                " AND locked_until > ?", [key, now]).fetchone()[0] > 0
            if not locked:
                outcome = "ok" if password_matches and user is not None else "invalid"
            recorded = {"ok": "ok", "invalid": "failed", "locked": "locked"}[outcome]
            cur.execute("INSERT INTO login_attempts (username_key, outcome, attempted_at) VALUES (?, ?, ?)",
                        [key, recorded, now])
            if outcome == "invalid" and (_failures_in_a_row(cur, key)
                                         + _UNSAVED.recent_failures(key, now)) >= MAX_FAILURES:
                cur.execute("INSERT INTO login_lockouts (username_key, locked_at, locked_until) VALUES (?, ?, ?)",
                            [key, now, now + timedelta(minutes=LOCK_MINUTES)])
                outcome, new_lock = "locked", True
            if outcome == "ok":
                audit_in(cur, actor, "sign_in", {"method": "password"})
            elif recorded == "failed":
                audit_in(cur, actor, "sign_in_failed", {"locked": new_lock})
            else:
                audit_in(cur, actor, "sign_in_refused_locked", None)
    except DatabaseError as exc:
        if not is_storage_failure(exc):
            raise
        _LOG.warning("sign-in attempt (%s) not saved, kept in memory: %s", outcome, exc)
        if recorded == "failed":
            _UNSAVED.failures.setdefault(key, []).append(now)
        if new_lock:
            _UNSAVED.locks[key] = now + timedelta(minutes=LOCK_MINUTES)
    if outcome == "ok":
        _UNSAVED.forget(key)
    return outcome


def login(store: Store, username: str, password: str, now: datetime | None = None,
          client: str | None = None) -> LoginResult:
    """Check a username and password. Every checked path does one argon2 verification and the same
    writes, and an unknown or disabled account answers exactly like a wrong password.

    ``client``: who is trying (the web app passes the address or browser session); a client that
    keeps failing is told to wait (``ClientThrottle``) before its attempt is even checked."""
    now = now or utcnow()
    _dummy_hash()  # made once per process, before any path could be timed
    if client is not None and (wait := CLIENTS.wait_seconds(client, now)):
        return LoginResult("wait", wait_seconds=wait)
    name = normalize_username(username)[:MAX_USERNAME * 4]
    password = password if isinstance(password, str) else ""
    key = _username_key(name)
    user = get_user(store, name) if name else None
    if user is not None and not user.active:
        user = None
    stored = store.scalar("SELECT password_hash FROM users WHERE id = ?", [user.id]) if user else None
    # Checked outside the username's lock (so a victim's own attempt is not queued behind an
    # attacker's argon2 work) and settled inside it.
    matches = len(password) <= MAX_PASSWORD and _verify(stored, password)
    with _username_lock(key):
        outcome = _settle_attempt(store, key, matches, now, user)
    if client is not None:
        CLIENTS.succeeded(client) if outcome == "ok" else CLIENTS.failed(client, now)
    if outcome != "ok":
        return LoginResult(outcome)
    _best_effort(store, "UPDATE users SET last_login_at = ? WHERE id = ?", [now, user.id])
    if hasher().check_needs_rehash(stored):
        _best_effort(store, "UPDATE users SET password_hash = ? WHERE id = ?", [hash_password(password), user.id])
    _forget_old_attempts(store, now)
    return LoginResult("ok", get_user(store, name))


def _forget_old_attempts(store: Store, now: datetime) -> None:
    """Attempts older than 90 days no longer matter; a concurrent clean-up winning is fine."""
    _best_effort(store, "DELETE FROM login_attempts WHERE attempted_at < ?", [now - timedelta(days=ATTEMPTS_KEPT_DAYS)])


def unlock(store: Store, actor: str, username: str) -> bool:
    """Clear a sign-in lock early (owners); True if there was one."""
    require_role(store, actor, OWNER)
    name = normalize_username(username)
    key = _username_key(name)
    with _username_lock(key):
        _UNSAVED.forget(key)
        if locked_until(store, name) is None:
            return False
        with store.transaction(touches=(ACCOUNTS,)) as cur:
            cur.execute("UPDATE login_lockouts SET cleared_by = ?, cleared_at = ?"
                        " WHERE username_key = ? AND cleared_at IS NULL AND locked_until > ?",
                        [actor, utcnow(), key, utcnow()])
            audit_in(cur, actor, "sign_in_unlocked", {"username": name})
    return True


def _audit_if_possible(store: Store, actor: str, action: str, detail: Any = None) -> None:
    """An audit entry whose loss on a full disk must not stop the action it records (signing in
    with SSO, signing out): the server log says it is missing."""
    try:
        audit(store, actor, action, detail)
    except DatabaseError as exc:
        if not is_storage_failure(exc):
            raise
        _LOG.warning("audit entry %s of %s not saved: %s", action, actor, exc)


def sso_login(store: Store, email: str | None, email_verified: Any = None) -> LoginResult:
    """Map an identity from single sign-on (OIDC) to an active account by email.

    An identity provider that says the email is not verified (``email_verified`` false) is refused:
    otherwise anyone could register that address with the provider and become the staff member.
    """
    user = None if email_verified is False else user_for_email(store, email or "")

    if user is None:
        _audit_if_possible(store, "(unknown)", "sign_in_sso_refused", {"verified": email_verified is not False})
        return LoginResult("invalid")
    _audit_if_possible(store, user.username, "sign_in", {"method": "sso"})
    _best_effort(store, "UPDATE users SET last_login_at = ? WHERE id = ?", [utcnow(), user.id])
    return LoginResult("ok", user)


# -- sessions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffSession:
    """Who is signed in on one browser session, held in server memory (never sent to the browser)."""

    username: str
    role: str
    signed_in_at: datetime
    last_seen: datetime
    method: Literal["password", "sso"] = "password"


def start_session(user: User, now: datetime | None = None, method: Literal["password", "sso"] = "password") -> StaffSession:
    now = now or utcnow()
    return StaffSession(user.username, user.role, now, now, method)


def idle_expired(session: StaffSession, now: datetime, idle_minutes: int) -> bool:
    return now - session.last_seen > timedelta(minutes=idle_minutes)


def refresh_session(store: Store, session: StaffSession, now: datetime | None = None,
                    idle_minutes: int = DEFAULT_IDLE_MINUTES) -> StaffSession | None:
    """The session with activity noted now and the account's current role; None when it was idle
    too long, or since sign-in the account was disabled or removed or its password was changed
    (by its owner elsewhere, or by the practice owner after a leak: every other session ends)."""
    now = now or utcnow()
    if idle_expired(session, now, idle_minutes):
        return None
    found = store.rows("SELECT role, disabled_at, password_changed_at FROM users WHERE username = ?",
                       [session.username])
    if not found:
        return None
    role, disabled_at, password_changed_at = found[0]
    if disabled_at is not None or (password_changed_at is not None and password_changed_at > session.signed_in_at):
        return None
    return replace(session, role=role, last_seen=now)


def after_own_password_change(store: Store, session: StaffSession) -> StaffSession:
    """The session that changed its own password (it proved the current one) stays signed in:
    its sign-in time moves to the change, so only the account's other sessions end."""
    changed = store.scalar("SELECT password_changed_at FROM users WHERE username = ?", [session.username])
    return replace(session, signed_in_at=max(session.signed_in_at, changed or session.signed_in_at))


def end_session(store: Store, session: StaffSession, reason: Literal["signed_out", "idle"]) -> None:
    """Record the end of a session; on a full disk the session ends all the same."""
    _audit_if_possible(store, session.username, "sign_out" if reason == "signed_out" else "sign_out_idle",
                       {"method": session.method})
