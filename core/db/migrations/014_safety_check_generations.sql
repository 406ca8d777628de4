-- Kept safety findings (migration 012) record the generations of their client (migration 013) they
-- were computed at: a write that lands while a reader checks the rules makes the reader's rows out
-- of date at once, instead of relying on the write to find rows that were not there yet. Kept rows
-- are derived, so they are dropped here (DuckDB alters no table whose rows the same transaction
-- deleted) and the next reader checks the rules again.
DELETE FROM assignment_safety_findings;
DROP TABLE assignment_safety_checks;
CREATE TABLE assignment_safety_checks (
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    valid_from DATE NOT NULL,            -- the findings hold on every day from valid_from
    valid_until DATE NOT NULL,           -- to the day before this one: a pregnancy week, its end or a clearance date
    generation BIGINT NOT NULL,          -- the client's safety_generation (figure_generations) they were computed at
    practice_generation BIGINT NOT NULL  -- and client 0's
);
