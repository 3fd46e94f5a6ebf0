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
