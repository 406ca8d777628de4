"""Fixtures shared by every test layer: a fresh migrated store, and an app pointed at it."""

from __future__ import annotations

import os
from datetime import date
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.library.content import sync_library
from core.db.store import Store
from tests.postgres_server import PostgresServer, postgres_bin, running_postgres

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"

# The cheapest argon2id parameters (core/access/auth.py), so signing in stays fast in tests; inherited by
# the `streamlit run` of the browser tests. Never set on a server.
os.environ["ROUTINE_DESK_FAST_HASH"] = "1"
# One "today" for the whole run (core/clock.py), also inherited by the browser tests' servers: a
# run that crosses midnight must not compare yesterday's expected dates with today's pages.
os.environ.setdefault("ROUTINE_DESK_TODAY", date.today().isoformat())
TEST_PASSWORD = "test-password-of-staff"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "routine-desk.duckdb"


@pytest.fixture(scope="session")
def library_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the real library loaded, built once per test worker: tests copy it
    instead of migrating and loading the library again (most of a small test's time)."""
    path = tmp_path_factory.mktemp("template") / "library.duckdb"
    with Store(path) as s:
        sync_library(s)
    return path


def _from_template(template: Path, db_path: Path) -> None:
    """``db_path`` starts as a copy of the template (a test's own data directory still syncs on open)."""
    import shutil

    shutil.copyfile(template, db_path)


# Tests that run against both stores (issue 19): their `store` (and the stores their own fixtures
# open with `blank_store`) is a DuckDB file, then a PostgreSQL database. Whole suites where each
# test is cheap; in the import, metrics and alerts suites the tests marked `both_stores` (each
# path through the store once: ids, dedupe, undo, quarantine, figures, version, acknowledgements),
# which keeps the PostgreSQL half of `make test` to about a minute.
BOTH_STORES = {"test_store.py", "test_links.py", "test_auth.py"}
STORE_KINDS = ("duckdb", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" not in metafunc.fixturenames:
        return
    if Path(metafunc.definition.fspath).name in BOTH_STORES or metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store_kind", STORE_KINDS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test's `store` is: "duckdb", or for the BOTH_STORES suites each in turn."""
    return getattr(request, "param", "duckdb")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL of this test worker (tests/postgres_server.py). Without Debian's
    `postgresql` package the PostgreSQL tests are skipped, and fail under CI (`make test` installs it)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_postgres(bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_templates(postgres: PostgresServer) -> dict[str, str]:
    """Two template databases, made once per worker: "blank" (migrated) and "library" (a copy of
    blank with the real library); a test's database is a copy of one (CREATE DATABASE ... TEMPLATE:
    milliseconds, where migrating a new database takes seconds)."""
    blank = postgres.new_database()
    Store(blank).close()
    library = postgres.new_database(blank.rsplit("/", 1)[1])
    with Store(library) as s:
        sync_library(s)
    return {"blank": blank.rsplit("/", 1)[1], "library": library.rsplit("/", 1)[1]}


@pytest.fixture(scope="module")
def blank_store(request: pytest.FixtureRequest, store_kind: str,
                tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Store]:
    """``blank_store(name)``: open a new migrated practice without the library, of the test's store kind."""
    return lambda name: open_new_store(request, store_kind, tmp_path_factory, name, library=False)


def open_new_store(request: pytest.FixtureRequest, kind: str, tmp_path_factory: pytest.TempPathFactory,
                   name: str, *, library: bool, in_db_path: bool = True) -> Store:
    """A new practice (migrated; with the real library when asked) of ``kind``; the caller closes it.
    A DuckDB one with the library is the test's own `db_path` unless ``in_db_path`` is false."""
    if kind == "postgres":
        templates = request.getfixturevalue("postgres_templates")
        server: PostgresServer = request.getfixturevalue("postgres")
        return Store(server.new_database(templates["library" if library else "blank"]))
    if library:  # the test's own db_path, which some tests open again
        path = request.getfixturevalue("db_path") if in_db_path else tmp_path_factory.mktemp(name) / f"{name}.duckdb"
        _from_template(request.getfixturevalue("library_template"), path)
    else:
        path = tmp_path_factory.mktemp(name) / f"{name}.duckdb"
    return Store(path)


@pytest.fixture
def store(request: pytest.FixtureRequest, store_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A migrated database with the real library from data/ loaded (a DuckDB file; for the
    BOTH_STORES suites, also a PostgreSQL database)."""
    with open_new_store(request, store_kind, tmp_path_factory, "store", library=True) as s:
        sync_library(s)
        yield s


# A test's own practice, built once: `built_store(build)` and `built_file(build, path)` run ``build``
# (a module-level function that writes a practice into a store) once per test worker and store kind,
# and give each test its own copy of the result, so the test writes to its copy only.
Build = Callable[[Store], object]


@pytest.fixture(scope="session")
def practice_templates() -> dict[tuple[str, str, str], str]:
    """The practices built so far in this worker: (module, builder, store kind) -> DuckDB file or
    PostgreSQL template database name."""
    return {}


def _template_of(request: pytest.FixtureRequest, build: Build, kind: str) -> str:
    """The template ``build`` made from a new practice with the real library, built on first use."""
    templates: dict[tuple[str, str, str], str] = request.getfixturevalue("practice_templates")
    key = (build.__module__, build.__qualname__, kind)
    if key not in templates:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        with open_new_store(request, kind, factory, "practice", library=True, in_db_path=False) as s:
            sync_library(s)
            build(s)
            templates[key] = s.location.rsplit("/", 1)[1] if kind == "postgres" else str(s.path)
    return templates[key]


@pytest.fixture
def built_store(request: pytest.FixtureRequest, store_kind: str) -> Iterator[Callable[[Build], Store]]:
    """``built_store(build)``: like `store` (the test's store kind, library synced again on open),
    holding the practice ``build`` writes: built once per worker, copied per test (a file copy, or
    CREATE DATABASE ... TEMPLATE on PostgreSQL), far cheaper than writing it row by row per test."""
    opened: list[Store] = []

    def make(build: Build) -> Store:
        template = _template_of(request, build, store_kind)
        if store_kind == "postgres":
            server: PostgresServer = request.getfixturevalue("postgres")
            copy = Store(server.new_database(template))
        else:
            path = request.getfixturevalue("db_path")
            _from_template(Path(template), path)
            copy = Store(path)
        opened.append(copy)
        sync_library(copy)
        return copy

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def built_file(request: pytest.FixtureRequest) -> Callable[[Build, Path], Path]:
    """``built_file(build, path)``: ``path`` becomes a closed DuckDB file holding the practice
    ``build`` writes (built once per worker, then copied), for the CLI, AppTest and servers."""
    def make(build: Build, path: Path) -> Path:
        _from_template(Path(_template_of(request, build, "duckdb")), path)
        return path

    return make


@pytest.fixture
def app_db(db_path: Path, library_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a fresh database (migrated, library loaded, as the app leaves it on first
    open) and drop the cached store, for AppTest."""
    import streamlit as st

    _from_template(library_template, db_path)
    monkeypatch.setenv("ROUTINE_DESK_DB", str(db_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield db_path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(autouse=True, scope="session")
def components_scanned_once() -> Iterator[None]:
    """Every new AppTest scans all installed packages for Streamlit components (about 0.1 s of CPU,
    more on a busy machine); the installed packages do not change during a run, so the first scan's
    answer serves every AppTest. The servers of the browser tests still scan for themselves."""
    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    found = scan()
    manifest_scanner.scan_component_manifests = lambda max_workers=None: list(found)
    yield
    manifest_scanner.scan_component_manifests = scan


@pytest.fixture(autouse=True)
def navigation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run AppTests the way the server runs after its first request: app.py routes every run.

    AppTest resets Streamlit's process-wide "old pages/ folder layout" flag before each run, so
    every run would start by executing the requested page file directly; pages/common.get_store()
    catches that and reruns through app.py (see there), which would drop the clicks of that run.
    tests/pages/test_login_page.py switches this off to attack exactly that path.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationOnly(PagesManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationOnly)


@pytest.fixture
def anonymous_app(app_db: Path):
    """An AppTest of app.py (not yet run) against the fresh database of `app_db`, signed out.

    Prepare data with `Store(app_db)` and close it before `app.run()`: the app opens its own.
    """
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO / "app.py"), default_timeout=30)


@pytest.fixture(scope="session")
def account_templates() -> dict[tuple[str, str], tuple[Path, object]]:
    """(role, username) -> a copy of `library_template` holding that one staff account, and the
    account: made on first use in this worker by `app_as`."""
    return {}


def _account_template(request: pytest.FixtureRequest, role: str, username: str) -> tuple[Path, object]:
    from core.access.auth import create_user

    templates = request.getfixturevalue("account_templates")
    if (role, username) not in templates:
        path = request.getfixturevalue("tmp_path_factory").mktemp("account") / f"{role}.duckdb"
        _from_template(request.getfixturevalue("library_template"), path)
        with Store(path) as s:
            templates[role, username] = (path, create_user(s, "cli", username, role, TEST_PASSWORD))
    return templates[role, username]


def _held_open(path: Path) -> bool:
    """Whether this process has ``path`` open (a store of an app that already ran); True where
    /proc/self/fd cannot tell."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return True
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:  # closed since the listing
            continue
    return False


def _untouched(db_path: Path, template: Path) -> bool:
    """Whether ``db_path`` is still byte for byte the template it was copied from (no write, nothing
    pending in a write-ahead log) and nothing holds it open: then a template with more in it can
    take its place."""
    import filecmp

    return (not Path(f"{db_path}.wal").exists() and filecmp.cmp(db_path, template, shallow=False)
            and not _held_open(db_path))


@pytest.fixture
def app_as(request: pytest.FixtureRequest, app_db: Path, library_template: Path) -> Callable[..., object]:
    """``app_as(role, username=None)``: an un-run AppTest signed in as a staff account with that role
    (created in the test database, password TEST_PASSWORD), the way pages/login.py signs in.

    While the test's database is still the untouched library copy, it is replaced by a copy of the
    same library with that account, made once per worker: opening the file to write the account
    costs more than the rest of many page tests' setup."""
    from streamlit.testing.v1 import AppTest

    from core.access.auth import create_user, get_user, start_session
    from core.db.store import StoreError
    from pages.common import SESSION_KEY, get_store

    def account(s: Store, name: str, role: str):
        return get_user(s, name) or create_user(s, "cli", name, role, TEST_PASSWORD)

    def make(role: str = "owner", username: str | None = None) -> AppTest:
        if _untouched(app_db, library_template):
            template, user = _account_template(request, role, username or role)
            _from_template(template, app_db.with_suffix(".copy"))
            app_db.with_suffix(".copy").replace(app_db)  # a new file: no open handle sees it half-written
        else:
            try:
                with Store(app_db) as s:
                    user = account(s, username or role, role)
            except StoreError:  # an app of this test already runs and holds the file: use its store
                user = account(get_store(), username or role, role)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
        at.session_state[SESSION_KEY] = start_session(user)
        return at

    return make


@pytest.fixture
def app(app_as: Callable[..., object]):
    """An AppTest of app.py (not yet run) against the fresh database of `app_db`, signed in as the
    owner account ``owner`` (every page registered). `anonymous_app` is the signed-out app.

    Prepare data with `Store(app_db)` and close it before `app.run()`: the app opens its own.
    """
    return app_as("owner")


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of data/ that the app and the CLI read and write instead of the real content
    files (``ROUTINE_DESK_DATA``), for tests that save exercises."""
    import shutil

    target = tmp_path / "data"
    shutil.copytree(REPO / "data", target)
    monkeypatch.setenv("ROUTINE_DESK_DATA", str(target))
    return target
