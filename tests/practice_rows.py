"""Plain-SQL rows for the analytics tests: clients, routines, assignments, pauses, session logs.

The metrics and alerts tests build tiny practices whose every figure is computed by hand in the
test's comments. They insert rows directly (no service functions), so they test the definitions
alone and do not depend on the clients / routines / import code. Like the service functions, each
write says which client it changes (Store.transaction), so figures kept per client follow them.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from core.db.store import Store, next_id, reserve_ids, utcnow
from core.sessions.red_flags import judge_sql


def add_routine(store: Store, routine_id: str, items: int, *, sessions_per_week: int = 3, weeks: int = 4,
                version: int = 1, slots: tuple[str, ...] = ()) -> None:
    """A routine version with ``items`` exercises (exercise ids need not exist for the metrics);
    ``slots`` gives the first items their block of a day plan, in order."""
    now = utcnow()
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM routines WHERE id = ?", [routine_id]).fetchone():
            cur.execute("INSERT INTO routines VALUES (?, ?, 'general', NULL, 'custom', NULL, ?, NULL, ?)",
                        [routine_id, routine_id.replace("-", " ").title(), version, now])
        cur.execute("INSERT INTO routine_versions VALUES (?, ?, ?, NULL, 1, ?, NULL, 'test', ?)",
                    [routine_id, version, sessions_per_week, weeks, now])
        for position in range(items):
            cur.execute(
                "INSERT INTO routine_items (routine_id, version, position, exercise_id, slot) VALUES (?, ?, ?, ?, ?)",
                [routine_id, version, position, f"exercise-{position}",
                 slots[position] if position < len(slots) else None])


def add_client(store: Store, code: str, *, segments: tuple[str, ...] = (), therapist: str | None = None,
               name: str | None = None, archived: bool = False, due_date: date | None = None) -> int:
    now = utcnow()
    created: set[int] = set()
    with store.transaction(clients=created) as cur:
        client_id = next_id(cur, "client_id_seq")
        cur.execute(
            "INSERT INTO clients (id, code, display_name, therapist, archived_at, due_date, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [client_id, code, name or f"Client {code}", therapist, now if archived else None, due_date, now, now],
        )
        created.add(client_id)
        for segment in segments:
            cur.execute("INSERT INTO client_segments VALUES (?, ?)", [client_id, segment])
    return int(client_id)


def add_assignment(store: Store, client_id: int, routine_id: str, start: date, *, weeks: int = 4,
                   sessions_per_week: int = 3, end_date: date | None = None, version: int = 1,
                   status: str = "active") -> int:
    with store.transaction(clients=(client_id,)) as cur:
        assignment_id = next_id(cur, "assignment_id_seq")
        cur.execute(
            "INSERT INTO assignments (id, client_id, routine_id, routine_version, start_date, weeks,"
            " sessions_per_week, end_date, status, assigned_by, assigned_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'test', ?)",
            [assignment_id, client_id, routine_id, version, start, weeks, sessions_per_week, end_date, status,
             utcnow()],
        )
        return assignment_id


def add_pause(store: Store, assignment_id: int, paused_from: date, paused_until: date | None) -> None:
    client_id = store.scalar("SELECT client_id FROM assignments WHERE id = ?", [assignment_id])
    with store.transaction(clients=(client_id,)) as cur:
        cur.execute("INSERT INTO assignment_pauses VALUES (?, ?, ?)", [assignment_id, paused_from, paused_until])


def add_session(store: Store, client_id: int, day: date, routine_id: str | None = None, *,
                done: int | None = None, prescribed: int | None = None, pain_before: float | None = None,
                pain_after: float | None = None, notes: str | None = None, red_flags: str | None = None,
                at: time | None = None, block: str | None = None) -> int:
    with store.transaction(clients=(client_id,)) as cur:
        log_id = reserve_ids(cur, "session_log_id_seq", 1)
        cur.execute(
            "INSERT INTO session_logs (id, client_id, routine_id, session_date, session_time, exercises_done,"
            " exercises_prescribed, pain_before, pain_after, notes, red_flags, source, created_at, block)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'test', ?, ?)",
            [log_id, client_id, routine_id, day, at, done, prescribed, pain_before, pain_after, notes, red_flags, utcnow(),
             block],
        )
        cur.execute(judge_sql("s.id = ?"), [log_id])   # the given tags' level for this client on ``day``
        return log_id


def add_sessions(store: Store, client_id: int, days: list[date], routine_id: str | None = None,
                 **values: Any) -> list[int]:
    return [add_session(store, client_id, d, routine_id, **values) for d in days]


def days(first: date, count: int, step: int = 1) -> list[date]:
    """``count`` dates from ``first``, ``step`` days apart."""
    return [first + timedelta(days=i * step) for i in range(count)]
