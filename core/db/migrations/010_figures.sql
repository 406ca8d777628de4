-- The read model (core/db/figures.py): summaries of the session logs kept by every write in its
-- own transaction. Filled by Store.migrate right after this migration (a rebuild).
CREATE TABLE session_attribution (
    session_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    assignment_id BIGINT NOT NULL,
    session_date DATE NOT NULL,
    session_time TIME NOT NULL,      -- a missing time counts as 00:00
    on_active_day BOOLEAN NOT NULL,  -- not on a paused day of the assignment
    completion DOUBLE NOT NULL,
    pain_before DOUBLE,
    pain_after DOUBLE
);
CREATE TABLE assignment_day_figures (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    day DATE NOT NULL,
    completed DOUBLE NOT NULL,       -- completion sum of its sessions on an active day
    sessions INTEGER NOT NULL,       -- and their count
    scored INTEGER NOT NULL,         -- sessions with pain_before (active day or not)
    pain_sum DOUBLE
);
CREATE TABLE assignment_pain_figures (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    scored INTEGER NOT NULL,
    first3_sum DOUBLE,               -- sum of the first (up to) 3 pain_before scores, in session order
    last3_sum DOUBLE,                -- sum of the last (up to) 3
    relief_sum DOUBLE,
    relief_n INTEGER NOT NULL,
    last_day DATE NOT NULL           -- its last attributed session: a view as of an earlier day reads the sessions
);
CREATE TABLE client_figures (
    client_id BIGINT NOT NULL,
    last_session DATE NOT NULL
);
