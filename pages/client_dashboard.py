"""Client detail (``/client?client=CODE``): how one client follows the routine and how the pain responds.

Sessions calendar, weekly adherence against expected, pain before / after with the baseline and
the ±2-point band, relief per session, notes, the assignment history with its safety findings,
and the client's alerts, which staff acknowledge here with a note. Definitions: docs/analytics/metrics.md
(shown in the app on "About these figures").
"""

from datetime import date

import streamlit as st

from core.analytics import alerts
from core.analytics import charts
from core import clock
from core.analytics import metrics
from core.analytics import overview
from core.practice import clients
from pages.common import (
    HEADINGS, can_write, code_label, current_actor, escape_markdown, get_store, member_sites, table_with_csv,
)

LEVEL_ICONS = {"critical": ":material/emergency:", "high": ":material/priority_high:", "medium": ":material/info:"}


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def client_names(_store, db: str, version: str, sites: tuple | None) -> dict[str, str]:
    """Every client's code and name (archived ones too) of the member's sites, for the picker."""
    listed = clients.list_clients(_store, clients.ClientFilter(status="all", sites=sites))
    return dict(zip(listed["code"], listed["name"]))


@st.cache_data(show_spinner="Loading the client…", max_entries=128, ttl=3600)
def client_view(_store, db: str, version: str, client_id: int, as_of: date, days: int):
    """The client's figures, alerts, alert history and charts (cached built, like the overview's)."""
    detail, found = overview.client_view(_store, client_id, as_of, days)
    figures = None if detail is None else {
        "calendar": charts.session_calendar(detail.calendar), "weekly": charts.weekly_against_expected(detail.weekly),
        "pain": charts.pain_over_time(detail.sessions, detail.pain), "relief": charts.relief_per_session(detail.sessions)}
    return detail, found, alerts.alert_history(_store, client_id), figures


def pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


store = get_store()
db, version, today = store.location, store.version, clock.today()
query = {name: st.query_params.get_all(name) for name in st.query_params}
code = (query.get("client") or [""])[0].strip()
asked, problems = metrics.scope_from_query(query, today)

st.title("Client")
allowed = member_sites()  # a client of another site is not found, whatever the address says
names = client_names(store, db, version, allowed)
known = metrics.find_client_id(store, code, allowed)
if code and known is None:
    st.warning(f"No client with code “{escape_markdown(code)}”. Pick one below.")
codes = list(names)
# ?client=CODE picks the client when the address changes (a link from an alert); the picker then owns it
if known is not None and code != st.session_state.get("cd_param_seen"):
    st.session_state["cd_client"] = next((c for c in codes if c.lower() == code.lower()), None)
st.session_state["cd_param_seen"] = code
picked = st.selectbox("Client", codes, index=None, key="cd_client", placeholder="Type a name or a client code",
                      format_func=lambda c: f"{names.get(c, '')} · {c}",
                      help="Search by name or code; the address of this page then names the client.")
client_id = metrics.find_client_id(store, picked, allowed) if picked else None
if client_id is None:
    st.info("Pick a client, or open one from the practice overview or the Clients page.")
    st.stop()

for problem in problems:
    st.warning(f"Link: {escape_markdown(problem)}.", icon=":material/link:")
st.session_state.setdefault("cd_days", asked.days)
st.session_state.setdefault("cd_as_of", asked.as_of)
period, day, _ = st.columns([1, 1, 3])
periods = sorted(set(metrics.PERIODS) | {st.session_state["cd_days"]})
days = period.selectbox("Period", periods, key="cd_days", format_func=lambda d: f"last {d} days")
as_of = day.date_input("As of", key="cd_as_of", max_value=date(2100, 1, 1))
scope = metrics.Scope(as_of=as_of, days=days, client_id=client_id)
detail, found, history, figures = client_view(store, db, version, client_id, scope.as_of, scope.days)
st.query_params.from_dict({"client": [detail.client["client"]], **metrics.scope_to_query(scope, today)})
st.session_state["cd_param_seen"] = detail.client["client"]

info, summary = detail.client, detail.summary
archived = " · archived" if info["archived_at"] else ""
st.header(f"{escape_markdown(info['client'])} · {escape_markdown(info['display_name'])}{archived}")
st.caption(" · ".join((
    f"Therapist: {escape_markdown(info['therapist'] or None)}",
    f"Segments: {escape_markdown(code_label(info['segments']) or None)}",
    f"{scope.period_start:%d %b %Y} – {scope.as_of:%d %b %Y} (reported by the client)")))

open_alerts = found[~found["acknowledged"]]
current_pain = detail.pain[detail.pain["response"] != "insufficient_data"].tail(1)
cards = st.columns([1, 1, 1.15, 1.45, 0.9])  # room for "unchanged" in the pain card
cards[0].metric("Adherence", pct(summary and summary["adherence"]), border=True,
                help="Sessions done (at most the expected number each week) / sessions expected, this period.")
cards[1].metric("Status", metrics.STATUS_LABELS.get(summary and summary["status"], "—"), border=True,
                help="Lapsed: active 14+ days and no session for more than 14; on track ≥ 80%; at risk ≥ 50%; else low.")
cards[2].metric("Sessions counted", "—" if summary is None else f"{summary['completed']:.1f} of {summary['expected']:.1f}"
                .replace(".0 ", " ").removesuffix(".0"),
                border=True, help="Completions counted (capped at the expected number per week) of those expected.")
cards[3].metric("Pain response", "—" if current_pain.empty
                else metrics.RESPONSE_LABELS.get(current_pain.iloc[0]["response"], current_pain.iloc[0]["response"]),
                None if current_pain.empty else f"{current_pain.iloc[0]['change']:+.1f} points", delta_color="inverse",
                border=True, help="Mean pain before the last 3 scored sessions against the first 3 of the assignment.")
cards[4].metric("Open alerts", len(open_alerts), border=True)
if summary is None:
    st.info("Nothing was expected of this client in this period (no active assignment day).")

left, right = st.columns(2)
left.plotly_chart(figures["calendar"], theme=None, key="cd_calendar")
right.plotly_chart(figures["weekly"], theme=None, key="cd_weekly")
left, right = st.columns(2)
left.plotly_chart(figures["pain"], theme=None, key="cd_pain")
right.plotly_chart(figures["relief"], theme=None, key="cd_relief")

st.subheader(f"Alerts ({len(open_alerts)} open)")
if open_alerts.empty:
    st.success("No open alerts for this client.")
writer = can_write()
for alert in open_alerts.itertuples(index=False):
    with st.container(border=True):
        st.markdown(f"{LEVEL_ICONS.get(alert.level, '')} **{code_label(alert.level)}** · {code_label(alert.kind)} ·"
                    f" since {alert.since:%d %b %Y}  \n{escape_markdown(alert.reason)}")
        if isinstance(alert.detail, str) and alert.kind == "red_flag":
            st.caption(f"Note: “{escape_markdown(alert.detail)}”")
        if writer:
            with st.form(f"ack_{alert.alert_key}", clear_on_submit=True, border=False):
                note = st.text_input("What did you do or decide?", key=f"ack_note_{alert.alert_key}")
                if st.form_submit_button("Acknowledge", icon=":material/done:"):
                    try:
                        alerts.acknowledge(store, alert.alert_key, note, current_actor(), scope.as_of)
                    except (alerts.AlertError, PermissionError) as exc:
                        st.error(escape_markdown(exc))
                    else:
                        st.rerun()
if not history.empty:
    with st.expander(f"Acknowledged alerts ({len(history)})"):
        table_with_csv(history[["since", "level", "kind", "reason", "note", "acknowledged_by", "acknowledged_at"]],
                       f"{info['client']}-alert-history.csv", "cd_history", column_config=HEADINGS)

routine_names = metrics.routine_names(store)
ROUTINE_LABELS = {"routine_id": routine_names, "named_routine": routine_names}

st.subheader("Notes")
notes = detail.sessions[detail.sessions["notes"].notna()].iloc[::-1]
if notes.empty:
    st.caption("No notes in this period.")
else:
    table_with_csv(notes[["session_date", "named_routine", "notes", "warning_signs", "pain_before", "pain_after"]],
                   f"{info['client']}-notes.csv", "cd_notes", labels=ROUTINE_LABELS,
                   column_config={**HEADINGS, "session_date": st.column_config.DateColumn("Date", pinned=True),
                                  "named_routine": "Routine", "notes": st.column_config.TextColumn("Note", width="large")})

st.subheader("Sessions")
table_with_csv(detail.sessions.drop(columns=["red_flags"]), f"{info['client']}-sessions.csv", "cd_sessions",
               labels=ROUTINE_LABELS,
               column_config={**HEADINGS, "session_date": st.column_config.DateColumn("Date", pinned=True)})

st.subheader("Assignments")
table_with_csv(detail.assignments, f"{info['client']}-assignments.csv", "cd_assignments", labels=ROUTINE_LABELS,
               column_config={**HEADINGS, "routine_name": None,
                              "adherence": st.column_config.NumberColumn("Adherence (period)", format="percent")})
if not detail.findings.empty:
    st.markdown("**Safety findings staff saw or overrode**")
    table_with_csv(detail.findings, f"{info['client']}-safety-findings.csv", "cd_findings", labels=ROUTINE_LABELS,
                   column_config={**HEADINGS, "reason": st.column_config.TextColumn("Reason", width="large"),
                                  "override_reason": st.column_config.TextColumn("Override reason", width="medium")})
with st.expander("Pain response per assignment"):
    table_with_csv(detail.pain.drop(columns=["client_id", "client"]), f"{info['client']}-pain.csv", "cd_pain_table",
                   labels=ROUTINE_LABELS, column_config={**HEADINGS, "routine_name": None,
                                                         "change": st.column_config.NumberColumn("Change", format="%+.1f")})
