-- The import's dedupe key, a session id per source, enforced by PostgreSQL (see 071_session_log_keys.sql):
-- an overlapping import from another process that tries to store the same session fails at once.
CREATE UNIQUE INDEX session_logs_source_session_id ON session_logs (source, source_session_id);
