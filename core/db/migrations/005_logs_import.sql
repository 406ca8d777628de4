-- What the session-log importer keeps beyond 003 (docs/sessions/import-format.md).
-- quarantined_rows.values_json stays the row exactly as the file held it; fields_json holds the
-- mapped canonical values, which staff correct before re-submitting. row_hash and
-- source_session_id let a re-imported file recognise rows already held in quarantine.
ALTER TABLE quarantined_rows ADD COLUMN fields_json VARCHAR;
ALTER TABLE quarantined_rows ADD COLUMN row_hash VARCHAR;
ALTER TABLE quarantined_rows ADD COLUMN source_session_id VARCHAR;
ALTER TABLE quarantined_rows ADD COLUMN red_flags VARCHAR;

ALTER TABLE import_mappings ADD COLUMN updated_by VARCHAR;

-- Clients an import created because staff ticked "create missing clients".
CREATE TABLE import_batch_clients (
    batch_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    PRIMARY KEY (batch_id, client_id)
);
