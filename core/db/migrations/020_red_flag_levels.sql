-- Warning signs in session notes are judged for the client on the session's date (issue 16):
-- red_flag_level is the most urgent level of the note's tags (critical | high | medium | low),
-- red_flag_pregnant whether the client was pregnant on that date or within six weeks after.
-- Both are written with the tags (core/sessions/red_flags.py) and again when a client's pregnancy
-- fields change. red_flag_vocabulary remembers which vocabulary (data/red_flags) tagged the logs.
ALTER TABLE session_logs ADD COLUMN red_flag_level VARCHAR;
ALTER TABLE session_logs ADD COLUMN red_flag_pregnant BOOLEAN;
CREATE TABLE red_flag_vocabulary (
    fingerprint VARCHAR NOT NULL,
    tagged_at TIMESTAMP NOT NULL
);
