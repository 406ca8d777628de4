-- Session logs as reported by clients, the import batches they came in, and rejected rows.
CREATE SEQUENCE import_batch_id_seq START 1;
CREATE TABLE import_batches (
    id BIGINT PRIMARY KEY DEFAULT nextval('import_batch_id_seq'),
    source VARCHAR NOT NULL,
    file_name VARCHAR,
    file_hash VARCHAR,
    mapping_json VARCHAR,
    date_order VARCHAR,
    imported_by VARCHAR,
    imported_at TIMESTAMP NOT NULL,
    rows_read INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    undone_at TIMESTAMP,
    undone_by VARCHAR
);

-- One row per reported session. routine_id is NULL when the source did not name one; metrics
-- then attribute the session to the assignment active that day (docs/analytics/metrics.md).
-- red_flags: comma-separated tags found in the notes (see core/sessions/imports.py).
CREATE SEQUENCE session_log_id_seq START 1;
CREATE TABLE session_logs (
    id BIGINT PRIMARY KEY DEFAULT nextval('session_log_id_seq'),
    client_id BIGINT NOT NULL,
    routine_id VARCHAR,
    session_date DATE NOT NULL,
    session_time TIME,
    exercises_done INTEGER,
    exercises_prescribed INTEGER,
    duration_min DOUBLE,
    pain_before DOUBLE,
    pain_after DOUBLE,
    stiffness DOUBLE,
    notes VARCHAR,
    red_flags VARCHAR,
    before_first_assignment BOOLEAN NOT NULL DEFAULT FALSE,
    source VARCHAR NOT NULL,
    source_session_id VARCHAR,
    batch_id BIGINT,
    entered_by VARCHAR,
    created_at TIMESTAMP NOT NULL
);

-- Rejected rows, kept with their original values and every reason, until fixed or discarded.
-- status: open | resubmitted | discarded
CREATE SEQUENCE quarantine_id_seq START 1;
CREATE TABLE quarantined_rows (
    id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id_seq'),
    batch_id BIGINT NOT NULL,
    file_name VARCHAR,
    row_number INTEGER NOT NULL,
    values_json VARCHAR NOT NULL,
    reasons_json VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    resolution_note VARCHAR,
    resolved_by VARCHAR,
    resolved_at TIMESTAMP
);

-- Saved column mappings, one per source (a form, a booking system export ...).
CREATE TABLE import_mappings (
    name VARCHAR PRIMARY KEY,
    mapping_json VARCHAR NOT NULL,
    date_order VARCHAR,
    updated_at TIMESTAMP NOT NULL
);
