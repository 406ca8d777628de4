"""Sites of a chain (clinics, studios), and which of them a staff member may see.

A client belongs to one site; a staff account works at any number of them. Owners (and the system
actors ``cli`` and ``demo``) see every site; therapists and viewers see the clients of their own
sites only. ``allowed_sites`` is the one rule: pages, reports and share links apply it on top of
whatever their filters ask (``within_sites``), and every lookup or write of one client checks it
(``require_client_access``), so no widget or URL can reach past it.

A site is a vocabulary like segments: its code (lower-case, stable) goes into URLs, CSV and the
CLI; its name is what people read. Every practice has the site ``main`` from the migration that
added sites, so a practice that never thinks about sites has exactly one and sees no site filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.access.auth import (OWNER, SYSTEM_ACTORS, PermissionDenied, audit_in, get_user, normalize_username,
                              require_role)
from core.db.store import ACCOUNTS, Store, utcnow

DEFAULT_SITE = "main"
MAX_NAME = 80
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class SiteError(ValueError):
    """An unknown site or a bad site code or name; the message is written for staff."""


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "created_at": self.created_at}


# -- the vocabulary -----------------------------------------------------------------------------

def list_sites(store: Store) -> list[Site]:
    """Every site, oldest first (the default site ``main`` leads)."""
    return [Site(*row) for row in store.rows("SELECT code, name, created_at FROM sites ORDER BY created_at, code")]


def site_labels(store: Store) -> dict[str, str]:
    """Site code -> name, as people read it."""
    return {site.code: site.name for site in list_sites(store)}


def offered_sites(labels: dict[str, str], allowed: tuple[str, ...] | None) -> list[str]:
    """The site codes a filter offers a member who may see ``allowed`` (``allowed_sites``; None:
    every site), in the sites' order: the one list every page and filter shows them."""
    return [code for code in labels if allowed is None or code in allowed]


def validate_site_code(text: Any) -> str:
    code = str(text or "").strip().lower()
    if not _CODE.match(code):
        raise SiteError(f"site code '{text}': use 1–40 lower-case letters, digits, '-' or '_',"
                        " starting with a letter or digit")
    return code


def _site_name(name: Any) -> str:
    text = " ".join(str(name or "").split())
    if not text or len(text) > MAX_NAME:
        raise SiteError(f"site name: 1–{MAX_NAME} characters")
    return text


def known_sites(store: Store, codes: Iterable[str]) -> tuple[str, ...]:
    """``codes`` (a list, or items that are comma lists) as known site codes, sorted; an unknown
    one is a SiteError that names the known ones."""
    asked = {str(c).strip().lower() for item in codes for c in str(item).split(",") if str(c).strip()}
    labels = site_labels(store)
    unknown = sorted(asked - set(labels))
    if unknown:
        raise SiteError(f"unknown site {', '.join(repr(u) for u in unknown)}; sites: {', '.join(labels)}")
    return tuple(sorted(asked))


def add_site(store: Store, actor: str, code: str, name: str) -> Site:
    """A new site (owners and system actors)."""
    require_role(store, actor, OWNER)
    code, name = validate_site_code(code), _site_name(name)
    if code in site_labels(store):
        raise SiteError(f"site '{code}' already exists")
    now = utcnow()
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("INSERT INTO sites (code, name, created_at) VALUES (?, ?, ?)", [code, name, now])
        audit_in(cur, actor, "site_added", {"site": code, "name": name})
    return Site(code, name, now)


def rename_site(store: Store, actor: str, code: str, name: str) -> Site:
    """A site's name as people read it; its code stays (links and files keep it)."""
    require_role(store, actor, OWNER)
    code, name = known_sites(store, [code])[0], _site_name(name)
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("UPDATE sites SET name = ? WHERE code = ?", [name, code])
        audit_in(cur, actor, "site_renamed", {"site": code, "name": name})
    return next(s for s in list_sites(store) if s.code == code)


# -- who sees which sites -----------------------------------------------------------------------

def member_sites(store: Store, username: str) -> tuple[str, ...]:
    """The sites listed for an account (for an owner they change nothing: owners see all)."""
    return tuple(s for (s,) in store.rows(
        "SELECT s.site FROM staff_sites s JOIN users u ON u.id = s.user_id WHERE u.username = ? ORDER BY s.site",
        [normalize_username(username)]))


def allowed_sites(store: Store, actor: Any) -> tuple[str, ...] | None:
    """The sites whose clients ``actor`` (a username, or anything with a ``username``, such as a
    StaffSession) may see: None for every site (owners, system actors), else their own sites —
    possibly none. The role is read from the account now, so a change applies at once."""
    username = getattr(actor, "username", actor)
    if username in SYSTEM_ACTORS:
        return None
    user = get_user(store, username) if isinstance(username, str) and username else None
    if user is None or not user.active:
        return ()
    if user.role in OWNER:
        return None
    return member_sites(store, user.username)


def within_sites(asked: tuple[str, ...] | None, allowed: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The sites a view shows: what its filter asks (None: every site) cut to what is allowed."""
    if allowed is None:
        return asked
    if asked is None:
        return tuple(sorted(allowed))
    return tuple(sorted(set(asked) & set(allowed)))


def set_member_sites(store: Store, actor: str, username: str, sites: Iterable[str]) -> tuple[str, ...]:
    """Replace the sites an account works at (owners and system actors); returns them."""
    require_role(store, actor, OWNER)
    codes = known_sites(store, sites)
    user = get_user(store, username)
    if user is None:
        raise SiteError(f"no account '{normalize_username(username)}'")
    before = member_sites(store, user.username)
    if before == codes:
        return codes
    with store.transaction(touches=(ACCOUNTS,)) as cur:
        cur.execute("DELETE FROM staff_sites WHERE user_id = ?", [user.id])
        for code in codes:
            cur.execute("INSERT INTO staff_sites (user_id, site) VALUES (?, ?)", [user.id, code])
        audit_in(cur, actor, "user_sites_changed", {"username": user.username, "from": list(before), "to": list(codes)})
    return codes


def client_site(store: Store, client_id: int) -> str | None:
    return store.scalar("SELECT site FROM clients WHERE id = ?", [int(client_id)])


def may_see_client(store: Store, actor: Any, client_id: int) -> bool:
    """Whether ``actor`` may see this client (a client that does not exist: False)."""
    allowed = allowed_sites(store, actor)
    if allowed is None:
        return True
    return client_site(store, client_id) in allowed


def require_client_access(store: Store, actor: Any, client_id: int) -> None:
    """Refuse (PermissionDenied) a lookup or write of a client outside ``actor``'s sites."""
    if not may_see_client(store, actor, client_id):
        raise PermissionDenied("this client belongs to a site you do not work at")


def site_for_new_client(store: Store, actor: Any, site: str | None) -> str:
    """The site a new client joins: the one asked (it must be one of the actor's), else the
    actor's only site, else the default site; a member with several sites must choose."""
    allowed = allowed_sites(store, actor)
    if site is not None and str(site).strip():
        code = known_sites(store, [site])[0]
        if allowed is not None and code not in allowed:
            raise PermissionDenied(f"you do not work at site '{code}'")
        return code
    if allowed is None:
        return DEFAULT_SITE
    if len(allowed) == 1:
        return allowed[0]
    raise SiteError("site: choose one of " + ", ".join(allowed) if allowed
                    else "site: your account has no site yet; ask the practice owner")


def move_client(cur: Any, client_id: int, site: str) -> None:
    """Put a client in a site, inside the caller's transaction (which touches the practice)."""
    cur.execute("UPDATE clients SET site = ? WHERE id = ?", [site, int(client_id)])

