"""Cohorts: adherence and pain response by week of program, compared between segments or routines.

Week 1 is each assignment's own first seven days, so clients who started at different times line
up. Definitions: docs/analytics/metrics.md ("Cohorts"). Filters live in the URL like the overview's.
"""

from datetime import date

import streamlit as st

from core.analytics import charts
from core import clock
from core.analytics import metrics
from core.practice.clients import SEGMENT_LABELS
from pages.common import (HEADINGS, escape_markdown, filter_choices, get_store, member_sites, site_choices,
                          table_with_csv)

BY = {"segment": "Segment", "routine": "Routine"}


@st.cache_data(show_spinner="Lining up the cohorts…", max_entries=64, ttl=3600)
def cohort_view(_store, db: str, version: str, scope: metrics.Scope, by: str, weeks: int):
    return metrics.cohorts(_store, scope, by=by, weeks=weeks)


store = get_store()
db, version, today = store.location, store.version, clock.today()
allowed = member_sites()  # read each run: every choice and figure below stays within these sites
choices = filter_choices(store, db, version, allowed)
offered_sites, site_names = site_choices(store)
query = {name: st.query_params.get_all(name) for name in st.query_params}
asked, problems = metrics.scope_from_query(query, today, default_days=metrics.COHORT_LOOKBACK_DAYS, options=choices)
asked_by = (query.get("by") or ["segment"])[0]
asked_weeks = (query.get("weeks") or [str(metrics.COHORT_WEEKS)])[0]
for key, value in (("co_by", asked_by if asked_by in BY else "segment"), ("co_days", asked.days),
                   ("co_weeks", int(asked_weeks) if asked_weeks.isdigit() and 1 <= int(asked_weeks) <= 52
                    else metrics.COHORT_WEEKS),
                   ("co_as_of", asked.as_of), ("co_segment", list(asked.segments)),
                   ("co_routine", list(asked.routines)), ("co_site", list(asked.sites or ()))):
    st.session_state.setdefault(key, value)

st.title("Cohorts")
st.caption("Assignments started in the chosen period, lined up by week since their start. Adherence is the mean"
           " over assignments of sessions counted / expected in that week; pain change is the mean of (pain before"
           " sessions that week − the assignment's baseline). Reported by clients.")
for problem in problems:
    st.warning(f"Link: {escape_markdown(problem)}.", icon=":material/link:")
names = metrics.routine_names(store)
# Two rows of controls: in one row of six the Compare control and the date were clipped at 1400 px.
a, b, c, d = st.columns([1.3, 1.2, 0.8, 1.1])
e, f = st.columns(2)
by = a.segmented_control("Compare", list(BY), key="co_by", format_func=BY.get) or "segment"
periods = sorted(set(metrics.PERIODS) | {st.session_state["co_days"]})
days = b.selectbox("Started in the last", periods, key="co_days", format_func=lambda n: f"{n} days")
weeks = c.number_input("Weeks", min_value=1, max_value=52, step=1, key="co_weeks")
as_of = d.date_input("As of", key="co_as_of", max_value=date(2100, 1, 1))
segments = e.multiselect("Segment", choices["segment"], key="co_segment", placeholder="all segments",
                         format_func=lambda s: SEGMENT_LABELS.get(s, s))
routines = f.multiselect("Routine", choices["routine"], key="co_routine", placeholder="all routines",
                         format_func=lambda r: names.get(r, r))
picked_sites = ()
if len(offered_sites) > 1:  # a practice with one site (or a member of one) needs no site filter
    picked_sites = st.multiselect("Site", offered_sites, key="co_site", placeholder="all your sites",
                                  format_func=lambda s: site_names.get(s, s))
scope = metrics.Scope(as_of=as_of, days=days, segments=tuple(segments), routines=tuple(routines),
                      sites=tuple(picked_sites) or None)
url = metrics.scope_to_query(scope, today, default_days=metrics.COHORT_LOOKBACK_DAYS)
if by != "segment":
    url["by"] = [by]
if int(weeks) != metrics.COHORT_WEEKS:
    url["weeks"] = [str(int(weeks))]
st.query_params.from_dict(url)
scope = metrics.within_allowed_sites(scope, allowed)  # never past the member's own sites

found = cohort_view(store, db, version, scope, by, int(weeks))
group_names = names if by == "routine" else metrics.SEGMENT_GROUP_LABELS
labelled = found.assign(group=found["group"].map(group_names).fillna(found["group"]))
left, right = st.columns(2)
left.plotly_chart(charts.cohort_lines(labelled, "adherence"), theme=None, key="co_adherence")
right.plotly_chart(charts.cohort_lines(labelled, "pain_change"), theme=None, key="co_pain")
st.caption("Later weeks hold fewer assignments (only those that have reached them); read small n with care.")
table_with_csv(found, f"cohorts-by-{by}.csv", "co_table", labels={"group": group_names}, column_config={
    **HEADINGS, "group": st.column_config.TextColumn(BY[by], pinned=True), "week": "Week of program",
    "adherence": st.column_config.NumberColumn("Adherence", format="percent"),
    "mean_pain": st.column_config.NumberColumn("Mean pain before", format="%.1f"),
    "pain_change": st.column_config.NumberColumn("Pain change", format="%+.1f")})
