//! The Models & routing page: the tenant's own models (served by its provider credentials, with
//! prices) and its routes (targets with weights, fallbacks, rules, timeouts), added, edited
//! (`?model=` / `?route=` prefills the form) and removed. Validation names the faulty field.
//! Admins change them; others read.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::route_form::{self, RouteForm};
use super::{Ctx, blank_none, dashboard_page, failure, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::models::{self, NewModel};
use crate::control_plane::{providers, routes};
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::state::AppState;

/// A model row.
pub struct ModelRow {
    pub name: String,
    pub provider: String,
    pub upstream: String,
    pub mode: String,
    pub prices: String,
}

/// A route row.
pub struct RouteRow {
    pub name: String,
    pub strategy: String,
    pub targets: String,
    pub fallbacks: String,
    pub rules: usize,
    pub timeouts: String,
}

/// The model form as submitted (kept to refill the form after an error).
#[derive(Debug, Default, Deserialize)]
pub struct ModelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    input_usd_per_mtok: String,
    #[serde(default)]
    output_usd_per_mtok: String,
    #[serde(default)]
    max_output_tokens: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    allow_unpriced: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/models.html")]
struct ModelsPage {
    ctx: Ctx,
    models: Vec<ModelRow>,
    routes: Vec<RouteRow>,
    credentials: Vec<String>,
    /// Every name a route may target: the platform's models and the tenant's.
    targetable: String,
    model_form: ModelForm,
    route_form: RouteForm,
    strategies: &'static [&'static str],
    editing_model: bool,
    editing_route: bool,
}

dashboard_page!(ModelsPage);

fn price(nusd: Option<i64>) -> String {
    nusd.map_or_else(String::new, |n| {
        let usd = NanoUsd(n).as_usd();
        format!("{usd}")
    })
}

/// What the page shows besides the forms.
struct Loaded {
    models: Vec<crate::storage::tenant_models::ModelRow>,
    routes: Vec<routes::RouteSummary>,
    credentials: Vec<String>,
}

async fn load(state: &AppState, p: &Principal) -> Result<Loaded, ApiFailure> {
    Ok(Loaded {
        models: models::list(&state.db, &p.tenant).await?,
        routes: routes::list(&state.db, &p.tenant).await?,
        credentials: providers::list(&state.db, &p.tenant)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
    })
}

/// Every model name the tenant's routes may target.
pub fn targetable(state: &AppState, tenant_models: &[String]) -> Vec<String> {
    let mut names: Vec<String> = state
        .catalog
        .all()
        .iter()
        .map(|d| d.name.clone())
        .chain(tenant_models.iter().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn mode_of(settings: &str) -> String {
    serde_json::from_str::<serde_json::Value>(settings)
        .ok()
        .and_then(|v| v["mode"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "chat".into())
}

/// Forms to show: blank, refilled after an error, or prefilled for an edit.
struct Forms {
    model: Option<ModelForm>,
    route: Option<RouteForm>,
    edit_model: Option<String>,
    edit_route: Option<String>,
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    forms: Forms,
    error: Option<String>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Models & routing", "models").await;
    ctx.error = error;
    let loaded = match load(state, p).await {
        Ok(l) => l,
        Err(e) => {
            ctx.error = Some(failure(&e).1);
            Loaded {
                models: Vec::new(),
                routes: Vec::new(),
                credentials: Vec::new(),
            }
        }
    };
    let editing_model = forms.model.is_none()
        && forms
            .edit_model
            .as_ref()
            .is_some_and(|n| loaded.models.iter().any(|m| &m.name == n));
    let model_form = forms.model.unwrap_or_else(|| {
        match loaded
            .models
            .iter()
            .find(|m| Some(&m.name) == forms.edit_model.as_ref())
        {
            Some(m) => ModelForm {
                name: m.name.clone(),
                provider: m.provider.clone().unwrap_or_default(),
                upstream: m.upstream.clone(),
                mode: mode_of(&m.settings),
                input_usd_per_mtok: price(m.input_nusd_per_mtok),
                output_usd_per_mtok: price(m.output_nusd_per_mtok),
                max_output_tokens: m
                    .max_output_tokens
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                allow_unpriced: m.allow_unpriced.then(|| "on".into()),
            },
            None => ModelForm::default(),
        }
    });
    let edited_route = loaded
        .routes
        .iter()
        .find(|r| Some(&r.name) == forms.edit_route.as_ref());
    let editing_route = forms.route.is_none() && edited_route.is_some();
    let route_form = forms.route.unwrap_or_else(|| {
        edited_route
            .map(|r| route_form::prefill(&r.definition))
            .unwrap_or_default()
    });
    let tenant_model_names: Vec<String> = loaded.models.iter().map(|m| m.name.clone()).collect();
    let page = ModelsPage {
        ctx,
        models: loaded
            .models
            .iter()
            .map(|m| ModelRow {
                name: m.name.clone(),
                provider: m.provider.clone().unwrap_or_else(|| "—".into()),
                upstream: m.upstream.clone(),
                mode: mode_of(&m.settings),
                prices: match (m.input_nusd_per_mtok, m.output_nusd_per_mtok) {
                    (None, None) if m.allow_unpriced => "unpriced (allowed)".into(),
                    (None, None) => "built-in price".into(),
                    (i, o) => format!(
                        "in ${} · out ${} per 1M tokens",
                        price(i).if_empty("—"),
                        price(o).if_empty("—")
                    ),
                },
            })
            .collect(),
        routes: loaded.routes.iter().map(route_form::row).collect(),
        credentials: loaded.credentials,
        targetable: targetable(state, &tenant_model_names).join(", "),
        model_form,
        route_form,
        strategies: route_form::STRATEGIES,
        editing_model,
        editing_route,
    };
    render(status, &page)
}

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() { other.into() } else { self }
    }
}

/// `?model=NAME` or `?route=NAME` opens that one in its form.
#[derive(Debug, Deserialize)]
pub struct EditQuery {
    model: Option<String>,
    route: Option<String>,
}

/// `GET /app/models`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<EditQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let q = query.into_inner();
    let forms = Forms {
        model: None,
        route: None,
        edit_model: q.model,
        edit_route: q.route,
    };
    show(&req, &state, &p, StatusCode::OK, forms, None).await
}

fn usd_field(field: &str, text: &str) -> Result<Option<f64>, ApiFailure> {
    blank_none(text)
        .map(|t| {
            t.trim_start_matches('$')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| ApiFailure::field(field, format!("`{t}` is not a price in USD")))
        })
        .transpose()
}

fn new_model(f: &ModelForm) -> Result<NewModel, ApiFailure> {
    Ok(NewModel {
        name: f.name.clone(),
        provider: f.provider.clone(),
        upstream: f.upstream.clone(),
        mode: blank_none(&f.mode),
        input_usd_per_mtok: usd_field("input_usd_per_mtok", &f.input_usd_per_mtok)?,
        output_usd_per_mtok: usd_field("output_usd_per_mtok", &f.output_usd_per_mtok)?,
        max_output_tokens: super::number("max_output_tokens", &f.max_output_tokens)?,
        allow_unpriced: f.allow_unpriced.is_some(),
    })
}

/// `POST /app/models`: creates or replaces a model (admin).
pub async fn set_model(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<ModelForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let form = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let new = new_model(&form)?;
        Ok::<_, ApiFailure>(models::set(&state.db, &p.tenant, new, p.actor()).await?)
    }
    .await;
    match result {
        Ok(()) => see_other("/app/models"),
        Err(e) => {
            let (code, message) = failure(&e);
            let forms = Forms {
                model: Some(form),
                route: None,
                edit_model: None,
                edit_route: None,
            };
            show(&req, &state, &p, code, forms, Some(message)).await
        }
    }
}

/// A model or route named in a form.
#[derive(Debug, Deserialize)]
pub struct NameForm {
    name: String,
}

/// `POST /app/models/remove` (admin).
pub async fn remove_model(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        Ok::<_, ApiFailure>(models::remove(&state.db, &p.tenant, &form.name, p.actor()).await?)
    }
    .await;
    after(&req, &state, &p, result).await
}

async fn after(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    result: Result<(), ApiFailure>,
) -> HttpResponse {
    match result {
        Ok(()) => see_other("/app/models"),
        Err(e) => {
            let (code, message) = failure(&e);
            let forms = Forms {
                model: None,
                route: None,
                edit_model: None,
                edit_route: None,
            };
            show(req, state, p, code, forms, Some(message)).await
        }
    }
}

/// `POST /app/routes`: creates or replaces a route (admin).
pub async fn set_route(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<RouteForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let form = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let existing = routes::list(&state.db, &p.tenant).await?;
        let route = route_form::parse(&form, &existing)?;
        let tenant_models: Vec<String> = models::list(&state.db, &p.tenant)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let names = targetable(&state, &tenant_models);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        routes::set(&state.db, &p.tenant, route, &names, p.actor()).await?;
        Ok::<_, ApiFailure>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/models"),
        Err(e) => {
            let (code, message) = failure(&e);
            let forms = Forms {
                model: None,
                route: Some(form),
                edit_model: None,
                edit_route: None,
            };
            show(&req, &state, &p, code, forms, Some(message)).await
        }
    }
}

/// `POST /app/routes/remove` (admin).
pub async fn remove_route(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Admin)?;
        Ok::<_, ApiFailure>(routes::delete(&state.db, &p.tenant, &form.name, p.actor()).await?)
    }
    .await;
    after(&req, &state, &p, result).await
}
