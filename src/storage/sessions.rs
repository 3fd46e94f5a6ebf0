//! Dashboard sessions (`user_sessions`) and password-reset tokens (`password_resets`).

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum UserSessions {
    Table,
    Id,
    UserId,
    Ip,
    UserAgent,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(Iden)]
enum PasswordResets {
    Table,
    TokenHash,
    UserId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

/// A stored session.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: EpochMillis,
    pub revoked_at: Option<EpochMillis>,
}

/// A session to insert.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: EpochMillis,
    pub expires_at: EpochMillis,
}

/// Inserts a session.
pub async fn insert(tx: &mut Tx, s: &NewSession<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(UserSessions::Table)
            .columns([
                UserSessions::Id,
                UserSessions::UserId,
                UserSessions::Ip,
                UserSessions::UserAgent,
                UserSessions::CreatedAt,
                UserSessions::ExpiresAt,
            ])
            .values([
                s.id.into(),
                s.user_id.into(),
                s.ip.map(str::to_owned).into(),
                s.user_agent.map(str::to_owned).into(),
                s.now.into(),
                s.expires_at.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// A session by id.
pub async fn find(db: &Db, id: &str) -> Result<Option<SessionRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns([
                UserSessions::Id,
                UserSessions::UserId,
                UserSessions::ExpiresAt,
                UserSessions::RevokedAt,
            ])
            .from(UserSessions::Table)
            .and_where(Expr::col(UserSessions::Id).eq(id)),
    )
    .await
}

/// Revokes one session of the user; returns whether it was live.
pub async fn revoke(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(UserSessions::Table)
                .value(UserSessions::RevokedAt, now)
                .and_where(Expr::col(UserSessions::UserId).eq(user_id))
                .and_where(Expr::col(UserSessions::Id).eq(id))
                .and_where(Expr::col(UserSessions::RevokedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// Revokes every live session of the user except `keep`; returns how many.
pub async fn revoke_all_except(
    tx: &mut Tx,
    user_id: &str,
    keep: Option<&str>,
    now: EpochMillis,
) -> Result<u64, StorageError> {
    let mut update = Query::update();
    update
        .table(UserSessions::Table)
        .value(UserSessions::RevokedAt, now)
        .and_where(Expr::col(UserSessions::UserId).eq(user_id))
        .and_where(Expr::col(UserSessions::RevokedAt).is_null());
    if let Some(keep) = keep {
        update.and_where(Expr::col(UserSessions::Id).ne(keep));
    }
    tx.execute(&update).await
}

/// Stores a password-reset token's hash.
pub async fn insert_reset(
    tx: &mut Tx,
    token_hash: &str,
    user_id: &str,
    now: EpochMillis,
    expires_at: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(PasswordResets::Table)
            .columns([
                PasswordResets::TokenHash,
                PasswordResets::UserId,
                PasswordResets::ExpiresAt,
                PasswordResets::CreatedAt,
            ])
            .values([
                token_hash.into(),
                user_id.into(),
                expires_at.into(),
                now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ResetRow {
    user_id: String,
}

/// Marks an unused, unexpired reset token used and returns its user; `None` when the token is
/// unknown, used or expired. Single use even under concurrent attempts (conditional update).
pub async fn consume_reset(
    tx: &mut Tx,
    token_hash: &str,
    now: EpochMillis,
) -> Result<Option<String>, StorageError> {
    let row: Option<ResetRow> = tx
        .fetch_optional(
            Query::select()
                .column(PasswordResets::UserId)
                .from(PasswordResets::Table)
                .and_where(Expr::col(PasswordResets::TokenHash).eq(token_hash)),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let changed = tx
        .execute(
            Query::update()
                .table(PasswordResets::Table)
                .value(PasswordResets::UsedAt, now)
                .and_where(Expr::col(PasswordResets::TokenHash).eq(token_hash))
                .and_where(Expr::col(PasswordResets::UsedAt).is_null())
                .and_where(Expr::col(PasswordResets::ExpiresAt).gt(now)),
        )
        .await?;
    Ok((changed == 1).then_some(row.user_id))
}
