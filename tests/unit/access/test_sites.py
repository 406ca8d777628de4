"""Sites: the migration that brings them, the allowed-sites rule, and the refusal of a client of
another site wherever one client is looked up or written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.access import sites
from core.access.auth import PermissionDenied, create_user, set_active, set_role
from core.access.sites import SiteError
from core.db import store as store_module
from core.db.store import Store, utcnow
from core.practice import clients
from core.practice.assignments import assign, end_assignment
from core.practice.handouts import HandoutError, handout_data
from core.sessions.checks import log_session
from core.sharing.checkin import CheckinError, create_checkin

PASSWORD = "a-long-enough-password"
TODAY = date(2025, 3, 26)


@pytest.fixture
def chain(store: Store) -> Store:
    """Two sites, main and north; therapist ana at main, nico at north, vera (viewer) at both,
    olga an owner; client M1 at main and N1 at north."""
    sites.add_site(store, "cli", "north", "North clinic")
    create_user(store, "cli", "olga", "owner", PASSWORD)
    for name, role, where in (("ana", "therapist", ["main"]), ("nico", "therapist", ["north"]),
                              ("vera", "viewer", ["main", "north"])):
        create_user(store, "cli", name, role, PASSWORD)
        sites.set_member_sites(store, "cli", name, where)
    clients.create_client(store, {"code": "M1", "display_name": "Mia Main"}, "cli", TODAY)
    clients.create_client(store, {"code": "N1", "display_name": "Noor North", "site": "north"}, "cli", TODAY)
    return store


def client_id(store: Store, code: str) -> int:
    return clients.require_client(store, code).id


# -- the migration ------------------------------------------------------------------------------

def test_the_migration_puts_an_existing_practice_in_one_default_site(db_path: Path, monkeypatch) -> None:
    before_sites = [m for m in store_module.load_migrations() if m.version < 60]
    monkeypatch.setattr(store_module, "load_migrations", lambda: before_sites)
    with Store(db_path) as old:  # the practice as it was before sites
        now = utcnow()
        with old.transaction() as cur:
            for code in ("A1", "A2"):
                cur.execute("INSERT INTO clients (code, display_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                            [code, f"Client {code}", now, now])
            for name, role in (("boss", "owner"), ("tess", "therapist"), ("vic", "viewer")):
                cur.execute("INSERT INTO users (username, role, created_at) VALUES (?, ?, ?)", [name, role, now])
    monkeypatch.undo()
    with Store(db_path) as upgraded:
        assert [(s.code, s.name) for s in sites.list_sites(upgraded)] == [("main", "Main site")]
        assert upgraded.rows("SELECT code, site FROM clients ORDER BY code") == [("A1", "main"), ("A2", "main")]
        # nothing a therapist or viewer saw disappears; the owner sees all without a row
        assert (sites.allowed_sites(upgraded, "tess"), sites.allowed_sites(upgraded, "vic")) == (("main",), ("main",))
        assert sites.member_sites(upgraded, "boss") == () and sites.allowed_sites(upgraded, "boss") is None


# -- who sees which sites -----------------------------------------------------------------------

def test_owners_and_the_system_see_every_site_members_their_own(chain: Store) -> None:
    assert sites.allowed_sites(chain, "olga") is None
    assert sites.allowed_sites(chain, "cli") is None
    assert sites.allowed_sites(chain, "ana") == ("main",)
    assert sites.allowed_sites(chain, "nico") == ("north",)
    assert sites.allowed_sites(chain, "vera") == ("main", "north")
    assert sites.allowed_sites(chain, "nobody") == ()


def test_a_role_change_or_a_disabled_account_applies_at_once(chain: Store) -> None:
    set_role(chain, "cli", "ana", "owner")
    assert sites.allowed_sites(chain, "ana") is None
    set_role(chain, "cli", "ana", "therapist")
    assert sites.allowed_sites(chain, "ana") == ("main",)
    set_active(chain, "cli", "ana", False)
    assert sites.allowed_sites(chain, "ana") == ()


@pytest.mark.parametrize(("asked", "allowed", "shown"), [
    (None, None, None),                          # owner, no filter: every site
    (("north",), None, ("north",)),              # owner picks north
    (None, ("main",), ("main",)),                # therapist, no filter: their site
    (("main", "north"), ("main",), ("main",)),   # a filter wider than allowed is cut
    (("north",), ("main",), ()),                 # a filter outside allowed shows nobody
    (None, (), ()),                              # a member without a site sees nobody
])
def test_what_a_view_shows_is_the_filter_cut_to_what_is_allowed(asked, allowed, shown) -> None:
    assert sites.within_sites(asked, allowed) == shown


def test_a_new_member_of_a_one_site_practice_works_there(store: Store) -> None:
    create_user(store, "cli", "tess", "therapist", PASSWORD)
    assert sites.member_sites(store, "tess") == ("main",)
    sites.add_site(store, "cli", "north", "North clinic")
    create_user(store, "cli", "nils", "therapist", PASSWORD)   # several sites: the owner chooses
    assert sites.member_sites(store, "nils") == () and sites.allowed_sites(store, "nils") == ()


def test_sites_are_named_by_owners_with_codes_that_stay(chain: Store) -> None:
    with pytest.raises(SiteError, match="already exists"):
        sites.add_site(chain, "cli", "North", "Another")
    with pytest.raises(SiteError, match="lower-case letters"):
        sites.add_site(chain, "cli", "south clinic", "South")
    with pytest.raises(PermissionDenied):
        sites.add_site(chain, "ana", "south", "South")
    with pytest.raises(PermissionDenied):
        sites.set_member_sites(chain, "ana", "ana", ["north"])
    with pytest.raises(SiteError, match="unknown site 'south'"):
        sites.set_member_sites(chain, "cli", "ana", ["south"])
    assert sites.rename_site(chain, "olga", "north", "  North   studio ").name == "North studio"
    assert sites.site_labels(chain) == {"main": "Main site", "north": "North studio"}


# -- clients of another site --------------------------------------------------------------------

def test_a_new_client_joins_the_members_site_and_only_one_of_theirs(chain: Store) -> None:
    made = clients.create_client(chain, {"display_name": "By Ana"}, "ana", TODAY)
    assert made.site == "main"
    with pytest.raises(PermissionDenied, match="do not work at site 'north'"):
        clients.create_client(chain, {"display_name": "Elsewhere", "site": "north"}, "ana", TODAY)
    with pytest.raises(clients.ClientError, match="unknown site 'south'"):
        clients.create_client(chain, {"display_name": "Nowhere", "site": "south"}, "olga", TODAY)
    create_user(chain, "cli", "tom", "therapist", PASSWORD)
    sites.set_member_sites(chain, "cli", "tom", ["main", "north"])
    with pytest.raises(clients.ClientError, match="choose one of main, north"):
        clients.create_client(chain, {"display_name": "Which site"}, "tom", TODAY)
    assert clients.create_client(chain, {"display_name": "Owner's"}, "olga", TODAY).site == "main"


def test_a_client_of_another_site_is_not_found_and_not_changed(chain: Store) -> None:
    north = client_id(chain, "N1")
    ana = sites.allowed_sites(chain, "ana")
    assert clients.find_client(chain, "N1", ana) is None
    assert clients.find_client(chain, str(north), ana) is None
    assert clients.find_client(chain, "M1", ana).code == "M1"
    listed = clients.list_clients(chain, clients.ClientFilter(sites=ana), TODAY)
    assert list(listed["code"]) == ["M1"] and list(listed["site"]) == ["main"]
    assert clients.list_clients(chain, clients.ClientFilter(sites=()), TODAY).empty
    fields = clients.client_input(clients.get_client(chain, north)) | {"notes": "changed"}
    with pytest.raises(PermissionDenied):
        clients.update_client(chain, north, fields, "ana", TODAY)
    with pytest.raises(PermissionDenied):
        clients.archive_client(chain, north, "ana")
    assert clients.get_client(chain, north).notes is None and not clients.get_client(chain, north).archived
    # moving a client: only to a site of the member's
    with pytest.raises(PermissionDenied):
        clients.update_client(chain, client_id(chain, "M1"),
                              clients.client_input(clients.require_client(chain, "M1")) | {"site": "north"},
                              "ana", TODAY)
    moved = clients.update_client(chain, north, fields | {"site": "main"}, "olga", TODAY)
    assert moved.site == "main" and moved.notes == "changed"


def test_assignments_handouts_checkins_and_session_logs_refuse_another_sites_client(chain: Store) -> None:
    routine = chain.scalar("SELECT id FROM routines WHERE id NOT LIKE 'pregnancy%' ORDER BY id LIMIT 1")
    with pytest.raises(PermissionDenied):
        assign(chain, "N1", routine, TODAY, "ana", TODAY)
    made = assign(chain, "N1", routine, TODAY, "nico", TODAY).assignment
    with pytest.raises(PermissionDenied):
        end_assignment(chain, made.id, TODAY, "ana")
    with pytest.raises(HandoutError, match="unknown client 'N1'"):
        handout_data(chain, "N1", TODAY, sites=sites.allowed_sites(chain, "ana"))
    assert handout_data(chain, "N1", TODAY, sites=sites.allowed_sites(chain, "nico")).client_code == "N1"
    with pytest.raises(CheckinError, match="unknown client 'N1'"):
        create_checkin(chain, "ana", "N1", days=7)
    logged = log_session(chain, {"client": "N1", "session_date": TODAY, "routine": routine}, "ana", TODAY)
    assert (logged.status, logged.reasons) == (
        "rejected", ["unknown client 'N1': no client has this code, email or name"])
    assert chain.scalar("SELECT count(*) FROM session_logs") == 0
    assert sites.may_see_client(chain, "vera", made.client_id)


def test_an_import_by_a_member_reads_only_their_sites_clients(chain: Store) -> None:
    from core.sessions import imports

    # nico (north) imports a file naming N1 (his), M1 (main's) and a new client
    text = ("client,session_date,routine_id,exercises_done\n"
            "N1,2025-03-20,,3\nM1,2025-03-20,,3\nNew Person,2025-03-20,,3\n")
    routine = chain.scalar("SELECT id FROM routines WHERE id NOT LIKE 'pregnancy%' ORDER BY id LIMIT 1")
    text = text.replace(",,", f",{routine},")
    log = imports.read_log_file(text.encode(), "export.csv")
    result = imports.import_log_file(chain, log, imports.ImportOptions(actor="nico", create_clients=True,
                                                                       as_of=TODAY))
    assert (result.accepted, result.rejected, result.new_clients) == (3, 0, 2)
    # M1 is not nico's to see: "M1" reads as a new client's name at his site, never as main's M1
    assert chain.scalar("SELECT count(*) FROM session_logs l JOIN clients c ON c.id = l.client_id"
                        " WHERE c.code = 'M1'") == 0
    assert chain.rows("SELECT display_name, site FROM clients WHERE code LIKE 'C%' ORDER BY code") == [
        ("M1", "north"), ("New Person", "north")]
    # without creating clients, a row naming another site's client is an unknown client
    again = imports.import_log_file(chain, imports.read_log_file(
        f"client,session_date,routine_id,exercises_done\nN1,2025-03-21,{routine},3\n".encode(), "b.csv"),
        imports.ImportOptions(actor="ana", as_of=TODAY))
    assert (again.accepted, again.rejected) == (0, 1)
    assert [r["reasons"] for r in again.reject_rows] == [["unknown client 'N1': no client has this code, email or name"]]


def test_the_sites_offered_are_the_allowed_ones_in_the_sites_order():
    labels = {"main": "Main studio", "north": "North clinic", "east": "East clinic"}
    assert sites.offered_sites(labels, None) == ["main", "north", "east"]
    assert sites.offered_sites(labels, ("east", "north")) == ["north", "east"]
    assert sites.offered_sites(labels, ("gone",)) == []
    assert sites.offered_sites(labels, ()) == []
