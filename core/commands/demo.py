"""A deterministic demo practice, so every page has something true to show.

The same (seed, clients, days, as_of) always gives the same practice. Everything is generated
with vectorised numpy and inserted set-wise, so the chain-sized practice used by the benchmarks
(10,000 clients, about 2,000,000 session logs) builds in seconds.

The story the data tells: clients start programs at different times over the period, one program
after another; adherence starts high and decays at a client-specific rate, a few clients stop
logging altogether (lapsed), and pain drifts down for most, stays flat for some and rises a little
for a few. It is a new user's first impression, so it reads like a real practice: every client has
a full name of their own, pregnant clients have women's names, a client who has given birth is
no longer on a pregnancy routine, and the open alerts are a handful a team can work through.

A chain works from several sites: each therapist works at one (in turn), and their clients belong
to it, so the sites are drawn without touching the random draws of anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from core import clock
from core.practice.assignments import review_unreviewed_assignments
from core.access.auth import ensure_demo_owner
from core.sessions.red_flags import tag_session_logs
from core.db.store import Store, next_ids, reserve_ids, utcnow

DEMO_SOURCE = "demo"
# Bump when the generator's output changes, so cached benchmark practices are rebuilt.
GENERATOR_VERSION = 5

# First names readers take for women's (pregnant clients get one of these) and for men's; the other
# clients get either. Names are drawn without repeats, so no two clients share a full name.
WOMEN_FIRST_NAMES = (
    "Amira", "Carla", "Elif", "Greta", "Ines", "Kaia", "Mei", "Olga", "Priya", "Rosa", "Tara", "Uma",
    "Wen", "Anna", "Beatriz", "Chiara", "Dana", "Fatima", "Hana", "Julia", "Lena", "Maya", "Nora", "Sofia",
)
MEN_FIRST_NAMES = (
    "Ben", "Dev", "Femi", "Hugo", "Jonas", "Liam", "Nico", "Quentin", "Sami", "Viktor", "Yusuf", "Omar",
)
FIRST_NAMES = WOMEN_FIRST_NAMES + MEN_FIRST_NAMES
LAST_NAMES = (
    "Adeyemi", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito", "Jansen",
    "Kowalski", "Laine", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka",
    "Alves", "Brandt", "Castillo", "Dahl", "Evans", "Fontaine", "Haddad", "Ivanova", "Kim", "Lindqvist",
)
MIDDLE_INITIALS = tuple(f"{letter}. " for letter in "ABCDEFGHJKLMNPRSTW")
THERAPISTS = ("Ana Ruiz", "Ben Okafor", "Chloe Martin")
# The demo's sites, code and name; the first is the practice's default site (core/access/sites.py).
SITES = (("main", "City centre studio"), ("north", "North clinic"), ("riverside", "Riverside studio"),
         ("harbour", "Harbour clinic"), ("old-town", "Old town studio"))
CHAIN_CLIENTS = 1000  # a practice this size is a chain of 3 sites; a smaller one has 2
NEUTRAL_NOTES = (
    "Felt looser afterwards.",
    "Short on time, did half.",
    "Hips tight after a long drive.",
    "Easier than last week.",
    "Did it after my run.",
)
# Notes that a person must look at; core/sessions/red_flags.py tags them, as it does imported notes.
WORRYING_NOTES = (
    "Some tingling in the left foot afterwards.",
    "Sharp pain in the hip on the lunge, stopped.",
)
PREGNANCY_WARNING_NOTES = ("Felt dizzy when I stood up.",)


@dataclass(frozen=True)
class DemoSpec:
    clients: int = 120
    days: int = 182
    seed: int = 7
    as_of: date | None = None
    sites: int | None = None   # None: 3 for a chain-sized practice, else 2 (at most len(SITES))

    def end(self) -> date:
        return self.as_of or clock.today()

    def site_count(self) -> int:
        wanted = self.sites if self.sites is not None else (3 if self.clients >= CHAIN_CLIENTS else 2)
        return max(1, min(int(wanted), len(SITES)))


@dataclass
class DemoSummary:
    clients: int
    assignments: int
    session_logs: int
    as_of: date
    created: bool = True
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "clients": self.clients, "assignments": self.assignments,
                "session_logs": self.session_logs, "as_of": self.as_of.isoformat(), **self.extras}


def practice_is_empty(store: Store) -> bool:
    return store.scalar("SELECT count(*) FROM clients") == 0


def create_demo_practice(store: Store, spec: DemoSpec = DemoSpec()) -> DemoSummary | None:
    """Fill an empty practice with demo data; returns None (and changes nothing) otherwise.

    Requires the library (routines) to be loaded first.
    """
    if not practice_is_empty(store):
        return None
    routines = _routine_catalogue(store)
    if routines.empty:
        raise ValueError("load the library before creating the demo practice (no routines found)")
    rng = np.random.default_rng(spec.seed)
    as_of = spec.end()
    clients = _clients(rng, spec.clients, as_of, spec.seed)
    sites = SITES[:spec.site_count()]
    clients["site"] = _sites_of(clients["therapist"], sites)
    plans = _assignments(rng, clients, routines, spec.days, as_of)
    logs = _session_logs(rng, clients, plans, spec.days, as_of)
    with store.transaction() as cur:
        _insert_sites(cur, sites)
        _insert(cur, clients, plans, logs, as_of)
    # each demo assignment gets the safety findings of its start date recorded as seen (issue 3)
    review_unreviewed_assignments(store, actor="demo", note="demo data")
    ensure_demo_owner(store)  # demo-only sign-in (README); never added beside existing accounts
    return DemoSummary(len(clients), len(plans), len(logs), as_of, extras={"sites": len(sites)})


def _sites_of(therapists: pd.Series, sites: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Each client's site: their therapist's, the therapists taking the sites in turn (in the
    order of THERAPISTS, then of their numbers)."""
    ordered = sorted(set(therapists), key=lambda t: (THERAPISTS.index(t) if t in THERAPISTS else len(THERAPISTS), t))
    site_of = {t: sites[i % len(sites)][0] for i, t in enumerate(ordered)}
    return therapists.map(site_of).to_numpy()


def _insert_sites(cur: Any, sites: tuple[tuple[str, str], ...]) -> None:
    """The demo's sites: the default site takes the first name, the others are added."""
    now = utcnow()
    for code, name in sites:
        if cur.execute("SELECT count(*) FROM sites WHERE code = ?", [code]).fetchone()[0]:
            cur.execute("UPDATE sites SET name = ? WHERE code = ?", [name, code])
        else:
            cur.execute("INSERT INTO sites (code, name, created_at) VALUES (?, ?, ?)", [code, name, now])


def _routine_catalogue(store: Store) -> pd.DataFrame:
    return store.query(
        """
        SELECT r.id AS routine_id, r.audience, v.version, v.sessions_per_week, v.times_per_day,
               (SELECT count(*) FROM routine_items i WHERE i.routine_id = v.routine_id AND i.version = v.version)
                   AS item_count
        FROM routines r JOIN routine_versions v ON v.routine_id = r.id AND v.version = r.current_version
        WHERE r.archived_at IS NULL
        ORDER BY r.id
        """
    )


def _full_names(rng: np.random.Generator, pregnant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A different full name for every client (first and display name): women's first names for
    pregnant clients, any for the others. Plain "First Last" pairs are used up before any name gets a
    middle initial, which only practices of several thousand clients need."""
    women, others = [], []
    for middle in ("", *MIDDLE_INITIALS):
        block_women = [(f, f"{f} {middle}{last}") for f in WOMEN_FIRST_NAMES for last in LAST_NAMES]
        block_men = [(f, f"{f} {middle}{last}") for f in MEN_FIRST_NAMES for last in LAST_NAMES]
        women += [block_women[i] for i in rng.permutation(len(block_women))]
        others += [block_men[i] for i in rng.permutation(len(block_men))]
        if len(women) >= pregnant.sum() and len(women) + len(others) >= len(pregnant):
            break
    expectant = int(pregnant.sum())
    # the others draw from what the pregnant clients left, women's and men's names interleaved
    rest = [name for pair in zip(women[expectant:], others) for name in pair]
    rest += women[expectant + len(others):] + others[len(women) - expectant:]
    chosen = np.empty(len(pregnant), dtype=object)
    chosen[np.flatnonzero(pregnant)] = women[:expectant]
    chosen[np.flatnonzero(~pregnant)] = rest[:len(pregnant) - expectant]
    return (np.array([first for first, _ in chosen], dtype=object), np.array([full for _, full in chosen], dtype=object))


def _clients(rng: np.random.Generator, n: int, as_of: date, seed: int = 0) -> pd.DataFrame:
    idx = np.arange(n)
    rng.integers(0, 24, n), rng.integers(0, 20, n)  # the draws of the old name picker, so the rest stays as it was
    segment_draw = rng.random(n)
    segment = np.where(segment_draw < 0.3, "pregnant", np.where(segment_draw < 0.65, "runner", "desk_worker"))
    also_desk = (segment == "runner") & (rng.random(n) < 0.15)
    gest_week_now = rng.integers(6, 46, n)  # > 40: delivered a few weeks ago
    pregnant = segment == "pregnant"
    due = pd.to_datetime(as_of) + pd.to_timedelta((40 - gest_week_now) * 7, unit="D")
    first, display_name = _full_names(np.random.default_rng([seed, 1]), pregnant)
    therapists = max(len(THERAPISTS), n // 40)
    therapist_names = [THERAPISTS[i] if i < len(THERAPISTS) else f"Therapist {i + 1:03d}" for i in range(therapists)]
    return pd.DataFrame({
        "idx": idx,
        "code": [f"C{i + 1:05d}" for i in idx],
        "display_name": display_name,
        "email": np.where(rng.random(n) < 0.6, [f"{f.lower()}.{i}@example.org" for f, i in zip(first, idx)], None),
        "therapist": np.array(therapist_names)[rng.integers(0, therapists, n)],
        "segment": segment,
        "also_desk": also_desk,
        "due_date": np.where(pregnant, due.date, None),
        "postpartum": pregnant & (gest_week_now > 40),
        "gest_week_now": np.where(pregnant, gest_week_now, -1),
        "knee_pain": rng.random(n) < 0.08,
        "hypermobility": rng.random(n) < 0.04,
        # adherence and pain story
        # about a third keep their habit; the others fade slowly, and one in eight stops reporting
        "adherence0": rng.beta(14, 2, n),
        "decay_per_week": np.where(rng.random(n) < 0.45, 0.0, rng.uniform(0.0, 0.018, n)),
        "drop_out_day": np.where(rng.random(n) < 0.06, rng.integers(20, 150, n), 10**6),
        "pain0": np.round(rng.uniform(2.0, 5.5, n) * 2) / 2,
        # pain eases for most, stays for some and rises a little for a few (capped: see _session_logs)
        "pain_slope": np.select(
            [rng.random(n) < 0.6, rng.random(n) < 0.6], [rng.uniform(-0.35, -0.15, n), np.zeros(n)],
            default=rng.uniform(0.04, 0.1, n),
        ),
    })


def _routine_for(clients: pd.DataFrame, routines: pd.DataFrame, start_days_before: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The template a therapist would pick: by trimester for pregnant clients, else by segment."""
    ids = set(routines["routine_id"])

    def pick(*names: str) -> str:
        present = [n for n in names if n in ids]
        return present[0] if present else routines["routine_id"].iloc[0]

    week_at_start = clients["gest_week_now"].to_numpy() - start_days_before // 7
    choice = np.where(rng.random(len(clients)) < 0.5, pick("runner-warm-up-cool-down"), pick("daily-psoas-routine"))
    choice = np.where(clients["segment"] == "desk_worker",
                      np.where(rng.random(len(clients)) < 0.6, pick("desk-micro-breaks"), pick("four-stretch-routine", "daily-psoas-routine")),
                      choice)
    preg = clients["segment"].to_numpy() == "pregnant"
    trimester = np.select([week_at_start < 13, week_at_start < 28, week_at_start <= 40],
                          [pick("pregnancy-first-trimester"), pick("pregnancy-second-trimester"), pick("pregnancy-third-trimester")],
                          default=pick("day-plan-morning-midday-evening", "four-stretch-routine"))
    return np.where(preg, trimester, choice)


def _assignments(rng: np.random.Generator, clients: pd.DataFrame, routines: pd.DataFrame,
                 days: int, as_of: date) -> pd.DataFrame:
    """Back-to-back programs per client from a staggered first start until as_of."""
    n = len(clients)
    start_offset = rng.integers(0, max(1, int(days * 0.45)), n)  # days after the period's first day
    # the day (from the period's first) a pregnant client reaches week 40; never for the others
    birth_day = np.where(clients["gest_week_now"].to_numpy() > 0,
                         days - 1 - (clients["gest_week_now"].to_numpy() - 40) * 7, 10**6)
    catalogue = routines.set_index("routine_id")
    rounds = []
    cursor = start_offset.copy()
    k = 0
    while True:
        alive = cursor <= days - 7
        if not alive.any():
            break
        weeks = rng.choice([4, 6, 8, 12], n)
        days_before = days - cursor
        routine_id = _routine_for(clients, routines, days_before, rng)
        # a pregnancy routine ends by the birth (week 40): a client who has given birth is not on one
        to_birth = (birth_day - cursor) // 7
        on_pregnancy = pd.Series(routine_id).str.startswith("pregnancy").to_numpy()
        weeks = np.where(on_pregnancy & (cursor + weeks * 7 > birth_day), np.maximum(1, to_birth), weeks)
        rounds.append(pd.DataFrame({
            "idx": clients["idx"][alive].to_numpy(),
            "round": k,
            "start_day": cursor[alive],
            "weeks": weeks[alive],
            "routine_id": routine_id[alive],
        }))
        cursor = cursor + weeks * 7 + rng.integers(0, 15, n)
        k += 1
    plans = pd.concat(rounds, ignore_index=True).sort_values(["idx", "round"], ignore_index=True)
    plans["routine_version"] = plans["routine_id"].map(catalogue["version"]).astype(int)
    plans["sessions_per_week"] = plans["routine_id"].map(catalogue["sessions_per_week"]).clip(1, 21).astype(int)
    plans["times_per_day"] = plans["routine_id"].map(catalogue["times_per_day"]).astype(int)
    plans["item_count"] = plans["routine_id"].map(catalogue["item_count"]).astype(int)
    first_day = pd.Timestamp(as_of) - pd.Timedelta(days=days - 1)
    plans["start_date"] = (first_day + pd.to_timedelta(plans["start_day"], unit="D")).dt.date
    plans["planned_end_day"] = plans["start_day"] + plans["weeks"] * 7 - 1
    plans["status"] = np.where(plans["planned_end_day"] >= days - 1, "active", "ended")
    # A few assignments had a week's pause (holiday, illness) starting in their third week.
    plans["paused"] = (rng.random(len(plans)) < 0.06) & (plans["weeks"] >= 6)
    plans["pause_from_day"] = plans["start_day"] + 14
    return plans


def _session_logs(rng: np.random.Generator, clients: pd.DataFrame, plans: pd.DataFrame, days: int,
                  as_of: date) -> pd.DataFrame:
    """One candidate slot per assignment-day-time; a slot becomes a session with a probability that
    follows the client's adherence curve."""
    last_day = np.minimum(plans["planned_end_day"].to_numpy(), days - 1)
    length = np.maximum(0, last_day - plans["start_day"].to_numpy() + 1)
    rows = np.repeat(np.arange(len(plans)), length)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length)
    day = plans["start_day"].to_numpy()[rows] + offset
    plan = plans.iloc[rows]
    client = clients.iloc[plan["idx"].to_numpy()]
    paused = plan["paused"].to_numpy() & (day >= plan["pause_from_day"].to_numpy()) & (day < plan["pause_from_day"].to_numpy() + 7)
    first_start = plans.groupby("idx")["start_day"].min()
    weeks_in = (day - first_start.reindex(plan["idx"]).to_numpy()) / 7
    tpd = plan["times_per_day"].to_numpy()
    p_slot = np.minimum(1.0, plan["sessions_per_week"].to_numpy() / (7 * tpd))
    adherence = client["adherence0"].to_numpy() * np.exp(-client["decay_per_week"].to_numpy() * weeks_in)
    active = ~paused & (day - first_start.reindex(plan["idx"]).to_numpy() < client["drop_out_day"].to_numpy())
    count = np.where(active, rng.binomial(tpd, np.clip(p_slot * adherence, 0, 1)), 0)
    keep = np.repeat(np.arange(len(rows)), count)
    n = len(keep)
    plan = plan.iloc[keep]
    client = client.iloc[keep]
    day = day[keep]
    weeks_in = weeks_in[keep]
    prescribed = plan["item_count"].to_numpy()
    partial = rng.random(n) < 0.12
    done = np.where(partial, np.maximum(0, prescribed - rng.integers(1, 4, n)), prescribed)
    # a rising pain stays within 2.5 points of where it started (a real team would have acted sooner)
    drift = np.minimum(client["pain_slope"].to_numpy() * weeks_in, 2.5)
    pain = np.clip(client["pain0"].to_numpy() + drift + rng.normal(0, 0.6, n), 0, 10)
    pain_before = np.round(pain * 2) / 2
    pain_after = np.clip(pain_before - np.round(rng.uniform(0, 2, n) * 2) / 2, 0, 10)
    no_score = rng.random(n) < 0.08
    note_draw = rng.random(n)
    pregnant = client["segment"].to_numpy() == "pregnant"
    notes = np.select(
        [note_draw < 0.0015, (note_draw < 0.0025) & pregnant, note_draw < 0.04],
        [np.array(WORRYING_NOTES)[rng.integers(0, len(WORRYING_NOTES), n)],
         np.array(PREGNANCY_WARNING_NOTES)[rng.integers(0, len(PREGNANCY_WARNING_NOTES), n)],
         np.array(NEUTRAL_NOTES)[rng.integers(0, len(NEUTRAL_NOTES), n)]],
        default=None,
    )
    first_day = pd.Timestamp(as_of) - pd.Timedelta(days=days - 1)
    hour = np.where(plan["times_per_day"].to_numpy() > 1, rng.integers(8, 19, n), rng.integers(6, 22, n))
    return pd.DataFrame({
        "idx": plan["idx"].to_numpy(),
        "routine_id": plan["routine_id"].to_numpy(),
        "session_date": (first_day + pd.to_timedelta(day, unit="D")).date,
        "session_time": pd.to_timedelta(hour * 3600 + rng.integers(0, 60, n) * 60, unit="s"),
        "exercises_done": np.where(rng.random(n) < 0.05, np.nan, done),
        "exercises_prescribed": prescribed,
        "duration_min": np.round(np.clip(rng.normal(11, 3, n), 2, 40), 1),
        "pain_before": np.where(no_score, np.nan, pain_before),
        "pain_after": np.where(no_score, np.nan, pain_after),
        "stiffness": np.where(no_score, np.nan, np.round(np.clip(pain_before + rng.normal(0.5, 1, n), 0, 10) * 2) / 2),
        "notes": notes,
    })


def _insert(cur: Any, clients: pd.DataFrame, plans: pd.DataFrame, logs: pd.DataFrame, as_of: date) -> None:
    now = utcnow()
    cur.register("demo_clients", clients.assign(created_at=now))
    cur.execute(
        """
        INSERT INTO clients (code, display_name, email, therapist, due_date, pregnancy_ended_on, postpartum,
                             conditions, notes, archived_at, created_at, updated_at, site)
        SELECT code, display_name, email, therapist, CAST(due_date AS DATE), NULL, postpartum, NULL,
               NULL, NULL, created_at, created_at, site
        FROM demo_clients ORDER BY idx
        """
    )
    cur.execute("CREATE TEMP TABLE demo_ids AS SELECT d.idx, c.id FROM demo_clients d JOIN clients c ON c.code = d.code")
    cur.execute(
        """
        INSERT INTO client_segments
        SELECT id, segment FROM demo_ids JOIN demo_clients USING (idx)
        UNION ALL SELECT id, 'desk_worker' FROM demo_ids JOIN demo_clients USING (idx) WHERE also_desk
        """
    )
    cur.execute(
        """
        INSERT INTO client_flags
        SELECT id, 'knee_pain' FROM demo_ids JOIN demo_clients USING (idx) WHERE knee_pain
        UNION ALL SELECT id, 'hypermobility' FROM demo_ids JOIN demo_clients USING (idx) WHERE hypermobility
        UNION ALL SELECT id, 'postpartum' FROM demo_ids JOIN demo_clients USING (idx) WHERE postpartum
        """
    )
    cur.register("demo_plans", plans.drop(columns=["paused"]).assign(paused=plans["paused"], assigned_at=now))
    cur.execute(
        """
        CREATE TEMP TABLE demo_plan_order AS
        SELECT row_number() OVER (ORDER BY p.idx, p.round) AS n, p.*, i.id AS client_id
        FROM demo_plans p JOIN demo_ids i USING (idx)
        """
    )
    planned = cur.execute("SELECT count(*) FROM demo_plan_order").fetchone()[0]
    cur.execute("CREATE TEMP TABLE demo_assign AS SELECT CAST(? AS BIGINT[])[n] AS id, * EXCLUDE (n)"
                " FROM demo_plan_order ORDER BY n", [next_ids(cur, "assignment_id_seq", planned)])
    cur.execute("DROP TABLE demo_plan_order")
    cur.execute(
        """
        INSERT INTO assignments (id, client_id, routine_id, routine_version, start_date, weeks, sessions_per_week,
                                 end_date, status, replaced_by, assigned_by, assigned_at)
        SELECT id, client_id, routine_id, routine_version, CAST(start_date AS DATE), weeks, sessions_per_week,
               NULL, status, NULL, 'demo', assigned_at
        FROM demo_assign ORDER BY id
        """
    )
    cur.execute(
        """
        INSERT INTO assignment_pauses
        SELECT id, CAST(start_date AS DATE) + 14, CAST(start_date AS DATE) + 20 FROM demo_assign WHERE paused
        """
    )
    cur.execute(
        "INSERT INTO import_batches (source, file_name, imported_by, imported_at, rows_read, accepted, rejected, duplicates)"
        " VALUES (?, NULL, 'demo', ?, ?, ?, 0, 0)",
        [DEMO_SOURCE, now, len(logs), len(logs)],
    )
    batch_id = cur.execute("SELECT max(id) FROM import_batches").fetchone()[0]
    # ids in the order the sessions happened, as if each had been logged then (the frame's own order
    # breaks ties, so the ids are the same on every run): a block from store.reserve_ids, as a
    # parallel INSERT would draw them out of order
    cur.register("demo_logs", logs.assign(entry=np.arange(len(logs))))
    first = reserve_ids(cur, "session_log_id_seq", len(logs)) if len(logs) else 0
    cur.execute(
        """
        INSERT INTO session_logs (id, client_id, routine_id, session_date, session_time, exercises_done,
                                  exercises_prescribed, duration_min, pain_before, pain_after, stiffness, notes,
                                  red_flags, before_first_assignment, source, source_session_id, batch_id,
                                  entered_by, created_at)
        SELECT ? + row_number() OVER (ORDER BY l.session_date, l.session_time, i.id, l.entry) - 1,
               i.id, l.routine_id, CAST(l.session_date AS DATE), CAST(TIME '00:00' + l.session_time AS TIME),
               CAST(l.exercises_done AS INTEGER), l.exercises_prescribed, l.duration_min, l.pain_before,
               l.pain_after, l.stiffness, l.notes, NULL, FALSE, ?, NULL, ?, 'demo', ?
        FROM demo_logs l JOIN demo_ids i USING (idx)
        """,
        [first, DEMO_SOURCE, batch_id, now],
    )
    tag_session_logs(cur, "source = ?", [DEMO_SOURCE])  # the same tagger the importer uses
    for name in ("demo_clients", "demo_plans", "demo_logs"):
        cur.unregister(name)
    cur.execute("DROP TABLE demo_ids")
    cur.execute("DROP TABLE demo_assign")
