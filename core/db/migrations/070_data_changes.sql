-- Store.version on PostgreSQL (core/db/store.py): several servers and the CLI write the practice, so
-- every data-changing transaction adds a row here in its own commit, naming the areas it touched,
-- and a cache is current while the newest id is the same. Insert-only: concurrent writers never
-- meet on a row. A DuckDB file has one writing process, which counts its own commits instead.
CREATE SEQUENCE data_change_id_seq START 1;
CREATE TABLE data_changes (
    id BIGINT PRIMARY KEY DEFAULT nextval('data_change_id_seq'),
    touches VARCHAR NOT NULL,
    changed_at TIMESTAMP NOT NULL
);
