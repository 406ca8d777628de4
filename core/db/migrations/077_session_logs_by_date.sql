-- On PostgreSQL the session logs get an index on their date (077_session_logs_by_date.postgres.sql), so
-- that a view of the practice fetches the logs of its period through it (core.analytics.metrics.rows_of)
-- instead of scanning every log. A DuckDB file reads them from its own blocks (their zone maps), and an
-- index would cost a large import insert time.
SELECT 1;
