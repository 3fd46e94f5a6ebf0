//! `/api/v1/keys`: virtual keys. Viewers read; members and above mint; admins and owners
//! rotate and revoke.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::key_update::{self, KeyChanges};
use crate::control_plane::keys::{self, IssuedKey, KeySpec, KeySummary};
use crate::domain::budget::BudgetPeriod;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::state::AppState;

/// A key to mint.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub name: Option<String>,
    /// A team name of the tenant.
    pub team: Option<String>,
    /// Allowed models or routes (empty: all).
    #[serde(default)]
    pub models: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    /// Concurrent requests allowed.
    pub max_concurrent: Option<u32>,
    /// A budget in USD (e.g. `"25"` or `25.5`).
    #[schema(value_type = Option<String>)]
    pub budget_usd: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub budget_period: Option<BudgetPeriod>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub allowed_referrers: Vec<String>,
    /// A duration such as `30d`.
    pub expires_in: Option<String>,
}

/// Changes to a key; fields left out keep their value, `null` clears a limit or the expiry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub tpm: Option<Option<u32>>,
    /// Requests in flight at once; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_concurrent: Option<Option<u32>>,
    /// The key's budget in USD (e.g. `"25"` or `25.5`); `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub budget_usd: Option<Option<serde_json::Value>>,
    /// The budget's period (default `monthly`); used with `budget_usd`.
    #[schema(value_type = Option<String>)]
    pub budget_period: Option<BudgetPeriod>,
    pub allowed_ips: Option<Vec<String>>,
    pub allowed_referrers: Option<Vec<String>>,
    /// A duration from now such as `30d`, or `null` for no expiry.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires_in: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Rotation options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old secret keeps working (default `keys.rotation_grace`).
    pub grace: Option<String>,
}

fn duration(field: &str, text: &str) -> Result<std::time::Duration, ApiFailure> {
    humantime::parse_duration(text.trim())
        .map_err(|e| ApiFailure::field(field, format!("`{text}`: {e}")))
}

/// The tenant's keys, newest first.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = Vec<KeySummary>), (status = 401)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(keys::list(&state.db, &p.tenant).await?))
}

/// One key.
#[utoipa::path(get, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 200, body = KeySummary), (status = 404)))]
pub async fn get(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    let key = keys::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .find(|k| k.id == *id)
        .ok_or_else(|| ApiFailure::NotFound("key".into()))?;
    Ok(HttpResponse::Ok().json(key))
}

/// A USD amount sent as a string or a number.
fn usd_amount(v: &serde_json::Value) -> Result<NanoUsd, ApiFailure> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    NanoUsd::parse_usd(&text).map_err(|e| ApiFailure::field("budget_usd", e.to_string()))
}

/// Mints a key; the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, body = IssuedKey), (status = 400), (status = 403)))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<CreateKeyRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Member)?;
    let body = body.into_inner();
    let budget = match &body.budget_usd {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(usd_amount(v)?),
    };
    let spec = KeySpec {
        name: body.name,
        team: body.team,
        models: body.models,
        rpm: body.rpm,
        tpm: body.tpm,
        max_concurrent: body.max_concurrent,
        budget,
        budget_period: body.budget_period.unwrap_or_default(),
        allowed_ips: body.allowed_ips,
        allowed_referrers: body.allowed_referrers,
        expires_in: body
            .expires_in
            .as_deref()
            .map(|t| duration("expires_in", t))
            .transpose()?,
    };
    let issued = keys::create(&state.db, &p.tenant, spec, p.actor()).await?;
    Ok(HttpResponse::Created().json(issued))
}

/// Issues a new secret; the old one works for the grace period.
#[utoipa::path(post, path = "/api/v1/keys/{id}/rotate", tag = "keys",
    params(("id" = String, Path)), request_body = RotateKeyRequest,
    responses((status = 200, body = IssuedKey), (status = 403), (status = 404)))]
pub async fn rotate(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Option<web::Json<RotateKeyRequest>>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let grace = match body.and_then(|b| b.into_inner().grace) {
        Some(text) => duration("grace", &text)?,
        None => state.settings.keys.rotation_grace,
    };
    let issued = keys::rotate(&state.db, &p.tenant, &id, grace, p.actor()).await?;
    Ok(HttpResponse::Ok().json(issued))
}

/// Edits a key (admin).
#[utoipa::path(patch, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path)), request_body = UpdateKeyRequest,
    responses((status = 200, body = KeySummary), (status = 400), (status = 403), (status = 404)))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Json<UpdateKeyRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let body = body.into_inner();
    let changes = KeyChanges {
        name: body.name,
        models: body.models,
        rpm: body.rpm,
        tpm: body.tpm,
        max_concurrent: body.max_concurrent,
        budget: match body.budget_usd {
            Some(Some(v)) => Some(Some((
                usd_amount(&v)?,
                body.budget_period.unwrap_or_default(),
            ))),
            Some(None) => Some(None),
            None => None,
        },
        allowed_ips: body.allowed_ips,
        allowed_referrers: body.allowed_referrers,
        expires_in: body
            .expires_in
            .map(|v| v.map(|t| duration("expires_in", &t)).transpose())
            .transpose()?,
    };
    key_update::update(&state.db, &p.tenant, &id, changes, p.actor()).await?;
    get(state, p, id).await
}

/// Revokes a key (effective on the data path within a second).
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn revoke(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    keys::revoke(&state.db, &p.tenant, &id, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
