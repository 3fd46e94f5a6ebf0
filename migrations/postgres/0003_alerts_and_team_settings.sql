-- Alert deliveries: an outbox. A fired alert writes one row per destination in the same
-- transaction that records the alert, and a background sender delivers them with retries and
-- backoff (claiming rows so that replicas never send one twice at the same time).
CREATE TABLE alert_deliveries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    destination_id   TEXT NOT NULL REFERENCES alert_destinations(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT,
    delivered_at     BIGINT,
    failed_at        BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (delivered_at, failed_at, next_attempt_at);
CREATE INDEX alert_deliveries_tenant ON alert_deliveries (tenant_id, created_at);

-- Team settings (JSON): the team's rate limits and, later, its other policies.
ALTER TABLE teams ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- The audit trail is append-only: the database refuses to change or remove an entry.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
