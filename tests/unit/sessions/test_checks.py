"""The shortcuts of the session-log checks (core/sessions/checks.py) give exactly what the full checks give.

For speed on large files, a number is first read by a plain cast and cleaned only when that fails,
and reasons are only worked out for the rows ``_may_fail`` picks. These tests hold the shortcuts
to the full forms: the same numbers, and no row with a reason left out.
"""

from __future__ import annotations

from datetime import date

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.sessions import checks
from core.sessions.checks import CheckOptions, FIELDS, check_rows, prepare_rows, stage_values
from core.db.store import Store
from tests.practice_rows import add_assignment, add_client, add_routine

AS_OF = date(2024, 4, 1)
TRICKY_NUMBERS = [
    "3", " 3", "3 ", "\t3\n", "\u00a03", "3\u00a0", "3,5", " 3,5 ", "7/10", "7 / 10", "7/10 ", "1_000", "_1",
    "0x10", "1e3", "1E5", "+3", "-0", ".5", "5.", "inf", "-inf", "nan", "NaN", "Infinity", "1e400", "1e-400",
    "", " ", "\u00a0", "1 000", "1,000", "1.000,5", "12,50", ",5", "1,", "--3", "+-3", "3-", "\v3", "3\f",
    "١٢", "３", "½", "3%", "'3'", "ten",
]


def _numbers(values: list[str | None]) -> list[tuple]:
    """Each value read by the shortcut and by the full form (clean, then ``_number``), as a scale."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS raw", [values])
    fast, other = "try_cast(raw AS DOUBLE)", checks._unless_number("raw", "try_cast(raw AS DOUBLE)")
    return con.execute(
        f"SELECT raw, {checks._read_number(fast, other, scale=True)}, {checks._number(checks._clean('raw'), scale=True)},"
        f" {checks._read_number(fast, other)}, {checks._number(checks._clean('raw'))} FROM t"
    ).fetchall()


def test_numbers_read_by_the_plain_cast_match_the_full_reading() -> None:
    rows = _numbers([*TRICKY_NUMBERS, None])
    assert [r for r in rows if r[1] != r[2] and not (r[1] is None and r[2] is None)] == []
    assert [r for r in rows if r[3] != r[4] and not (r[3] is None and r[4] is None)] == []
    read = {r[0]: r[1] for r in rows}
    assert (read[" 3,5 "], read["7 / 10"], read["\u00a03"], read["1_000"], read["nan"], read[""]) == (
        3.5, 7.0, 3.0, 1000.0, None, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("0123456789 .,+-eE_/\t\n\u00a0xinfa")), max_size=8), min_size=1,
                max_size=50))
def test_any_number_text_reads_the_same_both_ways(values: list[str]) -> None:
    for raw, fast_scale, full_scale, fast, full in _numbers(values):
        assert fast_scale == full_scale or fast_scale is None and full_scale is None, raw
        assert fast == full or fast is None and full is None, raw


def _practice(store: Store) -> None:
    add_routine(store, "r-one", 4)
    add_routine(store, "r-two", 3)
    anna = add_client(store, "C00001")
    ben = add_client(store, "C00002")
    add_client(store, "C00003")
    add_routine(store, "r-one", 5, version=2)
    add_assignment(store, anna, "r-one", date(2024, 3, 1), weeks=6)
    add_assignment(store, anna, "r-one", date(2024, 3, 20), weeks=6, version=2)   # two versions given
    add_assignment(store, ben, "r-one", date(2024, 2, 1), weeks=8)
    add_assignment(store, ben, "r-two", date(2024, 3, 10), weeks=4)


_cell = st.one_of(
    st.none(), st.just(""), st.just(" "),
    st.sampled_from(["C00001", " c00001 ", "C00002", "C00003", "C00009", "r-one", "r-two", "R-ONE ", "nope",
                     "2024-03-14", "14/03/2024", "2024-03-14 25:00", "2024-03-14 07:30", "31/02/2024", "2030-01-01",
                     "45365", "45365.5", "07:30", "7pm", "99:99", "13pm", "3", " 3 ", "3,5", "7/10", "12", "-1",
                     "0.25", "2.5", "NaN",
                     "1e400", "200", "201", "1500", "x", "felt dizzy", "s1"]),
    st.integers(-2, 12).map(str),
)


# A valid row; the rows tested change a few of its fields, so that most have one reason or none.
_VALID = {"client": "C00001", "session_date": "2024-03-14", "session_time": None, "routine": "r-one",
          "exercises_done": "3", "exercises_prescribed": None, "duration_min": "10", "pain_before": "2",
          "pain_after": "1", "stiffness": "3", "notes": None, "session_id": None}
_row = st.dictionaries(st.sampled_from(FIELDS), _cell, max_size=3).map(lambda changed: {**_VALID, **changed})


def _compare_reasons(store: Store, rows: list[dict], opts: CheckOptions) -> list[tuple[str, list[str]]]:
    """Check ``rows`` and hold li_out's reasons to the full reasons of every row; (status, reasons) per row."""
    if not store.scalar("SELECT count(*) FROM clients"):
        _practice(store)
    cur = store.cursor()
    try:
        stage_values(cur, rows, list(range(1, len(rows) + 1)))
        prepare_rows(cur)
        check_rows(cur, opts)
        number_texts = ", ".join(f"{checks._clean(f + '_raw')} AS {f}" for f in checks._NUMBERS)
        full = dict(cur.execute(
            f"SELECT row_no, {checks._reasons(opts)} FROM (SELECT *, {number_texts} FROM ({checks._resolved_sql(opts)}))",
            {"as_of": opts.as_of},
        ).fetchall())
        got = {row_no: (status, reasons) for row_no, status, reasons in
               cur.execute("SELECT row_no, status, reasons FROM li_out").fetchall()}
        unmade = ({r for (r,) in cur.execute("SELECT row_no FROM li_unmade").fetchall()}
                  if opts.create_clients else set())
    finally:
        cur.close()
    assert sorted(got) == sorted(full) == list(range(1, len(rows) + 1))
    for row_no, text in full.items():
        status, reasons = got[row_no]
        expected = text.split("\x1f") if text else []
        if row_no in unmade:     # a new client that no kept row creates
            assert reasons[0].startswith("unknown client")
            expected = [reasons[0], *expected]
        assert reasons == expected, (row_no, rows[row_no - 1])
        assert (status == "rejected") == bool(expected) or status == "duplicate", (row_no, status, expected)
    return [got[n] for n in sorted(got)]


# One problem each: every part of the reasons, so that ``_may_fail`` must pick each of them alone.
ONE_PROBLEM = [
    {"client": None}, {"client": "C00009"}, {"client": " "}, {"session_date": None}, {"session_date": "31/02/2024"},
    {"session_date": "2030-01-01"}, {"session_date": "1850-01-01"}, {"session_date": "14/03/2024"},
    {"session_date": "2024-03-14 25:00"}, {"session_time": "99:99"}, {"routine": "nope"},
    {"routine": None, "session_date": "2024-03-25"},
    {"client": "C00003", "routine": None}, {"exercises_done": "x"}, {"exercises_done": "2.5"},
    {"exercises_done": "-1"}, {"exercises_done": "201"}, {"exercises_prescribed": "0"},
    {"exercises_prescribed": "201"}, {"exercises_prescribed": "x"}, {"exercises_prescribed": "1.5"},
    {"exercises_done": "9"}, {"duration_min": "x"}, {"duration_min": "-1"}, {"duration_min": "1500"},
    {"pain_before": "x"}, {"pain_before": "11"}, {"pain_before": "-1"}, {"pain_before": "2.25"},
    {"pain_after": "10.5"}, {"stiffness": "3.3"}, {"stiffness": "NaN"}, {"pain_after": " 12 "},
    {"notes": "x" * 4001},
]


def test_each_single_problem_is_found(store: Store) -> None:
    rows = [_VALID, *({**_VALID, **change} for change in ONE_PROBLEM)]
    results = _compare_reasons(store, rows, CheckOptions(source="one", as_of=AS_OF, date_order="mdy"))
    assert results[0] == ("accepted", [])
    assert [bool(reasons) for _, reasons in results[1:]] == [True] * len(ONE_PROBLEM)
    assert {status for status, _ in results[1:]} == {"rejected", "duplicate"}   # a blank client is a missing one
    assert results[ONE_PROBLEM.index({"pain_after": " 12 "}) + 1] == ("rejected", ["pain_after 12 is outside 0–10"])
    assert results[ONE_PROBLEM.index({"notes": "x" * 4001}) + 1] == (
        "rejected", ["notes are 4,001 characters long: at most 4,000 are kept"])


def test_notes_of_exactly_the_form_limit_are_accepted(store: Store) -> None:
    results = _compare_reasons(store, [{**_VALID, "notes": " " + "y" * 4000 + " "}],
                               CheckOptions(source="one", as_of=AS_OF, date_order="mdy"))
    assert results == [("accepted", [])]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=20),
       order=st.sampled_from([None, "dmy", "mdy"]), create=st.booleans())
def test_every_row_with_a_reason_is_rejected_with_all_its_reasons(store: Store, rows, order, create) -> None:
    """The reasons li_out gives (worked out for the rows ``_may_fail`` picks) are those the full
    reasons give when worked out for every row."""
    _compare_reasons(store, rows, CheckOptions(source="prop", as_of=AS_OF, date_order=order, create_clients=create))
