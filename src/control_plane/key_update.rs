//! Editing a virtual key: name, allowed models, RPM/TPM, requests in flight, budget, IP
//! allowlist, referrers and expiry. Fields left out keep their value; `null` clears a limit, the
//! budget or the expiry. The data path sees the change within one snapshot poll.

use std::time::Duration;

use serde_json::json;

use super::keys::KeyError;
use super::{Actor, FieldError, key_policy, tenants::validate_name};
use crate::domain::budget::BudgetPeriod;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::storage::{self, Db, audit, budgets, change_versions, keys};

/// Alert thresholds (percent) of a budget first set by editing a key.
const DEFAULT_ALERT_THRESHOLDS: [u8; 3] = [50, 80, 100];

/// The changes to apply; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    /// `Some(None)` removes the limit.
    pub rpm: Option<Option<u32>>,
    pub tpm: Option<Option<u32>>,
    /// Requests in flight at once; `Some(None)` removes the limit.
    pub max_concurrent: Option<Option<u32>>,
    /// The key's budget (the one listings show): `Some(None)` removes it; a new period
    /// replaces the shown budget's period. Budgets of other periods are left alone.
    pub budget: Option<Option<(NanoUsd, BudgetPeriod)>>,
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
    let max_concurrent = match changes.max_concurrent {
        Some(v) => limit("max-concurrent", v)?,
        None => existing.max_concurrent,
    };
    // The budget listings show for this key (the first of its key-scoped budgets).
    let shown_budget = budgets::list_for_scope_type(db, tenant, "key")
        .await?
        .into_iter()
        .find(|b| b.scope_id == existing.id);
    if let Some(Some((amount, _))) = changes.budget
        && amount.0 <= 0
    {
        return Err(FieldError::new("budget-usd", "must be more than 0").into());
    }
    let budget_json = |b: Option<(i64, &str)>| {
        b.map(|(nusd, period)| json!({ "limit_usd": NanoUsd(nusd).as_usd(), "period": period }))
    };
    let budget_before = budget_json(
        shown_budget
            .as_ref()
            .map(|b| (b.limit_nusd, b.period.as_str())),
    );
    let budget_after = match changes.budget {
        Some(new) => budget_json(new.map(|(amount, period)| (amount.0, period.as_str()))),
        None => budget_before.clone(),
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
        "max_concurrent": existing.max_concurrent,
        "budget": budget_before,
        "allowed_ips": storage::json_list(&existing.allowed_ips)?,
        "allowed_referrers": storage::json_list(&existing.allowed_referrers)?,
        "expires_at": existing.expires_at.map(to_rfc3339),
    });
    let after = json!({
        "name": name,
        "models": models,
        "rpm": rpm,
        "tpm": tpm,
        "max_concurrent": max_concurrent,
        "budget": budget_after,
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
        max_concurrent,
        allowed_ips: storage::to_json_list(&ips),
        allowed_referrers: storage::to_json_list(&referrers),
        expires_at,
        now,
    };
    if !keys::update(&mut tx, tenant, key_id, &update).await? {
        return Err(KeyError::Revoked(key_id.to_owned()));
    }
    if let Some(new) = changes.budget {
        replace_budget(&mut tx, tenant, key_id, shown_budget.as_ref(), new, now).await?;
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

/// Replaces the key's shown budget with `new` (or removes it), keeping its alert thresholds.
async fn replace_budget(
    tx: &mut storage::Tx,
    tenant: &TenantId,
    key_id: &str,
    shown: Option<&budgets::BudgetRow>,
    new: Option<(NanoUsd, BudgetPeriod)>,
    now: i64,
) -> Result<(), KeyError> {
    let thresholds: Vec<u8> = shown
        .and_then(|b| serde_json::from_str(&b.alert_thresholds).ok())
        .unwrap_or_else(|| DEFAULT_ALERT_THRESHOLDS.to_vec());
    if let Some(old) = shown
        && new.is_none_or(|(_, period)| period.as_str() != old.period)
    {
        budgets::delete(tx, tenant, "key", key_id, &old.period).await?;
    }
    if let Some((amount, period)) = new {
        budgets::upsert(
            tx,
            &budgets::NewBudget {
                tenant,
                scope_type: "key",
                scope_id: key_id,
                period: period.as_str(),
                limit_nusd: amount.0,
                alert_thresholds: &thresholds,
                now,
            },
        )
        .await?;
    }
    Ok(())
}
