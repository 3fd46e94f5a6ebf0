//! Editing a virtual key: name, allowed models, RPM/TPM, IP allowlist, referrers and expiry.
//! Fields left out keep their value; `null` clears a limit or the expiry. The data path sees the
//! change within one snapshot poll.

use std::time::Duration;

use serde_json::json;

use super::keys::KeyError;
use super::{Actor, FieldError, key_policy, tenants::validate_name};
use crate::domain::ids::TenantId;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::storage::{self, Db, audit, change_versions, keys};

/// The changes to apply; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    /// `Some(None)` removes the limit.
    pub rpm: Option<Option<u32>>,
    pub tpm: Option<Option<u32>>,
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_referrers: Option<Vec<String>>,
    /// `Some(None)` removes the expiry; `Some(Some(d))` expires the key `d` from now.
    pub expires_in: Option<Option<Duration>>,
}

fn limit(field: &'static str, value: Option<u32>) -> Result<Option<i64>, FieldError> {
    match value {
        Some(0) => Err(FieldError::new(field, "must be at least 1")),
        other => Ok(other.map(i64::from)),
    }
}

/// Applies the changes to a live key of the tenant, audited with before and after.
pub async fn update(
    db: &Db,
    tenant: &TenantId,
    key_id: &str,
    changes: KeyChanges,
    actor: Actor<'_>,
) -> Result<(), KeyError> {
    let existing = keys::find(db, tenant, key_id)
        .await?
        .ok_or_else(|| KeyError::NotFound(key_id.to_owned()))?;
    if existing.revoked_at.is_some() {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    let now = now_millis();
    let name = match &changes.name {
        Some(n) => validate_name("name", n)?,
        None => existing.name.clone(),
    };
    let models = match &changes.models {
        Some(m) => key_policy::models(m)?,
        None => storage::json_list(&existing.allowed_models)?,
    };
    let ips = match &changes.allowed_ips {
        Some(list) => key_policy::cidrs(list)?,
        None => storage::json_list(&existing.allowed_ips)?,
    };
    let referrers = match &changes.allowed_referrers {
        Some(list) => key_policy::referrers(list)?,
        None => storage::json_list(&existing.allowed_referrers)?,
    };
    let rpm = match changes.rpm {
        Some(v) => limit("rpm", v)?,
        None => existing.rpm_limit,
    };
    let tpm = match changes.tpm {
        Some(v) => limit("tpm", v)?,
        None => existing.tpm_limit,
    };
    let expires_at = match changes.expires_in {
        Some(Some(d)) => Some(
            i64::try_from(d.as_millis())
                .ok()
                .filter(|ms| *ms > 0)
                .and_then(|ms| now.checked_add(ms))
                .ok_or_else(|| FieldError::new("expires-in", "must be a positive duration"))?,
        ),
        Some(None) => None,
        None => existing.expires_at,
    };
    let before = json!({
        "name": existing.name,
        "models": storage::json_list(&existing.allowed_models)?,
        "rpm": existing.rpm_limit,
        "tpm": existing.tpm_limit,
        "allowed_ips": storage::json_list(&existing.allowed_ips)?,
        "allowed_referrers": storage::json_list(&existing.allowed_referrers)?,
        "expires_at": existing.expires_at.map(to_rfc3339),
    });
    let after = json!({
        "name": name,
        "models": models,
        "rpm": rpm,
        "tpm": tpm,
        "allowed_ips": ips,
        "allowed_referrers": referrers,
        "expires_at": expires_at.map(to_rfc3339),
    });
    let mut tx = db.begin().await?;
    let update = keys::KeyUpdate {
        name: &name,
        allowed_models: storage::to_json_list(&models),
        rpm_limit: rpm,
        tpm_limit: tpm,
        allowed_ips: storage::to_json_list(&ips),
        allowed_referrers: storage::to_json_list(&referrers),
        expires_at,
        now,
    };
    if !keys::update(&mut tx, tenant, key_id, &update).await? {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "key.update",
            object_type: "key",
            object_id: Some(key_id),
            ip: actor.ip,
            before: Some(before),
            after: Some(after),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    tracing::info!(key_id, "key updated");
    Ok(())
}
