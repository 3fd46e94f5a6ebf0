//! Tenant routes: a route definition (the same shape as `[[routes]]`, stored as JSON) per name.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Routes {
    Table,
    Id,
    TenantId,
    Name,
    Strategy,
    Definition,
    CreatedAt,
    UpdatedAt,
}

/// A stored route.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RouteRow {
    pub tenant_id: String,
    pub name: String,
    pub strategy: String,
    /// The route as JSON.
    pub definition: String,
    pub updated_at: EpochMillis,
}

const COLUMNS: [Routes; 5] = [
    Routes::TenantId,
    Routes::Name,
    Routes::Strategy,
    Routes::Definition,
    Routes::UpdatedAt,
];

/// Creates or replaces the tenant's route `name`.
pub async fn upsert(
    tx: &mut Tx,
    tenant: &TenantId,
    name: &str,
    strategy: &str,
    definition: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Routes::Table)
            .columns([
                Routes::Id,
                Routes::TenantId,
                Routes::Name,
                Routes::Strategy,
                Routes::Definition,
                Routes::CreatedAt,
                Routes::UpdatedAt,
            ])
            .values([
                format!("rte_{}", uuid::Uuid::now_v7().simple()).into(),
                tenant.into(),
                name.into(),
                strategy.into(),
                definition.into(),
                now.into(),
                now.into(),
            ])?
            .on_conflict(
                OnConflict::columns([Routes::TenantId, Routes::Name])
                    .update_columns([Routes::Strategy, Routes::Definition, Routes::UpdatedAt])
                    .to_owned(),
            ),
    )
    .await?;
    Ok(())
}

/// Deletes the tenant's route `name`; returns whether it existed.
pub async fn delete(tx: &mut Tx, tenant: &TenantId, name: &str) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(Routes::Table)
                .and_where(Expr::col(Routes::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Routes::Name).eq(name)),
        )
        .await?;
    Ok(n == 1)
}

/// The tenant's routes by name.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<RouteRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(COLUMNS)
            .from(Routes::Table)
            .and_where(Expr::col(Routes::TenantId).eq(tenant.as_str()))
            .order_by(Routes::Name, Order::Asc),
    )
    .await
}

/// Every tenant's routes (for the data-path snapshot).
pub async fn all(db: &Db) -> Result<Vec<RouteRow>, StorageError> {
    db.fetch_all(Query::select().columns(COLUMNS).from(Routes::Table))
        .await
}
