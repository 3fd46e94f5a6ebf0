//! Virtual keys: mint, list, revoke and rotate. A key's secret is returned once, at creation or
//! rotation, and only its hash is stored.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{Actor, FieldError, key_policy, tenants::validate_name};
use crate::domain::api_key::{self, KEY_PREFIX};
use crate::domain::budget::BudgetPeriod;
use crate::domain::ids::{KeyId, TenantId};
use crate::domain::money::NanoUsd;
use crate::domain::time::{EpochMillis, now_millis, to_rfc3339};
use crate::storage::{self, Db, StorageError, audit, budgets, change_versions, keys, teams};

/// Budget alert thresholds (percent) for budgets created with a key.
const DEFAULT_ALERT_THRESHOLDS: [u8; 3] = [50, 80, 100];

/// What a new key may do. Enforcement of limits lands with the governance features; every field is
/// validated and stored now.
#[derive(Debug, Default, Clone)]
pub struct KeySpec {
    pub name: Option<String>,
    pub team: Option<String>,
    pub models: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
    pub budget: Option<NanoUsd>,
    pub budget_period: BudgetPeriod,
    pub allowed_ips: Vec<String>,
    pub allowed_referrers: Vec<String>,
    pub expires_in: Option<Duration>,
}

/// A key as shown in listings (never with its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeySummary {
    pub id: String,
    pub name: String,
    /// The displayable, non-secret form: `sy_live_<public id>_…<last 4>`.
    pub display: String,
    pub team: Option<String>,
    pub status: KeyStatus,
    pub models: Vec<String>,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub budget_usd: Option<f64>,
    pub budget_period: Option<String>,
    pub allowed_ips: Vec<String>,
    pub allowed_referrers: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub previous_secret_expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A key's state at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

/// A newly issued secret: shown once.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    pub id: String,
    /// The whole secret key.
    pub key: String,
    pub name: String,
    pub display: String,
    pub tenant_id: String,
    pub team: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// For a rotation: when the old secret stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("team `{0}` does not exist in this tenant")]
    TeamNotFound(String),
    #[error("key `{0}` not found")]
    NotFound(String),
    #[error("key `{0}` is revoked")]
    Revoked(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn display(public_id: &str, last4: &str) -> String {
    format!("{KEY_PREFIX}{public_id}_…{last4}")
}

fn millis_after(
    now: EpochMillis,
    d: Duration,
    field: &'static str,
) -> Result<EpochMillis, FieldError> {
    i64::try_from(d.as_millis())
        .ok()
        .and_then(|ms| now.checked_add(ms))
        .filter(|_| !d.is_zero())
        .ok_or_else(|| FieldError::new(field, "must be a positive duration such as 30d or 12h"))
}

/// Mints a key for the tenant.
pub async fn create(
    db: &Db,
    tenant: &TenantId,
    spec: KeySpec,
    actor: Actor<'_>,
) -> Result<IssuedKey, KeyError> {
    let now = now_millis();
    let name = match &spec.name {
        Some(n) => validate_name("name", n)?,
        None => format!("key-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")),
    };
    let models = key_policy::models(&spec.models)?;
    let ips = key_policy::cidrs(&spec.allowed_ips)?;
    let referrers = key_policy::referrers(&spec.allowed_referrers)?;
    for (field, value) in [
        ("rpm", spec.rpm),
        ("tpm", spec.tpm),
        ("max-concurrent", spec.max_concurrent),
    ] {
        if value == Some(0) {
            return Err(FieldError::new(field, "must be at least 1").into());
        }
    }
    let expires_at = spec
        .expires_in
        .map(|d| millis_after(now, d, "expires-in"))
        .transpose()?;
    let team = match &spec.team {
        Some(team_name) => Some(
            teams::find_by_name(db, tenant, team_name.trim())
                .await?
                .ok_or_else(|| KeyError::TeamNotFound(team_name.trim().to_owned()))?,
        ),
        None => None,
    };

    let minted = api_key::mint();
    let id = KeyId::generate();
    let mut tx = db.begin().await?;
    keys::insert(
        &mut tx,
        &keys::NewKey {
            id: &id,
            tenant,
            team_id: team.as_ref().map(|t| t.id.as_str()),
            name: &name,
            public_id: &minted.public_id,
            secret_hash: &minted.hash,
            last4: &minted.last4,
            allowed_models: storage::to_json_list(&models),
            rpm_limit: spec.rpm.map(i64::from),
            tpm_limit: spec.tpm.map(i64::from),
            max_concurrent: spec.max_concurrent.map(i64::from),
            allowed_ips: storage::to_json_list(&ips),
            allowed_referrers: storage::to_json_list(&referrers),
            expires_at,
            created_by: actor.label,
            now,
        },
    )
    .await?;
    if let Some(limit) = spec.budget {
        budgets::upsert(
            &mut tx,
            &budgets::NewBudget {
                tenant,
                scope_type: "key",
                scope_id: id.as_str(),
                period: spec.budget_period.as_str(),
                limit_nusd: limit.0,
                alert_thresholds: &DEFAULT_ALERT_THRESHOLDS,
                now,
            },
        )
        .await?;
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "key.create",
            object_type: "key",
            object_id: Some(id.as_str()),
            ip: actor.ip,
            before: None,
            after: Some(json!({
                "name": name,
                "display": display(&minted.public_id, &minted.last4),
                "team": team.as_ref().map(|t| &t.name),
                "models": models,
                "rpm": spec.rpm,
                "tpm": spec.tpm,
                "max_concurrent": spec.max_concurrent,
                "budget_usd": spec.budget.map(NanoUsd::as_usd),
                "budget_period": spec.budget.map(|_| spec.budget_period.as_str()),
                "allowed_ips": ips,
                "allowed_referrers": referrers,
                "expires_at": expires_at.map(to_rfc3339),
            })),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    tracing::info!(key_id = %id, public_id = %minted.public_id, "key created");

    Ok(IssuedKey {
        id: id.to_string(),
        display: display(&minted.public_id, &minted.last4),
        key: minted.secret,
        name,
        tenant_id: tenant.to_string(),
        team: team.map(|t| t.name),
        created_at: to_rfc3339(now),
        expires_at: expires_at.map(to_rfc3339),
        previous_secret_expires_at: None,
    })
}

/// The tenant's keys, newest first.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<KeySummary>, KeyError> {
    let rows = keys::list(db, tenant).await?;
    let team_names = teams::names(db, tenant).await?;
    let key_budgets = budgets::list_for_scope_type(db, tenant, "key").await?;
    let now = now_millis();
    rows.into_iter()
        .map(|row| {
            let team = row
                .team_id
                .as_ref()
                .and_then(|id| team_names.iter().find(|t| &t.id == id))
                .map(|t| t.name.clone());
            let budget = key_budgets.iter().find(|b| b.scope_id == row.id);
            summarize(row, team, budget, now)
        })
        .collect()
}

fn summarize(
    row: keys::KeyRow,
    team: Option<String>,
    budget: Option<&budgets::BudgetRow>,
    now: EpochMillis,
) -> Result<KeySummary, KeyError> {
    let status = if row.revoked_at.is_some() {
        KeyStatus::Revoked
    } else if row.expires_at.is_some_and(|e| e <= now) {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    };
    Ok(KeySummary {
        display: display(&row.public_id, &row.last4),
        models: storage::json_list(&row.allowed_models)?,
        allowed_ips: storage::json_list(&row.allowed_ips)?,
        allowed_referrers: storage::json_list(&row.allowed_referrers)?,
        budget_usd: budget.map(|b| NanoUsd(b.limit_nusd).as_usd()),
        budget_period: budget.map(|b| b.period.clone()),
        created_at: to_rfc3339(row.created_at),
        expires_at: row.expires_at.map(to_rfc3339),
        previous_secret_expires_at: row.previous_expires_at.filter(|e| *e > now).map(to_rfc3339),
        last_used_at: row.last_used_at.map(to_rfc3339),
        id: row.id,
        name: row.name,
        team,
        status,
        rpm: row.rpm_limit,
        tpm: row.tpm_limit,
        max_concurrent: row.max_concurrent,
    })
}

/// Revokes a key at once.
pub async fn revoke(
    db: &Db,
    tenant: &TenantId,
    key_id: &str,
    actor: Actor<'_>,
) -> Result<(), KeyError> {
    let existing = keys::find(db, tenant, key_id)
        .await?
        .ok_or_else(|| KeyError::NotFound(key_id.to_owned()))?;
    let now = now_millis();
    let mut tx = db.begin().await?;
    if !keys::revoke(&mut tx, tenant, key_id, now).await? {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "key.revoke",
            object_type: "key",
            object_id: Some(key_id),
            ip: actor.ip,
            before: Some(json!({ "status": "active", "name": existing.name })),
            after: Some(json!({ "status": "revoked", "revoked_at": to_rfc3339(now) })),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    tracing::info!(key_id, "key revoked");
    Ok(())
}

/// Issues a new secret for a key; the old secret keeps working for `grace`.
pub async fn rotate(
    db: &Db,
    tenant: &TenantId,
    key_id: &str,
    grace: Duration,
    actor: Actor<'_>,
) -> Result<IssuedKey, KeyError> {
    let existing = keys::find(db, tenant, key_id)
        .await?
        .ok_or_else(|| KeyError::NotFound(key_id.to_owned()))?;
    if existing.revoked_at.is_some() {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    let now = now_millis();
    let grace_ms =
        i64::try_from(grace.as_millis()).map_err(|_| FieldError::new("grace", "is too long"))?;
    let previous_expires_at = now.saturating_add(grace_ms);
    let minted = api_key::mint();
    let mut tx = db.begin().await?;
    let rotation = keys::Rotation {
        public_id: &minted.public_id,
        secret_hash: &minted.hash,
        last4: &minted.last4,
        previous_expires_at,
        now,
    };
    if !keys::rotate(&mut tx, tenant, key_id, &rotation).await? {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "key.rotate",
            object_type: "key",
            object_id: Some(key_id),
            ip: actor.ip,
            before: Some(json!({ "display": display(&existing.public_id, &existing.last4) })),
            after: Some(json!({
                "display": display(&minted.public_id, &minted.last4),
                "previous_secret_expires_at": to_rfc3339(previous_expires_at),
            })),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    tracing::info!(key_id, public_id = %minted.public_id, "key rotated");

    let team = match &existing.team_id {
        Some(id) => teams::names(db, tenant)
            .await?
            .into_iter()
            .find(|t| &t.id == id)
            .map(|t| t.name),
        None => None,
    };
    Ok(IssuedKey {
        id: existing.id,
        display: display(&minted.public_id, &minted.last4),
        key: minted.secret,
        name: existing.name,
        tenant_id: tenant.to_string(),
        team,
        created_at: to_rfc3339(existing.created_at),
        expires_at: existing.expires_at.map(to_rfc3339),
        previous_secret_expires_at: Some(to_rfc3339(previous_expires_at)),
    })
}
