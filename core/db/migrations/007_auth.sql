-- Staff sign-in, roles, the audit log and read-only share links (core/access/auth.py, core/sharing/links.py).

-- role: owner | therapist | viewer
-- password_hash: an argon2id PHC string; NULL for an account that signs in through SSO only.
-- email: lower-cased; maps a single-sign-on identity to this account (unique among accounts,
-- kept by core/access/auth.py because DuckDB cannot update an indexed column in place).
-- disabled_at: set when the account may no longer sign in (accounts are never deleted, so the
-- audit log and every *_by column keep pointing at a known name).
CREATE SEQUENCE staff_user_id_seq START 1;
CREATE TABLE users (
    id BIGINT PRIMARY KEY DEFAULT nextval('staff_user_id_seq'),
    username VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,
    password_hash VARCHAR,
    email VARCHAR,
    display_name VARCHAR,
    disabled_at TIMESTAMP,
    created_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP,
    last_login_at TIMESTAMP
);

-- Taken once by the web form that creates the first owner. The primary key makes a second,
-- concurrent first-owner request fail instead of creating a second owner.
CREATE TABLE first_owner_claim (
    id INTEGER PRIMARY KEY,
    username VARCHAR NOT NULL,
    claimed_at TIMESTAMP NOT NULL
);

-- Every sign-in attempt, keyed by the SHA-256 of the username as typed (normalised), whether or
-- not such an account exists: counting unknown names the same way is what keeps the lock from
-- revealing accounts, and hashing the key keeps a password typed into the username box out of the
-- database.
-- outcome: ok | failed | locked (tried while locked; not counted towards a new lock)
CREATE SEQUENCE login_attempt_id_seq START 1;
CREATE TABLE login_attempts (
    id BIGINT PRIMARY KEY DEFAULT nextval('login_attempt_id_seq'),
    username_key VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);

-- One row per lock (same key as login_attempts): no sign-in before locked_until, unless an owner
-- cleared the lock.
CREATE SEQUENCE login_lockout_id_seq START 1;
CREATE TABLE login_lockouts (
    id BIGINT PRIMARY KEY DEFAULT nextval('login_lockout_id_seq'),
    username_key VARCHAR NOT NULL,
    locked_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP NOT NULL,
    cleared_by VARCHAR,
    cleared_at TIMESTAMP
);

-- Who did what, when. actor is a staff username or a system actor (cli, demo).
-- detail: a short JSON object; never a password or a share token.
CREATE SEQUENCE audit_id_seq START 1;
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
    event_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    detail VARCHAR
);

-- Read-only links. Only the SHA-256 of the token is kept: the link itself is shown once.
-- scope_kind: practice | client | segment; scope_value: the client code as given, or the segment.
-- client_id pins a client link to the client it was made for, even if codes are changed later.
CREATE SEQUENCE share_link_id_seq START 1;
CREATE TABLE share_links (
    id BIGINT PRIMARY KEY DEFAULT nextval('share_link_id_seq'),
    token_sha256 VARCHAR NOT NULL UNIQUE,
    scope_kind VARCHAR NOT NULL,
    scope_value VARCHAR,
    client_id BIGINT,
    label VARCHAR,
    deidentify BOOLEAN NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by VARCHAR
);

CREATE SEQUENCE share_link_open_id_seq START 1;
CREATE TABLE share_link_opens (
    id BIGINT PRIMARY KEY DEFAULT nextval('share_link_open_id_seq'),
    link_id BIGINT NOT NULL,
    opened_at TIMESTAMP NOT NULL
);
