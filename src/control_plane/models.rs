//! A tenant's own models: names its keys may call, served by one of its provider credentials
//! (BYOK) with its own prices; they join the platform's models (shadowing any of the same name)
//! within one snapshot poll.

use serde_json::json;

use super::{Actor, FieldError};
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, audit, change_versions, credentials, tenant_models};

/// Why a model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A model to add.
#[derive(Debug, Clone, Default)]
pub struct NewModel {
    pub name: String,
    /// The provider credential's name.
    pub provider: String,
    pub upstream: String,
    /// `chat` (default) or `embedding`.
    pub mode: Option<String>,
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
    pub max_output_tokens: Option<u32>,
    pub allow_unpriced: bool,
}

fn price(field: &'static str, usd: Option<f64>) -> Result<Option<i64>, FieldError> {
    usd.map(|v| {
        if v.is_finite() && v >= 0.0 {
            NanoUsd::parse_usd(&v.to_string())
                .map(|n| n.0)
                .map_err(|e| FieldError::new(field, e.to_string()))
        } else {
            Err(FieldError::new(field, "must be a price of 0 or more"))
        }
    })
    .transpose()
}

/// Creates or replaces one of the tenant's models, audited.
pub async fn set(
    db: &Db,
    tenant: &TenantId,
    new: NewModel,
    actor: Actor<'_>,
) -> Result<(), ModelError> {
    let name = super::tenants::validate_name("name", &new.name)?;
    if new.upstream.trim().is_empty() {
        return Err(FieldError::new("upstream", "must not be empty").into());
    }
    let mode = new.mode.as_deref().unwrap_or("chat");
    if !matches!(mode, "chat" | "embedding") {
        return Err(FieldError::new("mode", "expected chat or embedding").into());
    }
    let cred = credentials::find_sealed(db, tenant, new.provider.trim())
        .await?
        .ok_or_else(|| {
            FieldError::new(
                "provider",
                format!("no provider credential named `{}`", new.provider.trim()),
            )
        })?;
    let input = price("input_usd_per_mtok", new.input_usd_per_mtok)?;
    let output = price("output_usd_per_mtok", new.output_usd_per_mtok)?;
    let now = now_millis();
    let mut tx = db.begin().await?;
    tenant_models::upsert(
        &mut tx,
        &tenant_models::NewModel {
            tenant,
            name: &name,
            credential_id: &cred.id,
            upstream: new.upstream.trim(),
            mode,
            input_nusd_per_mtok: input,
            output_nusd_per_mtok: output,
            max_output_tokens: new.max_output_tokens.map(i64::from),
            allow_unpriced: new.allow_unpriced,
            now,
        },
        &cred.name,
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "model.set",
            object_type: "model",
            object_id: Some(&name),
            ip: actor.ip,
            before: None,
            after: Some(json!({
                "provider": cred.name, "upstream": new.upstream.trim(), "mode": mode,
                "input_usd_per_mtok": new.input_usd_per_mtok,
                "output_usd_per_mtok": new.output_usd_per_mtok,
                "allow_unpriced": new.allow_unpriced,
            })),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's models.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<tenant_models::ModelRow>, ModelError> {
    Ok(tenant_models::list(db, tenant).await?)
}

/// Removes one of the tenant's models, audited.
pub async fn remove(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    actor: Actor<'_>,
) -> Result<(), ModelError> {
    let mut tx = db.begin().await?;
    if !tenant_models::remove(&mut tx, tenant, name).await? {
        return Err(ModelError::NotFound);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "model.delete",
            object_type: "model",
            object_id: Some(name),
            ip: actor.ip,
            before: None,
            after: None,
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now_millis()).await?;
    tx.commit().await?;
    Ok(())
}
