"""Check-in links: a client follows today's routine on their phone and logs the session themselves.

A check-in link is write-only and belongs to one client. Like a share link (core/sharing/links.py)
it carries a random 256-bit token of which the database keeps only the SHA-256; it expires (by
default 14 days after the last day of the client's current programs) and staff can revoke it.
``resolve_checkin`` answers None for every token that opens nothing, so the page shows one neutral
answer for all of them.

What the token allows, and nothing more: read today's routine of its own client (the exercises,
their steps and doses), write a session log for that client through the same checks as an import
or a staff entry (core/sessions/checks.py, source ``checkin``), and, after a submission, read that
client's own days this week and pain trend. It names no client: the client is the link's.

A submission carries an idempotency key made once per page load, stored as the session id, so a
double tap or a retry after a dropped connection stores one session. A link stores at most
``DAILY_LIMIT`` submissions in 24 hours, and only for today or the ``DAYS_BACK`` days before it.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from core import clock
from core.access.auth import OWNER, STAFF_WRITERS, PermissionDenied, audit_in, require_role
from core.access.sites import allowed_sites
from core.db.store import ACCOUNTS, SESSION_LOGS, Store, next_id, utcnow
from core.practice.assignments import ACTIVE_ON_SQL, current_assignments
from core.practice.clients import require_client
from core.practice.routines import WEEKDAYS, get_version
from core.sessions import checks
from core.practice.warning_signs import pregnancy_window_sql
from core.sessions.red_flags import BY_TAG, parse_tags, signs_mentioned, tag_level, tag_notes
from core.sharing.links import TOKEN_BYTES, LinkError, base_url, token_hash

CHECKIN_SOURCE = "checkin"
GRACE_DAYS = 14          # a link outlives the program by two weeks (late entries, a short extension)
MAX_DAYS = 400           # the longest program (52 weeks) plus the grace days, rounded up
DAILY_LIMIT = 10         # submissions per link in 24 hours
DAYS_BACK = 7            # how far back a client may log a session
MAX_NOTES = 2000
SYSTEM_ACTOR = "checkin"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")       # token_urlsafe(32), as for share links
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class CheckinError(LinkError):
    """Bad check-in link input from staff (unknown client, nothing to check in to, ...)."""


def checkin_url(base: str, token: str) -> str:
    return f"{base}/?checkin={token}"


# -- staff: make, list, revoke -------------------------------------------------------------------

@dataclass(frozen=True)
class CreatedCheckin:
    """A new check-in link. ``url`` holds the token: it is shown once and cannot be recovered."""

    id: int
    client: str
    url: str
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "expires_at": self.expires_at.isoformat(timespec="seconds"),
                "client": self.client}


def default_expiry(store: Store, client_id: int, today: date) -> datetime | None:
    """The end of the day ``GRACE_DAYS`` after the last day of the client's current programs
    (running or still to come), or None when there is none."""
    last_days = [a.last_day for a in current_assignments(store, client_id, today)]
    if not last_days:
        return None
    return datetime.combine(max(last_days) + timedelta(days=GRACE_DAYS + 1), time.min)


def create_checkin(store: Store, actor: str, client_ref: str | int, *, days: int | None = None,
                   base: str | None = None, today: date | None = None, now: datetime | None = None) -> CreatedCheckin:
    """Make a check-in link for a client: valid ``days`` days, else until ``default_expiry``."""
    require_role(store, actor, STAFF_WRITERS)
    try:
        client = require_client(store, client_ref, allowed_sites(store, actor))
    except ValueError as exc:
        raise CheckinError(str(exc)) from exc
    if client.archived:
        raise CheckinError(f"{client.code} is archived: restore the client first")
    now = now or utcnow()
    if days is None:
        expires = default_expiry(store, client.id, today or clock.today())
        if expires is None:
            raise CheckinError(f"{client.code} has no current program to check in to: assign a routine first,"
                               " or give the number of days")
    elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise CheckinError(f"expiry: a whole number of days from 1 to {MAX_DAYS} (got {days!r})")
    else:
        expires = now + timedelta(days=days)
    url_base = base_url(base)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        link_id = next_id(cur, "checkin_link_id_seq")
        cur.execute(
            "INSERT INTO checkin_links (id, token_sha256, client_id, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", [link_id, token_hash(token), client.id, actor, now, expires])
        audit_in(cur, actor, "checkin_link_created", {"link_id": link_id, "client": client.code,
                                                       "expires_at": expires.isoformat(timespec="seconds")})
    return CreatedCheckin(int(link_id), client.code, checkin_url(url_base, token), expires)


CHECKIN_COLUMNS = ["id", "client", "created_by", "created_at", "expires_at", "status", "sessions",
                   "last_used_at", "revoked_by", "revoked_at"]


def list_checkins(store: Store, actor: str, client_ref: str | int | None = None,
                  now: datetime | None = None) -> pd.DataFrame:
    """Check-in links, newest first: all for owners and the CLI, a therapist's own otherwise;
    one client's when ``client_ref`` is given. status: active | expired | revoked."""
    role = require_role(store, actor, STAFF_WRITERS)
    where, params = [], {"now": now or utcnow()}
    if role == "therapist":
        where.append("l.created_by = $actor")
        params["actor"] = actor
    if client_ref is not None:
        try:
            params["client_id"] = require_client(store, client_ref, allowed_sites(store, actor)).id
        except ValueError as exc:
            raise CheckinError(str(exc)) from exc
        where.append("l.client_id = $client_id")
    return store.query(
        f"""
        WITH used AS (SELECT link_id, count(*) FILTER (status = 'accepted') AS sessions,
                             max(submitted_at) AS last_used_at
                      FROM checkin_submissions GROUP BY link_id)
        SELECT l.id, c.code AS client, l.created_by, l.created_at, l.expires_at,
               CASE WHEN l.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN l.expires_at <= $now THEN 'expired' ELSE 'active' END AS status,
               coalesce(u.sessions, 0) AS sessions, u.last_used_at, l.revoked_by, l.revoked_at
        FROM checkin_links l
        LEFT JOIN clients c ON c.id = l.client_id
        LEFT JOIN used u ON u.link_id = l.id
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY l.created_at DESC, l.id DESC
        """, params)[CHECKIN_COLUMNS]


def revoke_checkin(store: Store, actor: str, link_id: int) -> bool:
    """Revoke a check-in link now (owners: any; therapists: their own). False if already revoked."""
    role = require_role(store, actor, STAFF_WRITERS)
    found = store.rows("SELECT created_by, revoked_at FROM checkin_links WHERE id = ?", [int(link_id)])
    if not found:
        raise CheckinError(f"no check-in link with id {link_id}")
    created_by, revoked_at = found[0]
    if role not in (*OWNER, "system") and created_by != actor:
        raise PermissionDenied("therapists can revoke only the check-in links they made")
    if revoked_at is not None:
        return False
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE checkin_links SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                    [utcnow(), actor, int(link_id)])
        audit_in(cur, actor, "checkin_link_revoked", {"link_id": int(link_id)})
    return True


# -- what a token opens --------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckinLink:
    """A valid check-in link: the one client it writes for, and until when."""

    id: int
    client_id: int
    expires_at: datetime


def resolve_checkin(store: Store, token: Any, now: datetime | None = None) -> CheckinLink | None:
    """The link a token opens, or None for any token that opens nothing (one answer for all:
    malformed, unknown, expired, revoked, or for a client archived or gone)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    found = store.rows(
        """
        SELECT l.id, l.client_id, l.expires_at FROM checkin_links l JOIN clients c ON c.id = l.client_id
        WHERE l.token_sha256 = ? AND l.revoked_at IS NULL AND l.expires_at > ? AND c.archived_at IS NULL
        """, [token_hash(token), now or utcnow()])
    return CheckinLink(int(found[0][0]), int(found[0][1]), found[0][2]) if found else None


def _first(pair: list[int] | None) -> int | None:
    return int(pair[0]) if pair else None


@dataclass(frozen=True)
class CheckinExercise:
    """One exercise as the client follows it. The timer counts the low end of each range (a
    client starts there); ``dose_text`` shows the whole range."""

    name: str
    dose_text: str
    steps: tuple[str, ...]
    note: str | None
    hold_s: int | None
    reps: int | None
    breaths: int | None
    sets: int
    per_side: bool

    def timer_plan(self) -> dict[str, Any]:
        """What the browser timer runs: sets x sides x reps, each a countdown of ``seconds``
        (a hold, or the breaths at about 5 s each), or counted by taps when there is no hold."""
        seconds = self.hold_s or (self.breaths * 5 if self.breaths else None)
        return {"sets": self.sets, "sides": ["left side", "right side"] if self.per_side else [""],
                "reps": self.reps or 1, "seconds": seconds, "name": self.name}


@dataclass(frozen=True)
class CheckinRoutine:
    """A routine active today for the link's client, with its exercises in order."""

    assignment_id: int
    routine_id: str
    name: str
    schedule: str
    exercises: tuple[CheckinExercise, ...]


_NOT_PAUSED_ON = ("NOT EXISTS (SELECT 1 FROM assignment_pauses ap WHERE ap.assignment_id = a.id"
                  " AND ap.paused_from <= {d} AND (ap.paused_until IS NULL OR ap.paused_until >= {d}))")


def _active_assignments(store: Store, client_id: int, on: date) -> list[tuple[int, str, int]]:
    """The client's programs running on ``on``: a paused one is not offered while it is paused."""
    return [(int(i), r, int(v)) for i, r, v in store.rows(
        "SELECT a.id, a.routine_id, a.routine_version FROM assignments a WHERE a.client_id = ? AND "
        + ACTIVE_ON_SQL.format(d="?") + " AND " + _NOT_PAUSED_ON.format(d="?") + " ORDER BY a.start_date, a.id",
        [client_id, on, on, on, on])]


def todays_routines(store: Store, link: CheckinLink, on: date) -> list[CheckinRoutine]:
    """The routines the link's client has active on ``on``, each exercise with its steps and dose."""
    routines = []
    for assignment_id, routine_id, version in _active_assignments(store, link.client_id, on):
        routine = get_version(store, routine_id, version)
        steps = {eid: tuple(json.loads(text)) for eid, text in store.rows(
            "SELECT id, steps_json FROM exercises WHERE id IN (SELECT exercise_id FROM routine_items"
            " WHERE routine_id = ? AND version = ?)", [routine_id, version])}
        exercises = tuple(
            CheckinExercise(item["name"], item["dose_text"], steps.get(item["exercise_id"], ()), item["note"],
                            _first(item["dose"]["hold_s"]), _first(item["dose"]["reps"]),
                            _first(item["dose"]["breaths"]), _first(item["dose"]["sets"]) or 1,
                            bool(item["dose"]["per_side"]))
            for item in routine.items)
        routines.append(CheckinRoutine(assignment_id, routine_id, routine.name, routine.schedule_text, exercises))
    return routines


# -- warning signs in the notes ------------------------------------------------------------------

@dataclass(frozen=True)
class WarningAdvice:
    """What the client is told at once about warning signs in their notes, most urgent first."""

    urgent: bool
    signs: tuple[str, ...]
    message: str


# What the client is told, most urgent first: (urgent, order, message).
_CAUDA_EQUINA_ADVICE = (True, 0, "Stop exercising and get medical help today: call your doctor or an urgent care"
                                 " service now. Do not wait for your next appointment.")  # NICE CKS: same-day referral
_PREGNANCY_ADVICE = (True, 1, "Stop exercising and contact your midwife or doctor now.")  # ACOG 804
_SEEK_CARE_ADVICE = (True, 2, "Stop exercising and seek medical care.")
_THERAPIST_ADVICE = (False, 3, "Stop the exercise that brings this on and contact your therapist before your next"
                               " session.")
_FALLBACK_ADVICE = (False, 4, "Stop exercising and contact your therapist before you go on.")


def _advice_for(level: str, group: str, pregnant: bool) -> tuple[bool, int, str] | None:
    """The advice for one sign at its level for this client; None for a sign that is only noted (low)."""
    if level == "low":
        return None
    if group == "cauda_equina":
        return _CAUDA_EQUINA_ADVICE
    if group == "pregnancy" and pregnant and level in ("critical", "high"):
        return _PREGNANCY_ADVICE
    if level in ("critical", "high") and group in ("pregnancy", "serious_pathology"):
        return _SEEK_CARE_ADVICE
    return _THERAPIST_ADVICE if level == "high" else _FALLBACK_ADVICE


def in_pregnancy_care(store: Store, client_id: int, on: date) -> bool:
    """Whether the client is pregnant on ``on`` or within six weeks after (how warning signs are judged)."""
    return bool(store.scalar(f"SELECT {pregnancy_window_sql('c', '$on')} FROM clients c WHERE c.id = $client",
                             {"on": on, "client": client_id}))


def warning_advice(store: Store, notes: str | None, pregnant: bool = False) -> list[WarningAdvice]:
    """The stop-and-seek-care messages fitted to the warning signs found in ``notes`` by the same
    tagger the alerts use (core.sessions.red_flags), judged for a client who is (not) pregnant or
    within six weeks after; [] when it finds none that alerts."""
    tags = signs_mentioned(tag_notes([notes])[0]) if notes and notes.strip() else []
    grouped: dict[tuple[bool, int, str], list[str]] = {}
    for tag in tags:
        flag = BY_TAG[tag]
        advice = _advice_for(tag_level(tag, pregnant), flag.context, pregnant)
        if advice is not None:
            grouped.setdefault(advice, []).append(flag.label)
    return [WarningAdvice(urgent, tuple(signs), message)
            for (urgent, _, message), signs in sorted(grouped.items(), key=lambda kv: kv[0][1])]


# -- the submission ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckinEntry:
    """What the client filled in. ``key`` is made once per page load (``new_idempotency_key``)."""

    key: str
    session_date: date
    routine_id: str
    exercises_done: int
    exercises_prescribed: int
    pain_before: float | None = None
    pain_after: float | None = None
    stiffness: float | None = None
    notes: str | None = None


@dataclass
class CheckinOutcome:
    """status: accepted | duplicate (this page load's session is already stored) | rejected (the
    checks said no) | refused (limit, date window, routine) | invalid (the link opens nothing)."""

    status: str
    reasons: list[str] = field(default_factory=list)
    log_id: int | None = None
    red_flags: list[str] = field(default_factory=list)


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(16)


def _session_id(link: CheckinLink, key: str) -> str:
    return f"checkin-{link.id}-{key}"


def _refusal(store: Store, link: CheckinLink, entry: CheckinEntry, today: date, now: datetime) -> str | None:
    """Why a link may not store this entry before the checks run (None: it may)."""
    if entry.session_date > today:
        return "The date is in the future: choose today or an earlier day."
    if entry.session_date < today - timedelta(days=DAYS_BACK):
        return f"Sessions can be logged here for the last {DAYS_BACK} days only: tell your therapist about older ones."
    routines = {r for _, r, _ in _active_assignments(store, link.client_id, entry.session_date)}
    if entry.routine_id not in routines:
        return "This routine was not part of your program on that day."
    if entry.notes is not None and len(entry.notes) > MAX_NOTES:
        return f"The notes are longer than {MAX_NOTES} characters."
    used = store.scalar("SELECT count(*) FROM checkin_submissions WHERE link_id = ? AND submitted_at > ?",
                        [link.id, now - timedelta(days=1)])
    if used >= DAILY_LIMIT:
        return f"This link has saved {DAILY_LIMIT} sessions in the last 24 hours: try again tomorrow."
    return None


def submit_checkin(store: Store, token: Any, entry: CheckinEntry, today: date,
                   now: datetime | None = None) -> CheckinOutcome:
    """Store the client's session through the one set of checks (core.sessions.checks), for the
    client of the link ``token`` opens and no other; idempotent per ``entry.key``."""
    now = now or utcnow()
    link = resolve_checkin(store, token, now)
    if link is None:
        return CheckinOutcome("invalid")
    if not isinstance(entry.key, str) or not _KEY.match(entry.key):
        return CheckinOutcome("refused", ["This page is out of date: reload it and try again."])
    session_id = _session_id(link, entry.key)
    code = store.scalar("SELECT code FROM clients WHERE id = ?", [link.client_id])
    values = {"client": code, "session_date": entry.session_date, "routine": entry.routine_id,
              "exercises_done": entry.exercises_done, "exercises_prescribed": entry.exercises_prescribed,
              "pain_before": entry.pain_before, "pain_after": entry.pain_after, "stiffness": entry.stiffness,
              "notes": entry.notes, "session_id": session_id}
    opts = checks.CheckOptions(source=CHECKIN_SOURCE, as_of=today)
    return checks.checked_again(
        store, lambda checked_against: _submit_once(store, link, entry, values, opts, now, checked_against))


def _submit_once(store: Store, link: CheckinLink, entry: CheckinEntry, values: dict[str, Any],
                 opts: checks.CheckOptions, now: datetime, checked_against: checks.Mark) -> CheckinOutcome:
    """One try of ``submit_checkin``: this page load's session already stored is a duplicate, a
    refusal stores nothing, else the session goes through the checks in one transaction."""
    session_id = values["session_id"]
    with checks.WRITE_LOCK:
        stored = store.scalar("SELECT id FROM session_logs WHERE source = ? AND source_session_id = ?",
                              [CHECKIN_SOURCE, session_id])
        if stored is not None:
            return CheckinOutcome("duplicate", log_id=int(stored))
        refusal = _refusal(store, link, entry, opts.as_of, now)
        if refusal is not None:
            return CheckinOutcome("refused", [refusal])
        with store.transaction(touches=(SESSION_LOGS, ACCOUNTS), clients={link.client_id},
                               unchanged_since=checked_against) as cur:
            checks.stage_values(cur, [values], [1])
            checks.prepare_rows(cur)
            checks.check_rows(cur, opts)
            status, reasons, flags, client_id = cur.execute(
                "SELECT status, reasons, red_flags, client_id FROM li_out").fetchone()
            log_id = None
            if status == "accepted" and client_id == link.client_id:
                log_id = checks.insert_accepted(cur, CHECKIN_SOURCE, None, f"{SYSTEM_ACTOR}:{link.id}")
                audit_in(cur, SYSTEM_ACTOR, "checkin_session_logged", {"link_id": link.id, "log": log_id})
            elif status == "accepted":  # the client's code matched someone else first: never write for them
                status, reasons = "rejected", ["the session could not be matched to this link's client"]
            if status != "duplicate":
                cur.execute("INSERT INTO checkin_submissions (link_id, submitted_at, idempotency_key, status,"
                            " session_log_id) VALUES (?, ?, ?, ?, ?)", [link.id, now, entry.key, status, log_id])
    return CheckinOutcome(status, list(reasons or []), log_id, parse_tags(flags))


# -- what the client sees after submitting -------------------------------------------------------

@dataclass(frozen=True)
class CheckinProgress:
    """The client's own days with a session this week (Monday to Sunday), the run of consecutive
    days this week ending today, and their pain over the last sessions. No adherence verdict."""

    week: tuple[tuple[date, bool], ...]
    days_this_week: int
    streak: int
    pain: pd.DataFrame          # session_date, pain_before, pain_after (oldest first)


PAIN_SESSIONS = 12


def client_progress(store: Store, link: CheckinLink, today: date) -> CheckinProgress:
    monday = today - timedelta(days=today.weekday())
    logged = {d for (d,) in store.rows(
        "SELECT DISTINCT session_date FROM session_logs WHERE client_id = ? AND session_date BETWEEN ? AND ?",
        [link.client_id, monday, today])}
    week = tuple((monday + timedelta(days=n), monday + timedelta(days=n) in logged) for n in range(7))
    streak, day = 0, today
    while day >= monday and day in logged:
        streak, day = streak + 1, day - timedelta(days=1)
    pain = store.query(
        """
        SELECT session_date, pain_before, pain_after FROM (
            SELECT session_date, avg(pain_before) AS pain_before, avg(pain_after) AS pain_after
            FROM session_logs WHERE client_id = ? AND session_date <= ?
              AND (pain_before IS NOT NULL OR pain_after IS NOT NULL)
            GROUP BY session_date ORDER BY session_date DESC LIMIT ?)
        ORDER BY session_date
        """, [link.client_id, today, PAIN_SESSIONS])
    return CheckinProgress(week, len(logged), streak, pain)


# -- calendar reminders --------------------------------------------------------------------------

REMINDER_TIME = time(8, 0)
_ICS_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def spread_weekdays(sessions_per_week: int, first_day: date) -> list[int]:
    """Suggested weekdays (0 = Monday) for a routine done N times a week without fixed days:
    spread evenly through the week from the program's first day."""
    n = min(max(sessions_per_week, 1), 7)
    return sorted({(first_day.weekday() + round(i * 7 / n)) % 7 for i in range(n)})


def _ics_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r", "").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """RFC 5545: a line longer than 75 octets goes on in lines that start with one space."""
    parts, current, limit = [], "", 75
    for char in line:
        if len((current + char).encode("utf-8")) > limit:
            parts.append(current)
            current, limit = " ", 75
        current += char
    return [*parts, current]


def _pauses(store: Store, assignment_id: int) -> list[tuple[date, date | None]]:
    """An assignment's pauses, (first day, last day or None while it is open)."""
    return store.rows("SELECT paused_from, paused_until FROM assignment_pauses WHERE assignment_id = ?"
                      " ORDER BY paused_from", [assignment_id])


def _reminded_days(first: date, last: date, pauses: list[tuple[date, date | None]]) -> tuple[date, date]:
    """The first and last day a program's reminders may fall on: not before a pause that holds on
    ``first`` ends (never, while it is open), and not from an open pause's first day on."""
    for start, end in pauses:
        if end is None:
            last = min(last, start - timedelta(days=1))
        elif start <= first <= end:
            first = end + timedelta(days=1)
    return first, last


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def calendar_ics(store: Store, link_id: int, today: date, url: str | None = None,
                 now: datetime | None = None) -> str:
    """An iCalendar feed for a check-in link: one weekly repeating reminder per current program of
    its client, at 08:00 local time on the routine's days (its fixed weekdays, else evenly spread
    suggested days), until the program's last day. No reminder falls on a paused day (a pause still
    open ends the reminders where it starts). ``url`` (the check-in link) goes in each event."""
    found = store.rows("SELECT client_id FROM checkin_links WHERE id = ?", [int(link_id)])
    if not found:
        raise CheckinError(f"no check-in link with id {link_id}")
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Routine Desk//Check-in reminders//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "X-WR-CALNAME:My exercise routine"]
    for assignment in current_assignments(store, int(found[0][0]), today):
        routine = get_version(store, assignment.routine_id, assignment.routine_version)
        fixed = [WEEKDAYS.index(d) for d in (routine.weekdays or "").split(",") if d in WEEKDAYS]
        days = fixed or spread_weekdays(assignment.sessions_per_week // max(routine.times_per_day, 1),
                                        assignment.start_date)
        pauses = _pauses(store, assignment.id)
        first, last = _reminded_days(max(assignment.start_date, today), assignment.last_day, pauses)
        first += timedelta(days=min((d - first.weekday()) % 7 for d in days))
        if first > last:
            continue
        skipped = [day for start, end in pauses if end is not None
                   for day in _days_between(max(start, first), min(end, last)) if day.weekday() in days]
        minutes = max(5, int(round(routine.est_minutes)))
        about = f"{routine.name}: {routine.schedule_text}." + (" Suggested days; any days work." if not fixed else "")
        if url:
            about += f" Log it here: {url}"
        lines += ["BEGIN:VEVENT", f"UID:checkin-{link_id}-assignment-{assignment.id}@routine-desk",
                  f"DTSTAMP:{stamp}", f"DTSTART:{first:%Y%m%d}T{REMINDER_TIME:%H%M%S}", f"DURATION:PT{minutes}M",
                  f"RRULE:FREQ=WEEKLY;BYDAY={','.join(_ICS_DAYS[d] for d in days)};UNTIL={last:%Y%m%d}T235959",
                  *(f"EXDATE:{day:%Y%m%d}T{REMINDER_TIME:%H%M%S}" for day in skipped),
                  f"SUMMARY:{_ics_text('Exercise routine: ' + routine.name)}", f"DESCRIPTION:{_ics_text(about)}"]
        if url:
            lines.append(f"URL:{url}")
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{_ics_text(routine.name)}", "TRIGGER:PT0M",
                  "END:VALARM", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
