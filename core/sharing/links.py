"""Read-only share links: a dashboard for a client, a referring doctor or a clinic owner.

A link shows exactly one scope — the practice overview, one client, or one segment — until it
expires (default 7 days, at most 90) or is revoked. The link carries a random 256-bit token
(``secrets.token_urlsafe(32)``); the database keeps only its SHA-256, so a copy of the database does
not hand out working links, and the link is shown to its maker once.

``resolve`` answers None for every token that does not open a dashboard — malformed, unknown,
expired, revoked, or pointing at a client that no longer exists — so the page cannot tell (and so
cannot show) the difference.

A client link is pinned to the client's id when it is made: changing client codes later cannot
make an old link show someone else. Therapists make client and segment links and manage their own;
a practice-wide link and everyone's links are the owner's.

A link carries the sites its readers may see (core/access/sites.py): those its maker asked for, cut
to the maker's own sites — a therapist's segment link shows only their sites' clients — and a
client link is made only for a client of the maker's sites.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from core.access.auth import OWNER, STAFF_WRITERS, PermissionDenied, audit_in, require_role
from core.access.sites import allowed_sites, known_sites, within_sites
from core.db.store import ACCOUNTS, Store, next_id, utcnow

SCOPE_KINDS: tuple[str, ...] = ("practice", "client", "segment")
DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_LABEL = 120
BASE_URL_ENV = "ROUTINE_DESK_BASE_URL"
FALLBACK_BASE_URL = "http://127.0.0.1:8501"
TOKEN_BYTES = 32

# token_urlsafe(32): 32 random bytes in unpadded base64url, always 43 characters.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LinkError(ValueError):
    """Bad link input (unknown client or segment, expiry out of range, ...); written for staff."""


@dataclass(frozen=True)
class ShareScope:
    """What a link shows: ``practice``, ``client:CODE`` or ``segment:NAME``."""

    kind: str
    value: str | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


def parse_scope(text: Any) -> ShareScope:
    if isinstance(text, ShareScope):
        return text
    raw = str(text or "").strip()
    kind, _, value = raw.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if kind == "practice" and not value:
        return ShareScope("practice")
    if kind in ("client", "segment") and value:
        return ShareScope(kind, value)
    raise LinkError(f"scope: use practice, client:CODE or segment:NAME (got '{raw}')")


SCOPE_KIND_LABELS = {"practice": "Whole practice", "client": "Client", "segment": "Segment"}


def scope_label(scope: ShareScope | str, segment_labels: dict[str, str] | None = None) -> str:
    """What a link shows, as staff read it: "Client C00031", "Segment: Desk worker", "Whole practice"."""
    try:
        parsed = parse_scope(scope)
    except LinkError:
        return str(scope)
    if parsed.kind == "segment":
        return f"Segment: {(segment_labels or {}).get(parsed.value, parsed.value)}"
    if parsed.kind == "client":
        return f"Client {parsed.value}"
    return SCOPE_KIND_LABELS["practice"]


def client_names_in(store: Store, text: str | None) -> list[str]:
    """Clients' names (whole names or a first or last name of 3+ letters) that ``text`` contains as
    words, e.g. a link label "Midwife Sarah (Nico's care team)": a de-identified link must not carry one."""
    words = {w.casefold() for w in re.findall(r"[^\W\d_]+", text or "")}
    if not words:
        return []
    found = []
    for (name,) in store.rows("SELECT display_name FROM clients WHERE display_name IS NOT NULL ORDER BY display_name"):
        parts = [w.casefold() for w in re.findall(r"[^\W\d_]+", name)]
        if any(len(part) >= 3 and part in words for part in parts):
            found.append(name)
    return found


def base_url(configured: str | None = None) -> str:
    """Where links point: ``ROUTINE_DESK_BASE_URL``, else the value the page layer read from
    secrets or the server settings, else the local default. Must be http(s) with a host."""
    for candidate in (os.environ.get(BASE_URL_ENV), configured):
        if candidate and str(candidate).strip():
            return _check_base_url(str(candidate).strip())
    return FALLBACK_BASE_URL


def _check_base_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise LinkError(f"base URL: use http(s)://host[:port][/path] without query or fragment (got '{text}')")
    return text.rstrip("/")


def link_url(base: str, token: str) -> str:
    return f"{base}/?share={token}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise LinkError(f"expiry: a whole number of days from 1 to {MAX_DAYS} (got {days!r})")
    return days


def _client_by_code(store: Store, code: str, sites: tuple[str, ...] | None) -> tuple[int, str] | None:
    """The client's id and code; a client outside ``sites`` (None: any) is not found."""
    found = store.rows("SELECT id, code, site FROM clients WHERE lower(code) = lower(?)", [code])
    if not found or (sites is not None and found[0][2] not in sites):
        return None
    return int(found[0][0]), found[0][1]


@dataclass(frozen=True)
class CreatedLink:
    """A new link. ``url`` holds the token: show it once, it cannot be recovered later."""

    id: int
    url: str
    scope: str
    label: str | None
    deidentify: bool
    expires_at: datetime
    sites: tuple[str, ...] | None = None   # the sites its readers see; None: every site of its scope

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "expires_at": self.expires_at.isoformat(timespec="seconds"),
                "scope": self.scope, "label": self.label, "deidentify": self.deidentify,
                "sites": None if self.sites is None else list(self.sites)}


def _link_sites(store: Store, actor: str, asked: Any) -> tuple[str, ...] | None:
    """The sites a new link shows: those asked (None: all) cut to the maker's own."""
    asked_sites = known_sites(store, asked) or None if asked else None
    allowed = allowed_sites(store, actor)
    sites = within_sites(asked_sites, allowed)
    if sites is not None and not sites:
        raise PermissionDenied("a link can show only the sites you work at"
                               + (f" ({', '.join(allowed)})" if allowed else ": your account has none yet"))
    return sites


def create_link(store: Store, actor: str, scope: ShareScope | str, *, days: int = DEFAULT_DAYS,
                label: str | None = None, deidentify: bool = False, base: str | None = None,
                now: datetime | None = None, sites: Any = None) -> CreatedLink:
    """Make a read-only link for ``scope`` (owners: any scope; therapists: client or segment),
    showing the clients of ``sites`` (codes; None: every site) that its maker may see."""
    from core.practice.clients import SEGMENTS

    role = require_role(store, actor, STAFF_WRITERS)
    scope = parse_scope(scope)
    if scope.kind == "practice" and role not in (*OWNER, "system"):
        raise PermissionDenied("a practice-wide link can only be made by an owner")
    _check_days(days)
    try:
        link_sites = _link_sites(store, actor, sites)
    except ValueError as exc:
        raise LinkError(str(exc)) from exc
    client_id = None
    if scope.kind == "client":
        found = _client_by_code(store, scope.value, link_sites)
        if found is None:
            raise LinkError(f"scope: no client with code '{scope.value}'")
        client_id, code = found
        scope = ShareScope("client", code)
    elif scope.kind == "segment" and scope.value not in SEGMENTS:
        raise LinkError(f"scope: unknown segment '{scope.value}'; use one of {', '.join(SEGMENTS)}")
    label = (label or "").strip()[:MAX_LABEL] or None
    url_base = base_url(base)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = now or utcnow()
    expires = now + timedelta(days=days)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        link_id = next_id(cur, "share_link_id_seq")
        cur.execute(
            "INSERT INTO share_links (id, token_sha256, scope_kind, scope_value, client_id, label, deidentify,"
            " created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [link_id, token_hash(token), scope.kind, scope.value, client_id, label, bool(deidentify), actor, now,
             expires],
        )
        if link_sites is not None:
            cur.execute("UPDATE share_links SET sites = ? WHERE id = ?", [",".join(link_sites), link_id])
        audit_in(cur, actor, "share_link_created", {"link_id": link_id, "scope": str(scope), "days": days,
                                                     "deidentify": bool(deidentify), "label": label,
                                                     "sites": None if link_sites is None else list(link_sites)})
    return CreatedLink(int(link_id), link_url(url_base, token), str(scope), label, bool(deidentify), expires,
                       link_sites)


@dataclass(frozen=True)
class SharedLink:
    """What a valid token opens. ``client_id`` is set for a client link, ``segment`` for a segment."""

    id: int
    kind: str
    client_id: int | None
    client_code: str | None
    segment: str | None
    label: str | None
    deidentify: bool
    expires_at: datetime
    sites: tuple[str, ...] | None = None   # only these sites' clients; None: every site

    @property
    def scope(self) -> ShareScope:
        value = self.client_code if self.kind == "client" else self.segment
        return ShareScope(self.kind, value)


def resolve(store: Store, token: Any, now: datetime | None = None) -> SharedLink | None:
    """The link a token opens, or None for any token that opens nothing (one answer for all)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    found = store.rows(
        """
        SELECT l.id, l.scope_kind, l.client_id, c.code, l.scope_value, l.label, l.deidentify, l.expires_at,
               l.sites
        FROM share_links l LEFT JOIN clients c ON c.id = l.client_id
        WHERE l.token_sha256 = ? AND l.revoked_at IS NULL AND l.expires_at > ?
        """, [token_hash(token), now or utcnow()])
    if not found:
        return None
    link_id, kind, client_id, code, value, label, deidentify, expires, sites = found[0]
    if kind not in SCOPE_KINDS or (kind == "client" and code is None):
        return None
    return SharedLink(int(link_id), kind, client_id if kind == "client" else None, code if kind == "client" else None,
                      value if kind == "segment" else None, label, bool(deidentify), expires,
                      None if sites is None else tuple(s for s in sites.split(",") if s))


def record_open(store: Store, link_id: int, now: datetime | None = None) -> None:
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("INSERT INTO share_link_opens (link_id, opened_at) VALUES (?, ?)", [link_id, now or utcnow()])


def open_link(store: Store, token: Any, now: datetime | None = None) -> SharedLink | None:
    """Resolve a token and record the open when it is valid."""
    link = resolve(store, token, now)
    if link is not None:
        record_open(store, link.id, now)
    return link


LINK_COLUMNS = ["id", "scope", "label", "deidentify", "created_by", "created_at", "expires_at", "status",
                "last_opened_at", "opens", "revoked_by", "revoked_at", "sites"]


def list_links(store: Store, actor: str, now: datetime | None = None) -> pd.DataFrame:
    """Links with their use: all of them for owners and the CLI, a therapist's own otherwise.
    status: active | expired | revoked. Newest first."""
    role = require_role(store, actor, STAFF_WRITERS)
    mine = role == "therapist"
    return store.query(
        f"""
        WITH opens AS (SELECT link_id, count(*) AS opens, max(opened_at) AS last_opened_at
                       FROM share_link_opens GROUP BY link_id)
        SELECT l.id,
               CASE WHEN l.scope_kind = 'practice' THEN 'practice'
                    WHEN l.scope_kind = 'client' THEN 'client:' || coalesce(c.code, l.scope_value)
                    ELSE l.scope_kind || ':' || l.scope_value END AS scope,
               l.label, l.deidentify, l.created_by, l.created_at, l.expires_at,
               CASE WHEN l.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN l.expires_at <= $now THEN 'expired' ELSE 'active' END AS status,
               o.last_opened_at, coalesce(o.opens, 0) AS opens, l.revoked_by, l.revoked_at, l.sites
        FROM share_links l
        LEFT JOIN clients c ON c.id = l.client_id
        LEFT JOIN opens o ON o.link_id = l.id
        {"WHERE l.created_by = $actor" if mine else ""}
        ORDER BY l.created_at DESC, l.id DESC
        """, {"now": now or utcnow(), **({"actor": actor} if mine else {})})[LINK_COLUMNS]


def revoke(store: Store, actor: str, link_id: int) -> bool:
    """Revoke a link now (owners: any link; therapists: their own). False if it was already revoked."""
    role = require_role(store, actor, STAFF_WRITERS)
    found = store.rows("SELECT created_by, revoked_at FROM share_links WHERE id = ?", [int(link_id)])
    if not found:
        raise LinkError(f"no link with id {link_id}")
    created_by, revoked_at = found[0]
    if role == "therapist" and created_by != actor:
        raise PermissionDenied("therapists can revoke only the links they made")
    if revoked_at is not None:
        return False
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE share_links SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                    [utcnow(), actor, int(link_id)])
        audit_in(cur, actor, "share_link_revoked", {"link_id": int(link_id)})
    return True
