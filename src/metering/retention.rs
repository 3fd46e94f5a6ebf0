//! Request-log retention: a background sweep deletes each tenant's rows older than its
//! retention (`tenant set --retention-days`, else `[logs] retention_days`; unset keeps them).
//! Hourly and daily rollups are kept, so usage history survives the rows.

use std::time::Duration;

use crate::domain::time::now_millis;
use crate::policy::snapshot::PolicyStore;
use crate::storage::{Db, request_logs};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Runs one sweep; returns the rows deleted.
pub async fn sweep(db: &Db, policy: &PolicyStore, default_days: Option<u32>) -> u64 {
    let snapshot = policy.current();
    let now = now_millis();
    let mut deleted = 0;
    for (tenant, p) in &snapshot.tenants {
        let Some(days) = p.retention_days.or(default_days) else {
            continue;
        };
        let before = now - i64::from(days) * DAY_MS;
        match request_logs::delete_older_than(db, tenant, before).await {
            Ok(n) => deleted += n,
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, "request-log retention sweep failed")
            }
        }
    }
    if deleted > 0 {
        tracing::info!(rows = deleted, "request-log rows past retention deleted");
    }
    deleted
}

/// Sweeps every `interval`, starting shortly after start-up.
pub fn spawn(
    db: Db,
    policy: PolicyStore,
    default_days: Option<u32>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5).min(interval)).await;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep(&db, &policy, default_days).await;
        }
    })
}
