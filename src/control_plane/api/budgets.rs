//! `/api/v1/budgets`: budgets on the tenant, a team, a key, an end user or a model.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::budgets::{self, BudgetSummary};
use crate::domain::budget::BudgetPeriod;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::state::AppState;

/// A budget to set (replaces the scope's budget for the period).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudgetRequest {
    /// `tenant`, `team:NAME`, `key:ID`, `user:ID` or `model:NAME`.
    pub scope: String,
    /// The limit in USD, as a decimal string such as `"25.50"`.
    pub usd: String,
    /// daily, weekly, monthly (default) or total.
    #[schema(value_type = Option<String>)]
    pub period: Option<BudgetPeriod>,
    /// Alert thresholds in percent (default 50, 80, 100).
    pub alert_at: Option<Vec<u8>>,
}

/// Which budget to delete.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteBudgetQuery {
    pub scope: String,
    #[param(value_type = Option<String>)]
    pub period: Option<BudgetPeriod>,
}

/// The tenant's budgets.
#[utoipa::path(get, path = "/api/v1/budgets", tag = "budgets",
    responses((status = 200, body = Vec<BudgetSummary>)))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(budgets::list(&state.db, &p.tenant).await?))
}

/// Sets a budget (admin).
#[utoipa::path(put, path = "/api/v1/budgets", tag = "budgets", request_body = SetBudgetRequest,
    responses((status = 204), (status = 400), (status = 403), (status = 404)))]
pub async fn set(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<SetBudgetRequest>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let body = body.into_inner();
    let scope = budgets::resolve_scope(&state.db, &p.tenant, &body.scope).await?;
    let limit =
        NanoUsd::parse_usd(&body.usd).map_err(|e| ApiFailure::field("usd", e.to_string()))?;
    let thresholds = body.alert_at.unwrap_or_else(|| vec![50, 80, 100]);
    budgets::set(
        &state.db,
        &p.tenant,
        &scope,
        limit,
        body.period.unwrap_or_default(),
        &thresholds,
        p.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a budget (admin).
#[utoipa::path(delete, path = "/api/v1/budgets", tag = "budgets", params(DeleteBudgetQuery),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<DeleteBudgetQuery>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Admin)?;
    let scope = budgets::resolve_scope(&state.db, &p.tenant, &query.scope).await?;
    budgets::delete(
        &state.db,
        &p.tenant,
        &scope,
        query.period.unwrap_or_default(),
        p.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
