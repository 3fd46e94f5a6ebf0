-- Auto-recharge charges the payment method saved at the tenant's last Checkout (off-session).
ALTER TABLE credit_balances ADD COLUMN stripe_payment_method_id TEXT;
