//! Credits on the data path: before a request to a `billing = "credits"` model is forwarded, its
//! maximum cost (with markup) is reserved on the tenant's balance with one conditional update
//! (`balance − reserved ≥ amount`); when the request ends — answered, failed or at the end of a
//! stream — the reservation is released and the actual cost (with markup) drawn. Concurrent
//! requests can therefore never reserve past the balance; a request whose actual cost exceeds
//! its estimate overdraws by at most that one request.

use std::sync::{Arc, Mutex, PoisonError};

use crate::alerts::Alerts;
use crate::alerts::event::AlertEvent;
use crate::config::Billing;
use crate::data_plane::respond::Failure;
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::policy::budget;
use crate::providers::{ErrorKind, Origin, ProviderError};
use crate::routing::Plan;
use crate::storage::{Db, credits};

/// The error code of a refused request.
pub const INSUFFICIENT_CREDITS: &str = "insufficient_credits";

/// A reservation on a tenant's credits, settled once when the request ends (clones share it).
/// Dropped unsettled (the request was abandoned), it releases the reservation.
#[derive(Clone, Debug)]
pub struct CreditHold {
    slot: Arc<Slot>,
}

#[derive(Debug)]
struct Slot(Mutex<Option<Held>>);

impl Slot {
    fn take(&self) -> Option<Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[derive(Debug)]
struct Held {
    accounts: Accounts,
    tenant_id: String,
    reserved_nusd: i64,
    /// The credits-billed deployments of the plan and their markup in basis points.
    markups: Vec<(String, i64)>,
}

/// What the data path needs to hold and settle credits (one per process, in the app state).
#[derive(Clone, Debug)]
pub struct Accounts {
    pub db: Db,
    pub alerts: Alerts,
    /// `[billing] low_balance_usd` in nano-USD.
    pub low_balance_nusd: Option<i64>,
    /// Charges saved cards when balances fall below their auto-recharge threshold.
    pub recharger: Option<super::recharge::Recharger>,
}

impl Accounts {
    /// From the settings.
    pub fn new(settings: &crate::config::Settings, db: Db, alerts: Alerts) -> Self {
        Self {
            recharger: super::recharge::Recharger::from_settings(settings, alerts.clone()),
            low_balance_nusd: settings.billing.low_balance_usd.map(super::usd_to_nusd),
            db,
            alerts,
        }
    }
}

/// `cost` plus `markup_bps` basis points, rounded up.
pub fn with_markup(cost: i64, markup_bps: i64) -> i64 {
    let marked = (i128::from(cost) * i128::from(10_000 + markup_bps) + 9_999) / 10_000;
    i64::try_from(marked).unwrap_or(i64::MAX)
}

/// What a request is reserved for.
#[derive(Clone, Copy, Debug)]
pub struct Estimate {
    pub prompt_tokens: u64,
    pub max_tokens: Option<u32>,
}

/// Reserves the request's maximum cost when any candidate of `plan` is billed to credits;
/// `Ok(None)` for BYOK-only plans. Not enough credits is a 402 `insufficient_credits`; an
/// unreachable database refuses the call (credits fail closed).
pub async fn reserve(
    accounts: &Accounts,
    tenant_id: &str,
    plan: &Plan,
    estimate: Estimate,
) -> Result<Option<CreditHold>, Failure> {
    let markups: Vec<(String, i64)> = plan
        .candidates
        .iter()
        .filter(|d| d.settings.billing == Billing::Credits)
        .map(|d| (d.name.clone(), d.settings.markup_bps()))
        .collect();
    if markups.is_empty() {
        return Ok(None);
    }
    let amount = plan
        .candidates
        .iter()
        .filter(|d| d.settings.billing == Billing::Credits)
        .map(|d| {
            with_markup(
                budget::max_cost(
                    [d.prices.as_ref()],
                    estimate.prompt_tokens,
                    estimate.max_tokens,
                ),
                d.settings.markup_bps(),
            )
        })
        .max()
        .unwrap_or(0)
        // Even a free request needs a positive balance: at zero, nothing is served.
        .max(1);
    // Boxed: the database call's state is large; plans without credit-billed models never
    // reach it and keep a small future.
    match Box::pin(credits::reserve(
        &accounts.db,
        tenant_id,
        amount,
        now_millis(),
    ))
    .await
    {
        Ok(true) => Ok(Some(CreditHold {
            slot: Arc::new(Slot(Mutex::new(Some(Held {
                accounts: accounts.clone(),
                tenant_id: tenant_id.to_owned(),
                reserved_nusd: amount,
                markups,
            })))),
        })),
        Ok(false) => Err(insufficient(amount).into()),
        Err(e) => {
            tracing::error!(error = %e, "credit reservation failed");
            let mut error = ProviderError::new(
                ErrorKind::Unavailable,
                "Credits cannot be checked right now; try again shortly.",
            )
            .with_code("credits_unavailable");
            error.status = 503;
            error.origin = Origin::Internal;
            error.retry_after = Some(1);
            Err(error.into())
        }
    }
}

/// The 402 of a tenant without enough credits.
pub fn insufficient(needed: i64) -> ProviderError {
    let mut error = ProviderError::new(
        ErrorKind::PermissionDenied,
        format!(
            "Your credit balance is too low for this request (it may cost up to {}). Add credits \
             to continue.",
            NanoUsd(needed)
        ),
    )
    .with_code(INSUFFICIENT_CREDITS);
    error.status = 402;
    error.origin = Origin::Caller;
    error.retryable = false;
    error
}

impl CreditHold {
    /// Releases the reservation and draws `cost` (the served deployment's cost, before markup)
    /// when `served` is billed to credits, in the background.
    pub fn settle(self, served: Option<&str>, cost: i64) {
        let Some(held) = self.slot.take() else {
            return;
        };
        let actual = served
            .and_then(|name| held.markups.iter().find(|(n, _)| n == name))
            .map_or(0, |(_, bps)| with_markup(cost, *bps));
        spawn_settlement(held, actual);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(held) = self.take() {
            spawn_settlement(held, 0);
        }
    }
}

fn spawn_settlement(held: Held, actual: i64) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!(tenant_id = %held.tenant_id, "no runtime to settle a credit reservation");
        return;
    };
    runtime.spawn(async move {
        let now = now_millis();
        let day = chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        let accounts = &held.accounts;
        let settled = credits::settle(
            &accounts.db,
            &credits::UsageSettlement {
                tenant_id: &held.tenant_id,
                reserved_nusd: held.reserved_nusd,
                actual_nusd: actual,
                day: &day,
                now,
            },
        )
        .await;
        match settled {
            Ok(settled) => {
                let after = settled.balance_nusd;
                if let Some(threshold) = accounts.low_balance_nusd
                    && crossed_below(after + actual, after, threshold)
                {
                    accounts
                        .alerts
                        .raise(low_balance(&held.tenant_id, after, threshold));
                }
                if actual > 0
                    && settled
                        .auto_recharge_below_nusd
                        .is_some_and(|below| after < below)
                    && let Some(recharger) = &accounts.recharger
                {
                    recharger.run(&accounts.db, &held.tenant_id).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, tenant_id = %held.tenant_id,
                    "credit settlement failed; the reservation stays held");
            }
        }
    });
}

/// Whether a draw-down from `before` to `after` crossed below `threshold` (settlements are
/// serialised on the balance row, so exactly one settlement sees each crossing).
pub fn crossed_below(before: i64, after: i64, threshold: i64) -> bool {
    before >= threshold && after < threshold
}

fn low_balance(tenant_id: &str, balance: i64, threshold: i64) -> AlertEvent {
    AlertEvent {
        tenant_id: tenant_id.to_owned(),
        kind: "credits.low_balance",
        severity: "warning",
        title: format!(
            "Credit balance is low: {} left (alert threshold {})",
            NanoUsd(balance),
            NanoUsd(threshold)
        ),
        data: serde_json::json!({ "balance_nusd": balance, "threshold_nusd": threshold }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_rounds_up_and_zero_is_identity() {
        assert_eq!(with_markup(1000, 0), 1000);
        assert_eq!(with_markup(1000, 2500), 1250);
        assert_eq!(with_markup(3, 5000), 5);
    }

    #[test]
    fn a_crossing_fires_once() {
        assert!(crossed_below(10, 4, 5));
        assert!(!crossed_below(4, 3, 5));
        assert!(!crossed_below(10, 5, 5));
    }
}
