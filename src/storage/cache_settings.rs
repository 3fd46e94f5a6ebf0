//! The JSON documents that hold cache settings: a tenant's `settings` and a key's `metadata`
//! (each under its `cache` key; the rest of the document is left as it is).

use sea_query::{Expr, ExprTrait, Query};

use super::keys::VirtualKeys;
use super::tenants::Tenants;
use super::{Db, StorageError, Tx};
use crate::domain::ids::TenantId;
use crate::domain::time::EpochMillis;

#[derive(sqlx::FromRow)]
struct Document {
    doc: String,
}

/// A key's id and metadata document.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyMetadata {
    pub id: String,
    pub metadata: String,
}

/// The tenant's settings document (`None`: no such tenant).
pub async fn tenant_settings(
    tx: &mut Tx,
    tenant: &TenantId,
) -> Result<Option<String>, StorageError> {
    let row: Option<Document> = tx
        .fetch_optional(
            Query::select()
                .expr_as(Expr::col(Tenants::Settings), "doc")
                .from(Tenants::Table)
                .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
        )
        .await?;
    Ok(row.map(|r| r.doc))
}

/// Replaces the tenant's settings document.
pub async fn set_tenant_settings(
    tx: &mut Tx,
    tenant: &TenantId,
    doc: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(Tenants::Table)
            .values([
                (Tenants::Settings, doc.into()),
                (Tenants::UpdatedAt, now.into()),
            ])
            .and_where(Expr::col(Tenants::Id).eq(tenant.as_str())),
    )
    .await?;
    Ok(())
}

/// The metadata document of one of the tenant's keys (`None`: not this tenant's key).
pub async fn key_metadata(
    tx: &mut Tx,
    tenant: &TenantId,
    key_id: &str,
) -> Result<Option<String>, StorageError> {
    let row: Option<Document> = tx
        .fetch_optional(
            Query::select()
                .expr_as(Expr::col(VirtualKeys::Metadata), "doc")
                .from(VirtualKeys::Table)
                .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
                .and_where(Expr::col(VirtualKeys::Id).eq(key_id)),
        )
        .await?;
    Ok(row.map(|r| r.doc))
}

/// Replaces the metadata document of one of the tenant's keys.
pub async fn set_key_metadata(
    tx: &mut Tx,
    tenant: &TenantId,
    key_id: &str,
    doc: &str,
    now: EpochMillis,
) -> Result<(), StorageError> {
    tx.execute(
        Query::update()
            .table(VirtualKeys::Table)
            .values([
                (VirtualKeys::Metadata, doc.into()),
                (VirtualKeys::UpdatedAt, now.into()),
            ])
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(VirtualKeys::Id).eq(key_id)),
    )
    .await?;
    Ok(())
}

/// Every key of the tenant with its metadata document.
pub async fn keys_metadata(db: &Db, tenant: &TenantId) -> Result<Vec<KeyMetadata>, StorageError> {
    db.fetch_all(
        Query::select()
            .columns([VirtualKeys::Id, VirtualKeys::Metadata])
            .from(VirtualKeys::Table)
            .and_where(Expr::col(VirtualKeys::TenantId).eq(tenant.as_str()))
            .and_where(Expr::col(VirtualKeys::RevokedAt).is_null()),
    )
    .await
}
