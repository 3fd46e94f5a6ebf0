//! `GET /api/v1/usage` (grouped totals from the rollups) and `GET /api/v1/logs` (the request
//! log with filters and cursor pagination).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::activity::{page_limit, read_cursor, write_cursor};
use super::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::domain::money::NanoUsd;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::state::AppState;
use crate::storage::usage::{self, GroupBy, LogFilter};

/// Reads a time: epoch milliseconds or RFC 3339.
fn time(field: &str, text: Option<&str>) -> Result<Option<i64>, ApiFailure> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| ApiFailure::field(field, "expected epoch milliseconds or an RFC 3339 time"))
}

/// Usage query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UsageQuery {
    /// model, team, key, user or day.
    #[param(value_type = String)]
    pub group_by: GroupBy,
    /// Start (inclusive): epoch ms or RFC 3339; default 30 days ago.
    pub from: Option<String>,
    /// End (exclusive); default now.
    pub to: Option<String>,
}

/// Totals of one group.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageGroupView {
    /// The model, team id, key id, end user, or the day (`YYYY-MM-DD`).
    pub group: String,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub cost_nusd: i64,
    /// What cache hits in this group saved (the cost of the answers they reused).
    pub saved_usd: f64,
    pub saved_nusd: i64,
}

/// Usage grouped by one dimension.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    pub group_by: String,
    pub from: String,
    pub to: String,
    pub groups: Vec<UsageGroupView>,
    /// What cache hits saved over the whole range (all groups).
    pub saved_by_cache_usd: f64,
    pub saved_by_cache_nusd: i64,
}

/// Spend, tokens and requests grouped by model, team, key, user or day.
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = UsageResponse), (status = 400)))]
pub async fn usage_report(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiFailure> {
    let to = time("to", query.to.as_deref())?.unwrap_or_else(|| now_millis() + 1);
    let from = time("from", query.from.as_deref())?.unwrap_or(to - 30 * 24 * 3_600_000);
    if from >= to {
        return Err(ApiFailure::field("from", "must be before `to`"));
    }
    let rows = usage::grouped(&state.db, &p.tenant, query.group_by, from, to).await?;
    let groups = rows
        .into_iter()
        .map(|g| UsageGroupView {
            group: if query.group_by == GroupBy::Day {
                g.group
                    .parse::<i64>()
                    .ok()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or(g.group.clone(), |d| d.format("%Y-%m-%d").to_string())
            } else {
                g.group
            },
            requests: g.requests,
            errors: g.errors,
            prompt_tokens: g.prompt_tokens,
            completion_tokens: g.completion_tokens,
            cost_usd: NanoUsd(g.cost_nusd).as_usd(),
            cost_nusd: g.cost_nusd,
            saved_usd: NanoUsd(g.saved_nusd).as_usd(),
            saved_nusd: g.saved_nusd,
        })
        .collect::<Vec<_>>();
    let saved: i64 = groups.iter().map(|g| g.saved_nusd).sum();
    let group_by = serde_json::to_value(query.group_by)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(UsageResponse {
        group_by,
        from: to_rfc3339(from),
        to: to_rfc3339(to),
        groups,
        saved_by_cache_usd: NanoUsd(saved).as_usd(),
        saved_by_cache_nusd: saved,
    }))
}

/// Request-log filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// A key id.
    pub key: Option<String>,
    /// A team id.
    pub team: Option<String>,
    /// The requested or served model.
    pub model: Option<String>,
    /// The HTTP status answered.
    pub status: Option<i64>,
    /// The end user (`user` field of the request).
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// One logged request.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogView {
    pub id: String,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub user: Option<String>,
    pub route: Option<String>,
    pub requested_model: Option<String>,
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub endpoint: String,
    pub status: i64,
    pub error_code: Option<String>,
    pub outcome: String,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_usd: f64,
    pub cost_nusd: i64,
    /// What a cache hit saved (0 otherwise).
    pub saved_usd: f64,
    pub saved_nusd: i64,
    /// What the response cache did: `hit`, `semantic-hit`, `miss` or `bypass`.
    pub cache: Option<String>,
    pub attempts: i64,
    pub streamed: bool,
    pub created_at: String,
    pub created_at_ms: i64,
}

/// A page of the request log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogsPage {
    pub data: Vec<LogView>,
    pub next_cursor: Option<String>,
}

/// The request log, newest first.
#[utoipa::path(get, path = "/api/v1/logs", tag = "usage", params(LogsQuery),
    responses((status = 200, body = LogsPage), (status = 400)))]
pub async fn logs(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiFailure> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let cursor = read_cursor(query.cursor.as_deref())?;
    let filter = LogFilter {
        key_id: query.key,
        team_id: query.team,
        model: query.model,
        status: query.status,
        end_user: query.user,
        from: time("from", query.from.as_deref())?,
        to: time("to", query.to.as_deref())?,
    };
    let rows = usage::logs_page(
        &state.db,
        &p.tenant,
        &filter,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        limit,
    )
    .await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| write_cursor(r.created_at, &r.id)))
        .flatten();
    let data = rows
        .into_iter()
        .map(|r| LogView {
            created_at: to_rfc3339(r.created_at),
            created_at_ms: r.created_at,
            cost_usd: NanoUsd(r.cost_nusd).as_usd(),
            id: r.id,
            request_id: r.request_id,
            team_id: r.team_id,
            key_id: r.key_id,
            user: r.end_user,
            route: r.route,
            requested_model: r.requested_model,
            served_model: r.served_model,
            provider: r.provider,
            endpoint: r.endpoint,
            status: r.status,
            error_code: r.error_code,
            outcome: r.outcome,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached_tokens: r.cached_tokens,
            cost_nusd: r.cost_nusd,
            saved_usd: NanoUsd(r.saved_nusd).as_usd(),
            saved_nusd: r.saved_nusd,
            cache: r.cache_result,
            attempts: r.attempts,
            streamed: r.streamed,
        })
        .collect();
    Ok(HttpResponse::Ok().json(LogsPage { data, next_cursor }))
}
