//! Invitations to join a tenant: the link's token is stored as its SHA-256 only.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Invitations {
    Table,
    Id,
    TenantId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    ExpiresAt,
    AcceptedAt,
    CreatedAt,
}

/// A stored invitation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: String,
    pub expires_at: EpochMillis,
    pub accepted_at: Option<EpochMillis>,
    pub created_at: EpochMillis,
}

const COLUMNS: [Invitations; 7] = [
    Invitations::Id,
    Invitations::TenantId,
    Invitations::Email,
    Invitations::Role,
    Invitations::ExpiresAt,
    Invitations::AcceptedAt,
    Invitations::CreatedAt,
];

/// An invitation to insert.
#[derive(Debug)]
pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub tenant: &'a TenantId,
    pub email: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub invited_by: Option<&'a str>,
    pub expires_at: EpochMillis,
    pub now: EpochMillis,
}

/// Inserts an invitation.
pub async fn insert(tx: &mut Tx, n: &NewInvitation<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Invitations::Table)
            .columns([
                Invitations::Id,
                Invitations::TenantId,
                Invitations::Email,
                Invitations::Role,
                Invitations::TokenHash,
                Invitations::InvitedBy,
                Invitations::ExpiresAt,
                Invitations::CreatedAt,
            ])
            .values([
                n.id.into(),
                n.tenant.as_str().into(),
                n.email.into(),
                n.role.into(),
                n.token_hash.into(),
                n.invited_by.map(str::to_owned).into(),
                n.expires_at.into(),
                n.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's invitations that can still be accepted, newest first.
pub async fn pending(
    db: &Db,
    tenant: &TenantId,
    now: EpochMillis,
) -> Result<Vec<InvitationRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(COLUMNS)
            .from(Invitations::Table)
            .and_where(Expr::col(Invitations::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Invitations::AcceptedAt).is_null())
            .and_where(Expr::col(Invitations::ExpiresAt).gt(now))
            .order_by(Invitations::CreatedAt, Order::Desc)
            .order_by(Invitations::Id, Order::Desc),
    )
    .await
}

/// The invitation whose token hashes to `token_hash`, whatever its state.
pub async fn find_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<InvitationRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(Invitations::Table)
            .and_where(Expr::col(Invitations::TokenHash).eq(token_hash)),
    )
    .await
}

/// Marks a pending invitation accepted; `false` when it was already used (single use even
/// when two acceptances race).
pub async fn accept(tx: &mut Tx, id: &str, now: EpochMillis) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(Invitations::Table)
                .value(Invitations::AcceptedAt, now)
                .and_where(Expr::col(Invitations::Id).eq(id))
                .and_where(Expr::col(Invitations::AcceptedAt).is_null())
                .and_where(Expr::col(Invitations::ExpiresAt).gt(now)),
        )
        .await?;
    Ok(changed == 1)
}

/// Deletes one of the tenant's pending invitations; `false` when there is none.
pub async fn revoke(tx: &mut Tx, tenant: &TenantId, id: &str) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(Invitations::Table)
                .and_where(Expr::col(Invitations::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Invitations::Id).eq(id))
                .and_where(Expr::col(Invitations::AcceptedAt).is_null()),
        )
        .await?;
    Ok(n == 1)
}
