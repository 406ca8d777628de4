-- The unique index of a session id per source (071), kept for the logs that have one: a log without a
-- session id can never conflict (NULLs are distinct), yet every such log cost an entry, about a fifth
-- of the time PostgreSQL takes to store a large import. The same key is enforced, as before.
DROP INDEX session_logs_source_session_id;
CREATE UNIQUE INDEX session_logs_source_session_id ON session_logs (source, source_session_id)
    WHERE source_session_id IS NOT NULL;
