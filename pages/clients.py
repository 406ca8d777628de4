"""Clients: find and register clients, see their programs and safety history, assign, print handouts.

The page is thin: every rule, query and check lives in core (clients, assignments, safety,
handouts). ``?client=CODE`` opens a client directly (links from alerts and dashboards use it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.practice import assignments
from core import clock
from core.practice import clients
from core.practice.handouts import client_handout_pdf, handout_file_name
from core.practice.routines import RoutineError, get_version, routine_choices
from core.practice.safety import HEALTH_FLAGS
from core.access.auth import PermissionDenied
from core.access.sites import within_sites
from pages.checkin_links import links_list, make_link_section
from pages.common import (can_write, current_actor, escape_markdown, get_store, member_sites, render_findings,
                          show_table, site_choices)

store = get_store()
today = clock.today()
allowed_sites = member_sites()          # every lookup below is cut to the member's sites
offered_sites, site_names = site_choices(store)


def _segment_label(segment: str) -> str:
    return clients.SEGMENT_LABELS.get(segment, segment)


def _flag_label(flag: str) -> str:
    return HEALTH_FLAGS.get(flag, flag)


# -- the client form (new and edit) ----------------------------------------------------------------

def client_form(key: str, client: clients.Client | None) -> dict[str, Any] | None:
    """The create/edit form; returns the fields when submitted, else None."""
    with st.form(key):
        left, right = st.columns(2)
        code = left.text_input("Client code", value=client.code if client else "", key=f"{key}_code",
                               placeholder="leave empty for the next C00000 number")
        name = right.text_input("Display name", value=client.display_name if client else "", key=f"{key}_name")
        email = left.text_input("Email (optional)", value=(client.email or "") if client else "", key=f"{key}_email")
        therapist = right.text_input("Therapist", value=(client.therapist or "") if client else "",
                                     key=f"{key}_therapist")
        segments = left.multiselect("Segments", clients.SEGMENTS, default=list(client.segments) if client else [],
                                    format_func=_segment_label, key=f"{key}_segments")
        flags = right.multiselect("Health flags", list(HEALTH_FLAGS), default=list(client.flags) if client else [],
                                  format_func=_flag_label, key=f"{key}_flags")
        conditions = st.text_input("Other conditions (free text)", value=(client.conditions or "") if client else "",
                                   key=f"{key}_conditions")
        notes = st.text_area("Notes", value=(client.notes or "") if client else "", key=f"{key}_notes", height=80)
        st.markdown("**Pregnancy** — the due date, or the weeks of pregnancy on a date (converted to a due date).")
        p1, p2, p3, p4 = st.columns(4)
        due = p1.date_input("Due date", value=client.due_date if client else None, key=f"{key}_due",
                            min_value=date(1990, 1, 1), max_value=today + timedelta(days=600))
        weeks = p2.number_input("…or weeks pregnant", min_value=0, max_value=42, value=None, step=1,
                                key=f"{key}_weeks")
        days = p3.number_input("+ days", min_value=0, max_value=6, value=0, step=1, key=f"{key}_days")
        measured = p4.date_input("measured on", value=today, key=f"{key}_measured")
        ended = None
        if client is not None and client.due_date is not None:
            ended = st.date_input("Pregnancy ended on (birth or loss)", value=client.pregnancy_ended_on,
                                  key=f"{key}_ended", max_value=today)
        cleared = st.date_input("Cleared to exercise by her care provider on", key=f"{key}_cleared",
                                value=client.care_provider_cleared_on if client else None, max_value=today,
                                help="The pregnancy routines assume this clearance; without it, assigning warns.")
        site = client.site if client else None
        if len(offered_sites) > 1:  # one site to offer: the client is registered there
            site = st.selectbox("Site", offered_sites, key=f"{key}_site", format_func=lambda s: site_names.get(s, s),
                                index=offered_sites.index(site) if site in offered_sites else 0)
        submitted = st.form_submit_button("Save client" if client else "Add client", type="primary")
    if not submitted:
        return None
    fields: dict[str, Any] = {
        "code": code, "display_name": name, "email": email, "therapist": therapist, "segments": segments,
        "flags": flags, "conditions": conditions, "notes": notes, "pregnancy_ended_on": ended,
        "care_provider_cleared_on": cleared, "site": site,
    }
    if weeks is not None:
        fields |= {"gestation_weeks": int(weeks), "gestation_days": int(days), "gestation_on": measured,
                   "due_date": due if client is None or due != client.due_date else None}
    else:
        fields["due_date"] = due
    return fields


# -- assigning -------------------------------------------------------------------------------------

def plan_form(key: str, client: clients.Client, as_of: date, button: str, routine_id: str | None = None,
              current: list[dict[str, Any]] | None = None) -> tuple[assignments.Preview, str | None] | None:
    """Pick a routine and schedule, see the safety findings at once; returns the confirmed preview.

    Warnings must be acknowledged, a block needs an override reason, and a second program next to
    ``current`` ones must be confirmed: all in one form, so typing the reason and clicking the
    button once assigns (a plain button would enable only after the text box loses focus).
    """
    choices = routine_choices(store)
    if not choices:
        st.info("No routines yet: load the library or build one in the routine builder.")
        return None
    ids = list(choices)
    picked = st.selectbox("Routine", ids, index=ids.index(routine_id) if routine_id in ids else 0,
                          format_func=choices.get, key=f"{key}_routine")
    routine = get_version(store, picked)
    c1, c2, c3, c4 = st.columns(4)
    start = c1.date_input("Start date", value=as_of, key=f"{key}_start")
    sessions = c2.number_input("Sessions per week", min_value=1, max_value=assignments.MAX_SESSIONS_PER_WEEK,
                               value=routine.sessions_per_week, key=f"{key}_sessions_{picked}")
    weeks = c3.number_input("Weeks", min_value=1, max_value=assignments.MAX_WEEKS, value=routine.weeks,
                            key=f"{key}_weeks_{picked}")
    check_on = c4.date_input("Check safety on", value=assignments.default_check_date(start, as_of, int(weeks)),
                             key=f"{key}_check_{start}_{weeks}")
    st.caption(f"{int(sessions)} session{'s' if sessions != 1 else ''} a week for {int(weeks)}"
               f" week{'s' if weeks != 1 else ''} · about {routine.est_minutes:g} min per run-through · "
               f"{len(routine.items)} exercises")
    try:
        preview = assignments.preview_assignment(store, client.id, picked, start, check_on, None, int(sessions), int(weeks))
    except assignments.AssignmentError as exc:
        st.error(escape_markdown(exc))
        return None
    st.markdown(f"**Safety check for {escape_markdown(client.code)} on {check_on.isoformat()}**")
    render_findings(preview.findings)
    for day, finding in preview.ahead:
        st.warning(f"From **{day.isoformat()}**: **{escape_markdown(finding.exercise_name or 'whole routine')}**:"
                   f" {escape_markdown(finding.reason)}", icon=":material/event:")
    if current:
        st.warning("This client already has " + "; ".join(
            f"**{escape_markdown(r['routine'])}** ({r['start_date']:%d %b %Y} to {r['last_day']:%d %b %Y},"
            f" {str(r['state']).lower()})" for r in current) + ". A new program runs next to it.",
            icon=":material/layers:")
    with st.form(f"{key}_confirm", border=False):
        seen = alongside = True
        if any(f.level == "warn" for f in preview.findings):
            seen = st.checkbox("I have read the warnings above", key=f"{key}_seen_{picked}")
        if current:
            alongside = st.checkbox("Yes, add this program alongside the current one(s)", key=f"{key}_alongside")
        override = None
        if preview.blocked:
            override = st.text_area("Override reason (required to assign despite a block; stored with your name)",
                                    key=f"{key}_override_{picked}")
        go = st.form_submit_button(button, type="primary", key=f"{key}_go")
    if not go:
        return None
    missing = [text for missing, text in (
        (not seen, "tick that you have read the warnings"),
        (not alongside, "confirm the program alongside the current one(s), or end those first"),
        (preview.blocked and not (override or "").strip(), "give an override reason for the block"),
    ) if missing]
    if missing:
        st.error("Not assigned yet: " + "; ".join(missing) + ".")
        return None
    return preview, override


def assign_section(client: clients.Client, as_of: date) -> None:
    st.subheader("Assign a routine")
    current = [r for r in assignments.list_assignments(store, client.id, as_of)
               if r["status"] == "active" and r["state"] in ("active", "paused", "upcoming")]
    confirmed = plan_form("assign", client, as_of, "Assign", current=current)
    if confirmed:
        preview, override = confirmed
        try:
            result = assignments.assign(store, client.id, preview.routine.routine_id, preview.start_date, current_actor(),
                              preview.check_on, preview.routine.version, preview.sessions_per_week, preview.weeks,
                              override)
        except (assignments.AssignmentError, PermissionDenied) as exc:
            st.error(escape_markdown(exc))
        else:
            st.session_state["clients_flash"] = (
                f"Assigned {escape_markdown(preview.routine.name)} (assignment {result.assignment.id});"
                f" {len(result.findings)} safety finding(s) recorded as seen.")
            st.rerun()


# -- one assignment --------------------------------------------------------------------------------

def assignment_panel(client: clients.Client, row: dict[str, Any], as_of: date) -> None:
    """Safety record, history and the actions for one assignment."""
    assignment_id = int(row["id"])
    st.markdown(f"**{escape_markdown(row['routine'])}** v{row['version']} · {row['start_date']} to {row['last_day']}"
                f" · {row['sessions_per_week']} sessions a week · {str(row['state']).capitalize()}")
    reviews = assignments.assignment_reviews(store, assignment_id)
    st.markdown("Safety findings recorded (what staff saw or overrode):")
    if reviews.empty:
        st.caption("None recorded.")
    else:
        show_table(reviews.drop(columns=["rule_id"]), column_config={
            "reviewed_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm", width="small",
                                                           pinned=True),
            "level": st.column_config.TextColumn("Level", width="small", pinned=True),
            "exercise": st.column_config.TextColumn("Exercise", width="medium"),
            "reason": st.column_config.TextColumn("Reason", width="large"),
            "override_reason": st.column_config.TextColumn("Override reason", width="medium"),
            "reviewed_by": st.column_config.TextColumn("Seen by", width="small")},
            column_order=["reviewed_at", "level", "reviewed_by", "exercise", "override_reason", "reason"])
    with st.expander("History of this assignment"):
        show_table(assignments.assignment_history(store, assignment_id), column_config={
            "event_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"), "event": "What",
            "effective_date": st.column_config.DateColumn("From"), "note": "Note", "actor": "Who"})
    if row["status"] != "active" or not can_write():
        return
    unreviewed = assignments.unreviewed_findings(store, assignment_id, as_of) if row["state"] in ("active", "paused") else []
    if unreviewed:
        st.warning(f"{len(unreviewed)} safety finding(s) apply on {as_of.isoformat()} that nobody has reviewed"
                   " since assignment:")
        render_findings(unreviewed)
        reason = None
        if any(f.level == "block" for f in unreviewed):
            reason = st.text_input("Override reason (a new block needs one)", key=f"review_reason_{assignment_id}")
        if st.button("Review safety now", key=f"review_{assignment_id}"):
            _act(lambda: assignments.review_assignment_safety(store, assignment_id, as_of, current_actor(), reason),
                 "Safety findings recorded as reviewed.")
    c1, c2, c3 = st.columns(3)
    with c1:
        last = st.date_input("Last day", value=min(max(as_of, row["start_date"]), row["last_day"]),
                             key=f"end_day_{assignment_id}")
        if st.button("End program", key=f"end_{assignment_id}"):
            _act(lambda: assignments.end_assignment(store, assignment_id, last, current_actor()), "Program ended.")
    with c2:
        if row["open_pause_from"] is not None:
            day = st.date_input("Resume on", value=as_of, key=f"resume_day_{assignment_id}")
            if st.button("Resume", key=f"resume_{assignment_id}"):
                _act(lambda: assignments.resume_assignment(store, assignment_id, day, current_actor()), "Program resumed.")
        else:
            day = st.date_input("Pause from", value=as_of, key=f"pause_day_{assignment_id}")
            if st.button("Pause", key=f"pause_{assignment_id}"):
                _act(lambda: assignments.pause_assignment(store, assignment_id, day, current_actor()), "Program paused.")
    with c3:
        if row["newer_version"]:
            st.caption("The routine has a newer version.")
            if st.button("Move to latest version", key=f"move_{assignment_id}"):
                _act(lambda: assignments.move_to_latest_version(store, assignment_id, max(as_of, row["start_date"]),
                                                      current_actor()),
                     "Moved to the latest version; its safety findings are recorded.")
    if st.toggle("Replace with another routine", key=f"replace_open_{assignment_id}"):
        confirmed = plan_form(f"replace_{assignment_id}", client, as_of, "Replace", routine_id=row["routine_id"])
        if confirmed:
            preview, override = confirmed
            _act(lambda: assignments.replace_assignment(store, assignment_id, preview.routine.routine_id, preview.start_date,
                                              current_actor(), preview.check_on, preview.routine.version,
                                              preview.sessions_per_week, preview.weeks, override),
                 f"Replaced by {escape_markdown(preview.routine.name)}.")


def _act(action, done: str) -> None:
    """Run a write; show its error in place, or flash the result and rerun."""
    try:
        action()
    except (assignments.AssignmentError, clients.ClientError, RoutineError, PermissionDenied) as exc:
        st.error(escape_markdown(exc))
    else:
        st.session_state["clients_flash"] = done
        st.rerun()


# -- the client detail -----------------------------------------------------------------------------

def new_client_section() -> None:
    fields = client_form("new_client", None)
    if fields is None:
        return
    try:
        created = clients.create_client(store, fields, current_actor(), today)
    except (clients.ClientError, PermissionDenied) as exc:
        st.error(escape_markdown(exc))
    else:
        for widget in [k for k in st.session_state if str(k).startswith("new_client_")]:
            del st.session_state[widget]  # an empty form for the next client (kept when input was refused)
        st.query_params["client"] = created.code
        st.session_state["clients_flash"] = (f"Added {escape_markdown(created.display_name)} as"
                                             f" {escape_markdown(created.code)}.")
        st.rerun()


def edit_section(client: clients.Client) -> None:
    fields = client_form(f"edit_{client.id}", client)
    if fields is not None:
        _act(lambda: clients.update_client(store, client.id, fields, current_actor(), today), "Client details saved.")
    if client.archived:
        if st.button("Restore client", key="restore_client"):
            _act(lambda: clients.restore_client(store, client.id, current_actor()), "Client restored.")
    elif st.button("Archive client", key="archive_client",
                   help="Hides the client from lists and new assignments; nothing is deleted."):
        _act(lambda: clients.archive_client(store, client.id, current_actor()), "Client archived.")


def render_client_detail(client: clients.Client, as_of: date) -> None:
    """Everything about one client. Other pages' sections are added at the marked end."""
    st.header(f"{escape_markdown(client.display_name)} · {escape_markdown(client.code)}")
    if client.archived:
        st.info(f"Archived on {client.archived_at:%Y-%m-%d}: hidden from lists and new assignments; history kept.")
    facts, flags = st.columns([3, 2])
    with facts:
        st.markdown(
            f"**Segments:** {', '.join(_segment_label(s) for s in client.segments) or '—'}  \n"
            f"**Therapist:** {escape_markdown(client.therapist or None)}  \n"
            f"**Site:** {escape_markdown(site_names.get(client.site, client.site))}  \n"
            f"**Email:** {escape_markdown(client.email or None)}")
        pregnancy = client.pregnancy(as_of)
        if pregnancy is not None:
            st.markdown(f"**Pregnancy on {as_of.isoformat()}:** {pregnancy.label()}")
        if client.conditions:
            st.markdown(f"**Other conditions:** {escape_markdown(client.conditions)}")
        if client.notes:
            st.markdown(f"**Notes:** {escape_markdown(client.notes)}")
    with flags:
        if client.flags:
            st.warning("**Health flags:** " + "; ".join(_flag_label(f) for f in client.flags))
        else:
            st.caption("No health flags recorded.")
    try:
        st.page_link("pages/client_dashboard.py", label="Adherence and symptoms dashboard", icon=":material/monitoring:",
                     query_params={"client": client.code})
    except StreamlitAPIException:  # the dashboard (issue 5) is not registered for this role or build
        pass

    if can_write():
        with st.expander("Edit client details"):
            edit_section(client)

    st.subheader("Programs")
    if assignments.current_assignments(store, client.id, as_of):
        st.download_button(
            "Download handout (PDF)", data=lambda: client_handout_pdf(store, client.id, as_of, sites=allowed_sites),
            file_name=handout_file_name(client.code, as_of), mime="application/pdf", on_click="ignore",
            key="handout", icon=":material/print:", type="primary")
        st.caption("The handout covers every current program: schedule, steps, dose, care notes and a"
                   " weekly tick-box log sheet.")
    if can_write() and not client.archived:
        with st.expander("Check-in link: the client logs sessions on their phone", icon=":material/phonelink_ring:"):
            make_link_section(store, client, as_of)
            links_list(store, client.code)
    rows = assignments.list_assignments(store, client.id, as_of)
    if not rows:
        st.caption("No routine assigned yet.")
    else:
        show_table(
            rows, column_order=["id", "routine", "version", "start_date", "last_day", "sessions_per_week", "state",
                          "warnings", "blocks", "assigned_by"],
            column_config={"id": st.column_config.NumberColumn("Assignment", width="small", pinned=True),
                           "routine": st.column_config.TextColumn("Routine", width="medium", pinned=True),
                           "version": st.column_config.NumberColumn("Version", width="small"),
                           "start_date": st.column_config.DateColumn("Start", width="small"),
                           "last_day": st.column_config.DateColumn("Last day", width="small"),
                           "sessions_per_week": st.column_config.NumberColumn("Sessions a week", width="small"),
                           "state": st.column_config.TextColumn("State", width="small"),
                           "warnings": st.column_config.NumberColumn("Warnings seen", width="small"),
                           "blocks": st.column_config.NumberColumn("Blocks overridden", width="small"),
                           "assigned_by": st.column_config.TextColumn("Assigned by", width="small")})
        labels = {int(r["id"]): f"{r['id']}: {r['routine']} v{r['version']} ({str(r['state']).lower()})" for r in rows}
        chosen = st.selectbox("Assignment", list(labels), format_func=labels.get, key=f"assignment_{client.id}")
        assignment_panel(client, next(r for r in rows if int(r["id"]) == chosen), as_of)


    if not client.archived and can_write():
        assign_section(client, as_of)

    # session log form (issue 4)
    if can_write() and not client.archived:
        from pages.session_form import session_log_form
        session_log_form(store, client.code, current_actor(), as_of)


# -- the page --------------------------------------------------------------------------------------

st.title("Clients")
if flash := st.session_state.pop("clients_flash", None):
    st.success(flash)

as_of = st.sidebar.date_input("As of", value=today, key="clients_as_of",
                              help="Pregnancy weeks, current programs and safety checks are shown for this date.")

if can_write():
    with st.expander("New client", expanded=False, icon=":material/person_add:"):
        new_client_section()

f1, f2, f3, f4 = st.columns([3, 2, 2, 1])
flt = clients.ClientFilter(
    text=f1.text_input("Search code, name or email", key="clients_search"),
    segments=tuple(f2.multiselect("Segment", clients.SEGMENTS, format_func=_segment_label, key="clients_segments")),
    therapists=tuple(f3.multiselect("Therapist", clients.therapist_names(store), key="clients_therapists")),
    status=f4.selectbox("Status", clients.STATUSES, key="clients_status"),
    sites=allowed_sites,
)
if len(offered_sites) > 1:
    picked_sites = st.multiselect("Site", offered_sites, key="clients_sites", placeholder="all your sites",
                                  format_func=lambda s: site_names.get(s, s))
    flt = replace(flt, sites=within_sites(tuple(picked_sites) or None, allowed_sites))
listed = clients.list_clients(store, flt, as_of)
st.caption(f"{len(listed)} client(s)")
show_table(
    listed.drop(columns=["id", "email"] + ([] if len(offered_sites) > 1 else ["site"])), labels={"site": site_names},
    column_config={"code": st.column_config.TextColumn("Code", pinned=True),
                   "name": st.column_config.TextColumn("Name", pinned=True), "therapist": "Therapist", "segments": "Segments",
                   "flags": "Health flags", "pregnancy_week": "Pregnancy week",
                   "due_date": st.column_config.DateColumn("Due date"), "current_routines": "Current routines",
                   "status": "Status", "site": "Site"})

# ?client=CODE picks the client when it changes (a link, a new client); the picker then owns it
wanted = st.query_params.get("client")
codes = list(listed["code"])
if wanted and wanted not in codes:
    found = clients.find_client(store, wanted, allowed_sites)  # a linked client outside the filter still opens
    if found is not None:
        codes.insert(0, found.code)
        wanted = found.code
if not codes:
    st.info("No client matches. Clear a filter, or add a client above.")
    st.stop()
if wanted in codes and wanted != st.session_state.get("clients_param_seen"):
    st.session_state["clients_open"] = wanted
if st.session_state.get("clients_open") not in codes:
    st.session_state.pop("clients_open", None)
names = dict(zip(listed["code"], listed["name"]))
code = st.selectbox("Open client", codes, format_func=lambda c: f"{c} · {names.get(c, '')}".rstrip(" ·"),
                    key="clients_open")
st.session_state["clients_param_seen"] = code
if st.query_params.get("client") != code:
    st.query_params["client"] = code
st.divider()
render_client_detail(clients.require_client(store, code, allowed_sites), as_of)
