"""The client page in AppTest: reached with ?client=CODE, figures as computed by hand, charts, notes,
history, and acknowledging an alert with a note (owners and therapists only).

Client Z (as_of Sun 2025-03-23 from the URL, 14 days = W11 and W12): r-six 7/wk from 03-10 for
2 weeks, sessions 03-11, 03-18 and 03-20 -> 3 of 14 expected -> 0.214 ("21%"), low. The 03-20
note is tagged saddle_numbness: a critical red-flag alert; low adherence is a medium alert; its
pain after that session, 6/10, is above 5: a high pain-after alert (issue 16 added it: 3 open alerts,
2 before).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.db.store import Store
from tests.practice_rows import add_assignment, add_client, add_routine, add_session

URL = {"client": "Z", "as_of": "2025-03-23", "days": "14"}


@pytest.fixture
def practice_db(app_db: Path) -> dict[str, int]:
    from core.library.content import sync_library

    with Store(app_db) as store:
        sync_library(store)
        add_routine(store, "r-six", 6)
        z = add_client(store, "Z", segments=("runner",), therapist="Ana", name="Zoë Cole")
        other = add_client(store, "Q", name="Quinn")
        aid = add_assignment(store, z, "r-six", date(2025, 3, 10), weeks=2, sessions_per_week=7)
        add_session(store, z, date(2025, 3, 11), "r-six", pain_before=5, pain_after=4)
        add_session(store, z, date(2025, 3, 18), "r-six", pain_before=5, pain_after=3.5)
        red = add_session(store, z, date(2025, 3, 20), "r-six", pain_before=6, pain_after=6,
                          notes="numb in the **saddle** area", red_flags="saddle_numbness")
    return {"client": z, "other": other, "assignment": aid, "red_session": red}


def open_client(at: AppTest, **query: str) -> AppTest:
    at.run()
    at.switch_page("pages/client_dashboard.py")
    at.query_params = dict(query)
    at.run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at: AppTest, column: str):
    """The first table with this column (tables are not widgets, so they have no key in AppTest)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_client_page_shows_the_clients_figures_and_charts(app: AppTest, practice_db: dict) -> None:
    at = open_client(app, **URL)
    assert at.header[0].value == "Z · Zoë Cole"
    got = shown(at)
    assert (got["Adherence"], got["Status"], got["Sessions counted"], got["Open alerts"]) == ("21%", "Low", "3 of 14", "3")
    assert len(at.get("plotly_chart")) == 4            # calendar, weekly, pain, relief
    notes = table(at, "warning_signs")
    assert list(notes["notes"]) == ["numb in the **saddle** area"]
    assert list(notes["warning_signs"]) == ["Numbness in the saddle area"]
    sessions = table(at, "counted")
    assert list(sessions["relief"]) == [1.0, 1.5, 0.0] and list(sessions["counted"]) == [True, True, True]
    assignments = table(at, "state")
    # routine ids read as names, states as words (its last day: still active)
    assert list(assignments["routine_id"]) == ["R Six"] and list(assignments["state"]) == ["Active"]
    assert at.query_params == URL
    assert len(at.get("download_button")) == len(at.dataframe)


def test_acknowledging_an_alert_moves_it_to_history(app: AppTest, app_db: Path, practice_db: dict) -> None:
    at = open_client(app, **URL)
    key = f"red_flag:c{practice_db['client']}:s{practice_db['red_session']}"
    at.text_input(key=f"ack_note_{key}").input("Phoned her; GP appointment today")
    at.button(key=f"FormSubmitter:ack_{key}-Acknowledge").click().run()
    assert not at.exception, at.exception
    assert shown(at)["Open alerts"] == "2"    # pain after and low adherence stay open
    history = table(at, "acknowledged_by")
    assert list(history["note"]) == ["Phoned her; GP appointment today"]
    assert list(history["acknowledged_by"]) == ["owner"]
    from pages.common import get_store                            # the app's own open store

    assert get_store().scalar("SELECT note FROM alert_acknowledgements") == "Phoned her; GP appointment today"


def test_a_blank_note_is_refused_and_nothing_is_written(app: AppTest, practice_db: dict) -> None:
    at = open_client(app, **URL)
    key = f"red_flag:c{practice_db['client']}:s{practice_db['red_session']}"
    at.button(key=f"FormSubmitter:ack_{key}-Acknowledge").click().run()
    assert "write a short note" in at.error[0].value
    assert shown(at)["Open alerts"] == "3"


def test_viewers_see_alerts_but_cannot_acknowledge(app_as, practice_db: dict) -> None:
    at = open_client(app_as("viewer"), **URL)
    assert shown(at)["Open alerts"] == "3"
    assert not [b for b in at.button if "Acknowledge" in (b.label or "")]


def test_unknown_or_missing_client(app_as, practice_db: dict) -> None:
    at = open_client(app_as("owner"), client="NOPE")
    assert "No client with code" in at.warning[0].value and not at.metric
    at = open_client(app_as("owner"))
    assert "Pick a client" in at.info[0].value and not at.metric


def test_picking_a_client_opens_it_and_names_it_in_the_url(app: AppTest, practice_db: dict) -> None:
    at = open_client(app, as_of="2025-03-23")
    picker = at.selectbox(key="cd_client")
    assert "Quinn · Q" in picker.options                      # searchable by name or code
    picker.set_value("Q").run()
    assert not at.exception
    assert at.header[0].value == "Q · Quinn"
    assert shown(at)["Adherence"] == "—"
    assert "Nothing was expected" in at.info[0].value
    assert at.query_params == {"client": "Q", "as_of": "2025-03-23"}


def test_a_write_keeps_other_sessions_cached_figures_and_the_next_read_is_fresh(
        app_as, practice_db: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 (load): the cached figures key on Store.version, so a write needs no global clear of
    st.cache_data, which made every other session's next page cold. One session's overview stays
    cached under the version it was drawn at; its next run after the write shows the new data."""
    from core.analytics import metrics
    from pages.common import filter_choices, get_store

    client = open_client(app_as("therapist", "olga"), **URL)
    overview = app_as("owner")
    overview.query_params = {"as_of": "2025-03-23", "days": "14"}
    overview.switch_page("pages/overview.py").run()
    assert not overview.exception, overview.exception
    assert shown(overview)["Open alerts"] == "3"
    store = get_store()
    drawn_at = (str(store.path), store.version)
    computed = []
    real_options = metrics.filter_options
    monkeypatch.setattr(metrics, "filter_options", lambda s, allowed: computed.append(1) or real_options(s, allowed))

    key = f"red_flag:c{practice_db['client']}:s{practice_db['red_session']}"
    client.text_input(key=f"ack_note_{key}").input("Phoned her")              # the other session writes
    client.button(key=f"FormSubmitter:ack_{key}-Acknowledge").click().run()
    assert not client.exception, client.exception
    assert shown(client)["Open alerts"] == "2" and store.version != drawn_at[1]

    filter_choices(store, *drawn_at, None)    # the overview's entry of before the write is still there
    assert computed == []
    overview.run()                            # and the overview's next run reads the new version
    assert not overview.exception, overview.exception
    assert shown(overview)["Open alerts"] == "2"
    assert computed == [1]


def test_a_therapist_of_another_site_cannot_open_the_client(app_as, app_db: Path, practice_db: dict) -> None:
    from core.access.sites import add_site, set_member_sites

    at = app_as("therapist", "nico")
    with Store(app_db) as store:
        add_site(store, "cli", "north", "North clinic")
        set_member_sites(store, "cli", "nico", ["north"])
        with store.transaction() as cur:
            cur.execute("UPDATE clients SET site = 'north' WHERE code = 'Q'")   # Z stays at main
    at = open_client(at, **URL)                                  # ?client=Z typed into the address
    assert "No client with code" in at.warning[0].value and not at.metric
    assert at.selectbox(key="cd_client").options == ["Quinn · Q"]
    assert "Zoë" not in " ".join(str(e.value) for e in at.markdown)
