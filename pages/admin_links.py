"""Share links: make a read-only dashboard link for one client, one segment or (owners) the whole
practice; see who made each link and how often it was opened; revoke it with one click.

Owners see every link, therapists the links they made."""

import pandas as pd
import streamlit as st

from core.sharing import links
from core.practice.clients import SEGMENT_LABELS, SEGMENTS, ClientFilter, list_clients
from pages.checkin_links import links_list
from pages.common import (act, configured_base_url, current_actor, current_role, escape_markdown, get_store,
                          member_sites, show_flash, show_table, site_choices)

NEW_LINK_KEY = "share_new_link"
FORM_KEYS = ("share_client", "share_segment", "share_days", "share_label", "share_deidentify", "share_named_ok",
             "share_sites")
KIND_LABELS = {"client": "One client", "segment": "One segment", "practice": "Practice overview"}

store = get_store()
actor = current_actor()
role = current_role()
st.title("Share links")
show_flash()

created = st.session_state.pop(NEW_LINK_KEY, None)
if created is not None:
    st.success(f"Link {created['id']} made for {escape_markdown(links.scope_label(created['scope'], SEGMENT_LABELS))},"
               f" valid until "
               f"{created['expires_at'].replace('T', ' ')} UTC.")
    st.code(created["url"], language=None)
    st.warning("Copy the link now: only a fingerprint of it is stored, so it cannot be shown again. "
               "Anyone who has it can open this dashboard until it expires or you revoke it.")

with st.expander("Make a new link", expanded=created is None):
    kinds = ["client", "segment", *(["practice"] if role == "owner" else [])]
    kind = st.radio("Show", kinds, format_func=KIND_LABELS.get, horizontal=True, key="share_kind")
    scope = "practice"
    if kind == "client":
        clients = list_clients(store, ClientFilter(status="active", sites=member_sites()))
        names = dict(zip(clients["code"], clients["name"]))
        code = st.selectbox("Client", list(names), index=None, placeholder="Type a code or name",
                            format_func=lambda c: f"{c} — {names[c]}", key="share_client")
        scope = f"client:{code}" if code else None
    elif kind == "segment":
        segment = st.selectbox("Segment", SEGMENTS, format_func=SEGMENT_LABELS.get, key="share_segment")
        scope = f"segment:{segment}"
    offered_sites, site_names = site_choices(store)
    link_sites = None
    if kind != "client" and len(offered_sites) > 1:
        link_sites = st.multiselect("Only these sites' clients", offered_sites, key="share_sites",
                                    format_func=lambda s: site_names.get(s, s), placeholder="all your sites",
                                    help="A therapist's link always shows only the sites they work at.") or None
    c1, c2 = st.columns([1, 3])
    days = c1.number_input("Valid for (days)", min_value=1, max_value=links.MAX_DAYS, value=links.DEFAULT_DAYS,
                           step=1, key="share_days")
    label = c2.text_input("Label (who it is for; optional)", max_chars=links.MAX_LABEL, key="share_label")
    deidentify = st.checkbox("De-identify: client codes instead of names, and no notes", key="share_deidentify")
    named = links.client_names_in(store, label) if deidentify else []
    if named:
        st.warning("The label names a client (" + ", ".join(escape_markdown(n) for n in named[:3])
                   + "): a de-identified link shows its label on top. Leave the name out.", icon=":material/badge:")
        st.checkbox("Keep this label anyway", key="share_named_ok")
    if st.button("Make link", type="primary", key="share_create", disabled=scope is None):
        if named and not st.session_state.get("share_named_ok"):
            st.error("Not made yet: change the label, or tick “Keep this label anyway”.")
            st.stop()
        try:
            link = links.create_link(store, actor, scope, days=int(days), label=label, deidentify=deidentify,
                                     base=configured_base_url(), sites=link_sites)
        except (ValueError, PermissionError) as exc:
            st.error(escape_markdown(exc))
        else:
            st.session_state[NEW_LINK_KEY] = link.as_dict()
            for widget in FORM_KEYS:  # the next link starts from an empty form (no label carried over)
                st.session_state.pop(widget, None)
            st.rerun()

site_names = site_choices(store)[1]
table = links.list_links(store, actor)
active = table[table["status"] == "active"]
st.subheader(f"Active links ({len(active)})")
if active.empty:
    st.info("No active links." + ("" if role == "owner" else " You see the links you made."))
for link in active.to_dict("records"):  # one row per link, for its one-click revoke button
    with st.container(border=True):
        what, made, use, button = st.columns([3, 3, 2, 1], vertical_alignment="center")
        what.markdown(f"**{escape_markdown(links.scope_label(link['scope'], SEGMENT_LABELS))}**"
                      + (f" · {escape_markdown(link['label'])}" if link["label"] else "")
                      + (" · de-identified" if link["deidentify"] else "")
                      + (f" · {escape_markdown(', '.join(site_names.get(c, c) for c in link['sites'].split(',')))}"
                         if isinstance(link["sites"], str) else ""))
        made.caption(f"made by {escape_markdown(link['created_by'])} · expires "
                     f"{link['expires_at']:%Y-%m-%d %H:%M} UTC")
        last = link["last_opened_at"]
        use.caption(f"{link['opens']} open(s) · " + (f"last {last:%Y-%m-%d %H:%M} UTC" if pd.notna(last)
                                                     else "never opened"))
        if button.button("Revoke", key=f"revoke_{link['id']}"):
            act(lambda link_id=link["id"]: links.revoke(store, actor, link_id), f"Link {link['id']} revoked.")

past = table[table["status"] != "active"]
if not past.empty:
    with st.expander(f"Expired and revoked links ({len(past)})"):
        show_table(past, column_config={
            "id": "Link", "scope": "Scope", "label": "Label", "deidentify": "De-identified",
            "created_by": "Made by", "created_at": st.column_config.DatetimeColumn("Made (UTC)"),
            "expires_at": st.column_config.DatetimeColumn("Expires (UTC)"), "status": "Status",
            "last_opened_at": st.column_config.DatetimeColumn("Last opened (UTC)"), "opens": "Opens",
            "revoked_by": "Revoked by", "revoked_at": st.column_config.DatetimeColumn("Revoked (UTC)")})
st.subheader("Clients' check-in links")
st.caption("Write-only links clients use on their phone to log sessions. Make one on the client's page.")
links_list(store)

try:
    pointing = f"Links point at {escape_markdown(links.base_url(configured_base_url()))}."
except links.LinkError as exc:
    pointing = f"The configured base URL is not usable: {escape_markdown(exc)}."
st.caption(f"{pointing} Whoever runs the server sets the address the people you share with can reach"
           " (`ROUTINE_DESK_BASE_URL`, or `base_url` under `[routine_desk]` in the server's secrets file).")
