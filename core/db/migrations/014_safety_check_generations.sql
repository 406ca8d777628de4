-- Kept safety findings (migration 012) record the generations of their client (migration 013) they
-- were computed at: a write that lands while a reader checks the rules makes the reader's rows out
-- of date at once, instead of relying on the write to find rows that were not there yet.
DELETE FROM assignment_safety_findings;
DELETE FROM assignment_safety_checks;
ALTER TABLE assignment_safety_checks ADD COLUMN generation BIGINT;
ALTER TABLE assignment_safety_checks ADD COLUMN practice_generation BIGINT;
