//! Auto-recharge: when a settlement leaves the balance below the tenant's threshold, charge the
//! payment method saved at its last Checkout off-session (a PaymentIntent, confirmed at once)
//! for the configured amount — at most once per hour, claimed with a conditional update on
//! `last_auto_recharge_at`. The credits arrive with the `payment_intent.succeeded` event, like
//! any other payment, so a declined card credits nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::json;
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};

use super::checkout::TENANT_METADATA;
use super::{BillingError, NUSD_PER_CENT};
use crate::alerts::Alerts;
use crate::alerts::event::AlertEvent;
use crate::config::Settings;
use crate::control_plane::Actor;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::storage::{Db, audit, credits};

/// The metadata key marking a PaymentIntent as an auto-recharge.
pub const PURPOSE_METADATA: &str = "purpose";
/// Its value.
pub const AUTO_RECHARGE: &str = "auto_recharge";
/// At most one auto-recharge per tenant in this interval.
pub const INTERVAL_MS: i64 = 3_600_000;

/// Charges saved payment methods; present when Stripe is configured.
#[derive(Clone)]
pub struct Recharger {
    client: Arc<stripe::Client>,
    currency: stripe_types::Currency,
    alerts: Alerts,
}

impl std::fmt::Debug for Recharger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recharger").finish_non_exhaustive()
    }
}

impl Recharger {
    /// A recharger for the configured Stripe account; `None` without a secret key.
    pub fn from_settings(settings: &Settings, alerts: Alerts) -> Option<Self> {
        let client = super::checkout::client(settings).ok()?;
        let currency = stripe_types::Currency::from_str(&settings.stripe.currency).ok()?;
        Some(Self {
            client: Arc::new(client),
            currency,
            alerts,
        })
    }

    /// Charges the tenant's saved payment method if its auto-recharge is due.
    pub async fn run(&self, db: &Db, tenant_id: &str) {
        let due = match credits::claim_auto_recharge(db, tenant_id, now_millis(), INTERVAL_MS).await
        {
            Ok(Some(due)) => due,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, tenant_id, "auto-recharge check failed");
                return;
            }
        };
        let cents = due.auto_recharge_amount_nusd / NUSD_PER_CENT;
        let metadata = HashMap::from([
            (TENANT_METADATA.to_owned(), tenant_id.to_owned()),
            (PURPOSE_METADATA.to_owned(), AUTO_RECHARGE.to_owned()),
        ]);
        let created = CreatePaymentIntent::new(cents, self.currency.clone())
            .customer(due.stripe_customer_id.as_str())
            .payment_method(due.stripe_payment_method_id.as_str())
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .confirm(true)
            .description("Switchyard credits (auto-recharge)")
            .metadata(metadata)
            .send(self.client.as_ref())
            .await;
        match created {
            Ok(intent) => {
                tracing::info!(tenant_id, payment_intent = %intent.id.as_str(), "auto-recharge charged");
            }
            Err(e) => {
                tracing::warn!(error = %e, tenant_id, "auto-recharge charge failed");
                self.alerts.raise(AlertEvent {
                    tenant_id: tenant_id.to_owned(),
                    kind: "credits.auto_recharge_failed",
                    severity: "critical",
                    title: format!(
                        "Auto-recharge of {} failed; add credits by hand",
                        NanoUsd(due.auto_recharge_amount_nusd)
                    ),
                    data: json!({ "amount_nusd": due.auto_recharge_amount_nusd }),
                });
            }
        }
    }
}

/// Turns the tenant's auto-recharge on (`Some((below, amount))`, both nano-USD; the amount a
/// whole number of cents) or off, audited. The card is saved at the tenant's next Checkout.
pub async fn configure(
    db: &Db,
    tenant: &TenantId,
    rule: Option<(i64, i64)>,
    actor: Actor<'_>,
) -> Result<(), BillingError> {
    if let Some((below, amount)) = rule {
        if below <= 0 || amount <= 0 {
            return Err(BillingError::InvalidAutoRecharge);
        }
        if amount % NUSD_PER_CENT != 0 {
            return Err(BillingError::FractionalCents);
        }
    }
    let now = now_millis();
    let mut tx = db.begin().await?;
    credits::set_auto_recharge(&mut tx, tenant.as_str(), rule, now).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "credits.auto_recharge",
            object_type: "credit_balance",
            object_id: Some(tenant.as_str()),
            ip: actor.ip,
            before: None,
            after: Some(match rule {
                Some((below, amount)) => json!({ "below_nusd": below, "amount_nusd": amount }),
                None => json!({ "enabled": false }),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
