//! Budgets on a tenant, team, key, end user or model.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{BudgetId, TenantId};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Budgets {
    Table,
    Id,
    TenantId,
    ScopeType,
    ScopeId,
    Period,
    LimitNusd,
    AlertThresholds,
    CreatedAt,
    UpdatedAt,
}

/// A budget to insert.
#[derive(Debug)]
pub struct NewBudget<'a> {
    pub tenant: &'a TenantId,
    /// `tenant`, `team`, `key`, `user` or `model`.
    pub scope_type: &'a str,
    pub scope_id: &'a str,
    /// `daily`, `weekly`, `monthly` or `total`.
    pub period: &'a str,
    pub limit_nusd: i64,
    /// Alert thresholds in percent of the limit.
    pub alert_thresholds: &'a [u8],
    pub now: EpochMillis,
}

/// A stored budget.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BudgetRow {
    pub id: String,
    pub tenant_id: String,
    pub scope_type: String,
    pub scope_id: String,
    pub period: String,
    pub limit_nusd: i64,
    /// JSON array of alert thresholds in percent.
    pub alert_thresholds: String,
}

/// Creates or replaces the budget of a scope and period.
pub async fn upsert(tx: &mut Tx, budget: &NewBudget<'_>) -> Result<(), StorageError> {
    let thresholds = serde_json::Value::from(budget.alert_thresholds.to_vec()).to_string();
    tx.execute(
        Query::insert()
            .into_table(Budgets::Table)
            .columns([
                Budgets::Id,
                Budgets::TenantId,
                Budgets::ScopeType,
                Budgets::ScopeId,
                Budgets::Period,
                Budgets::LimitNusd,
                Budgets::AlertThresholds,
                Budgets::CreatedAt,
                Budgets::UpdatedAt,
            ])
            .values([
                BudgetId::generate().into(),
                budget.tenant.into(),
                budget.scope_type.into(),
                budget.scope_id.into(),
                budget.period.into(),
                budget.limit_nusd.into(),
                thresholds.into(),
                budget.now.into(),
                budget.now.into(),
            ])?
            .on_conflict(
                sea_query::OnConflict::columns([
                    Budgets::TenantId,
                    Budgets::ScopeType,
                    Budgets::ScopeId,
                    Budgets::Period,
                ])
                .update_columns([
                    Budgets::LimitNusd,
                    Budgets::AlertThresholds,
                    Budgets::UpdatedAt,
                ])
                .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Deletes a budget; returns whether it existed.
pub async fn delete(
    tx: &mut Tx,
    tenant: &TenantId,
    scope_type: &str,
    scope_id: &str,
    period: &str,
) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(Budgets::Table)
                .and_where(Expr::col(Budgets::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Budgets::ScopeType).eq(scope_type))
                .and_where(Expr::col(Budgets::ScopeId).eq(scope_id))
                .and_where(Expr::col(Budgets::Period).eq(period)),
        )
        .await?;
    Ok(n == 1)
}

/// The tenant's budgets.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<BudgetRow>, StorageError> {
    Ok(all(db)
        .await?
        .into_iter()
        .filter(|b| b.tenant_id == tenant.as_str())
        .collect())
}

/// The tenant's budgets of one scope type (e.g. every key budget).
pub async fn list_for_scope_type(
    db: &Db,
    tenant: &TenantId,
    scope_type: &str,
) -> Result<Vec<BudgetRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                Budgets::Id,
                Budgets::TenantId,
                Budgets::ScopeType,
                Budgets::ScopeId,
                Budgets::Period,
                Budgets::LimitNusd,
                Budgets::AlertThresholds,
            ])
            .from(Budgets::Table)
            .and_where(Expr::col(Budgets::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Budgets::ScopeType).eq(scope_type)),
    )
    .await
}

/// Every budget (for the data-path snapshot).
pub async fn all(db: &Db) -> Result<Vec<BudgetRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                Budgets::Id,
                Budgets::TenantId,
                Budgets::ScopeType,
                Budgets::ScopeId,
                Budgets::Period,
                Budgets::LimitNusd,
                Budgets::AlertThresholds,
            ])
            .from(Budgets::Table),
    )
    .await
}
