-- On PostgreSQL the large per-client tables get an index on client_id (085_client_indexes.postgres.sql),
-- so that a view of a few clients fetches their rows through it (Store.copy_client_rows). A DuckDB
-- file reads them from its own blocks, and an index would cost a large import insert time.
SELECT 1;
