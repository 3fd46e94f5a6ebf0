//! Users and their tenant memberships.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::role::Role;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    IsPlatformAdmin,
    PasswordChangedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum Memberships {
    Table,
    TenantId,
    UserId,
    Role,
    CreatedAt,
}

/// A stored user (without the password hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub is_platform_admin: bool,
}

/// Inserts a user; `email` must already be normalised. Fails with a unique violation when the
/// email is taken.
pub async fn insert(
    tx: &mut Tx,
    id: &UserId,
    email: &str,
    password_hash: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Users::Table)
            .columns([
                Users::Id,
                Users::Email,
                Users::PasswordHash,
                Users::IsPlatformAdmin,
                Users::PasswordChangedAt,
                Users::CreatedAt,
                Users::UpdatedAt,
            ])
            .values([
                id.into(),
                email.into(),
                password_hash.into(),
                false.into(),
                now.into(),
                now.into(),
                now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// Finds a user by normalised email.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([Users::Id, Users::Email, Users::IsPlatformAdmin])
            .from(Users::Table)
            .and_where(Expr::col(Users::Email).eq(email)),
    )
    .await
}

/// Gives a user a role in a tenant.
pub async fn add_membership(
    tx: &mut Tx,
    tenant: &TenantId,
    user: &UserId,
    role: Role,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(Memberships::Table)
            .columns([
                Memberships::TenantId,
                Memberships::UserId,
                Memberships::Role,
                Memberships::CreatedAt,
            ])
            .values([tenant.into(), user.into(), role.as_str().into(), now.into()])?,
    )
    .await?;
    Ok(())
}

/// What logging in needs about a user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub is_platform_admin: bool,
}

/// A user's login credentials by normalised email.
pub async fn credentials_by_email(
    db: &Db,
    email: &str,
) -> Result<Option<Credentials>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([
                Users::Id,
                Users::Email,
                Users::PasswordHash,
                Users::IsPlatformAdmin,
            ])
            .from(Users::Table)
            .and_where(Expr::col(Users::Email).eq(email)),
    )
    .await
}

/// A user's login credentials by id.
pub async fn credentials_by_id(db: &Db, id: &str) -> Result<Option<Credentials>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([
                Users::Id,
                Users::Email,
                Users::PasswordHash,
                Users::IsPlatformAdmin,
            ])
            .from(Users::Table)
            .and_where(Expr::col(Users::Id).eq(id)),
    )
    .await
}

/// A user by id.
pub async fn find(db: &Db, id: &str) -> Result<Option<UserRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([Users::Id, Users::Email, Users::IsPlatformAdmin])
            .from(Users::Table)
            .and_where(Expr::col(Users::Id).eq(id)),
    )
    .await
}

/// Replaces a user's password hash.
pub async fn set_password(
    tx: &mut Tx,
    id: &str,
    password_hash: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(Users::Table)
            .value(Users::PasswordHash, password_hash)
            .value(Users::PasswordChangedAt, now)
            .value(Users::UpdatedAt, now)
            .and_where(Expr::col(Users::Id).eq(id)),
    )
    .await?;
    Ok(())
}

/// Grants or withdraws the platform-administrator flag.
pub async fn set_platform_admin(tx: &mut Tx, id: &str, admin: bool) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(Users::Table)
            .value(Users::IsPlatformAdmin, admin)
            .and_where(Expr::col(Users::Id).eq(id)),
    )
    .await?;
    Ok(())
}

/// A user's role in one tenant.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MembershipRow {
    pub tenant_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: EpochMillis,
}

const MEMBERSHIP_COLUMNS: [Memberships; 4] = [
    Memberships::TenantId,
    Memberships::UserId,
    Memberships::Role,
    Memberships::CreatedAt,
];

/// The user's membership in the tenant, if any.
pub async fn membership(
    db: &Db,
    tenant: &str,
    user: &str,
) -> Result<Option<MembershipRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(MEMBERSHIP_COLUMNS)
            .from(Memberships::Table)
            .and_where(Expr::col(Memberships::TenantId).eq(tenant))
            .and_where(Expr::col(Memberships::UserId).eq(user)),
    )
    .await
}

/// Every tenant the user belongs to, oldest membership first.
pub async fn memberships_of_user(db: &Db, user: &str) -> Result<Vec<MembershipRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(MEMBERSHIP_COLUMNS)
            .from(Memberships::Table)
            .and_where(Expr::col(Memberships::UserId).eq(user))
            .order_by(Memberships::CreatedAt, sea_query::Order::Asc),
    )
    .await
}

/// Every member of the tenant, oldest first.
pub async fn members_of_tenant(
    db: &Db,
    tenant: &TenantId,
) -> Result<Vec<MembershipRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns(MEMBERSHIP_COLUMNS)
            .from(Memberships::Table)
            .and_where(Expr::col(Memberships::TenantId).eq(tenant.as_str()))
            .order_by(Memberships::CreatedAt, sea_query::Order::Asc),
    )
    .await
}

/// Changes a member's role; returns whether the member exists in the tenant.
pub async fn set_role(
    tx: &mut Tx,
    tenant: &TenantId,
    user: &str,
    role: Role,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(Memberships::Table)
                .value(Memberships::Role, role.as_str())
                .and_where(Expr::col(Memberships::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Memberships::UserId).eq(user)),
        )
        .await?;
    Ok(changed == 1)
}

/// Removes a member from the tenant; returns whether they were one.
pub async fn remove_membership(
    tx: &mut Tx,
    tenant: &TenantId,
    user: &str,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::delete()
                .from_table(Memberships::Table)
                .and_where(Expr::col(Memberships::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Memberships::UserId).eq(user)),
        )
        .await?;
    Ok(changed == 1)
}
