//! Tenants (organisations).

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
pub(crate) enum Tenants {
    Table,
    Id,
    Name,
    Status,
    Timezone,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CreditBalances {
    Table,
    TenantId,
    BalanceNusd,
    UpdatedAt,
}

/// A stored tenant.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created_at: EpochMillis,
}

const COLUMNS: [Tenants; 4] = [
    Tenants::Id,
    Tenants::Name,
    Tenants::Status,
    Tenants::CreatedAt,
];

/// Inserts a tenant and its (empty) credit balance. Fails with a unique violation when the name
/// is taken.
pub async fn insert(
    tx: &mut Tx,
    id: &TenantId,
    name: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Tenants::Table)
            .columns([
                Tenants::Id,
                Tenants::Name,
                Tenants::Status,
                Tenants::Timezone,
                Tenants::Settings,
                Tenants::CreatedAt,
                Tenants::UpdatedAt,
            ])
            .values([
                id.into(),
                name.into(),
                "active".into(),
                "UTC".into(),
                "{}".into(),
                now.into(),
                now.into(),
            ])?,
    )
    .await?;
    tx.execute(
        Query::insert()
            .into_table(CreditBalances::Table)
            .columns([
                CreditBalances::TenantId,
                CreditBalances::BalanceNusd,
                CreditBalances::UpdatedAt,
            ])
            .values([id.into(), 0i64.into(), now.into()])?,
    )
    .await?;
    Ok(())
}

/// Finds a tenant by its unique name.
pub async fn find_by_name(db: &Db, name: &str) -> Result<Option<TenantRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(Tenants::Table)
            .and_where(Expr::col(Tenants::Name).eq(name)),
    )
    .await
}

/// All tenants, oldest first (platform administration).
pub async fn list(db: &Db) -> Result<Vec<TenantRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(COLUMNS)
            .from(Tenants::Table)
            .order_by(Tenants::CreatedAt, Order::Asc),
    )
    .await
}

/// A tenant's time zone and raw settings JSON.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TenantSettingsRow {
    pub timezone: String,
    pub settings: String,
}

/// Reads a tenant's settings inside a transaction (to change them).
pub async fn settings(
    tx: &mut Tx,
    tenant: &TenantId,
) -> Result<Option<TenantSettingsRow>, StorageError> {
    tx.fetch_optional(
        Query::select()
            .columns([Tenants::Timezone, Tenants::Settings])
            .from(Tenants::Table)
            .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
    )
    .await
}

/// A tenant's settings JSON, outside a transaction (checked on every session request).
pub async fn settings_json(db: &Db, tenant_id: &str) -> Result<Option<String>, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        settings: String,
    }
    let row: Option<Row> = db
        .fetch_optional(
            Query::select()
                .column(Tenants::Settings)
                .from(Tenants::Table)
                .and_where(Expr::col(Tenants::Id).eq(tenant_id)),
        )
        .await?;
    Ok(row.map(|r| r.settings))
}

/// Replaces a tenant's time zone and settings JSON.
pub async fn update_settings(
    tx: &mut Tx,
    tenant: &TenantId,
    timezone: &str,
    settings: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(Tenants::Table)
            .value(Tenants::Timezone, timezone)
            .value(Tenants::Settings, settings)
            .value(Tenants::UpdatedAt, now)
            .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
    )
    .await?;
    Ok(())
}

/// A tenant by id.
pub async fn find(db: &Db, id: &str) -> Result<Option<TenantRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(Tenants::Table)
            .and_where(Expr::col(Tenants::Id).eq(id)),
    )
    .await
}

/// Sets a tenant's status (`active` or `suspended`); returns whether the tenant exists.
pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    status: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(Tenants::Table)
                .value(Tenants::Status, status)
                .value(Tenants::UpdatedAt, now)
                .and_where(Expr::col(Tenants::Id).eq(id)),
        )
        .await?;
    Ok(changed == 1)
}
