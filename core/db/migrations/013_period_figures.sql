-- A period's figures kept per client (core/analytics/period_figures.py): what the metric pipeline
-- and the alerts computed for one period, kept so that the next reader, in any process, reads rows
-- instead of computing them again. A write never edits them: it raises the generation of the
-- clients it may change (client_id 0: every client), and a kept client whose generations differ
-- from those its rows were computed at is computed again by the next reader.
CREATE TABLE figure_generations (
    client_id BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL,        -- raised by every write that may change the client's figures
    safety_generation BIGINT NOT NULL  -- raised by those that may change its safety findings (not session logs)
);
INSERT INTO figure_generations VALUES (0, 0, 0);

-- period: as_of/days/recipe (recipe: a fingerprint of the code that computes the figures)
CREATE TABLE period_checks (
    period VARCHAR NOT NULL,
    client_id BIGINT NOT NULL,
    generation BIGINT NOT NULL,           -- the client's generation when its rows were computed
    practice_generation BIGINT NOT NULL,  -- and client 0's
    kept_at TIMESTAMP NOT NULL,
    PRIMARY KEY (period, client_id)
);
CREATE TABLE period_assignments (
    period VARCHAR NOT NULL,
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    routine_id VARCHAR NOT NULL,
    routine_version INTEGER NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    sessions_per_week INTEGER NOT NULL
);
CREATE TABLE period_weeks (
    period VARCHAR NOT NULL,
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    week_start DATE NOT NULL,
    active_days INTEGER,
    expected DOUBLE,
    completed DOUBLE,
    sessions INTEGER,
    credited DOUBLE
);
CREATE TABLE period_clients (
    period VARCHAR NOT NULL,
    client_id BIGINT NOT NULL,
    expected DOUBLE,
    completed DOUBLE,
    logged DOUBLE,
    sessions INTEGER,
    active_days INTEGER,
    adherence DOUBLE,
    status VARCHAR,
    last_session DATE,
    days_since_last INTEGER,
    longest_active INTEGER
);
CREATE TABLE period_pain (
    period VARCHAR NOT NULL,
    assignment_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    routine_id VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    scored_sessions INTEGER,
    baseline DOUBLE,
    current DOUBLE,
    change DOUBLE,
    change_pct DOUBLE,
    response VARCHAR,
    relief DOUBLE,
    relief_sessions INTEGER,
    baseline_exact DOUBLE,
    worse_since DATE
);
CREATE TABLE period_alerts (
    period VARCHAR NOT NULL,
    client_id BIGINT NOT NULL,
    assignment_id BIGINT,
    session_id BIGINT,
    level VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    since DATE,
    alert_key VARCHAR NOT NULL,
    reason VARCHAR,
    detail VARCHAR
);
