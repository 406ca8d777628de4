-- Safety after assignment, kept (core/practice/assignments.py, safety_changes_since_assignment):
-- each active assignment's rule findings with the days they hold, so the daily re-check reads rows.
-- A write to a client or an assignment drops that client's rows, a library change drops them all
-- (core/db/store.py); an assignment without a row that covers the day asked is checked again then.
CREATE TABLE assignment_safety_checks (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    valid_from DATE NOT NULL,        -- the findings below hold on every day from valid_from
    valid_until DATE NOT NULL        -- to the day before this one: a pregnancy week, its end or a clearance date
);
CREATE TABLE assignment_safety_findings (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    rule_id VARCHAR NOT NULL,
    exercise_id VARCHAR,
    level VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    began DATE NOT NULL              -- when it began to hold as far as the data tells (shown as "since")
);
