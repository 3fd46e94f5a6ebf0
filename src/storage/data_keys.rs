//! Data keys (`tenant_data_keys`): each tenant's data key — or the platform's, under the
//! reserved owner `platform`, for secrets of no tenant — stored only wrapped by the master key,
//! with the fingerprint of the master key that wrapped it. One row per owner; a data key never
//! changes, only its wrapping does.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Query};

use super::{Db, StorageError, Tx};
use crate::crypto::Sealed;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum TenantDataKeys {
    Table,
    TenantId,
    WrappedKey,
    Nonce,
    KekId,
    CreatedAt,
}

/// A stored, wrapped data key.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DataKeyRow {
    /// The tenant id, or `platform`.
    pub tenant_id: String,
    pub wrapped_key: Vec<u8>,
    pub nonce: Vec<u8>,
    /// The fingerprint of the master key that wrapped it.
    pub kek_id: String,
    pub created_at: EpochMillis,
}

impl DataKeyRow {
    /// The wrapped key as sealed by the master key.
    pub fn wrapped(&self) -> Sealed {
        Sealed {
            ciphertext: self.wrapped_key.clone(),
            nonce: self.nonce.clone(),
        }
    }
}

fn select() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            TenantDataKeys::TenantId,
            TenantDataKeys::WrappedKey,
            TenantDataKeys::Nonce,
            TenantDataKeys::KekId,
            TenantDataKeys::CreatedAt,
        ])
        .from(TenantDataKeys::Table)
        .to_owned()
}

/// The owner's data key, if it has one.
pub async fn find(db: &Db, owner: &str) -> Result<Option<DataKeyRow>, StorageError> {
    db.fetch_optional(
        &select()
            .and_where(Expr::col(TenantDataKeys::TenantId).eq(owner))
            .to_owned(),
    )
    .await
}

/// Every data key, by owner (for master-key rotation).
pub async fn all(tx: &mut Tx) -> Result<Vec<DataKeyRow>, StorageError> {
    tx.fetch_all(
        &select()
            .order_by(TenantDataKeys::TenantId, sea_query::Order::Asc)
            .to_owned(),
    )
    .await
}

fn insert_statement(
    owner: &str,
    wrapped: &Sealed,
    kek_id: &str,
    now: EpochMillis,
) -> Result<sea_query::InsertStatement, StorageError> {
    Ok(Query::insert()
        .into_table(TenantDataKeys::Table)
        .columns([
            TenantDataKeys::TenantId,
            TenantDataKeys::WrappedKey,
            TenantDataKeys::Nonce,
            TenantDataKeys::KekId,
            TenantDataKeys::CreatedAt,
        ])
        .values([
            owner.into(),
            wrapped.ciphertext.clone().into(),
            wrapped.nonce.clone().into(),
            kek_id.into(),
            now.into(),
        ])?
        .on_conflict(
            OnConflict::column(TenantDataKeys::TenantId)
                .do_nothing()
                .to_owned(),
        )
        .to_owned())
}

/// Stores the owner's first data key; `false` (and nothing changed) when it already has one,
/// e.g. created concurrently by another replica.
pub async fn insert(
    db: &Db,
    owner: &str,
    wrapped: &Sealed,
    kek_id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    Ok(db
        .execute(&insert_statement(owner, wrapped, kek_id, now)?)
        .await?
        == 1)
}

/// [`insert`] inside a transaction.
pub async fn insert_in(
    tx: &mut Tx,
    owner: &str,
    wrapped: &Sealed,
    kek_id: &str,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    Ok(tx
        .execute(&insert_statement(owner, wrapped, kek_id, now)?)
        .await?
        == 1)
}

/// Replaces the wrapping of the owner's data key (the key itself is unchanged).
pub async fn rewrap(
    tx: &mut Tx,
    owner: &str,
    wrapped: &Sealed,
    kek_id: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(TenantDataKeys::Table)
            .value(TenantDataKeys::WrappedKey, wrapped.ciphertext.clone())
            .value(TenantDataKeys::Nonce, wrapped.nonce.clone())
            .value(TenantDataKeys::KekId, kek_id)
            .and_where(Expr::col(TenantDataKeys::TenantId).eq(owner)),
    )
    .await?;
    Ok(())
}
