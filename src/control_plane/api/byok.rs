//! `/api/v1/providers` and `/api/v1/models`: the tenant's own provider credentials (sealed,
//! shown masked, testable) and the models they serve.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::models::{self, NewModel};
use crate::control_plane::providers::{self, NewCredential};
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::providers::ProviderKind;
use crate::state::AppState;

/// A credential as listed (the key masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    /// e.g. `sk-…a1b2`.
    pub masked_key: String,
    pub last_test_ok: Option<bool>,
}

impl From<providers::CredentialSummary> for CredentialView {
    fn from(c: providers::CredentialSummary) -> Self {
        CredentialView {
            id: c.id,
            name: c.name,
            kind: c.kind,
            base_url: c.base_url,
            masked_key: c.masked_key,
            last_test_ok: c.last_test_ok,
        }
    }
}

/// A credential to add. The key is stored encrypted and never returned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCredentialRequest {
    pub name: String,
    /// `openai`, `azure-openai`, `anthropic`, `gemini`, `cohere` or `openai-compatible`.
    pub kind: String,
    /// Required for Azure and OpenAI-compatible servers; checked against the egress policy.
    pub base_url: Option<String>,
    pub api_key: String,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
}

/// A connection test's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

/// Lists the tenant's provider credentials, masked.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, body = Vec<CredentialView>)))]
pub async fn list_providers(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    let list: Vec<CredentialView> = providers::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Adds a provider credential (admin).
#[utoipa::path(post, path = "/api/v1/providers", tag = "providers",
    request_body = AddCredentialRequest,
    responses((status = 201, body = CredentialView), (status = 400), (status = 403), (status = 409)))]
pub async fn add_provider(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<AddCredentialRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let body = body.into_inner();
    let kind: ProviderKind = serde_json::from_value(serde_json::Value::String(body.kind.clone()))
        .map_err(|_| {
            ApiFailure::field(
                "kind",
                format!("`{}` is not a provider kind (openai, azure-openai, anthropic, gemini, cohere, openai-compatible)", body.kind),
            )
        })?;
    let added = providers::add(
        &state.db,
        state.vault.as_ref(),
        state.settings.egress.allow_private_networks,
        &p.tenant,
        NewCredential {
            name: body.name,
            kind,
            base_url: body.base_url,
            api_key: body.api_key,
            api_version: body.api_version,
        },
        p.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(CredentialView::from(added)))
}

/// Removes a provider credential (admin).
#[utoipa::path(delete, path = "/api/v1/providers/{name}", tag = "providers",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn remove_provider(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    providers::remove(&state.db, &p.tenant, &name, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Tests a provider credential against the provider's model list (admin).
#[utoipa::path(post, path = "/api/v1/providers/{name}/test", tag = "providers",
    params(("name" = String, Path)),
    responses((status = 200, body = TestResult), (status = 403), (status = 404)))]
pub async fn test_provider(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let outcome = providers::test(
        &state.db,
        state.vault.as_ref(),
        state.settings.egress.allow_private_networks,
        &state.egress_http,
        &p.tenant,
        &name,
    )
    .await?;
    Ok(HttpResponse::Ok().json(TestResult {
        ok: outcome.ok,
        message: outcome.message,
    }))
}

/// One of the tenant's models.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub name: String,
    /// The provider credential's name.
    pub provider: Option<String>,
    pub upstream: String,
    /// `chat` or `embedding`.
    pub mode: String,
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
    pub max_output_tokens: Option<i64>,
    pub allow_unpriced: bool,
}

/// A model to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetModelRequest {
    /// The provider credential's name.
    pub provider: String,
    /// The provider's model id (Azure: the deployment name).
    pub upstream: String,
    /// `chat` (default) or `embedding`.
    pub mode: Option<String>,
    /// Default: the built-in price of `upstream`, when known.
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub allow_unpriced: bool,
}

async fn model_views(state: &AppState, p: &Principal) -> Result<Vec<ModelView>, ApiFailure> {
    Ok(models::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .map(|m| ModelView {
            mode: serde_json::from_str::<serde_json::Value>(&m.settings)
                .ok()
                .and_then(|v| v["mode"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "chat".into()),
            input_usd_per_mtok: m.input_nusd_per_mtok.map(|n| NanoUsd(n).as_usd()),
            output_usd_per_mtok: m.output_nusd_per_mtok.map(|n| NanoUsd(n).as_usd()),
            name: m.name,
            provider: m.provider,
            upstream: m.upstream,
            max_output_tokens: m.max_output_tokens,
            allow_unpriced: m.allow_unpriced,
        })
        .collect())
}

/// Lists the tenant's own models.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, body = Vec<ModelView>)))]
pub async fn list_models(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(model_views(&state, &p).await?))
}

/// Creates or replaces a model (admin).
#[utoipa::path(put, path = "/api/v1/models/{name}", tag = "models",
    params(("name" = String, Path)), request_body = SetModelRequest,
    responses((status = 200, body = ModelView), (status = 400), (status = 403)))]
pub async fn set_model(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
    body: web::Json<SetModelRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let b = body.into_inner();
    let name = name.into_inner();
    models::set(
        &state.db,
        &p.tenant,
        NewModel {
            name: name.clone(),
            provider: b.provider,
            upstream: b.upstream,
            mode: b.mode,
            input_usd_per_mtok: b.input_usd_per_mtok,
            output_usd_per_mtok: b.output_usd_per_mtok,
            max_output_tokens: b.max_output_tokens,
            allow_unpriced: b.allow_unpriced,
        },
        p.actor(),
    )
    .await?;
    let saved = model_views(&state, &p)
        .await?
        .into_iter()
        .find(|m| m.name == name.trim())
        .ok_or_else(|| ApiFailure::NotFound("model".into()))?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Removes a model (admin).
#[utoipa::path(delete, path = "/api/v1/models/{name}", tag = "models",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn remove_model(
    state: web::Data<AppState>,
    p: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    models::remove(&state.db, &p.tenant, &name, p.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
