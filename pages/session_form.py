"""Log one session by hand, on the client page: a paper sheet typed in by the front desk.

The form only collects values; core.sessions.checks.log_session checks them with exactly the rules
an import uses (and says why it refuses), so a typed session and an imported one are alike.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from core import clock
from core.sessions.red_flags import BY_TAG
from core.practice.routines import assigned_blocks, block_label, routine_choices
from core.sessions.checks import MAX_NOTES_CHARS, client_sessions, log_session, readable_reason
from core.db.store import Store
from pages.common import escape_markdown, show_table

_ASSIGNED = ""  # picker value: let the client's assignment on that day decide
_WHOLE_ROUTINE = ""  # block picker value: the session was not one block of a day plan


def _optional_number(column, label: str, step: float, key: str, help: str | None = None):
    """An empty-able number box without bounds of its own: a value out of range (pain 11) reaches
    core's checks, which refuse it and say why (a bounded box would silently keep the old value)."""
    return column.number_input(label, value=None, step=step, key=key, help=help, placeholder="—")


def session_log_form(store: Store, client_code: str, actor: str, as_of: date | None = None) -> None:
    """The "Log a session" form and this client's latest sessions."""
    as_of = as_of or clock.today()
    key = f"session_log_{client_code}"
    routines = {_ASSIGNED: "The client's routine on that day", **routine_choices(store)}
    blocks = assigned_blocks(store, client_code)
    st.subheader("Session log")
    with st.expander("Log a session", expanded=False, icon=":material/edit_note:"):
        with st.form(key, clear_on_submit=True):
            c1, c2, c3, *c4 = st.columns([1, 1, 2, 1.2] if blocks else [1, 1, 2])
            day = c1.date_input("Session date", value=as_of, max_value=as_of, key=f"{key}_date")
            at_time = c2.time_input("Time (optional)", value=None, key=f"{key}_time")
            routine = c3.selectbox("Routine", list(routines), format_func=routines.get, key=f"{key}_routine")
            block = _WHOLE_ROUTINE
            if blocks:  # the client's routine is a day plan: which of its blocks this session was
                block = c4[0].selectbox("Block of the day", [_WHOLE_ROUTINE, *blocks], key=f"{key}_block",
                                        format_func=lambda b: block_label(b) if b else "Whole routine",
                                        help="For a routine split over the day: the block this session was."
                                             " Its exercises are then the block's own.")
            n1, n2, n3 = st.columns(3)
            done = _optional_number(n1, "Exercises done", 1, f"{key}_done")
            prescribed = _optional_number(n2, "Exercises in the routine", 1, f"{key}_prescribed",
                                          help="Leave empty: the routine's (or the block's) own count.")
            minutes = _optional_number(n3, "Minutes", 0.5, f"{key}_minutes")
            p1, p2, p3 = st.columns(3)
            before = _optional_number(p1, "Pain before (0–10)", 0.5, f"{key}_before")
            after = _optional_number(p2, "Pain after (0–10)", 0.5, f"{key}_after")
            stiffness = _optional_number(p3, "Stiffness (0–10)", 0.5, f"{key}_stiffness")
            notes = st.text_area("Notes (what the client said)", key=f"{key}_notes", max_chars=MAX_NOTES_CHARS)
            submitted = st.form_submit_button("Log session", icon=":material/check:")
        if submitted:
            _submit(store, actor, as_of, {
                "client": client_code, "session_date": day, "session_time": at_time, "routine": routine or None,
                "block": block or None, "exercises_done": done, "exercises_prescribed": prescribed,
                "duration_min": minutes,
                "pain_before": before, "pain_after": after, "stiffness": stiffness, "notes": notes or None,
            })
    recent = client_sessions(store, client_code)
    if recent.empty:
        st.caption("No sessions logged yet.")
    else:
        show_table(recent, key=f"{key}_recent",
                   column_config={"session_date": st.column_config.DateColumn("Date", pinned=True), "session_time": "Time",
                                    "routine": "Routine", "exercises_done": "Done",
                                    "exercises_prescribed": "Of", "duration_min": "Minutes",
                                    "pain_before": "Pain before", "pain_after": "Pain after",
                                    "stiffness": "Stiffness", "notes": "Notes", "red_flags": "Warning signs",
                                    "before_first_assignment": "Before first program", "source": "From"})


def _submit(store: Store, actor: str, as_of: date, values: dict) -> None:
    try:
        outcome = log_session(store, values, actor, as_of)
    except PermissionError as exc:
        st.error(escape_markdown(exc))
        return
    if outcome.status == "rejected":
        st.error("Not logged:\n" + "\n".join(f"- {escape_markdown(readable_reason(r))}" for r in outcome.reasons))
        return
    if outcome.status == "duplicate":
        st.info("This session is already logged (same date, time, routine and values): nothing added.")
        return
    st.success("Session logged." + (" It is before the client's first program, and marked so."
                                    if outcome.before_first_assignment else ""))
    if outcome.red_flags:
        st.warning("The notes mention warning signs: " + ", ".join(BY_TAG[t].label for t in outcome.red_flags)
                   + ". They are flagged for the alerts; please read the note and follow up.", icon=":material/warning:")
