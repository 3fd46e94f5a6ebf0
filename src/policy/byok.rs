//! Tenants' own models on their own provider credentials (BYOK), as the data path sees them: each
//! tenant with models gets a catalog — the platform's models with its own added (shadowing any of
//! the same name) — built at each snapshot load with the credentials opened in memory.

use foldhash::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::config::{ModelSettings, ProviderSettings};
use crate::control_plane::providers;
use crate::crypto::Vault;
use crate::data_plane::catalog::{Catalog, Deployment};
use crate::storage::credentials::SealedCredentialRow;
use crate::storage::tenant_models::{self, ModelWithCredential};
use crate::storage::{Db, StorageError};

/// What opening tenants' credentials needs.
#[derive(Clone, Debug, Default)]
pub struct Byok {
    pub vault: Option<Vault>,
    /// Whether tenants' base URLs may point to internal networks.
    pub allow_private: bool,
}

/// Each tenant's catalog (tenants without models of their own are absent).
pub async fn tenant_catalogs(
    db: &Db,
    platform: &Catalog,
    byok: &Byok,
) -> Result<HashMap<String, Arc<Catalog>>, StorageError> {
    let rows = tenant_models::all_with_credentials(db).await?;
    if rows.is_empty() {
        return Ok(HashMap::default());
    }
    let Some(vault) = &byok.vault else {
        tracing::warn!(
            "tenants have their own models but no master_key is set; they are not served"
        );
        return Ok(HashMap::default());
    };
    let mut by_tenant: HashMap<String, Vec<Arc<Deployment>>> = HashMap::default();
    for row in rows {
        match deployment(db, vault, byok.allow_private, &row).await {
            Ok(d) => by_tenant
                .entry(row.tenant_id.clone())
                .or_default()
                .push(Arc::new(d)),
            Err(why) => tracing::warn!(
                tenant_id = %row.tenant_id,
                model = %row.name,
                error = %why,
                "skipping a tenant model"
            ),
        }
    }
    Ok(by_tenant
        .into_iter()
        .map(|(tenant, deployments)| (tenant, Arc::new(platform.overlay(deployments))))
        .collect())
}

fn usd(nusd: Option<i64>) -> Option<f64> {
    nusd.map(|n| n as f64 / 1e9)
}

async fn deployment(
    db: &Db,
    vault: &Vault,
    allow_private: bool,
    row: &ModelWithCredential,
) -> Result<Deployment, String> {
    let sealed = SealedCredentialRow {
        id: row.credential_id.clone(),
        tenant_id: row.tenant_id.clone(),
        name: row.credential_name.clone(),
        kind: row.kind.clone(),
        base_url: row.base_url.clone(),
        settings: row.credential_settings.clone(),
        secret_ciphertext: row.secret_ciphertext.clone(),
        secret_nonce: row.secret_nonce.clone(),
    };
    let cred = providers::open(db, vault, &sealed)
        .await
        .map_err(|e| e.to_string())?;
    crate::egress::check_url(&cred.base_url, allow_private).map_err(|e| e.to_string())?;
    let settings: serde_json::Value = serde_json::from_str(&row.settings).unwrap_or_default();
    // Built through serde so that fields other features add keep their defaults.
    let provider: ProviderSettings = serde_json::from_value(json!({
        "name": row.credential_name,
        "kind": row.kind,
        "base_url": cred.base_url,
        "api_key": cred.api_key,
        "api_version": cred.api_version,
    }))
    .map_err(|e| e.to_string())?;
    let model: ModelSettings = serde_json::from_value(json!({
        "name": row.name,
        "provider": row.credential_name,
        "upstream": row.upstream,
        "mode": settings["mode"].as_str().unwrap_or("chat"),
        "input_usd_per_mtok": usd(row.input_nusd_per_mtok),
        "output_usd_per_mtok": usd(row.output_nusd_per_mtok),
        "cached_input_usd_per_mtok": usd(row.cached_input_nusd_per_mtok),
        "cache_write_usd_per_mtok": usd(row.cache_write_nusd_per_mtok),
        "request_usd": usd(row.request_nusd),
        "max_output_tokens": row.max_output_tokens,
        "context_window": row.context_window,
        "allow_unpriced": row.allow_unpriced,
    }))
    .map_err(|e| e.to_string())?;
    Ok(Deployment::new(
        &model,
        &provider,
        format!("tenant:{}:{}", row.tenant_id, row.name),
        true,
    ))
}
