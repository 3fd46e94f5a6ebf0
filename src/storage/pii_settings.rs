//! Where PII policies are stored: the `pii` member of `tenants.settings`, `teams.settings` and
//! `virtual_keys.metadata` (JSON text). This module reads and writes those JSON documents; the
//! policy type itself lives in `policy::pii`.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Tenants {
    Table,
    Id,
    Settings,
    UpdatedAt,
}

#[derive(Iden)]
enum Teams {
    Table,
    Id,
    TenantId,
    Settings,
}

#[derive(Iden)]
enum VirtualKeys {
    Table,
    Id,
    TenantId,
    Metadata,
    RevokedAt,
    UpdatedAt,
}

/// Which JSON document holds a level's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Level {
    /// `tenants.settings` of the tenant.
    Tenant,
    /// `teams.settings` of the team with this id.
    Team(String),
    /// `virtual_keys.metadata` of the key with this id.
    Key(String),
}

/// One stored settings document.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SettingsRow {
    pub id: String,
    pub tenant_id: String,
    pub settings: String,
}

/// Reads the settings document of a level of `tenant` (`None`: no such team or key).
pub async fn read(
    tx: &mut Tx,
    tenant: &TenantId,
    level: &Level,
) -> Result<Option<String>, StorageError> {
    let mut q = Query::select();
    match level {
        Level::Tenant => q
            .expr_as(Expr::col(Tenants::Settings), Alias("settings"))
            .expr_as(Expr::col(Tenants::Id), Alias("id"))
            .expr_as(Expr::col(Tenants::Id), Alias("tenant_id"))
            .from(Tenants::Table)
            .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
        Level::Team(id) => q
            .columns([Teams::Id, Teams::TenantId, Teams::Settings])
            .from(Teams::Table)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Teams::Id).eq(id.as_str())),
        Level::Key(id) => q
            .columns([VirtualKeys::Id, VirtualKeys::TenantId])
            .expr_as(Expr::col(VirtualKeys::Metadata), Alias("settings"))
            .from(VirtualKeys::Table)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(VirtualKeys::Id).eq(id.as_str())),
    };
    let row: Option<SettingsRow> = tx.fetch_optional(&q).await?;
    Ok(row.map(|r| r.settings))
}

/// Replaces the settings document of a level of `tenant`.
pub async fn write(
    tx: &mut Tx,
    tenant: &TenantId,
    level: &Level,
    settings: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    let mut q = Query::update();
    match level {
        Level::Tenant => q
            .table(Tenants::Table)
            .value(Tenants::Settings, settings)
            .value(Tenants::UpdatedAt, now)
            .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
        Level::Team(id) => q
            .table(Teams::Table)
            .value(Teams::Settings, settings)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Teams::Id).eq(id.as_str())),
        Level::Key(id) => q
            .table(VirtualKeys::Table)
            .value(VirtualKeys::Metadata, settings)
            .value(VirtualKeys::UpdatedAt, now)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(VirtualKeys::Id).eq(id.as_str())),
    };
    tx.execute(&q).await?;
    Ok(())
}

/// Every settings document that may hold a PII policy, for the data-path snapshot: tenants,
/// teams and live keys whose document mentions `pii`.
pub async fn all(
    db: &Db,
) -> Result<(Vec<SettingsRow>, Vec<SettingsRow>, Vec<SettingsRow>), StorageError> {
    let tenants = db
        .fetch_all(
            Query::select()
                .expr_as(Expr::col(Tenants::Id), Alias("id"))
                .expr_as(Expr::col(Tenants::Id), Alias("tenant_id"))
                .expr_as(Expr::col(Tenants::Settings), Alias("settings"))
                .from(Tenants::Table)
                .and_where(Expr::col(Tenants::Settings).like("%\"pii\"%")),
        )
        .await?;
    let teams = db
        .fetch_all(
            Query::select()
                .columns([Teams::Id, Teams::TenantId, Teams::Settings])
                .from(Teams::Table)
                .and_where(Expr::col(Teams::Settings).like("%\"pii\"%")),
        )
        .await?;
    let keys = db
        .fetch_all(
            Query::select()
                .columns([VirtualKeys::Id, VirtualKeys::TenantId])
                .expr_as(Expr::col(VirtualKeys::Metadata), Alias("settings"))
                .from(VirtualKeys::Table)
                .and_where(Expr::col(VirtualKeys::RevokedAt).is_null())
                .and_where(Expr::col(VirtualKeys::Metadata).like("%\"pii\"%")),
        )
        .await?;
    Ok((tenants, teams, keys))
}

struct Alias(&'static str);

impl Iden for Alias {
    fn unquoted(&self) -> &str {
        self.0
    }
}
