"""Every metric definition (docs/analytics/metrics.md) on tiny practices computed by hand.

Unless a test says otherwise: as_of = Wed 2025-03-26, days = 28, so the period is
Thu 2025-02-27 .. Wed 2025-03-26 and its ISO weeks (Monday starts) are

    W09 02-24..03-02 -> 4 days in the period (02-27..03-02)
    W10 03-03..03-09 -> 7      W11 03-10..03-16 -> 7      W12 03-17..03-23 -> 7
    W13 03-24..03-30 -> 3 days in the period (03-24..03-26)

Routines are made here: r-three has 3 exercises, r-six 6, r-four 4.
"""

from __future__ import annotations

from datetime import date, time

import pytest

from core.analytics import metrics
from core.analytics.metrics import MetricsError, Scope
from tests.practice_rows import add_assignment, add_client, add_pause, add_routine, add_session, add_sessions, days

AS_OF = date(2025, 3, 26)
W09, W10, W11, W12, W13 = (date(2025, 2, 24), date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17),
                           date(2025, 3, 24))


def d(month: int, day: int) -> date:
    return date(2025, month, day)


@pytest.fixture
def practice(store):
    for routine_id, items in (("r-three", 3), ("r-six", 6), ("r-four", 4)):
        add_routine(store, routine_id, items)
    return store


def client_row(store, code: str, scope: Scope | None = None) -> dict:
    found = metrics.client_adherence(store, scope or Scope(as_of=AS_OF))
    rows = found[found["client"] == code]
    assert len(rows) == 1, f"{code} not listed exactly once: {found['client'].tolist()}"
    return rows.iloc[0].to_dict()


def weeks_of(store, code: str, scope: Scope | None = None) -> list[tuple]:
    found = metrics.assignment_weeks(store, scope or Scope(as_of=AS_OF))
    rows = found[found["client"] == code]
    return [(r.week_start, r.active_days, r.expected, r.completed, r.credited) for r in rows.itertuples()]


# -- active days, expected, completion ----------------------------------------------------------

@pytest.mark.both_stores
def test_partial_weeks_capped_weeks_and_completion_of_each_session(practice):
    # r-four, 3 sessions a week, starts Wed 03-05 for 4 weeks (planned end 03-05 + 27 = 04-01).
    #   W10 03-05..03-09  5 active days  expected 3 x 5/7 = 2.142857
    #   W11 7 -> 3        W12 7 -> 3     W13 03-24..03-26  3 days -> 3 x 3/7 = 1.285714
    #   expected = 15/7 + 3 + 3 + 9/7 = 6 + 24/7 = 9.428571
    # Sessions (completion = min(1, done / prescribed); missing done = 1; done 0 = 0):
    #   03-01 before the start: belongs to no assignment
    #   W10 two sessions, done missing        -> 1 + 1 = 2          credited min(2, 2.142857) = 2
    #   W11 four sessions, done missing       -> 4                  credited min(4, 3)        = 3
    #   W12 2 of 4 -> 0.5; 5 of 4 -> min(1, 1.25) = 1  -> 1.5       credited 1.5
    #   W13 0 of 4 -> 0                                             credited 0
    #   completed (credited) = 2 + 3 + 1.5 + 0 = 6.5; logged (uncapped) = 2 + 4 + 1.5 + 0 = 7.5
    #   adherence = 6.5 / 9.428571 = 0.689394 -> 0.689 -> at_risk (>= 0.50, < 0.80)
    cid = add_client(practice, "A1")
    add_assignment(practice, cid, "r-four", d(3, 5), weeks=4, sessions_per_week=3)
    add_session(practice, cid, d(3, 1), "r-four")
    add_sessions(practice, cid, [d(3, 5), d(3, 7)], "r-four")
    add_sessions(practice, cid, days(d(3, 10), 4), "r-four")
    add_session(practice, cid, d(3, 18), "r-four", done=2, prescribed=4)
    add_session(practice, cid, d(3, 20), "r-four", done=5, prescribed=4)
    add_session(practice, cid, d(3, 24), "r-four", done=0, prescribed=4)

    assert weeks_of(practice, "A1") == [
        (W10, 5, 2.143, 2.0, 2.0),
        (W11, 7, 3.0, 4.0, 3.0),
        (W12, 7, 3.0, 1.5, 1.5),
        (W13, 3, 1.286, 0.0, 0.0),
    ]
    row = client_row(practice, "A1")
    assert (row["expected"], row["completed"], row["logged"]) == (9.429, 6.5, 7.5)
    assert row["adherence"] == 0.689
    assert row["status"] == "at_risk"
    assert row["sessions"] == 2 + 4 + 2 + 1   # the 03-01 session is before the start
    assert row["last_session"] == d(3, 24)
    assert row["days_since_last"] == 2


@pytest.mark.both_stores
def test_paused_days_do_not_count_and_overlapping_pauses_merge(practice):
    # r-six (6 exercises), 7 a week, 02-03 for 8 weeks (end 03-30). Pauses 03-12..03-18 and
    # 03-14..03-15 (inside the first: merged, not subtracted twice).
    #   W09 4 days -> 4     W10 7 -> 7     W11 03-10, 03-11 active (5 paused) -> 2
    #   W12 03-19..03-23 active (2 paused) -> 5       W13 3 -> 3        expected = 21
    # Sessions:
    #   W09 four (02-27..03-02)                          -> 4, credited 4
    #   W10 three                                        -> 3, credited 3
    #   W11 03-10 counts; 03-13 names r-six but is paused -> not counted; 03-14 names no routine
    #       and no assignment is active that day          -> belongs to none      -> 1, credited 1
    #   W12 five sessions, 3 done, prescribed missing -> the version's 6 items: 3/6 = 0.5 each -> 2.5
    #   W13 none                                         -> 0
    #   credited = 4 + 3 + 1 + 2.5 + 0 = 10.5; adherence = 10.5 / 21 = 0.5 -> at_risk (boundary)
    cid = add_client(practice, "B1")
    aid = add_assignment(practice, cid, "r-six", d(2, 3), weeks=8, sessions_per_week=7)
    add_pause(practice, aid, d(3, 12), d(3, 18))
    add_pause(practice, aid, d(3, 14), d(3, 15))
    add_sessions(practice, cid, days(d(2, 27), 4), "r-six")
    add_sessions(practice, cid, days(d(3, 3), 3), "r-six")
    add_session(practice, cid, d(3, 10), "r-six")
    add_session(practice, cid, d(3, 13), "r-six")
    add_session(practice, cid, d(3, 14))
    add_sessions(practice, cid, days(d(3, 19), 5), "r-six", done=3)

    assert weeks_of(practice, "B1") == [
        (W09, 4, 4.0, 4.0, 4.0),
        (W10, 7, 7.0, 3.0, 3.0),
        (W11, 2, 2.0, 1.0, 1.0),
        (W12, 5, 5.0, 2.5, 2.5),
        (W13, 3, 3.0, 0.0, 0.0),
    ]
    row = client_row(practice, "B1")
    assert (row["expected"], row["completed"], row["adherence"], row["status"]) == (21.0, 10.5, 0.5, "at_risk")
    assert row["active_days"] == 4 + 7 + 2 + 5 + 3


def test_several_assignments_attribution_and_routine_filter(practice):
    # A: r-three, 5 a week, 03-03 for 4 weeks (end 03-30). B: r-six, 7 a week, 03-10 for 2 weeks
    # (end 03-23). Expected A: W10 5, W11 5, W12 5, W13 5 x 3/7 = 2.142857 -> 17.142857;
    # B: W11 7, W12 7 -> 14. Together 31.142857.
    # Sessions:
    #   A named 03-03, 03-04; unnamed 03-05 (only A runs)   -> A W10 = 3, credited 3
    #   A named 03-10, 03-11, 03-13                          -> A W11 = 3, credited 3
    #   B named 03-10, 03-11, 03-12; unnamed 03-12: A and B both run, B started last -> B
    #                                                        -> B W11 = 4, credited 4
    #   B named 03-17..03-23 (7)                             -> B W12 = 7, credited 7
    #   A named 03-24                                        -> A W13 = 1, credited 1
    #   r-four named 03-11: the client has no r-four assignment -> belongs to none
    #   credited = 3 + 3 + 0 + 1 + 4 + 7 = 18; adherence = 18 / 31.142857 = 0.577982 -> 0.578
    # Routine filter r-six: 11 / 14 = 0.785714 -> 0.786 (at_risk).
    # Routine filter r-three: the unnamed 03-12 session stays with B (a filter never re-routes),
    #   so A = 7 / 17.142857 = 0.408333 -> 0.408 (low).
    cid = add_client(practice, "C1")
    add_assignment(practice, cid, "r-three", d(3, 3), weeks=4, sessions_per_week=5)
    add_assignment(practice, cid, "r-six", d(3, 10), weeks=2, sessions_per_week=7)
    add_sessions(practice, cid, [d(3, 3), d(3, 4)], "r-three")
    add_session(practice, cid, d(3, 5))
    add_sessions(practice, cid, [d(3, 10), d(3, 11), d(3, 13)], "r-three")
    add_sessions(practice, cid, [d(3, 10), d(3, 11), d(3, 12)], "r-six")
    add_session(practice, cid, d(3, 12))
    add_sessions(practice, cid, days(d(3, 17), 7), "r-six")
    add_session(practice, cid, d(3, 24), "r-three")
    add_session(practice, cid, d(3, 11), "r-four")

    row = client_row(practice, "C1")
    assert (row["expected"], row["completed"], row["adherence"]) == (31.143, 18.0, 0.578)
    only_six = client_row(practice, "C1", Scope(as_of=AS_OF, routines=("r-six",)))
    assert (only_six["expected"], only_six["completed"], only_six["adherence"]) == (14.0, 11.0, 0.786)
    only_three = client_row(practice, "C1", Scope(as_of=AS_OF, routines=("r-three",)))
    assert (only_three["expected"], only_three["completed"], only_three["adherence"]) == (17.143, 7.0, 0.408)
    assert only_three["status"] == "low"


def test_unnamed_session_goes_to_the_newest_of_two_assignments_started_the_same_day(practice):
    # Two assignments start 03-10 (r-three first, then r-six, 1 a week each, 2 weeks). An unnamed
    # session on 03-11 belongs to the one created last (r-six): W11 r-six completed 1, r-three 0.
    cid = add_client(practice, "T1")
    add_assignment(practice, cid, "r-three", d(3, 10), weeks=2, sessions_per_week=1)
    add_assignment(practice, cid, "r-six", d(3, 10), weeks=2, sessions_per_week=1)
    add_session(practice, cid, d(3, 11))
    rows = metrics.assignment_weeks(practice, Scope(as_of=AS_OF))
    w11 = rows[rows["week_start"] == W11].set_index("routine_id")["completed"].to_dict()
    assert w11 == {"r-three": 0.0, "r-six": 1.0}


# -- status -------------------------------------------------------------------------------------

def test_status_lapsed_on_track_low_and_who_is_listed(practice):
    # Each client has one r-three assignment; expected per day is sessions_per_week / 7.
    # D: 3/wk from 03-01 (6 weeks), no session at all. Expected W09 2 days -> 6/7, W10-W12 3 each,
    #    W13 3 days -> 9/7: 9 + 15/7 = 11.142857. Active 03-01..03-26 = 26 days >= 14, no session
    #    -> lapsed, adherence 0.0.
    # E: 2/wk from 02-01 (12 weeks, end 04-25): the whole period is active -> 28 x 2/7 = 8 expected.
    #    Last session 03-05, 21 days before as_of (> 14) -> lapsed; credited 1 -> 1/8 = 0.125.
    # F: 3/wk from 02-01 (12 weeks), paused from 03-15 with no end (open pause). Active W09 4,
    #    W10 7, W11 5 days -> 3 x 16/7 = 6.857143; one session 03-01 -> 1/6.857143 = 0.145833
    #    -> 0.146. Paused on as_of, so not lapsed although the last session is 25 days old -> low.
    # G: like E; sessions 02-27, 02-28 (W09: 2, credited 8/7), 03-03, 03-05 (2), 03-10, 03-12 (2);
    #    credited 8/7 + 4 = 5.142857 / 8 = 0.642857 -> 0.643; last session 14 days before as_of is
    #    not "more than 14" -> at_risk.
    # H: 3/wk from Sun 03-16, no session: only 11 active days (< 14) -> not lapsed; expected
    #    W11 1 day 3/7 + W12 3 + W13 9/7 = 4.714286; adherence 0 -> low.
    # I: like E with 2 sessions every week and 1 in W13: W09 2 -> 8/7, W10-W12 2 each, W13 1 -> 6/7
    #    credited 8/7 + 6 + 6/7 = 8 -> 1.0 -> on_track.
    # M: 7/wk from 02-01 but ended early on 03-02: active 02-27..03-02 = 4 days, expected 4, nothing
    #    logged -> 0.0; not running on as_of, so not lapsed -> low.
    # Not listed: J (ended 01-28, before the period), K (starts 03-30, after as_of), L (archived).
    ids = {code: add_client(practice, code, archived=(code == "L")) for code in "DEFGHIJKLM"}
    add_assignment(practice, ids["D"], "r-three", d(3, 1), weeks=6, sessions_per_week=3)
    for code in "EGIL":
        add_assignment(practice, ids[code], "r-three", d(2, 1), weeks=12, sessions_per_week=2)
    add_assignment(practice, ids["F"], "r-three", d(2, 1), weeks=12, sessions_per_week=3)
    add_assignment(practice, ids["H"], "r-three", d(3, 16), weeks=4, sessions_per_week=3)
    add_assignment(practice, ids["J"], "r-three", d(1, 1), weeks=4, sessions_per_week=3)
    add_assignment(practice, ids["K"], "r-three", d(3, 30), weeks=4, sessions_per_week=3)
    add_assignment(practice, ids["M"], "r-three", d(2, 1), weeks=12, sessions_per_week=7, end_date=d(3, 2),
                   status="ended")
    add_session(practice, ids["E"], d(2, 20), "r-three")
    add_session(practice, ids["E"], d(3, 5), "r-three")
    f_assignment = practice.scalar("SELECT id FROM assignments WHERE client_id = ?", [ids["F"]])
    add_pause(practice, f_assignment, d(3, 15), None)
    add_session(practice, ids["F"], d(3, 1), "r-three")
    add_sessions(practice, ids["G"], [d(2, 27), d(2, 28), d(3, 3), d(3, 5), d(3, 10), d(3, 12)], "r-three")
    add_sessions(practice, ids["I"], [d(2, 27), d(3, 1), d(3, 4), d(3, 6), d(3, 11), d(3, 13), d(3, 18),
                                      d(3, 20), d(3, 24)], "r-three")

    found = metrics.client_adherence(practice, Scope(as_of=AS_OF)).set_index("client")
    assert sorted(found.index) == ["D", "E", "F", "G", "H", "I", "M"]
    got = {c: (r.expected, r.completed, r.adherence, r.status) for c, r in found.iterrows()}
    assert got == {
        "D": (11.143, 0.0, 0.0, "lapsed"),
        "E": (8.0, 1.0, 0.125, "lapsed"),
        "F": (6.857, 1.0, 0.146, "low"),
        "G": (8.0, 5.143, 0.643, "at_risk"),
        "H": (4.714, 0.0, 0.0, "low"),
        "I": (8.0, 8.0, 1.0, "on_track"),
        "M": (4.0, 0.0, 0.0, "low"),
    }
    assert found.loc["E", "last_session"] == d(3, 5) and found.loc["E", "days_since_last"] == 21
    assert found.loc["G", "days_since_last"] == 14
    assert found.loc["D", "last_session"] is None or str(found.loc["D", "last_session"]) in ("NaT", "None")
    # one archived client is still reachable on its own
    alone = metrics.client_adherence(practice, Scope(as_of=AS_OF, client_id=ids["L"]))
    assert alone["client"].tolist() == ["L"] and alone["expected"].tolist() == [8.0]
    # nothing expected (J): not listed, so no adherence at all rather than 0
    assert metrics.client_adherence(practice, Scope(as_of=AS_OF, client_id=ids["J"])).empty


def test_lapse_counts_the_last_session_of_any_routine(practice):
    # 3/wk r-three from 02-01 (12 weeks); the client last logged r-six (not assigned) on 03-20,
    # 6 days ago: that is still the last session, so not lapsed (adherence is 0 -> low).
    cid = add_client(practice, "N1")
    add_assignment(practice, cid, "r-three", d(2, 1), weeks=12, sessions_per_week=3)
    add_session(practice, cid, d(3, 20), "r-six")
    row = client_row(practice, "N1")
    assert (row["status"], row["last_session"], row["completed"]) == ("low", d(3, 20), 0.0)


# -- pain response ------------------------------------------------------------------------------

def pain_world(practice, code: str, before: list[float | None], after: list[float | None] | None = None) -> int:
    """One r-six assignment from 02-01 (12 weeks); one session a day from 02-03 with these scores."""
    cid = add_client(practice, code)
    add_assignment(practice, cid, "r-six", d(2, 1), weeks=12, sessions_per_week=7)
    for i, pain in enumerate(before):
        add_session(practice, cid, date.fromordinal(d(2, 3).toordinal() + i), "r-six", pain_before=pain,
                    pain_after=None if after is None else after[i])
    return cid


def pain_row(practice, code: str) -> dict:
    found = metrics.pain_responses(practice, Scope(as_of=AS_OF))
    rows = found[found["client"] == code]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


@pytest.mark.both_stores
def test_pain_improved_with_halves_ordering_by_time_and_relief(practice):
    # Scored pain_before in order: 6 (02-03), 6.5 (02-04), then on 02-05 two sessions: 5.5 at
    # 07:00 and 5 at 18:00 (the 18:00 one is entered first: order is by time, not entry), then 4,
    # 3.5, 4. A session without a score (02-09) and one before the start (01-30, pain 9) don't count.
    #   baseline = (6 + 6.5 + 5.5) / 3 = 6.0          current = (4 + 3.5 + 4) / 3 = 3.833333
    #   change = -2.166667 -> -2.167    change_pct = -2.166667 / 6 = -0.361111 -> -0.361
    #   -> improved (change <= -2 and change_pct <= -30%)
    #   relief per session (before - after): 1, 0.5, 0.5, 1, 1, 0.5, 1 -> 5.5 / 7 = 0.785714 -> 0.786
    cid = add_client(practice, "P1")
    add_assignment(practice, cid, "r-six", d(2, 1), weeks=12, sessions_per_week=7)
    add_session(practice, cid, d(1, 30), "r-six", pain_before=9)
    add_session(practice, cid, d(2, 3), "r-six", pain_before=6, pain_after=5)
    add_session(practice, cid, d(2, 4), "r-six", pain_before=6.5, pain_after=6)
    add_session(practice, cid, d(2, 5), "r-six", pain_before=5, pain_after=4, at=time(18, 0))
    add_session(practice, cid, d(2, 5), "r-six", pain_before=5.5, pain_after=5, at=time(7, 0))
    add_session(practice, cid, d(2, 6), "r-six", pain_before=4, pain_after=3)
    add_session(practice, cid, d(2, 7), "r-six", pain_before=3.5, pain_after=3)
    add_session(practice, cid, d(2, 8), "r-six", pain_before=4, pain_after=3)
    add_session(practice, cid, d(2, 9), "r-six")

    row = pain_row(practice, "P1")
    assert row["scored_sessions"] == 7
    assert (row["baseline"], row["current"], row["change"], row["change_pct"]) == (6.0, 3.833, -2.167, -0.361)
    assert row["response"] == "improved"
    assert row["relief"] == 0.786 and row["relief_sessions"] == 7


def test_pain_baseline_zero_is_worse_without_a_percentage(practice):
    # 0, 0, 0, 1, 2, 3: baseline 0, current (1 + 2 + 3) / 3 = 2 -> change +2 -> worse (>= +2);
    # change_pct = 2 / 0 is undefined -> null. The last-3 mean first reaches baseline + 2 at the
    # 6th session (02-08): worse since 02-08.
    pain_world(practice, "P2", [0, 0, 0, 1, 2, 3])
    row = pain_row(practice, "P2")
    assert (row["baseline"], row["current"], row["change"], row["response"]) == (0.0, 2.0, 2.0, "worse")
    assert row["change_pct"] is None or row["change_pct"] != row["change_pct"]
    assert row["worse_since"] == d(2, 8)


def test_pain_minus_two_needs_thirty_percent_too(practice):
    # 8, 8, 8 then 6, 6, 6: change -2 but change_pct -2/8 = -25% -> unchanged.
    pain_world(practice, "P3", [8, 8, 8, 6, 6, 6])
    row = pain_row(practice, "P3")
    assert (row["change"], row["change_pct"], row["response"]) == (-2.0, -0.25, "unchanged")


def test_pain_thirds_of_halves_reach_the_threshold_exactly(practice):
    # 5, 5, 5.5 -> baseline 15.5/3 = 5.166667; 3, 3, 3.5 -> current 9.5/3 = 3.166667.
    # change = -2 exactly (in floating point it is -1.9999999...; rounding keeps it -2)
    # change_pct = -2 / 5.166667 = -0.387097 -> -0.387 -> improved.
    pain_world(practice, "P5", [5, 5, 5.5, 3, 3, 3.5])
    row = pain_row(practice, "P5")
    assert (row["baseline"], row["current"], row["change"], row["change_pct"]) == (5.167, 3.167, -2.0, -0.387)
    assert row["response"] == "improved"


def test_pain_insufficient_data_and_no_scores(practice):
    # 3 scored sessions: the baseline exists (5) but not the current -> insufficient_data.
    # No scored session at all: nothing but insufficient_data, no relief.
    pain_world(practice, "P4", [5, 5, 5])
    pain_world(practice, "P0", [None, None])
    four = pain_row(practice, "P4")
    assert (four["scored_sessions"], four["baseline"], four["response"]) == (3, 5.0, "insufficient_data")
    assert four["current"] is None or four["current"] != four["current"]
    none = pain_row(practice, "P0")
    assert (none["scored_sessions"], none["response"]) == (0, "insufficient_data")
    assert none["relief"] is None or none["relief"] != none["relief"]


def test_pain_worse_since_is_the_start_of_the_last_worse_run(practice):
    # 2, 2, 2 (baseline 2), then last-3 means: 4.5 -> 2.833 (+0.833), 1 -> 2.5, 1 -> 2.167,
    # 4 -> 2.0, 4.5 -> 3.167 (+1.167), 5 -> 4.5 (+2.5, worse), 5 -> 4.833 (+2.833, worse).
    # current 4.833, change +2.833 -> worse since the 9th session (02-11).
    pain_world(practice, "P6", [2, 2, 2, 4.5, 1, 1, 4, 4.5, 5, 5])
    row = pain_row(practice, "P6")
    assert (row["current"], row["change"], row["response"], row["worse_since"]) == (4.833, 2.833, "worse", d(2, 11))


def test_pain_first_and_last_three_never_overlap(practice):
    # Issue 16: 8, 8, 8, 2 read "unchanged" when the last three (8, 8, 2) shared two scores with
    # the first three. The windows now need 6 scored sessions:
    #   8, 8, 8, 2        -> 4 scored: insufficient_data (baseline 8 still shown)
    #   8, 8, 8, 2, 2     -> 5 scored: insufficient_data
    #   8, 8, 8, 2, 2, 2  -> baseline 8, current 2, change -6, change_pct -0.75 -> improved
    pain_world(practice, "Q4", [8, 8, 8, 2])
    pain_world(practice, "Q5", [8, 8, 8, 2, 2])
    pain_world(practice, "Q6", [8, 8, 8, 2, 2, 2])
    four, five, six = (pain_row(practice, code) for code in ("Q4", "Q5", "Q6"))
    assert (four["scored_sessions"], four["baseline"], four["response"]) == (4, 8.0, "insufficient_data")
    assert four["current"] is None or four["current"] != four["current"]
    assert (five["scored_sessions"], five["response"]) == (5, "insufficient_data")
    assert (six["baseline"], six["current"], six["change"], six["change_pct"], six["response"]) == (
        8.0, 2.0, -6.0, -0.75, "improved")


def test_a_session_naming_its_block_counts_against_the_block_items(practice):
    # A day plan of 5 items: morning 2, midday 1, evening 2; 7 sessions a week from Mon 03-17 for
    # 2 weeks; period 14 days to Sun 03-23 = W12 only (03-17..03-23), expected 7 x 7/7 = 7.
    # Sessions, none with exercises_prescribed (so the count comes from the routine):
    #   03-17 morning, 2 done  -> 2 / 2 (block) = 1.0     (it counted 2 / 5 = 0.4 before issue 16)
    #   03-18 evening, 1 done  -> 1 / 2 = 0.5
    #   03-19 midday, 1 done   -> 1 / 1 = 1.0
    #   03-20 no block, 2 done -> 2 / 5 (whole routine) = 0.4
    #   03-21 block "night" (not a block of the routine), 2 done -> 2 / 5 = 0.4
    #   completed 1.0 + 0.5 + 1.0 + 0.4 + 0.4 = 3.3; adherence 3.3 / 7 = 0.471 -> low
    add_routine(practice, "r-day", 5, sessions_per_week=7, weeks=2,
                slots=("morning", "morning", "midday", "evening", "evening"))
    cid = add_client(practice, "DP")
    add_assignment(practice, cid, "r-day", d(3, 17), weeks=2, sessions_per_week=7)
    add_session(practice, cid, d(3, 17), "r-day", done=2, block="morning")
    add_session(practice, cid, d(3, 18), "r-day", done=1, block="Evening")
    add_session(practice, cid, d(3, 19), "r-day", done=1, block="midday")
    add_session(practice, cid, d(3, 20), "r-day", done=2)
    add_session(practice, cid, d(3, 21), "r-day", done=2, block="night")
    scope = Scope(as_of=d(3, 23), days=14)
    assert weeks_of(practice, "DP", scope) == [(W12, 7, 7.0, 3.3, 3.3)]
    row = client_row(practice, "DP", scope)
    assert (row["completed"], row["adherence"], row["status"]) == (3.3, 0.471, "low")


# -- the overview -------------------------------------------------------------------------------

@pytest.fixture
def three_clients(practice):
    """as_of Sun 2025-03-23, days 14: the period is exactly W11 and W12. Each assignment starts
    03-10 for 2 weeks.

    X runner, therapist Ana, r-three 7/wk (expected 7 + 7): 7 sessions in W11, none in W12
      -> 7/14 = 0.5 at_risk; weekly 1.0, 0.0. Pain 7, 7, 7, 5, 5, 4.5, 4.5: baseline 7, current
      14/3 = 4.667, change -2.333, pct -0.333 -> improved.
    Y runner + desk_worker, Ana, r-six 2/wk (2 + 2): 2 and 2 sessions -> 1.0 on_track; weekly 1, 1.
      Pain 3, 3, 3, 4: 4 scored sessions, fewer than the 6 that keep the first-3 and last-3
      windows apart (issue 16) -> insufficient_data (it read "unchanged", +0.333, before).
    Z pregnant, no therapist, r-six 7/wk: 1 session in W11, 2 in W12 -> 3/14 = 0.214 low;
      weekly 1/7 = 0.143, 2/7 = 0.286. Pain on 3 sessions only -> insufficient_data.
    """
    x = add_client(practice, "X", segments=("runner",), therapist="Ana")
    y = add_client(practice, "Y", segments=("runner", "desk_worker"), therapist="Ana")
    z = add_client(practice, "Z", segments=("pregnant",))
    add_assignment(practice, x, "r-three", d(3, 10), weeks=2, sessions_per_week=7)
    add_assignment(practice, y, "r-six", d(3, 10), weeks=2, sessions_per_week=2)
    add_assignment(practice, z, "r-six", d(3, 10), weeks=2, sessions_per_week=7)
    for day, pain in zip(days(d(3, 10), 7), [7, 7, 7, 5, 5, 4.5, 4.5]):
        add_session(practice, x, day, "r-three", pain_before=pain)
    for day, pain in zip([d(3, 10), d(3, 12), d(3, 17), d(3, 19)], [3, 3, 3, 4]):
        add_session(practice, y, day, "r-six", pain_before=pain)
    for day in (d(3, 11), d(3, 18), d(3, 20)):
        add_session(practice, z, day, "r-six", pain_before=6)
    return practice


OVERVIEW = Scope(as_of=d(3, 23), days=14)


@pytest.mark.both_stores
def test_overview_kpis_and_weekly(three_clients):
    view = metrics.overview(three_clients, OVERVIEW)
    # mean adherence (0.5 + 1.0 + 0.214) / 3 = 0.571333 -> 0.571; on track 1 of 3 -> 0.333;
    # assessed pain responses: X improved (Y and Z insufficient: issue 16 changed Y's) -> 1 / 1 = 1.0
    assert view.kpis == {"active_clients": 3, "mean_adherence": 0.571, "on_track_pct": 0.333, "lapsed": 0,
                         "assessed": 1, "improved_pct": 1.0}
    # W11: expected 7 + 2 + 7 = 16, credited 7 + 2 + 1 = 10, mean of 1.0, 1.0, 0.143 = 0.714
    # W12: expected 16, credited 0 + 2 + 2 = 4, mean of 0.0, 1.0, 0.286 = 0.429
    weekly = [tuple(r) for r in view.weekly[["week_start", "days_in_period", "clients", "expected",
                                            "completed", "adherence"]].itertuples(index=False)]
    assert weekly == [(W11, 7, 3, 16.0, 10.0, 0.714), (W12, 7, 3, 16.0, 4.0, 0.429)]


def test_overview_groups_by_segment_routine_and_therapist(three_clients):
    view = metrics.overview(three_clients, OVERVIEW)
    cols = ["group", "clients", "mean_adherence", "on_track_pct", "assessed", "improved_pct", "mean_change"]

    def table(frame):
        return [tuple(None if v != v else v for v in r) for r in frame[cols].itertuples(index=False)]

    # runner: X 0.5, Y 1.0 -> 0.75, on track 1/2; pain: only X assessed (-2.333, improved): Y's 4
    # scored sessions are insufficient since issue 16 (before: 2 assessed, 0.5 improved, mean -1.0)
    # desk_worker: Y; pregnant: Z (neither has an assessed pain response)
    assert table(view.by_segment) == [
        ("desk_worker", 1, 1.0, 1.0, 0, None, None),
        ("pregnant", 1, 0.214, 0.0, 0, None, None),
        ("runner", 2, 0.75, 0.5, 1, 1.0, -2.333),
    ]
    # r-six: Y's and Z's assignments (1.0 + 0.214) / 2 = 0.607, no assessed pain; r-three: X's
    assert table(view.by_routine) == [
        ("r-six", 2, 0.607, 0.5, 0, None, None),
        ("r-three", 1, 0.5, 0.0, 1, 1.0, -2.333),
    ]
    assert table(view.by_therapist) == [
        ("(none)", 1, 0.214, 0.0, 0, None, None),
        ("Ana", 2, 0.75, 0.5, 1, 1.0, -2.333),
    ]


def test_overview_filters_select_clients_and_assignments(three_clients):
    runners = metrics.overview(three_clients, Scope(as_of=d(3, 23), days=14, segments=("runner",)))
    assert (runners.kpis["active_clients"], runners.kpis["mean_adherence"]) == (2, 0.75)
    ana = metrics.overview(three_clients, Scope(as_of=d(3, 23), days=14, therapists=("Ana",)))
    assert ana.kpis["active_clients"] == 2
    six = metrics.overview(three_clients, Scope(as_of=d(3, 23), days=14, routines=("r-six",)))
    assert (six.kpis["active_clients"], six.kpis["mean_adherence"]) == (2, 0.607)   # Y 1.0, Z 0.214
    nobody = metrics.overview(three_clients, Scope(as_of=d(3, 23), days=14, segments=("other",)))
    assert nobody.kpis["active_clients"] == 0 and nobody.kpis["mean_adherence"] is None
    assert nobody.weekly.empty and nobody.by_segment.empty


def test_empty_practice_gives_empty_results_not_errors(practice):
    view = metrics.overview(practice, Scope(as_of=AS_OF))
    assert view.kpis["active_clients"] == 0 and view.kpis["improved_pct"] is None
    assert metrics.client_adherence(practice, Scope(as_of=AS_OF)).empty
    assert metrics.pain_responses(practice, Scope(as_of=AS_OF), whole_history=True).empty


# -- cohorts ------------------------------------------------------------------------------------

def test_cohorts_line_up_clients_by_week_of_program(practice):
    # as_of 03-26, 28-day window: assignments started 02-27..03-26 count.
    # U (runner) r-three 7/wk from Mon 03-03; V (runner) r-three 7/wk from Thu 03-13; W (runner)
    # started 02-01 (before the window: not in any cohort).
    # Program week 1 = days 1-7 after the start: U 03-03..03-09, V 03-13..03-19.
    #   U: 7 sessions in week 1 (1.0), none in weeks 2 and 3 (0.0); week 4 is 03-24..03-26 so far:
    #      3 active days, expected 3, none logged (0.0).
    #   V: 7 sessions in week 1 -> 1.0; week 2 03-20..03-26: 7 days, 2 sessions -> 2/7 = 0.286.
    #   Week 1: mean(1.0, 1.0) = 1.0 over 2 assignments; week 2: mean(0.0, 0.286) = 0.143;
    #   week 3: U only, 0.0; week 4: U only, 0.0.
    # Pain: U scores 4 in each of its 7 week-1 sessions (baseline 4); V scores 6 in week 1
    #   (baseline 6) and 3 in its 2 week-2 sessions: week-2 change -3 (U has no week-2 score).
    u = add_client(practice, "U", segments=("runner",))
    v = add_client(practice, "V", segments=("runner",))
    w = add_client(practice, "W", segments=("runner",))
    add_assignment(practice, u, "r-three", d(3, 3), weeks=4, sessions_per_week=7)
    add_assignment(practice, v, "r-three", d(3, 13), weeks=4, sessions_per_week=7)
    add_assignment(practice, w, "r-three", d(2, 1), weeks=12, sessions_per_week=7)
    add_sessions(practice, u, days(d(3, 3), 7), "r-three", pain_before=4)
    add_sessions(practice, v, days(d(3, 13), 7), "r-three", pain_before=6)
    add_sessions(practice, v, [d(3, 21), d(3, 23)], "r-three", pain_before=3)
    add_sessions(practice, w, days(d(3, 1), 20), "r-three")

    found = metrics.cohorts(practice, Scope(as_of=AS_OF, days=28), by="segment")
    got = [tuple(None if v != v else v for v in r)
           for r in found[["group", "week", "assignments", "adherence", "mean_pain", "pain_change"]].itertuples(index=False)]
    assert got == [
        ("runner", 1, 2, 1.0, 5.0, 0.0),
        ("runner", 2, 2, 0.143, 3.0, -3.0),
        ("runner", 3, 1, 0.0, None, None),
        ("runner", 4, 1, 0.0, None, None),
    ]
    by_routine = metrics.cohorts(practice, Scope(as_of=AS_OF, days=28), by="routine")
    assert set(by_routine["group"]) == {"r-three"}


# -- inputs and caching -------------------------------------------------------------------------

def test_scope_rejects_impossible_periods():
    with pytest.raises(MetricsError):
        Scope(as_of=AS_OF, days=0)
    with pytest.raises(MetricsError):
        Scope(as_of="2025-03-26")  # type: ignore[arg-type]
    with pytest.raises(MetricsError):
        metrics._group_sql("weekday")
    assert Scope(as_of=AS_OF, segments=("runner", "", "runner")).segments == ("runner",)


@pytest.mark.both_stores
def test_data_version_changes_with_every_kind_of_write(practice):
    first = practice.version
    cid = add_client(practice, "DV")
    after_client = practice.version
    aid = add_assignment(practice, cid, "r-three", d(3, 1))
    after_assignment = practice.version
    add_pause(practice, aid, d(3, 5), None)
    after_pause = practice.version
    with practice.transaction() as cur:
        cur.execute("UPDATE assignment_pauses SET paused_until = ? WHERE assignment_id = ?", [d(3, 8), aid])
    after_resume = practice.version
    add_session(practice, cid, d(3, 2), "r-three")
    after_session = practice.version
    versions = [first, after_client, after_assignment, after_pause, after_resume, after_session]
    assert len(set(versions)) == len(versions)
    assert practice.version == after_session


def test_find_client_id_by_code(practice):
    cid = add_client(practice, "Ab-12")
    assert metrics.find_client_id(practice, "Ab-12") == cid
    assert metrics.find_client_id(practice, " ab-12 ") == cid
    assert metrics.find_client_id(practice, "nobody") is None
    assert metrics.find_client_id(practice, "") is None


@pytest.mark.both_stores
def test_a_second_implementation_in_pandas_agrees_on_a_demo_practice(store):
    # tests/bench/scenarios_metrics.py computes the same definitions the straightforward pandas
    # way (for the speed comparison of `make bench`); on a demo practice with pauses, unnamed
    # sessions, an open pause and an early end, every overview figure must agree.
    from core.commands.demo import DemoSpec, create_demo_practice
    from tests.bench.scenarios_metrics import compare, scenario_metrics_only, scenario_pandas_baseline

    as_of = date(2025, 6, 30)
    create_demo_practice(store, DemoSpec(clients=90, days=150, seed=3, as_of=as_of))
    with store.transaction() as cur:
        cur.execute("UPDATE session_logs SET routine_id = NULL WHERE id % 7 = 0")
        cur.execute("UPDATE session_logs SET exercises_prescribed = NULL WHERE id % 5 = 0")
        cur.execute("UPDATE assignment_pauses SET paused_until = NULL WHERE assignment_id % 2 = 0")
        cur.execute("UPDATE assignments SET end_date = start_date + 20, status = 'ended'"
                    " WHERE id % 9 = 0 AND start_date > DATE '2025-05-01'")
    sql = scenario_metrics_only(store, as_of)
    pandas = scenario_pandas_baseline(store, as_of)
    assert sql["active_clients"] > 50 and sql["assessed"] > 10 and sql["lapsed"] > 0
    assert compare(sql, pandas) == []


def test_the_lean_floors_of_make_bench_read_what_the_app_shows(store):
    # tests/bench/scenarios_floors.py reads the overview and the client page as plainly as they
    # can be read, the floors `make bench` prints beside the app's figures; a floor that read less
    # than the app shows would flatter nothing but itself, so on a demo practice with acknowledged
    # alerts and archived clients both must agree.
    from core.analytics import alerts, overview
    from core.commands.demo import DemoSpec, create_demo_practice
    from tests.bench.scenarios_floors import (client_page_disagreements, lean_client_page, lean_overview,
                                              overview_disagreements)

    as_of = date(2025, 6, 30)
    create_demo_practice(store, DemoSpec(clients=60, days=120, seed=5, as_of=as_of))
    scope = metrics.Scope(as_of=as_of, days=28)
    _, open_now = overview.practice_overview(store, scope)
    alerts.acknowledge(store, open_now["alert_key"].iloc[0], "called", "owner", as_of)
    with store.transaction() as cur:
        cur.execute("UPDATE clients SET archived_at = now() WHERE id % 11 = 0")
    view, open_now = overview.practice_overview(store, scope)
    assert view.kpis["active_clients"] > 20 and len(open_now) > 0
    assert overview_disagreements(lean_overview(store, as_of, 28), view, open_now) == []
    for (client_id,) in store.rows("SELECT id FROM clients ORDER BY id LIMIT 12"):
        detail, found = overview.client_view(store, client_id, as_of, 28)
        assert client_page_disagreements(lean_client_page(store, client_id, as_of, 28), detail, found) == []


def test_lapsed_across_programs_when_a_new_one_started_recently(practice):
    # A first program (r-three 3/wk, 02-01 for 6 weeks, last day 03-14) ran 42 days; a new one
    # started 03-20 (7 days ago, < 14). The last session is 02-10: 44 days ago. The first program
    # has run 14+ days and the new one is running, unpaused -> lapsed.
    # The same client with the new program paused since 03-22 would be "low" instead.
    cid = add_client(practice, "LP")
    add_assignment(practice, cid, "r-three", d(2, 1), weeks=6, sessions_per_week=3)
    new = add_assignment(practice, cid, "r-three", d(3, 20), weeks=4, sessions_per_week=3)
    add_session(practice, cid, d(2, 10), "r-three")
    assert client_row(practice, "LP")["status"] == "lapsed"
    add_pause(practice, new, d(3, 22), None)
    assert client_row(practice, "LP")["status"] == "low"


@pytest.mark.both_stores
def test_a_pipelines_tables_live_in_a_schema_of_their_own_and_are_gone_after(practice):
    from core.db.store import WORK_DB

    a = add_client(practice, "A")
    add_assignment(practice, a, "r-three", d(3, 3), weeks=4, sessions_per_week=3)
    add_session(practice, a, d(3, 4), "r-three", done=3)
    with metrics.pipeline(practice, Scope(as_of=AS_OF)) as run:
        assert run.schema.startswith(WORK_DB + ".")
        assert run.scalar("SELECT count(*) FROM m_assignments") == 1
    left = practice.rows("SELECT count(*) FROM duckdb_tables() WHERE database_name = ?", [WORK_DB])
    assert left == [(0,)]
    assert practice.rows("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'm\\_%' ESCAPE '\\'") == [(0,)]


def test_metric_tables_are_never_built_in_the_practice_database(practice):
    cur = practice.cursor()
    try:
        with pytest.raises(ValueError, match="schema of its own"):
            metrics._prepare(metrics.Pipeline(cur, Scope(as_of=AS_OF)), practice, Scope(as_of=AS_OF), pain=True)
    finally:
        cur.close()


# -- sites (issue 19) -----------------------------------------------------------------------------

def _at_site(store, client_id: int, site: str) -> None:
    from core.access.sites import move_client

    with store.transaction(clients=(client_id,)) as cur:
        move_client(cur, client_id, site)


def test_the_site_filter_keeps_the_clients_of_the_sites_picked(practice):
    from core.access.sites import add_site

    add_site(practice, "cli", "north", "North clinic")
    # Both on r-three, 3 a week, from Thu 02-27 (the period's first day) for 4 weeks: expected
    #   W09 3 x 4/7 = 1.714, W10-W12 3 each, W13 3 x 3/7 = 1.286 -> 12 in all.
    # N1 (north): 02-27 | 03-03 03-07 | 03-11 03-15 | 03-19 -> 1 + 2 + 2 + 1 = 6 of 12 = 0.5, at risk
    # M1 (main):  03-10 03-14 | 03-18 -> 2 + 1 = 3 of 12 = 0.25, low
    n1, m1 = add_client(practice, "N1"), add_client(practice, "M1")
    _at_site(practice, n1, "north")
    for client, sessions in ((n1, days(d(2, 27), 6, step=4)), (m1, days(d(3, 10), 3, step=4))):
        add_assignment(practice, client, "r-three", d(2, 27))
        add_sessions(practice, client, sessions, "r-three")
    both = metrics.client_adherence(practice, Scope(as_of=AS_OF))
    assert sorted(zip(both["client"], both["adherence"], both["status"])) == [
        ("M1", 0.25, "low"), ("N1", 0.5, "at_risk")]
    north = Scope(as_of=AS_OF, sites=("north",))
    assert client_row(practice, "N1", north)["adherence"] == 0.5
    assert list(metrics.client_adherence(practice, north)["client"]) == ["N1"]
    kpis = metrics.overview(practice, north).kpis
    assert (kpis["active_clients"], kpis["mean_adherence"]) == (1, 0.5)
    assert metrics.overview(practice, Scope(as_of=AS_OF, sites=("main", "north"))).kpis["mean_adherence"] == 0.375
    assert metrics.client_adherence(practice, Scope(as_of=AS_OF, sites=())).empty   # no site: nobody
    # what a member may see is laid over the filter (core.access.sites.within_sites)
    assert metrics.within_allowed_sites(Scope(as_of=AS_OF), ("main",)).sites == ("main",)
    assert metrics.within_allowed_sites(north, ("main",)).sites == ()
    assert metrics.within_allowed_sites(north, None).sites == ("north",)
    assert metrics.find_client_id(practice, "N1", ("main",)) is None
    assert metrics.find_client_id(practice, "N1", ("north",)) == n1


def test_sites_in_the_url_keep_their_codes():
    options = {"segment": [], "therapist": [], "routine": [], "site": ["main", "north"]}
    scope, problems = metrics.scope_from_query({"site": ["north", "south"]}, AS_OF, options=options)
    assert scope.sites == ("north",) and problems == ["unknown site 'south': ignored"]
    assert metrics.scope_to_query(scope, AS_OF) == {"site": ["north"]}
    plain, _ = metrics.scope_from_query({}, AS_OF, options=options)
    assert plain.sites is None and metrics.scope_to_query(plain, AS_OF) == {}


def test_filter_choices_name_only_the_allowed_sites_segments_therapists_and_routines(practice):
    """A therapist of main must not read the names of north's therapists in a filter: every choice
    comes from the clients of the sites allowed (core.access.sites.allowed_sites)."""
    from core.access.auth import create_user
    from core.access.sites import add_site, allowed_sites, set_member_sites

    add_site(practice, "cli", "north", "North clinic")
    add_site(practice, "cli", "south", "South studio")
    main = add_client(practice, "M1", segments=("runner",), therapist="Ana")
    north = add_client(practice, "N1", segments=("pregnant",), therapist="Bob")
    add_client(practice, "N2", segments=("desk_worker",), therapist="Cyd", archived=True)  # archived: offered nowhere
    _at_site(practice, north, "north")
    _at_site(practice, add_client(practice, "N2b", therapist=""), "north")  # a blank therapist is no choice
    add_assignment(practice, main, "r-three", d(3, 1))
    add_assignment(practice, north, "r-six", d(3, 1))
    create_user(practice, "cli", "tina", "therapist", "a-long-enough-password")
    set_member_sites(practice, "cli", "tina", ["main", "south"])

    everything = metrics.filter_options(practice)
    assert everything == {"segment": ["pregnant", "runner"], "therapist": ["Ana", "Bob"],
                          "routine": ["r-six", "r-three"], "site": ["main", "north", "south"]}
    assert metrics.filter_options(practice, allowed_sites(practice, "cli")) == everything   # owners see all
    assert metrics.filter_options(practice, allowed_sites(practice, "tina")) == {
        "segment": ["runner"], "therapist": ["Ana"], "routine": ["r-three"], "site": ["main", "south"]}
    assert metrics.filter_options(practice, ("north",)) == {
        "segment": ["pregnant"], "therapist": ["Bob"], "routine": ["r-six"], "site": ["north"]}
    assert metrics.filter_options(practice, ()) == {"segment": [], "therapist": [], "routine": [], "site": []}


# -- the whole practice on PostgreSQL -----------------------------------------------------------

def _pain_stories(store) -> None:
    """Clients whose figures read rows outside the period (as of 2025-06-30, window 06-03..06-30):
    pain worse over a program (worse since: its whole history), and pain high all through the
    window after calm scores before it, or from the first session (earlier scores)."""
    add_routine(store, "r-story", 3)
    worse = add_client(store, "WORSE", segments=("runner",))
    add_assignment(store, worse, "r-story", d(4, 7), weeks=16)
    add_sessions(store, worse, days(d(4, 7), 10, 3), "r-story", done=3, pain_before=2)
    add_sessions(store, worse, days(d(6, 10), 8, 2), "r-story", done=3, pain_before=6, pain_after=7)
    high = add_client(store, "HIGH")
    add_assignment(store, high, "r-story", d(3, 3), weeks=20)
    add_sessions(store, high, days(d(3, 3), 6, 4), "r-story", done=3, pain_before=3)
    add_sessions(store, high, days(d(5, 20), 20, 2), "r-story", done=3, pain_before=8)
    always = add_client(store, "ALWAYS")
    add_assignment(store, always, "r-story", d(5, 1), weeks=12)
    add_sessions(store, always, days(d(5, 1), 25, 2), "r-story", done=2, pain_before=7.5)


def _sorted(rows: list[tuple]) -> list[tuple]:
    """Rows in a stable order, floats to 9 decimals (a sum may add the same values in another order)."""
    return sorted((tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows), key=repr)


def _pipeline_rows(store, scope: Scope) -> dict[str, list[tuple]]:
    """Every table of the practice pipeline of ``scope`` (with the alerts for the alert window)."""
    from core.analytics import alerts

    with metrics.pipeline(store, scope, pain=True) as run:
        tables = ["m_assignments", "m_weeks", "m_client", "m_pain"]
        if scope.days == alerts.ALERT_DAYS:
            alerts.build_alert_table(run, store)
            tables.append("m_alerts")
        return {t: _sorted(run.rows(f"SELECT * FROM {t}")) for t in tables}


def test_a_practice_computes_the_same_rows_on_postgresql_as_in_its_file(postgres, tmp_path) -> None:
    """On PostgreSQL a view of the practice fetches the rows it reads once (the period's logs and
    day figures, and by client those of the few clients whose figures reach further back); its
    tables and the period rows it keeps equal those of the same practice in a DuckDB file, today
    and in the past, for the whole practice and for some of it."""
    from core.analytics import overview
    from core.commands.demo import DemoSpec, create_demo_practice
    from core.db.migrate_store import migrate_store
    from core.db.store import Store
    from core.library.content import sync_library

    as_of = d(6, 30)
    path, url = tmp_path / "practice.duckdb", postgres.new_database()
    with Store(path) as file:
        sync_library(file)
        create_demo_practice(file, DemoSpec(clients=40, days=150, seed=7, as_of=as_of))
        _pain_stories(file)
    migrate_store(path, url)
    today, past = Scope(as_of=as_of), Scope(as_of=d(5, 20))
    scopes = (today, past, Scope(as_of=as_of, days=91), Scope(as_of=d(4, 20), days=91),
              Scope(as_of=as_of, segments=("runner",)), Scope(as_of=as_of, routines=("r-story",)))
    with Store(path) as file, Store(url) as pg:
        for scope in scopes:
            assert _pipeline_rows(pg, scope) == _pipeline_rows(file, scope), scope
        # the rows read beyond the period are there to read: a worse response, pain high since
        # before the window, and in the past view clients and programs with sessions after it
        rows = _pipeline_rows(file, today)
        assert metrics.find_client_id(file, "WORSE") in {r[1] for r in rows["m_pain"] if r[10] == "worse"}
        since = {r[0]: r[5] for r in rows["m_alerts"] if r[4] == "pain_high"}
        assert since[metrics.find_client_id(file, "HIGH")] == d(5, 20)
        assert since[metrics.find_client_id(file, "ALWAYS")] == d(5, 1)
        assert file.scalar("SELECT count(*) FROM client_figures WHERE last_session > ?", [past.as_of]) > 0
        assert file.scalar("SELECT count(*) FROM assignment_pain_figures WHERE last_day > ?", [past.as_of]) > 0
        # the day's first view keeps the same period rows in each store
        for store in (file, pg):
            overview.practice_overview(store, today)
        for table in ("period_assignments", "period_weeks", "period_clients", "period_pain", "period_alerts"):
            kept = [_sorted(store.rows(f"SELECT * EXCLUDE (period) FROM {table}")) for store in (file, pg)]
            assert kept[0] == kept[1] and kept[0], table


def test_records_are_plain_json_values_whatever_the_column_type():
    # The CLI's --json prints these: missing values are null in every dtype, dates ISO strings,
    # numpy and pandas scalars plain Python numbers.
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({
        "float": [1.5, np.nan], "nullable_int": pd.array([1, None], dtype="Int64"), "text": ["x", None],
        "day": [date(2026, 1, 2), None], "nullable_float": pd.array([0.25, None], dtype="Float64"),
        "count": np.array([3, 4], dtype="int64"), "flag": [True, False],
        "moment": pd.to_datetime(["2026-01-02 08:30", None]),
    })
    assert metrics.records(frame) == [
        {"float": 1.5, "nullable_int": 1, "text": "x", "day": "2026-01-02", "nullable_float": 0.25, "count": 3,
         "flag": True, "moment": "2026-01-02T08:30:00"},
        {"float": None, "nullable_int": None, "text": None, "day": None, "nullable_float": None, "count": 4,
         "flag": False, "moment": None},
    ]
    assert all(type(v) in (int, float, str, bool, type(None)) for row in metrics.records(frame) for v in row.values())
