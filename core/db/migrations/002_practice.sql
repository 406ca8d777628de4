-- Clients, routines (versioned) and assignments.
CREATE SEQUENCE client_id_seq START 1;
CREATE TABLE clients (
    id BIGINT PRIMARY KEY DEFAULT nextval('client_id_seq'),
    code VARCHAR NOT NULL UNIQUE,
    display_name VARCHAR NOT NULL,
    email VARCHAR,
    therapist VARCHAR,
    due_date DATE,
    pregnancy_ended_on DATE,
    postpartum BOOLEAN NOT NULL DEFAULT FALSE,
    conditions VARCHAR,
    notes VARCHAR,
    archived_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- segment: pregnant | runner | desk_worker | other
CREATE TABLE client_segments (
    client_id BIGINT NOT NULL,
    segment VARCHAR NOT NULL,
    PRIMARY KEY (client_id, segment)
);

-- flag: a stable health-flag id (knee_pain, placenta_previa, ...), see core/practice/safety.py
CREATE TABLE client_flags (
    client_id BIGINT NOT NULL,
    flag VARCHAR NOT NULL,
    PRIMARY KEY (client_id, flag)
);

-- origin: template (from data/routines) | custom (built in the app)
CREATE TABLE routines (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    description VARCHAR,
    origin VARCHAR NOT NULL,
    source_file VARCHAR,
    current_version INTEGER NOT NULL,
    archived_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- weekdays: comma-separated mon..sun when the routine is done on fixed days
CREATE TABLE routine_versions (
    routine_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    sessions_per_week INTEGER NOT NULL,
    weekdays VARCHAR,
    times_per_day INTEGER NOT NULL DEFAULT 1,
    weeks INTEGER NOT NULL,
    content_hash VARCHAR,
    created_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (routine_id, version)
);

CREATE TABLE routine_items (
    routine_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    exercise_id VARCHAR NOT NULL,
    slot VARCHAR,
    hold_min_s INTEGER,
    hold_max_s INTEGER,
    reps_min INTEGER,
    reps_max INTEGER,
    sets_min INTEGER,
    sets_max INTEGER,
    breaths_min INTEGER,
    breaths_max INTEGER,
    per_side BOOLEAN,
    seconds_per_rep DOUBLE,
    note VARCHAR,
    PRIMARY KEY (routine_id, version, position)
);

-- end_date is NULL while the planned end (start_date + 7 * weeks - 1) applies;
-- it is set when staff end or replace the assignment early.
-- status: active | ended | replaced
CREATE SEQUENCE assignment_id_seq START 1;
CREATE TABLE assignments (
    id BIGINT PRIMARY KEY DEFAULT nextval('assignment_id_seq'),
    client_id BIGINT NOT NULL,
    routine_id VARCHAR NOT NULL,
    routine_version INTEGER NOT NULL,
    start_date DATE NOT NULL,
    weeks INTEGER NOT NULL,
    sessions_per_week INTEGER NOT NULL,
    end_date DATE,
    status VARCHAR NOT NULL,
    replaced_by BIGINT,
    assigned_by VARCHAR,
    assigned_at TIMESTAMP NOT NULL
);

-- paused_until is the last paused day (inclusive); NULL while the pause is open.
CREATE TABLE assignment_pauses (
    assignment_id BIGINT NOT NULL,
    paused_from DATE NOT NULL,
    paused_until DATE,
    PRIMARY KEY (assignment_id, paused_from)
);

-- Safety findings staff saw (warn) or overrode (block) when assigning, with who and when.
CREATE SEQUENCE safety_review_id_seq START 1;
CREATE TABLE safety_reviews (
    id BIGINT PRIMARY KEY DEFAULT nextval('safety_review_id_seq'),
    assignment_id BIGINT,
    client_id BIGINT NOT NULL,
    routine_id VARCHAR NOT NULL,
    routine_version INTEGER NOT NULL,
    rule_id VARCHAR NOT NULL,
    exercise_id VARCHAR,
    level VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    override_reason VARCHAR,
    reviewed_by VARCHAR,
    reviewed_at TIMESTAMP NOT NULL
);
