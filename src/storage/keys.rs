//! Virtual keys. Only a key's public id and the SHA-256 of the whole key are stored.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{KeyId, TenantId};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
pub(crate) enum VirtualKeys {
    Table,
    Id,
    TenantId,
    TeamId,
    UserId,
    Name,
    PublicId,
    SecretHash,
    Last4,
    PreviousPublicId,
    PreviousSecretHash,
    PreviousExpiresAt,
    AllowedModels,
    RpmLimit,
    TpmLimit,
    MaxConcurrent,
    AllowedIps,
    AllowedReferrers,
    ExpiresAt,
    Metadata,
    RevokedAt,
    LastUsedAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

/// A key to insert. List fields are JSON text.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub tenant: &'a TenantId,
    pub team_id: Option<&'a str>,
    pub name: &'a str,
    pub public_id: &'a str,
    pub secret_hash: &'a str,
    pub last4: &'a str,
    pub allowed_models: String,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub allowed_ips: String,
    pub allowed_referrers: String,
    pub expires_at: Option<EpochMillis>,
    pub created_by: &'a str,
    pub now: EpochMillis,
}

/// A stored key, without its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub name: String,
    pub public_id: String,
    pub last4: String,
    pub previous_public_id: Option<String>,
    pub previous_expires_at: Option<EpochMillis>,
    pub allowed_models: String,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub allowed_ips: String,
    pub allowed_referrers: String,
    pub expires_at: Option<EpochMillis>,
    pub revoked_at: Option<EpochMillis>,
    pub last_used_at: Option<EpochMillis>,
    pub created_at: EpochMillis,
}

const ROW_COLUMNS: [VirtualKeys; 19] = [
    VirtualKeys::Id,
    VirtualKeys::TenantId,
    VirtualKeys::TeamId,
    VirtualKeys::UserId,
    VirtualKeys::Name,
    VirtualKeys::PublicId,
    VirtualKeys::Last4,
    VirtualKeys::PreviousPublicId,
    VirtualKeys::PreviousExpiresAt,
    VirtualKeys::AllowedModels,
    VirtualKeys::RpmLimit,
    VirtualKeys::TpmLimit,
    VirtualKeys::MaxConcurrent,
    VirtualKeys::AllowedIps,
    VirtualKeys::AllowedReferrers,
    VirtualKeys::ExpiresAt,
    VirtualKeys::RevokedAt,
    VirtualKeys::LastUsedAt,
    VirtualKeys::CreatedAt,
];

/// Inserts a key.
pub async fn insert(tx: &mut Tx, key: &NewKey<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(VirtualKeys::Table)
            .columns([
                VirtualKeys::Id,
                VirtualKeys::TenantId,
                VirtualKeys::TeamId,
                VirtualKeys::Name,
                VirtualKeys::PublicId,
                VirtualKeys::SecretHash,
                VirtualKeys::Last4,
                VirtualKeys::AllowedModels,
                VirtualKeys::RpmLimit,
                VirtualKeys::TpmLimit,
                VirtualKeys::MaxConcurrent,
                VirtualKeys::AllowedIps,
                VirtualKeys::AllowedReferrers,
                VirtualKeys::ExpiresAt,
                VirtualKeys::CreatedBy,
                VirtualKeys::CreatedAt,
                VirtualKeys::UpdatedAt,
            ])
            .values([
                key.id.into(),
                key.tenant.into(),
                key.team_id.map(str::to_owned).into(),
                key.name.into(),
                key.public_id.into(),
                key.secret_hash.into(),
                key.last4.into(),
                key.allowed_models.clone().into(),
                key.rpm_limit.into(),
                key.tpm_limit.into(),
                key.max_concurrent.into(),
                key.allowed_ips.clone().into(),
                key.allowed_referrers.clone().into(),
                key.expires_at.into(),
                key.created_by.into(),
                key.now.into(),
                key.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's keys, newest first.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<KeyRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(ROW_COLUMNS)
            .from(VirtualKeys::Table)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .order_by(VirtualKeys::CreatedAt, Order::Desc)
            .order_by(VirtualKeys::Id, Order::Desc),
    )
    .await
}

/// One key of the tenant; another tenant's key is `None`, exactly like a missing one.
pub async fn find(db: &Db, tenant: &TenantId, id: &str) -> Result<Option<KeyRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(ROW_COLUMNS)
            .from(VirtualKeys::Table)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(VirtualKeys::Id).eq(id)),
    )
    .await
}

/// Revokes a live key of the tenant; returns whether a row changed.
pub async fn revoke(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(VirtualKeys::Table)
                .value(VirtualKeys::RevokedAt, now)
                .value(VirtualKeys::UpdatedAt, now)
                .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(VirtualKeys::Id).eq(id))
                .and_where(Expr::col(VirtualKeys::RevokedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// The new secret of a rotated key.
#[derive(Debug)]
pub struct Rotation<'a> {
    pub public_id: &'a str,
    pub secret_hash: &'a str,
    pub last4: &'a str,
    /// When the old secret stops working.
    pub previous_expires_at: EpochMillis,
    pub now: EpochMillis,
}

/// Gives a live key of the tenant a new secret; the current one becomes the previous secret,
/// valid until `previous_expires_at` (a still-valid older previous secret is dropped). Returns
/// whether a row changed.
pub async fn rotate(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &str,
    rotation: &Rotation<'_>,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(VirtualKeys::Table)
                .value(
                    VirtualKeys::PreviousPublicId,
                    Expr::col(VirtualKeys::PublicId),
                )
                .value(
                    VirtualKeys::PreviousSecretHash,
                    Expr::col(VirtualKeys::SecretHash),
                )
                .value(VirtualKeys::PreviousExpiresAt, rotation.previous_expires_at)
                .value(VirtualKeys::PublicId, rotation.public_id)
                .value(VirtualKeys::SecretHash, rotation.secret_hash)
                .value(VirtualKeys::Last4, rotation.last4)
                .value(VirtualKeys::UpdatedAt, rotation.now)
                .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(VirtualKeys::Id).eq(id))
                .and_where(Expr::col(VirtualKeys::RevokedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// New values for a key's editable fields (list fields are JSON text).
#[derive(Debug)]
pub struct KeyUpdate<'a> {
    pub name: &'a str,
    pub allowed_models: String,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub allowed_ips: String,
    pub allowed_referrers: String,
    pub expires_at: Option<EpochMillis>,
    pub now: EpochMillis,
}

/// Replaces the editable fields of a live key of the tenant; returns whether a row changed.
pub async fn update(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &str,
    u: &KeyUpdate<'_>,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(VirtualKeys::Table)
                .value(VirtualKeys::Name, u.name)
                .value(VirtualKeys::AllowedModels, u.allowed_models.clone())
                .value(VirtualKeys::RpmLimit, u.rpm_limit)
                .value(VirtualKeys::TpmLimit, u.tpm_limit)
                .value(VirtualKeys::MaxConcurrent, u.max_concurrent)
                .value(VirtualKeys::AllowedIps, u.allowed_ips.clone())
                .value(VirtualKeys::AllowedReferrers, u.allowed_referrers.clone())
                .value(VirtualKeys::ExpiresAt, u.expires_at)
                .value(VirtualKeys::UpdatedAt, u.now)
                .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(VirtualKeys::Id).eq(id))
                .and_where(Expr::col(VirtualKeys::RevokedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// Records that a key of the tenant was used at `at`, unless a later use is already stored.
pub async fn touch_last_used(
    tx: &mut Tx,
    tenant: &str,
    id: &str,
    at: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(VirtualKeys::Table)
            .value(VirtualKeys::LastUsedAt, at)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant))
            .and_where(Expr::col(VirtualKeys::Id).eq(id))
            .and_where(
                Expr::col(VirtualKeys::LastUsedAt)
                    .is_null()
                    .or(Expr::col(VirtualKeys::LastUsedAt).lt(at)),
            ),
    )
    .await?;
    Ok(())
}
