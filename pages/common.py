"""What every page shares: the process-wide store and small rendering helpers."""

from __future__ import annotations

import streamlit as st

from core.content import sync_library
from core.store import Store


@st.cache_resource(show_spinner=False)
def get_store() -> Store:
    """One DuckDB instance per server process; core takes a cursor per call from it.

    The library is synced from data/ on first use, so edited content files show up after a
    restart (or the Library page's reload button) without a separate step.
    """
    store = Store.open()
    sync_library(store)
    return store
