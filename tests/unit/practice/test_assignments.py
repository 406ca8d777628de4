"""Assignments: safe assignment with reviews, end / pause / resume / replace / move, and re-checks."""

from datetime import date, timedelta

import pytest

from core.practice import assignments
from core import clock
from core.access import auth
from core.practice import clients
from core.practice import routines
from core.db.store import Store, utcnow
from tests.practice_rows import add_assignment

ON = date(2026, 3, 2)
WRITES = ("assignments", "safety_reviews", "assignment_events", "assignment_pauses")


def client(store: Store, week: int | None = None, **fields) -> clients.Client:
    data = {"display_name": "Client"} | fields
    if week is not None:   # cleared by her care provider unless the test says otherwise
        data = {"gestation_weeks": week, "gestation_on": ON, "care_provider_cleared_on": ON} | data
    return clients.create_client(store, data, "cli", ON)


def counts(store: Store) -> dict[str, int]:
    return {t: store.scalar(f"SELECT count(*) FROM {t}") for t in WRITES}


def states(store: Store, client_id: int, on: date) -> dict[int, str]:
    return {r["id"]: r["state"] for r in assignments.list_assignments(store, client_id, on)}


# -- assigning --------------------------------------------------------------------------------------------

def test_assign_records_every_finding_as_seen(store: Store) -> None:
    ana = client(store, 24)
    result = assignments.assign(store, ana.code, "daily-psoas-routine", ON, "cli", ON)
    a = result.assignment
    assert (a.routine_id, a.routine_version, a.start_date, a.weeks, a.sessions_per_week, a.status) == (
        "daily-psoas-routine", 1, ON, 4, 7, "active")
    assert a.last_day == date(2026, 3, 29)                       # 4 weeks from Monday 2 March
    warns = {(f.rule_id, f.exercise_id) for f in result.findings if f.level == "warn"}
    assert warns == {("pregnancy_supine_from_week_20", "supported-leg-drop"),
                     ("pregnancy_supine_from_week_20", "glute-bridge")}
    reviews = store.rows("SELECT rule_id, exercise_id, level, override_reason, reviewed_by FROM safety_reviews"
                         " WHERE assignment_id = ?", [a.id])
    assert len(reviews) == len(result.findings)
    assert all(r[3] is None and r[4] == "cli" for r in reviews)
    assert store.rows("SELECT event, effective_date, actor FROM assignment_events WHERE assignment_id = ?",
                      [a.id]) == [("assigned", ON, "cli")]
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'assignment_assigned'") == 1


def test_a_block_without_override_writes_nothing(store: Store) -> None:
    bo = client(store, segments=["desk_worker"], flags=["saddle_numbness"])
    before = counts(store)
    for reason in (None, "", "   "):
        with pytest.raises(assignments.SafetyBlocked) as blocked:
            assignments.assign(store, bo.id, "desk-micro-breaks", ON, "cli", ON, override_reason=reason)
        assert [f.rule_id for f in assignments.blocks(blocked.value.findings)] == ["low_back_red_flag"]
    assert counts(store) == before
    result = assignments.assign(store, bo.id, "desk-micro-breaks", ON, "cli", ON, override_reason="GP saw her today, cleared")
    assert store.rows("SELECT level, override_reason FROM safety_reviews WHERE assignment_id = ?",
                      [result.assignment.id]) == [("block", "GP saw her today, cleared")]
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'safety_override'") == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"client_ref": "nobody"}, "unknown client"),
    ({"routine_id": "nope"}, "unknown routine"),
    ({"version": 7}, "no version 7"),
    ({"sessions_per_week": 0}, "sessions per week must be 1–21"),
    ({"sessions_per_week": 22}, "sessions per week must be 1–21"),
    ({"weeks": 53}, "weeks must be 1–52"),
    ({"on": ON + timedelta(days=28)}, "after the program's last day"),
])
def test_bad_assignments_write_nothing(store: Store, kwargs: dict, message: str) -> None:
    ana = client(store, segments=["runner"])
    args = {"client_ref": ana.code, "routine_id": "four-stretch-routine", "start": ON, "actor": "cli", "on": ON} | kwargs
    before = counts(store)
    with pytest.raises(assignments.AssignmentError, match=message):
        assignments.assign(store, **args)
    assert counts(store) == before


def test_archived_clients_and_twins_are_refused(store: Store) -> None:
    ana = client(store, segments=["runner"])
    assignments.assign(store, ana.code, "four-stretch-routine", ON, "cli", ON)
    with pytest.raises(assignments.AssignmentError, match="already has"):
        assignments.assign(store, ana.code, "four-stretch-routine", ON + timedelta(days=7), "cli", ON + timedelta(days=7))
    # after the first program, the same routine can be given again
    later = assignments.assign(store, ana.code, "four-stretch-routine", ON + timedelta(days=28), "cli", ON + timedelta(days=28))
    assert later.assignment.start_date == date(2026, 3, 30)
    clients.archive_client(store, ana.id, "cli")
    with pytest.raises(assignments.AssignmentError, match="archived"):
        assignments.assign(store, ana.code, "daily-psoas-routine", ON, "cli", ON)


def test_viewers_cannot_assign(store: Store) -> None:
    auth.create_user(store, "cli", "vera", "viewer", email="vera@example.org")
    ana = client(store, segments=["runner"])
    before = counts(store)
    with pytest.raises(auth.PermissionDenied):
        assignments.assign(store, ana.code, "four-stretch-routine", ON, "vera", ON)
    assert counts(store) == before


def test_findings_ahead_show_what_starts_mid_program(store: Store) -> None:
    ana = client(store, 18)   # 18+0 on ON: week 20 starts on ON + 14 days
    result = assignments.assign(store, ana.code, "pregnancy-first-trimester", ON, "cli", ON)
    assert not [f for f in result.findings if f.level == "warn"]
    assert [(day, f.rule_id, f.exercise_id) for day, f in result.ahead] == [
        (ON + timedelta(days=14), "pregnancy_supine_from_week_20", "glute-bridge")]


# -- end, pause, resume ---------------------------------------------------------------------------------------

def test_end_early(store: Store) -> None:
    a = assignments.assign(store, client(store, segments=["runner"]).code, "four-stretch-routine", ON, "cli", ON).assignment
    with pytest.raises(assignments.AssignmentError, match="before the start"):
        assignments.end_assignment(store, a.id, ON - timedelta(days=1), "cli")
    with pytest.raises(assignments.AssignmentError, match="after the planned end"):
        assignments.end_assignment(store, a.id, a.planned_end + timedelta(days=1), "cli")
    ended = assignments.end_assignment(store, a.id, ON + timedelta(days=9), "cli", note="moved away")
    assert (ended.status, ended.end_date, ended.last_day) == ("ended", date(2026, 3, 11), date(2026, 3, 11))
    with pytest.raises(assignments.AssignmentError, match="is ended, not active"):
        assignments.end_assignment(store, a.id, ON + timedelta(days=10), "cli")
    assert states(store, ended.client_id, ON)[a.id] == "ended"


def test_pause_and_resume(store: Store) -> None:
    ana = client(store, segments=["runner"])
    a = assignments.assign(store, ana.code, "four-stretch-routine", ON, "cli", ON).assignment
    with pytest.raises(assignments.AssignmentError, match="inside the program"):
        assignments.pause_assignment(store, a.id, ON - timedelta(days=1), "cli")
    assignments.pause_assignment(store, a.id, ON + timedelta(days=5), "cli")
    assert states(store, ana.id, ON + timedelta(days=6))[a.id] == "paused"
    assert states(store, ana.id, ON + timedelta(days=4))[a.id] == "active"
    with pytest.raises(assignments.AssignmentError, match="already paused"):
        assignments.pause_assignment(store, a.id, ON + timedelta(days=6), "cli")
    with pytest.raises(assignments.AssignmentError, match="before the pause began"):
        assignments.resume_assignment(store, a.id, ON + timedelta(days=4), "cli")
    assignments.resume_assignment(store, a.id, ON + timedelta(days=12), "cli")     # sessions again from day 12
    assert store.rows("SELECT paused_from, paused_until FROM assignment_pauses") == [
        (date(2026, 3, 7), date(2026, 3, 13))]
    with pytest.raises(assignments.AssignmentError, match="not paused"):
        assignments.resume_assignment(store, a.id, ON + timedelta(days=13), "cli")
    with pytest.raises(assignments.AssignmentError, match="earlier pause runs until 2026-03-13"):
        assignments.pause_assignment(store, a.id, ON + timedelta(days=10), "cli")
    # a pause resumed on its first day is undone
    assignments.pause_assignment(store, a.id, ON + timedelta(days=20), "cli")
    assignments.resume_assignment(store, a.id, ON + timedelta(days=20), "cli")
    assert store.scalar("SELECT count(*) FROM assignment_pauses") == 1
    # ending closes an open pause at the last day
    assignments.pause_assignment(store, a.id, ON + timedelta(days=22), "cli")
    assignments.end_assignment(store, a.id, ON + timedelta(days=24), "cli")
    assert store.scalar("SELECT max(paused_until) FROM assignment_pauses") == date(2026, 3, 26)
    events = [e for (e,) in store.rows("SELECT event FROM assignment_events WHERE assignment_id = ? ORDER BY id", [a.id])]
    assert events == ["assigned", "paused", "resumed", "paused", "resumed", "paused", "ended"]


def test_states_over_time(store: Store) -> None:
    ana = client(store, segments=["runner"])
    a = assignments.assign(store, ana.code, "four-stretch-routine", ON + timedelta(days=7), "cli", ON + timedelta(days=7)).assignment
    assert states(store, ana.id, ON)[a.id] == "upcoming"
    assert states(store, ana.id, ON + timedelta(days=7))[a.id] == "active"
    assert states(store, ana.id, a.last_day + timedelta(days=1))[a.id] == "finished"
    assert assignments.current_assignments(store, ana.id, ON) == [assignments.get_assignment(store, a.id)]
    assert assignments.current_assignments(store, ana.id, a.last_day + timedelta(days=1)) == []


# -- replace and move to the latest version --------------------------------------------------------------------

def test_replace_ends_the_old_one_the_day_before(store: Store) -> None:
    ana = client(store, segments=["runner"])
    old = assignments.assign(store, ana.code, "four-stretch-routine", ON, "cli", ON).assignment
    with pytest.raises(assignments.AssignmentError, match="before the current start"):
        assignments.replace_assignment(store, old.id, "runner-warm-up-cool-down", ON - timedelta(days=1), "cli", ON)
    result = assignments.replace_assignment(store, old.id, "runner-warm-up-cool-down", ON + timedelta(days=10), "cli",
                                  ON + timedelta(days=10))
    replaced = assignments.get_assignment(store, old.id)
    assert (replaced.status, replaced.end_date, replaced.replaced_by) == ("replaced", date(2026, 3, 11),
                                                                          result.assignment.id)
    assert result.assignment.routine_id == "runner-warm-up-cool-down" and result.replaced.id == old.id
    assert states(store, ana.id, ON + timedelta(days=10)) == {old.id: "replaced", result.assignment.id: "active"}


def test_replace_with_a_blocked_routine_changes_nothing(store: Store) -> None:
    bo = client(store, 22)
    old = assignments.assign(store, bo.code, "pregnancy-second-trimester", ON, "cli", ON).assignment
    clients.update_client(store, bo.id, clients.client_input(clients.get_client(store, bo.id)) | {"flags": ["preeclampsia"]}, "cli", ON)
    before = counts(store)
    with pytest.raises(assignments.SafetyBlocked):
        assignments.replace_assignment(store, old.id, "pregnancy-first-trimester", ON + timedelta(days=3), "cli",
                             ON + timedelta(days=3))
    assert counts(store) == before and assignments.get_assignment(store, old.id).status == "active"


def test_assignments_keep_their_version_until_moved(store: Store) -> None:
    draft = routines.add_item(routines.add_item(routines.empty_draft("Desk hips"), "cat-cow"), "hip-circles")
    saved = routines.save_draft(store, routines.set_schedule(draft, weeks=4, sessions_per_week=3), "cli")
    ana = client(store, segments=["desk_worker"])
    old = assignments.assign(store, ana.code, saved.routine_id, ON, "cli", ON).assignment
    with pytest.raises(assignments.AssignmentError, match="already uses the latest version"):
        assignments.move_to_latest_version(store, old.id, ON + timedelta(days=8), "cli")
    routines.save_draft(store, routines.add_item(routines.load_draft(store, saved.routine_id), "glute-bridge"), "cli")   # version 2
    assert assignments.get_assignment(store, old.id).routine_version == 1
    row = assignments.list_assignments(store, ana.id, ON)[0]
    assert (row["version"], row["newer_version"]) == (1, True)
    moved = assignments.move_to_latest_version(store, old.id, ON + timedelta(days=8), "cli")
    new = moved.assignment
    # from 10 March to the old last day 29 March: 20 days -> 3 weeks, with the end kept at 29 March
    assert (new.routine_version, new.start_date, new.weeks, new.last_day) == (2, date(2026, 3, 10), 3, date(2026, 3, 29))
    assert assignments.get_assignment(store, old.id).end_date == date(2026, 3, 9)
    assert store.scalar("SELECT count(*) FROM safety_reviews WHERE assignment_id = ?", [new.id]) == len(moved.findings)


# -- re-checking safety after assignment ----------------------------------------------------------------------

def test_a_finding_that_starts_mid_program_shows_up_until_reviewed(store: Store) -> None:
    ana = client(store, 18)
    a = assignments.assign(store, ana.code, "pregnancy-first-trimester", ON, "cli", ON).assignment
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=13)).empty      # 19+6
    changes = assignments.safety_changes_since_assignment(store, ON + timedelta(days=20))
    assert changes[["client_id", "assignment_id", "rule_id", "exercise_id", "level"]].values.tolist() == [
        [ana.id, a.id, "pregnancy_supine_from_week_20", "glute-bridge", "warn"]]
    assert changes["since"].iloc[0].date() == date(2026, 3, 16)   # the day she reached 20+0
    assert "vena cava" in changes["reason"].iloc[0]
    new = assignments.review_assignment_safety(store, a.id, ON + timedelta(days=20), "cli")
    assert [f.rule_id for f in new] == ["pregnancy_supine_from_week_20"]
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=20)).empty
    assert assignments.unreviewed_findings(store, a.id, ON + timedelta(days=20)) == []


def test_safety_findings_are_kept_with_the_days_they_hold(store: Store) -> None:
    from core.db.store import PRACTICE

    ana, ben = client(store, 18), client(store, 18)       # 18+0 on Monday 2 March: 19+0 on 9 March, 20+0 on 16 March
    a = assignments.assign(store, ana.code, "pregnancy-first-trimester", ON, "cli", ON).assignment
    b = assignments.assign(store, ben.code, "pregnancy-first-trimester", ON, "cli", ON).assignment

    def kept() -> list[tuple]:
        return store.rows("SELECT assignment_id, valid_from, valid_until FROM assignment_safety_checks ORDER BY 1")

    version = store.version
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=3)).empty
    assert kept() == [(a.id, date(2026, 3, 5), date(2026, 3, 9)), (b.id, date(2026, 3, 5), date(2026, 3, 9))]
    assert store.version == version   # keeping what a reader found changes no data: cached pages stay
    # Within those days the kept rows are read, not the rules: a row planted there is what comes back.
    with store.transaction(touches=(PRACTICE,), clients=()) as cur:
        cur.execute("INSERT INTO assignment_safety_findings VALUES (?, ?, 'planted', NULL, 'note', 'kept row', ?)",
                    [a.id, ana.id, ON])
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=6))["rule_id"].tolist() == ["planted"]
    # A new pregnancy week: checked again, kept for that week; the week-20 warning from 16 March.
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=7)).empty
    assert kept() == [(a.id, date(2026, 3, 9), date(2026, 3, 16)), (b.id, date(2026, 3, 9), date(2026, 3, 16))]
    assert set(assignments.safety_changes_since_assignment(store, ON + timedelta(days=14))["client_id"]) == {ana.id, ben.id}
    # A write to Ana makes her rows out of date only (her safety generation); a library change, all.
    def plant() -> None:
        with store.transaction(touches=(PRACTICE,), clients=(), changes_data=False) as cur:
            cur.execute("DELETE FROM assignment_safety_findings WHERE rule_id = 'planted'")
            for assignment, person in ((a, ana), (b, ben)):
                cur.execute("INSERT INTO assignment_safety_findings VALUES (?, ?, 'planted', NULL, 'note', 'kept row', ?)",
                            [assignment.id, person.id, ON])

    def planted(day: date) -> set[int]:
        found = assignments.safety_changes_since_assignment(store, day)
        return set(found.loc[found["rule_id"] == "planted", "client_id"])

    plant()
    assert planted(ON + timedelta(days=15)) == {ana.id, ben.id}
    clients.update_client(store, ana.id, clients.client_input(ana) | {"flags": ["knee_pain"]}, "cli", ON)
    assert planted(ON + timedelta(days=15)) == {ben.id}     # Ana checked again by the rules, Ben read
    plant()
    routines.save_draft(store, routines.add_item(routines.empty_draft("Another"), "cat-cow"), "cli")
    assert planted(ON + timedelta(days=15)) == set()


def test_a_write_while_a_reader_keeps_findings_is_not_hidden(store: Store, monkeypatch) -> None:
    """The reader's transaction began, then a write to the client committed (finding no kept rows to
    drop), then the reader kept findings computed without it: they are out of date at once."""
    from contextlib import contextmanager

    from core.sessions.checks import log_session

    ana = client(store, 18)
    a = assignments.assign(store, ana.code, "pregnancy-first-trimester", ON, "cli", ON).assignment
    real, raced = store.transaction, []

    @contextmanager
    def write_meanwhile(*args, **kwargs):
        with real(*args, **kwargs) as cur:
            if not raced and kwargs.get("changes_data") is False:  # the reader keeping findings
                raced.append(True)
                cur.execute("SELECT count(*) FROM clients").fetchall()  # its snapshot begins (DuckDB: at first read)
                clients.update_client(store, ana.id, clients.client_input(ana) | {"flags": ["knee_pain"]}, "cli", ON)
            yield cur

    monkeypatch.setattr(store, "transaction", write_meanwhile)
    assignments.safety_changes_since_assignment(store, ON + timedelta(days=3))
    monkeypatch.setattr(store, "transaction", real)
    assert raced
    current = ("SELECT count(*) FROM assignment_safety_checks k JOIN figure_generations g USING (client_id)"
               " WHERE k.assignment_id = ? AND k.generation = g.safety_generation")
    assert store.scalar(current, [a.id]) == 0   # kept at the generation before the write
    assignments.safety_changes_since_assignment(store, ON + timedelta(days=3))
    assert store.scalar(current, [a.id]) == 1   # so the next reader checked the rules again
    # a session log changes no safety finding: the kept rows stay current
    log_session(store, {"client": ana.code, "session_date": ON + timedelta(days=2), "pain_before": 2}, "cli",
                ON + timedelta(days=3))
    assert store.scalar(current, [a.id]) == 1


def test_a_flag_added_later_is_dated_by_when_it_was_added(store: Store) -> None:
    today = clock.today()
    ana = client(store, segments=["runner"])
    a = assignments.assign(store, ana.code, "four-stretch-routine", today - timedelta(days=3), "cli", today - timedelta(days=3))
    clients.update_client(store, ana.id, clients.client_input(ana) | {"flags": ["knee_pain"]}, "cli", today)
    changes = assignments.safety_changes_since_assignment(store, today)
    assert set(changes["exercise_id"]) == {"kneeling-hip-flexor-stretch", "pigeon-pose"}
    assert set(changes["assignment_id"]) == {a.assignment.id}
    assert set(changes["since"].dt.date) == {min(utcnow().date(), today)}
    # a new block needs an override reason when it is reviewed
    clients.update_client(store, ana.id, clients.client_input(clients.get_client(store, ana.id)) | {"flags": ["saddle_numbness"]},
                    "cli", today)
    with pytest.raises(assignments.SafetyBlocked):
        assignments.review_assignment_safety(store, a.assignment.id, today, "cli")
    assert len(assignments.review_assignment_safety(store, a.assignment.id, today, "cli", "referred, GP cleared")) == 1


def test_ended_and_archived_assignments_are_not_rechecked(store: Store) -> None:
    ana, ben = client(store, 18), client(store, 18)
    a = assignments.assign(store, ana.code, "pregnancy-first-trimester", ON, "cli", ON).assignment
    assignments.assign(store, ben.code, "pregnancy-first-trimester", ON, "cli", ON)
    assignments.end_assignment(store, a.id, ON + timedelta(days=16), "cli")
    clients.archive_client(store, ben.id, "cli")
    assert assignments.safety_changes_since_assignment(store, ON + timedelta(days=15)).empty


def test_bulk_loaded_assignments_get_their_start_reviewed_once(store: Store) -> None:
    ana = client(store, 22)
    assignment_id = add_assignment(store, ana.id, "daily-psoas-routine", ON)    # bypasses assign()
    assert set(assignments.safety_changes_since_assignment(store, ON)["assignment_id"]) == {assignment_id}
    assert assignments.review_unreviewed_assignments(store, "demo", "demo data") == 1
    assert assignments.safety_changes_since_assignment(store, ON).empty
    assert store.scalar("SELECT count(*) FROM safety_reviews WHERE assignment_id = ?", [assignment_id]) > 0
    assert assignments.review_unreviewed_assignments(store, "demo", "demo data") == 0


def test_one_clients_safety_changes_agree_with_the_practice_wide_check(store: Store) -> None:
    ana, ben = client(store, 18), client(store, 18)
    for c in (ana, ben):
        assignments.assign(store, c.code, "pregnancy-first-trimester", ON, "cli", ON)
    later = ON + timedelta(days=20)
    alone = assignments.safety_changes_since_assignment(store, later, client_ids=ana.id)      # computed for Ana only
    everyone = assignments.safety_changes_since_assignment(store, later)                      # then the others
    reused = assignments.safety_changes_since_assignment(store, later, client_ids=[ana.id])
    assert set(everyone["client_id"]) == {ana.id, ben.id}
    assert alone.to_dict("records") == reused.to_dict("records") != []
    assert set(alone["client_id"]) == {ana.id}
