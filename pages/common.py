"""What every page shares: the process-wide store and small rendering helpers."""

from __future__ import annotations

import re

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.access import auth
from core.sharing import links
from core.library.content import sync_library
from core.sessions.red_flags import retag_if_vocabulary_changed
from core.db.store import Store, utcnow


@st.cache_resource(show_spinner=False)
def _open_store() -> Store:
    store = Store.open()
    sync_library(store)
    retag_if_vocabulary_changed(store)   # session notes follow data/red_flags
    return store


# Column headings staff read, by field name, for the pages' tables (a table shows those of its
# columns; a page adds or overrides its own). CSV downloads keep the field names, which other
# tools and the import format use.
HEADINGS = {
    "session_id": "Session", "session_date": "Date", "session_time": "Time", "named_routine": "Routine named",
    "assignment_id": "Assignment", "routine_id": "Routine", "counted": "Counted",
    "completion": st.column_config.NumberColumn("Completion", format="%.2f"),
    "exercises_done": "Exercises done", "exercises_prescribed": "Exercises prescribed", "duration_min": "Minutes",
    "pain_before": "Pain before", "pain_after": "Pain after", "relief": "Relief", "stiffness": "Stiffness",
    "notes": "Note", "warning_signs": "Warning signs", "source": "Source",
    "routine": "Routine name", "routine_name": "Routine name", "routine_version": "Version", "start_date": "Start",
    "last_day": "Last day", "end_date": "Last day", "weeks": "Weeks", "sessions_per_week": "Sessions a week",
    "status": "Status", "state": "State", "pauses": "Pauses", "expected": "Expected", "completed": "Counted (capped)",
    "adherence": st.column_config.NumberColumn("Adherence", format="percent"),
    "response": "Pain response", "baseline": "Baseline", "current": "Current", "change": "Change",
    "change_pct": st.column_config.NumberColumn("Change %", format="percent"),
    "scored_sessions": "Scored sessions", "relief_sessions": "Relief sessions", "worse_since": "Worse since",
    "findings": "Safety findings", "blocks": "Blocks", "warnings": "Warnings",
    "assigned_by": "Assigned by", "assigned_at": "Assigned at",
    "reviewed_at": "Reviewed at", "level": "Level", "rule_id": "Rule", "exercise": "Exercise", "reason": "Reason",
    "override_reason": "Override reason", "reviewed_by": "Reviewed by",
    "since": "Since", "kind": "Kind", "note": "Note", "acknowledged_by": "Acknowledged by",
    "acknowledged_at": "Acknowledged at",
    "client": "Client", "display_name": "Name", "therapist": "Therapist", "segments": "Segments",
    "logged": "Logged", "sessions": "Sessions", "active_days": "Active days", "last_session": "Last session",
    "days_since_last": "Days since", "clients": "Clients", "lapsed": "Lapsed", "assessed": "Assessed (pain)",
    "assignments": "Assignments", "scored": "Scored (pain)",
}


def _route_through_app() -> None:
    """Make sure this run went through app.py's sign-in and role routing.

    Streamlit treats a ``pages/`` folder next to the entry script as its old multipage layout until
    the process first calls ``st.navigation``: until then a URL such as ``/overview`` or
    ``/admin_users`` runs that file directly, skipping app.py — and with it sign-in. Every page
    takes the store through ``get_store()`` before it shows anything, so such a run is stopped here
    and started again as a normal run of app.py (which then routes, or asks to sign in).
    """
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


def entered_through_app() -> None:
    """app.py says this run came through it: the old layout is switched off here, in the run,
    rather than by ``_route_through_app``'s new run, which would forget the address the visitor
    asked for (a link to a client's page would land on the default page)."""
    PagesManager.uses_pages_directory = False


def get_store() -> Store:
    """One DuckDB instance per server process; core takes a cursor per call from it.

    The library is synced from data/ on first use, so edited content files show up after a
    restart (or the Library page's reload button) without a separate step. Pages call this first,
    before rendering anything: it also guards against runs that bypass app.py (see above).
    """
    _route_through_app()
    return _open_store()


def render_findings(findings: list, empty_text: str = "No safety findings for this client on this date.") -> None:
    """Safety findings (core.practice.safety.Finding), worst first: blocks and warnings one by one, notes folded.

    Shared by the Clients page and the routine builder so a finding reads the same everywhere.
    """
    if not findings:
        st.success(empty_text)
        return
    icons = {"block": "⛔", "warn": "⚠️", "info": "ℹ️"}

    def line(f) -> str:
        where = f"**{f.exercise_name}**" if f.exercise_name else "**Whole routine**"
        instead = f" Try instead: **{f.substitute_name}**." if f.substitute_name else ""
        return f"{where}: {f.reason}{instead}"

    for f in findings:
        if f.level == "block":
            st.error(line(f), icon=icons["block"])
        elif f.level == "warn":
            st.warning(line(f), icon=icons["warn"])
    notes = [f for f in findings if f.level == "info"]
    if notes:
        with st.expander(f"{icons['info']} {len(notes)} note(s) for staff"):
            st.markdown("\n".join(f"- {line(f)}" for f in notes))


# -- sign-in, roles and share links (issue 6) ----------------------------------------------------
# The session lives in st.session_state (server memory of this browser tab): nothing that grants
# access is ever sent to the browser, and a reload asks to sign in again (SSO sessions survive a
# reload through Streamlit's own identity cookie).

SESSION_KEY = "staff_session"
NOTICE_KEY = "sign_in_notice"
SSO_REFUSED_KEY = "sso_refused_email"
SHARE_OPENS_KEY = "share_links_opened"


def secret(name: str, default: object = None) -> object:
    """``[routine_desk] name`` from .streamlit/secrets.toml, or ``default`` (no secrets file is fine)."""
    try:
        section = st.secrets.get("routine_desk", {})
        return section.get(name, default) if hasattr(section, "get") else default
    except Exception:  # noqa: BLE001 - a missing or unreadable secrets file means "not configured"
        return default


def sso_configured() -> bool:
    """Single sign-on is offered when `.streamlit/secrets.toml` has an ``[auth]`` section."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001
        return False


def idle_minutes() -> int:
    return auth.idle_timeout_minutes(secret("idle_minutes"))


def configured_base_url() -> str | None:
    """Where share links point when ROUTINE_DESK_BASE_URL is not set: ``base_url`` in secrets, else
    the address the server tells browsers (browser.serverAddress/serverPort, server.baseUrlPath)."""
    value = secret("base_url")
    if value:
        return str(value)
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    path = (st.get_option("server.baseUrlPath") or "").strip("/")
    base = f"{scheme}://{st.get_option('browser.serverAddress')}:{st.get_option('browser.serverPort')}"
    return f"{base}/{path}" if path else base


def sign_in(user: auth.User, method: str = "password") -> None:
    """Start the staff session for an account that passed core.access.auth, then rerun into the app."""
    st.session_state[SESSION_KEY] = auth.start_session(user, utcnow(), method)
    st.session_state.pop(SSO_REFUSED_KEY, None)
    st.rerun()


def _end(session: auth.StaffSession, reason: str, notice: str) -> None:
    auth.end_session(get_store(), session, reason)
    st.session_state.pop(SESSION_KEY, None)
    st.session_state[NOTICE_KEY] = notice
    if session.method == "sso":
        st.logout()


def sign_out() -> None:
    session = st.session_state.get(SESSION_KEY)
    if session is not None:
        _end(session, "signed_out", "You are signed out.")
    st.rerun()


def _sso_session(store: Store) -> auth.StaffSession | None:
    """Map a fresh single-sign-on identity to a staff account (once per identity per session)."""
    if not sso_configured() or not st.user.get("is_logged_in"):
        return None
    email = str(st.user.get("email") or "")
    if st.session_state.get(SSO_REFUSED_KEY) == email:
        return None
    result = auth.sso_login(store, email, st.user.get("email_verified"))
    if not result.ok:
        st.session_state[SSO_REFUSED_KEY] = email
        return None
    return auth.start_session(result.user, utcnow(), "sso")


def staff_session() -> auth.StaffSession | None:
    """The signed-in staff member for this run, or None. Ends the session (and says why on the
    sign-in page) after the idle timeout or when the account was disabled meanwhile."""
    store = get_store()
    session = st.session_state.get(SESSION_KEY) or _sso_session(store)
    if session is None:
        return None
    now = utcnow()
    fresh = auth.refresh_session(store, session, now, idle_minutes())
    if fresh is None:
        idle = auth.idle_expired(session, now, idle_minutes())
        _end(session, "idle" if idle else "signed_out",
             f"You were signed out after {idle_minutes()} minutes without activity." if idle
             else "Your account can no longer sign in. Ask the practice owner.")
        return None
    st.session_state[SESSION_KEY] = fresh
    return fresh


def current_session() -> auth.StaffSession:
    """The session app.py checked for this run; pages are only registered for signed-in staff."""
    session = st.session_state.get(SESSION_KEY)
    if session is None:
        st.stop()
    return session


def current_actor() -> str:
    """The signed-in staff member's username, for every core write (``actor``)."""
    return current_session().username


def current_role() -> str:
    return current_session().role


def can_write() -> bool:
    """Whether to show writing widgets at all; core checks the role again on every write."""
    return current_role() in auth.STAFF_WRITERS


@st.fragment(run_every=60)
def _idle_watch() -> None:
    """Once a minute, without counting as activity: rerun the app when the session went idle, so a
    screen left open does not keep showing client data."""
    session = st.session_state.get(SESSION_KEY)
    if session is not None and auth.idle_expired(session, utcnow(), idle_minutes()):
        st.rerun(scope="app")


def _own_password_form(session: auth.StaffSession) -> None:
    with st.form("own_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password", key="own_current")
        new = st.text_input(f"New password (at least {auth.MIN_PASSWORD} characters)", type="password",
                            key="own_new", max_chars=auth.MAX_PASSWORD)
        repeat = st.text_input("Repeat the new password", type="password", key="own_repeat",
                               max_chars=auth.MAX_PASSWORD)
        if not st.form_submit_button("Change my password"):
            return
    if new != repeat:
        st.error("The two new passwords differ.")
        return
    try:
        changed = auth.change_own_password(get_store(), session.username, current, new)
    except auth.AuthError as exc:
        st.error(str(exc))
        return
    if changed:
        st.success("Password changed.")
    else:
        st.error("The current password is wrong (or sign-in is paused after too many attempts).")


def account_box(session: auth.StaffSession) -> None:
    """Sidebar: who is signed in, their own password, sign out, and the idle watch."""
    with st.sidebar:
        st.caption(f"Signed in as **{session.username}** · {auth.ROLE_LABELS.get(session.role, session.role)}")
        left, right = st.columns(2)
        if right.button("Sign out", key="sign_out", icon="🚪"):
            sign_out()
        if session.method == "password":
            with left.popover("Password", icon="🔑"):
                _own_password_form(session)
        _idle_watch()


def shared_link() -> links.SharedLink | None:
    """The link this session's ``?share=`` opens, or None (absent, repeated, malformed, unknown,
    expired, revoked: one answer). An open is recorded once per browser session."""
    store = get_store()
    tokens = st.query_params.get_all("share")
    if len(tokens) != 1:
        return None
    link = links.resolve(store, tokens[0])
    if link is not None:
        opened = st.session_state.setdefault(SHARE_OPENS_KEY, set())
        if link.id not in opened:
            links.record_open(store, link.id)
            opened.add(link.id)
    return link


FLASH_KEY = "admin_flash"


def act(action, done: str) -> None:
    """Run a core write: on success keep ``done`` for the next run and rerun (so every table shows
    the change), on bad input or a refused role show why and change nothing."""
    try:
        action()
    except (ValueError, PermissionError) as exc:
        st.error(str(exc))
        return
    st.session_state[FLASH_KEY] = done
    st.rerun()


def show_flash() -> None:
    done = st.session_state.pop(FLASH_KEY, None)
    if done:
        st.success(done)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^])")


def escape_markdown(text: object) -> str:
    """Text typed by people (names, notes, labels) shown inside markdown exactly as typed: no
    links, emphasis, colour directives or HTML can come from it."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


# -- analytics pages (issue 5) -------------------------------------------------------------------

def data_changed() -> None:
    """Call after a write that changes what the analytics show. Drops every st.cache_data entry;
    the cached metrics are also keyed on Store.version, which changes
    with every write of this process, whichever session or page made it."""
    st.cache_data.clear()


@st.cache_data(show_spinner=False, ttl=600)
def filter_choices(_store: Store, db: str, version: str) -> dict[str, list[str]]:
    """Segments, therapists and routines the analytics filters offer (core.analytics.metrics.filter_options)."""
    from core.analytics.metrics import filter_options

    return filter_options(_store)


def table_with_csv(frame, file_name: str, key: str, **dataframe_args) -> None:
    """A table and a button that downloads exactly those rows as CSV (built only when clicked)."""
    st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_table", **dataframe_args)
    st.download_button("Download CSV", data=lambda: frame.to_csv(index=False), file_name=file_name,
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", icon="⬇️")


if __name__ == "__main__":  # this file run as a page (the old pages/ layout): route through app.py
    _route_through_app()
