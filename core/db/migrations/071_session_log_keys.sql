-- The import's dedupe key, a session id per source, enforced by the database where several
-- processes import at once: PostgreSQL gets a unique index (071_session_log_keys.postgres.sql).
-- A DuckDB file has one writing process whose importers take turns (core/sessions/checks.py,
-- WRITE_LOCK), and an index would cost a large import about half its insert time (migration 008).
SELECT 1;
