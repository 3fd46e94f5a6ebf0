//! `/api/v1/tokens`: admin API tokens (admin and owner only).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::control_plane::api_tokens::{self, IssuedToken, TokenView};
use crate::control_plane::auth::principal::Principal;
use crate::domain::role::Role;
use crate::state::AppState;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    /// The token's role, at most the creator's own (default viewer).
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
}

/// The tenant's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(api_tokens::list(&state.db, &p.tenant).await?))
}

/// Creates a token; the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenRequest,
    responses((status = 201, body = IssuedToken), (status = 403)))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let role = body.role.unwrap_or(Role::Viewer);
    if role < p.role {
        return Err(ApiFailure::Forbidden(format!(
            "a token cannot have a higher role than yours ({})",
            p.role
        )));
    }
    let issued = api_tokens::create(&state.db, &p.tenant, &body.name, role, p.actor()).await?;
    Ok(HttpResponse::Created().json(issued))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    if api_tokens::revoke(&state.db, &p.tenant, &id, p.actor()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiFailure::NotFound("token".into()))
    }
}
