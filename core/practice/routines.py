"""Routines: stored versions, the builder's editing operations, and how long a session takes.

A routine's content (schedule and items) lives in numbered versions. Saving an edit always writes a
new version, so a client assigned version 2 keeps exactly version 2 until staff move the assignment
on. Templates belong to their files under data/routines (a changed file becomes a new version on
the next library sync), so the builder saves an edited template as a new custom routine.

An item's dose fields that are empty fall back to the exercise's own dose: stored versions resolve
that with COALESCE in SQL, drafts in the builder with ``merge_dose``; tests hold the two together.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from uuid import uuid4

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.access.auth import STAFF_WRITERS, require_role
from core.practice.clients import validation_message
from core.library.content import DOSE_LIMITS, Dose, Range, RoutineAudience, Schedule
from core.library.search import dose_dict, format_dose
from core.db.store import LIBRARY, Store, utcnow

TRANSITION_S = 15        # getting into position and changing between exercises
BREATH_S = 5             # one slow breath
DEFAULT_SECONDS_PER_REP = 3.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DOSE_COLUMNS = ("hold_min_s", "hold_max_s", "reps_min", "reps_max", "sets_min", "sets_max",
                 "breaths_min", "breaths_max", "per_side", "seconds_per_rep")
_RANGES = {"hold_s": ("hold_min_s", "hold_max_s"), "reps": ("reps_min", "reps_max"),
           "sets": ("sets_min", "sets_max"), "breaths": ("breaths_min", "breaths_max")}


_DOSE_WORDS = {"hold_s": ("hold", " s", DOSE_LIMITS["hold_s"]), "reps": ("reps", "", DOSE_LIMITS["reps"]),
               "sets": ("sets", "", DOSE_LIMITS["sets"]), "breaths": ("breaths", "", DOSE_LIMITS["breaths"])}


class RoutineError(ValueError):
    """Bad routine input or an unknown routine; the message is written for staff."""


# -- duration ------------------------------------------------------------------------------------

def _mid(pair: list[int] | None) -> float:
    return (pair[0] + pair[1]) / 2 if pair else 0.0


def item_seconds(dose: dict[str, Any]) -> float:
    """Seconds one item takes at the middle of its dose ranges.

    sets x sides x (hold + reps x seconds per rep + breaths x 5 s), plus one transition. Sets
    default to 1; reps without a time per rep count 3 s each.
    """
    sets = _mid(dose.get("sets")) or 1.0
    sides = 2 if dose.get("per_side") else 1
    per_rep = dose.get("seconds_per_rep") or DEFAULT_SECONDS_PER_REP
    work = _mid(dose.get("hold_s")) + _mid(dose.get("reps")) * per_rep + _mid(dose.get("breaths")) * BREATH_S
    return sets * sides * work + TRANSITION_S


def estimate_minutes(doses: list[dict[str, Any]]) -> float:
    """Minutes for one run through the items, to one decimal."""
    return round(sum(item_seconds(d) for d in doses) / 60, 1)


def minutes_by_slot(items: list[dict[str, Any]]) -> dict[str, float]:
    """Minutes per slot (morning, before_run, ...) for routines split over the day or a run."""
    slots: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        slots.setdefault(item.get("slot") or "", []).append(item["dose"])
    return {slot: estimate_minutes(doses) for slot, doses in slots.items() if slot}


# -- schedule ------------------------------------------------------------------------------------

def schedule_text(sessions_per_week: int, weeks: int, weekdays: str | list[str] | None = None,
                  times_per_day: int = 1) -> str:
    """How staff and clients say it: "3 sessions a week for 4 weeks", "Mon, Wed, Fri, 3 times a day"."""
    days = weekdays.split(",") if isinstance(weekdays, str) else (weekdays or [])
    if days:
        when = ", ".join(d.strip().capitalize() for d in days)
    else:
        when = f"{sessions_per_week} session{'s' if sessions_per_week != 1 else ''} a week"
    if times_per_day > 1:
        when += f" ({times_per_day} times a day)" if not days else f", {times_per_day} times a day"
    return f"{when} for {weeks} week{'s' if weeks != 1 else ''}"


def schedule_from_version(sessions_per_week: int, weekdays: str | None, times_per_day: int, weeks: int) -> Schedule:
    """Rebuild the builder's schedule from a stored version (which holds the weekly total)."""
    days = [d for d in (weekdays or "").split(",") if d]
    if days:
        return Schedule(weekdays=days, times_per_day=times_per_day, weeks=weeks)
    per_week = max(1, sessions_per_week // max(1, times_per_day))
    return Schedule(sessions_per_week=per_week, times_per_day=times_per_day, weeks=weeks)


# -- drafts and the builder's operations ---------------------------------------------------------

class DraftItem(BaseModel):
    """One exercise in a routine being built. ``uid`` is a stable handle while editing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uid: str = Field(default_factory=lambda: uuid4().hex[:10])
    exercise_id: str
    slot: str | None = None
    dose: Dose | None = None
    note: str | None = None


class RoutineDraft(BaseModel):
    """A routine as the builder holds it: unsaved until ``save_draft``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routine_id: str | None = None
    origin: str | None = None
    based_on_version: int | None = None
    name: str = Field(default="New routine", min_length=1, max_length=120)
    audience: RoutineAudience = "general"
    description: str = ""
    schedule: Schedule = Schedule(sessions_per_week=3, weeks=4)
    items: tuple[DraftItem, ...] = ()

    def exercise_slots(self) -> list[tuple[str, str | None]]:
        """(exercise_id, slot) per item, in order: what the safety rules look at."""
        return [(item.exercise_id, item.slot) for item in self.items]

    def content_key(self) -> str:
        """A hash of what a version holds (schedule and items), to skip saving an unchanged draft."""
        payload = {
            "schedule": self.schedule.model_dump(mode="json"),
            "items": [item.model_dump(mode="json", exclude={"uid"}) for item in self.items],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def empty_draft(name: str = "New routine") -> RoutineDraft:
    return RoutineDraft(name=name)


def _index(draft: RoutineDraft, uid: str) -> int:
    for i, item in enumerate(draft.items):
        if item.uid == uid:
            return i
    raise RoutineError(f"no item {uid!r} in this routine")


def add_item(draft: RoutineDraft, exercise_id: str, slot: str | None = None) -> RoutineDraft:
    """Append an exercise with its usual dose."""
    return draft.model_copy(update={"items": (*draft.items, DraftItem(exercise_id=exercise_id, slot=slot or None))})


def remove_item(draft: RoutineDraft, uid: str) -> RoutineDraft:
    i = _index(draft, uid)
    return draft.model_copy(update={"items": draft.items[:i] + draft.items[i + 1:]})


def move_item(draft: RoutineDraft, uid: str, offset: int) -> RoutineDraft:
    """Move an item up (offset < 0) or down; moves past either end stop at the end."""
    items = list(draft.items)
    i = _index(draft, uid)
    j = max(0, min(len(items) - 1, i + offset))
    items.insert(j, items.pop(i))
    return draft.model_copy(update={"items": tuple(items)})


def dose_from_fields(hold_s: tuple[int | None, int | None] | None = None,
                     reps: tuple[int | None, int | None] | None = None,
                     sets: tuple[int | None, int | None] | None = None,
                     breaths: tuple[int | None, int | None] | None = None,
                     per_side: bool | None = None) -> Dose | None:
    """A dose override from the builder's inputs; a range left empty falls back to the exercise.

    A range with only one end filled in is read as that single value.
    """
    values: dict[str, Any] = {}
    for name, pair in (("hold_s", hold_s), ("reps", reps), ("sets", sets), ("breaths", breaths)):
        lo, hi = pair if pair else (None, None)
        if lo is None and hi is None:
            continue
        values[name] = [lo if lo is not None else hi, hi if hi is not None else lo]
        label, unit, limit = _DOSE_WORDS[name]
        if max(values[name]) > limit:
            raise RoutineError(f"{label} of {max(values[name])}{unit} is more than the limit of {limit}{unit}"
                               + (" (10 minutes)" if name == "hold_s" else "") + ": check the number")
        if min(values[name]) < 1:
            raise RoutineError(f"{label} must be at least 1")
        if values[name][0] > values[name][1]:
            raise RoutineError(f"{label}: the lower end {values[name][0]} is above the upper end {values[name][1]}")
    if per_side is not None:
        values["per_side"] = per_side
    if not values:
        return None
    try:
        return Dose.model_validate(values)
    except ValidationError as exc:
        raise RoutineError(f"dose: {validation_message(exc)}") from exc


def set_item(draft: RoutineDraft, uid: str, *, dose: Dose | None = None, slot: str | None = None,
             note: str | None = None) -> RoutineDraft:
    """Replace an item's dose override, slot and note."""
    i = _index(draft, uid)
    item = draft.items[i].model_copy(update={"dose": dose, "slot": (slot or "").strip() or None,
                                             "note": (note or "").strip() or None})
    return draft.model_copy(update={"items": draft.items[:i] + (item,) + draft.items[i + 1:]})


def set_schedule(draft: RoutineDraft, *, weeks: int, sessions_per_week: int | None = None,
                 weekdays: list[str] | None = None, times_per_day: int = 1) -> RoutineDraft:
    """Sessions per week or fixed weekdays, times per day and the program length in weeks."""
    try:
        schedule = Schedule(sessions_per_week=None if weekdays else sessions_per_week,
                            weekdays=list(weekdays) if weekdays else None, times_per_day=times_per_day, weeks=weeks)
    except ValidationError as exc:
        raise RoutineError(f"schedule: {validation_message(exc)}") from exc
    return draft.model_copy(update={"schedule": schedule})


def set_details(draft: RoutineDraft, *, name: str, audience: str, description: str = "") -> RoutineDraft:
    try:
        return RoutineDraft.model_validate(
            draft.model_dump() | {"name": name.strip(), "audience": audience, "description": description.strip()})
    except ValidationError as exc:
        raise RoutineError(validation_message(exc)) from exc


# -- effective doses -----------------------------------------------------------------------------

def _dose_columns(dose: Dose | None) -> dict[str, Any]:
    columns: dict[str, Any] = dict.fromkeys(_DOSE_COLUMNS)
    if dose is None:
        return columns
    for name, (lo, hi) in _RANGES.items():
        value: Range | None = getattr(dose, name)
        if value is not None:
            columns[lo], columns[hi] = value.min, value.max
    columns["per_side"], columns["seconds_per_rep"] = dose.per_side, dose.seconds_per_rep
    return columns


def _dose_from_columns(row: dict[str, Any]) -> Dose | None:
    """A stored item's own dose columns as an override (None when it has none)."""
    values = {k: v for k, v in dose_dict(row).items() if v is not None}
    return Dose.model_validate(values) if values else None


def merge_dose(exercise_row: dict[str, Any], override: Dose | None) -> dict[str, Any]:
    """The dose columns an item really uses: its own where set, else the exercise's."""
    own = _dose_columns(override)
    return {c: own[c] if own[c] is not None else exercise_row.get(c) for c in _DOSE_COLUMNS}


def _exercise_rows(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = store.records(
        f"SELECT id, name, kind, position, active, {', '.join(_DOSE_COLUMNS)} FROM exercises"
        f" WHERE id IN ({', '.join('?' * len(ids))})", ids)
    return {row["id"]: row for row in rows}


def _item_view(position: int, exercise_id: str, name: str, body_position: str, slot: str | None,
               note: str | None, columns: dict[str, Any], uid: str | None = None) -> dict[str, Any]:
    dose = dose_dict(columns)
    return {
        "uid": uid, "position": position, "exercise_id": exercise_id, "name": name,
        "body_position": body_position, "slot": slot, "note": note, "dose": dose,
        "dose_text": format_dose(columns), "est_seconds": item_seconds(dose),
    }


def draft_items(store: Store, draft: RoutineDraft) -> list[dict[str, Any]]:
    """The draft's items with names, effective doses, seconds and the exercise's usual dose, in order."""
    rows = _exercise_rows(store, sorted({i.exercise_id for i in draft.items}))
    missing = [i.exercise_id for i in draft.items if i.exercise_id not in rows]
    if missing:
        raise RoutineError(f"unknown exercise(s): {', '.join(missing)}")
    return [
        _item_view(n, item.exercise_id, rows[item.exercise_id]["name"], rows[item.exercise_id]["position"],
                   item.slot, item.note, merge_dose(rows[item.exercise_id], item.dose), item.uid)
        | {"exercise_dose": dose_dict(rows[item.exercise_id])}
        for n, item in enumerate(draft.items)
    ]


_VERSION_ITEMS_SQL = f"""
    SELECT i.routine_id, i.version, i.position, i.exercise_id, e.name, e.position AS body_position, i.slot, i.note,
           {', '.join(f'coalesce(i.{c}, e.{c}) AS {c}' for c in _DOSE_COLUMNS)}
    FROM routine_items i JOIN exercises e ON e.id = i.exercise_id
"""


def _items_from_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        _item_view(int(r["position"]), r["exercise_id"], r["name"], r["body_position"], r["slot"], r["note"], r)
        for r in rows
    ]


# -- stored routines -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutineVersion:
    """One version of a routine with its items at their effective doses."""

    routine_id: str
    name: str
    audience: str
    description: str | None
    origin: str
    version: int
    current_version: int
    sessions_per_week: int
    weekdays: str | None
    times_per_day: int
    weeks: int
    items: tuple[dict[str, Any], ...]
    archived: bool = False

    @property
    def est_minutes(self) -> float:
        return estimate_minutes([i["dose"] for i in self.items])

    @property
    def minutes_by_slot(self) -> dict[str, float]:
        return minutes_by_slot(list(self.items))

    @property
    def schedule_text(self) -> str:
        return schedule_text(self.sessions_per_week, self.weeks, self.weekdays, self.times_per_day)


def get_version(store: Store, routine_id: str, version: int | None = None) -> RoutineVersion:
    """A routine at ``version`` (default: its current one); RoutineError when it does not exist."""
    head = store.rows(
        "SELECT id, name, audience, description, origin, current_version, archived_at FROM routines WHERE id = ?",
        [routine_id])
    if not head:
        raise RoutineError(f"unknown routine '{routine_id}'")
    rid, name, audience, description, origin, current, archived_at = head[0]
    version = current if version is None else version
    found = store.rows(
        "SELECT sessions_per_week, weekdays, times_per_day, weeks FROM routine_versions"
        " WHERE routine_id = ? AND version = ?", [rid, version])
    if not found:
        raise RoutineError(f"routine '{rid}' has no version {version} (current: {current})")
    items = _items_from_records(store.records(
        _VERSION_ITEMS_SQL + " WHERE i.routine_id = ? AND i.version = ? ORDER BY i.position", [rid, version]))
    return RoutineVersion(rid, name, audience, description, origin, version, current, *found[0],
                          items=tuple(items), archived=archived_at is not None)


def load_draft(store: Store, routine_id: str, version: int | None = None) -> RoutineDraft:
    """A stored routine as an editable draft (item overrides stay overrides)."""
    v = get_version(store, routine_id, version)
    rows = store.records(
        f"SELECT exercise_id, slot, note, {', '.join(_DOSE_COLUMNS)} FROM routine_items"
        " WHERE routine_id = ? AND version = ? ORDER BY position", [v.routine_id, v.version])
    items = tuple(
        DraftItem(exercise_id=r["exercise_id"], slot=r["slot"], note=r["note"], dose=_dose_from_columns(r))
        for r in rows
    )
    return RoutineDraft(
        routine_id=v.routine_id, origin=v.origin, based_on_version=v.version, name=v.name,
        audience=v.audience, description=v.description or "",
        schedule=schedule_from_version(v.sessions_per_week, v.weekdays, v.times_per_day, v.weeks), items=items)


def list_routines(store: Store, include_archived: bool = False) -> list[dict[str, Any]]:
    """Every routine at its current version: the CLI's ``routines list`` and the builder's table."""
    rows = store.records(
        f"""
        SELECT r.id, r.name AS routine_name, r.audience, r.origin, r.current_version, r.archived_at,
               v.sessions_per_week, v.weekdays, v.times_per_day, v.weeks, it.*
        FROM routines r
        JOIN routine_versions v ON v.routine_id = r.id AND v.version = r.current_version
        JOIN ({_VERSION_ITEMS_SQL}) it ON it.routine_id = r.id AND it.version = r.current_version
        WHERE {'TRUE' if include_archived else 'r.archived_at IS NULL'}
        ORDER BY lower(r.name), r.id, it.position
        """
    )
    routines = []
    for routine_id, group in groupby(rows, key=lambda r: r["id"]):
        group = list(group)
        head = group[0]
        items = _items_from_records(group)
        routines.append({
            "id": routine_id,
            "name": head["routine_name"],
            "audience": head["audience"],
            "origin": head["origin"],
            "version": int(head["current_version"]),
            "items": [{"exercise_id": i["exercise_id"], "dose": i["dose"], "slot": i["slot"]} for i in items],
            "sessions_per_week": int(head["sessions_per_week"]),
            "weekdays": head["weekdays"],
            "times_per_day": int(head["times_per_day"]),
            "weeks": int(head["weeks"]),
            "est_minutes": estimate_minutes([i["dose"] for i in items]),
            "archived": head["archived_at"] is not None,
        })
    return routines


def routine_choices(store: Store) -> dict[str, str]:
    """Routine id -> "name (vN)" for pickers, templates and custom routines alike."""
    return {rid: f"{name} (v{version})" for rid, name, version in store.rows(
        "SELECT id, name, current_version FROM routines WHERE archived_at IS NULL ORDER BY lower(name)")}


def assigned_blocks(store: Store, client_code: str) -> list[str]:
    """The blocks (item slots, in item order, one per spelling that ignores case, as the checks
    match them) of the routines in the client's active assignments: what a session logged by hand
    may name as its block of a day plan. Empty when no assigned routine is split into slots."""
    return [slot for (slot,) in store.rows(
        """
        SELECT arg_min(i.slot, i.position) FROM assignments a
        JOIN clients c ON c.id = a.client_id
        JOIN routine_items i ON i.routine_id = a.routine_id AND i.version = a.routine_version
        WHERE lower(c.code) = lower(?) AND a.status = 'active' AND i.slot IS NOT NULL
        GROUP BY lower(i.slot) ORDER BY min(a.start_date), min(i.position)
        """, [client_code])]


def block_label(slot: str) -> str:
    """A block as people read it: "before_run" -> "Before run"."""
    text = slot.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-")
    return slug or "routine"


def _free_id(store: Store, name: str) -> str:
    base = _slug(name)
    taken = {i for (i,) in store.rows("SELECT id FROM routines WHERE id = ? OR id LIKE ?", [base, base + "-%"])}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@dataclass(frozen=True)
class SavedRoutine:
    routine_id: str
    version: int
    created_version: bool


def _check_draft(store: Store, draft: RoutineDraft) -> None:
    if not draft.items:
        raise RoutineError("a routine needs at least one exercise")
    rows = _exercise_rows(store, sorted({i.exercise_id for i in draft.items}))
    unknown = [i.exercise_id for i in draft.items if i.exercise_id not in rows]
    if unknown:
        raise RoutineError(f"unknown exercise(s): {', '.join(unknown)}")
    retired = sorted({i.exercise_id for i in draft.items if not rows[i.exercise_id]["active"]})
    if retired:
        raise RoutineError(f"no longer in the library: {', '.join(retired)}; replace them first")


def _insert_version(cur: Any, routine_id: str, version: int, draft: RoutineDraft, actor: str) -> None:
    s = draft.schedule
    cur.execute(
        "INSERT INTO routine_versions (routine_id, version, sessions_per_week, weekdays, times_per_day, weeks,"
        " content_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [routine_id, version, s.weekly_sessions, ",".join(s.weekdays) if s.weekdays else None,
         s.times_per_day, s.weeks, draft.content_key(), actor, utcnow()])
    columns = ", ".join(_DOSE_COLUMNS)
    cur.executemany(
        f"INSERT INTO routine_items (routine_id, version, position, exercise_id, slot, {columns}, note)"
        f" VALUES ({', '.join('?' * (6 + len(_DOSE_COLUMNS)))})",
        [[routine_id, version, n, item.exercise_id, item.slot, *_dose_columns(item.dose).values(), item.note]
         for n, item in enumerate(draft.items)])


def save_draft(store: Store, draft: RoutineDraft, actor: str, as_new: bool = False) -> SavedRoutine:
    """Save the draft: a new custom routine, or a new version of the custom routine it edits.

    An unchanged schedule and item list writes no version (name and description still update).
    Templates are saved as a new routine: their versions come from their files.
    """
    require_role(store, actor, STAFF_WRITERS)
    _check_draft(store, draft)
    if as_new or draft.routine_id is None:
        routine_id = _free_id(store, draft.name)
        with store.transaction(touches=(LIBRARY,)) as cur:
            cur.execute(
                "INSERT INTO routines (id, name, audience, description, origin, source_file, current_version,"
                " archived_at, created_at) VALUES (?, ?, ?, ?, 'custom', NULL, 1, NULL, ?)",
                [routine_id, draft.name, draft.audience, draft.description or None, utcnow()])
            _insert_version(cur, routine_id, 1, draft, actor)
        return SavedRoutine(routine_id, 1, True)
    current = get_version(store, draft.routine_id)
    if current.origin == "template":
        raise RoutineError(
            f"'{current.name}' is a template kept in data/routines; save your changes as a new routine")
    unchanged = load_draft(store, current.routine_id).content_key() == draft.content_key()
    with store.transaction(touches=(LIBRARY,)) as cur:
        cur.execute("UPDATE routines SET name = ?, audience = ?, description = ? WHERE id = ?",
                    [draft.name, draft.audience, draft.description or None, current.routine_id])
        if unchanged:
            return SavedRoutine(current.routine_id, current.current_version, False)
        version = current.current_version + 1
        _insert_version(cur, current.routine_id, version, draft, actor)
        cur.execute("UPDATE routines SET current_version = ? WHERE id = ?", [version, current.routine_id])
    return SavedRoutine(current.routine_id, version, True)


def archive_routine(store: Store, routine_id: str, actor: str) -> None:
    """Hide a custom routine from pickers; assignments that use it keep it."""
    require_role(store, actor, STAFF_WRITERS)
    current = get_version(store, routine_id)
    if current.origin == "template":
        raise RoutineError(f"'{current.name}' is a template: remove its file from data/routines instead")
    with store.transaction(touches=(LIBRARY,)) as cur:
        cur.execute("UPDATE routines SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
                    [utcnow(), routine_id])


def version_history(store: Store, routine_id: str) -> pd.DataFrame:
    """Every version of a routine, newest first, with how many assignments use each."""
    return store.query(
        """
        SELECT v.version, v.created_at, v.created_by, v.sessions_per_week, v.weeks,
               (SELECT count(*) FROM routine_items i WHERE i.routine_id = v.routine_id AND i.version = v.version)
                   AS items,
               (SELECT count(*) FROM assignments a WHERE a.routine_id = v.routine_id
                   AND a.routine_version = v.version) AS assignments
        FROM routine_versions v WHERE v.routine_id = ? ORDER BY v.version DESC
        """, [routine_id])
