"""Routine builder: start from a template, a saved routine or nothing; add, remove and reorder
exercises; set each item's dose and the schedule; see the minutes per session and, for a chosen
client, the safety findings. Saving writes a new version, so assigned clients keep theirs.

The draft lives in session state as a core.practice.routines.RoutineDraft; every edit goes through the
builder operations in core.practice.routines, which validate it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import clock
from core.practice import routines
from core.practice.clients import ClientFilter, list_clients
from core.library.content import Dose, library_label
from core.library.search import list_exercises
from core.practice.safety import check_items
from core.access.auth import PermissionDenied
from pages.common import can_write, current_actor, escape_markdown, get_store, render_findings, show_table

store = get_store()
today = clock.today()
AUDIENCES = ("general", "pregnant", "runner", "desk_worker")
PER_SIDE = {"default": "exercise's usual", "yes": "each side", "no": "once"}

st.title("Routine builder")
if flash := st.session_state.pop("builder_flash", None):
    st.success(flash)


def start_draft(draft: routines.RoutineDraft) -> None:
    """Put a draft in the builder; a new nonce gives every widget fresh keys and defaults."""
    st.session_state["builder_draft"] = draft
    st.session_state["builder_nonce"] = st.session_state.get("builder_nonce", 0) + 1


def set_draft(draft: routines.RoutineDraft) -> None:
    st.session_state["builder_draft"] = draft


# -- all routines and where to start -----------------------------------------------------------------

every_routine = routines.list_routines(store)
with st.expander(f"All routines ({len(every_routine)})"):
    show_table(every_routine,
               column_order=["name", "audience", "origin", "version", "sessions_per_week", "times_per_day",
                             "weeks", "est_minutes"],
               column_config={"name": st.column_config.TextColumn("Routine", pinned=True), "audience": "Audience",
                              "origin": "Made from", "version": "Version",
                              "sessions_per_week": st.column_config.NumberColumn(
                                  "Sessions a week", help="Every session counts: days a week × times a day."),
                              "times_per_day": "Times a day", "weeks": "Weeks",
                              "est_minutes": st.column_config.NumberColumn("Minutes per session", format="%.1f")})

choices = routines.routine_choices(store)
pick, load, empty = st.columns([4, 1, 1], vertical_alignment="bottom")
source = pick.selectbox("Start from a template or a saved routine", list(choices), format_func=choices.get,
                        key="builder_source", index=None, placeholder="Choose a routine…")
if load.button("Load", disabled=source is None, key="builder_load"):
    start_draft(routines.load_draft(store, source))
if empty.button("Start empty", key="builder_empty"):
    start_draft(routines.empty_draft())

draft: routines.RoutineDraft | None = st.session_state.get("builder_draft")
if draft is None:
    st.info("Load a routine or start an empty one to begin.")
    st.stop()
nonce = st.session_state.get("builder_nonce", 0)
k = f"b{nonce}_"


# -- details and schedule ----------------------------------------------------------------------------

st.subheader("Details")
if draft.routine_id:
    kind = "template (saved as a new routine)" if draft.origin == "template" else "saved routine"
    st.caption(f"Editing {kind} “{escape_markdown(draft.name)}”, based on version {draft.based_on_version}.")
d1, d2 = st.columns([3, 1])
name = d1.text_input("Name", value=draft.name, key=k + "name")
audience = d2.selectbox("Audience", AUDIENCES, index=AUDIENCES.index(draft.audience), key=k + "audience",
                        format_func=library_label)
description = st.text_area("Description", value=draft.description, key=k + "description", height=80)
try:
    draft = routines.set_details(draft, name=name, audience=audience, description=description)
except routines.RoutineError as exc:
    st.error(f"Details: {exc}")

st.subheader("Schedule")
s = draft.schedule
s1, s2, s3, s4 = st.columns(4)
# One meaning everywhere: a session is one run through the routine, so "sessions a week" counts every
# run (days a week × times a day), as adherence expects them; the days are asked for as days.
mode = s1.radio("Frequency", ["Days a week", "Fixed weekdays"], index=1 if s.weekdays else 0,
                key=k + "mode", horizontal=True)
if mode == "Fixed weekdays":
    weekdays = s2.multiselect("Weekdays", routines.WEEKDAYS, default=s.weekdays or ["mon", "wed", "fri"],
                              format_func=str.capitalize, key=k + "weekdays")
    per_week = None
else:
    weekdays = None
    per_week = s2.number_input("Days a week", min_value=1, max_value=7, value=min(7, s.sessions_per_week or 3),
                               key=k + "per_week")
times = s3.number_input("Times per day", min_value=1, max_value=8, value=s.times_per_day, key=k + "times")
weeks = s4.number_input("Weeks", min_value=1, max_value=52, value=s.weeks, key=k + "weeks")
try:
    draft = routines.set_schedule(draft, weeks=int(weeks), sessions_per_week=per_week, weekdays=weekdays,
                           times_per_day=int(times))
except routines.RoutineError as exc:
    st.error(escape_markdown(exc))


# -- items ---------------------------------------------------------------------------------------------

def _pair(dose: Dose | None, name: str) -> tuple[int | None, int | None]:
    value = getattr(dose, name) if dose is not None else None
    return (value.min, value.max) if value is not None else (None, None)


def item_editor(n: int, item: routines.DraftItem, view: dict[str, Any], count: int) -> routines.DraftItem | None:
    """One item's row: order buttons, dose inputs (empty = the exercise's usual), slot and note.

    Returns the item with the edited dose, or None when the inputs are not a valid dose.
    """
    key = f"{k}{item.uid}_"
    head, up, down, drop = st.columns([8, 1, 1, 1], vertical_alignment="center")
    head.markdown(f"**{n + 1}. {escape_markdown(view['name'])}** · {escape_markdown(view['dose_text'])}"
                  f" · ~{view['est_seconds'] / 60:.1f} min"
                  + (f" · _{escape_markdown(view['slot'])}_" if view["slot"] else ""))
    if up.button("", icon=":material/arrow_upward:", key=key + "up", disabled=n == 0, help="Move up"):
        set_draft(routines.move_item(st.session_state["builder_draft"], item.uid, -1))
        st.rerun()
    if down.button("", icon=":material/arrow_downward:", key=key + "down", disabled=n == count - 1, help="Move down"):
        set_draft(routines.move_item(st.session_state["builder_draft"], item.uid, 1))
        st.rerun()
    if drop.button("", icon=":material/close:", key=key + "remove", help="Remove from the routine"):
        set_draft(routines.remove_item(st.session_state["builder_draft"], item.uid))
        st.rerun()
    with st.expander("Dose, slot and note"):
        usual = view["exercise_dose"]
        cols = st.columns(8)
        fields: dict[str, tuple[int | None, int | None]] = {}
        for i, (name, label) in enumerate((("hold_s", "Hold s"), ("reps", "Reps"), ("sets", "Sets"),
                                           ("breaths", "Breaths"))):
            lo, hi = _pair(item.dose, name)
            placeholder = usual.get(name) or ["–", "–"]
            fields[name] = (
                cols[2 * i].number_input(f"{label} min", min_value=1, value=lo, step=1, key=key + name + "_min",
                                         placeholder=str(placeholder[0])),
                cols[2 * i + 1].number_input(f"{label} max", min_value=1, value=hi, step=1, key=key + name + "_max",
                                             placeholder=str(placeholder[1])),
            )
        side_default = "default" if item.dose is None or item.dose.per_side is None else (
            "yes" if item.dose.per_side else "no")
        side_col, slot_col, note_col = st.columns([1, 1, 4])
        side = side_col.selectbox("Sides", list(PER_SIDE), index=list(PER_SIDE).index(side_default),
                                  format_func=PER_SIDE.get, key=key + "side")
        slot = slot_col.text_input("Slot", value=item.slot or "", key=key + "slot", placeholder="e.g. morning")
        note = note_col.text_input("Note for the client", value=item.note or "", key=key + "note")
        try:
            dose = routines.dose_from_fields(hold_s=fields["hold_s"], reps=fields["reps"], sets=fields["sets"],
                                      breaths=fields["breaths"], per_side=None if side == "default" else side == "yes")
        except routines.RoutineError as exc:
            st.error(f"{escape_markdown(view['name'])}: {escape_markdown(exc)}")
            return None
        st.caption("Empty fields use the exercise's usual dose (shown greyed).")
    return item.model_copy(update={"dose": dose, "slot": slot.strip() or None, "note": note.strip() or None})


st.subheader("Exercises")
views = {v["uid"]: v for v in routines.draft_items(store, draft)}
dose_errors, edits = 0, 0
for n, item in enumerate(draft.items):
    with st.container(border=True):
        edited = item_editor(n, item, views[item.uid], len(draft.items))
    if edited is None:
        dose_errors += 1
    elif edited != item:
        draft = routines.set_item(draft, item.uid, dose=edited.dose, slot=edited.slot, note=edited.note)
        edits += 1

library = list_exercises(store)
a1, a2, a3 = st.columns([4, 2, 1], vertical_alignment="bottom")
new_exercise = a1.selectbox("Add an exercise", list(library["id"]), index=None, placeholder="Choose an exercise…",
                            format_func=dict(zip(library["id"], library["name"])).get, key=k + "add_exercise")
new_slot = a2.text_input("Slot (optional)", key=k + "add_slot", placeholder="morning, before a run, …")
if a3.button("Add", disabled=new_exercise is None, key=k + "add"):
    set_draft(routines.add_item(draft, new_exercise, new_slot))
    st.rerun()
set_draft(draft)
if edits:
    st.rerun()  # the item headers above were drawn before the edit: draw them with the new dose


# -- estimate, safety and saving -------------------------------------------------------------------------

items = routines.draft_items(store, draft)
m1, m2, m3 = st.columns(3)
m1.metric("Estimated minutes per session", f"{routines.estimate_minutes([i['dose'] for i in items]):g}")
m2.metric("Sessions per week", draft.schedule.weekly_sessions,
          help="Every run through the routine counts: days a week × times a day. Adherence expects this many.")
m3.metric("Exercises", len(items))
by_slot = routines.minutes_by_slot(items)
if by_slot:
    st.caption("By slot: " + "; ".join(f"{escape_markdown(slot.replace('_', ' '))}: {minutes:g} min"
                                       for slot, minutes in by_slot.items()))
st.caption(f"Middle of each dose range: sets × sides × (hold + reps × seconds per rep + breaths × {routines.BREATH_S} s),"
           f" plus {routines.TRANSITION_S} s to change between exercises.")

st.subheader("Safety for a client")
clients = list_clients(store, ClientFilter(), today)
labels = dict(zip(clients["id"].tolist(), (clients["code"] + " · " + clients["name"]).tolist()))
c1, c2 = st.columns([3, 1])
client_id = c1.selectbox("Client", list(labels), format_func=labels.get, index=None, placeholder="Choose a client…",
                         key="builder_client")
check_on = c2.date_input("On", value=today, key="builder_check_on")
if client_id is not None and draft.items:
    render_findings(check_items(store, int(client_id), draft.exercise_slots(), check_on),
                    empty_text="No safety findings for this client on this date.")

st.subheader("Save")
if not can_write():
    st.info("Your role can try out routines here but not save them.")
    st.stop()
can_version = draft.routine_id is not None and draft.origin != "template"
v1, v2 = st.columns(2)
blocked = dose_errors > 0 or not draft.items
if blocked:
    st.caption("Fix the errors above (and add at least one exercise) before saving.")


def save(as_new: bool) -> None:
    try:
        saved = routines.save_draft(store, draft, current_actor(), as_new=as_new)
    except (routines.RoutineError, PermissionDenied) as exc:
        st.error(escape_markdown(exc))
        return
    start_draft(routines.load_draft(store, saved.routine_id, saved.version))
    name = escape_markdown(draft.name)
    st.session_state["builder_flash"] = (
        f"Saved “{name}” version {saved.version}." if saved.created_version
        else f"No change to the exercises or schedule: “{name}” stays at version {saved.version}.")
    st.rerun()


if can_version and v1.button("Save as new version", type="primary", disabled=blocked, key="builder_save_version",
                             help="Clients already assigned keep their version until you move them on."):
    save(as_new=False)
if (v2 if can_version else v1).button("Save as new routine", type="secondary" if can_version else "primary",
                                      disabled=blocked, key="builder_save_new"):
    save(as_new=True)

if can_version:
    with st.expander("Versions of this routine"):
        show_table(routines.version_history(store, draft.routine_id))
