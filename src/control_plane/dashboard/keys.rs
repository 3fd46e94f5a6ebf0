//! The Keys page: mint (the secret is shown once, with a copy button), the list with prefix,
//! team, last use, spend and limits, and per key an edit form, rotation and revocation.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pii_form::{self, PiiForm};
use super::{Ctx, blank_none, dashboard_page, duration, failure, list, number, render, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::key_update::{self, KeyChanges};
use crate::control_plane::keys::{self, IssuedKey, KeySpec, KeyStatus, KeySummary};
use crate::control_plane::members;
use crate::domain::budget::BudgetPeriod;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::pii_settings::Level;
use crate::storage::usage::{self, GroupBy};

/// Spend shown on the list covers this window.
const SPEND_WINDOW_MS: i64 = 30 * 24 * 3_600_000;

/// A key row.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub display: String,
    pub team: String,
    pub active: bool,
    pub status: &'static str,
    pub models: String,
    pub limits: String,
    pub budget: String,
    pub last_used: String,
    pub expires: String,
    pub spend: String,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    ctx: Ctx,
    keys: Vec<KeyRow>,
    teams: Vec<String>,
    issued: Option<IssuedKey>,
}

#[derive(Template)]
#[template(path = "dashboard/key_edit.html")]
struct KeyEditPage {
    ctx: Ctx,
    key: KeySummary,
    models: String,
    ips: String,
    referrers: String,
    expires: String,
    budget: String,
    period: String,
    pii: PiiForm,
}

dashboard_page!(KeysPage, KeyEditPage);

fn status(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Active => "active",
        KeyStatus::Revoked => "revoked",
        KeyStatus::Expired => "expired",
    }
}

fn limits(k: &KeySummary) -> String {
    let mut parts = Vec::new();
    if let Some(rpm) = k.rpm {
        parts.push(format!("{rpm} RPM"));
    }
    if let Some(tpm) = k.tpm {
        parts.push(format!("{tpm} TPM"));
    }
    if let Some(n) = k.max_concurrent {
        parts.push(format!("{n} at once"));
    }
    if !k.allowed_ips.is_empty() {
        parts.push(format!("IPs: {}", k.allowed_ips.join(", ")));
    }
    if !k.allowed_referrers.is_empty() {
        parts.push(format!("referrers: {}", k.allowed_referrers.join(", ")));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    status_code: StatusCode,
    issued: Option<IssuedKey>,
    error: Option<String>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Keys", "keys").await;
    ctx.error = error;
    let loaded = async {
        let keys = keys::list(&state.db, &p.tenant).await?;
        let teams = members::list_teams(&state.db, &p.tenant).await?;
        let now = now_millis();
        let spend: HashMap<String, i64> = usage::grouped(
            &state.db,
            &p.tenant,
            GroupBy::Key,
            now - SPEND_WINDOW_MS,
            now + 1,
        )
        .await?
        .into_iter()
        .map(|g| (g.group, g.cost_nusd))
        .collect();
        Ok::<_, ApiFailure>((keys, teams, spend))
    }
    .await;
    let (keys, teams, spend) = match loaded {
        Ok(found) => found,
        Err(e) => {
            ctx.error = Some(failure(&e).1);
            (Vec::new(), Vec::new(), HashMap::new())
        }
    };
    let rows = keys
        .iter()
        .map(|k| KeyRow {
            id: k.id.clone(),
            name: k.name.clone(),
            display: k.display.clone(),
            team: k.team.clone().unwrap_or_else(|| "—".into()),
            active: k.status == KeyStatus::Active,
            status: status(k.status),
            models: if k.models.is_empty() {
                "all".into()
            } else {
                k.models.join(", ")
            },
            limits: limits(k),
            budget: k.budget_usd.map_or_else(
                || "—".into(),
                |b| format!("${b:.2} {}", k.budget_period.clone().unwrap_or_default()),
            ),
            last_used: k
                .last_used_at
                .as_deref()
                .map_or_else(|| "never".into(), |t| ctx.time_text(t)),
            expires: k
                .expires_at
                .as_deref()
                .map_or_else(|| "never".into(), |t| ctx.time_text(t)),
            spend: super::usd(spend.get(&k.id).copied().unwrap_or(0)),
        })
        .collect();
    let page = KeysPage {
        ctx,
        keys: rows,
        teams: teams.into_iter().map(|t| t.name).collect(),
        issued,
    };
    render(status_code, &page)
}

/// `GET /app/keys`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => show(&req, &state, &p, StatusCode::OK, None, None).await,
        None => to_login(),
    }
}

/// The mint form.
#[derive(Debug, Deserialize)]
pub struct MintForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    rpm: String,
    #[serde(default)]
    tpm: String,
    #[serde(default)]
    max_concurrent: String,
    #[serde(default)]
    budget_usd: String,
    #[serde(default)]
    budget_period: String,
    #[serde(default)]
    allowed_ips: String,
    #[serde(default)]
    allowed_referrers: String,
    #[serde(default)]
    expires_in: String,
}

/// A budget period from a form field (blank is monthly).
fn period(text: &str) -> Result<BudgetPeriod, ApiFailure> {
    match blank_none(text) {
        Some(p) => serde_json::from_value(serde_json::Value::String(p.clone()))
            .map_err(|_| ApiFailure::field("budget_period", format!("`{p}` is not a period"))),
        None => Ok(BudgetPeriod::default()),
    }
}

async fn mint_key(state: &AppState, p: &Principal, f: MintForm) -> Result<IssuedKey, ApiFailure> {
    p.require(Role::Member)?;
    let budget = blank_none(&f.budget_usd)
        .map(|t| NanoUsd::parse_usd(&t).map_err(|e| ApiFailure::field("budget_usd", e.to_string())))
        .transpose()?;
    let budget_period = period(&f.budget_period)?;
    let spec = KeySpec {
        name: blank_none(&f.name),
        team: blank_none(&f.team),
        models: list(&f.models),
        rpm: number("rpm", &f.rpm)?,
        tpm: number("tpm", &f.tpm)?,
        max_concurrent: number("max_concurrent", &f.max_concurrent)?,
        budget,
        budget_period,
        allowed_ips: list(&f.allowed_ips),
        allowed_referrers: list(&f.allowed_referrers),
        expires_in: duration("expires_in", &f.expires_in)?,
    };
    Ok(keys::create(&state.db, &p.tenant, spec, p.actor()).await?)
}

/// `POST /app/keys`: mints a key and shows its secret once.
pub async fn mint(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<MintForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    match mint_key(&state, &p, form.into_inner()).await {
        Ok(issued) => show(&req, &state, &p, StatusCode::OK, Some(issued), None).await,
        Err(e) => {
            let (code, message) = failure(&e);
            show(&req, &state, &p, code, None, Some(message)).await
        }
    }
}

/// `POST /app/keys/{id}/rotate`: a new secret, shown once; the old one works for the
/// configured grace period.
pub async fn rotate(
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
        let grace = state.settings.keys.rotation_grace;
        Ok::<_, ApiFailure>(keys::rotate(&state.db, &p.tenant, &id, grace, p.actor()).await?)
    }
    .await;
    match result {
        Ok(issued) => show(&req, &state, &p, StatusCode::OK, Some(issued), None).await,
        Err(e) => {
            let (code, message) = failure(&e);
            show(&req, &state, &p, code, None, Some(message)).await
        }
    }
}

/// `POST /app/keys/{id}/revoke`.
pub async fn revoke(
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
        Ok::<_, ApiFailure>(keys::revoke(&state.db, &p.tenant, &id, p.actor()).await?)
    }
    .await;
    match result {
        Ok(()) => super::see_other("/app/keys"),
        Err(e) => {
            let (code, message) = failure(&e);
            show(&req, &state, &p, code, None, Some(message)).await
        }
    }
}

/// What the edit page shows besides the stored key: a notice, or a failed change's message
/// (with the submitted PII fields after a failed PII save).
#[derive(Default)]
struct EditOutcome {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    pii_fields: Option<Vec<(String, String)>>,
}

async fn edit_view(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    id: &str,
    outcome: EditOutcome,
) -> HttpResponse {
    let found = match keys::list(&state.db, &p.tenant).await {
        Ok(keys) => keys.into_iter().find(|k| k.id == id),
        Err(e) => {
            let (code, message) = failure(&e.into());
            return show(req, state, p, code, None, Some(message)).await;
        }
    };
    let Some(key) = found else {
        return show(
            req,
            state,
            p,
            StatusCode::NOT_FOUND,
            None,
            Some("Key not found.".into()),
        )
        .await;
    };
    let mut ctx = Ctx::new(req, state, p, "Edit key", "keys").await;
    ctx.notice = outcome.notice;
    let mut pii = PiiForm::load(state, p, &Level::Key(key.id.clone()), &mut ctx.error).await;
    if let Some(fields) = &outcome.pii_fields {
        pii.refill(fields);
    }
    let status_code = match outcome.error {
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let page = KeyEditPage {
        ctx,
        models: key.models.join(", "),
        ips: key.allowed_ips.join("\n"),
        referrers: key.allowed_referrers.join("\n"),
        expires: key.expires_at.clone().unwrap_or_default(),
        budget: key
            .budget_usd
            .map(|b| format!("{b:.2}"))
            .unwrap_or_default(),
        period: key
            .budget_period
            .clone()
            .unwrap_or_else(|| "monthly".into()),
        key,
        pii,
    };
    render(status_code, &page)
}

/// `GET /app/keys/{id}`: the edit form and the key's PII policy.
pub async fn edit_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
    query: web::Query<super::pii_form::SavedQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let outcome = EditOutcome {
        notice: query.pii_notice(),
        ..EditOutcome::default()
    };
    edit_view(&req, &state, &p, &id, outcome).await
}

/// `POST /app/keys/{id}/pii`: replaces the key's PII policy (admin).
pub async fn save_pii(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let fields = form.into_inner();
    match pii_form::save(&state, &p, &Level::Key(id.to_string()), &fields).await {
        Ok(()) => super::see_other(&format!("/app/keys/{id}?saved=pii")),
        Err(e) => {
            let outcome = EditOutcome {
                error: Some(failure(&e)),
                pii_fields: Some(fields),
                ..EditOutcome::default()
            };
            edit_view(&req, &state, &p, &id, outcome).await
        }
    }
}

/// `POST /app/keys/{id}/pii/inherit`: clears the key's PII policy (admin).
pub async fn inherit_pii(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    match pii_form::inherit(&state, &p, &Level::Key(id.to_string())).await {
        Ok(()) => super::see_other(&format!("/app/keys/{id}?saved=pii")),
        Err(e) => {
            let outcome = EditOutcome {
                error: Some(failure(&e)),
                ..EditOutcome::default()
            };
            edit_view(&req, &state, &p, &id, outcome).await
        }
    }
}

/// The edit form: every field is submitted; blank clears a limit.
#[derive(Debug, Deserialize)]
pub struct EditForm {
    name: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    rpm: String,
    #[serde(default)]
    tpm: String,
    #[serde(default)]
    max_concurrent: String,
    /// Blank removes the key's budget.
    #[serde(default)]
    budget_usd: String,
    #[serde(default)]
    budget_period: String,
    #[serde(default)]
    allowed_ips: String,
    #[serde(default)]
    allowed_referrers: String,
    /// Blank keeps the expiry; `never` removes it; a duration sets it from now.
    #[serde(default)]
    expires_in: String,
}

/// `POST /app/keys/{id}`: saves the edit form.
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    id: web::Path<String>,
    form: web::Form<EditForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let expires_in = match f.expires_in.trim() {
            "" => None,
            "never" => Some(None),
            text => Some(duration("expires_in", text)?),
        };
        let budget = match blank_none(&f.budget_usd) {
            Some(amount) => Some((
                NanoUsd::parse_usd(&amount)
                    .map_err(|e| ApiFailure::field("budget_usd", e.to_string()))?,
                period(&f.budget_period)?,
            )),
            None => None,
        };
        let changes = KeyChanges {
            name: Some(f.name.trim().to_owned()),
            models: Some(list(&f.models)),
            rpm: Some(number("rpm", &f.rpm)?),
            tpm: Some(number("tpm", &f.tpm)?),
            max_concurrent: Some(number("max_concurrent", &f.max_concurrent)?),
            budget: Some(budget),
            allowed_ips: Some(list(&f.allowed_ips)),
            allowed_referrers: Some(list(&f.allowed_referrers)),
            expires_in,
        };
        Ok::<_, ApiFailure>(
            key_update::update(&state.db, &p.tenant, &id, changes, p.actor()).await?,
        )
    }
    .await;
    match result {
        Ok(()) => super::see_other("/app/keys"),
        Err(e) => {
            let outcome = EditOutcome {
                error: Some(failure(&e)),
                ..EditOutcome::default()
            };
            edit_view(&req, &state, &p, &id, outcome).await
        }
    }
}
