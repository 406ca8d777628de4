"""What every page shares: the process-wide store and small rendering helpers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.access import auth, sites
from core.analytics import alerts, metrics
from core.practice import assignments, safety
from core.practice.clients import SEGMENT_LABELS
from core.sessions.checks import readable_reason
from core.sessions.red_flags import BY_TAG
from core.sharing import links
from core.library.content import LIBRARY_LABELS, sync_library
from core.sessions.red_flags import retag_if_vocabulary_changed
from core.db.integrity import is_storage_failure
from core.db.store import DatabaseError, Store, again_on_conflict, utcnow


@st.cache_resource(show_spinner=False)
def _open_store() -> Store:
    store = Store.open()
    # the library and session notes follow data/ (another server may be doing it at the same moment)
    again_on_conflict(lambda: (sync_library(store), retag_if_vocabulary_changed(store)))
    return store


# Column headings staff read, by field name, for the pages' tables (a table shows those of its
# columns; a page adds or overrides its own). CSV downloads keep the field names, which other
# tools and the import format use.
HEADINGS = {
    "session_id": "Session", "session_date": "Date", "session_time": "Time", "named_routine": "Routine named",
    "assignment_id": "Assignment", "routine_id": "Routine", "counted": "Counted",
    "completion": st.column_config.NumberColumn("Completion", format="percent"),
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
    "mean_adherence": st.column_config.NumberColumn("Mean adherence", format="percent"),
    "on_track_pct": st.column_config.NumberColumn("On track", format="percent"),
    "improved_pct": st.column_config.NumberColumn("Pain improved", format="percent"),
    "worse_pct": st.column_config.NumberColumn("Pain worse", format="percent"),
    "mean_change": st.column_config.NumberColumn("Mean pain change", format="%+.1f"),
    "red_flags": "Warning signs", "week_start": "Week of", "credited": "Counted",
    "days_in_period": "Days in period",
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


# What staff and visitors read when a page ends early (app.py); here, not in app.py, so tests can
# import them without running the app.
WRITE_CONFLICT_TEXT = ("Your last change was not saved: another server or command changed the same data at the "
                       "same moment. Nothing was lost. Reload the page to see the data as it is now, then try again.")
WRITE_FAILED_TEXT = ("Your last change was not saved: the server could not write to its disk (it may be full). "
                     "Everything saved before is unchanged and can still be read, and you stay signed in. "
                     "Tell whoever runs the server, then try again.")
VISITOR_ERROR_TEXT = "Something went wrong on our side. Nothing was changed. Please try again later."

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
    icons = {"block": ":material/block:", "warn": ":material/warning:", "info": ":material/info:"}

    def line(f) -> str:
        where = f"**{escape_markdown(f.exercise_name)}**" if f.exercise_name else "**Whole routine**"
        instead = f" Try instead: **{escape_markdown(f.substitute_name)}**." if f.substitute_name else ""
        return f"{where}: {escape_markdown(f.reason)}{instead}"

    for f in findings:
        if f.level == "block":
            st.error(line(f), icon=icons["block"])
        elif f.level == "warn":
            st.warning(line(f), icon=icons["warn"])
    notes = [f for f in findings if f.level == "info"]
    if notes:
        with st.expander(f"{len(notes)} note(s) for staff", icon=icons["info"]):
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
    sign-in page) after the idle timeout, or when the account was disabled or its password changed
    meanwhile."""
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
             else "Your sign-in ended: your password was changed, or the account can no longer sign in."
                  " Sign in again, or ask the practice owner.")
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


def member_sites() -> tuple[str, ...] | None:
    """The sites the signed-in member may see (core.access.sites.allowed_sites; None: all), read
    each run so a change by the owner applies at once. Every client read of a page is cut to them."""
    return sites.allowed_sites(get_store(), current_actor())


def site_choices(store: Store) -> tuple[list[str], dict[str, str]]:
    """The sites a filter offers the signed-in member (their own; every one for owners) and every
    site's name. A page shows a site filter only when it offers more than one."""
    names = sites.site_labels(store)
    return sites.offered_sites(names, member_sites()), names


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
        st.error(escape_markdown(exc))
        return
    if changed:  # this session stays signed in; the account's other sessions end
        st.session_state[SESSION_KEY] = auth.after_own_password_change(get_store(), session)
        st.success("Password changed. Your other sign-ins (other browsers) have ended.")
    else:
        st.error("The current password is wrong (or sign-in is paused after too many attempts).")


def account_box(session: auth.StaffSession) -> None:
    """Sidebar: who is signed in, their own password, sign out, and the idle watch."""
    with st.sidebar:
        st.caption(f"Signed in as **{escape_markdown(session.username)}** ·"
                   f" {auth.ROLE_LABELS.get(session.role, session.role)}")
        left, right = st.columns(2)
        if right.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out()
        if session.method == "password":
            with left.popover("Password", icon=":material/key:"):
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
            try:
                links.record_open(store, link.id)
            except DatabaseError as exc:  # a full disk: the reader still reads, the count misses one
                if not is_storage_failure(exc):
                    raise
            opened.add(link.id)
    return link


FLASH_KEY = "admin_flash"


def act(action, done: str) -> None:
    """Run a core write: on success keep ``done`` for the next run and rerun (so every table shows
    the change), on bad input or a refused role show why and change nothing."""
    try:
        action()
    except (ValueError, PermissionError) as exc:
        st.error(escape_markdown(exc))
        return
    st.session_state[FLASH_KEY] = done
    st.rerun()


def show_flash() -> None:
    done = st.session_state.pop(FLASH_KEY, None)
    if done:
        st.success(done)


# What can start Markdown inside a line: code, emphasis, strike-through, links and images ([ ]), HTML
# and autolinks (< >), tables, LaTeX ($), and Streamlit's :icon: / :colour[...]: directives (a colon
# right before a word); plus "www." autolinks. What can start it only at the head of a line: lists,
# headings, quotes and rules.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~$])|:(?=\S)|(?<=www)\.", re.IGNORECASE)
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([-+*#>=]|\d+(?=[.)]))", re.MULTILINE)


def escape_markdown(text: object) -> str:
    """Text typed by people (names, notes, conditions, e-mails, routine names, labels) shown inside
    Markdown exactly as typed: no link, image, emphasis, colour directive, icon or HTML can come from
    it. Every st.markdown, caption, header, alert and widget label that shows stored text uses this;
    None reads "—"."""
    if text is None or (isinstance(text, float) and text != text):
        return "—"
    escaped = _MARKDOWN_INLINE.sub(lambda m: "\\" + m.group(0), str(text))
    escaped = _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2) if not m.group(2).isdigit()
                                       else m.group(1) + m.group(2) + "\\", escaped)
    return escaped.replace("\n", "  \n")


# -- tables and CSV for people (issues 17 and 18) --------------------------------------------------
# Every table a page shows goes through show_table: codes become the labels core keeps next to them,
# shares read as whole percents, other fractions as one decimal, an empty cell as "—". Every CSV
# download goes through csv_text: the stable codes and full values, with formula cells neutralised.

CODE_LABELS: dict[str, str] = {
    **LIBRARY_LABELS, **SEGMENT_LABELS, **safety.HEALTH_FLAGS, **safety.LEVEL_LABELS, **metrics.STATUS_LABELS,
    **metrics.RESPONSE_LABELS, **alerts.LEVEL_LABELS, **alerts.KIND_LABELS, **assignments.EVENT_LABELS,
    **auth.ROLE_LABELS, **{tag: flag.label for tag, flag in BY_TAG.items()},
}
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def code_label(value: Any) -> Any:
    """A stored code (or a comma-separated list of codes, or a list) as people read it; text that
    is not a code (a name, a note) and empty values are returned as they are."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        return ", ".join(str(code_label(v)) for v in list(value)) or None
    if not isinstance(value, str):
        return value
    parts = [part.strip() for part in value.split(",")]
    if not all(_CODE.match(part) for part in parts):
        return value
    return ", ".join(CODE_LABELS.get(part) or part.replace("_", " ").capitalize() for part in parts)


# Columns that hold codes of a vocabulary, by field name, and how each reads.
CODE_COLUMNS: dict[str, Callable[[Any], Any]] = {
    **{column: code_label for column in (
        "segments", "segment", "flags", "status", "state", "response", "level", "kind", "red_flags",
        "warning_signs", "event", "role", "position", "targets", "audiences", "cautions", "audience",
        "origin")},
    "rule_id": lambda rule: safety.rule_label(rule) if isinstance(rule, str) else rule,
    "reason": lambda reason: readable_reason(reason) if isinstance(reason, str) else reason,
    "reasons": lambda reason: readable_reason(reason) if isinstance(reason, str) else reason,
    "action": lambda action: auth.audit_label(action) if isinstance(action, str) else action,
    "detail": auth.audit_detail_text,
    "scope": lambda scope: links.scope_label(scope, SEGMENT_LABELS) if isinstance(scope, str) else scope,
}


def _format(config: Any) -> str | None:
    return (config.get("type_config") or {}).get("format") if isinstance(config, Mapping) else None


def for_people(frame: Any, column_config: Mapping[str, Any] | None = None,
               labels: Mapping[str, Callable[[Any], Any] | Mapping[Any, Any]] | None = None,
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The copy of ``frame`` a table shows, and its column settings: code columns as labels (``labels``
    adds or overrides a column's reading, e.g. routine ids as names), shares (columns set to the
    "percent" format) as whole percents, other fractions rounded to one decimal."""
    shown = frame.copy() if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    config = dict(column_config or {})
    readers = {**CODE_COLUMNS, **(labels or {})}
    for column in shown.columns:
        reader = readers.get(column)
        if reader is not None and not pd.api.types.is_numeric_dtype(shown[column]):
            read = reader.get if isinstance(reader, Mapping) else reader
            shown[column] = shown[column].map(lambda v, read=read: v if _empty(v) else (read(v) or v),
                                              na_action=None)
        elif pd.api.types.is_float_dtype(shown[column]):
            wanted = _format(config.get(column))
            if wanted == "percent":
                shown[column] = (shown[column] * 100).round()
                settings = dict(config[column])
                settings["type_config"] = {**settings["type_config"], "format": "%d%%"}
                config[column] = settings
            else:  # the grid's accessible copy and the clipboard carry the value, not the formatted text
                decimals = re.search(r"\.(\d)f", wanted or "")
                shown[column] = shown[column].round(int(decimals.group(1)) if decimals else 1)
    return shown, config


def _empty(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array is a value
        return False


def show_table(frame: Any, *, key: str | None = None, column_config: Mapping[str, Any] | None = None,
               labels: Mapping[str, Callable[[Any], Any] | Mapping[Any, Any]] | None = None,
               **dataframe_args: Any) -> Any:
    """st.dataframe of ``frame`` as people read it (see for_people); empty cells read "—"."""
    shown, config = for_people(frame, column_config, labels)
    dataframe_args.setdefault("hide_index", True)
    dataframe_args.setdefault("width", "stretch")
    return st.dataframe(shown, key=key, column_config=config, placeholder="—", **dataframe_args)


# OWASP, CSV injection: a cell starting with one of these is read as a formula by spreadsheets.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with ' so it is shown as text."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(frame: Any) -> str:
    """The CSV every "Download CSV" gives: the rows and stable codes as stored, text cells that
    would run as formulas neutralised (numbers, including negative ones, stay numbers)."""
    data = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    text_columns = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
    safe = data.copy()
    for column in text_columns:
        safe[column] = safe[column].map(neutralise_csv_cell)
    safe.columns = [neutralise_csv_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False)


# -- analytics pages (issue 5) -------------------------------------------------------------------

@st.cache_data(show_spinner=False, ttl=600)
def filter_choices(_store: Store, db: str, version: str, allowed: tuple[str, ...] | None) -> dict[str, list[str]]:
    """Segments, therapists, routines and sites the analytics filters offer a member who may see the
    sites ``allowed`` (``member_sites()``; core.analytics.metrics.filter_options)."""
    from core.analytics.metrics import filter_options

    return filter_options(_store, allowed)


def table_with_csv(frame, file_name: str, key: str, **table_args) -> Any:
    """A table as people read it and a button that downloads exactly those rows as CSV, with the
    stable codes (built only when clicked)."""
    shown = show_table(frame, key=f"{key}_table", **table_args)
    st.download_button("Download CSV", data=lambda: csv_text(frame), file_name=file_name,
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")
    return shown


if __name__ == "__main__":  # this file run as a page (the old pages/ layout): route through app.py
    _route_through_app()
