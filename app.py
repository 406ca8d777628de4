"""Routine Desk: the entry point only routes; every page lives in pages/.

Navigation is declared once in NAV, grouped as staff think of their work. Each entry names the
roles that may use it, so sign-in can register only the pages a role is allowed to reach.
"""

from dataclasses import dataclass

import streamlit as st

from core.store import StoreError
from pages.common import get_store

STAFF = ("owner", "therapist", "viewer")


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


NAV: dict[str, list[PageSpec]] = {
    "Practice": [],
    "Clients": [],
    "Routines": [],
    "Library": [
        PageSpec("pages/library.py", "Exercise library", "📚", "library", default=True),
    ],
    "Data": [],
    "Admin": [],
}


def _database_unavailable(exc: StoreError) -> None:
    st.title("Routine Desk cannot open its database")
    st.error(str(exc))
    st.caption("Nothing was changed. Reload this page once the problem above is solved.")


def run() -> None:
    st.set_page_config(page_title="Routine Desk", page_icon="🧘", layout="wide")
    try:
        get_store()  # open and migrate the database once per process, before any page runs
    except StoreError as exc:
        st.navigation([st.Page(lambda: _database_unavailable(exc), title="Database unavailable")],
                      position="hidden").run()
        return
    pages = {group: [spec.page() for spec in specs] for group, specs in NAV.items() if specs}
    st.navigation(pages).run()


run()
