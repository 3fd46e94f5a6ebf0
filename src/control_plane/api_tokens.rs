//! Admin API tokens: `sy_admin_<public id>_<secret>`, with a role no higher than their
//! creator's. Only the SHA-256 of the whole token is stored; the token is shown once.

use serde_json::json;

use super::auth::principal::{ADMIN_TOKEN_PREFIX, admin_token_hash};
use super::{Actor, tenants::validate_name};
use crate::domain::ids::TenantId;
use crate::domain::role::Role;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::storage::{Db, StorageError, api_tokens, audit};

/// A token as listed (never its secret).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: String,
    /// `sy_admin_<public id>_…`.
    pub display: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A new token: the secret is shown once.
#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The whole token, for `Authorization: Bearer`.
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

fn view(row: api_tokens::TokenRow) -> TokenView {
    TokenView {
        display: format!("{ADMIN_TOKEN_PREFIX}{}_…", row.public_id),
        created_at: to_rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(to_rfc3339),
        revoked_at: row.revoked_at.map(to_rfc3339),
        id: row.id,
        name: row.name,
        role: row.role,
    }
}

/// The tenant's tokens.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<TokenView>, StorageError> {
    Ok(api_tokens::list(db, tenant)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// Creates a token.
pub async fn create(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    role: Role,
    actor: Actor<'_>,
) -> Result<IssuedToken, super::api::error::ApiFailure> {
    let name = validate_name("name", name)?;
    let id = format!("tok_{}", uuid::Uuid::now_v7().simple());
    let public_id = hex::encode(rand::random::<[u8; 8]>());
    let secret = base62::encode(u128::from_le_bytes(rand::random::<[u8; 16]>()));
    let token = format!("{ADMIN_TOKEN_PREFIX}{public_id}_{secret}");
    let mut tx = db.begin().await?;
    api_tokens::insert(
        &mut tx,
        &api_tokens::NewToken {
            id: &id,
            tenant,
            name: &name,
            public_id: &public_id,
            secret_hash: &admin_token_hash(&token),
            role: role.as_str(),
            created_by: actor.user_id,
            now: now_millis(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "api_token.create",
            object_type: "api_token",
            object_id: Some(&id),
            ip: actor.ip,
            before: None,
            after: Some(json!({ "name": name, "role": role.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IssuedToken {
        id,
        name,
        role: role.as_str().into(),
        token,
    })
}

/// Revokes a token; `false` when the tenant has no such live token.
pub async fn revoke(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    actor: Actor<'_>,
) -> Result<bool, StorageError> {
    let mut tx = db.begin().await?;
    if !api_tokens::revoke(&mut tx, tenant, id, now_millis()).await? {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        audit::AuditEntry {
            tenant: Some(tenant),
            actor_user_id: actor.user_id,
            actor: actor.label,
            action: "api_token.revoke",
            object_type: "api_token",
            object_id: Some(id),
            ip: actor.ip,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
