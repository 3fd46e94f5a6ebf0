//! The in-memory policy snapshot: live keys by public id and tenant status. It is built whole
//! from the database and swapped atomically; a background task polls the policy version and
//! reloads on change, so revocations reach every replica within one poll interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::domain::time::EpochMillis;
use crate::storage::{self, Db, StorageError, snapshot as rows};

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
    pub allowed_ips: Vec<String>,
    pub allowed_referrers: Vec<String>,
    pub expires_at: Option<EpochMillis>,
}

impl KeyPolicy {
    /// Whether the key may use `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }
}

/// The policy state at one version.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub version: i64,
    pub credentials: HashMap<String, KeyCredential>,
    pub suspended_tenants: Vec<String>,
}

impl Snapshot {
    /// Loads the whole snapshot.
    pub async fn load(db: &Db) -> Result<Snapshot, StorageError> {
        let version = rows::policy_version(db).await?;
        let keys = rows::live_keys(db).await?;
        let tenants = rows::tenant_statuses(db).await?;
        let teams: HashMap<String, String> = rows::team_names(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        let mut credentials = HashMap::with_capacity(keys.len());
        for row in keys {
            let key = Arc::new(KeyPolicy {
                key_id: row.id,
                tenant_id: row.tenant_id,
                team_name: row.team_id.as_ref().and_then(|t| teams.get(t).cloned()),
                team_id: row.team_id,
                allowed_models: storage::json_list(&row.allowed_models)?,
                rpm_limit: row.rpm_limit,
                tpm_limit: row.tpm_limit,
                max_concurrent: row.max_concurrent,
                allowed_ips: storage::json_list(&row.allowed_ips)?,
                allowed_referrers: storage::json_list(&row.allowed_referrers)?,
                expires_at: row.expires_at,
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
        let suspended_tenants = tenants
            .into_iter()
            .filter(|t| t.status != "active")
            .map(|t| t.id)
            .collect();
        Ok(Snapshot {
            version,
            credentials,
            suspended_tenants,
        })
    }
}

/// The shared, atomically swapped snapshot.
#[derive(Clone)]
pub struct PolicyStore(Arc<ArcSwap<Snapshot>>);

impl PolicyStore {
    /// Loads the first snapshot.
    pub async fn load(db: &Db) -> Result<Self, StorageError> {
        Ok(Self(Arc::new(ArcSwap::from_pointee(
            Snapshot::load(db).await?,
        ))))
    }

    /// The current snapshot.
    pub fn current(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.0.load()
    }

    /// Reloads when the stored version moved; returns whether it did.
    pub async fn refresh(&self, db: &Db) -> Result<bool, StorageError> {
        let stored = rows::policy_version(db).await?;
        if stored == self.0.load().version {
            return Ok(false);
        }
        let next = Snapshot::load(db).await?;
        tracing::debug!(
            version = next.version,
            keys = next.credentials.len(),
            "policy reloaded"
        );
        self.0.store(Arc::new(next));
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
