"""Staff widgets for clients' check-in links, shared by the client page and the Share links page:
make a link (shown once, with the handout that prints its QR code), list links with their use,
revoke with one click. Every rule lives in core.sharing.checkin."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core.practice.assignments import current_assignments
from core.practice.clients import Client
from core.practice.handouts import client_handout_pdf, handout_file_name
from core.sharing import checkin
from core.db.store import Store
from pages.common import act, configured_base_url, current_actor, escape_markdown, show_flash

NEW_LINK_KEY = "checkin_new_link"       # the link just made, for this browser session only


def make_link_section(store: Store, client: Client, as_of: date) -> None:
    """Make the client's check-in link; right after, show it once with the handout carrying its QR code."""
    created = st.session_state.get(NEW_LINK_KEY)
    if created is not None and created["client"] == client.code:
        st.success(f"Check-in link {created['id']} made, valid until {created['expires_at'].replace('T', ' ')} UTC.")
        st.code(created["url"], language=None)
        st.warning("Copy the link or print the handout now: only a fingerprint of it is stored, so it cannot be"
                   " shown again. Whoever has it can log sessions for this client until it expires or is revoked.")
        if current_assignments(store, client.id, as_of):
            st.download_button(
                "Handout with the check-in QR code (PDF)",
                data=lambda: client_handout_pdf(store, client.id, as_of, checkin_url=created["url"]),
                file_name=handout_file_name(client.code, as_of), mime="application/pdf", on_click="ignore",
                key="checkin_handout", icon=":material/qr_code_2:")
        if st.button("Hide the link", key="checkin_hide"):
            st.session_state.pop(NEW_LINK_KEY, None)
            st.rerun()
    expiry = checkin.default_expiry(store, client.id, as_of)
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    days = left.number_input("Valid for (days)", min_value=1, max_value=checkin.MAX_DAYS, value=None, step=1,
                             key="checkin_days", placeholder="until the program ends + 14")
    if right.button("Make check-in link", key="checkin_create", icon=":material/add_link:",
                    disabled=expiry is None and days is None):
        try:
            link = checkin.create_checkin(store, current_actor(), client.id, days=int(days) if days else None,
                                          base=configured_base_url(), today=as_of)
        except (ValueError, PermissionError) as exc:
            st.error(str(exc))
        else:
            st.session_state[NEW_LINK_KEY] = link.as_dict()
            st.rerun()
    if expiry is None:
        st.caption("No current program: give the number of days the link should work.")


def links_list(store: Store, client_code: str | None = None) -> None:
    """Active check-in links (of one client, or all the viewer may see) with revoke; the rest folded."""
    show_flash()
    table = checkin.list_checkins(store, current_actor(), client_code)
    active = table[table["status"] == "active"]
    if active.empty:
        st.caption("No active check-in link.")
    for link in active.to_dict("records"):
        with st.container(border=True):
            what, use, button = st.columns([3, 3, 1], vertical_alignment="center")
            what.markdown(f"**Check-in {link['id']}** · {escape_markdown(link['client'])} · made by "
                          f"{escape_markdown(link['created_by'])} · expires {link['expires_at']:%Y-%m-%d} UTC")
            last = link["last_used_at"]
            use.caption(f"{link['sessions']} session(s) saved · "
                        + (f"last used {last:%Y-%m-%d %H:%M} UTC" if pd.notna(last) else "not used yet"))
            if button.button("Revoke", key=f"checkin_revoke_{link['id']}"):
                act(lambda link_id=link["id"]: checkin.revoke_checkin(store, current_actor(), link_id),
                    f"Check-in link {link['id']} revoked.")
    past = table[table["status"] != "active"]
    if not past.empty:
        with st.expander(f"Expired and revoked check-in links ({len(past)})"):
            st.dataframe(past, hide_index=True, width="stretch", column_config={
                "id": "Link", "client": "Client", "created_by": "Made by",
                "created_at": st.column_config.DatetimeColumn("Made (UTC)"),
                "expires_at": st.column_config.DatetimeColumn("Expires (UTC)"), "status": "Status",
                "sessions": "Sessions saved", "last_used_at": st.column_config.DatetimeColumn("Last used (UTC)"),
                "revoked_by": "Revoked by", "revoked_at": st.column_config.DatetimeColumn("Revoked (UTC)")})
