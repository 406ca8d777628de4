-- session_logs.id without a PRIMARY KEY index (issue 4, performance).
-- Ids still come from session_log_id_seq, so they stay unique and in insertion order; nothing
-- looks a log up by a constraint, and keeping the index costs a large import about half of its
-- insert time. DuckDB cannot drop a primary key in place, so the table is rebuilt with the same
-- columns in the same order and its rows copied (ids kept). Portable: plain PostgreSQL DDL.
CREATE TABLE session_logs_new (
    id BIGINT NOT NULL DEFAULT nextval('session_log_id_seq'),
    client_id BIGINT NOT NULL,
    routine_id VARCHAR,
    session_date DATE NOT NULL,
    session_time TIME,
    exercises_done INTEGER,
    exercises_prescribed INTEGER,
    duration_min DOUBLE,
    pain_before DOUBLE,
    pain_after DOUBLE,
    stiffness DOUBLE,
    notes VARCHAR,
    red_flags VARCHAR,
    before_first_assignment BOOLEAN NOT NULL DEFAULT FALSE,
    source VARCHAR NOT NULL,
    source_session_id VARCHAR,
    batch_id BIGINT,
    entered_by VARCHAR,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO session_logs_new SELECT * FROM session_logs ORDER BY id;
DROP TABLE session_logs;
ALTER TABLE session_logs_new RENAME TO session_logs;
