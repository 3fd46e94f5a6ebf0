//! Alerts: budget thresholds crossed (each once per period) and other events a tenant must hear
//! about, recorded as dashboard notifications and delivered to the tenant's destinations
//! (signed webhooks, Slack incoming webhooks, email) by a background sender with retries.

pub mod budget;
pub mod event;
pub mod sender;
pub mod signature;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::storage::Db;

/// A cheap handle on the alerting machinery, shared by the data path and the sender.
#[derive(Clone, Debug)]
pub struct Alerts {
    db: Db,
    /// Thresholds this process already saw fired (budget, period start, percent): skips the
    /// database for requests after a crossing. The table stays the arbiter across replicas.
    fired: moka::sync::Cache<(String, i64, u8), ()>,
    /// Wakes the sender when something was queued.
    wake: Arc<Notify>,
}

impl Alerts {
    /// A handle on `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            fired: moka::sync::Cache::new(100_000),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Records an event (notification + queued deliveries) in the background.
    pub fn raise(&self, event: event::AlertEvent) {
        let alerts = self.clone();
        tokio::spawn(async move {
            match event::record(&alerts.db, &event).await {
                Ok(_) => alerts.wake.notify_one(),
                Err(e) => {
                    tracing::error!(error = %e, kind = event.kind, "recording an alert failed")
                }
            }
        });
    }
}
