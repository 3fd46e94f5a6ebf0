//! The Overview page: spend this month against the organisation's budget, requests, error
//! rate, top models and recent alerts; a new organisation is told to mint a key first.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Datelike;

use super::{Ctx, count, dashboard_page, failure, render, usd};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::{Principal, SessionUser};
use crate::control_plane::{budgets, keys};
use crate::domain::money::NanoUsd;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::notifications;
use crate::storage::usage::{self, GroupBy};

/// A top-model row.
pub struct ModelRow {
    pub model: String,
    pub requests: String,
    pub cost: String,
}

/// A recent alert.
pub struct AlertRow {
    pub severity: String,
    pub title: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    ctx: Ctx,
    key_count: usize,
    spend: String,
    budget: Option<String>,
    /// Spend as a share of the budget, 0–100.
    budget_used: u64,
    requests: String,
    error_rate: String,
    models: Vec<ModelRow>,
    alerts: Vec<AlertRow>,
    unread: usize,
    period: String,
}

dashboard_page!(OverviewPage);

/// The first millisecond of the current month (UTC).
fn month_start() -> i64 {
    let now = chrono::Utc::now();
    chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |d| d.and_utc().timestamp_millis())
}

/// `GET /app`: the overview, or the plain shell for a platform administrator without an
/// organisation.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: Option<SessionUser>,
) -> HttpResponse {
    let Some(p) = p else {
        return crate::control_plane::pages::app_shell(req, state, user).await;
    };
    let mut ctx = Ctx::new(&req, &state, &p, "Overview", "overview").await;
    let from = month_start();
    let loaded = async {
        let key_count = keys::list(&state.db, &p.tenant).await?.len();
        let models =
            usage::grouped(&state.db, &p.tenant, GroupBy::Model, from, now_millis() + 1).await?;
        let budget = budgets::list(&state.db, &p.tenant)
            .await?
            .into_iter()
            .find(|b| b.scope.starts_with("tenant:") && b.period == "monthly");
        let alerts = notifications::list(&state.db, &p.tenant, false, 5).await?;
        let unread = notifications::list(&state.db, &p.tenant, true, 100)
            .await?
            .len();
        Ok::<_, ApiFailure>((key_count, models, budget, alerts, unread))
    }
    .await;
    let (key_count, mut models, budget, alerts, unread) = loaded.unwrap_or_else(|e| {
        ctx.error = Some(failure(&e).1);
        Default::default()
    });
    models.sort_by(|a, b| {
        b.cost_nusd
            .cmp(&a.cost_nusd)
            .then(b.requests.cmp(&a.requests))
    });
    let spend: i64 = models.iter().map(|m| m.cost_nusd).sum();
    let requests: i64 = models.iter().map(|m| m.requests).sum();
    let errors: i64 = models.iter().map(|m| m.errors).sum();
    let budget_used = budget.as_ref().map_or(0, |b| {
        let limit = b.limit_usd;
        if limit > 0.0 {
            ((NanoUsd(spend).as_usd() / limit) * 100.0).clamp(0.0, 100.0) as u64
        } else {
            100
        }
    });
    let alerts = alerts
        .into_iter()
        .map(|n| AlertRow {
            at: ctx.time(n.created_at),
            severity: n.severity,
            title: n.title,
        })
        .collect();
    let period = chrono::Utc::now().format("%B %Y").to_string();
    let page = OverviewPage {
        ctx,
        key_count,
        spend: usd(spend),
        budget: budget.map(|b| format!("${:.2}", b.limit_usd)),
        budget_used,
        requests: count(requests),
        error_rate: if requests > 0 {
            format!("{:.1}%", errors as f64 * 100.0 / requests as f64)
        } else {
            "—".into()
        },
        models: models
            .into_iter()
            .take(5)
            .map(|m| ModelRow {
                model: m.group,
                requests: count(m.requests),
                cost: usd(m.cost_nusd),
            })
            .collect(),
        alerts,
        unread,
        period,
    };
    render(StatusCode::OK, &page)
}
