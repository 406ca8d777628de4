"""Routines: duration estimates, the builder's operations, saving versions, the routines list."""

import pytest

from core.access import auth
from core.practice import routines
from core.library.content import Dose
from core.db.store import Store


def dose(**values) -> dict:
    base = {"hold_s": None, "reps": None, "sets": None, "breaths": None, "per_side": False, "seconds_per_rep": None}
    return base | values


# -- duration -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "seconds"), [
    # 2 sets x 2 sides x 37.5 s hold + 15 s transition
    ({"hold_s": [30, 45], "sets": [2, 2], "per_side": True}, 165.0),
    # 1 set x 2 sides x 10 reps x 4 s + 15
    ({"reps": [8, 12], "sets": [1, 1], "per_side": True, "seconds_per_rep": 4.0}, 95.0),
    # 2.5 sets x 1 side x 12.5 reps x 3 s + 15
    ({"reps": [10, 15], "sets": [2, 3], "seconds_per_rep": 3.0}, 108.75),
    # 1.5 sets x 2 sides x 4 breaths x 5 s + 15
    ({"breaths": [3, 5], "sets": [1, 2], "per_side": True}, 75.0),
    # no sets: 1; reps without a time per rep: 3 s each -> 10 x 3 + 15
    ({"reps": [10, 10]}, 45.0),
    # a hold and reps together count both: 2 x (20 + 5 x 2) + 15
    ({"hold_s": [20, 20], "reps": [5, 5], "sets": [2, 2], "seconds_per_rep": 2.0}, 75.0),
])
def test_item_seconds(values: dict, seconds: float) -> None:
    assert routines.item_seconds(dose(**values)) == seconds


def test_daily_psoas_routine_takes_10_to_15_minutes_at_mid_range(store: Store) -> None:
    routine = routines.get_version(store, "daily-psoas-routine")
    # 165 + 240 + 115 + 95 + 108.75 + 140 = 863.75 s (six 15 s transitions included) = 14.4 min
    assert [i["est_seconds"] for i in routine.items] == [165.0, 240.0, 115.0, 95.0, 108.75, 140.0]
    assert routine.est_minutes == 14.4
    assert 10 <= routine.est_minutes <= 15


def test_four_stretch_routine_and_slots(store: Store) -> None:
    # 3 one-sided 25 s holds (x2 sides) + one 25 s hold + 4 transitions = 150 + 25 + 60 = 235 s
    assert routines.get_version(store, "four-stretch-routine").est_minutes == 3.9
    # morning 65 + 87 = 152 s; midday 1.5 sets x 10 reps x 3 s x 2 sides + 15 = 105 s; evening 65 + 40 = 105 s
    assert routines.get_version(store, "day-plan-morning-midday-evening").minutes_by_slot == {
        "morning": 2.5, "midday": 1.8, "evening": 1.8}


def test_sql_fallback_and_draft_merge_agree_for_every_template(store: Store) -> None:
    for routine in routines.list_routines(store):
        stored = routines.get_version(store, routine["id"])
        drafted = routines.draft_items(store, routines.load_draft(store, routine["id"]))
        assert [i["dose"] for i in drafted] == [i["dose"] for i in stored.items], routine["id"]


def test_merge_takes_only_the_fields_an_item_sets() -> None:
    exercise = {"hold_min_s": 30, "hold_max_s": 60, "reps_min": None, "reps_max": None, "sets_min": 2,
                "sets_max": 3, "breaths_min": None, "breaths_max": None, "per_side": True, "seconds_per_rep": None}
    merged = routines.merge_dose(exercise, Dose(hold_s=[20, 30]))
    assert (merged["hold_min_s"], merged["hold_max_s"], merged["sets_min"], merged["per_side"]) == (20, 30, 2, True)
    assert routines.merge_dose(exercise, Dose(per_side=False))["per_side"] is False
    assert routines.merge_dose(exercise, None) == exercise


def test_schedule_text_and_rebuilding_a_schedule() -> None:
    assert routines.schedule_text(3, 4) == "3 sessions a week for 4 weeks"
    assert routines.schedule_text(3, 1, "mon,wed,fri") == "Mon, Wed, Fri for 1 week"
    assert routines.schedule_text(15, 4, None, 3) == "15 sessions a week (3 times a day) for 4 weeks"
    # a stored version holds the weekly total: 5 days x 3 a day = 15
    rebuilt = routines.schedule_from_version(15, None, 3, 4)
    assert (rebuilt.sessions_per_week, rebuilt.times_per_day, rebuilt.weekly_sessions) == (5, 3, 15)
    assert routines.schedule_from_version(3, "mon,wed,fri", 1, 6).weekdays == ["mon", "wed", "fri"]


# -- builder operations -------------------------------------------------------------------------------

def test_add_remove_and_move_items() -> None:
    draft = routines.empty_draft()
    for exercise in ("cat-cow", "glute-bridge", "hip-circles"):
        draft = routines.add_item(draft, exercise)
    ids = lambda d: [i.exercise_id for i in d.items]  # noqa: E731
    first, second, third = (i.uid for i in draft.items)
    assert ids(routines.move_item(draft, third, -1)) == ["cat-cow", "hip-circles", "glute-bridge"]
    assert ids(routines.move_item(draft, first, -1)) == ids(draft)            # already at the top
    assert ids(routines.move_item(draft, first, 5)) == ["glute-bridge", "hip-circles", "cat-cow"]
    assert ids(routines.remove_item(draft, second)) == ["cat-cow", "hip-circles"]
    with pytest.raises(routines.RoutineError):
        routines.remove_item(draft, "no-such-uid")
    assert ids(draft) == ["cat-cow", "glute-bridge", "hip-circles"]    # drafts are immutable


def test_dose_fields_and_their_limits() -> None:
    assert routines.dose_from_fields() is None
    single = routines.dose_from_fields(hold_s=(45, None), per_side=False)
    assert (single.hold_s.min, single.hold_s.max, single.per_side) == (45, 45, False)
    with pytest.raises(routines.RoutineError, match="10 minutes"):
        routines.dose_from_fields(hold_s=(30, 601))
    with pytest.raises(routines.RoutineError, match="reps of 101"):
        routines.dose_from_fields(reps=(10, 101))
    with pytest.raises(routines.RoutineError, match="lower end 3 is above the upper end 2"):
        routines.dose_from_fields(sets=(3, 2))
    assert routines.dose_from_fields(hold_s=(600, 600)).hold_s.max == 600   # exactly 10 minutes is allowed


def test_schedule_and_details_are_validated() -> None:
    draft = routines.empty_draft()
    assert routines.set_schedule(draft, weeks=6, weekdays=["mon", "thu"], times_per_day=2).schedule.weekly_sessions == 4
    with pytest.raises(routines.RoutineError, match="sessions_per_week"):
        routines.set_schedule(draft, weeks=4, sessions_per_week=22)
    with pytest.raises(routines.RoutineError, match="weeks"):
        routines.set_schedule(draft, weeks=53, sessions_per_week=3)
    with pytest.raises(routines.RoutineError, match="name"):
        routines.set_details(draft, name="  ", audience="general")


# -- saving and versions --------------------------------------------------------------------------------

def test_save_a_new_routine_then_new_versions(store: Store) -> None:
    draft = routines.add_item(routines.add_item(routines.empty_draft("Hips after work"), "cat-cow"), "glute-bridge")
    draft = routines.set_item(draft, draft.items[1].uid, dose=routines.dose_from_fields(reps=(8, 8)), slot="evening")
    saved = routines.save_draft(store, draft, "cli")
    assert saved == routines.SavedRoutine("hips-after-work", 1, True)
    # the override is stored, the fields it leaves out stay NULL (they fall back to the exercise)
    assert store.rows("SELECT reps_min, reps_max, sets_min, slot FROM routine_items WHERE routine_id = ? AND position = 1",
                      [saved.routine_id]) == [(8, 8, None, "evening")]
    v1 = routines.get_version(store, saved.routine_id, 1)
    assert v1.items[1]["dose"]["sets"] == [2, 3] and v1.origin == "custom"

    edited = routines.load_draft(store, saved.routine_id)
    assert routines.save_draft(store, edited, "cli") == routines.SavedRoutine(saved.routine_id, 1, False)  # unchanged
    edited = routines.set_schedule(routines.add_item(edited, "hip-circles"), weeks=6, sessions_per_week=4)
    assert routines.save_draft(store, edited, "cli") == routines.SavedRoutine(saved.routine_id, 2, True)
    assert [i["exercise_id"] for i in routines.get_version(store, saved.routine_id, 1).items] == ["cat-cow", "glute-bridge"]
    v2 = routines.get_version(store, saved.routine_id)
    assert (v2.version, len(v2.items), v2.sessions_per_week, v2.weeks) == (2, 3, 4, 6)
    assert list(routines.version_history(store, saved.routine_id)["version"]) == [2, 1]
    # the same name again gets a free id
    assert routines.save_draft(store, draft, "cli", as_new=True).routine_id == "hips-after-work-2"


def test_templates_are_saved_as_new_routines(store: Store) -> None:
    template = routines.load_draft(store, "daily-psoas-routine")
    with pytest.raises(routines.RoutineError, match="save your changes as a new routine"):
        routines.save_draft(store, template, "cli")
    copy = routines.save_draft(store, routines.set_details(template, name="Daily psoas, shorter", audience="general"), "cli", as_new=True)
    assert copy == routines.SavedRoutine("daily-psoas-shorter", 1, True)
    assert routines.get_version(store, "daily-psoas-routine").current_version == 1


def test_bad_drafts_write_nothing(store: Store) -> None:
    before = store.scalar("SELECT count(*) FROM routine_versions")
    with pytest.raises(routines.RoutineError, match="at least one exercise"):
        routines.save_draft(store, routines.empty_draft(), "cli")
    with pytest.raises(routines.RoutineError, match="unknown exercise"):
        routines.save_draft(store, routines.add_item(routines.empty_draft(), "moonwalk"), "cli")
    with pytest.raises(routines.RoutineError, match="unknown routine"):
        routines.get_version(store, "nope")
    with pytest.raises(routines.RoutineError, match="no version 9"):
        routines.get_version(store, "daily-psoas-routine", 9)
    auth.create_user(store, "cli", "vera", "viewer", email="vera@example.org")
    with pytest.raises(auth.PermissionDenied):
        routines.save_draft(store, routines.add_item(routines.empty_draft(), "cat-cow"), "vera")
    assert store.scalar("SELECT count(*) FROM routine_versions") == before


def test_routines_list_shape_and_archive(store: Store) -> None:
    listed = routines.list_routines(store)
    assert {r["id"] for r in listed} >= {"daily-psoas-routine", "four-stretch-routine", "desk-micro-breaks",
                                           "pregnancy-second-trimester", "runner-warm-up-cool-down"}
    daily = next(r for r in listed if r["id"] == "daily-psoas-routine")
    assert {"id", "name", "audience", "items", "sessions_per_week", "est_minutes"} <= set(daily)
    assert daily["items"][0] == {"exercise_id": "supported-leg-drop", "slot": None, "dose": {
        "hold_s": [30, 45], "reps": None, "sets": [2, 2], "breaths": None, "per_side": True, "seconds_per_rep": None}}
    assert (daily["sessions_per_week"], daily["est_minutes"]) == (7, 14.4)
    saved = routines.save_draft(store, routines.add_item(routines.empty_draft("Temp"), "cat-cow"), "cli")
    routines.archive_routine(store, saved.routine_id, "cli")
    assert saved.routine_id not in {r["id"] for r in routines.list_routines(store)}
    assert saved.routine_id in {r["id"] for r in routines.list_routines(store, include_archived=True)}
    assert saved.routine_id not in routines.routine_choices(store)
    with pytest.raises(routines.RoutineError, match="template"):
        routines.archive_routine(store, "daily-psoas-routine", "cli")


# -- blocks of a day plan, for logging a session by hand ---------------------------------------------

def test_assigned_blocks_are_the_active_routines_slots_in_item_order(store: Store) -> None:
    from datetime import date

    from tests.practice_rows import add_assignment, add_client, add_routine

    add_routine(store, "plan", 4, slots=("evening", "morning", "Evening"))        # a 4th item has no slot
    add_routine(store, "runs", 2, slots=("before_run", "after_run"))
    add_routine(store, "old-plan", 1, slots=("noon",))
    client = add_client(store, "C1")
    add_assignment(store, client, "plan", date(2025, 3, 1))
    add_assignment(store, client, "runs", date(2025, 3, 8))
    add_assignment(store, client, "old-plan", date(2025, 1, 1), status="ended")
    add_client(store, "C2")
    assert routines.assigned_blocks(store, "c1") == ["evening", "morning", "before_run", "after_run"]
    assert routines.assigned_blocks(store, "C2") == []
    assert [routines.block_label(b) for b in ("before_run", "midday")] == ["Before run", "Midday"]
