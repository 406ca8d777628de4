-- The large per-client tables found by client (see 085_client_indexes.sql): a view of a few clients
-- fetches their rows through these (Store.copy_client_rows), not the whole table through the extension.
CREATE INDEX IF NOT EXISTS session_logs_client ON session_logs (client_id);
CREATE INDEX IF NOT EXISTS session_attribution_client ON session_attribution (client_id);
CREATE INDEX IF NOT EXISTS assignment_day_figures_client ON assignment_day_figures (client_id);
CREATE INDEX IF NOT EXISTS assignment_pain_figures_client ON assignment_pain_figures (client_id);
CREATE INDEX IF NOT EXISTS client_figures_client ON client_figures (client_id);
