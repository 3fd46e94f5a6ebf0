//! A tenant's own models: a name clients send, served by one of the tenant's provider
//! credentials, with its prices.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(Iden)]
enum Models {
    Table,
    Id,
    TenantId,
    Name,
    CredentialId,
    Provider,
    Upstream,
    InputNusdPerMtok,
    OutputNusdPerMtok,
    CachedInputNusdPerMtok,
    CacheWriteNusdPerMtok,
    RequestNusd,
    MaxOutputTokens,
    ContextWindow,
    AllowUnpriced,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum ProviderCredentials {
    Table,
    Id,
    Name,
    Kind,
    BaseUrl,
    Settings,
    SecretCiphertext,
    SecretNonce,
}

/// A model to store.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub tenant: &'a TenantId,
    pub name: &'a str,
    pub credential_id: &'a str,
    pub upstream: &'a str,
    /// `chat` or `embedding`.
    pub mode: &'a str,
    pub input_nusd_per_mtok: Option<i64>,
    pub output_nusd_per_mtok: Option<i64>,
    pub max_output_tokens: Option<i64>,
    pub allow_unpriced: bool,
    pub now: EpochMillis,
}

/// A stored model with its credential (sealed), for the data path.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ModelWithCredential {
    pub tenant_id: String,
    pub name: String,
    pub upstream: String,
    pub settings: String,
    pub input_nusd_per_mtok: Option<i64>,
    pub output_nusd_per_mtok: Option<i64>,
    pub cached_input_nusd_per_mtok: Option<i64>,
    pub cache_write_nusd_per_mtok: Option<i64>,
    pub request_nusd: Option<i64>,
    pub max_output_tokens: Option<i64>,
    pub context_window: Option<i64>,
    pub allow_unpriced: bool,
    pub credential_id: String,
    pub credential_name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub credential_settings: String,
    pub secret_ciphertext: Vec<u8>,
    pub secret_nonce: Vec<u8>,
}

/// A model as listed.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct ModelRow {
    pub name: String,
    pub provider: Option<String>,
    pub upstream: String,
    pub settings: String,
    pub input_nusd_per_mtok: Option<i64>,
    pub output_nusd_per_mtok: Option<i64>,
    pub allow_unpriced: bool,
    pub max_output_tokens: Option<i64>,
}

/// Creates or replaces the tenant's model of that name.
pub async fn upsert(
    tx: &mut Tx,
    m: &NewModel<'_>,
    credential_name: &str,
) -> Result<(), StorageError> {
    tx.execute(
        Query::delete()
            .from_table(Models::Table)
            .and_where(Expr::col(Models::TenantId).eq(m.tenant.as_str()))
            .and_where(Expr::col(Models::Name).eq(m.name)),
    )
    .await?;
    tx.execute(
        Query::insert()
            .into_table(Models::Table)
            .columns([
                Models::Id,
                Models::TenantId,
                Models::Name,
                Models::CredentialId,
                Models::Provider,
                Models::Upstream,
                Models::InputNusdPerMtok,
                Models::OutputNusdPerMtok,
                Models::MaxOutputTokens,
                Models::AllowUnpriced,
                Models::Settings,
                Models::CreatedAt,
                Models::UpdatedAt,
            ])
            .values([
                format!("mdl_{}", uuid::Uuid::now_v7().simple()).into(),
                m.tenant.as_str().into(),
                m.name.into(),
                m.credential_id.into(),
                credential_name.into(),
                m.upstream.into(),
                m.input_nusd_per_mtok.into(),
                m.output_nusd_per_mtok.into(),
                m.max_output_tokens.into(),
                m.allow_unpriced.into(),
                serde_json::json!({ "mode": m.mode }).to_string().into(),
                m.now.into(),
                m.now.into(),
            ])?,
    )
    .await?;
    Ok(())
}

/// Deletes the tenant's model; `false` when there is none of that name.
pub async fn remove(tx: &mut Tx, tenant: &TenantId, name: &str) -> Result<bool, StorageError> {
    let n = tx
        .execute(
            Query::delete()
                .from_table(Models::Table)
                .and_where(Expr::col(Models::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(Models::Name).eq(name)),
        )
        .await?;
    Ok(n == 1)
}

/// The tenant's models.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<ModelRow>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([
                Models::Name,
                Models::Provider,
                Models::Upstream,
                Models::Settings,
                Models::InputNusdPerMtok,
                Models::OutputNusdPerMtok,
                Models::AllowUnpriced,
                Models::MaxOutputTokens,
            ])
            .from(Models::Table)
            .and_where(Expr::col(Models::TenantId).eq(tenant.as_str()))
            .order_by(Models::Name, Order::Asc),
    )
    .await
}

/// Every tenant model that has a credential, with that credential, for the snapshot.
pub async fn all_with_credentials(db: &Db) -> Result<Vec<ModelWithCredential>, StorageError> {
    let m = |c: Models| (Models::Table, c);
    let c = |c: ProviderCredentials| (ProviderCredentials::Table, c);
    db.fetch_all(
        Query::select()
            .column(m(Models::TenantId))
            .column(m(Models::Name))
            .column(m(Models::Upstream))
            .column(m(Models::Settings))
            .column(m(Models::InputNusdPerMtok))
            .column(m(Models::OutputNusdPerMtok))
            .column(m(Models::CachedInputNusdPerMtok))
            .column(m(Models::CacheWriteNusdPerMtok))
            .column(m(Models::RequestNusd))
            .column(m(Models::MaxOutputTokens))
            .column(m(Models::ContextWindow))
            .column(m(Models::AllowUnpriced))
            .expr_as(Expr::col(c(ProviderCredentials::Id)), "credential_id")
            .expr_as(Expr::col(c(ProviderCredentials::Name)), "credential_name")
            .column(c(ProviderCredentials::Kind))
            .column(c(ProviderCredentials::BaseUrl))
            .expr_as(
                Expr::col(c(ProviderCredentials::Settings)),
                "credential_settings",
            )
            .column(c(ProviderCredentials::SecretCiphertext))
            .column(c(ProviderCredentials::SecretNonce))
            .from(Models::Table)
            .inner_join(
                ProviderCredentials::Table,
                Expr::col(c(ProviderCredentials::Id)).equals(m(Models::CredentialId)),
            ),
    )
    .await
}
