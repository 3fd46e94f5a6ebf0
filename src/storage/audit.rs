//! The append-only audit trail of administrative actions.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{AuditId, TenantId};
use crate::domain::time::{EpochMillis, now_millis};

#[derive(Iden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    ActorUserId,
    Actor,
    Action,
    ObjectType,
    ObjectId,
    Ip,
    BeforeState,
    AfterState,
    CreatedAt,
}

/// One administrative action. `before` and `after` must already have secrets masked.
#[derive(Debug, Default)]
pub struct AuditEntry<'a> {
    pub tenant: Option<&'a TenantId>,
    pub actor_user_id: Option<&'a str>,
    /// Who acted, for display: an email, `cli`, or an API token name.
    pub actor: &'a str,
    /// A dotted verb such as `key.create`.
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A stored audit entry.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub created_at: EpochMillis,
}

/// Appends an entry inside the transaction that makes the change, so both land or neither.
pub async fn record(tx: &mut Tx, entry: AuditEntry<'_>) -> Result<(), StorageError> {
    let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
    tx.execute(
        Query::insert()
            .into_table(AuditLog::Table)
            .columns([
                AuditLog::Id,
                AuditLog::TenantId,
                AuditLog::ActorUserId,
                AuditLog::Actor,
                AuditLog::Action,
                AuditLog::ObjectType,
                AuditLog::ObjectId,
                AuditLog::Ip,
                AuditLog::BeforeState,
                AuditLog::AfterState,
                AuditLog::CreatedAt,
            ])
            .values([
                AuditId::generate().into(),
                entry.tenant.map(|t| t.as_str().to_owned()).into(),
                entry.actor_user_id.map(str::to_owned).into(),
                entry.actor.into(),
                entry.action.into(),
                entry.object_type.into(),
                entry.object_id.map(str::to_owned).into(),
                entry.ip.map(str::to_owned).into(),
                json(entry.before).into(),
                json(entry.after).into(),
                now_millis().into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's most recent entries, newest first.
pub async fn recent(db: &Db, tenant: &TenantId, limit: u64) -> Result<Vec<AuditRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                AuditLog::Id,
                AuditLog::Actor,
                AuditLog::Action,
                AuditLog::ObjectType,
                AuditLog::ObjectId,
                AuditLog::CreatedAt,
            ])
            .from(AuditLog::Table)
            .and_where(Expr::col(AuditLog::TenantId).eq(tenant.as_str()))
            .order_by(AuditLog::CreatedAt, Order::Desc)
            .order_by(AuditLog::Id, Order::Desc)
            .limit(limit),
    )
    .await
}

/// An audit entry with its details, for the admin API.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditDetailRow {
    pub id: String,
    pub actor_user_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub ip: Option<String>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub created_at: EpochMillis,
}

/// One page of the tenant's entries, newest first, strictly before the `(created_at, id)`
/// cursor when one is given.
pub async fn page(
    db: &Db,
    tenant: &TenantId,
    before: Option<(EpochMillis, &str)>,
    limit: u64,
) -> Result<Vec<AuditDetailRow>, StorageError> {
    let mut select = Query::select();
    select
        .columns([
            AuditLog::Id,
            AuditLog::ActorUserId,
            AuditLog::Actor,
            AuditLog::Action,
            AuditLog::ObjectType,
            AuditLog::ObjectId,
            AuditLog::Ip,
            AuditLog::BeforeState,
            AuditLog::AfterState,
            AuditLog::CreatedAt,
        ])
        .from(AuditLog::Table)
        .and_where(Expr::col(AuditLog::TenantId).eq(tenant.as_str()))
        .order_by(AuditLog::CreatedAt, Order::Desc)
        .order_by(AuditLog::Id, Order::Desc)
        .limit(limit);
    if let Some((at, id)) = before {
        select.cond_where(
            sea_query::Cond::any()
                .add(Expr::col(AuditLog::CreatedAt).lt(at))
                .add(
                    sea_query::Cond::all()
                        .add(Expr::col(AuditLog::CreatedAt).eq(at))
                        .add(Expr::col(AuditLog::Id).lt(id)),
                ),
        );
    }
    db.fetch_all(&select).await
}
