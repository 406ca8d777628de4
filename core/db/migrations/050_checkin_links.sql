-- Check-in links (core/sharing/checkin.py): a client's write-only link to log their own sessions.
-- Like share_links, only the SHA-256 of the token is kept. client_id is fixed when the link is
-- made, so a later change of client code cannot point an old link at someone else.
CREATE SEQUENCE checkin_link_id_seq START 1;
CREATE TABLE checkin_links (
    id BIGINT PRIMARY KEY DEFAULT nextval('checkin_link_id_seq'),
    token_sha256 VARCHAR NOT NULL UNIQUE,
    client_id BIGINT NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by VARCHAR
);

-- Every submission a link made that reached the checks (for the daily limit and "last used").
-- status: accepted | rejected; session_log_id is set for an accepted one.
CREATE TABLE checkin_submissions (
    link_id BIGINT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    session_log_id BIGINT
);
