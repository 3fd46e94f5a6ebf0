//! Shared application state, handed to handlers as `web::Data<AppState>`.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Settings;
use crate::observability::metrics::Metrics;
use crate::storage::Db;

/// Cheap-to-clone handle on everything handlers share.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state's contents.
pub struct Inner {
    /// Validated settings.
    pub settings: Settings,
    /// The database pool.
    pub db: Db,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl AppState {
    /// Bundles the parts.
    pub fn new(settings: Settings, db: Db, metrics: Metrics) -> Self {
        Self(Arc::new(Inner {
            settings,
            db,
            metrics,
        }))
    }

    /// Flushes buffered writes and closes the database; called once the server has stopped.
    pub async fn shutdown(&self) {
        self.db.close().await;
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
