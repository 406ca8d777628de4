"""The practice overview in AppTest: the default page, KPIs as computed by hand, filters in the URL,
alerts leading to their client, a CSV download for every table.

The practice (as_of Sun 2025-03-23 from the URL, 14 days = ISO weeks W11 and W12):
X runner, therapist Ana, r-three 7/wk: 7 sessions in W11, none in W12 -> 7/14 = 0.5 at_risk;
  pain 7, 7, 7, 5, 5, 4.5, 4.5 -> improved.
Y runner + desk_worker, Ana, r-six 2/wk: 2 + 2 sessions -> 1.0 on_track; pain 3, 3, 3, 4 -> 4 scored
  sessions, fewer than the 6 the non-overlapping windows need (issue 16) -> insufficient_data.
Z pregnant, no therapist, r-six 7/wk: 1 + 2 sessions -> 3/14 = 0.214 low (a low-adherence alert);
  its 03-20 note is tagged saddle_numbness -> a critical red-flag alert.
KPIs: 3 active clients, mean adherence 0.571 -> "57%", on track 1/3 -> "33%", pain improved
1 of 1 assessed -> "100%" (it was 1 of 2, "50%", before issue 16), open alerts 2.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.db.store import Store
from tests.practice_rows import add_assignment, add_client, add_routine, add_session, days

URL = {"as_of": "2025-03-23", "days": "14"}


def build_practice(store: Store) -> None:
    add_routine(store, "r-three", 3)
    add_routine(store, "r-six", 6)
    x = add_client(store, "X", segments=("runner",), therapist="Ana", name="Xena Ash")
    y = add_client(store, "Y", segments=("runner", "desk_worker"), therapist="Ana", name="Yan Bo")
    z = add_client(store, "Z", segments=("pregnant",), name="Zoë <b>Cole</b>")
    with store.transaction() as cur:  # a known stage, cleared by her care provider: no safety finding
        cur.execute("UPDATE clients SET due_date = DATE '2025-09-01', care_provider_cleared_on = DATE '2025-03-01'"
                    " WHERE id = ?", [z])
    add_assignment(store, x, "r-three", date(2025, 3, 10), weeks=2, sessions_per_week=7)
    add_assignment(store, y, "r-six", date(2025, 3, 10), weeks=2, sessions_per_week=2)
    add_assignment(store, z, "r-six", date(2025, 3, 10), weeks=2, sessions_per_week=7)
    for day, pain in zip(days(date(2025, 3, 10), 7), [7, 7, 7, 5, 5, 4.5, 4.5]):
        add_session(store, x, day, "r-three", pain_before=pain)
    for day, pain in zip([date(2025, 3, 10), date(2025, 3, 12), date(2025, 3, 17), date(2025, 3, 19)], [3, 3, 3, 4]):
        add_session(store, y, day, "r-six", pain_before=pain)
    add_session(store, z, date(2025, 3, 11), "r-six")
    add_session(store, z, date(2025, 3, 18), "r-six")
    add_session(store, z, date(2025, 3, 20), "r-six", notes="numb in the saddle area", red_flags="saddle_numbness")


@pytest.fixture
def practice_db(app_db: Path, built_file) -> Path:
    """The practice in the app's database (requested before `app`, whose account it must not overwrite)."""
    return built_file(build_practice, app_db)


def open_overview(app: AppTest, **query: str) -> AppTest:
    app.query_params.update(query)
    at = app.run()
    assert not at.exception, at.exception
    return at


def metrics_shown(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_overview_is_the_default_page_with_hand_computed_kpis(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL)
    assert at.title[0].value == "Practice overview"
    assert metrics_shown(at) == {"Active clients": "3", "Mean adherence": "57%", "On track": "33%",
                                 "Pain improved": "100%", "Open alerts": "2"}
    assert at.selectbox(key="ov_days").value == 14
    assert at.date_input(key="ov_as_of").value == date(2025, 3, 23)


def test_alerts_are_listed_most_urgent_first_each_leading_to_its_client(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL)
    alerts_table = next(df for df in at.dataframe if df.proto.id and "reason" in df.value.columns)
    shown = alerts_table.value
    assert list(shown["level"]) == ["Critical", "Medium"]         # labels, most urgent first
    assert list(shown["client"]) == ["Z", "Z"]
    assert list(shown["display_name"]) == ["Zoë <b>Cole</b>"] * 2  # a table cell is text, never HTML
    assert "same-day emergency referral" in shown["reason"].iloc[0]
    at.pills(key="ov_alert_kinds").set_value(["red_flag"]).run()
    assert not at.exception
    picked = next(df for df in at.dataframe if "reason" in df.value.columns).value
    assert list(picked["level"]) == ["Critical"] and list(picked["kind"]) == ["Warning sign in notes"]


def test_picking_an_alert_row_opens_its_client(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL)
    at.session_state["ov_alerts_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.query_params.get("client") in ("Z", ["Z"])


def test_filters_come_from_the_url_and_go_back_into_it(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL, segment="runner")
    assert at.multiselect(key="ov_segment").value == ["runner"]
    assert metrics_shown(at)["Active clients"] == "2"            # X and Y
    assert metrics_shown(at)["Mean adherence"] == "75%"
    assert metrics_shown(at)["Open alerts"] == "0"               # Z's alerts are not in this view
    at.multiselect(key="ov_therapist").set_value(["Ana"]).run()
    at.selectbox(key="ov_days").set_value(56).run()
    assert not at.exception
    assert at.query_params == {"as_of": "2025-03-23", "days": "56", "segment": "runner", "therapist": "Ana"}
    at.selectbox(key="ov_days").set_value(28).run()                # the default period stays out of the URL
    assert at.query_params == {"as_of": "2025-03-23", "segment": "runner", "therapist": "Ana"}


def test_routine_filter_counts_only_that_routines_assignments(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL, routine="r-six")
    assert metrics_shown(at)["Active clients"] == "2"            # Y and Z
    assert metrics_shown(at)["Mean adherence"] == "61%"          # (1.0 + 0.214) / 2 = 0.607


def test_a_hand_typed_url_with_bad_values_still_opens(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, as_of="23/03/2025", days="lots", segment="astronaut")
    warnings = " ".join(w.value for w in at.warning)
    assert "is not YYYY-MM-DD" in warnings and "not a number of days" in warnings
    assert "unknown segment 'astronaut'" in warnings
    assert at.multiselect(key="ov_segment").value == []
    assert at.selectbox(key="ov_days").value == 28


def test_every_table_has_a_csv_download(practice_db: Path, app: AppTest) -> None:
    at = open_overview(app, **URL)
    at.toggle(key="ov_show_clients").set_value(True).run()
    tables = [df.proto.id for df in at.dataframe]
    downloads = at.get("download_button")
    assert len(tables) == 6 and len(downloads) == len(tables)   # weekly, 3 groups, alerts, clients
    assert all(d.proto.label == "Download CSV" for d in downloads)
    clients = at.dataframe[-1].value
    assert list(clients["client"]) == ["X", "Y", "Z"] and list(clients["status"]) == ["At risk", "On track", "Low"]


def test_an_empty_practice_shows_empty_states(app: AppTest, app_db: Path) -> None:
    at = app.run()
    assert not at.exception
    assert metrics_shown(at)["Active clients"] == "0" and metrics_shown(at)["Mean adherence"] == "—"
    assert "No open alerts" in at.success[0].value


def test_cohorts_page_lines_up_programs_by_week(practice_db: Path, app: AppTest) -> None:
    # All three programs started 03-10, so program week 1 is W11 and week 2 is W12 for each:
    # runners X (1.0 then 0.0) and Y (1.0, 1.0) -> week 1: 1.0, week 2: 0.5.
    at = app.run()
    at.switch_page("pages/cohorts.py")
    at.query_params = {"as_of": "2025-03-23"}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Cohorts" and len(at.get("plotly_chart")) == 2
    table = at.dataframe[0].value
    runners = table[table["group"] == "Runner"]                  # segments by label
    assert list(runners["week"]) == [1, 2] and list(runners["adherence"]) == [100, 50]  # whole percents
    at.segmented_control(key="co_by").set_value("routine").run()
    assert set(at.dataframe[0].value["group"]) == {"R Three", "R Six"}  # routines by name
    assert at.query_params == {"as_of": "2025-03-23", "by": "routine"}
    assert len(at.get("download_button")) == 1


# -- sites (issue 19) -----------------------------------------------------------------------------

def _z_at_north(app_db: Path) -> None:
    """A second site, north, with Z in it; X and Y stay at main."""
    from core.access.sites import add_site
    from pages.common import get_store

    store = get_store()  # the app of the test has run: its store holds the file (writes go through it)
    add_site(store, "cli", "north", "North clinic")
    with store.transaction() as cur:
        cur.execute("UPDATE clients SET site = 'north' WHERE code = 'Z'")


def test_the_site_filter_shows_only_with_several_sites(app_as, practice_db: Path) -> None:
    at = open_overview(app_as("owner"), **URL)
    assert not [w for w in at.multiselect if w.key == "ov_site"]   # one site: no filter to choose
    _z_at_north(practice_db)
    at = open_overview(app_as("owner"), **URL, site="north")      # a new visit of a bookmarked view
    picker = at.multiselect(key="ov_site")
    assert picker.value == ["north"] and picker.options == ["Main site", "North clinic"]   # names, not codes
    assert metrics_shown(at)["Active clients"] == "1"            # Z: 3/14 = 0.214
    assert metrics_shown(at)["Mean adherence"] == "21%"
    assert metrics_shown(at)["Open alerts"] == "2"
    picker.set_value(["main"]).run()
    assert not at.exception
    assert metrics_shown(at)["Active clients"] == "2"            # X and Y: (0.5 + 1.0) / 2
    assert metrics_shown(at)["Mean adherence"] == "75%"
    assert at.query_params == {"as_of": "2025-03-23", "days": "14", "site": "main"}


def test_a_therapist_never_sees_another_sites_clients(app_as, practice_db: Path) -> None:
    from core.access.sites import set_member_sites

    from pages.common import get_store

    _z_at_north(practice_db)
    at = app_as("therapist", "tina")
    set_member_sites(get_store(), "cli", "tina", ["main"])
    at.query_params.update({**URL, "site": "north"})     # a hand-made URL asking for the other site
    at.run()
    assert not at.exception, at.exception
    assert "unknown site 'north'" in " ".join(w.value for w in at.warning)
    assert not [w for w in at.multiselect if w.key == "ov_site"]   # one site of hers: no filter
    assert metrics_shown(at)["Active clients"] == "2" and metrics_shown(at)["Open alerts"] == "0"
    at.toggle(key="ov_show_clients").set_value(True).run()
    assert list(at.dataframe[-1].value["client"]) == ["X", "Y"]


def test_a_therapists_filter_choices_name_nobody_of_another_site(app_as, practice_db: Path) -> None:
    """The Segment, Therapist and Routine choices of the overview and the cohorts come from the
    member's own sites: Tina of main never reads the name of north's therapist Bob."""
    from core.access.sites import add_site, set_member_sites
    from pages.common import get_store

    _z_at_north(practice_db)
    store = get_store()
    add_site(store, "cli", "south", "South studio")
    with store.transaction() as cur:
        cur.execute("UPDATE clients SET therapist = 'Bob' WHERE code = 'Z'")
    at = app_as("therapist", "tina")
    set_member_sites(store, "cli", "tina", ["main", "south"])
    at = open_overview(at, **URL)
    assert at.multiselect(key="ov_therapist").options == ["Ana"]
    assert at.multiselect(key="ov_segment").options == ["Desk worker", "Runner"]      # not Z's "Pregnant"
    assert at.multiselect(key="ov_routine").options == ["R Six", "R Three"]         # both assigned at main
    assert at.multiselect(key="ov_site").options == ["Main site", "South studio"]
    at.switch_page("pages/cohorts.py").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="co_segment").options == ["Desk worker", "Runner"]

    owner = open_overview(app_as("owner"), **URL)                                    # owners: every site's
    assert owner.multiselect(key="ov_therapist").options == ["Ana", "Bob"]
    assert owner.multiselect(key="ov_segment").options == ["Desk worker", "Pregnant", "Runner"]
