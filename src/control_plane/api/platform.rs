//! `/api/v1/admin/*`: platform administration (all tenants; suspend and reactivate).

use actix_web::{HttpResponse, web};

use super::error::ApiFailure;
use crate::control_plane::auth::accounts;
use crate::control_plane::auth::principal::PlatformAdmin;
use crate::state::AppState;
use crate::storage::tenants;

/// A tenant as platform administrators see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    /// active or suspended.
    pub status: String,
    pub created_at: String,
}

/// Every tenant.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "platform",
    responses((status = 200, body = Vec<TenantView>), (status = 403)))]
pub async fn list_tenants(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
) -> Result<HttpResponse, ApiFailure> {
    let views: Vec<_> = tenants::list(&state.db)
        .await?
        .into_iter()
        .map(|t| TenantView {
            created_at: crate::domain::time::to_rfc3339(t.created_at),
            id: t.id,
            name: t.name,
            status: t.status,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn set_active(
    state: &AppState,
    admin: &PlatformAdmin,
    id: &str,
    active: bool,
) -> Result<HttpResponse, ApiFailure> {
    if accounts::set_tenant_active(&state.db, id, active, admin.0.actor()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiFailure::NotFound("tenant".into()))
    }
}

/// Suspends a tenant: its keys stop working within a second.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "platform",
    params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn suspend(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    set_active(&state, &admin, &id, false).await
}

/// Reactivates a suspended tenant.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/reactivate", tag = "platform",
    params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn reactivate(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    set_active(&state, &admin, &id, true).await
}
