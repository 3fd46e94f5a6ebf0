-- Auto-recharge charges the payment method saved at the tenant's last Checkout (off-session).
ALTER TABLE credit_balances ADD COLUMN stripe_payment_method_id TEXT;

-- Receipt links of charges, by payment intent: `charge.succeeded` may arrive before the
-- `checkout.session.completed` that records the purchase, so the link waits here.
CREATE TABLE stripe_receipts (
    payment_intent_id TEXT PRIMARY KEY,
    tenant_id         TEXT,
    receipt_url       TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
