"""Routine Desk: the entry point only routes; every page lives in pages/.

Navigation is declared once in NAV, grouped as staff think of their work. Each entry names the
roles that may use it, so sign-in can register only the pages a role is allowed to reach.
"""

from dataclasses import dataclass

import streamlit as st

from core.access.auth import ROLES
from core.db.store import StoreError
from pages.common import account_box, entered_through_app, get_store, staff_session

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


def _database_unavailable(exc: StoreError) -> None:
    st.title("Routine Desk cannot open its database")
    st.error(str(exc))
    st.caption("Nothing was changed. Reload this page once the problem above is solved.")


def run() -> None:
    st.set_page_config(page_title="Routine Desk", page_icon=":material/self_improvement:", layout="wide")
    entered_through_app()
    try:
        get_store()  # open and migrate the database once per process, before any page runs
    except StoreError as exc:
        st.navigation([st.Page(lambda: _database_unavailable(exc), title="Database unavailable")],
                      position="hidden").run()
        return
    if "share" in st.query_params:  # a share link never reaches staff pages, signed in or not
        st.navigation([SHARED_VIEW.page()], position="hidden").run()
        return
    if "checkin" in st.query_params:  # a client's check-in link: its own page only, signed in or not
        st.navigation([CHECKIN_VIEW.page()], position="hidden").run()
        return
    session = staff_session()  # None when signed out, idle too long, or the account was disabled
    if session is None:
        # Every staff address answers with the sign-in form (not "page not found"), and the address,
        # query included, stays: signing in then opens the page the link or bookmark pointed to.
        at_staff_addresses = [spec.sign_in_here() for group in NAV.values() for spec in group]
        st.navigation([LOGIN.page(), *at_staff_addresses], position="hidden").run()
        return
    account_box(session)
    # Pages the role may not use are not registered at all, so their URLs lead nowhere.
    pages = {group: [spec.page() for spec in specs if session.role in spec.roles] for group, specs in NAV.items()}
    st.navigation({group: found for group, found in pages.items() if found}).run()


run()
