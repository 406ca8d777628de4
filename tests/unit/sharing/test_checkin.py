"""Check-in links: write-only, for their own client only, one session per page load, refusing what
a client may not log; the warning-sign advice, the client's own progress and the calendar feed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest

from core.access import auth
from core.access.auth import PermissionDenied
from core.db.store import Store, utcnow
from core.library.content import sync_library
from core.practice import assignments
from core.practice.clients import archive_client, create_client
from core.sharing import checkin, links
from core.sharing.checkin import CheckinEntry, CheckinError

BASE = "https://desk.example.org"
# Links expire against the real clock, so the test days are near today: the Wednesday of this week,
# and a program (the four-stretch routine, 4 weeks) that started on the Monday before.
TODAY = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=2)
START = TODAY - timedelta(days=9)
LAST_DAY = START + timedelta(days=27)


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Owner ana, therapists ben and cara, viewer vic; client C1 on the four-stretch routine, C2 on none."""
    with Store(tmp_path_factory.mktemp("checkin") / "checkin.duckdb") as s:
        sync_library(s)
        auth.create_first_owner(s, "ana", "owner-password-long")
        for name in ("ben", "cara"):
            auth.create_user(s, "ana", name, "therapist", f"{name}-password-long")
        auth.create_user(s, "ana", "vic", "viewer", "viewer-password-long")
        create_client(s, {"code": "C1", "display_name": "Amira Berg", "segments": ["desk_worker"]}, "cli", TODAY)
        create_client(s, {"code": "C2", "display_name": "Dev Costa", "segments": ["desk_worker"]}, "cli", TODAY)
        assignments.assign(s, "C1", "four-stretch-routine", START, "cli", START)
        yield s


@pytest.fixture
def store(module_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv(links.BASE_URL_ENV, raising=False)
    with module_store.transaction() as cur:
        for table in ("checkin_links", "checkin_submissions", "share_links", "audit_log"):
            cur.execute(f"DELETE FROM {table}")
        cur.execute("DELETE FROM session_logs")
    return module_store


def make(store: Store, client: str = "C1", actor: str = "ana", **kw) -> tuple[checkin.CreatedCheckin, str]:
    link = checkin.create_checkin(store, actor, client, base=BASE, today=TODAY, **kw)
    prefix = f"{BASE}/?checkin="
    assert link.url.startswith(prefix)
    return link, link.url[len(prefix):]


def entry(store: Store, token: str, key: str = "page-load-1", **kw) -> CheckinEntry:
    link = checkin.resolve_checkin(store, token)
    routine = checkin.todays_routines(store, link, TODAY)[0]
    values = {"session_date": TODAY, "routine_id": routine.routine_id, "exercises_done": 3,
              "exercises_prescribed": len(routine.exercises), "pain_before": 4.5, "pain_after": 3.0,
              "stiffness": 2.0, "notes": "felt fine"} | kw
    return CheckinEntry(key=key, **values)


def logs(store: Store) -> list[tuple]:
    return store.rows("SELECT client_id, source, session_date, exercises_done, pain_before, source_session_id"
                      " FROM session_logs ORDER BY id")


# -- the link -----------------------------------------------------------------------------------

def test_a_256_bit_token_of_which_only_the_sha256_is_stored(store: Store) -> None:
    link, token = make(store)
    assert len(token) == 43 and len(base64.urlsafe_b64decode(token + "=")) == 32
    assert store.scalar("SELECT token_sha256 FROM checkin_links") == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(store.rows("SELECT * FROM checkin_links")) + str(store.rows("SELECT * FROM audit_log"))


def test_expiry_defaults_to_the_end_of_the_fourteenth_day_after_the_program(store: Store) -> None:
    link, _ = make(store)
    # four weeks from a Monday: the last day is the fourth Sunday; + 14 days, valid to the end of that day
    assert link.expires_at == datetime.combine(LAST_DAY + timedelta(days=15), datetime.min.time())
    now = utcnow()
    days, _ = make(store, days=3)
    assert now + timedelta(days=3) <= days.expires_at <= utcnow() + timedelta(days=3)


def test_a_client_without_a_program_needs_days_and_bad_input_is_refused(store: Store) -> None:
    with pytest.raises(CheckinError, match="no current program"):
        make(store, "C2")
    assert make(store, "C2", days=10)[0].client == "C2"
    for days in (0, checkin.MAX_DAYS + 1, True, 2.5):
        with pytest.raises(CheckinError, match="whole number of days"):
            make(store, days=days)
    with pytest.raises(CheckinError, match="unknown client"):
        make(store, "C9")


def test_only_staff_who_write_make_and_revoke_links(store: Store) -> None:
    with pytest.raises(PermissionDenied):
        make(store, actor="vic")
    link, token = make(store, actor="ben")
    with pytest.raises(PermissionDenied):
        checkin.revoke_checkin(store, "cara", link.id)
    assert checkin.revoke_checkin(store, "ben", link.id) is True
    assert checkin.revoke_checkin(store, "ana", link.id) is False
    assert checkin.resolve_checkin(store, token) is None


def test_one_answer_for_every_token_that_opens_nothing(store: Store) -> None:
    link, token = make(store)
    assert checkin.resolve_checkin(store, token).client_id == store.scalar("SELECT id FROM clients WHERE code='C1'")
    forged = "A" * 43
    expired = checkin.resolve_checkin(store, token, now=link.expires_at)
    answers = {checkin.resolve_checkin(store, t) for t in (None, "", forged, token[:-1], token + "x", 42)}
    assert answers == {None} and expired is None


def test_a_check_in_token_opens_no_dashboard_and_a_share_token_writes_nothing(store: Store) -> None:
    """Write only: the check-in token is no share token, and a share link for the same client
    cannot store a session."""
    _, token = make(store)
    assert links.resolve(store, token) is None
    share = links.create_link(store, "ana", "client:C1", base=BASE)
    share_token = share.url.split("?share=")[1]
    outcome = checkin.submit_checkin(store, share_token, entry(store, token), TODAY)
    assert outcome.status == "invalid" and logs(store) == []


def test_the_list_shows_use_and_status_per_client_and_a_therapist_sees_their_own(store: Store) -> None:
    first, token = make(store)
    make(store, "C2", actor="ben", days=5)
    checkin.revoke_checkin(store, "ana", first.id)
    table = checkin.list_checkins(store, "ana")
    assert list(table.columns) == checkin.CHECKIN_COLUMNS
    assert dict(zip(table["client"], table["status"])) == {"C1": "revoked", "C2": "active"}
    assert list(checkin.list_checkins(store, "ana", "C1")["id"]) == [first.id]
    assert list(checkin.list_checkins(store, "ben")["client"]) == ["C2"]


# -- the submission -----------------------------------------------------------------------------

def test_a_submission_stores_one_checked_session_for_the_links_client(store: Store) -> None:
    _, token = make(store)
    outcome = checkin.submit_checkin(store, token, entry(store, token), TODAY)
    assert outcome.status == "accepted" and outcome.log_id is not None
    c1 = store.scalar("SELECT id FROM clients WHERE code = 'C1'")
    [(client_id, source, day, done, pain, session_id)] = logs(store)
    assert (client_id, source, day, done, pain) == (c1, "checkin", TODAY, 3, 4.5)
    assert session_id.startswith("checkin-") and session_id.endswith("page-load-1")
    assert store.scalar("SELECT entered_by FROM session_logs").startswith("checkin:")


def test_the_same_page_load_stores_one_session_however_often_it_submits(store: Store) -> None:
    _, token = make(store)
    first = checkin.submit_checkin(store, token, entry(store, token), TODAY)
    again = checkin.submit_checkin(store, token, entry(store, token, pain_before=6.0), TODAY)
    assert (again.status, again.log_id) == ("duplicate", first.log_id)
    other_page = checkin.submit_checkin(store, token, entry(store, token, key="page-load-2"), TODAY)
    assert other_page.status == "accepted" and len(logs(store)) == 2


def test_the_same_checks_as_import_reject_bad_values(store: Store) -> None:
    _, token = make(store)
    outcome = checkin.submit_checkin(store, token, entry(store, token, pain_before=4.3, exercises_done=9), TODAY)
    assert outcome.status == "rejected" and logs(store) == []
    assert any("whole or half point" in r for r in outcome.reasons)
    assert any("more than exercises_prescribed" in r for r in outcome.reasons)


@pytest.mark.parametrize(("day", "why"), [(TODAY + timedelta(days=1), "future"),
                                          (TODAY - timedelta(days=8), "last 7 days")])
def test_dates_outside_the_window_or_the_program_are_refused(store: Store, day: date, why: str) -> None:
    _, token = make(store)
    outcome = checkin.submit_checkin(store, token, entry(store, token, session_date=day), TODAY)
    assert outcome.status == "refused" and why in outcome.reasons[0] and logs(store) == []


def test_seven_days_back_is_still_allowed(store: Store) -> None:
    _, token = make(store)
    day = TODAY - timedelta(days=7)
    assert checkin.submit_checkin(store, token, entry(store, token, session_date=day), TODAY).status == "accepted"


def test_a_routine_the_client_was_not_given_that_day_is_refused(store: Store) -> None:
    _, token = make(store)
    _, no_program = make(store, "C2", days=5)
    prepared = entry(store, token)
    for token_used, routine in ((token, "desk-micro-breaks"), (no_program, prepared.routine_id)):
        outcome = checkin.submit_checkin(store, token_used, CheckinEntry(**(prepared.__dict__ | {"routine_id": routine})),
                                         TODAY)
        assert outcome.status == "refused" and "not part of your program" in outcome.reasons[0]
    assert logs(store) == []


def test_ten_submissions_a_day_then_the_link_waits(store: Store) -> None:
    _, token = make(store)
    for n in range(checkin.DAILY_LIMIT):
        assert checkin.submit_checkin(store, token, entry(store, token, key=f"page-load-{n:02}"), TODAY).status \
            == "accepted"
    outcome = checkin.submit_checkin(store, token, entry(store, token, key="page-load-99"), TODAY)
    assert outcome.status == "refused" and "24 hours" in outcome.reasons[0]
    tomorrow = utcnow() + timedelta(days=1, minutes=1)
    later = checkin.submit_checkin(store, token, entry(store, token, key="page-load-99"), TODAY, now=tomorrow)
    assert later.status == "accepted" and len(logs(store)) == checkin.DAILY_LIMIT + 1


def test_a_revoked_or_archived_clients_link_writes_nothing(store: Store) -> None:
    link, token = make(store)
    prepared = entry(store, token)
    checkin.revoke_checkin(store, "ana", link.id)
    assert checkin.submit_checkin(store, token, prepared, TODAY).status == "invalid"
    _, token2 = make(store, "C2", days=3)
    c2 = store.scalar("SELECT id FROM clients WHERE code = 'C2'")
    archive_client(store, c2, "ana")
    try:
        assert checkin.resolve_checkin(store, token2) is None
    finally:
        from core.practice.clients import restore_client
        restore_client(store, c2, "ana")
    assert logs(store) == []


def test_a_malformed_idempotency_key_is_refused(store: Store) -> None:
    _, token = make(store)
    assert checkin.submit_checkin(store, token, entry(store, token, key="x"), TODAY).status == "refused"
    assert len(checkin.new_idempotency_key()) >= 16


def test_warning_signs_are_tagged_and_reach_the_session_log(store: Store) -> None:
    _, token = make(store)
    outcome = checkin.submit_checkin(store, token, entry(store, token, notes="felt dizzy after the bridge"), TODAY)
    assert outcome.red_flags == ["dizziness"]
    assert store.scalar("SELECT red_flags FROM session_logs") == "dizziness"


# -- the page's content -------------------------------------------------------------------------

def test_todays_routine_lists_each_exercise_with_steps_and_dose_in_order(store: Store) -> None:
    _, token = make(store)
    link = checkin.resolve_checkin(store, token)
    [routine] = checkin.todays_routines(store, link, TODAY)
    stored = store.rows("SELECT e.name FROM routine_items i JOIN exercises e ON e.id = i.exercise_id"
                        " WHERE i.routine_id = 'four-stretch-routine' AND i.version = 1 ORDER BY i.position")
    assert [e.name for e in routine.exercises] == [n for (n,) in stored]
    assert all(e.steps and e.dose_text for e in routine.exercises)
    assert checkin.todays_routines(store, link, START - timedelta(days=1)) == []


def test_the_timer_plan_counts_sets_sides_and_reps() -> None:
    hold = checkin.CheckinExercise("Hold", "2–3 × 30–60 s per side", (), None, 30, None, None, 2, True)
    assert hold.timer_plan() == {"sets": 2, "sides": ["left side", "right side"], "reps": 1, "seconds": 30,
                                 "name": "Hold"}
    reps = checkin.CheckinExercise("Reps", "10 reps", (), None, None, 10, None, 1, False)
    assert reps.timer_plan()["seconds"] is None and reps.timer_plan()["reps"] == 10
    breaths = checkin.CheckinExercise("Breathe", "6 breaths", (), None, None, None, 6, 1, False)
    assert breaths.timer_plan()["seconds"] == 30


def test_warning_advice_fits_the_sign(store: Store) -> None:
    assert checkin.warning_advice(store, "all good today") == []
    assert checkin.warning_advice(store, "") == []
    [pregnancy] = checkin.warning_advice(store, "some spotting this morning", pregnant=True)
    assert pregnancy.urgent and "midwife or doctor" in pregnancy.message
    assert checkin.warning_advice(store, "some spotting this morning") == []   # not pregnant: noted, no alarm
    [chest] = checkin.warning_advice(store, "chest pain during the bridge")
    assert chest.urgent and "seek medical care" in chest.message and "midwife" not in chest.message
    saddle, therapist = checkin.warning_advice(store, "numbness in the saddle area and tingling in my foot")
    assert saddle.urgent and "today" in saddle.message
    assert not therapist.urgent and "therapist" in therapist.message


def test_progress_shows_the_clients_own_days_this_week_and_pain(store: Store) -> None:
    _, token = make(store)
    _, other = make(store, "C2", days=5)
    for n, day in enumerate((TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY)):
        checkin.submit_checkin(store, token, entry(store, token, key=f"page-load-{n}", session_date=day,
                                                   pain_before=5.0 - n), TODAY)
    progress = checkin.client_progress(store, checkin.resolve_checkin(store, token), TODAY)
    # this week, Monday to Sunday: sessions on Monday, Tuesday and Wednesday (today)
    assert [done for _, done in progress.week] == [True, True, True, False, False, False, False]
    assert (progress.days_this_week, progress.streak) == (3, 3)
    assert list(progress.pain["pain_before"]) == [5.0, 4.0, 3.0]
    nobody = checkin.client_progress(store, checkin.resolve_checkin(store, other), TODAY)
    assert nobody.days_this_week == 0 and nobody.pain.empty


# -- calendar -----------------------------------------------------------------------------------

def test_spread_weekdays() -> None:
    assert checkin.spread_weekdays(3, date(2026, 3, 2)) == [0, 2, 5]      # Mon, Wed (2.33), Sat (4.67)
    assert checkin.spread_weekdays(7, date(2026, 3, 4)) == list(range(7))
    assert checkin.spread_weekdays(1, date(2026, 3, 4)) == [2]


def test_the_calendar_repeats_on_the_routines_days_until_the_last_day(store: Store) -> None:
    link, _ = make(store)
    ics = checkin.calendar_ics(store, link.id, TODAY, url="https://x.example/?checkin=abc")
    lines = ics.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and ics.endswith("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = ics.replace("\r\n ", "")
    version = store.rows("SELECT sessions_per_week, weekdays FROM routine_versions"
                         " WHERE routine_id = 'four-stretch-routine' AND version = 1")[0]
    assert "RRULE:FREQ=WEEKLY;BYDAY=" in unfolded and f"UNTIL={LAST_DAY:%Y%m%d}T235959" in unfolded
    assert "URL:https://x.example/?checkin=abc" in unfolded
    assert unfolded.count("BEGIN:VEVENT") == 1, version
    with pytest.raises(CheckinError):
        checkin.calendar_ics(store, 999, TODAY)


def test_calendar_text_is_escaped_and_long_lines_fold_without_splitting_characters() -> None:
    assert checkin._ics_text("Hips, back; knees\\\nnext") == "Hips\\, back\\; knees\\\\\\nnext"
    line = "DESCRIPTION:" + "ü" * 60           # 12 + 120 octets
    parts = checkin._fold(line)
    # 12 + 31 x 2 = 74 octets (a 32nd ü would make 76); then a space and the other 29: 1 + 58
    assert [len(p.encode()) for p in parts] == [74, 59]
    assert parts[1].startswith(" ") and "".join(p.removeprefix(" ") for p in parts) == line


# -- a paused program ----------------------------------------------------------------------------

@pytest.fixture
def c1_program(store: Store) -> Iterator[int]:
    """C1's four-stretch assignment (4 a week, no fixed days: spread from Monday START to Mon, Wed,
    Fri, Sat); its pauses are undone afterwards."""
    yield store.scalar("SELECT a.id FROM assignments a JOIN clients c ON c.id = a.client_id WHERE c.code = 'C1'")
    with store.transaction() as cur:
        cur.execute("DELETE FROM assignment_pauses")
        cur.execute("DELETE FROM assignment_events WHERE event IN ('paused', 'resumed')")


def reminders(store: Store, link_id: int) -> str:
    return checkin.calendar_ics(store, link_id, TODAY).replace("\r\n ", "")


def test_a_paused_program_is_not_offered_nor_reminded_while_paused(store: Store, c1_program: int) -> None:
    link, token = make(store)
    opened = checkin.resolve_checkin(store, token)
    before_the_pause = entry(store, token, session_date=TODAY - timedelta(days=2))
    assignments.pause_assignment(store, c1_program, TODAY - timedelta(days=1), "ana")   # paused since Tuesday
    assert checkin.todays_routines(store, opened, TODAY) == []
    paused_day = CheckinEntry(**(before_the_pause.__dict__ | {"session_date": TODAY, "key": "page-load-2"}))
    outcome = checkin.submit_checkin(store, token, paused_day, TODAY)
    assert outcome.status == "refused" and "not part of your program" in outcome.reasons[0]
    assert checkin.submit_checkin(store, token, before_the_pause, TODAY).status == "accepted"   # Monday counts
    assert "BEGIN:VEVENT" not in reminders(store, link.id)           # open-ended: no reminder at all

    assignments.resume_assignment(store, c1_program, TODAY + timedelta(days=7), "ana")   # next Wednesday
    assert checkin.todays_routines(store, opened, TODAY) == []
    ics = reminders(store, link.id)
    assert f"DTSTART:{TODAY + timedelta(days=7):%Y%m%d}T080000" in ics and "EXDATE" not in ics
    assert checkin.todays_routines(store, opened, TODAY + timedelta(days=7))[0].routine_id == "four-stretch-routine"


def test_reminders_skip_a_later_pause_and_stop_where_an_open_one_starts(store: Store, c1_program: int) -> None:
    link, _ = make(store)
    assignments.pause_assignment(store, c1_program, TODAY + timedelta(days=2), "ana")    # Friday
    assignments.resume_assignment(store, c1_program, TODAY + timedelta(days=5), "ana")   # back on Monday
    ics = reminders(store, link.id)
    assert f"DTSTART:{TODAY:%Y%m%d}T080000" in ics and f"UNTIL={LAST_DAY:%Y%m%d}T235959" in ics
    skipped = [line for line in ics.split("\r\n") if line.startswith("EXDATE")]
    assert skipped == [f"EXDATE:{TODAY + timedelta(days=2):%Y%m%d}T080000",        # Friday and Saturday;
                       f"EXDATE:{TODAY + timedelta(days=3):%Y%m%d}T080000"]        # Sunday is no routine day
    assignments.pause_assignment(store, c1_program, TODAY + timedelta(days=7), "ana")    # open, from next Wednesday
    assert f"UNTIL={TODAY + timedelta(days=6):%Y%m%d}T235959" in reminders(store, link.id)
