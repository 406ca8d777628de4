-- The session logs found by date (see 077_session_logs_by_date.sql): logs arrive day after day, so the
-- logs of a period lie together and a view of the practice reads only their pages, not the whole table.
CREATE INDEX IF NOT EXISTS session_logs_date ON session_logs (session_date);
