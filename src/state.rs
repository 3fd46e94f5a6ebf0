//! Shared application state, handed to handlers as `web::Data<AppState>`.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Settings;
use crate::data_plane::catalog::Catalog;
use crate::data_plane::provider_state::ProviderState;
use crate::metering::writer::LogWriter;
use crate::observability::metrics::Metrics;
use crate::policy::rate_limit::RateLimiter;
use crate::policy::snapshot::PolicyStore;
use crate::routing::Router;
use crate::routing::health::Health;
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
    /// Keys and tenant status, in memory.
    pub policy: PolicyStore,
    /// The models clients may name.
    pub catalog: Arc<Catalog>,
    /// The pooled HTTP client for providers.
    pub http: reqwest::Client,
    /// The client for tenants' own providers (egress-guarded).
    pub egress_http: reqwest::Client,
    /// Reasoning state carried between turns for callers whose format cannot carry it.
    pub provider_state: ProviderState,
    /// Routes: names that pick among deployments.
    pub router: Router,
    /// Circuit breakers, retry budgets, latency and load per deployment.
    pub health: Health,
    /// The batched request-log writer.
    pub logs: LogWriter,
    /// Keys' last use, noted in memory by the data path and written in batches.
    pub key_usage: crate::metering::key_usage::KeyUsage,
    /// Single-use tokens the dashboard's playground calls `/v1` with.
    pub internal_keys: crate::policy::internal_keys::InternalKeys,
    /// Per-minute request and token limits.
    pub limiter: RateLimiter,
    /// Dashboard and admin-API sessions.
    pub auth: crate::control_plane::auth::AuthState,
    /// The exact and semantic response cache.
    pub cache: crate::cache::ResponseCache,
    /// Requests in flight per limited scope (`max_concurrent`).
    pub concurrency: crate::policy::limits::Concurrency,
    /// Decides budget reservations (in memory when this process alone serves a SQLite file).
    pub budgets: crate::policy::budget_arbiter::BudgetArbiter,
    /// Budget and spend alerts (notifications and deliveries).
    pub alerts: crate::alerts::Alerts,
    /// Prepaid credits on the data path (reservations, settlements, auto-recharge).
    pub credits: crate::billing::hold::Accounts,
    /// Seals and opens stored secrets (envelope encryption under the master key), when a
    /// master key is configured.
    pub vault: Option<crate::crypto::Vault>,
    /// Background tasks stopped at shutdown.
    background: Vec<tokio::task::AbortHandle>,
}

impl AppState {
    /// Loads the policy snapshot, builds the catalog and starts the background refresher.
    pub async fn build(settings: Settings, db: Db, metrics: Metrics) -> Result<Self, StateError> {
        let catalog = Arc::new(Catalog::from_settings(&settings));
        let vault =
            crate::crypto::Vault::from_settings(&settings).map_err(StateError::MasterKey)?;
        let byok = crate::policy::byok::Byok {
            vault: vault.clone(),
            allow_private: settings.egress.allow_private_networks,
        };
        let policy = PolicyStore::load(&db, catalog.clone(), byok).await?;
        let refresher = policy.spawn_refresher(db.clone());
        let router = Router::new(&settings.routes, &catalog).map_err(StateError::Routing)?;
        let health = Health::new(
            settings.routing.clone(),
            catalog.all().iter().map(|d| d.name.as_str()),
            metrics.clone(),
        );
        let http = crate::data_plane::upstream::client().map_err(StateError::Http)?;
        let egress_http =
            crate::data_plane::upstream::guarded_client(crate::egress::GuardedResolver::new(
                crate::egress::system_lookup(),
                settings.egress.allow_private_networks,
            ))
            .map_err(StateError::Http)?;
        let logs = LogWriter::start(
            db.clone(),
            settings.logs.spool_path.clone(),
            metrics.clone(),
        );
        let limiter = RateLimiter::new(
            settings.redis_url.as_ref().map(|u| u.expose()),
            settings.server.replicas,
            settings.server.on_redis_failure,
            metrics.clone(),
        )
        .await
        .map_err(StateError::Redis)?;
        let auth = crate::control_plane::auth::AuthState::new(&settings);
        let cache = crate::cache::ResponseCache::new(&settings, &db, metrics.clone()).await;
        let concurrency =
            crate::policy::limits::Concurrency::new(if settings.redis_url.is_some() {
                settings.server.replicas
            } else {
                1
            });
        let budgets =
            crate::policy::budget_arbiter::BudgetArbiter::start(&db, settings.redis_url.is_some())
                .await
                .map_err(StateError::Budgets)?;
        let alerts = crate::alerts::Alerts::new(db.clone());
        let spend_flusher = budgets.spawn_flusher(alerts.clone());
        let sender = crate::alerts::sender::Sender {
            alerts: alerts.clone(),
            settings: settings.alerts.clone(),
            smtp: crate::alerts::sender::smtp_transport(&settings.smtp)
                .map_err(StateError::Smtp)?,
            smtp_from: settings.smtp.from.clone(),
            vault: vault.clone(),
            http: crate::egress::client(
                crate::egress::GuardedResolver::new(
                    crate::egress::system_lookup(),
                    settings.egress.allow_private_networks,
                ),
                settings.alerts.timeout,
            )
            .map_err(StateError::Http)?,
            allow_private: settings.egress.allow_private_networks,
        };
        let sender = tokio::spawn(sender.run());
        let retention = crate::metering::retention::spawn(
            db.clone(),
            policy.clone(),
            settings.logs.retention_days,
            settings.logs.retention_interval,
        );
        let key_usage = crate::metering::key_usage::KeyUsage::default();
        let key_usage_writer = key_usage.spawn(db.clone());
        let credits = crate::billing::hold::Accounts::new(&settings, db.clone(), alerts.clone());
        Ok(Self(Arc::new(Inner {
            credits,
            settings,
            db,
            metrics,
            policy,
            catalog,
            http,
            egress_http,
            provider_state: ProviderState::default(),
            router,
            health,
            logs,
            key_usage,
            internal_keys: Default::default(),
            concurrency,
            limiter,
            auth,
            cache,
            budgets,
            alerts,
            vault,
            background: [
                refresher.abort_handle(),
                sender.abort_handle(),
                retention.abort_handle(),
                key_usage_writer.abort_handle(),
            ]
            .into_iter()
            .chain(spend_flusher.map(|t| t.abort_handle()))
            .collect(),
        })))
    }

    /// Stops background tasks, flushes buffered writes and closes the database; called once the
    /// server has stopped.
    pub async fn shutdown(&self) {
        for task in &self.background {
            task.abort();
        }
        self.logs.flush().await;
        self.budgets.flush(&self.alerts).await;
        if let Err(e) = self.key_usage.flush(&self.db).await {
            tracing::warn!(error = %e, "key last-use times not written at shutdown");
        }
        self.db.close().await;
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot build the HTTP client: {0}")]
    Http(reqwest::Error),
    #[error("invalid route rule: {0}")]
    Routing(regex::Error),
    #[error(transparent)]
    Budgets(crate::policy::budget_arbiter::ArbiterError),
    #[error("invalid redis_url: {0}")]
    Redis(redis::RedisError),
    #[error("invalid master_key: {0}")]
    MasterKey(crate::crypto::CryptoError),
    #[error("invalid [smtp] settings: {0}")]
    Smtp(lettre::transport::smtp::Error),
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
