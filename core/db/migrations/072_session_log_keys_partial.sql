-- On PostgreSQL the unique index of a session id per source (071) now holds only the logs that have
-- a session id (072_session_log_keys_partial.postgres.sql). A DuckDB file has no such index.
SELECT 1;
