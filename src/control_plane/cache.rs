//! Cache settings of a tenant (`tenants.settings.cache`) or of one of its keys
//! (`virtual_keys.metadata.cache`): set (merged into what is there), shown, audited, and applied by
//! the data path within one snapshot poll.

use serde_json::{Map, Value, json};

use super::{Actor, FieldError};
use crate::config::CacheOverrides;
use crate::domain::ids::TenantId;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, audit, cache_settings, change_versions};

/// Why a cache-settings operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheSettingsError {
    #[error("key not found")]
    KeyNotFound,
    #[error("tenant not found")]
    TenantNotFound,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The cache settings of a tenant and of its keys that have their own.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheView {
    pub tenant: CacheOverrides,
    pub keys: Vec<KeyCache>,
}

/// One key's cache settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyCache {
    pub key_id: String,
    pub cache: CacheOverrides,
}

fn document(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn merged(doc: &mut Map<String, Value>, change: &CacheOverrides) -> CacheOverrides {
    let current: CacheOverrides = doc
        .get("cache")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let next = current.then(change);
    doc.insert(
        "cache".into(),
        serde_json::to_value(&next).unwrap_or_else(|_| json!({})),
    );
    next
}

/// Merges `change` into the cache settings of the tenant, or of its key `key_id`; returns the
/// resulting settings.
pub async fn set(
    db: &Db,
    tenant: &TenantId,
    key_id: Option<&str>,
    change: &CacheOverrides,
    actor: Actor<'_>,
) -> Result<CacheOverrides, CacheSettingsError> {
    if let Some(t) = change.threshold
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(FieldError::new("threshold", "a cosine similarity in (0, 1]").into());
    }
    let now = now_millis();
    let mut tx = db.begin().await?;
    let before = match key_id {
        Some(key) => cache_settings::key_metadata(&mut tx, tenant, key)
            .await?
            .ok_or(CacheSettingsError::KeyNotFound)?,
        None => cache_settings::tenant_settings(&mut tx, tenant)
            .await?
            .ok_or(CacheSettingsError::TenantNotFound)?,
    };
    let mut doc = document(&before);
    let next = merged(&mut doc, change);
    let text = Value::Object(doc).to_string();
    match key_id {
        Some(key) => cache_settings::set_key_metadata(&mut tx, tenant, key, &text, now).await?,
        None => cache_settings::set_tenant_settings(&mut tx, tenant, &text, now).await?,
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "cache.set",
            object_type: if key_id.is_some() { "key" } else { "tenant" },
            object_id: Some(key_id.unwrap_or(tenant.as_str())),
            ip: actor.ip,
            before: None,
            after: serde_json::to_value(&next).ok(),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(next)
}

/// The tenant's cache settings and those of its live keys that have their own.
pub async fn show(db: &Db, tenant: &TenantId) -> Result<CacheView, CacheSettingsError> {
    let mut tx = db.begin().await?;
    let settings = cache_settings::tenant_settings(&mut tx, tenant)
        .await?
        .ok_or(CacheSettingsError::TenantNotFound)?;
    tx.commit().await?;
    let keys = cache_settings::keys_metadata(db, tenant)
        .await?
        .into_iter()
        .filter_map(|k| {
            Some(KeyCache {
                cache: crate::cache::policy::from_json(&k.metadata)?,
                key_id: k.id,
            })
        })
        .collect();
    Ok(CacheView {
        tenant: crate::cache::policy::from_json(&settings).unwrap_or_default(),
        keys,
    })
}
