//! Budget thresholds: after a settlement, every threshold the new spend reached fires once per
//! budget period — whichever replica gets there first records it, the others see it recorded.

use serde_json::json;

use super::Alerts;
use super::event::{self, AlertEvent};
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::storage::spend::Charge;
use crate::storage::{StorageError, alerts};

/// The thresholds `spent` has reached on a budget of `limit`, lowest first.
pub fn reached(thresholds: &[u8], spent: i64, limit: i64) -> Vec<u8> {
    if limit <= 0 {
        return Vec::new();
    }
    let mut out: Vec<u8> = thresholds
        .iter()
        .copied()
        .filter(|t| i128::from(spent) * 100 >= i128::from(*t) * i128::from(limit))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Alerts {
    /// Fires the thresholds that `spent` (each charge's spend after settling) reached.
    pub async fn check_budgets(&self, charges: &[Charge], spent: &[i64]) {
        for (charge, spent) in charges.iter().zip(spent) {
            for pct in reached(&charge.thresholds, *spent, charge.limit_nusd) {
                let seen = (charge.budget_id.clone(), charge.period_start, pct);
                if self.fired.contains_key(&seen) {
                    continue;
                }
                match self.fire(charge, pct, *spent).await {
                    Ok(fired) => {
                        self.fired.insert(seen, ());
                        if fired {
                            self.wake.notify_one();
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "recording a budget alert failed"),
                }
            }
        }
    }

    /// Records the threshold crossing once; `true` if this call recorded it.
    async fn fire(&self, charge: &Charge, pct: u8, spent: i64) -> Result<bool, StorageError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        if !alerts::mark_fired(
            &mut tx,
            &charge.tenant_id,
            &charge.budget_id,
            charge.period_start,
            pct,
            now,
        )
        .await?
        {
            return Ok(false);
        }
        let event = budget_event(charge, pct, spent);
        event::record_in(&mut tx, &event).await?;
        tx.commit().await?;
        tracing::info!(
            tenant = %charge.tenant_id,
            budget = %charge.budget_id,
            threshold_pct = pct,
            "budget alert fired"
        );
        Ok(true)
    }
}

/// The event for a threshold crossing.
pub fn budget_event(charge: &Charge, pct: u8, spent: i64) -> AlertEvent {
    let scope = if charge.scope_type == "tenant" {
        "Tenant".to_owned()
    } else {
        format!("{} `{}`", charge.scope_type, charge.scope_id)
    };
    AlertEvent {
        tenant_id: charge.tenant_id.clone(),
        kind: "budget.threshold_crossed",
        severity: if pct >= 100 { "critical" } else { "warning" },
        title: format!(
            "{scope} budget reached {pct}%: {} of {} ({})",
            NanoUsd(spent),
            NanoUsd(charge.limit_nusd),
            charge.period
        ),
        data: json!({
            "budget_id": charge.budget_id,
            "scope_type": charge.scope_type,
            "scope_id": charge.scope_id,
            "period": charge.period,
            "period_start": charge.period_start,
            "threshold_pct": pct,
            "limit_nusd": charge.limit_nusd,
            "spent_nusd": spent,
            "limit_usd": NanoUsd(charge.limit_nusd).as_usd(),
            "spent_usd": NanoUsd(spent).as_usd(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_reached_at_their_percentage() {
        let t = [50, 80, 100];
        assert!(reached(&t, 0, 1000).is_empty());
        assert!(reached(&t, 499, 1000).is_empty());
        assert_eq!(reached(&t, 500, 1000), vec![50]);
        assert_eq!(reached(&t, 800, 1000), vec![50, 80]);
        assert_eq!(reached(&t, 5000, 1000), vec![50, 80, 100]);
        assert!(reached(&t, 5000, 0).is_empty());
        assert_eq!(reached(&[80, 50, 80], 900, 1000), vec![50, 80]);
    }
}
