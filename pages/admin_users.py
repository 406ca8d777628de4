"""Staff & audit log (owners only): accounts, roles, the sites each member works at, sign-in locks,
single-sign-on emails, the practice's sites, the record of who did what, and backups of the practice."""

from pathlib import Path

import streamlit as st

from core.access import auth, sites
from core.db import backup
from core.db.store import Store
from pages.common import act, current_actor, get_store, idle_minutes, secret, show_flash, show_table, sso_configured

BACKUP_DOWNLOAD_KEY = "backup_download"  # (file name, bytes) of the backup just made, for its download
BACKUP_MADE_KEY = "backup_made"  # the name of the backup "Back up now" just made, said once

store = get_store()
actor = current_actor()
st.title("Staff & audit log")
show_flash()

site_names = sites.site_labels(store)
users = auth.users_table(store)
users["sites"] = [("All sites" if role == "owner" else
                   ", ".join(site_names.get(s, s) for s in sites.member_sites(store, name)) or "No site")
                  for name, role in zip(users["username"], users["role"])]
show_table(users, column_config={
    "username": "Username", "name": "Name", "role": "Role", "email": "SSO email", "status": "Status",
    "sign_in": "Signs in with", "last_login_at": st.column_config.DatetimeColumn("Last sign-in (UTC)"),
    "created_by": "Created by", "created_at": st.column_config.DatetimeColumn("Created (UTC)"),
    "sites": "Sites",
})
st.caption(f"Owners manage staff and every share link; therapists work with clients, routines and logs "
           f"and manage their own links; viewers only read. Therapists and viewers see the clients of their "
           f"sites only. Idle sign-out after {idle_minutes()} minutes. "
           f"Single sign-on is {'configured' if sso_configured() else 'not configured'} "
           "(see README, “Staff sign-in”).")

add_tab, change_tab, sites_tab = st.tabs(["Add a staff member", "Change an account", "Sites"])
with add_tab:
    with st.form("add_user", clear_on_submit=True):
        c1, c2 = st.columns(2)
        username = c1.text_input("Username", key="new_username", max_chars=auth.MAX_USERNAME)
        display_name = c2.text_input("Name (optional)", key="new_name", max_chars=120)
        role = c1.selectbox("Role", auth.ROLES, index=1, format_func=auth.ROLE_LABELS.get, key="new_role")
        email = c2.text_input("Email for single sign-on (optional)", key="new_email", max_chars=200)
        password = c1.text_input(f"First password (at least {auth.MIN_PASSWORD} characters; optional with "
                                 "an SSO email)", type="password", key="new_password", max_chars=auth.MAX_PASSWORD)
        new_sites = c2.multiselect("Works at (therapists and viewers)", list(site_names), key="new_sites",
                                   format_func=lambda s: site_names.get(s, s),
                                   help="With one site, a new member works there; with several, choose.")
        st.caption("Hand the first password over in person; the staff member can change it after signing in.")
        if st.form_submit_button("Add staff member", type="primary"):
            def create() -> None:
                sites.known_sites(store, new_sites)  # an unknown site is refused before the account exists
                user = auth.create_user(store, actor, username, role, password or None, email=email or None,
                                        display_name=display_name)
                if new_sites:
                    sites.set_member_sites(store, actor, user.username, new_sites)

            act(create, f"Account {auth.normalize_username(username)} created.")

with change_tab:
    chosen = st.selectbox("Account", list(users["username"]), key="edit_username")
    user = auth.get_user(store, chosen) if chosen else None
    if user is not None:
        c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
        new_role = c1.selectbox("Role", auth.ROLES, index=auth.ROLES.index(user.role),
                                format_func=auth.ROLE_LABELS.get, key="edit_role")
        if c1.button("Save role", key="save_role"):
            act(lambda: auth.set_role(store, actor, user.username, new_role), f"{user.username} is now {new_role}.")
        if user.active:
            if c2.button("Disable account", key="disable_user"):
                act(lambda: auth.set_active(store, actor, user.username, False), f"{user.username} disabled.")
        elif c2.button("Enable account", key="enable_user"):
            act(lambda: auth.set_active(store, actor, user.username, True), f"{user.username} enabled.")
        if c3.button("Clear sign-in lock", key="unlock_user"):
            act(lambda: auth.unlock(store, actor, user.username), f"Sign-in lock of {user.username} cleared.")
        left, right = st.columns(2)
        with left, st.form("set_password", clear_on_submit=True):
            new_password = st.text_input("New password", type="password", key="edit_password",
                                         max_chars=auth.MAX_PASSWORD)
            repeat = st.text_input("Repeat the new password", type="password", key="edit_repeat",
                                   max_chars=auth.MAX_PASSWORD)
            if st.form_submit_button("Set password"):
                if new_password != repeat:
                    st.error("The two passwords differ.")
                else:
                    act(lambda: auth.set_password(store, actor, user.username, new_password),
                        f"Password of {user.username} changed.")
        with right, st.form("set_email"):
            new_email = st.text_input("Email for single sign-on (empty: none)", value=user.email or "",
                                      key="edit_email", max_chars=200)
            if st.form_submit_button("Save email"):
                act(lambda: auth.set_email(store, actor, user.username, new_email or None),
                    f"SSO email of {user.username} saved.")
        with st.form(f"set_sites_{user.username}"):
            chosen_sites = st.multiselect(
                "Works at", list(site_names), default=list(sites.member_sites(store, user.username)),
                format_func=lambda s: site_names.get(s, s), key=f"edit_sites_{user.username}",
                help="Therapists and viewers see the clients of these sites only; owners see every site.")
            if st.form_submit_button("Save sites"):
                act(lambda: sites.set_member_sites(store, actor, user.username, chosen_sites),
                    f"Sites of {user.username} saved.")

with sites_tab:
    show_table([site.as_dict() for site in sites.list_sites(store)],
               column_config={"code": "Code", "name": "Name", "created_at": st.column_config.DatetimeColumn(
                   "Added (UTC)", format="YYYY-MM-DD")})
    with st.form("add_site", clear_on_submit=True):
        c1, c2 = st.columns([1, 2])
        site_code = c1.text_input("Code (in links and files)", key="new_site_code", max_chars=40,
                                  placeholder="e.g. north")
        site_name = c2.text_input("Name people read", key="new_site_name", max_chars=sites.MAX_NAME,
                                  placeholder="e.g. North clinic")
        if st.form_submit_button("Add site"):
            act(lambda: sites.add_site(store, actor, site_code, site_name), f"Site {site_name} added.")

st.subheader("Audit log")
who = st.selectbox("Actor", ["(everyone)", *users["username"], *sorted(auth.SYSTEM_ACTORS), "(unknown)"],
                   key="audit_actor")
entries = auth.audit_entries(store, limit=500, actor=None if who == "(everyone)" else who)
show_table(entries, column_config={  # actions as phrases and details as "key: value" (show_table)
    "event_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm", pinned=True),
    "actor": st.column_config.TextColumn("Who", pinned=True), "action": "What",
    "detail": st.column_config.TextColumn("Detail", width="large")})
st.caption("The newest 500 entries. Failed sign-ins with an unknown username are listed as “(unknown)”: "
           "the name typed is not kept, in case it was a password.")


# -- backups (issue 17) -------------------------------------------------------------------------
# While the app runs, only the app's process may open the database, so backups are made here.
# Settings in .streamlit/secrets.toml, [routine_desk]: backup_folder (default: "backups" beside the
# database), backup_keep (how many to keep, default 7), daily_backup = true for a backup a day,
# made when an owner opens this page and the newest one is a day old (no thread outlives a run).


def backup_folder(store: Store) -> Path:
    """The folder of a DuckDB practice's backups (a PostgreSQL practice has none: pg_dump)."""
    return Path(str(secret("backup_folder") or store.path.parent / "backups"))


def backups_to_keep() -> int:
    try:
        return max(1, int(secret("backup_keep", 7)))
    except (TypeError, ValueError):
        return 7


def back_up(store: Store, actor: str, reason: str) -> Path:
    """A backup into the folder (the oldest beyond the number kept are removed), recorded in the
    audit log; the .zip of it is kept in this session for the download button."""
    dest, manifest = backup.backup_into(store, backup_folder(store), backups_to_keep())
    auth.audit(store, actor, "backup_made", {"folder": dest.name, "reason": reason,
                                             "rows": sum(manifest.tables.values())})
    archive = backup.zipped(dest)
    try:
        st.session_state[BACKUP_DOWNLOAD_KEY] = (archive.name, archive.read_bytes())
    finally:
        archive.unlink()
    return dest


st.subheader("Backups")
if store.postgres:  # the database server's own tools back it up
    st.info(backup.POSTGRES_BACKUPS)
else:
    folder = backup_folder(store)
    if secret("daily_backup") is True and backup.backup_due(folder):
        try:
            made = back_up(store, actor, "daily")
        except (backup.BackupError, OSError) as exc:
            st.error(f"The daily backup could not be made: {exc}")
        else:
            st.info(f"Daily backup made: {made.name}.")
    last = auth.audit_entries(store, limit=1, action="backup_made")
    last_at = None if last.empty else last["event_at"].iloc[0].to_pydatetime()
    kept = backup.backups_in(folder)
    st.write(f"Last backup: **{backup.age_text(last_at)}**. {len(kept)} kept in the backup folder "
             f"(the newest {backups_to_keep()}).")
    if st.button("Back up now", key="backup_now", icon=":material/backup:"):
        try:
            made = back_up(store, actor, "owner")
        except (backup.BackupError, OSError) as exc:
            st.error(f"The backup could not be made: {exc}")
        else:  # run again, so the age above shows this backup
            st.session_state[BACKUP_MADE_KEY] = made.name
            st.rerun()
    download = st.session_state.get(BACKUP_DOWNLOAD_KEY)
    if download is not None:
        made_now = st.session_state.pop(BACKUP_MADE_KEY, None)
        if made_now:
            st.success(f"Backup made: {made_now}. Download it to keep a copy away from this server.")
        st.download_button("Download the backup (.zip)", data=download[1], file_name=download[0],
                           mime="application/zip", key="backup_download_button", icon=":material/download:")
    st.caption("A backup is a consistent copy of the whole practice with a manifest of what it holds "
               "(encrypted with the practice's key when the practice is encrypted). To restore one, stop "
               "the app and run `routine-desk restore <backup folder or .zip> --db <database file> --force`: "
               "it checks the backup in full before replacing anything (README, “Backups”). "
               + ("A backup is made each day when an owner opens this page." if secret("daily_backup") is True
                  else "For a backup each day, turn on the daily backup setting in the server's secrets"
                       " file (README, “Backups”)."))
