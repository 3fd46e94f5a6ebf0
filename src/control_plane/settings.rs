//! A tenant's settings and the rate limits of its tenant, teams and models: read, changed in one
//! transaction with an audit entry (before and after), and picked up by the data path within one
//! snapshot poll.

use serde_json::json;

use super::budgets::{BudgetError, resolve_scope};
use super::{Actor, FieldError};
use crate::domain::ids::TenantId;
use crate::domain::tenant_settings::{self, Limits, TeamSettings, TenantSettings};
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, Tx, audit, change_versions, teams, tenants};

/// Why a settings change failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("tenant not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<BudgetError> for SettingsError {
    fn from(e: BudgetError) -> Self {
        match e {
            BudgetError::NotFound => SettingsError::NotFound,
            BudgetError::Invalid(f) => SettingsError::Invalid(f),
            BudgetError::Storage(s) => SettingsError::Storage(s),
        }
    }
}

/// A tenant's settings with its time zone.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TenantView {
    pub timezone: String,
    #[serde(flatten)]
    pub settings: TenantSettings,
}

async fn load(tx: &mut Tx, tenant: &TenantId) -> Result<TenantView, SettingsError> {
    let row = tenants::settings(tx, tenant)
        .await?
        .ok_or(SettingsError::NotFound)?;
    let settings = tenant_settings::parse(&row.settings)
        .map_err(|e| StorageError::Corrupt(format!("tenant settings: {e}")))?;
    Ok(TenantView {
        timezone: row.timezone,
        settings,
    })
}

/// The tenant's settings.
pub async fn show(db: &Db, tenant: &TenantId) -> Result<TenantView, SettingsError> {
    let mut tx = db.begin().await?;
    let view = load(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(view)
}

/// Validates a time zone name (IANA, e.g. `Europe/Paris`).
pub fn timezone(name: &str) -> Result<String, FieldError> {
    name.trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            FieldError::new(
                "timezone",
                format!("`{name}` is not an IANA time zone such as Europe/Paris"),
            )
        })
}

/// Changes the tenant's settings with `change`, audited as `action`.
pub async fn update(
    db: &Db,
    tenant: &TenantId,
    action: &str,
    actor: Actor<'_>,
    change: impl FnOnce(&mut TenantView) -> Result<(), FieldError>,
) -> Result<TenantView, SettingsError> {
    let mut tx = db.begin().await?;
    let before = load(&mut tx, tenant).await?;
    let mut after = before.clone();
    change(&mut after)?;
    if let Some(days) = after.settings.retention_days
        && days == 0
    {
        return Err(FieldError::new("retention-days", "must be at least 1").into());
    }
    let raw =
        serde_json::to_string(&after.settings).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let now = now_millis();
    tenants::update_settings(&mut tx, tenant, &after.timezone, &raw, now).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action,
            object_type: "tenant",
            object_id: Some(tenant.as_str()),
            ip: actor.ip,
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(after)
}

/// Sets (or, with empty `limits`, clears) the limits of `scope`: `tenant`, `team:NAME` or
/// `model:NAME`.
pub async fn set_limits(
    db: &Db,
    tenant: &TenantId,
    scope: &str,
    limits: Limits,
    actor: Actor<'_>,
) -> Result<(), SettingsError> {
    for (field, value) in [
        ("rpm", limits.rpm),
        ("tpm", limits.tpm),
        ("max-concurrent", limits.max_concurrent),
    ] {
        if value == Some(0) {
            return Err(FieldError::new(field, "must be at least 1").into());
        }
    }
    let resolved = resolve_scope(db, tenant, scope).await?;
    match resolved.kind.as_str() {
        "tenant" => {
            update(db, tenant, "limits.set", actor, |v| {
                v.settings.limits = limits;
                Ok(())
            })
            .await?;
        }
        "model" => {
            update(db, tenant, "limits.set", actor, |v| {
                if limits.is_empty() {
                    v.settings.model_limits.remove(&resolved.id);
                } else {
                    v.settings.model_limits.insert(resolved.id.clone(), limits);
                }
                Ok(())
            })
            .await?;
        }
        "team" => set_team_limits(db, tenant, &resolved.id, limits, actor).await?,
        _ => {
            return Err(FieldError::new(
                "scope",
                "limits apply to tenant, team:NAME or model:NAME",
            )
            .into());
        }
    }
    Ok(())
}

async fn set_team_limits(
    db: &Db,
    tenant: &TenantId,
    team: &str,
    limits: Limits,
    actor: Actor<'_>,
) -> Result<(), SettingsError> {
    let mut tx = db.begin().await?;
    let raw = teams::settings(&mut tx, tenant, team)
        .await?
        .ok_or(SettingsError::NotFound)?;
    let mut settings: TeamSettings = tenant_settings::parse(&raw)
        .map_err(|e| StorageError::Corrupt(format!("team settings: {e}")))?;
    let before = settings.limits.clone();
    settings.limits = limits;
    let raw = serde_json::to_string(&settings).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    teams::update_settings(&mut tx, tenant, team, &raw).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "limits.set",
            object_type: "team",
            object_id: Some(team),
            ip: actor.ip,
            before: Some(json!(before)),
            after: Some(json!(settings.limits)),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(timezone("Europe/Paris").unwrap(), "Europe/Paris");
        assert!(timezone("Mars/Olympus").is_err());
    }
}
