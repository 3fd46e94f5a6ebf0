//! Two-factor login state of users (`user_totp`, `user_recovery_codes`): the sealed TOTP
//! secret, whether it is confirmed, the last accepted time step, and hashed recovery codes.
//! Users are not tenant data (a user may belong to several tenants): every function takes the
//! user id.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Db, StorageError, Tx};
use crate::crypto::Sealed;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum UserTotp {
    Table,
    UserId,
    SecretCiphertext,
    SecretNonce,
    ConfirmedAt,
    LastUsedStep,
    CreatedAt,
}

#[derive(Iden)]
enum UserRecoveryCodes {
    Table,
    UserId,
    CodeHash,
    UsedAt,
}

/// A user's stored TOTP enrolment (confirmed or not).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TotpRow {
    pub user_id: String,
    pub secret_ciphertext: Vec<u8>,
    pub secret_nonce: Vec<u8>,
    pub confirmed_at: Option<EpochMillis>,
    pub last_used_step: Option<i64>,
}

impl TotpRow {
    /// The sealed secret.
    pub fn sealed(&self) -> Sealed {
        Sealed {
            ciphertext: self.secret_ciphertext.clone(),
            nonce: self.secret_nonce.clone(),
        }
    }
}

/// The user's enrolment, confirmed or pending.
pub async fn find(db: &Db, user_id: &str) -> Result<Option<TotpRow>, StorageError> {
    db.fetch_optional(select().and_where(Expr::col(UserTotp::UserId).eq(user_id)))
        .await
}

/// Every stored enrolment (for master-key rotation).
pub async fn all(tx: &mut Tx) -> Result<Vec<TotpRow>, StorageError> {
    tx.fetch_all(&select()).await
}

fn select() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            UserTotp::UserId,
            UserTotp::SecretCiphertext,
            UserTotp::SecretNonce,
            UserTotp::ConfirmedAt,
            UserTotp::LastUsedStep,
        ])
        .from(UserTotp::Table)
        .to_owned()
}

/// Whether the user has a confirmed enrolment.
pub async fn is_enrolled(db: &Db, user_id: &str) -> Result<bool, StorageError> {
    Ok(find(db, user_id)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

/// Stores a new, unconfirmed secret, replacing an unconfirmed one. Returns `false` (and
/// changes nothing) when a confirmed enrolment exists.
pub async fn start(
    tx: &mut Tx,
    user_id: &str,
    sealed: &Sealed,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    tx.execute(
        Query::delete()
            .from_table(UserTotp::Table)
            .and_where(Expr::col(UserTotp::UserId).eq(user_id))
            .and_where(Expr::col(UserTotp::ConfirmedAt).is_null()),
    )
    .await?;
    let confirmed: Option<TotpRow> = tx
        .fetch_optional(select().and_where(Expr::col(UserTotp::UserId).eq(user_id)))
        .await?;
    if confirmed.is_some() {
        return Ok(false);
    }
    tx.execute(
        Query::insert()
            .into_table(UserTotp::Table)
            .columns([
                UserTotp::UserId,
                UserTotp::SecretCiphertext,
                UserTotp::SecretNonce,
                UserTotp::CreatedAt,
            ])
            .values([
                user_id.into(),
                sealed.ciphertext.clone().into(),
                sealed.nonce.clone().into(),
                now.into(),
            ])?,
    )
    .await?;
    Ok(true)
}

/// Marks the enrolment confirmed at `step` (the code that proved it), storing the recovery
/// code hashes; `false` when there was no pending enrolment.
pub async fn confirm(
    tx: &mut Tx,
    user_id: &str,
    step: i64,
    recovery_hashes: &[String],
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(UserTotp::Table)
                .value(UserTotp::ConfirmedAt, now)
                .value(UserTotp::LastUsedStep, step)
                .and_where(Expr::col(UserTotp::UserId).eq(user_id))
                .and_where(Expr::col(UserTotp::ConfirmedAt).is_null()),
        )
        .await?;
    if changed != 1 {
        return Ok(false);
    }
    delete_recovery_codes(tx, user_id).await?;
    for hash in recovery_hashes {
        tx.execute(
            Query::insert()
                .into_table(UserRecoveryCodes::Table)
                .columns([UserRecoveryCodes::UserId, UserRecoveryCodes::CodeHash])
                .values([user_id.into(), hash.as_str().into()])?,
        )
        .await?;
    }
    Ok(true)
}

/// Records `step` as used when it is later than the last used one; `false` when the code's
/// step was already used (a replay) or the enrolment vanished.
pub async fn use_step(tx: &mut Tx, user_id: &str, step: i64) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(UserTotp::Table)
                .value(UserTotp::LastUsedStep, step)
                .and_where(Expr::col(UserTotp::UserId).eq(user_id))
                .and_where(Expr::col(UserTotp::ConfirmedAt).is_not_null())
                .and_where(
                    Expr::col(UserTotp::LastUsedStep)
                        .is_null()
                        .or(Expr::col(UserTotp::LastUsedStep).lt(step)),
                ),
        )
        .await?;
    Ok(changed == 1)
}

/// Spends a recovery code; `false` when it is unknown or already used.
pub async fn use_recovery_code(
    tx: &mut Tx,
    user_id: &str,
    code_hash: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            Query::update()
                .table(UserRecoveryCodes::Table)
                .value(UserRecoveryCodes::UsedAt, now)
                .and_where(Expr::col(UserRecoveryCodes::UserId).eq(user_id))
                .and_where(Expr::col(UserRecoveryCodes::CodeHash).eq(code_hash))
                .and_where(Expr::col(UserRecoveryCodes::UsedAt).is_null()),
        )
        .await?;
    Ok(changed == 1)
}

/// How many unused recovery codes the user has.
pub async fn recovery_codes_left(db: &Db, user_id: &str) -> Result<usize, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[allow(dead_code)]
        code_hash: String,
    }
    let rows: Vec<Row> = db
        .fetch_all(
            Query::select()
                .column(UserRecoveryCodes::CodeHash)
                .from(UserRecoveryCodes::Table)
                .and_where(Expr::col(UserRecoveryCodes::UserId).eq(user_id))
                .and_where(Expr::col(UserRecoveryCodes::UsedAt).is_null()),
        )
        .await?;
    Ok(rows.len())
}

async fn delete_recovery_codes(tx: &mut Tx, user_id: &str) -> Result<(), StorageError> {
    tx.execute(
        Query::delete()
            .from_table(UserRecoveryCodes::Table)
            .and_where(Expr::col(UserRecoveryCodes::UserId).eq(user_id)),
    )
    .await?;
    Ok(())
}

/// Removes the user's enrolment and recovery codes; returns whether one existed.
pub async fn remove(tx: &mut Tx, user_id: &str) -> Result<bool, StorageError> {
    delete_recovery_codes(tx, user_id).await?;
    let changed = tx
        .execute(
            Query::delete()
                .from_table(UserTotp::Table)
                .and_where(Expr::col(UserTotp::UserId).eq(user_id)),
        )
        .await?;
    Ok(changed == 1)
}

/// Replaces the sealed secret of one enrolment (master-key rotation).
pub async fn reseal(tx: &mut Tx, user_id: &str, sealed: &Sealed) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(UserTotp::Table)
            .value(UserTotp::SecretCiphertext, sealed.ciphertext.clone())
            .value(UserTotp::SecretNonce, sealed.nonce.clone())
            .and_where(Expr::col(UserTotp::UserId).eq(user_id)),
    )
    .await?;
    Ok(())
}
