//! Teams inside a tenant.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{TeamId, TenantId, UserId};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Teams {
    Table,
    Id,
    TenantId,
    Name,
    Settings,
    CreatedAt,
}

#[derive(Iden)]
enum TeamMembers {
    Table,
    TenantId,
    TeamId,
    UserId,
    CreatedAt,
}

/// A stored team.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
}

/// The team every tenant starts with.
pub const DEFAULT_TEAM: &str = "default";

/// Inserts a team.
pub async fn insert(
    tx: &mut Tx,
    tenant: &TenantId,
    id: &TeamId,
    name: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Teams::Table)
            .columns([Teams::Id, Teams::TenantId, Teams::Name, Teams::CreatedAt])
            .values([id.into(), tenant.into(), name.into(), now.into()])?,
    )
    .await?;
    Ok(())
}

/// Adds a user to a team.
pub async fn add_member(
    tx: &mut Tx,
    tenant: &TenantId,
    team: &TeamId,
    user: &UserId,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(TeamMembers::Table)
            .columns([
                TeamMembers::TenantId,
                TeamMembers::TeamId,
                TeamMembers::UserId,
                TeamMembers::CreatedAt,
            ])
            .values([tenant.into(), team.into(), user.into(), now.into()])?,
    )
    .await?;
    Ok(())
}

/// Finds a team of the tenant by name.
pub async fn find_by_name(
    db: &Db,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<TeamRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([Teams::Id, Teams::Name])
            .from(Teams::Table)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Teams::Name).eq(name)),
    )
    .await
}

/// Team names of the tenant by id, for display.
pub async fn names(db: &Db, tenant: &TenantId) -> Result<Vec<TeamRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([Teams::Id, Teams::Name])
            .from(Teams::Table)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str())),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    settings: String,
}

/// Reads a team's settings JSON inside a transaction (to change them).
pub async fn settings(
    tx: &mut Tx,
    tenant: &TenantId,
    team: &str,
) -> Result<Option<String>, StorageError> {
    let row: Option<SettingsRow> = tx
        .fetch_optional(
            Query::select()
                .column(Teams::Settings)
                .from(Teams::Table)
                .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Teams::Id).eq(team)),
        )
        .await?;
    Ok(row.map(|r| r.settings))
}

/// Replaces a team's settings JSON.
pub async fn update_settings(
    tx: &mut Tx,
    tenant: &TenantId,
    team: &str,
    settings: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(Teams::Table)
            .value(Teams::Settings, settings)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Teams::Id).eq(team)),
    )
    .await?;
    Ok(())
}

/// One team of the tenant by id.
pub async fn find(db: &Db, tenant: &TenantId, id: &str) -> Result<Option<TeamRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([Teams::Id, Teams::Name])
            .from(Teams::Table)
            .and_where(Expr::col(Teams::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(Teams::Id).eq(id)),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct MemberIdRow {
    user_id: String,
}

/// The user ids in a team of the tenant.
pub async fn member_ids(
    db: &Db,
    tenant: &TenantId,
    team: &str,
) -> Result<Vec<String>, StorageError> {
    let rows: Vec<MemberIdRow> = db
        .fetch_all(
            Query::select()
                .column(TeamMembers::UserId)
                .from(TeamMembers::Table)
                .and_where(Expr::col(TeamMembers::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(TeamMembers::TeamId).eq(team))
                .order_by(TeamMembers::CreatedAt, sea_query::Order::Asc),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

/// Removes a user from a team of the tenant; returns whether they were in it.
pub async fn remove_member(
    tx: &mut Tx,
    tenant: &TenantId,
    team: &str,
    user: &str,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::delete()
                .from_table(TeamMembers::Table)
                .and_where(Expr::col(TeamMembers::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(TeamMembers::TeamId).eq(team))
                .and_where(Expr::col(TeamMembers::UserId).eq(user)),
        )
        .await?;
    Ok(changed == 1)
}

/// Removes a user from every team of the tenant.
pub async fn remove_user_everywhere(
    tx: &mut Tx,
    tenant: &TenantId,
    user: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::delete()
            .from_table(TeamMembers::Table)
            .and_where(Expr::col(TeamMembers::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(TeamMembers::UserId).eq(user)),
    )
    .await?;
    Ok(())
}
