//! Settings → PII & cache: the organisation's PII policy (per type: off, redact, mask, tokenize
//! or block; custom patterns as rows) and its response-cache settings (on/off, TTL, similarity
//! threshold, exact-only), over the same services as the CLI. Admins edit; others read.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::pii_form::{self, PiiForm};
use super::{Ctx, blank_none, dashboard_page, duration, failure, render, see_other, to_login};
use crate::config::CacheOverrides;
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::cache;
use crate::domain::role::Role;
use crate::state::AppState;
use crate::storage::pii_settings::Level;

/// The cache form's values.
pub struct CacheForm {
    pub enabled: bool,
    pub ttl: String,
    pub threshold: String,
    pub exact_only: bool,
}

#[derive(Template)]
#[template(path = "dashboard/privacy.html")]
struct PrivacyPage {
    ctx: Ctx,
    pii: PiiForm,
    cache: CacheForm,
    semantic: bool,
}

dashboard_page!(PrivacyPage);

fn cache_form(state: &AppState, own: &CacheOverrides) -> CacheForm {
    let platform = &state.settings.cache;
    CacheForm {
        enabled: own.enabled.unwrap_or(platform.enabled),
        ttl: humantime::format_duration(own.ttl.unwrap_or(platform.ttl)).to_string(),
        threshold: own.threshold.unwrap_or(platform.threshold).to_string(),
        exact_only: own.exact_only.unwrap_or(platform.exact_only),
    }
}

/// What a page shows besides the stored settings: a message, or after a failed save the
/// submitted PII rows or cache values.
#[derive(Default)]
struct Extra {
    error: Option<String>,
    notice: Option<String>,
    /// The submitted PII form fields.
    pii_fields: Option<Vec<(String, String)>>,
    cache: Option<CacheForm>,
}

/// The page.
async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    extra: Extra,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "PII & cache", "settings").await;
    ctx.error = extra.error;
    ctx.notice = extra.notice;
    let mut pii = PiiForm::load(state, p, &Level::Tenant, &mut ctx.error).await;
    if let Some(fields) = &extra.pii_fields {
        pii.refill(fields);
    }
    let own_cache = match cache::show(&state.db, &p.tenant).await {
        Ok(view) => view.tenant,
        Err(e) => {
            ctx.error.get_or_insert(failure(&e.into()).1);
            CacheOverrides::default()
        }
    };
    let page = PrivacyPage {
        ctx,
        pii,
        cache: extra.cache.unwrap_or_else(|| cache_form(state, &own_cache)),
        semantic: state.settings.cache.embedding_model.is_some(),
    };
    render(status, &page)
}

/// `GET /app/settings/privacy`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<super::pii_form::SavedQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let notice = match query.saved.as_deref() {
        Some("pii") => query.pii_notice(),
        Some("cache") => Some("Cache settings saved.".to_owned()),
        _ => None,
    };
    show(
        &req,
        &state,
        &p,
        StatusCode::OK,
        Extra {
            notice,
            ..Extra::default()
        },
    )
    .await
}

/// `POST /app/settings/pii`: replaces the organisation's PII policy (admin).
pub async fn save_pii(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let fields = form.into_inner();
    match pii_form::save(&state, &p, &Level::Tenant, &fields).await {
        Ok(()) => see_other("/app/settings/privacy?saved=pii"),
        Err(e) => {
            let (code, message) = failure(&e);
            let extra = Extra {
                error: Some(message),
                pii_fields: Some(fields),
                ..Extra::default()
            };
            show(&req, &state, &p, code, extra).await
        }
    }
}

/// The cache form.
#[derive(Debug, serde::Deserialize)]
pub struct CacheFormInput {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    exact_only: Option<String>,
}

fn cache_change(f: &CacheFormInput) -> Result<CacheOverrides, ApiFailure> {
    let ttl = duration("ttl", &f.ttl)?;
    if ttl.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(ApiFailure::field("ttl", "must be at least 1s"));
    }
    let threshold = blank_none(&f.threshold)
        .map(|t| {
            t.parse::<f64>().map_err(|_| {
                ApiFailure::field("threshold", format!("`{t}` is not a number such as 0.95"))
            })
        })
        .transpose()?;
    Ok(CacheOverrides {
        enabled: Some(f.enabled.is_some()),
        ttl,
        threshold,
        exact_only: Some(f.exact_only.is_some()),
    })
}

/// `POST /app/settings/cache`: sets the organisation's cache settings (admin).
pub async fn save_cache(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<CacheFormInput>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        p.require(Role::Admin)?;
        let change = cache_change(&f)?;
        cache::set(&state.db, &p.tenant, None, &change, p.actor()).await?;
        Ok::<_, ApiFailure>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/settings/privacy?saved=cache"),
        Err(e) => {
            let (code, message) = failure(&e);
            let again = CacheForm {
                enabled: f.enabled.is_some(),
                ttl: f.ttl,
                threshold: f.threshold,
                exact_only: f.exact_only.is_some(),
            };
            let extra = Extra {
                error: Some(message),
                cache: Some(again),
                ..Extra::default()
            };
            show(&req, &state, &p, code, extra).await
        }
    }
}
