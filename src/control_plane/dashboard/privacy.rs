//! Settings → PII & cache: the organisation's PII policy (per type: off, redact, mask, tokenize
//! or block; custom patterns as rows) and its response-cache settings (on/off, TTL, similarity
//! threshold, exact-only), over the same services as the CLI. Admins edit; others read.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Ctx, blank_none, dashboard_page, duration, failure, render, see_other, to_login};
use crate::config::CacheOverrides;
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::{cache, pii};
use crate::domain::role::Role;
use crate::policy::pii::{Action, CustomRule, PiiPolicy, PiiType};
use crate::state::AppState;
use crate::storage::pii_settings::Level;

/// The actions offered per type; `off` leaves the type alone.
pub const ACTIONS: &[&str] = &["off", "redact", "mask", "tokenize", "block"];

/// One built-in type's row.
pub struct TypeRow {
    pub key: &'static str,
    pub label: &'static str,
    pub action: &'static str,
}

/// One custom rule's row (blank for the row that adds one).
#[derive(Default)]
pub struct CustomRow {
    pub name: String,
    pub pattern: String,
    pub action: String,
}

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
    types: Vec<TypeRow>,
    custom: Vec<CustomRow>,
    actions: &'static [&'static str],
    cache: CacheForm,
    semantic: bool,
}

dashboard_page!(PrivacyPage);

fn describe(t: PiiType) -> &'static str {
    match t {
        PiiType::Email => "Email addresses",
        PiiType::Phone => "Phone numbers",
        PiiType::Card => "Payment card numbers",
        PiiType::Ssn => "US social security numbers",
        PiiType::Iban => "IBANs",
        PiiType::Ip => "IP addresses",
        PiiType::Secret => "Secrets (API keys, tokens)",
    }
}

fn action_name(a: Option<Action>) -> &'static str {
    match a {
        None | Some(Action::Allow) => "off",
        Some(other) => other.as_str(),
    }
}

/// The form's rows for a policy (custom rules plus one blank row).
fn rows(policy: &PiiPolicy) -> (Vec<TypeRow>, Vec<CustomRow>) {
    let mut types: Vec<PiiType> = PiiType::ALL.to_vec();
    types.sort();
    let types = types
        .into_iter()
        .map(|t| TypeRow {
            key: t.key(),
            label: describe(t),
            action: action_name(policy.get(t)),
        })
        .collect();
    let mut custom: Vec<CustomRow> = policy
        .custom
        .iter()
        .map(|c| CustomRow {
            name: c.name.clone(),
            pattern: c.pattern.clone(),
            action: c.action.as_str().to_owned(),
        })
        .collect();
    custom.push(CustomRow::default());
    (types, custom)
}

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
    rows: Option<(Vec<TypeRow>, Vec<CustomRow>)>,
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
    let policy = match pii::get(&state.db, &p.tenant, &Level::Tenant).await {
        Ok(policy) => policy,
        Err(e) => {
            ctx.error.get_or_insert(failure(&e.into()).1);
            PiiPolicy::default()
        }
    };
    let own_cache = match cache::show(&state.db, &p.tenant).await {
        Ok(view) => view.tenant,
        Err(e) => {
            ctx.error.get_or_insert(failure(&e.into()).1);
            CacheOverrides::default()
        }
    };
    let (types, custom) = extra.rows.unwrap_or_else(|| rows(&policy));
    let page = PrivacyPage {
        ctx,
        types,
        custom,
        actions: ACTIONS,
        cache: extra.cache.unwrap_or_else(|| cache_form(state, &own_cache)),
        semantic: state.settings.cache.embedding_model.is_some(),
    };
    render(status, &page)
}

/// `?saved=pii|cache` after a successful save.
#[derive(Debug, serde::Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `GET /app/settings/privacy`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    query: web::Query<SavedQuery>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let notice = match query.saved.as_deref() {
        Some("pii") => Some("PII policy saved; it applies within a second.".to_owned()),
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

fn action(field: &str, text: &str) -> Result<Option<Action>, ApiFailure> {
    match text.trim() {
        "" | "off" => Ok(None),
        other => other
            .parse::<Action>()
            .map(Some)
            .map_err(|e| ApiFailure::field(field, e)),
    }
}

/// The policy a submitted form describes (repeated `custom_*` fields make one rule each).
fn parse_policy(fields: &[(String, String)]) -> Result<PiiPolicy, ApiFailure> {
    let mut policy = PiiPolicy::default();
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    for t in PiiType::ALL {
        let field = format!("pii_{}", t.key());
        policy.set(t, action(&field, value(&field))?);
    }
    let column = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let (names, patterns, actions) = (
        column("custom_name"),
        column("custom_pattern"),
        column("custom_action"),
    );
    for (i, name) in names.iter().enumerate() {
        let pattern = patterns.get(i).copied().unwrap_or_default();
        if name.trim().is_empty() && pattern.trim().is_empty() {
            continue;
        }
        if pattern.trim().is_empty() {
            return Err(ApiFailure::field(
                "custom",
                format!(
                    "the custom pattern `{}` needs a regular expression",
                    name.trim()
                ),
            ));
        }
        let rule_action = action("custom", actions.get(i).copied().unwrap_or("redact"))?
            .ok_or_else(|| {
                ApiFailure::field(
                    "custom",
                    format!("choose an action for the custom pattern `{}`", name.trim()),
                )
            })?;
        policy.put_custom(CustomRule {
            name: name.trim().to_uppercase(),
            pattern: pattern.trim().to_owned(),
            action: rule_action,
        });
    }
    Ok(policy)
}

/// The submitted rows, to show again after an error.
fn submitted_rows(fields: &[(String, String)]) -> (Vec<TypeRow>, Vec<CustomRow>) {
    let (types, _) = rows(&PiiPolicy::default());
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let types = types
        .into_iter()
        .map(|mut row| {
            let chosen = value(&format!("pii_{}", row.key));
            row.action = ACTIONS
                .iter()
                .find(|a| **a == chosen)
                .copied()
                .unwrap_or("off");
            row
        })
        .collect();
    let column = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (names, patterns, actions) = (
        column("custom_name"),
        column("custom_pattern"),
        column("custom_action"),
    );
    let custom = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| CustomRow {
            name,
            pattern: patterns.get(i).cloned().unwrap_or_default(),
            action: actions.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    (types, custom)
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
    let result = async {
        p.require(Role::Admin)?;
        let policy = parse_policy(&fields)?;
        Ok::<_, ApiFailure>(
            pii::put(&state.db, &p.tenant, &Level::Tenant, &policy, p.actor()).await?,
        )
    }
    .await;
    match result {
        Ok(()) => see_other("/app/settings/privacy?saved=pii"),
        Err(e) => {
            let (code, message) = failure(&e);
            let rows = submitted_rows(&fields);
            let extra = Extra {
                error: Some(message),
                rows: Some(rows),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_becomes_a_policy() {
        let policy = parse_policy(&form(&[
            ("pii_email", "redact"),
            ("pii_card", "block"),
            ("pii_phone", "off"),
            ("custom_name", "employee_id"),
            ("custom_pattern", r"EMP-\d{6}"),
            ("custom_action", "tokenize"),
            ("custom_name", ""),
            ("custom_pattern", ""),
            ("custom_action", "redact"),
        ]))
        .unwrap();
        assert_eq!(policy.email, Some(Action::Redact));
        assert_eq!(policy.card, Some(Action::Block));
        assert_eq!(policy.phone, None);
        assert_eq!(policy.custom.len(), 1);
        assert_eq!(policy.custom[0].name, "EMPLOYEE_ID");
        assert!(parse_policy(&form(&[("pii_email", "shred")])).is_err());
        assert!(parse_policy(&form(&[("custom_name", "X"), ("custom_pattern", "")])).is_err());
    }
}
