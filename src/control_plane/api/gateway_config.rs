//! `/api/v1/routes`, `/api/v1/pii` and `/api/v1/cache`: the tenant's routes (validated against
//! the models they may target), its PII policy and its response-cache settings.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::config::{CacheOverrides, RouteSettings};
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::dashboard::models::targetable;
use crate::control_plane::{cache, models, pii, routes};
use crate::domain::role::Role;
use crate::state::AppState;
use crate::storage::pii_settings::Level;

/// A stored route.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    pub name: String,
    pub strategy: String,
    /// The route as in `[[routes]]`: targets, fallbacks, rules, timeouts, retries.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub updated_at: String,
}

impl From<routes::RouteSummary> for RouteView {
    fn from(r: routes::RouteSummary) -> Self {
        RouteView {
            name: r.name,
            strategy: r.strategy,
            definition: r.definition,
            updated_at: r.updated_at,
        }
    }
}

/// Lists the tenant's routes.
#[utoipa::path(get, path = "/api/v1/routes", tag = "routes",
    responses((status = 200, body = Vec<RouteView>)))]
pub async fn list_routes(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    let list: Vec<RouteView> = routes::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Creates or replaces a route (admin). The body is a `[[routes]]` entry as JSON; its name is
/// the path's. An invalid field is named in the error (`targets`, `fallbacks`, …).
#[utoipa::path(put, path = "/api/v1/routes/{name}", tag = "routes",
    params(("name" = String, Path)), request_body(content = Object),
    responses((status = 200, body = RouteView), (status = 400), (status = 403)))]
pub async fn set_route(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let mut body = body.into_inner();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("name".into(), serde_json::Value::String(name.into_inner()));
    }
    let route: RouteSettings =
        serde_json::from_value(body).map_err(|e| ApiFailure::field("route", e.to_string()))?;
    let tenant_models: Vec<String> = models::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    let names = targetable(&state, &tenant_models);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let saved = routes::set(&state.db, &p.tenant, route, &names, p.actor()).await?;
    Ok(HttpResponse::Ok().json(RouteView::from(saved)))
}

/// Deletes a route (admin).
#[utoipa::path(delete, path = "/api/v1/routes/{name}", tag = "routes",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete_route(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    routes::delete(&state.db, &p.tenant, &name, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organisation's PII policy: per type (`email`, `phone`, `card`, `ssn`, `iban`, `ip`,
/// `secret`) an action (`allow`, `redact`, `mask`, `tokenize`, `block`), and `custom` rules
/// (`name`, `pattern`, `action`).
#[utoipa::path(get, path = "/api/v1/pii", tag = "settings",
    responses((status = 200, body = Object)))]
pub async fn get_pii(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(pii::get(&state.db, &p.tenant, &Level::Tenant).await?))
}

/// Replaces the organisation's PII policy (admin); `{}` clears it. Teams and keys may
/// override it per type (`/api/v1/teams/{id}/pii`, `/api/v1/keys/{id}/pii`).
#[utoipa::path(put, path = "/api/v1/pii", tag = "settings", request_body(content = Object),
    responses((status = 200, body = Object), (status = 400), (status = 403)))]
pub async fn put_pii(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let policy = super::pii_levels::policy_body(body.into_inner())?;
    pii::put(&state.db, &p.tenant, &Level::Tenant, &policy, p.actor()).await?;
    Ok(HttpResponse::Ok().json(pii::get(&state.db, &p.tenant, &Level::Tenant).await?))
}

/// The organisation's cache settings (`enabled`, `ttl`, `threshold`, `exact_only`; unset
/// fields inherit the server's).
#[utoipa::path(get, path = "/api/v1/cache", tag = "settings",
    responses((status = 200, body = Object)))]
pub async fn get_cache(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(cache::show(&state.db, &p.tenant).await?.tenant))
}

/// Changes the organisation's cache settings (admin): fields sent replace, others are kept.
#[utoipa::path(patch, path = "/api/v1/cache", tag = "settings", request_body(content = Object),
    responses((status = 200, body = Object), (status = 400), (status = 403)))]
pub async fn patch_cache(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let change: CacheOverrides = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiFailure::field("cache", e.to_string()))?;
    let next = cache::set(&state.db, &p.tenant, None, &change, p.actor()).await?;
    Ok(HttpResponse::Ok().json(next))
}
