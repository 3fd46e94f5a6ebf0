//! The in-memory policy snapshot: live keys by public id and tenant status. It is built whole
//! from the database and swapped atomically; a background task polls the policy version and
//! reloads on change, so revocations reach every replica within one poll interval.

use foldhash::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::{RouteSettings, validate_routes};
use crate::data_plane::catalog::Catalog;
use crate::domain::tenant_settings::{self, Limits, TeamSettings};
use crate::domain::time::EpochMillis;
use crate::policy::access::OriginPattern;
use crate::policy::budget::BudgetPolicy;
use crate::policy::byok::Byok;
use crate::policy::tenant::TenantPolicy;
use crate::routing::Router;
use crate::storage::{self, Db, StorageError, routes, snapshot as rows};

/// How often replicas check the policy version.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One secret that authenticates a key: its current secret, or the previous one during a
/// rotation's grace period.
#[derive(Debug)]
pub struct KeyCredential {
    /// Hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// For a rotated-away secret: when it stops working.
    pub valid_until: Option<EpochMillis>,
    pub key: Arc<KeyPolicy>,
}

/// What a key may do.
#[derive(Debug)]
pub struct KeyPolicy {
    pub key_id: String,
    pub tenant_id: String,
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    /// Allowed models or routes; empty means all.
    pub allowed_models: Vec<String>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrent: Option<i64>,
    /// Client networks the key may be used from (empty: any).
    pub allowed_ips: Vec<ipnet::IpNet>,
    /// Browser origins the key may be used from (empty: any).
    pub allowed_referrers: Vec<OriginPattern>,
    pub expires_at: Option<EpochMillis>,
    /// The key's cache settings (`metadata.cache`).
    pub cache: Option<crate::config::CacheOverrides>,
    /// The key's effective PII policy, compiled (`None`: no PII processing at all).
    pub pii: Option<Arc<crate::policy::pii::Detectors>>,
}

impl KeyPolicy {
    /// Whether the key may use `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }
}

/// The policy state at one version.
#[derive(Default)]
pub struct Snapshot {
    pub version: i64,
    pub credentials: HashMap<String, KeyCredential>,
    pub suspended_tenants: Vec<String>,
    /// Tenants' own routes, which shadow platform routes of the same name.
    pub tenant_routes: HashMap<String, Router>,
    /// Budgets by tenant.
    pub budgets: HashMap<String, Vec<BudgetPolicy>>,
    /// Tenants' cache settings (`settings.cache`), by tenant.
    pub cache: HashMap<String, crate::config::CacheOverrides>,
    /// Tenants' policies (limits, IP allowlist, logging, time zone) by tenant id.
    pub tenants: HashMap<String, Arc<TenantPolicy>>,
    /// Teams' limits by team id (teams without limits are absent).
    pub team_limits: HashMap<String, Limits>,
    /// The policy of a tenant without settings.
    pub default_tenant: Arc<TenantPolicy>,
    /// Tenants' catalogs with their own models (tenants without any are absent).
    pub tenant_catalogs: HashMap<String, Arc<Catalog>>,
}

impl Snapshot {
    /// A tenant's policy (defaults when it has no settings).
    pub fn tenant(&self, id: &str) -> &TenantPolicy {
        self.tenants.get(id).unwrap_or(&self.default_tenant)
    }

    /// Loads the whole snapshot; tenant routes are built over `catalog`.
    pub async fn load(db: &Db, catalog: &Catalog, byok: &Byok) -> Result<Snapshot, StorageError> {
        let tenant_catalogs = super::byok::tenant_catalogs(db, catalog, byok).await?;
        let version = rows::policy_version(db).await?;
        let keys = rows::live_keys(db).await?;
        let tenants = rows::tenant_statuses(db).await?;
        let mut team_limits = HashMap::default();
        let mut teams: HashMap<String, String> = HashMap::default();
        for t in rows::team_names(db).await? {
            match tenant_settings::parse::<TeamSettings>(&t.settings) {
                Ok(s) if !s.limits.is_empty() => {
                    team_limits.insert(t.id.clone(), s.limits);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(team_id = %t.id, error = %e, "unreadable team settings; ignored")
                }
            }
            teams.insert(t.id, t.name);
        }
        let mut pii = crate::policy::pii::levels::Levels::load(db).await?;
        let mut credentials = HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for row in keys {
            let key = Arc::new(KeyPolicy {
                pii: pii.for_key(&row.tenant_id, row.team_id.as_deref(), &row.id),
                key_id: row.id,
                tenant_id: row.tenant_id,
                team_name: row.team_id.as_ref().and_then(|t| teams.get(t).cloned()),
                team_id: row.team_id,
                allowed_models: storage::json_list(&row.allowed_models)?,
                rpm_limit: row.rpm_limit,
                tpm_limit: row.tpm_limit,
                max_concurrent: row.max_concurrent,
                allowed_ips: storage::json_list(&row.allowed_ips)?
                    .iter()
                    .filter_map(|c| c.parse().ok())
                    .collect(),
                allowed_referrers: storage::json_list(&row.allowed_referrers)?
                    .iter()
                    .filter_map(|p| OriginPattern::parse(p))
                    .collect(),
                expires_at: row.expires_at,
                cache: crate::cache::policy::from_json(&row.metadata),
            });
            if let (Some(public_id), Some(hash)) =
                (row.previous_public_id, row.previous_secret_hash)
            {
                credentials.insert(
                    public_id,
                    KeyCredential {
                        secret_hash: hash,
                        valid_until: Some(row.previous_expires_at.unwrap_or(0)),
                        key: key.clone(),
                    },
                );
            }
            credentials.insert(
                row.public_id,
                KeyCredential {
                    secret_hash: row.secret_hash,
                    valid_until: None,
                    key,
                },
            );
        }
        let cache = tenants
            .iter()
            .filter_map(|t| Some((t.id.clone(), crate::cache::policy::from_json(&t.settings)?)))
            .collect();
        let suspended_tenants = tenants
            .iter()
            .filter(|t| t.status != "active")
            .map(|t| t.id.clone())
            .collect();
        let tenant_policies = tenants
            .into_iter()
            .map(|t| {
                let policy = TenantPolicy::from_row(&t.id, &t.timezone, &t.settings);
                (t.id, Arc::new(policy))
            })
            .collect();
        Ok(Snapshot {
            version,
            credentials,
            suspended_tenants,
            tenant_routes: tenant_routes(db, catalog, &tenant_catalogs).await?,
            budgets: budgets(db).await?,
            cache,
            tenants: tenant_policies,
            team_limits,
            default_tenant: Arc::new(TenantPolicy::default()),
            tenant_catalogs,
        })
    }
}

/// Builds each tenant's routes. A stored route that no longer fits the catalog (a model was
/// removed from the configuration) is skipped with a warning rather than failing the reload.
async fn tenant_routes(
    db: &Db,
    platform: &Catalog,
    tenant_catalogs: &HashMap<String, Arc<Catalog>>,
) -> Result<HashMap<String, Router>, StorageError> {
    let mut by_tenant: HashMap<String, Vec<RouteSettings>> = HashMap::default();
    for row in routes::all(db).await? {
        let catalog = tenant_catalogs
            .get(&row.tenant_id)
            .map_or(platform, |c| &**c);
        let names: Vec<&str> = catalog.all().iter().map(|d| d.name.as_str()).collect();
        let parsed = serde_json::from_str::<RouteSettings>(&row.definition)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                validate_routes(std::slice::from_ref(&r), &names)
                    .map(|()| r)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(route) => by_tenant.entry(row.tenant_id).or_default().push(route),
            Err(e) => {
                tracing::warn!(tenant_id = %row.tenant_id, route = %row.name, error = %e, "skipping an unusable tenant route")
            }
        }
    }
    let mut built = HashMap::default();
    for (tenant, routes) in by_tenant {
        let catalog = tenant_catalogs.get(&tenant).map_or(platform, |c| &**c);
        match Router::new(&routes, catalog) {
            Ok(router) => {
                built.insert(tenant, router);
            }
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, "skipping tenant routes");
            }
        }
    }
    Ok(built)
}

async fn budgets(db: &Db) -> Result<HashMap<String, Vec<BudgetPolicy>>, StorageError> {
    let mut by_tenant: HashMap<String, Vec<BudgetPolicy>> = HashMap::default();
    for b in storage::budgets::all(db).await? {
        by_tenant
            .entry(b.tenant_id)
            .or_default()
            .push(BudgetPolicy {
                thresholds: serde_json::from_str(&b.alert_thresholds).unwrap_or_default(),
                id: b.id,
                scope_type: b.scope_type,
                scope_id: b.scope_id,
                period: b.period,
                limit_nusd: b.limit_nusd,
            });
    }
    Ok(by_tenant)
}

/// The shared, atomically swapped snapshot.
#[derive(Clone)]
pub struct PolicyStore {
    current: Arc<ArcSwap<Snapshot>>,
    catalog: Arc<Catalog>,
    byok: Byok,
}

impl PolicyStore {
    /// Loads the first snapshot.
    pub async fn load(db: &Db, catalog: Arc<Catalog>, byok: Byok) -> Result<Self, StorageError> {
        let first = Snapshot::load(db, &catalog, &byok).await?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(first)),
            catalog,
            byok,
        })
    }

    /// The current snapshot.
    pub fn current(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Reloads when the stored version moved; returns whether it did.
    pub async fn refresh(&self, db: &Db) -> Result<bool, StorageError> {
        let stored = rows::policy_version(db).await?;
        if stored == self.current.load().version {
            return Ok(false);
        }
        let next = Snapshot::load(db, &self.catalog, &self.byok).await?;
        tracing::debug!(
            version = next.version,
            keys = next.credentials.len(),
            "policy reloaded"
        );
        self.current.store(Arc::new(next));
        Ok(true)
    }

    /// Polls for changes until the returned task is aborted. A database outage keeps the last
    /// snapshot in service and is logged once per outage.
    pub fn spawn_refresher(&self, db: Db) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut failing = false;
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.refresh(&db).await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("policy refresh recovered");
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "policy refresh failed; serving the last snapshot");
                    }
                    Err(_) => {}
                }
            }
        })
    }
}
