"""What a ?share= link opens: one scope's dashboard, read-only, with its expiry on top.

Every link that opens nothing — malformed, unknown, expired, revoked — gets the same neutral page.
The only widget is the period selector (it reads, never writes); there is no navigation, no
sidebar, and nothing from outside the link's scope."""

import streamlit as st

from core import clock
from core.sharing.dashboard import PERIODS, shared_dashboard
from pages.common import escape_markdown, get_store, shared_link, show_table

link = shared_link()
dashboard = None
banner, controls = st.empty(), st.empty()  # the banner goes above the period selector
if link is not None:
    with controls:
        days = st.segmented_control("Period", PERIODS, default=PERIODS[0], format_func=lambda d: f"{d} days",
                                    key="share_filter_days") or PERIODS[0]
    dashboard = shared_dashboard(get_store(), link, clock.today(), days)
if dashboard is None:
    controls.empty()
    st.title("This link is not valid")
    st.write("It may have expired or been withdrawn. Ask the person who sent it to you for a new link.")
    st.stop()

label = f" · {escape_markdown(link.label)}" if link.label else ""
banner.info(f"Read-only view{label} · expires on {link.expires_at:%d %B %Y, %H:%M} UTC", icon=":material/lock:")
st.title(escape_markdown(dashboard.title))
st.caption(f"The {dashboard.days} days up to {dashboard.as_of:%d %B %Y}.")

for card, (name, value) in zip(st.columns(len(dashboard.kpis)), dashboard.kpis.items()):
    card.metric(name, value)

for figure in dashboard.charts:
    st.plotly_chart(figure, theme=None, config={"displaylogo": False})

for heading, table in dashboard.tables.items():
    st.subheader(heading)
    show_table(table)
