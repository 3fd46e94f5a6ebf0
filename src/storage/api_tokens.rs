//! Admin API tokens (distinct from virtual keys): only the SHA-256 of the secret is stored,
//! found through the token's public id.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum ApiTokens {
    Table,
    Id,
    TenantId,
    Name,
    PublicId,
    SecretHash,
    Role,
    CreatedBy,
    LastUsedAt,
    RevokedAt,
    CreatedAt,
}

/// A stored token, without its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub public_id: String,
    pub role: String,
    pub created_by: Option<String>,
    pub last_used_at: Option<EpochMillis>,
    pub revoked_at: Option<EpochMillis>,
    pub created_at: EpochMillis,
}

/// A token with its hash, for authentication.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenSecret {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub secret_hash: String,
    pub role: String,
    pub revoked_at: Option<EpochMillis>,
}

const COLUMNS: [ApiTokens; 9] = [
    ApiTokens::Id,
    ApiTokens::TenantId,
    ApiTokens::Name,
    ApiTokens::PublicId,
    ApiTokens::Role,
    ApiTokens::CreatedBy,
    ApiTokens::LastUsedAt,
    ApiTokens::RevokedAt,
    ApiTokens::CreatedAt,
];

/// A token to insert.
#[derive(Debug)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub tenant: &'a TenantId,
    pub name: &'a str,
    pub public_id: &'a str,
    pub secret_hash: &'a str,
    pub role: &'a str,
    pub created_by: Option<&'a str>,
    pub now: EpochMillis,
}

/// Inserts a token.
pub async fn insert(tx: &mut Tx, t: &NewToken<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(ApiTokens::Table)
            .columns([
                ApiTokens::Id,
                ApiTokens::TenantId,
                ApiTokens::Name,
                ApiTokens::PublicId,
                ApiTokens::SecretHash,
                ApiTokens::Role,
                ApiTokens::CreatedBy,
                ApiTokens::CreatedAt,
            ])
            .values([
                t.id.into(),
                t.tenant.into(),
                t.name.into(),
                t.public_id.into(),
                t.secret_hash.into(),
                t.role.into(),
                t.created_by.map(str::to_owned).into(),
                t.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's tokens, newest first.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<TokenRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(COLUMNS)
            .from(ApiTokens::Table)
            .and_where(Expr::col(ApiTokens::TenantId).eq(tenant.as_str()))
            .order_by(ApiTokens::CreatedAt, Order::Desc)
            .order_by(ApiTokens::Id, Order::Desc),
    )
    .await
}

/// One token of the tenant.
pub async fn find(db: &Db, tenant: &TenantId, id: &str) -> Result<Option<TokenRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(COLUMNS)
            .from(ApiTokens::Table)
            .and_where(Expr::col(ApiTokens::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(ApiTokens::Id).eq(id)),
    )
    .await
}

/// A token and its hash by public id (any tenant: the token names its tenant).
pub async fn find_secret(db: &Db, public_id: &str) -> Result<Option<TokenSecret>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([
                ApiTokens::Id,
                ApiTokens::TenantId,
                ApiTokens::Name,
                ApiTokens::SecretHash,
                ApiTokens::Role,
                ApiTokens::RevokedAt,
            ])
            .from(ApiTokens::Table)
            .and_where(Expr::col(ApiTokens::PublicId).eq(public_id)),
    )
    .await
}

/// Revokes a live token of the tenant; returns whether a row changed.
pub async fn revoke(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(ApiTokens::Table)
                .value(ApiTokens::RevokedAt, now)
                .and_where(Expr::col(ApiTokens::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(ApiTokens::Id).eq(id))
                .and_where(Expr::col(ApiTokens::RevokedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// Records a token's use.
pub async fn touch(db: &Db, id: &str, now: EpochMillis) -> Result<(), StorageError> {
    db.execute(
        Query::update()
            .table(ApiTokens::Table)
            .value(ApiTokens::LastUsedAt, now)
            .and_where(Expr::col(ApiTokens::Id).eq(id)),
    )
    .await?;
    Ok(())
}
