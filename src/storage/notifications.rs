//! Dashboard notifications (budget alerts and the like).

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Notifications {
    Table,
    Id,
    TenantId,
    Kind,
    Severity,
    Title,
    Body,
    Data,
    ReadAt,
    CreatedAt,
}

/// A stored notification.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct NotificationRow {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub read_at: Option<EpochMillis>,
    pub created_at: EpochMillis,
}

/// A notification to insert.
#[derive(Debug)]
pub struct NewNotification<'a> {
    pub id: &'a str,
    pub tenant: &'a TenantId,
    pub kind: &'a str,
    pub severity: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    /// Event-specific fields (JSON), if any.
    pub data: Option<&'a serde_json::Value>,
    pub now: EpochMillis,
}

/// Inserts a notification.
pub async fn insert(tx: &mut Tx, n: &NewNotification<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Notifications::Table)
            .columns([
                Notifications::Id,
                Notifications::TenantId,
                Notifications::Kind,
                Notifications::Severity,
                Notifications::Title,
                Notifications::Body,
                Notifications::Data,
                Notifications::CreatedAt,
            ])
            .values([
                n.id.into(),
                n.tenant.into(),
                n.kind.into(),
                n.severity.into(),
                n.title.into(),
                n.body.into(),
                n.data
                    .map_or_else(|| "{}".to_owned(), ToString::to_string)
                    .into(),
                n.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's latest notifications, newest first.
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    unread_only: bool,
    limit: u64,
) -> Result<Vec<NotificationRow>, StorageError> {
    let mut select = Query::select();
    select
        .columns([
            Notifications::Id,
            Notifications::Kind,
            Notifications::Severity,
            Notifications::Title,
            Notifications::Body,
            Notifications::ReadAt,
            Notifications::CreatedAt,
        ])
        .from(Notifications::Table)
        .and_where(Expr::col(Notifications::TenantId).eq(tenant.as_str()))
        .order_by(Notifications::CreatedAt, Order::Desc)
        .order_by(Notifications::Id, Order::Desc)
        .limit(limit);
    if unread_only {
        select.and_where(Expr::col(Notifications::ReadAt).is_null());
    }
    db.fetch_all(&select).await
}

/// Marks one of the tenant's notifications read; returns whether it exists in the tenant.
pub async fn mark_read(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = db
        .execute(
            Query::update()
                .table(Notifications::Table)
                .value(
                    Notifications::ReadAt,
                    Expr::col(Notifications::ReadAt).if_null(now),
                )
                .and_where(Expr::col(Notifications::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Notifications::Id).eq(id)),
        )
        .await?;
    Ok(changed == 1)
}
