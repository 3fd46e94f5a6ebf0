//! Every sealed secret the database holds, across tenants, for master-key rotation: provider
//! credentials, alert-destination signing secrets and TOTP secrets. Read and re-sealed inside
//! one transaction so a rotation either moves every secret or none.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{StorageError, Tx};
use crate::crypto::Sealed;

#[derive(Iden)]
enum ProviderCredentials {
    Table,
    Id,
    TenantId,
    SecretCiphertext,
    SecretNonce,
}

#[derive(Iden)]
enum AlertDestinations {
    Table,
    Id,
    TenantId,
    SecretCiphertext,
    SecretNonce,
}

/// Which table a sealed secret lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedKind {
    /// `provider_credentials`, bound to tenant and row.
    ProviderCredential,
    /// `alert_destinations`, bound to tenant and row.
    AlertSecret,
    /// `user_totp`, bound to the user.
    TotpSecret,
}

/// One stored sealed secret and what it is bound to.
#[derive(Clone, Debug)]
pub struct SealedRow {
    pub kind: SealedKind,
    /// The tenant (empty for user-level secrets).
    pub tenant_id: String,
    /// The row id (the user id for TOTP secrets).
    pub id: String,
    pub sealed: Sealed,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    tenant_id: String,
    secret_ciphertext: Option<Vec<u8>>,
    secret_nonce: Option<Vec<u8>>,
}

/// Every sealed secret, in a stable order.
pub async fn all(tx: &mut Tx) -> Result<Vec<SealedRow>, StorageError> {
    let mut out = Vec::new();
    let creds: Vec<TenantRow> = tx
        .fetch_all(
            Query::select()
                .columns([
                    ProviderCredentials::Id,
                    ProviderCredentials::TenantId,
                    ProviderCredentials::SecretCiphertext,
                    ProviderCredentials::SecretNonce,
                ])
                .from(ProviderCredentials::Table)
                .order_by(ProviderCredentials::Id, sea_query::Order::Asc),
        )
        .await?;
    let alerts: Vec<TenantRow> = tx
        .fetch_all(
            Query::select()
                .columns([
                    AlertDestinations::Id,
                    AlertDestinations::TenantId,
                    AlertDestinations::SecretCiphertext,
                    AlertDestinations::SecretNonce,
                ])
                .from(AlertDestinations::Table)
                .and_where(Expr::col(AlertDestinations::SecretCiphertext).is_not_null())
                .order_by(AlertDestinations::Id, sea_query::Order::Asc),
        )
        .await?;
    for (kind, rows) in [
        (SealedKind::ProviderCredential, creds),
        (SealedKind::AlertSecret, alerts),
    ] {
        for r in rows {
            if let (Some(ciphertext), Some(nonce)) = (r.secret_ciphertext, r.secret_nonce) {
                out.push(SealedRow {
                    kind,
                    tenant_id: r.tenant_id,
                    id: r.id,
                    sealed: Sealed { ciphertext, nonce },
                });
            }
        }
    }
    for r in super::totp::all(tx).await? {
        out.push(SealedRow {
            kind: SealedKind::TotpSecret,
            tenant_id: String::new(),
            sealed: r.sealed(),
            id: r.user_id,
        });
    }
    Ok(out)
}

/// Replaces one secret's ciphertext and nonce.
pub async fn replace(tx: &mut Tx, row: &SealedRow, sealed: &Sealed) -> Result<(), StorageError> {
    match row.kind {
        SealedKind::ProviderCredential => {
            tx.execute(
                Query::update()
                    .table(ProviderCredentials::Table)
                    .value(
                        ProviderCredentials::SecretCiphertext,
                        sealed.ciphertext.clone(),
                    )
                    .value(ProviderCredentials::SecretNonce, sealed.nonce.clone())
                    .and_where(Expr::col(ProviderCredentials::TenantId).eq(row.tenant_id.as_str()))
                    .and_where(Expr::col(ProviderCredentials::Id).eq(row.id.as_str())),
            )
            .await?;
        }
        SealedKind::AlertSecret => {
            tx.execute(
                Query::update()
                    .table(AlertDestinations::Table)
                    .value(
                        AlertDestinations::SecretCiphertext,
                        sealed.ciphertext.clone(),
                    )
                    .value(AlertDestinations::SecretNonce, sealed.nonce.clone())
                    .and_where(Expr::col(AlertDestinations::TenantId).eq(row.tenant_id.as_str()))
                    .and_where(Expr::col(AlertDestinations::Id).eq(row.id.as_str())),
            )
            .await?;
        }
        SealedKind::TotpSecret => super::totp::reseal(tx, &row.id, sealed).await?,
    }
    Ok(())
}
