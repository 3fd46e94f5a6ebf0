//! Prepaid credits: models with `billing = "credits"` draw from the tenant's balance (reserved
//! before the call, settled after, see [`hold`]); credits are bought through Stripe Checkout
//! ([`checkout`]) and credited by the signed webhook ([`webhook`]); operators grant credits and
//! new tenants may get trial credits. The ledger lives in [`crate::storage::credits`].
//!
//! These are services: the dashboard and the admin API call them, and so does the CLI.

pub mod checkout;
pub mod hold;
pub mod recharge;
pub mod webhook;

use serde_json::json;

use crate::control_plane::Actor;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::storage::credits::{self, BalanceRow, Movement, TransactionRow};
use crate::storage::{Db, StorageError, Tx, audit};

/// Why a billing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("Stripe is not configured: set [stripe] secret_key")]
    NotConfigured,
    #[error("the amount must be between {min} and {max}")]
    AmountOutOfRange { min: NanoUsd, max: NanoUsd },
    #[error("the amount must be a whole number of cents")]
    FractionalCents,
    #[error("a grant must have a non-zero amount and a reason")]
    InvalidGrant,
    #[error("auto-recharge needs a positive threshold and amount")]
    InvalidAutoRecharge,
    #[error("Stripe refused the request: {0}")]
    Stripe(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Converts a configured USD amount to nano-USD.
pub fn usd_to_nusd(usd: f64) -> i64 {
    (usd * NanoUsd::PER_USD as f64).round() as i64
}

/// Nano-USD in one cent (Stripe amounts are in cents).
pub const NUSD_PER_CENT: i64 = 10_000_000;

/// The tenant's balance and reservations (zero when it never had credits).
pub async fn balance(db: &Db, tenant: &TenantId) -> Result<BalanceRow, StorageError> {
    Ok(credits::balance(db, tenant.as_str())
        .await?
        .unwrap_or(BalanceRow {
            tenant_id: tenant.as_str().to_owned(),
            balance_nusd: 0,
            reserved_nusd: 0,
            auto_recharge_below_nusd: None,
            auto_recharge_amount_nusd: None,
            stripe_customer_id: None,
            updated_at: 0,
        }))
}

/// The tenant's ledger, newest first: purchases, one usage draw-down per UTC day, refunds,
/// disputes, trial credits and adjustments (with receipt links where Stripe gave one).
pub async fn ledger(
    db: &Db,
    tenant: &TenantId,
    limit: u64,
) -> Result<Vec<TransactionRow>, StorageError> {
    credits::transactions(db, tenant.as_str(), limit).await
}

/// One page of the ledger and where the next one starts.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerPage {
    pub transactions: Vec<TransactionRow>,
    /// `(created_at, id)` of the last row when more rows follow.
    pub next: Option<(i64, String)>,
}

/// The tenant's ledger, newest first, `limit` rows after the cursor `before` (the previous
/// page's `next`).
pub async fn ledger_page(
    db: &Db,
    tenant: &TenantId,
    before: Option<(i64, &str)>,
    limit: u64,
) -> Result<LedgerPage, StorageError> {
    let mut transactions =
        credits::transactions_page(db, tenant.as_str(), before, limit.saturating_add(1)).await?;
    let more = transactions.len() as u64 > limit;
    transactions.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        transactions.last().map(|t| (t.created_at, t.id.clone()))
    } else {
        None
    };
    Ok(LedgerPage { transactions, next })
}

/// Grants (positive) or removes (negative) credits by hand: an `adjustment`, audited.
pub async fn grant(
    db: &Db,
    tenant: &TenantId,
    amount_nusd: i64,
    reason: &str,
    actor: Actor<'_>,
) -> Result<TransactionRow, BillingError> {
    let reason = reason.trim();
    if amount_nusd == 0 || reason.is_empty() {
        return Err(BillingError::InvalidGrant);
    }
    let now = now_millis();
    let reference = format!("adjustment:{}", uuid::Uuid::now_v7().simple());
    let mut tx = db.begin().await?;
    credits::apply(
        &mut tx,
        &Movement {
            tenant_id: tenant.as_str(),
            kind: "adjustment",
            amount_nusd,
            counter_account: credits::ADJUSTMENTS,
            external_ref: Some(&reference),
            description: reason,
            receipt_url: None,
            now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "credits.grant",
            object_type: "credit_transaction",
            object_id: Some(&reference),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "amount_nusd": amount_nusd, "reason": reason })),
        },
    )
    .await?;
    let row = credits::find_by_ref(&mut tx, &reference).await?;
    tx.commit().await?;
    row.ok_or_else(|| StorageError::Corrupt("the grant was not recorded".into()).into())
}

/// Credits a new tenant's trial amount inside the transaction that creates it (nothing when
/// the amount is zero).
pub async fn grant_trial(
    tx: &mut Tx,
    tenant: &TenantId,
    amount_nusd: i64,
    now: i64,
) -> Result<(), StorageError> {
    if amount_nusd <= 0 {
        return Ok(());
    }
    credits::apply(
        tx,
        &Movement {
            tenant_id: tenant.as_str(),
            kind: "trial",
            amount_nusd,
            counter_account: credits::PROMOTIONS,
            external_ref: Some(&format!("trial:{tenant}")),
            description: "Free trial credits",
            receipt_url: None,
            now,
        },
    )
    .await?;
    Ok(())
}
