-- Alerts are computed from the data on each view (core/analytics/alerts.py); what is stored is what staff
-- did about them. An acknowledgement keeps a copy of the alert as it was shown (level, kind,
-- reason, since), so the history stays readable after the condition has gone.
-- alert_key identifies one alert episode (e.g. 'lapsed:c12:2025-03-01'); see docs/analytics/metrics.md.
CREATE SEQUENCE alert_ack_id_seq START 1;
CREATE TABLE alert_acknowledgements (
    id BIGINT PRIMARY KEY DEFAULT nextval('alert_ack_id_seq'),
    alert_key VARCHAR NOT NULL UNIQUE,
    client_id BIGINT NOT NULL,
    assignment_id BIGINT,
    session_id BIGINT,
    level VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    since DATE NOT NULL,
    note VARCHAR NOT NULL,
    acknowledged_by VARCHAR NOT NULL,
    acknowledged_at TIMESTAMP NOT NULL
);
