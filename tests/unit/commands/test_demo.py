from datetime import date

from core.library.content import sync_library
from core.commands.demo import DemoSpec, create_demo_practice
from core.db.store import Store

SPEC = DemoSpec(clients=60, days=120, seed=3, as_of=date(2026, 3, 1))

FINGERPRINT = """
    SELECT (SELECT count(*) FROM clients), (SELECT count(*) FROM assignments),
           (SELECT count(*) FROM session_logs), (SELECT sum(pain_before) FROM session_logs),
           (SELECT string_agg(code || display_name, ',' ORDER BY code) FROM clients)
"""


def test_demo_is_deterministic(tmp_path) -> None:
    results = []
    for name in ("a", "b"):
        with Store(tmp_path / f"{name}.duckdb") as store:
            sync_library(store)
            create_demo_practice(store, SPEC)
            results.append(store.rows(FINGERPRINT))
    assert results[0] == results[1]


def test_demo_only_fills_an_empty_practice(store: Store) -> None:
    first = create_demo_practice(store, SPEC)
    assert first is not None and first.clients == 60
    before = store.rows(FINGERPRINT)
    assert create_demo_practice(store, SPEC) is None
    assert store.rows(FINGERPRINT) == before


def test_demo_data_is_consistent(store: Store) -> None:
    summary = create_demo_practice(store, SPEC)
    assert summary.session_logs > 0
    # every log belongs to a client and lies inside the period, never after as_of
    assert store.scalar("SELECT max(session_date) FROM session_logs") <= SPEC.as_of
    assert store.scalar("SELECT count(*) FROM session_logs l LEFT JOIN clients c ON c.id = l.client_id WHERE c.id IS NULL") == 0
    # scores are on the 0–10 scale in half points, and done never exceeds prescribed
    assert store.scalar("SELECT count(*) FROM session_logs WHERE pain_before NOT BETWEEN 0 AND 10 OR pain_before * 2 <> round(pain_before * 2)") == 0
    assert store.scalar("SELECT count(*) FROM session_logs WHERE exercises_done > exercises_prescribed") == 0
    # all three segments are present, pregnant clients have a due date
    assert {s for (s,) in store.rows("SELECT DISTINCT segment FROM client_segments")} == {"pregnant", "runner", "desk_worker"}
    assert store.scalar("SELECT count(*) FROM clients c JOIN client_segments s ON s.client_id = c.id AND s.segment = 'pregnant' WHERE c.due_date IS NULL") == 0
    # assignments reference existing routine versions
    assert store.scalar("SELECT count(*) FROM assignments a LEFT JOIN routine_versions v ON v.routine_id = a.routine_id AND v.version = a.routine_version WHERE v.routine_id IS NULL") == 0
    # the sessions were logged as they happened: ids in date and time order, one block
    assert store.scalar("""SELECT count(*) FROM (SELECT session_date, session_time, lag(session_date) OVER w AS d,
                                                        lag(session_time) OVER w AS t
                                                 FROM session_logs WINDOW w AS (ORDER BY id))
                           WHERE d IS NOT NULL AND (session_date, session_time) < (d, t)""") == 0
    assert store.scalar("SELECT max(id) - min(id) + 1 = count(*) FROM session_logs")


def test_demo_notes_with_warning_signs_are_tagged_like_imported_ones(store: Store) -> None:
    create_demo_practice(store, DemoSpec(clients=400, days=200, seed=5, as_of=date(2026, 3, 1)))
    tagged = store.rows("SELECT notes, red_flags FROM session_logs WHERE red_flags IS NOT NULL AND red_flags <> ''")
    assert tagged, "the demo should contain a few notes that need a person's attention"
    assert {n for n, _ in tagged} <= {"Some tingling in the left foot afterwards.",
                                       "Sharp pain in the hip on the lunge, stopped.", "Felt dizzy when I stood up."}
    assert store.scalar("SELECT count(*) FROM session_logs WHERE notes = 'Felt looser afterwards.'"
                        " AND coalesce(red_flags, '') <> ''") == 0


def test_the_demo_reads_like_a_real_practice(tmp_path) -> None:
    """A new user's first impression (issue 18): 120 clients at the default size."""
    from core.analytics import metrics, overview
    from core.commands.demo import WOMEN_FIRST_NAMES

    spec = DemoSpec(clients=120, seed=7, as_of=SPEC.as_of)
    with Store(tmp_path / "real.duckdb") as store:
        sync_library(store)
        create_demo_practice(store, spec)
        # no two clients share a full name; pregnant clients have women's names
        assert store.scalar("SELECT count(DISTINCT display_name) FROM clients") == 120
        expectant = [n for (n,) in store.rows(
            "SELECT c.display_name FROM clients c JOIN client_segments s ON s.client_id = c.id"
            " AND s.segment = 'pregnant'")]
        assert expectant and all(n.split()[0] in WOMEN_FIRST_NAMES for n in expectant)
        # a client who has given birth is not on a pregnancy routine any more
        assert store.scalar(
            "SELECT count(*) FROM assignments a JOIN client_flags f ON f.client_id = a.client_id"
            " AND f.flag = 'postpartum' WHERE a.routine_id LIKE 'pregnancy%'"
            " AND a.start_date + 7 * a.weeks - 1 >= ?", [spec.as_of]) == 0
        # a handful of open alerts, not one for every second client
        _, open_alerts = overview.practice_overview(store, metrics.Scope(as_of=spec.as_of, days=28))
        assert 5 <= len(open_alerts) <= 40
        # no long streaks of severe pain (9-10/10) that nobody would have acted on
        streaks = store.scalar(
            """SELECT coalesce(max(n), 0) FROM (
                 SELECT client_id, count(*) AS n FROM (
                   SELECT client_id, pain_before >= 9 AS severe,
                          row_number() OVER (PARTITION BY client_id ORDER BY session_date, session_time)
                          - row_number() OVER (PARTITION BY client_id, pain_before >= 9
                                               ORDER BY session_date, session_time) AS run
                   FROM session_logs WHERE pain_before IS NOT NULL)
                 WHERE severe GROUP BY client_id, run)""")
        assert streaks < 10


def test_the_demo_works_from_several_sites_each_therapist_at_one(store: Store) -> None:
    summary = create_demo_practice(store, SPEC)
    assert summary.as_dict()["sites"] == 2              # 60 clients: 2 sites; a chain (1,000+): 3
    assert DemoSpec(clients=10_000).site_count() == 3 and DemoSpec(clients=60, sites=1).site_count() == 1
    assert store.rows("SELECT code, name FROM sites ORDER BY created_at, code") == [
        ("main", "City centre studio"), ("north", "North clinic")]
    # Ana Ruiz and Chloe Martin work at main, Ben Okafor at north; every client at their therapist's site
    assert store.rows("SELECT DISTINCT therapist, site FROM clients ORDER BY therapist") == [
        ("Ana Ruiz", "main"), ("Ben Okafor", "north"), ("Chloe Martin", "main")]
