"""Clients: who they are, their segments and health flags, archive and history.

Archiving hides a client from lists and new assignments but deletes nothing: assignments, session
logs and safety reviews stay attached. Every change is written to ``client_events`` with who and
when; the safety rules read the ``flag_added`` events to date findings that appeared after an
assignment.

Pregnancy is stored as a due date; core.practice.pregnancy reads where it stands on a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core import clock
from core.access.auth import STAFF_WRITERS, require_role
from core.access.sites import move_client, require_client_access, site_for_new_client
from core.library.search import _escape_like
from core.db.store import Store, next_id, utcnow
from core.practice.safety import HEALTH_FLAGS
from core.practice.warning_signs import judge_session_logs_sql, vocabulary
from core.practice.pregnancy import (PREGNANCY_DAYS, PregnancyStatus, due_date_from_gestation, pregnancy_sql,
                                     pregnancy_status)

Segment = Literal["pregnant", "runner", "desk_worker", "other"]
SEGMENTS: tuple[str, ...] = ("pregnant", "runner", "desk_worker", "other")
SEGMENT_LABELS = {"pregnant": "Pregnant", "runner": "Runner", "desk_worker": "Desk worker", "other": "Other"}
STATUSES = ("active", "archived", "all")

MAX_DUE_AHEAD_DAYS = 42 * 7   # a due date further away than 42 weeks is a typo

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GENERATED_CODE = re.compile(r"^C(\d+)$")


class ClientError(ValueError):
    """Bad client input or an unknown client; the message is written for staff."""


def validation_message(error: ValidationError) -> str:
    """A pydantic error as one line staff can act on: "field: what is wrong; ..."."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"] if p != "__root__")
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# -- the client record ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Client:
    id: int
    code: str
    display_name: str
    email: str | None
    therapist: str | None
    due_date: date | None
    pregnancy_ended_on: date | None
    postpartum: bool
    conditions: str | None
    notes: str | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    segments: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    care_provider_cleared_on: date | None = None   # the day her care provider cleared her to exercise
    site: str | None = None                         # the code of her site (core/access/sites.py)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def pregnancy(self, on: date) -> PregnancyStatus | None:
        return pregnancy_status(self.due_date, self.pregnancy_ended_on, self.postpartum, on)

    def as_dict(self, on: date | None = None) -> dict[str, Any]:
        """The JSON shape used by the CLI; ``on`` adds the gestational week on that date."""
        status = self.pregnancy(on) if on else None
        return {
            "id": self.id,
            "code": self.code,
            "display_name": self.display_name,
            "email": self.email,
            "therapist": self.therapist,
            "segments": list(self.segments),
            "flags": list(self.flags),
            "conditions": self.conditions,
            "notes": self.notes,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "pregnancy_ended_on": self.pregnancy_ended_on.isoformat() if self.pregnancy_ended_on else None,
            "postpartum": self.postpartum,
            "care_provider_cleared_on": (self.care_provider_cleared_on.isoformat()
                                         if self.care_provider_cleared_on else None),
            "gestational_week": status.week if status and status.pregnant else None,
            "archived": self.archived,
            "site": self.site,
        }


class ClientInput(BaseModel):
    """What staff fill in for a client. Pregnancy comes as a due date, or as weeks (+days) on a date."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(default=None, description="left empty: the next free C00000 number")
    display_name: str = Field(min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=200)
    therapist: str | None = Field(default=None, max_length=80)
    segments: list[Segment] = []
    flags: list[str] = []
    conditions: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)
    due_date: date | None = None
    gestation_weeks: int | None = Field(default=None, ge=0, le=42)
    gestation_days: int = Field(default=0, ge=0, le=6)
    gestation_on: date | None = None
    pregnancy_ended_on: date | None = None
    care_provider_cleared_on: date | None = None
    site: str | None = Field(default=None, max_length=40, description="left empty: the member's only site")

    @field_validator("code", "email", "therapist", "conditions", "notes", "site", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str | None) -> str | None:
        if value is not None and not _CODE.match(value):
            raise ValueError("use 1–40 letters, digits, '-', '_' or '.', starting with a letter or digit")
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"'{value}' is not an email address")
        return value

    @field_validator("segments", "flags")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @field_validator("flags")
    @classmethod
    def _known_flags(cls, values: list[str]) -> list[str]:

        unknown = [v for v in values if v not in HEALTH_FLAGS]
        if unknown:
            raise ValueError(f"unknown health flag(s) {', '.join(unknown)}; known: {', '.join(HEALTH_FLAGS)}")
        return values

    @model_validator(mode="after")
    def _one_pregnancy_form(self) -> ClientInput:
        if self.gestation_weeks is not None and self.due_date is not None:
            raise ValueError("give either the due date or the weeks of pregnancy on a date, not both")
        if self.gestation_weeks is not None and self.gestation_on is None:
            raise ValueError("weeks of pregnancy need the date they were measured on")
        return self

    def resolved_due_date(self) -> date | None:
        if self.gestation_weeks is not None:
            return due_date_from_gestation(self.gestation_weeks, self.gestation_on, self.gestation_days)
        return self.due_date


@dataclass(frozen=True)
class _Checked:
    """Validated input with the due date resolved and the segments completed."""

    data: ClientInput
    due_date: date | None
    segments: tuple[str, ...]
    flags: tuple[str, ...] = field(default=())


def _check_pregnancy_date(what: str, day: date | None, due: date | None, as_of: date) -> None:
    """A date that belongs to a pregnancy (its end, the care provider's clearance) needs the due date
    and must fall between the start of that pregnancy and today."""
    if day is None:
        return
    if due is None:
        raise ClientError(f"{what} needs a due date (it belongs to a pregnancy)")
    if day > as_of:
        raise ClientError(f"{what} {day.isoformat()} is in the future")
    if day < due - timedelta(days=PREGNANCY_DAYS):
        raise ClientError(f"{what} {day.isoformat()} is before the pregnancy began")


def _check(data: ClientInput | dict[str, Any], as_of: date) -> _Checked:
    if not isinstance(data, ClientInput):
        try:
            data = ClientInput.model_validate(data)
        except ValidationError as exc:
            raise ClientError(validation_message(exc)) from exc
    due = data.resolved_due_date()
    if due is not None and (due - as_of).days > MAX_DUE_AHEAD_DAYS:
        raise ClientError(
            f"due date {due.isoformat()} is more than 42 weeks after {as_of.isoformat()}: check the date")
    _check_pregnancy_date("the pregnancy end date", data.pregnancy_ended_on, due, as_of)
    _check_pregnancy_date("the clearance date", data.care_provider_cleared_on, due, as_of)
    segments = list(data.segments)
    if due is not None and "pregnant" not in segments:
        segments.insert(0, "pregnant")
    return _Checked(data, due, tuple(segments), tuple(data.flags))


# -- reads ---------------------------------------------------------------------------------------

_CLIENT_COLUMNS = ("id, code, display_name, email, therapist, due_date, pregnancy_ended_on, postpartum,"
                   " conditions, notes, archived_at, created_at, updated_at, care_provider_cleared_on, site")


def _client_from_row(store: Store, row: tuple) -> Client:
    client_id = row[0]
    segments = tuple(s for (s,) in store.rows(
        "SELECT segment FROM client_segments WHERE client_id = ? ORDER BY segment", [client_id]))
    flags = tuple(f for (f,) in store.rows(
        "SELECT flag FROM client_flags WHERE client_id = ? ORDER BY flag", [client_id]))
    return Client(*row[:7], bool(row[7]), *row[8:13], segments=segments, flags=flags,
                  care_provider_cleared_on=row[13], site=row[14])


def get_client(store: Store, client_id: int) -> Client | None:
    found = store.rows(f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE id = ?", [client_id])
    return _client_from_row(store, found[0]) if found else None


def find_client(store: Store, ref: str | int, sites: tuple[str, ...] | None = None) -> Client | None:
    """A client by code (ignoring case and outer spaces) or by numeric id; with ``sites`` (what
    core.access.sites.allowed_sites gives a member), a client of another site is not found."""
    text = str(ref).strip()
    found = store.rows(f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE lower(code) = lower(?)", [text])
    if not found and text.isdigit():
        found = store.rows(f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE id = ?", [int(text)])
    if found and sites is not None and found[0][14] not in sites:
        return None
    return _client_from_row(store, found[0]) if found else None


def require_client(store: Store, ref: str | int, sites: tuple[str, ...] | None = None) -> Client:
    client = find_client(store, ref, sites)
    if client is None:
        raise ClientError(f"unknown client '{ref}'")
    return client


@dataclass(frozen=True)
class ClientFilter:
    """The Clients page's search box and filters; empty means any."""

    text: str = ""
    segments: tuple[str, ...] = ()
    therapists: tuple[str, ...] = ()
    status: str = "active"
    sites: tuple[str, ...] | None = None   # None: every site; else only these (none: no client)


def list_clients(store: Store, flt: ClientFilter = ClientFilter(), as_of: date | None = None) -> pd.DataFrame:
    """Clients matching the filter, by code, with their pregnancy week and current routines on as_of.

    Text matches code, name or email. Within segments or therapists any picked value matches.
    """
    preg = pregnancy_sql("c", "p.as_of")
    where, params = ["TRUE"], []
    if flt.status == "active":
        where.append("c.archived_at IS NULL")
    elif flt.status == "archived":
        where.append("c.archived_at IS NOT NULL")
    if flt.text.strip():
        where.append("(c.code ILIKE ? ESCAPE '\\' OR c.display_name ILIKE ? ESCAPE '\\'"
                     " OR coalesce(c.email, '') ILIKE ? ESCAPE '\\')")
        pattern = "%" + _escape_like(flt.text.strip()) + "%"
        params += [pattern] * 3
    if flt.segments:
        where.append(f"EXISTS (SELECT 1 FROM client_segments s WHERE s.client_id = c.id"
                     f" AND s.segment IN ({', '.join('?' * len(flt.segments))}))")
        params += list(flt.segments)
    if flt.therapists:
        where.append(f"c.therapist IN ({', '.join('?' * len(flt.therapists))})")
        params += list(flt.therapists)
    if flt.sites is not None:
        where.append(f"c.site IN ({', '.join('?' * len(flt.sites))})" if flt.sites else "FALSE")
        params += list(flt.sites)
    sql = f"""
        WITH p AS (SELECT CAST(? AS DATE) AS as_of),
        current AS (
            SELECT a.client_id, string_agg(r.name, '; ' ORDER BY a.start_date) AS routines
            FROM assignments a JOIN routines r ON r.id = a.routine_id, p
            WHERE a.status = 'active' AND a.start_date <= p.as_of
              AND coalesce(a.end_date, a.start_date + 7 * a.weeks - 1) >= p.as_of
            GROUP BY a.client_id
        )
        SELECT c.id, c.code, c.display_name AS name, c.therapist,
               coalesce((SELECT string_agg(s.segment, ', ' ORDER BY s.segment) FROM client_segments s
                         WHERE s.client_id = c.id), '') AS segments,
               coalesce((SELECT string_agg(f.flag, ', ' ORDER BY f.flag) FROM client_flags f
                         WHERE f.client_id = c.id), '') AS flags,
               {preg['week']} AS pregnancy_week,
               c.due_date,
               coalesce(cur.routines, '') AS current_routines,
               CASE WHEN c.archived_at IS NULL THEN 'active' ELSE 'archived' END AS status,
               c.email, c.site
        FROM clients c CROSS JOIN p LEFT JOIN current cur ON cur.client_id = c.id
        WHERE {' AND '.join(where)}
        ORDER BY c.code
    """
    return store.query(sql, [as_of or clock.today(), *params])


def therapist_names(store: Store) -> list[str]:
    return [t for (t,) in store.rows(
        "SELECT DISTINCT therapist FROM clients WHERE therapist IS NOT NULL ORDER BY therapist")]


def next_client_code(store: Store) -> str:
    """The next C00000-style code after the highest one in use (the demo practice uses them too)."""
    highest = 0
    for (code,) in store.rows("SELECT code FROM clients WHERE code LIKE 'C%'"):
        match = _GENERATED_CODE.match(code)
        if match:
            highest = max(highest, int(match[1]))
    return f"C{highest + 1:05d}"


# -- writes --------------------------------------------------------------------------------------

def _code_taken(store: Store, code: str, except_id: int | None = None) -> bool:
    return store.scalar(
        "SELECT count(*) FROM clients WHERE lower(code) = lower(?) AND id IS DISTINCT FROM ?",
        [code, except_id]) > 0


def record_client_event(cur: Any, client_id: int, event: str, actor: str, detail: str | None = None) -> None:
    cur.execute("INSERT INTO client_events (client_id, event, detail, actor, event_at) VALUES (?, ?, ?, ?, ?)",
                [client_id, event, detail, actor, utcnow()])


def _write_sets(cur: Any, client_id: int, segments: tuple[str, ...], flags: tuple[str, ...], actor: str) -> None:
    """Bring segments and flags in line, touching only what changed, with an event per flag."""
    old_segments = {s for (s,) in cur.execute(
        "SELECT segment FROM client_segments WHERE client_id = ?", [client_id]).fetchall()}
    for segment in old_segments - set(segments):
        cur.execute("DELETE FROM client_segments WHERE client_id = ? AND segment = ?", [client_id, segment])
    for segment in [s for s in segments if s not in old_segments]:
        cur.execute("INSERT INTO client_segments (client_id, segment) VALUES (?, ?)", [client_id, segment])
    old_flags = {f for (f,) in cur.execute(
        "SELECT flag FROM client_flags WHERE client_id = ?", [client_id]).fetchall()}
    for flag in sorted(old_flags - set(flags)):
        cur.execute("DELETE FROM client_flags WHERE client_id = ? AND flag = ?", [client_id, flag])
        record_client_event(cur, client_id, "flag_removed", actor, flag)
    for flag in [f for f in flags if f not in old_flags]:
        cur.execute("INSERT INTO client_flags (client_id, flag) VALUES (?, ?)", [client_id, flag])
        record_client_event(cur, client_id, "flag_added", actor, flag)


def create_client(store: Store, data: ClientInput | dict[str, Any], actor: str, as_of: date | None = None) -> Client:
    """Register a client; the code is generated when left empty. Nothing is written on bad input."""
    require_role(store, actor, STAFF_WRITERS)
    checked = _check(data, as_of or clock.today())
    d = checked.data
    site = _site(store, actor, d.site)
    code = d.code or next_client_code(store)
    if _code_taken(store, code):
        raise ClientError(f"client code '{code}' is already used")
    now = utcnow()
    created: set[int] = set()
    with store.transaction(clients=created) as cur:
        client_id = next_id(cur, "client_id_seq")
        cur.execute(
            "INSERT INTO clients (id, code, display_name, email, therapist, due_date, pregnancy_ended_on, postpartum,"
            " conditions, notes, archived_at, created_at, updated_at, care_provider_cleared_on)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            [client_id, code, d.display_name, d.email, d.therapist, checked.due_date, d.pregnancy_ended_on,
             "postpartum" in checked.flags, d.conditions, d.notes, now, now, d.care_provider_cleared_on],
        )
        created.add(client_id)
        move_client(cur, client_id, site)
        record_client_event(cur, client_id, "created", actor)
        _write_sets(cur, client_id, checked.segments, checked.flags, actor)
    return get_client(store, client_id)


_EDITABLE = ("code", "display_name", "email", "therapist", "due_date", "pregnancy_ended_on", "postpartum",
             "conditions", "notes", "segments", "flags", "care_provider_cleared_on", "site")


def _site(store: Store, actor: str, site: str | None) -> str:
    """The site a new or moved client goes to (core.access.sites.site_for_new_client), or why not."""
    try:
        return site_for_new_client(store, actor, site)
    except ValueError as exc:
        raise ClientError(str(exc)) from exc


def update_client(store: Store, client_id: int, data: ClientInput | dict[str, Any], actor: str,
                  as_of: date | None = None) -> Client:
    """Replace a client's details with ``data``; records which fields changed."""
    require_role(store, actor, STAFF_WRITERS)
    before = get_client(store, client_id)
    if before is None:
        raise ClientError(f"unknown client id {client_id}")
    require_client_access(store, actor, client_id)
    checked = _check(data, as_of or clock.today())
    d = checked.data
    site = before.site if d.site is None or d.site == before.site else _site(store, actor, d.site)
    code = d.code or before.code
    if _code_taken(store, code, except_id=client_id):
        raise ClientError(f"client code '{code}' is already used")
    after = {
        "code": code, "display_name": d.display_name, "email": d.email, "therapist": d.therapist,
        "due_date": checked.due_date, "pregnancy_ended_on": d.pregnancy_ended_on,
        "postpartum": "postpartum" in checked.flags, "conditions": d.conditions, "notes": d.notes,
        "segments": tuple(sorted(checked.segments)), "flags": tuple(sorted(checked.flags)),
        "care_provider_cleared_on": d.care_provider_cleared_on, "site": site,
    }
    old = {name: getattr(before, name) for name in _EDITABLE}
    old["segments"], old["flags"] = tuple(sorted(before.segments)), tuple(sorted(before.flags))
    changed = [name for name in _EDITABLE if old[name] != after[name]]
    if not changed:
        return before
    with store.transaction(clients=(client_id,)) as cur:
        cur.execute(
            "UPDATE clients SET code = ?, display_name = ?, email = ?, therapist = ?, due_date = ?,"
            " pregnancy_ended_on = ?, postpartum = ?, conditions = ?, notes = ?, updated_at = ?,"
            " care_provider_cleared_on = ? WHERE id = ?",
            [code, d.display_name, d.email, d.therapist, checked.due_date, d.pregnancy_ended_on,
             after["postpartum"], d.conditions, d.notes, utcnow(), d.care_provider_cleared_on, client_id],
        )
        if site != before.site:
            move_client(cur, client_id, site)
        record_client_event(cur, client_id, "updated", actor, ",".join(changed))
        _write_sets(cur, client_id, checked.segments, checked.flags, actor)
        if set(changed) & {"due_date", "pregnancy_ended_on", "postpartum"}:
            # warning signs in her notes are judged for her pregnancy on each session's date
            cur.execute(judge_session_logs_sql("s.client_id = ?", vocabulary()), [client_id])
    return get_client(store, client_id)


def client_input(client: Client) -> dict[str, Any]:
    """A client's current details as ClientInput fields, to prefill the edit form or patch one field."""
    return {
        "code": client.code, "display_name": client.display_name, "email": client.email,
        "therapist": client.therapist, "segments": list(client.segments), "flags": list(client.flags),
        "conditions": client.conditions, "notes": client.notes, "due_date": client.due_date,
        "pregnancy_ended_on": client.pregnancy_ended_on, "care_provider_cleared_on": client.care_provider_cleared_on,
        "site": client.site,
    }


def mark_pregnancy_ended(store: Store, client_id: int, ended_on: date, actor: str, postpartum: bool = True,
                         as_of: date | None = None) -> Client:
    """Record the day a pregnancy ended (birth or loss); optionally flag the client postpartum."""
    require_role(store, actor, STAFF_WRITERS)
    client = get_client(store, client_id)
    if client is None:
        raise ClientError(f"unknown client id {client_id}")
    require_client_access(store, actor, client_id)
    if client.due_date is None:
        raise ClientError(f"{client.code} has no due date: there is no pregnancy to end")
    fields = client_input(client) | {"pregnancy_ended_on": ended_on}
    if postpartum and "postpartum" not in fields["flags"]:
        fields["flags"] = [*fields["flags"], "postpartum"]
    updated = update_client(store, client_id, fields, actor, as_of)
    with store.transaction(clients=(client_id,)) as cur:
        record_client_event(cur, client_id, "pregnancy_ended", actor, ended_on.isoformat())
    return updated


def _set_archived(store: Store, client_id: int, archived: bool, actor: str) -> Client:
    require_role(store, actor, STAFF_WRITERS)
    client = get_client(store, client_id)
    if client is None:
        raise ClientError(f"unknown client id {client_id}")
    require_client_access(store, actor, client_id)
    if client.archived == archived:
        return client
    with store.transaction(clients=(client_id,)) as cur:
        cur.execute("UPDATE clients SET archived_at = ?, updated_at = ? WHERE id = ?",
                    [utcnow() if archived else None, utcnow(), client_id])
        record_client_event(cur, client_id, "archived" if archived else "restored", actor)
    return get_client(store, client_id)


def archive_client(store: Store, client_id: int, actor: str) -> Client:
    """Hide a client from lists and new assignments; their history stays."""
    return _set_archived(store, client_id, True, actor)


def restore_client(store: Store, client_id: int, actor: str) -> Client:
    return _set_archived(store, client_id, False, actor)
