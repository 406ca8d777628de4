"""Assignments: a routine version given to a client with a schedule, and its safety review.

Assigning checks the safety rules for the client on a date. A block stops the assignment unless
staff give an override reason; warnings and notes go through, and every finding shown is stored in
``safety_reviews`` with who and when, so the record says what staff saw. Ending, pausing, resuming,
replacing and moving to a newer routine version never delete anything: the old row stays with its
status and dates, and each step is written to ``assignment_events``.

Because a client's state changes (she passes week 20, a flag is added), the rules are re-run for
active assignments: ``safety_changes_since_assignment`` returns what fires now that nobody has
reviewed yet; the alerts list shows it and "review safety now" records it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from core.access.auth import STAFF_WRITERS, audit_in, require_role
from core.access.sites import require_client_access
from core.practice.clients import Client, ClientError, require_client
from core.practice.pregnancy import PREGNANCY_DAYS, pregnancy_sql
from core.practice.routines import RoutineError, RoutineVersion, get_version
from core.practice.safety import RULES, Finding, blocks, check_routine, findings_sql
from core.db.store import PRACTICE, Store, WriteConflict, ids_sql, next_id, utcnow

MAX_SESSIONS_PER_WEEK = 21
MAX_WEEKS = 52

ACTIVE_ON_SQL = ("a.status = 'active' AND a.start_date <= {d}"
                 " AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= {d}")


class AssignmentError(ValueError):
    """Bad assignment input; the message is written for staff."""


class SafetyBlocked(AssignmentError):
    """A block-level finding and no override reason: nothing was written."""

    def __init__(self, findings: list[Finding]) -> None:
        reasons = "; ".join(f"{f.exercise_name or 'routine'}: {f.reason}" for f in blocks(findings))
        super().__init__(f"blocked by the safety rules (give an override reason to assign anyway): {reasons}")
        self.findings = findings


def planned_end(start: date, weeks: int) -> date:
    """The last day of a program of ``weeks`` weeks starting on ``start``."""
    return start + timedelta(days=7 * weeks - 1)


def default_check_date(start: date, today: date, weeks: int) -> date:
    """The date safety is checked for when staff do not say: today, kept inside the program
    (its start when it starts later, its last day when it is already over)."""
    return min(max(start, today), planned_end(start, weeks))


@dataclass(frozen=True)
class Assignment:
    id: int
    client_id: int
    routine_id: str
    routine_version: int
    start_date: date
    weeks: int
    sessions_per_week: int
    end_date: date | None
    status: str
    replaced_by: int | None
    assigned_by: str | None
    assigned_at: datetime

    @property
    def planned_end(self) -> date:
        return planned_end(self.start_date, self.weeks)

    @property
    def last_day(self) -> date:
        return self.end_date or self.planned_end

    def as_dict(self) -> dict[str, Any]:
        return {
            "assignment_id": self.id, "client_id": self.client_id, "routine": self.routine_id,
            "version": self.routine_version, "start_date": self.start_date.isoformat(),
            "end_date": self.last_day.isoformat(), "weeks": self.weeks,
            "sessions_per_week": self.sessions_per_week, "status": self.status,
        }


_COLUMNS = ("id, client_id, routine_id, routine_version, start_date, weeks, sessions_per_week, end_date, status,"
            " replaced_by, assigned_by, assigned_at")


def get_assignment(store: Store, assignment_id: int) -> Assignment:
    found = store.rows(f"SELECT {_COLUMNS} FROM assignments WHERE id = ?", [assignment_id])
    if not found:
        raise AssignmentError(f"unknown assignment {assignment_id}")
    return Assignment(*found[0])


def current_assignments(store: Store, client_id: int, as_of: date) -> list[Assignment]:
    """Assignments still running or still to come on ``as_of`` (what a handout covers)."""
    return [Assignment(*row) for row in store.rows(
        f"SELECT {_COLUMNS} FROM assignments a WHERE a.client_id = ? AND a.status = 'active'"
        " AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= ? ORDER BY a.start_date, a.id",
        [client_id, as_of])]


# -- preview and assign --------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    """What an assignment would be, with the findings staff must see before confirming."""

    client: Client
    routine: RoutineVersion
    start_date: date
    weeks: int
    sessions_per_week: int
    check_on: date
    findings: list[Finding]
    ahead: list[tuple[date, Finding]] = field(default_factory=list)
    end_date: date | None = None

    @property
    def last_day(self) -> date:
        return self.end_date or planned_end(self.start_date, self.weeks)

    @property
    def blocked(self) -> bool:
        return bool(blocks(self.findings))


def _thresholds(client: Client, after: date, until: date) -> list[date]:
    """Days in (after, until] on which a week-based rule can start or stop firing for this client."""
    if client.due_date is None:
        return []
    start = client.due_date - timedelta(days=PREGNANCY_DAYS)
    weeks = {w for r in RULES for w in (r.min_week, r.max_week) if w is not None}
    days = {start + timedelta(days=7 * w) for w in weeks}
    pregnancy = client.pregnancy(after)
    if pregnancy is not None:
        days.add(pregnancy.ends_on)
    return sorted(d for d in days if after < d <= until)


def findings_ahead(store: Store, client: Client, routine_id: str, version: int, check_on: date,
                   last_day: date, now: list[Finding]) -> list[tuple[date, Finding]]:
    """Findings that will start to fire during the program (e.g. week 20 mid-program), by date."""
    seen = {f.key() for f in now}
    ahead = []
    for day in _thresholds(client, check_on, last_day):
        for finding in check_routine(store, client.id, routine_id, version, day, suggest=False):
            if finding.key() not in seen:
                seen.add(finding.key())
                ahead.append((day, finding))
    return ahead


def preview_assignment(store: Store, client_ref: str | int, routine_id: str, start: date, on: date,
                       version: int | None = None, sessions_per_week: int | None = None,
                       weeks: int | None = None) -> Preview:
    """Validate an assignment and run the safety rules for it on ``on``; writes nothing."""
    try:
        client = require_client(store, client_ref)
        routine = get_version(store, routine_id, version)
    except (ClientError, RoutineError) as exc:
        raise AssignmentError(str(exc)) from exc
    if client.archived:
        raise AssignmentError(f"{client.code} is archived: restore the client before assigning")
    weeks = routine.weeks if weeks is None else weeks
    sessions = routine.sessions_per_week if sessions_per_week is None else sessions_per_week
    if not 1 <= sessions <= MAX_SESSIONS_PER_WEEK:
        raise AssignmentError(f"sessions per week must be 1–{MAX_SESSIONS_PER_WEEK}, not {sessions}")
    if not 1 <= weeks <= MAX_WEEKS:
        raise AssignmentError(f"weeks must be 1–{MAX_WEEKS}, not {weeks}")
    last_day = planned_end(start, weeks)
    if on > last_day:
        raise AssignmentError(
            f"the safety check date {on.isoformat()} is after the program's last day {last_day.isoformat()}")
    findings = check_routine(store, client.id, routine.routine_id, routine.version, on)
    ahead = findings_ahead(store, client, routine.routine_id, routine.version, on, last_day, findings)
    return Preview(client, routine, start, weeks, sessions, on, findings, ahead)


@dataclass(frozen=True)
class AssignResult:
    assignment: Assignment
    findings: list[Finding]
    ahead: list[tuple[date, Finding]]
    replaced: Assignment | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.assignment.as_dict() | {
            "findings": [f.as_dict() for f in self.findings],
            "upcoming": [f.as_dict() | {"from": day.isoformat()} for day, f in self.ahead],
            "replaced": self.replaced.id if self.replaced else None,
        }


def _require_override(findings: list[Finding], override_reason: str | None) -> str | None:
    reason = (override_reason or "").strip() or None
    if blocks(findings) and reason is None:
        raise SafetyBlocked(findings)
    return reason


def _check_no_twin(store: Store, preview: Preview, except_id: int | None = None) -> None:
    """One client, one routine: two overlapping active assignments of it would double-count."""
    twin = store.scalar(
        "SELECT min(a.id) FROM assignments a WHERE a.client_id = ? AND a.routine_id = ? AND a.status = 'active'"
        " AND a.id IS DISTINCT FROM ? AND a.start_date <= ?"
        " AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= ?",
        [preview.client.id, preview.routine.routine_id, except_id, preview.last_day, preview.start_date])
    if twin is not None:
        raise AssignmentError(
            f"{preview.client.code} already has '{preview.routine.name}' during these dates (assignment {twin});"
            " end or replace it instead")


def _event(cur: Any, assignment_id: int, event: str, effective: date | None, actor: str,
           note: str | None = None) -> None:
    """The assignment's own history, and the practice's audit log (who, what, when)."""
    cur.execute(
        "INSERT INTO assignment_events (assignment_id, event, effective_date, note, actor, event_at)"
        " VALUES (?, ?, ?, ?, ?, ?)", [assignment_id, event, effective, note, actor, utcnow()])
    audit_in(cur, actor, f"assignment_{event}", {
        "assignment_id": assignment_id, "date": effective.isoformat() if effective else None, "note": note})


def _record_reviews(cur: Any, assignment_id: int, client_id: int, routine_id: str, version: int,
                    findings: list[Finding], actor: str, override_reason: str | None) -> None:
    if not findings:
        return
    overridden = [f.rule_id for f in findings if f.level == "block"]
    if overridden and override_reason:
        audit_in(cur, actor, "safety_override",
                 {"assignment_id": assignment_id, "rules": overridden, "reason": override_reason})
    now = utcnow()
    cur.executemany(
        "INSERT INTO safety_reviews (assignment_id, client_id, routine_id, routine_version, rule_id, exercise_id,"
        " level, reason, override_reason, reviewed_by, reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[assignment_id, client_id, routine_id, version, f.rule_id, f.exercise_id, f.level, f.reason,
          override_reason if f.level == "block" else None, actor, now] for f in findings])


def _insert(cur: Any, preview: Preview, actor: str, override_reason: str | None) -> int:
    assignment_id = next_id(cur, "assignment_id_seq")
    cur.execute(
        "INSERT INTO assignments (id, client_id, routine_id, routine_version, start_date, weeks, sessions_per_week,"
        " end_date, status, replaced_by, assigned_by, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)",
        [assignment_id, preview.client.id, preview.routine.routine_id, preview.routine.version, preview.start_date,
         preview.weeks, preview.sessions_per_week, preview.end_date, actor, utcnow()])
    _record_reviews(cur, assignment_id, preview.client.id, preview.routine.routine_id, preview.routine.version,
                    preview.findings, actor, override_reason)
    _event(cur, assignment_id, "assigned", preview.check_on, actor, override_reason)
    return assignment_id


def assign(store: Store, client_ref: str | int, routine_id: str, start: date, actor: str, on: date,
           version: int | None = None, sessions_per_week: int | None = None, weeks: int | None = None,
           override_reason: str | None = None) -> AssignResult:
    """Assign a routine version to a client, checking safety on ``on``.

    Raises SafetyBlocked (writing nothing) on a block without an override reason; otherwise
    stores the assignment and one safety review per finding, all in one transaction.
    """
    require_role(store, actor, STAFF_WRITERS)
    preview = preview_assignment(store, client_ref, routine_id, start, on, version, sessions_per_week, weeks)
    require_client_access(store, actor, preview.client.id)
    reason = _require_override(preview.findings, override_reason)
    _check_no_twin(store, preview)
    with store.transaction(clients=(preview.client.id,)) as cur:
        assignment_id = _insert(cur, preview, actor, reason)
    return AssignResult(get_assignment(store, assignment_id), preview.findings, preview.ahead)


# -- changing an assignment ----------------------------------------------------------------------

def _active(store: Store, assignment_id: int, actor: str) -> Assignment:
    """The active assignment ``actor`` may change (its client in one of the actor's sites)."""
    current = get_assignment(store, assignment_id)
    require_client_access(store, actor, current.client_id)
    if current.status != "active":
        raise AssignmentError(f"assignment {assignment_id} is {current.status}, not active")
    return current


def _open_pause(store: Store, assignment_id: int) -> date | None:
    return store.scalar(
        "SELECT paused_from FROM assignment_pauses WHERE assignment_id = ? AND paused_until IS NULL", [assignment_id])


def _close_pause_by(cur: Any, assignment_id: int, last_day: date) -> None:
    """An open pause ends with the assignment; a pause that would start after it is dropped."""
    cur.execute("DELETE FROM assignment_pauses WHERE assignment_id = ? AND paused_from > ?", [assignment_id, last_day])
    cur.execute("UPDATE assignment_pauses SET paused_until = ? WHERE assignment_id = ? AND paused_until IS NULL",
                [last_day, assignment_id])


def end_assignment(store: Store, assignment_id: int, last_day: date, actor: str, note: str | None = None) -> Assignment:
    """End early: ``last_day`` is the last day of the program (inclusive)."""
    require_role(store, actor, STAFF_WRITERS)
    current = _active(store, assignment_id, actor)
    if last_day < current.start_date:
        raise AssignmentError(
            f"the last day {last_day.isoformat()} is before the start {current.start_date.isoformat()}")
    if last_day > current.planned_end:
        raise AssignmentError(
            f"the last day {last_day.isoformat()} is after the planned end {current.planned_end.isoformat()}")
    with store.transaction(clients=(current.client_id,)) as cur:
        cur.execute("UPDATE assignments SET status = 'ended', end_date = ? WHERE id = ?", [last_day, assignment_id])
        _close_pause_by(cur, assignment_id, last_day)
        _event(cur, assignment_id, "ended", last_day, actor, note)
    return get_assignment(store, assignment_id)


def pause_assignment(store: Store, assignment_id: int, from_day: date, actor: str, note: str | None = None) -> None:
    """Pause from ``from_day`` until staff resume it; paused days expect no sessions."""
    require_role(store, actor, STAFF_WRITERS)
    current = _active(store, assignment_id, actor)
    if not current.start_date <= from_day <= current.last_day:
        raise AssignmentError(
            f"a pause must start inside the program ({current.start_date.isoformat()} to"
            f" {current.last_day.isoformat()}), not on {from_day.isoformat()}")
    if _open_pause(store, assignment_id) is not None:
        raise AssignmentError(f"assignment {assignment_id} is already paused")
    overlap = store.scalar(
        "SELECT max(paused_until) FROM assignment_pauses WHERE assignment_id = ? AND paused_until >= ?",
        [assignment_id, from_day])
    if overlap is not None:
        raise AssignmentError(f"an earlier pause runs until {overlap.isoformat()}; start after it")
    with store.transaction(clients=(current.client_id,)) as cur:
        cur.execute("INSERT INTO assignment_pauses (assignment_id, paused_from, paused_until) VALUES (?, ?, NULL)",
                    [assignment_id, from_day])
        _event(cur, assignment_id, "paused", from_day, actor, note)


def resume_assignment(store: Store, assignment_id: int, on: date, actor: str, note: str | None = None) -> None:
    """Resume on ``on`` (the first day with sessions again); resuming on the pause's first day undoes it."""
    require_role(store, actor, STAFF_WRITERS)
    current = _active(store, assignment_id, actor)
    paused_from = _open_pause(store, assignment_id)
    if paused_from is None:
        raise AssignmentError(f"assignment {assignment_id} is not paused")
    if on < paused_from:
        raise AssignmentError(f"cannot resume on {on.isoformat()}, before the pause began on {paused_from.isoformat()}")
    with store.transaction(clients=(current.client_id,)) as cur:
        if on == paused_from:
            cur.execute("DELETE FROM assignment_pauses WHERE assignment_id = ? AND paused_from = ?",
                        [assignment_id, paused_from])
        else:
            cur.execute("UPDATE assignment_pauses SET paused_until = ? WHERE assignment_id = ? AND paused_from = ?",
                        [on - timedelta(days=1), assignment_id, paused_from])
        _event(cur, assignment_id, "resumed", on, actor, note)


def _replace_with(store: Store, old: Assignment, preview: Preview, actor: str, override_reason: str | None,
                  event_note: str) -> AssignResult:
    require_role(store, actor, STAFF_WRITERS)
    if preview.start_date < old.start_date:
        raise AssignmentError(
            f"the new start {preview.start_date.isoformat()} is before the current start {old.start_date.isoformat()}")
    reason = _require_override(preview.findings, override_reason)
    _check_no_twin(store, preview, except_id=old.id)
    old_last = min(old.last_day, preview.start_date - timedelta(days=1))
    with store.transaction(clients=(old.client_id, preview.client.id)) as cur:
        new_id = _insert(cur, preview, actor, reason)
        cur.execute("UPDATE assignments SET status = 'replaced', end_date = ?, replaced_by = ? WHERE id = ?",
                    [old_last, new_id, old.id])
        _close_pause_by(cur, old.id, old_last)
        _event(cur, old.id, "replaced", old_last, actor, f"{event_note} by assignment {new_id}")
    return AssignResult(get_assignment(store, new_id), preview.findings, preview.ahead, get_assignment(store, old.id))


def replace_assignment(store: Store, assignment_id: int, routine_id: str, start: date, actor: str, on: date,
                       version: int | None = None, sessions_per_week: int | None = None, weeks: int | None = None,
                       override_reason: str | None = None) -> AssignResult:
    """End an assignment the day before ``start`` and assign another routine from ``start``."""
    old = _active(store, assignment_id, actor)
    preview = preview_assignment(store, old.client_id, routine_id, start, on, version, sessions_per_week, weeks)
    return _replace_with(store, old, preview, actor, override_reason, "replaced")


def move_to_latest_version(store: Store, assignment_id: int, on: date, actor: str,
                           override_reason: str | None = None) -> AssignResult:
    """Move an assignment onto its routine's current version from ``on``, keeping its last day."""
    old = _active(store, assignment_id, actor)
    latest = get_version(store, old.routine_id)
    if latest.version == old.routine_version:
        raise AssignmentError(f"assignment {assignment_id} already uses the latest version ({latest.version})")
    start = max(on, old.start_date)
    if start > old.last_day:
        raise AssignmentError(f"the program ended on {old.last_day.isoformat()}: assign it again instead")
    weeks = math.ceil(((old.last_day - start).days + 1) / 7)
    preview = preview_assignment(store, old.client_id, old.routine_id, start, start, latest.version,
                                 old.sessions_per_week, weeks)
    if planned_end(start, weeks) > old.last_day:
        preview = Preview(preview.client, preview.routine, start, weeks, preview.sessions_per_week, start,
                          preview.findings, [a for a in preview.ahead if a[0] <= old.last_day], old.last_day)
    return _replace_with(store, old, preview, actor, override_reason, f"moved to version {latest.version}")


# -- safety after assignment ---------------------------------------------------------------------

def _active_subjects_sql(client_ids: tuple[int, ...] | None = None,
                         assignment_ids: Iterable[int] | None = None) -> str:
    """Active assignments on the date bound to ``?`` (three times), with their last safety check;
    only those of ``client_ids``, or only ``assignment_ids``, when given. The last check is grouped
    from the events of those assignments only (a correlated subquery would group the events of
    every assignment ever made)."""
    only = ""
    if client_ids is not None:
        only += f" AND a.client_id IN ({ids_sql(client_ids)})"
    if assignment_ids is not None:
        only += f" AND a.id IN ({ids_sql(assignment_ids)})"
    return (
        "WITH act AS (SELECT a.id, a.client_id, a.start_date"
        " FROM assignments a JOIN clients c ON c.id = a.client_id"
        " WHERE c.archived_at IS NULL AND " + ACTIVE_ON_SQL.format(d="CAST(? AS DATE)") + only + "),"
        " checks AS (SELECT ev.assignment_id, max(ev.effective_date) AS checked FROM assignment_events ev"
        "   WHERE ev.event IN ('assigned', 'safety_reviewed') AND ev.assignment_id IN (SELECT id FROM act)"
        "   GROUP BY ev.assignment_id)"
        " SELECT act.id AS subject_id, act.client_id, CAST(? AS DATE) AS on_date,"
        " coalesce(checks.checked, act.start_date) AS checked_on"
        " FROM act LEFT JOIN checks ON checks.assignment_id = act.id"
    )


_ASSIGNMENT_ITEMS_SQL = (
    "SELECT s.subject_id, i.position AS item_no, i.exercise_id, i.slot"
    " FROM subjects s JOIN assignments a ON a.id = s.subject_id"
    " JOIN routine_items i ON i.routine_id = a.routine_id AND i.version = a.routine_version"
)

# The first day after the day bound to ``?`` on which a client's findings may change with no write:
# a pregnancy week begins or the pregnancy ends (core/practice/pregnancy.py), or a care provider's
# clearance dated ahead takes effect. Other changes are writes, which raise the
# safety generation the kept rows were computed at (_CURRENT_GENERATIONS).
_NEXT_CHANGE_SQL = (
    "coalesce(least(" + pregnancy_sql("c", "CAST(? AS DATE)")["next_change"] + ","
    " CASE WHEN c.care_provider_cleared_on > CAST(? AS DATE) THEN c.care_provider_cleared_on END),"
    " DATE '9999-12-31')"
)


def safety_changes_since_assignment(store: Store, as_of: date,
                                    client_ids: int | Iterable[int] | None = None) -> pd.DataFrame:
    """Findings on ``as_of`` for active assignments that staff have not reviewed yet.

    One row per finding: client_id, assignment_id, rule_id, exercise_id, level, reason, since
    (the day it began to apply, never before the assignment's last safety check). The alerts
    (issue 5) show these; "review safety now" on the client page clears them. ``client_ids`` (one
    id or several) limits the rows to those clients.

    The findings are read from the kept rows (migration 012): the rules run only for assignments
    whose kept findings do not cover ``as_of`` (new, changed by a write, or past the day a
    pregnancy week or clearance changes them), and what they find is kept for the next reader.
    """
    if client_ids is not None:
        client_ids = (int(client_ids),) if isinstance(client_ids, int) else tuple(sorted({int(c) for c in client_ids}))
    subjects = _active_subjects_sql(client_ids)
    unchecked = [a for (a,) in store.rows(
        f"SELECT s.subject_id FROM ({subjects}) s WHERE NOT EXISTS (SELECT 1 FROM assignment_safety_checks k"
        " WHERE k.assignment_id = s.subject_id AND CAST(? AS DATE) >= k.valid_from AND CAST(? AS DATE) < k.valid_until"
        f" AND {_CURRENT_GENERATIONS})",
        [as_of] * 5)]
    if unchecked and not _keep_findings(store, as_of, unchecked):
        return _live_findings(store, as_of, subjects)
    return store.query(
        f"""
        WITH subjects AS ({subjects})
        SELECT f.client_id, f.assignment_id, f.rule_id, f.exercise_id, f.level, f.reason,
               least(f.began, CAST(? AS DATE)) AS since
        FROM subjects s
        JOIN assignment_safety_checks k ON k.assignment_id = s.subject_id
             AND CAST(? AS DATE) >= k.valid_from AND CAST(? AS DATE) < k.valid_until
        JOIN assignment_safety_findings f ON f.assignment_id = s.subject_id
        WHERE NOT EXISTS (SELECT 1 FROM safety_reviews r WHERE r.assignment_id = f.assignment_id
                          AND r.rule_id = f.rule_id AND r.exercise_id IS NOT DISTINCT FROM f.exercise_id
                          AND r.level = f.level)
        ORDER BY f.client_id, f.assignment_id, CASE f.level WHEN 'block' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END,
                 f.rule_id, f.exercise_id
        """,
        [as_of] * 6)


# A kept check is current while its client's safety generations are those it was computed at: every
# write that may change findings raises them (core/db/figures.raise_generations), also one that lands
# while a reader keeps rows.
_CURRENT_GENERATIONS = (
    "k.generation = coalesce((SELECT g.safety_generation FROM figure_generations g WHERE g.client_id = k.client_id), 0)"
    " AND k.practice_generation = (SELECT g.safety_generation FROM figure_generations g WHERE g.client_id = 0)"
)


def _keep_findings(store: Store, on: date, assignment_ids: list[int]) -> bool:
    """Run the rules on ``on`` for these active assignments and keep what they find, with the days it
    holds. False when another reader was keeping the same rows at that moment (a write conflict)."""
    subjects = _active_subjects_sql(assignment_ids=assignment_ids)
    found = findings_sql(subjects, _ASSIGNMENT_ITEMS_SQL)
    chosen = f"assignment_id IN ({ids_sql(assignment_ids)})"
    try:
        # changes no figure, and no data a page shows: the version stays
        with store.transaction(touches=(PRACTICE,), clients=(), changes_data=False) as cur:
            store.delete_where(cur, "assignment_safety_checks", chosen)
            store.delete_where(cur, "assignment_safety_findings", chosen)
            cur.execute(
                "INSERT INTO assignment_safety_findings"
                f" SELECT f.subject_id, f.client_id, f.rule_id, f.exercise_id, f.level, f.reason, f.began FROM ({found}) f",
                [on, on, on])
            # the generations of the data this transaction reads (a write raises them in its own)
            checks = ("INSERT INTO assignment_safety_checks"
                      f" SELECT s.subject_id, s.client_id, CAST(? AS DATE), {_NEXT_CHANGE_SQL},"
                      " coalesce(g.safety_generation, 0), (SELECT safety_generation FROM figure_generations WHERE client_id = 0)"
                      f" FROM ({subjects}) s JOIN clients c ON c.id = s.client_id"
                      " LEFT JOIN figure_generations g ON g.client_id = s.client_id")
            cur.execute(checks, [on] * checks.count("?"))
    except WriteConflict:
        return False
    return True


def _live_findings(store: Store, as_of: date, subjects: str) -> pd.DataFrame:
    """What safety_changes_since_assignment returns, computed from the rules without kept rows."""
    return store.query(
        "SELECT f.client_id, f.subject_id AS assignment_id, f.rule_id, f.exercise_id, f.level, f.reason, f.since"
        f" FROM ({findings_sql(subjects, _ASSIGNMENT_ITEMS_SQL)}) f"
        " WHERE NOT EXISTS (SELECT 1 FROM safety_reviews r WHERE r.assignment_id = f.subject_id"
        " AND r.rule_id = f.rule_id AND r.exercise_id IS NOT DISTINCT FROM f.exercise_id AND r.level = f.level)"
        " ORDER BY f.client_id, f.subject_id, CASE f.level WHEN 'block' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END,"
        " f.rule_id, f.exercise_id",
        [as_of] * 3)


def unreviewed_findings(store: Store, assignment_id: int, on: date) -> list[Finding]:
    """Findings for an assignment on ``on`` that are not in its safety record yet (with substitutes)."""
    current = get_assignment(store, assignment_id)
    findings = check_routine(store, current.client_id, current.routine_id, current.routine_version, on)
    seen = {(rule, exercise, level) for rule, exercise, level in store.rows(
        "SELECT rule_id, exercise_id, level FROM safety_reviews WHERE assignment_id = ?", [assignment_id])}
    return [f for f in findings if f.key() not in seen]


def review_assignment_safety(store: Store, assignment_id: int, on: date, actor: str,
                             override_reason: str | None = None) -> list[Finding]:
    """Re-run the rules for an assignment on ``on`` and record what staff have now seen.

    New blocks need an override reason (else SafetyBlocked, nothing written). Returns the findings
    that were new and are now recorded.
    """
    require_role(store, actor, STAFF_WRITERS)
    current = _active(store, assignment_id, actor)
    new = unreviewed_findings(store, assignment_id, on)
    reason = _require_override(new, override_reason)
    with store.transaction(clients=(current.client_id,)) as cur:
        _record_reviews(cur, assignment_id, current.client_id, current.routine_id, current.routine_version,
                        new, actor, reason)
        _event(cur, assignment_id, "safety_reviewed", on, actor, reason)
    return new


def review_unreviewed_assignments(store: Store, actor: str, note: str) -> int:
    """Record the findings on its start date for every assignment never checked (bulk-loaded data,
    such as the demo practice), set-based. Blocks get ``note`` as their override reason.

    Returns the number of assignments reviewed.
    """
    require_role(store, actor, STAFF_WRITERS)
    unchecked = ("NOT EXISTS (SELECT 1 FROM assignment_events ev WHERE ev.assignment_id = a.id"
                 " AND ev.event IN ('assigned', 'safety_reviewed'))")
    subjects = ("SELECT a.id AS subject_id, a.client_id, a.start_date AS on_date, a.start_date AS checked_on"
                f" FROM assignments a WHERE {unchecked}")
    items = _ASSIGNMENT_ITEMS_SQL
    now = utcnow()
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO safety_reviews (assignment_id, client_id, routine_id, routine_version, rule_id, exercise_id,"
            " level, reason, override_reason, reviewed_by, reviewed_at)"
            " SELECT f.subject_id, f.client_id, a.routine_id, a.routine_version, f.rule_id, f.exercise_id, f.level,"
            " f.reason, CASE WHEN f.level = 'block' THEN CAST(? AS VARCHAR) END, CAST(? AS VARCHAR), CAST(? AS TIMESTAMP)"
            f" FROM ({findings_sql(subjects, items)}) f JOIN assignments a ON a.id = f.subject_id",
            [note, actor, now])
        count = cur.execute(
            "INSERT INTO assignment_events (assignment_id, event, effective_date, note, actor, event_at)"
            f" SELECT a.id, 'safety_reviewed', a.start_date, ?, ?, ? FROM assignments a WHERE {unchecked}",
            [note, actor, now]).fetchone()[0]
        audit_in(cur, actor, "assignments_safety_reviewed", {"assignments": int(count), "note": note})
    return int(count)


# -- history for the client page -----------------------------------------------------------------

def list_assignments(store: Store, client_id: int, as_of: date) -> list[dict[str, Any]]:
    """A client's assignments, newest first, with their state on ``as_of``.

    state: upcoming | active | paused | finished | ended | replaced. ``newer_version`` says the
    routine has moved on since it was assigned.
    """
    return store.records(
        """
        WITH p AS (SELECT CAST(? AS DATE) AS d)
        SELECT a.id, a.routine_id, r.name AS routine, a.routine_version AS version,
               r.current_version > a.routine_version AS newer_version,
               a.start_date, coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) AS last_day,
               a.sessions_per_week, a.weeks,
               CASE WHEN a.status IN ('replaced', 'ended') THEN a.status
                    WHEN p.d < a.start_date THEN 'upcoming'
                    WHEN p.d > coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) THEN 'finished'
                    WHEN EXISTS (SELECT 1 FROM assignment_pauses ap WHERE ap.assignment_id = a.id
                                 AND ap.paused_from <= p.d AND (ap.paused_until IS NULL OR ap.paused_until >= p.d))
                        THEN 'paused'
                    ELSE 'active' END AS state,
               (SELECT min(ap.paused_from) FROM assignment_pauses ap
                 WHERE ap.assignment_id = a.id AND ap.paused_until IS NULL) AS open_pause_from,
               (SELECT count(*) FROM safety_reviews sr WHERE sr.assignment_id = a.id AND sr.level = 'block') AS blocks,
               (SELECT count(*) FROM safety_reviews sr WHERE sr.assignment_id = a.id AND sr.level = 'warn') AS warnings,
               a.assigned_by, a.assigned_at, a.replaced_by, a.status
        FROM assignments a JOIN routines r ON r.id = a.routine_id, p
        WHERE a.client_id = ?
        ORDER BY a.start_date DESC, a.id DESC
        """, [as_of, client_id])


def assignment_reviews(store: Store, assignment_id: int) -> pd.DataFrame:
    """The safety findings recorded for an assignment: what staff saw or overrode, who, when."""
    return store.query(
        """
        SELECT sr.reviewed_at, sr.level, coalesce(e.name, '(whole routine)') AS exercise, sr.reason,
               sr.override_reason, sr.reviewed_by, sr.rule_id
        FROM safety_reviews sr LEFT JOIN exercises e ON e.id = sr.exercise_id
        WHERE sr.assignment_id = ?
        ORDER BY sr.reviewed_at, CASE sr.level WHEN 'block' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, sr.id
        """, [assignment_id])


# Assignment events and states as staff read them; the tables keep the codes.
EVENT_LABELS = {"assigned": "Assigned", "paused": "Paused", "resumed": "Resumed", "ended": "Ended",
                "replaced": "Replaced", "safety_reviewed": "Safety reviewed"}


def assignment_history(store: Store, assignment_id: int) -> pd.DataFrame:
    """Every change to an assignment: assigned, paused, resumed, ended, replaced, reviewed."""
    return store.query(
        "SELECT event_at, event, effective_date, note, actor FROM assignment_events WHERE assignment_id = ?"
        " ORDER BY event_at, id", [assignment_id])
