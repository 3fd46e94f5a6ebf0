//! The Logs page (the request log with filters, cursor paging and a detail view per request)
//! and the audit log (admins).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, blank_none, count, dashboard_page, failure, render, to_login, usd};
use crate::control_plane::api::activity::{read_cursor, write_cursor};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::{keys, members};
use crate::domain::role::Role;
use crate::state::AppState;
use crate::storage::audit;
use crate::storage::usage::{self, LogFilter};

const PAGE: u64 = 50;

/// The filters, as the form submits them.
#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    #[serde(default)]
    key: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    user: String,
    /// `YYYY-MM-DDTHH:MM` in the tenant's time zone.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

/// A request-log row, formatted.
pub struct LogRow {
    pub id: String,
    pub at: String,
    pub key: String,
    pub team: String,
    pub user: String,
    pub model: String,
    pub served: String,
    pub route: String,
    pub provider: String,
    pub endpoint: String,
    pub status: i64,
    pub ok: bool,
    pub outcome: String,
    pub error: String,
    pub latency: String,
    pub ttft: String,
    pub prompt_tokens: String,
    pub completion_tokens: String,
    pub cached_tokens: String,
    pub cost: String,
    pub attempts: i64,
    pub streamed: bool,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "dashboard/logs.html")]
struct LogsPage {
    ctx: Ctx,
    q: LogsQuery,
    rows: Vec<LogRow>,
    keys: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    next: Option<String>,
    filtered: bool,
}

/// An audit entry, formatted.
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub ip: String,
    pub before: String,
    pub after: String,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    ctx: Ctx,
    rows: Vec<AuditRow>,
    next: Option<String>,
    allowed: bool,
}

dashboard_page!(LogsPage, AuditPage);

fn local_time(ctx: &Ctx, field: &str, text: &str) -> Result<Option<i64>, ApiFailure> {
    let Some(text) = blank_none(text) else {
        return Ok(None);
    };
    let naive = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| {
            ApiFailure::field(field, "expected a date and time such as 2026-05-01T09:00")
        })?;
    naive
        .and_local_timezone(ctx.tz)
        .earliest()
        .map(|t| Some(t.timestamp_millis()))
        .ok_or_else(|| ApiFailure::field(field, "that time does not exist in your time zone"))
}

fn filter(ctx: &Ctx, q: &LogsQuery) -> Result<LogFilter, ApiFailure> {
    let status = blank_none(&q.status)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| ApiFailure::field("status", "expected an HTTP status such as 429"))
        })
        .transpose()?;
    Ok(LogFilter {
        key_id: blank_none(&q.key),
        team_id: blank_none(&q.team),
        model: blank_none(&q.model),
        status,
        end_user: blank_none(&q.user),
        from: local_time(ctx, "from", &q.from)?,
        to: local_time(ctx, "to", &q.to)?,
    })
}

fn or_dash(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| "—".into())
}

/// `GET /app/logs`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<LogsQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let q = query.into_inner();
    let mut ctx = Ctx::new(&req, &state, &p, "Logs", "logs").await;
    let key_names: HashMap<String, String> = keys::list(&state.db, &p.tenant)
        .await
        .map(|keys| keys.into_iter().map(|k| (k.id, k.name)).collect())
        .unwrap_or_default();
    let team_names: HashMap<String, String> = members::list_teams(&state.db, &p.tenant)
        .await
        .map(|teams| teams.into_iter().map(|t| (t.id, t.name)).collect())
        .unwrap_or_default();
    let loaded = async {
        let f = filter(&ctx, &q)?;
        let cursor = read_cursor(Some(&q.cursor))?;
        let rows = usage::logs_page(
            &state.db,
            &p.tenant,
            &f,
            cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
            PAGE,
        )
        .await?;
        Ok::<_, ApiFailure>(rows)
    }
    .await;
    let (rows, status) = match loaded {
        Ok(rows) => (rows, StatusCode::OK),
        Err(e) => {
            let (code, message) = failure(&e);
            ctx.error = Some(message);
            (Vec::new(), code)
        }
    };
    let next = (rows.len() as u64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|last| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("key", &q.key)
                .append_pair("team", &q.team)
                .append_pair("model", &q.model)
                .append_pair("status", &q.status)
                .append_pair("user", &q.user)
                .append_pair("from", &q.from)
                .append_pair("to", &q.to)
                .append_pair("cursor", &write_cursor(last.created_at, &last.id))
                .finish()
        });
    let rows = rows
        .into_iter()
        .map(|r| LogRow {
            at: ctx.time(r.created_at),
            key: r
                .key_id
                .as_ref()
                .map_or_else(|| "—".into(), |k| key_names.get(k).unwrap_or(k).clone()),
            team: r
                .team_id
                .as_ref()
                .map_or_else(|| "—".into(), |t| team_names.get(t).unwrap_or(t).clone()),
            user: or_dash(r.end_user.as_ref()),
            model: or_dash(r.requested_model.as_ref()),
            served: or_dash(r.served_model.as_ref()),
            route: or_dash(r.route.as_ref()),
            provider: or_dash(r.provider.as_ref()),
            ok: (200..300).contains(&r.status),
            status: r.status,
            outcome: r.outcome,
            error: r.error_code.unwrap_or_default(),
            latency: format!("{} ms", count(r.latency_ms)),
            ttft: r
                .ttft_ms
                .map_or_else(|| "—".into(), |t| format!("{} ms", count(t))),
            prompt_tokens: count(r.prompt_tokens),
            completion_tokens: count(r.completion_tokens),
            cached_tokens: count(r.cached_tokens),
            cost: usd(r.cost_nusd),
            attempts: r.attempts,
            streamed: r.streamed,
            request_id: or_dash(r.request_id.as_ref()),
            endpoint: r.endpoint,
            id: r.id,
        })
        .collect();
    let mut keys: Vec<(String, String)> = key_names.into_iter().collect();
    keys.sort_by(|a, b| a.1.cmp(&b.1));
    let mut teams: Vec<(String, String)> = team_names.into_iter().collect();
    teams.sort_by(|a, b| a.1.cmp(&b.1));
    let filtered = [
        &q.key, &q.team, &q.model, &q.status, &q.user, &q.from, &q.to,
    ]
    .iter()
    .any(|v| !v.trim().is_empty());
    let page = LogsPage {
        ctx,
        q,
        rows,
        keys,
        teams,
        next,
        filtered,
    };
    render(status, &page)
}

/// `?cursor=` for the audit log.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /app/audit` (admins and owners).
pub async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let mut ctx = Ctx::new(&req, &state, &p, "Audit log", "logs").await;
    let loaded = async {
        p.require(Role::Admin)?;
        let cursor = read_cursor(Some(&query.cursor))?;
        Ok::<_, ApiFailure>(
            audit::page(
                &state.db,
                &p.tenant,
                cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
                PAGE,
            )
            .await?,
        )
    }
    .await;
    let (rows, status) = match loaded {
        Ok(rows) => (rows, StatusCode::OK),
        Err(e) => {
            let (code, message) = failure(&e);
            ctx.error = Some(message);
            (Vec::new(), code)
        }
    };
    let next = (rows.len() as u64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|last| write_cursor(last.created_at, &last.id));
    let rows = rows
        .into_iter()
        .map(|r| AuditRow {
            at: ctx.time(r.created_at),
            actor: r.actor,
            action: r.action,
            object: match r.object_id {
                Some(id) => format!("{} {id}", r.object_type),
                None => r.object_type,
            },
            ip: r.ip.unwrap_or_default(),
            before: r.before_state.unwrap_or_default(),
            after: r.after_state.unwrap_or_default(),
        })
        .collect();
    let allowed = p.role <= Role::Admin;
    let page = AuditPage {
        ctx,
        rows,
        next,
        allowed,
    };
    render(status, &page)
}
