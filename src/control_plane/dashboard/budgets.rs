//! The Budgets & alerts page: budgets on the tenant, a team, a key, an end user or a model
//! (period and alert thresholds), alert destinations (email, signed webhook whose secret is
//! shown once, Slack), and the notifications list (mark read).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, blank_none, dashboard_page, failure, render, see_other, to_login, usd};
use crate::control_plane::alerts::{
    self, AddedDestination, AlertError, DestinationSummary, NewDestination,
};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::budgets;
use crate::control_plane::members::{self, TeamView};
use crate::domain::budget::BudgetPeriod;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::{budgets as budget_rows, notifications};

impl From<AlertError> for ApiFailure {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::NotFound => ApiFailure::NotFound("alert destination".into()),
            AlertError::Invalid(f) => f.into(),
            AlertError::Crypto(c) => ApiFailure::Conflict(format!(
                "cannot store the webhook secret: {c} (the operator must configure master_key)"
            )),
            AlertError::Storage(s) => s.into(),
        }
    }
}

/// A budget row: `scope` is what the delete form sends back (team by name).
pub struct BudgetRow {
    pub label: String,
    pub alerts: String,
    pub scope: String,
    pub period: String,
    pub limit: String,
}

fn budget_row(b: budget_rows::BudgetRow, teams: &[TeamView]) -> BudgetRow {
    let (kind, id) = (b.scope_type.as_str(), b.scope_id.as_str());
    let raw_scope = format!("{kind}:{id}");
    let (label, scope) = match kind {
        "tenant" => ("The whole organisation".to_owned(), "tenant".to_owned()),
        "team" => {
            let name = teams
                .iter()
                .find(|t| t.id == id)
                .map_or(id, |t| t.name.as_str());
            (format!("Team {name}"), format!("team:{name}"))
        }
        "key" => (format!("Key {id}"), raw_scope),
        "user" => (format!("End user {id}"), raw_scope),
        "model" => (format!("Model {id}"), raw_scope),
        _ => (raw_scope.clone(), raw_scope),
    };
    let alerts: Vec<u8> = serde_json::from_str(&b.alert_thresholds).unwrap_or_default();
    BudgetRow {
        label,
        scope,
        alerts: if alerts.is_empty() {
            "none".into()
        } else {
            alerts
                .iter()
                .map(|a| format!("{a}%"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        limit: usd(b.limit_nusd),
        period: b.period,
    }
}

/// A notification row.
pub struct NotificationRow {
    pub id: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub at: String,
}

#[derive(Template)]
#[template(path = "dashboard/budgets.html")]
struct BudgetsPage {
    ctx: Ctx,
    budgets: Vec<BudgetRow>,
    teams: Vec<String>,
    destinations: Vec<DestinationSummary>,
    notifications: Vec<NotificationRow>,
    added: Option<AddedDestination>,
}

dashboard_page!(BudgetsPage);

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    outcome: Option<(StatusCode, String)>,
    added: Option<AddedDestination>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Budgets & alerts", "budgets").await;
    let loaded = async {
        Ok::<_, ApiFailure>((
            budget_rows::list(&state.db, &p.tenant).await?,
            members::list_teams(&state.db, &p.tenant).await?,
            alerts::list(&state.db, &p.tenant).await?,
            notifications::list(&state.db, &p.tenant, false, 50).await?,
        ))
    }
    .await;
    let (budget_list, teams, destinations, notes) = loaded.unwrap_or_else(|e| {
        ctx.error = Some(failure(&e).1);
        Default::default()
    });
    let status = match outcome {
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let notifications = notes
        .into_iter()
        .map(|n| NotificationRow {
            read: n.read_at.is_some(),
            at: ctx.time(n.created_at),
            id: n.id,
            severity: n.severity,
            title: n.title,
            body: n.body,
        })
        .collect();
    let page = BudgetsPage {
        ctx,
        budgets: budget_list
            .into_iter()
            .map(|b| budget_row(b, &teams))
            .collect(),
        teams: teams.into_iter().map(|t| t.name).collect(),
        destinations,
        notifications,
        added,
    };
    render(status, &page)
}

/// `GET /app/budgets`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => show(&req, &state, &p, None, None).await,
        None => to_login(),
    }
}

async fn finish(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    result: Result<(), ApiFailure>,
) -> HttpResponse {
    match result {
        Ok(()) => see_other("/app/budgets"),
        Err(e) => show(req, state, p, Some(failure(&e)), None).await,
    }
}

/// `tenant`, or a kind with the team name, key id, end-user id or model name.
fn scope_text(kind: &str, value: &str) -> String {
    match (kind.trim(), value.trim()) {
        ("tenant", _) | ("", _) => "tenant".to_owned(),
        (kind, value) => format!("{kind}:{value}"),
    }
}

fn period(text: &str) -> Result<BudgetPeriod, ApiFailure> {
    match blank_none(text) {
        Some(p) => serde_json::from_value(serde_json::Value::String(p.clone()))
            .map_err(|_| ApiFailure::field("period", format!("`{p}` is not a period"))),
        None => Ok(BudgetPeriod::default()),
    }
}

/// The budget form.
#[derive(Debug, Deserialize)]
pub struct BudgetForm {
    scope_kind: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    scope_value: String,
    usd: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    alert_at: String,
}

fn thresholds(text: &str) -> Result<Vec<u8>, ApiFailure> {
    let parsed: Result<Vec<u8>, _> = super::list(text)
        .iter()
        .map(|t| t.trim_end_matches('%').parse::<u8>())
        .collect();
    match parsed {
        Ok(list) if list.is_empty() => Ok(vec![50, 80, 100]),
        Ok(list) => Ok(list),
        Err(_) => Err(ApiFailure::field(
            "alert_at",
            "expected percentages such as 50, 80, 100",
        )),
    }
}

/// `POST /app/budgets`: sets (replaces) a budget.
pub async fn set(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<BudgetForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let value = if f.scope_kind == "team" {
            &f.team
        } else {
            &f.scope_value
        };
        let scope =
            budgets::resolve_scope(&state.db, &p.tenant, &scope_text(&f.scope_kind, value)).await?;
        let limit = NanoUsd::parse_usd(f.usd.trim())
            .map_err(|e| ApiFailure::field("usd", e.to_string()))?;
        budgets::set(
            &state.db,
            &p.tenant,
            &scope,
            limit,
            period(&f.period)?,
            &thresholds(&f.alert_at)?,
            p.actor(),
        )
        .await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// The budget-delete form.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    scope: String,
    period: String,
}

/// `POST /app/budgets/delete`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<DeleteForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let scope = budgets::resolve_scope(&state.db, &p.tenant, &form.scope).await?;
        budgets::delete(
            &state.db,
            &p.tenant,
            &scope,
            period(&form.period)?,
            p.actor(),
        )
        .await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// The destination form.
#[derive(Debug, Deserialize)]
pub struct DestinationForm {
    kind: String,
    target: String,
}

/// `POST /app/alerts`: adds a destination; a webhook's signing secret is shown once.
pub async fn add_destination(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<DestinationForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        let target = form.target.trim().to_owned();
        let new = match form.kind.as_str() {
            "webhook" => NewDestination::Webhook {
                url: target,
                secret: None,
            },
            "slack" => NewDestination::Slack { url: target },
            "email" => NewDestination::Email { address: target },
            _ => {
                return Err(ApiFailure::field(
                    "kind",
                    "expected email, webhook or slack",
                ));
            }
        };
        Ok(alerts::add(
            &state.db,
            state.vault.as_ref(),
            state.settings.egress.allow_private_networks,
            &p.tenant,
            new,
            p.actor(),
        )
        .await?)
    }
    .await;
    match result {
        Ok(added) if added.secret.is_some() => show(&req, &state, &p, None, Some(added)).await,
        Ok(_) => see_other("/app/budgets"),
        Err(e) => show(&req, &state, &p, Some(failure(&e)), None).await,
    }
}

/// `POST /app/alerts/{id}/remove`.
pub async fn remove_destination(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        alerts::remove(&state.db, &p.tenant, &id, p.actor()).await?;
        Ok(())
    }
    .await;
    finish(&req, &state, &p, result).await
}

/// `POST /app/notifications/{id}/read`.
pub async fn mark_read(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        if notifications::mark_read(&state.db, &p.tenant, &id, now_millis()).await? {
            Ok(())
        } else {
            Err(ApiFailure::NotFound("notification".into()))
        }
    }
    .await;
    finish(&req, &state, &p, result).await
}
