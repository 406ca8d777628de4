"""Clients: pregnancy arithmetic (Python and SQL), create / edit / archive, the list and its filters."""

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.access import auth
from core.practice import clients, pregnancy
from core.db.store import Store

ON = date(2026, 3, 2)


def count(store: Store, table: str) -> int:
    return store.scalar(f"SELECT count(*) FROM {table}")


# -- pregnancy arithmetic ---------------------------------------------------------------------------

def test_gestational_week_is_40_weeks_minus_the_time_to_the_due_date() -> None:
    due = date(2026, 6, 22)
    assert pregnancy.gestational_days(due, due) == 280 and pregnancy.gestational_week(due, due) == 40
    # 112 days (16 weeks) before the due date: 280 - 112 = 168 days = 24+0
    assert pregnancy.gestational_days(due, ON) == 168 and pregnancy.gestational_week(due, ON) == 24
    # one day earlier: 167 days = 23+6, still week 23
    assert pregnancy.gestational_week(due, ON - timedelta(days=1)) == 23
    # before the pregnancy began the week is negative
    assert pregnancy.gestational_week(due, due - timedelta(days=281)) == -1


def test_due_date_from_weeks_on_a_date() -> None:
    assert pregnancy.due_date_from_gestation(24, ON) == date(2026, 6, 22)        # ON + 112 days
    assert pregnancy.due_date_from_gestation(24, ON, days=3) == date(2026, 6, 19)  # 3 days further along
    assert pregnancy.due_date_from_gestation(40, ON) == ON


@given(weeks=st.integers(0, 42), days=st.integers(0, 6),
       on=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_weeks_to_due_date_and_back(weeks: int, days: int, on: date) -> None:
    due = pregnancy.due_date_from_gestation(weeks, on, days)
    assert pregnancy.gestational_days(due, on) == 7 * weeks + days
    assert pregnancy.gestational_week(due, on) == weeks


def test_pregnancy_end_and_phases() -> None:
    due = date(2026, 6, 22)
    assert pregnancy.pregnancy_end(due) == date(2026, 8, 3)                     # due + 42 days
    assert pregnancy.pregnancy_end(due, ended_on=date(2026, 6, 10)) == date(2026, 6, 10)
    assert pregnancy.pregnancy_end(due, postpartum=True) == due                  # flagged postpartum: due date
    assert pregnancy.pregnancy_status(None, None, False, ON) is None
    assert pregnancy.pregnancy_status(due, None, False, due - timedelta(days=281)).phase == "not_yet"
    at_24 = pregnancy.pregnancy_status(due, None, False, ON)
    assert (at_24.phase, at_24.week, at_24.day, at_24.trimester) == ("pregnant", 24, 0, 2)
    assert pregnancy.pregnancy_status(due, None, False, date(2026, 8, 2)).pregnant        # last day: 46+0... still counted
    assert pregnancy.pregnancy_status(due, None, False, date(2026, 8, 3)).phase == "ended"
    assert pregnancy.pregnancy_status(due, date(2026, 6, 10), False, date(2026, 6, 10)).phase == "ended"


@pytest.mark.parametrize(("week", "trimester"), [(0, 1), (12, 1), (13, 2), (27, 2), (28, 3), (41, 3)])
def test_trimester_boundaries(week: int, trimester: int) -> None:
    assert pregnancy.trimester(week) == trimester


def test_sql_pregnancy_week_agrees_with_python(store: Store) -> None:
    cases = [
        {"display_name": "Early", "due_date": ON + timedelta(days=250)},
        {"display_name": "Mid", "gestation_weeks": 24, "gestation_days": 5, "gestation_on": ON},
        {"display_name": "Late", "due_date": ON + timedelta(days=3)},
        {"display_name": "Ended", "due_date": ON - timedelta(days=10), "pregnancy_ended_on": ON - timedelta(days=12)},
        {"display_name": "Postpartum", "due_date": ON - timedelta(days=5), "flags": ["postpartum"]},
        {"display_name": "Runner", "segments": ["runner"]},
    ]
    created = [clients.create_client(store, fields, "cli", ON) for fields in cases]
    for offset in range(-40, 60, 3):
        day = ON + timedelta(days=offset)
        listed = clients.list_clients(store, clients.ClientFilter(status="all"), day).set_index("code")["pregnancy_week"]
        for client in created:
            status = client.pregnancy(day)
            expected = status.week if status is not None and status.pregnant else None
            got = listed[client.code]
            assert (None if pd.isna(got) else int(got)) == expected, (client.display_name, day)


# -- creating and editing -----------------------------------------------------------------------------

def test_create_generates_codes_and_adds_the_pregnant_segment(store: Store) -> None:
    first = clients.create_client(store, {"display_name": "Ana", "gestation_weeks": 24, "gestation_on": ON}, "cli", ON)
    second = clients.create_client(store, {"display_name": "Ben", "segments": ["runner", "desk_worker"]}, "cli", ON)
    assert (first.code, second.code) == ("C00001", "C00002")
    assert first.due_date == date(2026, 6, 22) and first.segments == ("pregnant",)
    assert first.as_dict(ON)["gestational_week"] == 24
    assert second.segments == ("desk_worker", "runner") and second.due_date is None
    own = clients.create_client(store, {"code": "RUN-7", "display_name": "Cy"}, "cli", ON)
    assert own.code == "RUN-7" and clients.next_client_code(store) == "C00003"
    assert store.rows("SELECT event, actor FROM client_events WHERE client_id = ?", [first.id]) == [("created", "cli")]


BAD_INPUT = [
    ({"display_name": ""}, "display_name"),
    ({"display_name": "A", "code": "has space"}, "code"),
    ({"display_name": "A", "email": "not-an-email"}, "not an email"),
    ({"display_name": "A", "flags": ["broken_leg"]}, "unknown health flag"),
    ({"display_name": "A", "segments": ["astronaut"]}, "segments"),
    ({"display_name": "A", "due_date": ON + timedelta(days=295)}, "more than 42 weeks"),
    ({"display_name": "A", "due_date": ON, "gestation_weeks": 20, "gestation_on": ON}, "either the due date"),
    ({"display_name": "A", "gestation_weeks": 20}, "date they were measured"),
    ({"display_name": "A", "gestation_weeks": 43, "gestation_on": ON}, "gestation_weeks"),
    ({"display_name": "A", "due_date": ON, "pregnancy_ended_on": ON + timedelta(days=1)}, "in the future"),
    ({"display_name": "A", "due_date": ON, "pregnancy_ended_on": ON - timedelta(days=281)}, "before the pregnancy began"),
    ({"display_name": "A", "pregnancy_ended_on": ON}, "needs a due date"),
]


def test_bad_input_is_refused_and_nothing_is_written(store: Store) -> None:
    for fields, message in BAD_INPUT:  # one database for all cases: each must leave it empty
        with pytest.raises(clients.ClientError, match=message):
            clients.create_client(store, fields, "cli", ON)
        assert count(store, "clients") == 0 and count(store, "client_events") == 0, fields


def test_due_date_exactly_42_weeks_ahead_is_accepted(store: Store) -> None:
    client = clients.create_client(store, {"display_name": "A", "due_date": ON + timedelta(days=294)}, "cli", ON)
    assert client.pregnancy(ON).phase == "not_yet"


def test_codes_are_unique_ignoring_case(store: Store) -> None:
    clients.create_client(store, {"code": "ab-1", "display_name": "A"}, "cli", ON)
    with pytest.raises(clients.ClientError, match="already used"):
        clients.create_client(store, {"code": "AB-1", "display_name": "B"}, "cli", ON)
    assert count(store, "clients") == 1
    assert clients.find_client(store, " AB-1 ").display_name == "A"
    assert clients.find_client(store, "nobody") is None
    with pytest.raises(clients.ClientError, match="unknown client 'nobody'"):
        clients.require_client(store, "nobody")


def test_update_records_changed_fields_and_flag_events(store: Store) -> None:
    client = clients.create_client(store, {"display_name": "Ana", "flags": ["knee_pain"]}, "cli", ON)
    fields = clients.client_input(client) | {"therapist": "Ben", "flags": ["diastasis_recti", "postpartum"]}
    updated = clients.update_client(store, client.id, fields, "cli", ON)
    assert updated.therapist == "Ben" and updated.flags == ("diastasis_recti", "postpartum")
    assert updated.postpartum  # the column mirrors the flag
    events = store.rows("SELECT event, detail FROM client_events WHERE client_id = ? ORDER BY id", [client.id])
    assert events == [
        ("created", None), ("flag_added", "knee_pain"),
        ("updated", "therapist,postpartum,flags"),
        ("flag_removed", "knee_pain"), ("flag_added", "diastasis_recti"), ("flag_added", "postpartum"),
    ]
    # saving the same details again changes nothing and records nothing
    assert clients.update_client(store, client.id, clients.client_input(updated), "cli", ON) == updated
    assert count(store, "client_events") == len(events)


def test_update_refuses_a_taken_code_and_keeps_the_row(store: Store) -> None:
    clients.create_client(store, {"code": "X1", "display_name": "A"}, "cli", ON)
    other = clients.create_client(store, {"code": "X2", "display_name": "B"}, "cli", ON)
    with pytest.raises(clients.ClientError, match="already used"):
        clients.update_client(store, other.id, clients.client_input(other) | {"code": "x1"}, "cli", ON)
    assert clients.get_client(store, other.id).code == "X2"
    with pytest.raises(clients.ClientError, match="unknown client id"):
        clients.update_client(store, 999, {"display_name": "Z"}, "cli", ON)


def test_mark_pregnancy_ended_sets_the_date_and_postpartum(store: Store) -> None:
    client = clients.create_client(store, {"display_name": "A", "due_date": ON + timedelta(days=20)}, "cli", ON)
    ended = clients.mark_pregnancy_ended(store, client.id, ON - timedelta(days=1), "cli", as_of=ON)
    assert ended.pregnancy_ended_on == ON - timedelta(days=1) and "postpartum" in ended.flags
    assert ended.pregnancy(ON).phase == "ended"
    runner = clients.create_client(store, {"display_name": "R"}, "cli", ON)
    with pytest.raises(clients.ClientError, match="no due date"):
        clients.mark_pregnancy_ended(store, runner.id, ON, "cli", as_of=ON)


def test_archive_hides_and_restore_brings_back(store: Store) -> None:
    client = clients.create_client(store, {"display_name": "Ana"}, "cli", ON)
    clients.archive_client(store, client.id, "cli")
    assert clients.list_clients(store, clients.ClientFilter(), ON).empty
    archived = clients.list_clients(store, clients.ClientFilter(status="archived"), ON)
    assert list(archived["code"]) == [client.code] and list(archived["status"]) == ["archived"]
    assert clients.get_client(store, client.id).archived
    clients.restore_client(store, client.id, "cli")
    assert list(clients.list_clients(store, clients.ClientFilter(), ON)["code"]) == [client.code]
    assert [e for (e,) in store.rows("SELECT event FROM client_events ORDER BY id")] == ["created", "archived", "restored"]


def test_list_filters(store: Store) -> None:
    clients.create_client(store, {"code": "P1", "display_name": "Ana Silva", "due_date": ON + timedelta(days=100),
                            "therapist": "Ben"}, "cli", ON)
    clients.create_client(store, {"code": "R_1", "display_name": "Ravi", "segments": ["runner"], "therapist": "Chloe",
                            "email": "ravi@example.org"}, "cli", ON)
    clients.create_client(store, {"code": "D1", "display_name": "Dee", "segments": ["desk_worker", "runner"]}, "cli", ON)

    def codes(**kw) -> list[str]:
        return list(clients.list_clients(store, clients.ClientFilter(**kw), ON)["code"])

    assert codes() == ["D1", "P1", "R_1"]
    assert codes(text="silva") == ["P1"]
    assert codes(text="EXAMPLE.org") == ["R_1"]
    assert codes(text="_") == ["R_1"]            # LIKE wildcards are matched literally
    assert codes(segments=("runner",)) == ["D1", "R_1"]
    assert codes(segments=("pregnant", "desk_worker")) == ["D1", "P1"]
    assert codes(therapists=("Ben", "Chloe")) == ["P1", "R_1"]
    assert codes(segments=("runner",), therapists=("Ben",)) == []
    assert clients.therapist_names(store) == ["Ben", "Chloe"]
    row = clients.list_clients(store, clients.ClientFilter(text="P1"), ON).iloc[0]
    assert row["pregnancy_week"] == 25 and row["segments"] == "pregnant"   # 280 - 100 = 180 days = 25+5


def test_only_staff_who_may_write_can_change_clients(store: Store) -> None:
    auth.create_user(store, "cli", "vera", "viewer", email="vera@example.org")
    auth.create_user(store, "cli", "theo", "therapist", email="theo@example.org")
    with pytest.raises(auth.PermissionDenied):
        clients.create_client(store, {"display_name": "A"}, "vera", ON)
    assert count(store, "clients") == 0
    client = clients.create_client(store, {"display_name": "A"}, "theo", ON)
    with pytest.raises(auth.PermissionDenied):
        clients.archive_client(store, client.id, "vera")
    assert not clients.get_client(store, client.id).archived
