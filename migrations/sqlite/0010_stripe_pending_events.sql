-- Refunds and disputes that Stripe delivered before the purchase they belong to (Stripe does
-- not order deliveries): kept by payment intent and applied when the purchase is recorded.
CREATE TABLE stripe_pending_events (
    event_id          TEXT PRIMARY KEY,
    payment_intent_id TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    payload           TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX stripe_pending_events_intent ON stripe_pending_events (payment_intent_id, created_at);
