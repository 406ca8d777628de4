-- A session of a day plan may name its block (a routine item's slot: morning, midday, evening),
-- so its completion counts against that block's own items (docs/analytics/metrics.md, "Completion").
ALTER TABLE session_logs ADD COLUMN block VARCHAR;
