"""What a ?checkin= link opens on the client's phone: today's routine with a hold timer for each
exercise, then a short log (ticks, pain, stiffness, notes) that stores one session.

Nothing from the staff app is here: no navigation, no other client, no staff page. Every link that
opens nothing (malformed, unknown, expired, revoked) gets the same neutral page as share links.
The timers run in the browser (pages/checkin_timer.html), so they cost no rerun per second; the log
is a fragment, so ticking a box or moving a slider does not reload the timers above it.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from core import clock
from core.practice.handouts import PAIN_ADVICE, WEEKDAY_NAMES
from core.sharing import checkin
from core.sharing.links import LinkError, base_url
from pages.common import configured_base_url, escape_markdown, get_store

TIMER_TEMPLATE = (Path(__file__).with_name("checkin_timer.html")).read_text(encoding="utf-8")
TIMER_HEIGHT = 120
KEY = "checkin_idempotency_key"          # one per page load: a retry of the same page stores one session
OUTCOME = "checkin_outcome"
SCALE = ["not noted", *[n / 2 for n in range(21)]]


def timer_html(plan: dict) -> str:
    """The timer with its plan; ``<`` is escaped so no text in the plan can close the script."""
    return TIMER_TEMPLATE.replace("__TIMER_PLAN__", json.dumps(plan).replace("<", "\\u003c"), 1)


def scale_value(choice: object) -> float | None:
    return None if choice == SCALE[0] else float(choice)


def scale_label(choice: object) -> str:
    return choice if isinstance(choice, str) else f"{choice:g}"


def not_valid() -> None:
    st.title("This link is not valid")
    st.write("It may have expired or been withdrawn. Ask the person who sent it to you for a new link.")
    st.stop()


def show_exercise(number: int, exercise: checkin.CheckinExercise) -> None:
    with st.container(border=True):
        st.subheader(f"{number}. {escape_markdown(exercise.name)}")
        st.markdown(f"**Dose:** {escape_markdown(exercise.dose_text)}")
        if exercise.steps:
            st.markdown("\n".join(f"{n}. {escape_markdown(step)}" for n, step in enumerate(exercise.steps, 1)))
        if exercise.note:
            st.caption(escape_markdown(exercise.note))
        st.iframe(timer_html(exercise.timer_plan()), height=TIMER_HEIGHT)


def show_advice(notes: str, link: checkin.CheckinLink, day: date) -> None:
    """Warning signs in the notes: the stop-and-seek-care message fitted to them and to the client, at once."""
    store = get_store()
    for advice in checkin.warning_advice(store, notes, checkin.in_pregnancy_care(store, link.client_id, day)):
        text = f"**{escape_markdown(advice.message)}** You wrote about: {escape_markdown(', '.join(advice.signs))}."
        (st.error if advice.urgent else st.warning)(text, icon=":material/emergency:")


def show_progress(link: checkin.CheckinLink) -> None:
    """The client's own days this week and pain over the last sessions; no verdict."""
    progress = checkin.client_progress(get_store(), link, clock.today())
    st.subheader("Your week")
    st.markdown(f"Sessions on **{progress.days_this_week}** day(s) this week"
                + (f", **{progress.streak}** day(s) in a row up to today." if progress.streak > 1 else "."))
    st.markdown(" · ".join(f"**{WEEKDAY_NAMES[n]}** {':material/check_circle:' if done else ':material/remove:'}"
                           for n, (_, done) in enumerate(progress.week)))
    if not progress.pain.empty:
        st.subheader("Your pain")
        figure = go.Figure()
        for column, name in (("pain_before", "Before"), ("pain_after", "After")):
            figure.add_scatter(x=progress.pain["session_date"], y=progress.pain[column], name=name,
                               mode="lines+markers", connectgaps=True)
        figure.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 10], title="0–10"),
                             legend=dict(orientation="h", y=-0.25))
        st.plotly_chart(figure, theme=None, config={"displaylogo": False, "staticPlot": True})


@st.fragment
def log_section(token: str, link: checkin.CheckinLink, routine: checkin.CheckinRoutine) -> None:
    today = clock.today()
    st.header("Log this session")
    key = st.session_state.setdefault(KEY, checkin.new_idempotency_key())
    done = [st.checkbox(f"Done: {escape_markdown(ex.name)}", key=f"checkin_done_{routine.assignment_id}_{n}")
            for n, ex in enumerate(routine.exercises)]
    day = st.date_input("Day of the session", value=today, min_value=today - timedelta(days=checkin.DAYS_BACK),
                        max_value=today, key="checkin_day", format="DD/MM/YYYY")
    pain_before = st.select_slider("Pain before (0 = none, 10 = worst)", SCALE, value=SCALE[0],
                                   format_func=scale_label, key="checkin_pain_before")
    pain_after = st.select_slider("Pain after", SCALE, value=SCALE[0], format_func=scale_label,
                                  key="checkin_pain_after")
    stiffness = st.select_slider("Stiffness (0 = none, 10 = worst)", SCALE, value=SCALE[0], format_func=scale_label,
                                 key="checkin_stiffness")
    notes = st.text_area("Notes (optional): how it went, anything unusual", max_chars=checkin.MAX_NOTES,
                         key="checkin_notes")
    show_advice(notes, link, day)
    if st.button("Save session", type="primary", key="checkin_submit", icon=":material/check:"):
        entry = checkin.CheckinEntry(
            key=key, session_date=day, routine_id=routine.routine_id, exercises_done=sum(done),
            exercises_prescribed=len(routine.exercises), pain_before=scale_value(pain_before),
            pain_after=scale_value(pain_after), stiffness=scale_value(stiffness), notes=notes.strip() or None)
        st.session_state[OUTCOME] = checkin.submit_checkin(get_store(), token, entry, today)
    outcome: checkin.CheckinOutcome | None = st.session_state.get(OUTCOME)
    if outcome is None:
        return
    if outcome.status == "invalid":
        st.rerun(scope="app")
    if outcome.status in ("rejected", "refused"):
        st.error("Not saved. " + " ".join(escape_markdown(r) for r in outcome.reasons))
        return
    st.success("Saved. Thank you!" if outcome.status == "accepted" else "This session is already saved.",
               icon=":material/task_alt:")
    show_progress(link)
    if st.button("Log another session", key="checkin_again"):
        for name in (KEY, OUTCOME, "checkin_notes"):
            st.session_state.pop(name, None)
        st.rerun(scope="fragment")


store = get_store()
tokens = st.query_params.get_all("checkin")
token = tokens[0] if len(tokens) == 1 else None
link = checkin.resolve_checkin(store, token)
if link is None:
    not_valid()

today = clock.today()
routines = checkin.todays_routines(store, link, today)
st.title("Today's exercises")
if not routines:
    st.info("No routine is planned for today. Your therapist will tell you when the next one starts.")
    st.stop()
chosen = routines[0]
if len(routines) > 1:
    names = {r.assignment_id: r.name for r in routines}
    picked = st.radio("Routine", list(names), format_func=lambda i: escape_markdown(names[i]), key="checkin_routine")
    chosen = next(r for r in routines if r.assignment_id == picked)
st.caption(f"{escape_markdown(chosen.name)} · {escape_markdown(chosen.schedule)}")
for number, exercise in enumerate(chosen.exercises, 1):
    show_exercise(number, exercise)
st.caption(PAIN_ADVICE)
log_section(token, link, chosen)

st.divider()
try:
    own_url = checkin.checkin_url(base_url(configured_base_url()), token)
except LinkError:
    own_url = None
st.download_button("Add reminders to my calendar (.ics)", data=checkin.calendar_ics(store, link.id, today, own_url),
                   file_name="exercise-reminders.ics", mime="text/calendar", key="checkin_ics",
                   icon=":material/event:", on_click="ignore")
