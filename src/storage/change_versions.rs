//! Change counters that the data-path snapshot polls to notice policy changes.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{StorageError, Tx};
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum ChangeVersions {
    Table,
    Scope,
    Version,
    UpdatedAt,
}

/// The scope bumped by any change to keys, budgets, routes or tenant status.
pub const POLICY: &str = "policy";

/// Increments a scope's version inside the transaction that makes the change.
pub async fn bump(tx: &mut Tx, scope: &str, now: EpochMillis) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(ChangeVersions::Table)
            .value(
                ChangeVersions::Version,
                Expr::col(ChangeVersions::Version).add(1),
            )
            .value(ChangeVersions::UpdatedAt, now)
            .and_where(Expr::col(ChangeVersions::Scope).eq(scope)),
    )
    .await?;
    Ok(())
}
