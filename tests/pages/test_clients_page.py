"""Clients page (AppTest): list and filters, the client form, safe assignment, handout, roles."""

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.practice import assignments
from core import clock
from core.practice import clients
from core.library.content import sync_library
from core.db.store import Store
from pages.common import get_store

TODAY = clock.today()


def prepare(db_path: Path) -> None:
    """Library and two clients: Ana, 24 weeks pregnant today, and Ravi, a runner with a red flag."""
    with Store(db_path) as store:
        sync_library(store)
        clients.create_client(store, {"code": "ANA", "display_name": "Ana Silva", "gestation_weeks": 24,
                                "gestation_on": TODAY, "therapist": "Ben"}, "cli", TODAY)
        clients.create_client(store, {"code": "R-1", "display_name": "Ravi", "segments": ["runner"],
                                "flags": ["saddle_numbness"]}, "cli", TODAY)


def open_page(app_as, app_db: Path, role: str = "therapist", client: str | None = None) -> AppTest:
    """The Clients page for the therapist ``olga`` (or another role), optionally at ``?client=``."""
    at = app_as(role, "olga")
    prepare(app_db)
    at.run()
    if client:
        at.query_params["client"] = client
    at.switch_page("pages/clients.py").run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def db(app_db: Path) -> Store:
    return get_store()  # the app's own store: the database file is held open by the app process


def test_list_search_and_filters(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db)
    assert list(at.dataframe[0].value["code"]) == ["ANA", "R-1"]
    at.text_input(key="clients_search").input("rav").run()
    assert list(at.dataframe[0].value["code"]) == ["R-1"]
    at.text_input(key="clients_search").input("").run()
    at.multiselect(key="clients_segments").set_value(["pregnant"]).run()
    assert list(at.dataframe[0].value["code"]) == ["ANA"]
    assert at.dataframe[0].value["pregnancy_week"].tolist() == [24]
    at.multiselect(key="clients_therapists").set_value(["Ben"]).run()
    assert list(at.dataframe[0].value["code"]) == ["ANA"]


def test_query_parameter_opens_a_client(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, client="R-1")
    assert at.header[0].value == "Ravi · R-1"
    assert any("Saddle numbness" in w.value for w in at.warning)


def test_detail_shows_the_pregnancy_week(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, client="ANA")
    assert at.header[0].value == "Ana Silva · ANA"
    assert any("24+0 weeks pregnant (trimester 2)" in m.value for m in at.markdown)


def test_add_a_client_and_refuse_bad_input(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db)
    at.text_input(key="new_client_name").input("Dana Berg")
    at.multiselect(key="new_client_segments").set_value(["desk_worker"])
    at.date_input(key="new_client_due").set_value(TODAY + timedelta(days=400))
    button(at, "Add client").click().run()
    assert any("more than 42 weeks" in e.value for e in at.error)
    assert db(app_db).scalar("SELECT count(*) FROM clients") == 2
    at.text_input(key="new_client_name").input("Dana Berg")
    at.date_input(key="new_client_due").set_value(None)
    at.number_input(key="new_client_weeks").set_value(30)
    button(at, "Add client").click().run()
    assert not at.exception and not at.error
    dana = clients.find_client(db(app_db), "C00001")
    assert dana.display_name == "Dana Berg" and dana.segments == ("desk_worker", "pregnant")
    assert dana.pregnancy(TODAY).week == 30
    assert at.header[0].value == "Dana Berg · C00001"          # the new client is opened


def test_assign_with_warnings_needs_the_tick(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, client="ANA")
    assert at.selectbox(key="assign_routine").value == "daily-psoas-routine"
    warnings = [w.value for w in at.warning]
    assert any("Glute bridge" in w and "vena cava" in w for w in warnings)
    button(at, "Assign").click().run()
    assert any("tick that you have read the warnings" in e.value for e in at.error)
    assert db(app_db).scalar("SELECT count(*) FROM assignments") == 0
    at.checkbox(key="assign_seen_daily-psoas-routine").check()
    button(at, "Assign").click().run()
    assert not at.exception
    assert any("Assigned Daily psoas routine" in s.value for s in at.success)
    store = db(app_db)
    assert store.rows("SELECT routine_id, assigned_by FROM assignments") == [("daily-psoas-routine", "olga")]
    assert store.scalar("SELECT count(*) FROM safety_reviews WHERE level = 'warn' AND reviewed_by = 'olga'") == 3   # + no care-provider clearance
    handout = at.get("download_button")
    assert handout and "Download handout" in handout[0].proto.label


def test_a_block_needs_an_override_reason(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, client="R-1")
    at.selectbox(key="assign_routine").set_value("runner-warm-up-cool-down").run()
    assert any("same-day medical assessment" in e.value for e in at.error)
    button(at, "Assign").click().run()
    assert any("give an override reason" in e.value for e in at.error)
    # typing the reason and clicking Assign at once is enough (one run, as one click in a browser)
    at.text_area(key="assign_override_runner-warm-up-cool-down").input("Seen by GP today, cleared")
    button(at, "Assign").click().run()
    assert not at.exception
    assert db(app_db).rows("SELECT level, override_reason, reviewed_by FROM safety_reviews") == [
        ("block", "Seen by GP today, cleared", "olga")]


def test_edit_archive_and_program_actions(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, client="ANA")
    at.text_input(key="edit_1_therapist").input("Chloe")
    button(at, "Save client").click().run()
    assert clients.find_client(db(app_db), "ANA").therapist == "Chloe"
    result = assignments.assign(db(app_db), "ANA", "pregnancy-second-trimester", TODAY, "cli", TODAY)
    at.run()
    at.date_input(key=f"pause_day_{result.assignment.id}").set_value(TODAY + timedelta(days=2))
    button(at, "Pause").click().run()
    assert db(app_db).rows("SELECT paused_from FROM assignment_pauses") == [(TODAY + timedelta(days=2),)]
    button(at, "Archive client").click().run()
    assert clients.find_client(db(app_db), "ANA").archived


def test_viewers_read_but_cannot_write(app_as, app_db: Path) -> None:
    at = open_page(app_as, app_db, role="viewer", client="ANA")
    assignments.assign(db(app_db), "ANA", "pregnancy-second-trimester", TODAY, "cli", TODAY)
    at.run()
    labels = {b.label for b in at.button}
    assert not labels & {"Add client", "Assign", "Save client", "Archive client", "Pause", "End program"}
    assert at.get("download_button")          # reading the handout is allowed


def test_a_therapist_sees_and_registers_clients_of_her_sites_only(app_as, app_db: Path) -> None:
    from core.access.sites import add_site, set_member_sites

    at = app_as("therapist", "olga")
    prepare(app_db)
    with Store(app_db) as store:
        add_site(store, "cli", "north", "North clinic")
        with store.transaction() as cur:
            cur.execute("UPDATE clients SET site = 'north' WHERE code = 'R-1'")
    at.run()
    at.query_params["client"] = "R-1"                 # a client of the other site, typed into the address
    at.switch_page("pages/clients.py").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["code"]) == ["ANA"]
    assert at.selectbox(key="clients_open").value == "ANA"
    assert "Ravi" not in " ".join(str(e.value) for e in [*at.markdown, *at.header])
    # once she works at both sites, she sees both, with their site, and picks one for a new client
    set_member_sites(db(app_db), "cli", "olga", ["main", "north"])
    at.run()
    listed = at.dataframe[0].value
    assert list(zip(listed["code"], listed["site"])) == [("ANA", "Main site"), ("R-1", "North clinic")]
    at.text_input(key="new_client_name").input("Nia North")
    at.selectbox(key="new_client_site").set_value("north")
    button(at, "Add client").click().run()
    assert not at.exception, at.exception
    assert clients.require_client(db(app_db), "C00001").site == "north"
