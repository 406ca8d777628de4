"""Sign in: the only page a signed-out visitor can reach. A new database with no accounts shows the
one-time form that creates the practice owner instead."""

import secrets

import streamlit as st

from core.access import auth
from pages.common import NOTICE_KEY, SSO_REFUSED_KEY, get_store, idle_minutes, secret, sign_in, sso_configured

CLIENT_KEY = "sign_in_client"

store = get_store()
st.title("Routine Desk")

notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    st.info(notice)

if auth.count_users(store) == 0:
    st.subheader("Create the owner account")
    st.write("This practice has no staff accounts yet. The first account is the practice owner: it "
             "manages staff and share links. This form is shown only until that account exists.")
    with st.form("first_owner", clear_on_submit=False):
        username = st.text_input("Username", key="first_username", max_chars=auth.MAX_USERNAME)
        display_name = st.text_input("Your name (optional)", key="first_name", max_chars=120)
        password = st.text_input(f"Password (at least {auth.MIN_PASSWORD} characters)", type="password",
                                 key="first_password", max_chars=auth.MAX_PASSWORD)
        repeat = st.text_input("Repeat the password", type="password", key="first_repeat",
                               max_chars=auth.MAX_PASSWORD)
        create = st.form_submit_button("Create the owner account", type="primary")
    if create:
        if password != repeat:
            st.error("The two passwords differ.")
        else:
            try:
                owner = auth.create_first_owner(store, username, password, display_name=display_name)
            except auth.AuthError as exc:
                st.error(str(exc))
            else:
                sign_in(owner)
    st.stop()

st.subheader("Sign in")
if auth.demo_owner_unchanged(store):
    st.info(f"Demo practice: sign in as **{auth.DEMO_OWNER}** with the password "
            f"**{auth.DEMO_OWNER_PASSWORD}**. It is published, so change it (sidebar, Password) or use a "
            "new database before any real client data goes in.")
refused = st.session_state.get(SSO_REFUSED_KEY)
if refused is not None:
    st.error("The account you signed in with is not a staff account of this practice (or its email is "
             "not verified). Ask the practice owner to add your email to your account.")
    if st.button("Sign out of single sign-on", key="sso_logout"):
        st.session_state.pop(SSO_REFUSED_KEY, None)
        st.logout()
elif sso_configured():
    provider = secret("sso_provider")
    if st.button("Sign in with single sign-on", key="sso_login", type="primary"):
        st.login(str(provider) if provider else None)
    st.caption("Or with a Routine Desk account:")

with st.form("sign_in", clear_on_submit=True):
    username = st.text_input("Username", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Sign in")
if submitted:
    # A client that keeps failing is slowed down: by its address, or by this browser session when
    # the address is unknown (a local connection).
    address = st.context.ip_address
    client = address if isinstance(address, str) else st.session_state.setdefault(
        CLIENT_KEY, f"browser:{secrets.token_hex(8)}")
    result = auth.login(store, username, password, client=client)
    if result.ok:
        sign_in(result.user)
    else:
        st.error(result.message)
st.caption(f"For your clients' privacy you are signed out after {idle_minutes()} minutes without activity.")
