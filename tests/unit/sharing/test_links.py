"""Read-only share links, attacked: forged, tampered, stale and widened tokens must open nothing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from core.access import auth
from core.sharing import links
from core.access.auth import PermissionDenied
from core.practice.clients import create_client, update_client
from core.sharing.links import LinkError
from core.db.store import Store, utcnow

BASE = "https://desk.example.org"


@pytest.fixture(scope="module")
def module_store(blank_store: Callable[[str], Store]) -> Iterator[Store]:
    """Staff (owner ana, therapists ben and cara, viewer vic) and two clients, made once."""
    with blank_store("links") as s:
        auth.create_first_owner(s, "ana", "owner-password-long")
        for name, role in [("ben", "therapist"), ("cara", "therapist"), ("vic", "viewer")]:
            auth.create_user(s, "ana", name, role, f"{name}-password-long")
        create_client(s, {"code": "C1", "display_name": "Amira Berg", "segments": ["runner"]}, "cli")
        create_client(s, {"code": "C2", "display_name": "Dev Costa", "segments": ["desk_worker"]}, "cli")
        yield s


@pytest.fixture
def store(module_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv(links.BASE_URL_ENV, raising=False)
    with module_store.transaction() as cur:
        for table in ("share_links", "share_link_opens", "audit_log"):
            cur.execute(f"DELETE FROM {table}")
    return module_store


def token_of(link: links.CreatedLink) -> str:
    prefix = f"{BASE}/?share="
    assert link.url.startswith(prefix)
    return link.url[len(prefix):]


def make(store: Store, scope: str = "client:C1", actor: str = "ana", **kw) -> tuple[links.CreatedLink, str]:
    link = links.create_link(store, actor, scope, base=BASE, **kw)
    return link, token_of(link)


# -- the token ----------------------------------------------------------------------------------

def test_the_token_is_256_random_bits_and_only_its_sha256_is_stored(store: Store) -> None:
    link, token = make(store)
    assert len(token) == 43 and len(base64.urlsafe_b64decode(token + "=")) == 32
    assert store.scalar("SELECT token_sha256 FROM share_links") == hashlib.sha256(token.encode()).hexdigest()
    everything = "\n".join(store.query(f"SELECT * FROM {t}").astype(str).to_csv()
                           for t in ("share_links", "share_link_opens", "audit_log"))
    assert token not in everything
    assert make(store)[1] != token  # a new token every time


def test_a_valid_token_opens_its_scope(store: Store) -> None:
    link, token = make(store, label="Dr Okafor", deidentify=True)
    found = links.resolve(store, token)
    assert (found.id, found.kind, found.client_code, found.label, found.deidentify) == (
        link.id, "client", "C1", "Dr Okafor", True)
    assert found.client_id == store.scalar("SELECT id FROM clients WHERE code = 'C1'")
    assert str(found.scope) == "client:C1"


def _tampered(token: str) -> list[str]:
    flip = "A" if token[10] != "A" else "B"
    return [
        token[:10] + flip + token[11:],      # one character changed
        token[:-1],                           # truncated
        token[:20],                           # truncated a lot
        token + "A",                          # extended
        token.upper() if token.upper() != token else token.lower(),
        " " + token,                          # padded
        token + "%00",
        hashlib.sha256(token.encode()).hexdigest(),  # the stored value itself
        secrets.token_urlsafe(32),            # a random, well-formed token
        "",
        "' OR '1'='1",
        "x' UNION SELECT token_sha256 FROM share_links --",
        "../" * 15,
        "A" * 43,
    ]


def test_tampered_truncated_random_and_injected_tokens_open_nothing(store: Store) -> None:
    _, token = make(store)
    for bad in _tampered(token):
        assert links.resolve(store, bad) is None, bad
    for odd in (None, 42, b"bytes", [token], {"share": token}):
        assert links.resolve(store, odd) is None
    assert links.resolve(store, token) is not None  # the real one still works


def test_an_expired_link_opens_nothing(store: Store) -> None:
    t0 = utcnow()
    _, token = make(store, days=2, now=t0)
    assert links.resolve(store, token, t0 + timedelta(days=2) - timedelta(seconds=1)) is not None
    assert links.resolve(store, token, t0 + timedelta(days=2)) is None
    assert links.resolve(store, token, t0 + timedelta(days=400)) is None


def test_a_revoked_link_opens_nothing_and_revoking_twice_is_harmless(store: Store) -> None:
    link, token = make(store)
    assert links.revoke(store, "ana", link.id) is True
    assert links.resolve(store, token) is None
    assert links.revoke(store, "ana", link.id) is False
    with pytest.raises(LinkError):
        links.revoke(store, "ana", 999_999)


def test_opens_are_recorded_only_for_valid_links(store: Store) -> None:
    link, token = make(store)
    t0 = utcnow()
    assert links.open_link(store, token, t0) is not None
    assert links.open_link(store, token, t0 + timedelta(hours=1)) is not None
    assert links.open_link(store, token[:-1], t0) is None
    row = links.list_links(store, "ana").set_index("id").loc[link.id]
    assert (row["opens"], row["last_opened_at"]) == (2, t0 + timedelta(hours=1))
    assert store.scalar("SELECT count(*) FROM share_link_opens") == 2


# -- scope and expiry ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("practice", "practice"), (" Practice ", "practice"), ("client:C1", "client:C1"), ("client: c1 ", "client:c1"),
    ("segment:runner", "segment:runner"),
])
def test_parse_scope(text: str, expected: str) -> None:
    assert str(links.parse_scope(text)) == expected


@pytest.mark.parametrize("text", ["", "client", "client:", "segment:", "practice:all", "clients:C1", "everything",
                                  None, "client C1"])
def test_bad_scopes_are_refused(text) -> None:
    with pytest.raises(LinkError):
        links.parse_scope(text)


def test_client_codes_are_matched_without_case_and_stored_canonically(store: Store) -> None:
    link, token = make(store, "client:c1")
    assert link.scope == "client:C1"
    assert links.resolve(store, token).client_code == "C1"


@pytest.mark.parametrize("scope", ["client:C404", "client:' OR 1=1 --", "segment:athletes", "segment:' OR 1=1 --"])
def test_unknown_clients_and_segments_are_refused(store: Store, scope: str) -> None:
    with pytest.raises(LinkError):
        make(store, scope)
    assert store.scalar("SELECT count(*) FROM share_links") == 0


@pytest.mark.parametrize("days", [0, -1, 91, 365, 7.5, "7", True, None])
def test_expiry_is_1_to_90_whole_days(store: Store, days) -> None:
    with pytest.raises(LinkError):
        make(store, days=days)


def test_expiry_defaults_to_seven_days_and_reaches_ninety(store: Store) -> None:
    t0 = utcnow()
    assert make(store, now=t0)[0].expires_at == t0 + timedelta(days=7)
    assert make(store, days=90, now=t0)[0].expires_at == t0 + timedelta(days=90)


def test_a_client_link_stays_pinned_to_its_client_when_codes_change(store: Store) -> None:
    create_client(store, {"code": "PIN1", "display_name": "First Person", "segments": ["runner"]}, "cli")
    _, token = make(store, "client:PIN1")
    first = links.resolve(store, token).client_id
    client = store.scalar("SELECT id FROM clients WHERE code = 'PIN1'")
    update_client(store, client, {"code": "PIN1-OLD", "display_name": "First Person", "segments": ["runner"]}, "cli")
    create_client(store, {"code": "PIN1", "display_name": "Someone Else", "segments": ["runner"]}, "cli")
    found = links.resolve(store, token)
    assert (found.client_id, found.client_code) == (first, "PIN1-OLD")


def test_labels_keep_html_and_sql_literally(store: Store) -> None:
    label = "<script>alert('x')</script> '); DROP TABLE share_links; --"
    _, token = make(store, label=label)
    assert links.resolve(store, token).label == label
    _, token = make(store, label="   ")
    assert links.resolve(store, token).label is None


# -- who may do what ----------------------------------------------------------------------------

def test_therapists_make_client_and_segment_links_but_not_practice_links(store: Store) -> None:
    make(store, "client:C1", actor="ben")
    make(store, "segment:runner", actor="ben")
    with pytest.raises(PermissionDenied):
        make(store, "practice", actor="ben")
    make(store, "practice", actor="ana")
    make(store, "practice", actor="cli")


@pytest.mark.parametrize("actor", ["vic", "nobody", "", "staff"])
def test_viewers_and_strangers_make_no_links(store: Store, actor: str) -> None:
    with pytest.raises(PermissionDenied):
        make(store, "client:C1", actor=actor)
    with pytest.raises(PermissionDenied):
        links.list_links(store, actor)


def test_owners_see_and_revoke_every_link_therapists_only_their_own(store: Store) -> None:
    mine, _ = make(store, actor="ben")
    theirs, token = make(store, actor="cara")
    owners, _ = make(store, actor="ana")
    assert list(links.list_links(store, "ben")["id"]) == [mine.id]
    assert set(links.list_links(store, "ana")["id"]) == {mine.id, theirs.id, owners.id}
    with pytest.raises(PermissionDenied):
        links.revoke(store, "ben", theirs.id)
    assert links.resolve(store, token) is not None
    assert links.revoke(store, "ben", mine.id)
    assert links.revoke(store, "ana", theirs.id)
    with pytest.raises(PermissionDenied):
        links.revoke(store, "vic", owners.id)


def test_the_list_says_what_each_link_is(store: Store) -> None:
    t0 = utcnow()
    active, _ = make(store, "segment:runner", label="Running club", now=t0)
    expired, _ = make(store, "practice", days=1, now=t0 - timedelta(days=2))
    revoked, _ = make(store, "client:C2", deidentify=True)
    links.revoke(store, "ana", revoked.id)
    table = links.list_links(store, "ana").set_index("id")
    assert list(table.columns) == [c for c in links.LINK_COLUMNS if c != "id"]
    assert table.loc[active.id, ["scope", "label", "status", "created_by", "opens"]].tolist() == [
        "segment:runner", "Running club", "active", "ana", 0]
    assert table.loc[expired.id, "status"] == "expired"
    assert table.loc[revoked.id, ["scope", "status", "revoked_by", "deidentify"]].tolist() == [
        "client:C2", "revoked", "ana", True]


def test_link_actions_are_audited_without_the_token(store: Store) -> None:
    link, token = make(store, label="for Dr Q")
    links.revoke(store, "ana", link.id)
    log = auth.audit_entries(store)
    assert list(log["action"]) == ["share_link_revoked", "share_link_created"]
    assert token not in log.to_csv()


# -- the link itself ----------------------------------------------------------------------------

def test_base_url_from_env_then_config_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(links.BASE_URL_ENV, raising=False)
    assert links.base_url(None) == links.FALLBACK_BASE_URL
    assert links.base_url("https://desk.example.org/") == "https://desk.example.org"
    assert links.base_url("https://clinic.example/desk") == "https://clinic.example/desk"
    monkeypatch.setenv(links.BASE_URL_ENV, "http://10.0.0.5:8501")
    assert links.base_url("https://desk.example.org") == "http://10.0.0.5:8501"
    assert links.link_url("http://10.0.0.5:8501", "T") == "http://10.0.0.5:8501/?share=T"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "desk.example.org", "ftp://desk.example.org",
                                 "https://desk.example.org/?x=1", "https://desk.example.org/#top", "https://"])
def test_bad_base_urls_are_refused(bad: str) -> None:
    with pytest.raises(LinkError):
        links.base_url(bad)


def test_the_url_uses_the_configured_base(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(links.BASE_URL_ENV, "https://env.example.org")
    link = links.create_link(store, "ana", "practice", base="https://ignored.example.org")
    assert link.url.startswith("https://env.example.org/?share=")
    assert link.as_dict()["url"] == link.url
