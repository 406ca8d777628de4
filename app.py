"""Routine Desk: the entry point only routes; every page lives in pages/.

Navigation is declared once in NAV, grouped as staff think of their work. Each entry names the
roles that may use it, so sign-in can register only the pages a role is allowed to reach.
"""

import logging
from dataclasses import dataclass

import streamlit as st

from core.access.auth import ROLES
from core.db.integrity import OpenFailure, is_storage_failure, open_failure
from core.db.store import DatabaseError, StoreError, WriteConflict
from pages.common import (VISITOR_ERROR_TEXT, WRITE_CONFLICT_TEXT, WRITE_FAILED_TEXT, account_box,
                          entered_through_app, get_store, staff_session)

STAFF = ROLES  # every staff role


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str
    roles: tuple[str, ...] = STAFF
    default: bool = False

    def page(self) -> st.Page:
        return st.Page(self.path, title=self.title, icon=self.icon, url_path=self.url_path, default=self.default)

    def sign_in_here(self) -> st.Page:
        """The sign-in form at this page's address, for a signed-out visitor who followed a link to it."""
        return st.Page(LOGIN.path, title=LOGIN.title, icon=LOGIN.icon, url_path=self.url_path)


NAV: dict[str, list[PageSpec]] = {
    "Practice": [
        PageSpec("pages/overview.py", "Practice overview", ":material/dashboard:", "overview", default=True),
        PageSpec("pages/cohorts.py", "Cohorts", ":material/stacked_line_chart:", "cohorts"),
        PageSpec("pages/about_figures.py", "About these figures", ":material/help:", "about-figures"),
    ],
    "Clients": [
        PageSpec("pages/clients.py", "Clients", ":material/groups:", "clients"),
        PageSpec("pages/client_dashboard.py", "Client dashboard", ":material/monitor_heart:", "client"),
    ],
    "Routines": [
        PageSpec("pages/routine_builder.py", "Routine builder", ":material/construction:", "routine-builder"),
    ],
    "Library": [
        PageSpec("pages/library.py", "Exercise library", ":material/menu_book:", "library"),
        PageSpec("pages/article_import.py", "Import from article", ":material/article:", "import-article",
                 roles=("owner", "therapist")),
    ],
    "Data": [
        PageSpec("pages/data.py", "Session logs in", ":material/upload_file:", "data"),
    ],
    "Admin": [
        PageSpec("pages/admin_users.py", "Staff & audit log", ":material/manage_accounts:", "staff", roles=("owner",)),
        PageSpec("pages/admin_links.py", "Share links", ":material/share:", "share-links", roles=("owner", "therapist")),
    ],
}

# Shown instead of NAV: a ?share= link sees only its dashboard, a ?checkin= link only its check-in page,
# a signed-out visitor only sign-in.
SHARED_VIEW = PageSpec("pages/shared_view.py", "Shared dashboard", ":material/visibility:", "shared", default=True)
CHECKIN_VIEW = PageSpec("pages/checkin.py", "Check in", ":material/task_alt:", "checkin", default=True)
LOGIN = PageSpec("pages/login.py", "Sign in", ":material/login:", "sign-in", default=True)


# What anyone may read when the database cannot be opened: the kind of problem and what to do,
# never the message itself (it names files, processes and the interpreter); that goes to the log.
OPEN_FAILURE_TEXT: dict[OpenFailure, str] = {
    "busy": "The database file is in use: another process is using it (a second Routine Desk server or "
            "command). Stop that one, then reload this page.",
    "damaged": "The database file is damaged. Restore the last backup: stop the app, then run "
               "`routine-desk restore <backup folder> --db <database file> --force` "
               "(README, “Backups”). The exact problem is in the server's log.",
    "key": "The database is encrypted and the key it needs (ROUTINE_DESK_DB_KEY) is missing or wrong. "
           "Start the app with the right key.",
    "other": "The database could not be opened. The exact problem is in the server's log.",
}
_LOG = logging.getLogger("routine_desk")


def _database_unavailable(exc: StoreError) -> None:
    st.title("Routine Desk cannot open its database")
    st.error(OPEN_FAILURE_TEXT[open_failure(exc)])
    st.caption("Nothing was changed. Reload this page once the problem above is solved.")


def _run_for_staff(navigation) -> None:
    """A staff page; a write the disk refused, or one that lost a race to another server, ends the
    page with what happened, not a traceback (the data is intact and readable, see core/db/integrity.py)."""
    try:
        navigation.run()
    except DatabaseError as exc:
        if is_storage_failure(exc):
            _LOG.error("a write failed: %s", exc)
            st.error(WRITE_FAILED_TEXT, icon=":material/save:")
        elif isinstance(exc, WriteConflict):  # another server or command won a race (PostgreSQL)
            _LOG.warning("a write lost a race: %s", exc)
            st.error(WRITE_CONFLICT_TEXT, icon=":material/sync_problem:")
        else:
            raise


def _run_for_visitor(navigation) -> None:
    """The sign-in page or a share link: whatever goes wrong, a visitor reads no internals."""
    try:
        navigation.run()
    except Exception:  # noqa: BLE001 - every error; st.stop/st.rerun are not Exceptions
        _LOG.exception("a page for a signed-out visitor or a share link failed")
        st.error(VISITOR_ERROR_TEXT)


def run() -> None:
    st.set_page_config(page_title="Routine Desk", page_icon=":material/self_improvement:", layout="wide")
    entered_through_app()
    try:
        get_store()  # open and migrate the database once per process, before any page runs
    except StoreError as exc:
        _LOG.error("database unavailable: %s", exc)
        st.navigation([st.Page(lambda: _database_unavailable(exc), title="Database unavailable")],
                      position="hidden").run()
        return
    if "share" in st.query_params:  # a share link never reaches staff pages, signed in or not
        _run_for_visitor(st.navigation([SHARED_VIEW.page()], position="hidden"))
        return
    if "checkin" in st.query_params:  # a client's check-in link: its own page only, signed in or not
        st.navigation([CHECKIN_VIEW.page()], position="hidden").run()
        return
    session = staff_session()  # None when signed out, idle too long, or the account was disabled
    if session is None:
        # Every staff address answers with the sign-in form (not "page not found"), and the address,
        # query included, stays: signing in then opens the page the link or bookmark pointed to.
        at_staff_addresses = [spec.sign_in_here() for group in NAV.values() for spec in group]
        _run_for_visitor(st.navigation([LOGIN.page(), *at_staff_addresses], position="hidden"))
        return
    account_box(session)
    # Pages the role may not use are not registered at all, so their URLs lead nowhere.
    pages = {group: [spec.page() for spec in specs if session.role in spec.roles] for group, specs in NAV.items()}
    _run_for_staff(st.navigation({group: found for group, found in pages.items() if found}))


run()
