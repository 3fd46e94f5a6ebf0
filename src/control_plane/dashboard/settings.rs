//! The Settings page: organisation profile, data retention, body logging, tenant IP allowlist,
//! time zone, cost tracking, and tenant/team/model rate limits. Admins edit; others read.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, blank_none, dashboard_page, failure, list, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::members::TeamView;
use crate::control_plane::settings::{self, SettingsError, TenantView};
use crate::control_plane::{key_policy, members};
use crate::domain::role::Role;
use crate::domain::tenant_settings::{self, Limits, TeamSettings};
use crate::state::AppState;
use crate::storage::{self, StorageError};

impl From<SettingsError> for ApiFailure {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::NotFound => ApiFailure::NotFound("tenant".into()),
            SettingsError::Invalid(f) => f.into(),
            SettingsError::Storage(s) => s.into(),
        }
    }
}

/// A scope's limits, formatted.
pub struct LimitRow {
    pub scope: String,
    pub rpm: String,
    pub tpm: String,
    pub max_concurrent: String,
}

#[derive(Template)]
#[template(path = "dashboard/settings.html")]
struct SettingsPage {
    ctx: Ctx,
    tenant_id: String,
    view: Option<TenantView>,
    ips: String,
    retention: String,
    limits: Vec<LimitRow>,
    teams: Vec<String>,
}

dashboard_page!(SettingsPage);

fn limit_row(scope: String, l: &Limits) -> LimitRow {
    let show = |v: Option<u64>| v.map_or_else(|| "—".into(), |n| super::count(n as i64));
    LimitRow {
        scope,
        rpm: show(l.rpm),
        tpm: show(l.tpm),
        max_concurrent: show(l.max_concurrent),
    }
}

/// The limits stored with each team that has any.
async fn team_limits(
    state: &AppState,
    p: &Principal,
    teams: &[TeamView],
) -> Result<Vec<LimitRow>, ApiFailure> {
    let mut rows = Vec::new();
    let mut tx = state.db.begin().await?;
    for team in teams {
        let raw = storage::teams::settings(&mut tx, &p.tenant, &team.id)
            .await?
            .unwrap_or_default();
        let settings: TeamSettings = tenant_settings::parse(&raw)
            .map_err(|e| StorageError::Corrupt(format!("team settings: {e}")))?;
        if !settings.limits.is_empty() {
            rows.push(limit_row(format!("team {}", team.name), &settings.limits));
        }
    }
    tx.commit().await?;
    Ok(rows)
}

/// Renders the settings page with an optional outcome (status and message).
pub(crate) async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    outcome: Option<(StatusCode, String)>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Settings", "settings").await;
    let view = match settings::show(&state.db, &p.tenant).await {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.error = Some(failure(&e.into()).1);
            None
        }
    };
    let team_list = members::list_teams(&state.db, &p.tenant)
        .await
        .unwrap_or_default();
    let team_limits = match team_limits(state, p, &team_list).await {
        Ok(rows) => rows,
        Err(e) => {
            ctx.error = Some(failure(&e).1);
            Vec::new()
        }
    };
    let teams = team_list.into_iter().map(|t| t.name).collect();
    let status = match outcome {
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let mut limits = Vec::new();
    if let Some(v) = &view {
        if !v.settings.limits.is_empty() {
            limits.push(limit_row("organisation".into(), &v.settings.limits));
        }
        for (model, l) in &v.settings.model_limits {
            limits.push(limit_row(format!("model {model}"), l));
        }
    }
    limits.extend(team_limits);
    let page = SettingsPage {
        ctx,
        tenant_id: p.tenant.to_string(),
        ips: view
            .as_ref()
            .map(|v| v.settings.ip_allowlist.join("\n"))
            .unwrap_or_default(),
        retention: view
            .as_ref()
            .and_then(|v| v.settings.retention_days)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        view,
        limits,
        teams,
    };
    render(status, &page)
}

/// `GET /app/settings`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => show(&req, &state, &p, None).await,
        None => to_login(),
    }
}

/// The settings form (checkboxes are absent when off).
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    timezone: String,
    #[serde(default)]
    retention_days: String,
    #[serde(default)]
    log_bodies: Option<String>,
    #[serde(default)]
    cost_tracking: Option<String>,
    #[serde(default)]
    ip_allowlist: String,
}

/// `POST /app/settings`.
pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<SettingsForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let ips = key_policy::cidrs(&list(&f.ip_allowlist))?;
        let tz = settings::timezone(&f.timezone)?;
        let retention = blank_none(&f.retention_days)
            .map(|d| {
                d.parse::<u32>()
                    .map_err(|_| ApiFailure::field("retention_days", "expected a number of days"))
            })
            .transpose()?;
        settings::update(&state.db, &p.tenant, "tenant.settings", p.actor(), |v| {
            v.settings.ip_allowlist = ips;
            v.settings.log_bodies = f.log_bodies.is_some();
            v.settings.cost_tracking = f.cost_tracking.is_some();
            v.settings.retention_days = retention;
            v.timezone = tz;
            Ok(())
        })
        .await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/settings"),
        Err(e) => show(&req, &state, &p, Some(failure(&e))).await,
    }
}

/// The limits form: blank clears a limit.
#[derive(Debug, Deserialize)]
pub struct LimitsForm {
    scope_kind: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    rpm: String,
    #[serde(default)]
    tpm: String,
    #[serde(default)]
    max_concurrent: String,
}

/// `POST /app/settings/limits`.
pub async fn save_limits(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<LimitsForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let scope = match f.scope_kind.as_str() {
            "team" => format!("team:{}", f.team.trim()),
            "model" => format!("model:{}", f.model.trim()),
            _ => "tenant".to_owned(),
        };
        let n = |field: &str, text: &str| super::number(field, text).map(|v| v.map(u64::from));
        let limits = Limits {
            rpm: n("rpm", &f.rpm)?,
            tpm: n("tpm", &f.tpm)?,
            max_concurrent: n("max_concurrent", &f.max_concurrent)?,
        };
        settings::set_limits(&state.db, &p.tenant, &scope, limits, p.actor()).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/settings"),
        Err(e) => show(&req, &state, &p, Some(failure(&e))).await,
    }
}
