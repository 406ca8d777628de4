"""The "Log a session" form on the client page (AppTest): same checks as an import, warning signs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import clock
from core.library.content import sync_library
from core.sessions.checks import MAX_NOTES_CHARS
from core.db.store import Store, utcnow
from pages.common import get_store

TODAY = clock.today()


def prepare(db_path: Path) -> None:
    """ANA on the daily psoas routine (6 exercises) since two weeks ago; BOB without a program; DAY on
    the morning / midday / evening day plan (2, 1 and 2 exercises)."""
    now = utcnow()
    with Store(db_path) as store:
        sync_library(store)
        with store.transaction() as cur:
            cur.execute("INSERT INTO clients (code, display_name, created_at, updated_at)"
                        " VALUES ('ANA', 'Ana Silva', ?, ?), ('BOB', 'Bob Ray', ?, ?), ('DAY', 'Dee Ay', ?, ?)",
                        [now] * 6)
            for code, routine in (("ANA", "daily-psoas-routine"), ("DAY", "day-plan-morning-midday-evening")):
                cur.execute("INSERT INTO assignments (client_id, routine_id, routine_version, start_date, weeks,"
                            " sessions_per_week, status, assigned_at) SELECT id, ?, 1, ?, 6, 5,"
                            " 'active', ? FROM clients WHERE code = ?",
                            [routine, TODAY - timedelta(days=14), now, code])


def client_page(app_as, app_db: Path, code: str) -> AppTest:
    at = app_as("therapist", "olga")
    prepare(app_db)
    at.run()
    at.query_params["client"] = code
    at.switch_page("pages/clients.py").run()
    assert not at.exception, at.exception
    return at


def submit(at: AppTest, code: str, **values) -> AppTest:
    key = f"session_log_{code}"
    for name, value in values.items():
        widget = at.get(name.split(":")[0])
        next(w for w in widget if w.key == f"{key}_{name.split(':')[1]}").set_value(value)
    next(b for b in at.button if b.label == "Log session").click().run()
    assert not at.exception, at.exception
    return at


def test_a_typed_session_is_stored_with_defaults_and_flags(app_as, app_db: Path) -> None:
    at = client_page(app_as, app_db, "ANA")
    submit(at, "ANA", **{"number_input:done": 5, "number_input:before": 4.5, "number_input:after": 3.0,
                         "text_area:notes": "felt dizzy when getting up"})
    assert any(s.value.startswith("Session logged.") for s in at.success)
    assert any("Dizziness or light-headedness" in w.value for w in at.warning)
    rows = get_store().rows("SELECT session_date, routine_id, exercises_done, exercises_prescribed, pain_before,"
                            " red_flags, source, entered_by FROM session_logs")
    assert rows == [(TODAY, "daily-psoas-routine", 5, 6, 4.5, "dizziness", "manual", "olga")]


def test_the_import_checks_refuse_a_session_without_a_routine_to_attach_to(app_as, app_db: Path) -> None:
    at = client_page(app_as, app_db, "BOB")
    submit(at, "BOB", **{"number_input:done": 3})
    assert any("no routine given and the client has 0 active assignments" in e.value for e in at.error)
    assert get_store().scalar("SELECT count(*) FROM session_logs") == 0
    submit(at, "BOB", **{"selectbox:routine": "four-stretch-routine", "number_input:done": 3})
    assert any("before the client's first program" in s.value for s in at.success)


def test_pain_11_is_refused_with_its_reason(app_as, app_db: Path) -> None:
    """The box has no bounds of its own (a bounded box silently kept the old value): the checks say why."""
    at = client_page(app_as, app_db, "ANA")
    submit(at, "ANA", **{"number_input:before": 11.0})
    errors = " ".join(e.value for e in at.error)
    assert "Not logged" in errors and "Pain before" in errors and "pain_before" not in errors
    assert get_store().scalar("SELECT count(*) FROM session_logs") == 0


def test_a_day_plan_session_names_its_block_and_counts_that_blocks_exercises(app_as, app_db: Path) -> None:
    at = client_page(app_as, app_db, "DAY")
    picker = next(w for w in at.selectbox if w.key == "session_log_DAY_block")
    assert picker.options == ["Whole routine", "Morning", "Midday", "Evening"]
    submit(at, "DAY", **{"selectbox:block": "midday", "number_input:done": 1})
    assert any(s.value.startswith("Session logged.") for s in at.success)
    rows = get_store().rows("SELECT routine_id, block, exercises_done, exercises_prescribed FROM session_logs")
    assert rows == [("day-plan-morning-midday-evening", "midday", 1, 1)]


def test_a_routine_without_blocks_offers_no_block(app_as, app_db: Path) -> None:
    at = client_page(app_as, app_db, "ANA")
    assert not [w for w in at.selectbox if w.key == "session_log_ANA_block"]
    assert next(w for w in at.text_area if w.key == "session_log_ANA_notes").max_chars == MAX_NOTES_CHARS
