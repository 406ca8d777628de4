-- The exercise library, mirrored from the content files under data/exercises.
-- List-valued fields live in exercise_tags (one row per value) so the schema stays portable to
-- PostgreSQL and filters are plain joins.
CREATE TABLE exercises (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    position VARCHAR NOT NULL,
    summary VARCHAR,
    hold_min_s INTEGER,
    hold_max_s INTEGER,
    reps_min INTEGER,
    reps_max INTEGER,
    sets_min INTEGER,
    sets_max INTEGER,
    breaths_min INTEGER,
    breaths_max INTEGER,
    per_side BOOLEAN NOT NULL,
    seconds_per_rep DOUBLE,
    steps_json VARCHAR NOT NULL,
    cues_json VARCHAR NOT NULL,
    mistakes_json VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL
);

-- facet is one of: alias, target, equipment, caution, audience
CREATE TABLE exercise_tags (
    exercise_id VARCHAR NOT NULL,
    facet VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    PRIMARY KEY (exercise_id, facet, value)
);

CREATE TABLE exercise_sources (
    exercise_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    title VARCHAR NOT NULL,
    url VARCHAR,
    PRIMARY KEY (exercise_id, position)
);

-- One row per content file seen by the loader: what it held, whether it loaded, and why not.
CREATE TABLE content_files (
    path VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    item_id VARCHAR,
    status VARCHAR NOT NULL,
    errors_json VARCHAR,
    checked_at TIMESTAMP NOT NULL
);
