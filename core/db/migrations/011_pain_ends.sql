-- The read model (core/db/figures.py): the first and the last three scored sessions of each
-- assignment, so that an import adds its sessions to the pain figures without re-reading the
-- assignment's other sessions. Filled by Store.migrate right after this migration (a rebuild).
CREATE TABLE assignment_pain_ends (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    session_order BIGINT NOT NULL,   -- figures.session_order_key: date, time, entry order
    pain_before DOUBLE NOT NULL,
    is_first BOOLEAN NOT NULL,       -- among its first 3 scored sessions
    is_last BOOLEAN NOT NULL         -- among its last 3
);
