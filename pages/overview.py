"""Practice overview: who is slipping, whose pain is rising, what works for whom.

Every figure is defined in docs/analytics/metrics.md (shown in the app on "About these figures") and
computed in core.analytics.metrics / core.analytics.alerts (composed from the read model by
core.analytics.overview). The filters
live in the URL (``?days=56&segment=runner&...``) so a view can be bookmarked and shared with a
colleague; results are cached per filter set and data version.
"""

from datetime import date

import streamlit as st

from core.analytics import alerts
from core.analytics import charts
from core import clock
from core.analytics import metrics
from core.analytics import overview
from core.practice.clients import SEGMENT_LABELS
from pages.common import (HEADINGS, escape_markdown, filter_choices, get_store, member_sites, site_choices,
                          table_with_csv)

GROUP_LABELS = {"segment": "Segment", "routine": "Routine", "therapist": "Therapist"}


@st.cache_data(show_spinner="Computing the overview…", max_entries=16, ttl=3600)  # ~5 MB each at chain size
def practice_view(_store, db: str, version: str, as_of: date, days: int, segments: tuple, therapists: tuple,
                  routines: tuple, names: dict[str, str], sites: tuple | None = None):
    """The overview, its open alerts, the group tables and their charts: cached built, because a
    Plotly figure takes several times longer to build than to unpickle."""
    scope = metrics.Scope(as_of=as_of, days=days, segments=segments, therapists=therapists, routines=routines,
                          sites=sites)
    view, open_alerts = overview.practice_overview(_store, scope)
    groups = dict(view.groups)
    groups["routine"] = groups["routine"].assign(name=groups["routine"]["group"].map(names))
    figures = {"weekly": charts.weekly_adherence(view.weekly)}
    for by, table in groups.items():
        read = table["group"].astype(object).map(group_reader(by, names))
        labelled = table.assign(group=read.where(read.notna(), table["group"].astype(object)))
        figures[f"{by}_adherence"] = charts.group_adherence(labelled, by)
        figures[f"{by}_pain"] = charts.group_pain(labelled, by)
    return view, open_alerts, groups, figures


def overview_alert_rows(found, kinds: tuple[str, ...]):
    """The open alerts of the kinds picked (all when none), most urgent level first, newest first
    within a level."""
    rows = found[found["kind"].isin(kinds)] if kinds else found
    rank = rows["level"].map({level: i for i, level in enumerate(alerts.LEVELS)})
    return (rows.assign(_rank=rank).sort_values(["_rank", "since"], ascending=[True, False])
            .drop(columns="_rank")[["level", "kind", "client", "display_name", "since", "reason"]]
            .reset_index(drop=True))


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def clients_table(_store, db: str, version: str, scope: metrics.Scope):
    return overview.client_adherence(_store, scope)


def pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def group_reader(by: str, names: dict[str, str]) -> dict[str, str]:
    """How a group code reads in a chart or table: segments by label, routines by name."""
    return {"segment": metrics.SEGMENT_GROUP_LABELS, "routine": names}.get(by, {})


store = get_store()
db, version, today = store.location, store.version, clock.today()
allowed = member_sites()  # read each run: every choice and figure below stays within these sites
choices = filter_choices(store, db, version, allowed)
offered_sites, site_names = site_choices(store)
query = {name: st.query_params.get_all(name) for name in st.query_params}
asked, problems = metrics.scope_from_query(query, today, options=choices)

# Widgets start from the URL when the page opens; afterwards the widgets are the truth.
for key, value in (("ov_days", asked.days), ("ov_as_of", asked.as_of), ("ov_segment", list(asked.segments)),
                   ("ov_therapist", list(asked.therapists)), ("ov_routine", list(asked.routines)),
                   ("ov_site", list(asked.sites or ()))):
    st.session_state.setdefault(key, value)

st.title("Practice overview")
for problem in problems:
    st.warning(f"Link: {escape_markdown(problem)}.", icon=":material/link:")
names = metrics.routine_names(store)
period, day, seg, ther, rout = st.columns([1.1, 1, 1.3, 1.3, 1.6])
periods = sorted(set(metrics.PERIODS) | {st.session_state["ov_days"]})
days = period.selectbox("Period", periods, key="ov_days", format_func=lambda d: f"last {d} days")
as_of = day.date_input("As of", key="ov_as_of", max_value=date(2100, 1, 1))
segments = seg.multiselect("Segment", choices["segment"], key="ov_segment", placeholder="all segments",
                           format_func=lambda s: SEGMENT_LABELS.get(s, s))
therapists = ther.multiselect("Therapist", choices["therapist"], key="ov_therapist", placeholder="all therapists")
routines = rout.multiselect("Routine", choices["routine"], key="ov_routine", placeholder="all routines",
                            format_func=lambda r: names.get(r, r))
picked_sites = ()
if len(offered_sites) > 1:  # a practice with one site (or a member of one) needs no site filter
    picked_sites = st.multiselect("Site", offered_sites, key="ov_site", placeholder="all your sites",
                                  format_func=lambda s: site_names.get(s, s))
scope = metrics.Scope(as_of=as_of, days=days, segments=tuple(segments), therapists=tuple(therapists),
                      routines=tuple(routines), sites=tuple(picked_sites) or None)
st.query_params.from_dict(metrics.scope_to_query(scope, today))
scope = metrics.within_allowed_sites(scope, allowed)  # never past the member's own sites

view, open_alerts, groups, figures = practice_view(store, db, version, scope.as_of, scope.days, scope.segments,
                                                  scope.therapists, scope.routines, names, scope.sites)
st.caption(
    f"{scope.period_start:%d %b %Y} – {scope.as_of:%d %b %Y}. Adherence and pain are what clients reported in"
    " their session logs (self-reports tend to run high)."
)
st.page_link("pages/about_figures.py", label="How each figure is worked out", icon=":material/help:")

k = view.kpis
cards = st.columns(5)
cards[0].metric("Active clients", k["active_clients"], border=True,
                help="Clients with at least one active (not paused) assignment day in the period.")
cards[1].metric("Mean adherence", pct(k["mean_adherence"]), border=True,
                help="Mean over clients of: sessions done (at most the expected number each week) / sessions expected.")
cards[2].metric("On track", pct(k["on_track_pct"]), border=True,
                help="Share of active clients with adherence of 80% or more (lapsed clients are not on track).")
cards[3].metric("Pain improved", pct(k["improved_pct"]), border=True,
                help=f"Of {k['assessed']} assignments with at least 4 scored sessions: pain before sessions down by"
                     " 2 points and 30% or more from the first 3 sessions to the last 3.")
cards[4].metric("Open alerts", len(open_alerts), border=True, help="Alerts from the last 28 days nobody has acknowledged.")

st.subheader("Adherence over time")
st.plotly_chart(figures["weekly"], theme=None, key="ov_weekly_chart")
with st.expander("Weekly figures"):
    table_with_csv(view.weekly, "adherence-by-week.csv", "ov_weekly", column_config={
        **HEADINGS, "adherence": st.column_config.NumberColumn("Mean adherence", format="percent")})

st.subheader("By segment, routine and therapist")
for tab, by in zip(st.tabs(["Segment", "Routine", "Therapist"]), metrics.GROUP_BYS):
    with tab:
        table = groups[by]
        left, right = st.columns(2)
        left.plotly_chart(figures[f"{by}_adherence"], theme=None, key=f"ov_{by}_adherence")
        right.plotly_chart(figures[f"{by}_pain"], theme=None, key=f"ov_{by}_pain")
        table_with_csv(table, f"by-{by}.csv", f"ov_{by}", labels={"group": group_reader(by, names)},
                       column_config={**HEADINGS, "group": st.column_config.TextColumn(GROUP_LABELS[by], pinned=True),
                                      "units": "Assignments" if by == "routine" else None,
                                      "name": None})

st.subheader(f"Open alerts ({len(open_alerts)})")
st.caption("Alerts look at the last 28 days up to the date above, whatever the period. Most urgent first;"
           " pick a row to open the client, read the notes and acknowledge the alert.")
if open_alerts.empty:
    st.success("No open alerts for these clients.")
else:
    kinds = st.pills("Kind", alerts.KINDS, selection_mode="multi", key="ov_alert_kinds",
                     format_func=lambda k: alerts.KIND_LABELS.get(k, k),
                     help="Show only these kinds of alert (none picked: every kind).")
    listed = overview_alert_rows(open_alerts, tuple(kinds or ()))
    picked = table_with_csv(
        listed, "open-alerts.csv", "ov_alerts", on_select="rerun", selection_mode="single-row",
        column_order=["level", "since", "client", "display_name", "kind", "reason"],
        column_config={**HEADINGS,
                       "level": st.column_config.TextColumn("Level", width="small", pinned=True),
                       "since": st.column_config.DateColumn("Since", format="D MMM YYYY", width="small", pinned=True),
                       "client": st.column_config.TextColumn("Client", width="small", pinned=True),
                       "display_name": st.column_config.TextColumn("Name", width="medium"),
                       "kind": st.column_config.TextColumn("Kind", width="medium"),
                       "reason": st.column_config.TextColumn("Why", width="large")})
    rows = picked.selection.rows if picked is not None else []
    if rows:
        st.switch_page("pages/client_dashboard.py", query_params={"client": listed.iloc[rows[0]]["client"]})

if st.toggle("Show every client in this view", key="ov_show_clients"):
    table_with_csv(clients_table(store, db, version, scope), "clients-adherence.csv", "ov_clients",
                   column_config={**HEADINGS, "client_id": None})
