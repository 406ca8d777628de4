"""Fixtures shared by every test layer: a fresh migrated store, and an app pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.content import sync_library
from core.store import Store

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "routine-desk.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """A migrated database with the real library from data/ loaded."""
    with Store(db_path) as s:
        sync_library(s)
        yield s


@pytest.fixture
def app_db(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a fresh database and drop the cached store, for AppTest."""
    import streamlit as st

    monkeypatch.setenv("ROUTINE_DESK_DB", str(db_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield db_path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app(app_db: Path):
    """An AppTest of app.py (not yet run) against the fresh database of `app_db`.

    Prepare data with `Store(app_db)` and close it before `app.run()`: the app opens its own.
    """
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
