//! Provider credentials a tenant brings (BYOK): the secret is stored only sealed (AES-256-GCM
//! ciphertext and nonce, bound to its tenant and row) beside a masked form for display.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::crypto::Sealed;
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum ProviderCredentials {
    Table,
    Id,
    TenantId,
    Name,
    Kind,
    BaseUrl,
    Settings,
    SecretCiphertext,
    SecretNonce,
    KeyVersion,
    MaskedSecret,
    LastTestedAt,
    LastTestOk,
    CreatedAt,
    UpdatedAt,
}

/// A credential to store.
#[derive(Debug)]
pub struct NewCredential<'a> {
    pub id: &'a str,
    pub tenant: &'a TenantId,
    pub name: &'a str,
    pub kind: &'a str,
    pub base_url: Option<&'a str>,
    pub settings: &'a serde_json::Value,
    pub sealed: Sealed,
    pub masked: &'a str,
    pub now: EpochMillis,
}

/// A stored credential without its secret.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct CredentialRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub settings: String,
    pub masked_secret: String,
    pub last_tested_at: Option<EpochMillis>,
    pub last_test_ok: Option<bool>,
    pub created_at: EpochMillis,
}

/// A stored credential with its sealed secret.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SealedCredentialRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub settings: String,
    pub secret_ciphertext: Vec<u8>,
    pub secret_nonce: Vec<u8>,
}

/// Stores a credential; a unique violation when the tenant already has one of that name.
pub async fn insert(tx: &mut Tx, c: NewCredential<'_>) -> Result<(), StorageError> {
    tx.execute(
        Query::insert()
            .into_table(ProviderCredentials::Table)
            .columns([
                ProviderCredentials::Id,
                ProviderCredentials::TenantId,
                ProviderCredentials::Name,
                ProviderCredentials::Kind,
                ProviderCredentials::BaseUrl,
                ProviderCredentials::Settings,
                ProviderCredentials::SecretCiphertext,
                ProviderCredentials::SecretNonce,
                ProviderCredentials::KeyVersion,
                ProviderCredentials::MaskedSecret,
                ProviderCredentials::CreatedAt,
                ProviderCredentials::UpdatedAt,
            ])
            .values([
                c.id.into(),
                c.tenant.as_str().into(),
                c.name.into(),
                c.kind.into(),
                c.base_url.map(str::to_owned).into(),
                c.settings.to_string().into(),
                c.sealed.ciphertext.into(),
                c.sealed.nonce.into(),
                1i64.into(),
                c.masked.into(),
                c.now.into(),
                c.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// The tenant's credentials, by name.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<CredentialRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                ProviderCredentials::Id,
                ProviderCredentials::Name,
                ProviderCredentials::Kind,
                ProviderCredentials::BaseUrl,
                ProviderCredentials::Settings,
                ProviderCredentials::MaskedSecret,
                ProviderCredentials::LastTestedAt,
                ProviderCredentials::LastTestOk,
                ProviderCredentials::CreatedAt,
            ])
            .from(ProviderCredentials::Table)
            .and_where(Expr::col(ProviderCredentials::TenantId).eq(tenant.as_str()))
            .order_by(ProviderCredentials::Name, Order::Asc),
    )
    .await
}

fn sealed_columns() -> [ProviderCredentials; 8] {
    [
        ProviderCredentials::Id,
        ProviderCredentials::TenantId,
        ProviderCredentials::Name,
        ProviderCredentials::Kind,
        ProviderCredentials::BaseUrl,
        ProviderCredentials::Settings,
        ProviderCredentials::SecretCiphertext,
        ProviderCredentials::SecretNonce,
    ]
}

/// One of the tenant's credentials with its sealed secret.
pub async fn find_sealed(
    db: &Db,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<SealedCredentialRow>, StorageError> {
    db.fetch_optional(
        Query::select()
            .columns(sealed_columns())
            .from(ProviderCredentials::Table)
            .and_where(Expr::col(ProviderCredentials::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(ProviderCredentials::Name).eq(name)),
    )
    .await
}

/// Deletes one of the tenant's credentials; `false` when it has none of that name.
pub async fn remove(tx: &mut Tx, tenant: &TenantId, name: &str) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(ProviderCredentials::Table)
                .and_where(Expr::col(ProviderCredentials::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(ProviderCredentials::Name).eq(name)),
        )
        .await?;
    Ok(n == 1)
}

/// Records the outcome of a connection test.
pub async fn record_test(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    ok: bool,
    now: EpochMillis,
) -> Result<(), StorageError> {
    db.execute(
        Query::update()
            .table(ProviderCredentials::Table)
            .value(ProviderCredentials::LastTestedAt, now)
            .value(ProviderCredentials::LastTestOk, ok)
            .and_where(Expr::col(ProviderCredentials::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(ProviderCredentials::Id).eq(id)),
    )
    .await?;
    Ok(())
}
