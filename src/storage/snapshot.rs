//! Reads everything the data path keeps in memory: live keys, tenant status, and the policy
//! version that tells replicas when to reload.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::keys::VirtualKeys;
use super::{Db, StorageError};

#[derive(Iden)]
enum Tenants {
    Table,
    Id,
    Status,
    Timezone,
    Settings,
}

#[derive(Iden)]
enum Teams {
    Table,
    Id,
    Name,
    Settings,
}

#[derive(Iden)]
enum ChangeVersions {
    Table,
    Scope,
    Version,
}

/// A live (unrevoked) key as the data path needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LiveKeyRow {
    pub id: String,
    pub tenant_id: String,
    pub team_id: Option<String>,
    pub public_id: String,
    pub secret_hash: String,
    pub previous_public_id: Option<String>,
    pub previous_secret_hash: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub allowed_models: String,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub allowed_ips: String,
    pub allowed_referrers: String,
    pub expires_at: Option<i64>,
    /// JSON object; its `cache` key holds the key's cache settings.
    pub metadata: String,
}

/// A team's name.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TeamNameRow {
    pub id: String,
    pub name: String,
    /// The team's settings JSON.
    pub settings: String,
}

/// Every team's name, by id.
pub async fn team_names(db: &Db) -> Result<Vec<TeamNameRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([Teams::Id, Teams::Name, Teams::Settings])
            .from(Teams::Table),
    )
    .await
}

/// A tenant's status.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TenantStatusRow {
    pub id: String,
    pub status: String,
    pub timezone: String,
    /// The tenant's settings JSON (its `cache` key holds the tenant's cache settings).
    pub settings: String,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version: i64,
}

/// Every unrevoked key.
pub async fn live_keys(db: &Db) -> Result<Vec<LiveKeyRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                VirtualKeys::Id,
                VirtualKeys::TenantId,
                VirtualKeys::TeamId,
                VirtualKeys::PublicId,
                VirtualKeys::SecretHash,
                VirtualKeys::PreviousPublicId,
                VirtualKeys::PreviousSecretHash,
                VirtualKeys::PreviousExpiresAt,
                VirtualKeys::AllowedModels,
                VirtualKeys::RpmLimit,
                VirtualKeys::TpmLimit,
                VirtualKeys::MaxConcurrent,
                VirtualKeys::AllowedIps,
                VirtualKeys::AllowedReferrers,
                VirtualKeys::ExpiresAt,
                VirtualKeys::Metadata,
            ])
            .from(VirtualKeys::Table)
            .and_where(Expr::col(VirtualKeys::RevokedAt).is_null()),
    )
    .await
}

/// Every tenant's status.
pub async fn tenant_statuses(db: &Db) -> Result<Vec<TenantStatusRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                Tenants::Id,
                Tenants::Status,
                Tenants::Timezone,
                Tenants::Settings,
            ])
            .from(Tenants::Table),
    )
    .await
}

/// The current policy version.
pub async fn policy_version(db: &Db) -> Result<i64, StorageError> {
    let row: Option<VersionRow> = db
        .fetch_optional(
            Query::select()
                .column(ChangeVersions::Version)
                .from(ChangeVersions::Table)
                .and_where(Expr::col(ChangeVersions::Scope).eq(super::change_versions::POLICY)),
        )
        .await?;
    Ok(row.map_or(0, |r| r.version))
}
