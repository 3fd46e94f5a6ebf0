//! Budgets on a tenant, a team, a key, an end user or a model: set, listed, deleted, audited,
//! and enforced by the data path within one snapshot poll.

use serde_json::json;

use super::{Actor, FieldError};
use crate::domain::budget::BudgetPeriod;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::storage::{Db, StorageError, audit, budgets, change_versions, keys, teams};

/// What a budget applies to, as written on the command line: `tenant`, `team:NAME`, `key:ID`,
/// `user:ID` or `model:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub id: String,
}

/// Why a budget operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("budget not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A budget, for listings.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BudgetSummary {
    pub scope: String,
    pub period: String,
    pub limit_usd: f64,
}

/// Resolves a scope written as `tenant`, `team:NAME`, `key:ID`, `user:ID` or `model:NAME` to the
/// stored (type, id) of this tenant; teams and keys must exist.
pub async fn resolve_scope(db: &Db, tenant: &TenantId, text: &str) -> Result<Scope, BudgetError> {
    let bad = || {
        FieldError::new(
            "scope",
            format!("`{text}`: expected tenant, team:NAME, key:ID, user:ID or model:NAME"),
        )
    };
    let (kind, value) = match text.split_once(':') {
        Some((kind, value)) if !value.trim().is_empty() => (kind.trim(), value.trim()),
        None if text.trim() == "tenant" => ("tenant", tenant.as_str()),
        _ => return Err(bad().into()),
    };
    let id = match kind {
        "tenant" => tenant.to_string(),
        "team" => {
            teams::find_by_name(db, tenant, value)
                .await?
                .ok_or_else(|| FieldError::new("scope", format!("team `{value}` does not exist")))?
                .id
        }
        "key" => {
            keys::find(db, tenant, value)
                .await?
                .ok_or_else(|| FieldError::new("scope", format!("key `{value}` not found")))?
                .id
        }
        "user" | "model" => value.to_owned(),
        _ => return Err(bad().into()),
    };
    Ok(Scope {
        kind: kind.to_owned(),
        id,
    })
}

/// Creates or replaces the budget of a scope and period.
pub async fn set(
    db: &Db,
    tenant: &TenantId,
    scope: &Scope,
    limit: NanoUsd,
    period: BudgetPeriod,
    thresholds: &[u8],
    actor: Actor<'_>,
) -> Result<(), BudgetError> {
    if thresholds.iter().any(|t| *t == 0 || *t > 100) {
        return Err(FieldError::new("alert-at", "thresholds are percentages from 1 to 100").into());
    }
    let now = now_millis();
    let mut tx = db.begin().await?;
    budgets::upsert(
        &mut tx,
        &budgets::NewBudget {
            tenant,
            scope_type: &scope.kind,
            scope_id: &scope.id,
            period: period.as_str(),
            limit_nusd: limit.0,
            alert_thresholds: thresholds,
            now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "budget.set",
            object_type: "budget",
            object_id: Some(&format!("{}:{}:{}", scope.kind, scope.id, period)),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "limit_usd": limit.as_usd(), "period": period.as_str(), "alert_at": thresholds })),
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a budget.
pub async fn delete(
    db: &Db,
    tenant: &TenantId,
    scope: &Scope,
    period: BudgetPeriod,
    actor: Actor<'_>,
) -> Result<(), BudgetError> {
    let now = now_millis();
    let mut tx = db.begin().await?;
    if !budgets::delete(&mut tx, tenant, &scope.kind, &scope.id, period.as_str()).await? {
        return Err(BudgetError::NotFound);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "budget.delete",
            object_type: "budget",
            object_id: Some(&format!("{}:{}:{}", scope.kind, scope.id, period)),
            ip: actor.ip,
            before: None,
            after: None,
        },
    )
    .await?;
    change_versions::bump(&mut tx, change_versions::POLICY, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's budgets.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<BudgetSummary>, BudgetError> {
    Ok(budgets::list(db, tenant)
        .await?
        .into_iter()
        .map(|b| BudgetSummary {
            scope: format!("{}:{}", b.scope_type, b.scope_id),
            period: b.period,
            limit_usd: NanoUsd(b.limit_nusd).as_usd(),
        })
        .collect())
}
