-- History for clients and assignments: who changed what, and when.
-- Kept in their own tables (not new columns) so the existing tables keep their column lists.

-- event: created | updated | archived | restored | flag_added | flag_removed | pregnancy_ended
-- detail: the flag id for flag events, the changed field names for updates, else NULL.
-- The safety rules read flag_added to date a finding that appeared after an assignment.
CREATE SEQUENCE client_event_id_seq START 1;
CREATE TABLE client_events (
    id BIGINT PRIMARY KEY DEFAULT nextval('client_event_id_seq'),
    client_id BIGINT NOT NULL,
    event VARCHAR NOT NULL,
    detail VARCHAR,
    actor VARCHAR,
    event_at TIMESTAMP NOT NULL
);

-- event: assigned | ended | paused | resumed | replaced | safety_reviewed
-- effective_date: the day the event takes effect (start, last day, first paused day, ...);
-- for assigned and safety_reviewed it is the date the safety rules were checked for.
CREATE SEQUENCE assignment_event_id_seq START 1;
CREATE TABLE assignment_events (
    id BIGINT PRIMARY KEY DEFAULT nextval('assignment_event_id_seq'),
    assignment_id BIGINT NOT NULL,
    event VARCHAR NOT NULL,
    effective_date DATE,
    note VARCHAR,
    actor VARCHAR,
    event_at TIMESTAMP NOT NULL
);
