//! The signed-in dashboard pages under `/app`: overview, keys, teams and members, budgets and
//! alerts, credits, usage, logs and settings. Every page is server-rendered (askama) over the same
//! services as the admin API; forms post back with the hidden CSRF token and work without
//! JavaScript, and htmx (`hx-boost`) turns them into partial updates when it is loaded.
//! Roles are enforced here on every action, not only by hiding forms; every query is scoped
//! to the caller's tenant, so another tenant's object is a 404.

pub mod budgets;
pub mod chart;
pub mod credits;
pub mod invite;
pub mod keys;
pub mod logs;
pub mod models;
pub mod overview;
pub mod pii_form;
pub mod playground;
pub mod privacy;
pub mod providers;
pub mod qr;
pub mod route_form;
pub mod security;
pub mod settings;
pub mod team;
pub mod teams;
pub mod usage;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use super::api::error::ApiFailure;
use super::auth::principal::Principal;
use super::pages::page_csrf;
use crate::domain::money::NanoUsd;
use crate::domain::role::Role;
use crate::state::AppState;

/// Mounts the dashboard pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/app", web::get().to(overview::page))
        .route("/app/keys", web::get().to(keys::page))
        .route("/app/keys", web::post().to(keys::mint))
        .route("/app/keys/{id}", web::get().to(keys::edit_page))
        .route("/app/keys/{id}", web::post().to(keys::edit))
        .route("/app/keys/{id}/rotate", web::post().to(keys::rotate))
        .route("/app/keys/{id}/revoke", web::post().to(keys::revoke))
        .route("/app/keys/{id}/pii", web::post().to(keys::save_pii))
        .route(
            "/app/keys/{id}/pii/inherit",
            web::post().to(keys::inherit_pii),
        )
        .route("/app/teams", web::get().to(teams::page))
        .route("/app/teams", web::post().to(teams::create_team))
        .route("/app/teams/{id}", web::get().to(team::page))
        .route("/app/teams/{id}/pii", web::post().to(team::save_pii))
        .route(
            "/app/teams/{id}/pii/inherit",
            web::post().to(team::inherit_pii),
        )
        .route(
            "/app/teams/{id}/members",
            web::post().to(teams::add_to_team),
        )
        .route(
            "/app/teams/{id}/members/{user}/remove",
            web::post().to(teams::remove_from_team),
        )
        .route("/app/invitations", web::post().to(teams::invite))
        .route(
            "/app/invitations/{id}/revoke",
            web::post().to(teams::revoke_invitation),
        )
        .route("/invite", web::get().to(invite::page))
        .route("/invite", web::post().to(invite::accept))
        .route("/app/members/{user}/role", web::post().to(teams::set_role))
        .route(
            "/app/members/{user}/remove",
            web::post().to(teams::remove_member),
        )
        .route("/app/budgets", web::get().to(budgets::page))
        .route("/app/budgets", web::post().to(budgets::set))
        .route("/app/budgets/delete", web::post().to(budgets::delete))
        .route("/app/alerts", web::post().to(budgets::add_destination))
        .route(
            "/app/alerts/{id}/remove",
            web::post().to(budgets::remove_destination),
        )
        .route(
            "/app/notifications/{id}/read",
            web::post().to(budgets::mark_read),
        )
        .route("/app/credits", web::get().to(credits::page))
        .route("/app/credits/checkout", web::post().to(credits::checkout))
        .route(
            "/app/credits/auto-recharge",
            web::post().to(credits::set_auto_recharge),
        )
        .route("/app/usage", web::get().to(usage::page))
        .route("/app/usage.csv", web::get().to(usage::csv))
        .route("/app/logs", web::get().to(logs::page))
        .route("/app/audit", web::get().to(logs::audit))
        .route("/app/account/security", web::get().to(security::page))
        .route(
            "/app/account/security/totp",
            web::post().to(security::begin),
        )
        .route(
            "/app/account/security/totp/confirm",
            web::post().to(security::confirm),
        )
        .route(
            "/app/account/security/totp/disable",
            web::post().to(security::disable),
        )
        .route(
            "/app/settings/two-factor",
            web::post().to(security::set_required),
        )
        .route("/app/providers", web::get().to(providers::page))
        .route("/app/providers", web::post().to(providers::add))
        .route("/app/providers/test", web::post().to(providers::test))
        .route("/app/providers/remove", web::post().to(providers::remove))
        .route("/app/models", web::get().to(models::page))
        .route("/app/models", web::post().to(models::set_model))
        .route("/app/models/remove", web::post().to(models::remove_model))
        .route("/app/routes", web::post().to(models::set_route))
        .route("/app/routes/remove", web::post().to(models::remove_route))
        .route("/app/settings/privacy", web::get().to(privacy::page))
        .route("/app/settings/pii", web::post().to(privacy::save_pii))
        .route("/app/settings/cache", web::post().to(privacy::save_cache))
        .route("/app/playground", web::get().to(playground::page))
        .route("/app/playground", web::post().to(playground::send_chat))
        .route("/app/settings", web::get().to(settings::page))
        .route("/app/settings", web::post().to(settings::save))
        .route(
            "/app/settings/limits",
            web::post().to(settings::save_limits),
        );
}

/// What every dashboard page needs: the layout's fields, the caller's role and a flash message.
pub struct Ctx {
    pub title: &'static str,
    pub csrf: String,
    pub htmx: bool,
    pub email: String,
    pub org: String,
    pub role: String,
    /// The current section, for the navigation.
    pub nav: &'static str,
    /// Member or above: may mint keys.
    pub can_write: bool,
    /// Admin or above: may change the tenant's configuration.
    pub can_admin: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The tenant's time zone for displayed times.
    pub tz: chrono_tz::Tz,
}

impl Ctx {
    /// The context for a page of `p`'s tenant.
    pub async fn new(
        req: &HttpRequest,
        state: &AppState,
        p: &Principal,
        title: &'static str,
        nav: &'static str,
    ) -> Ctx {
        let (csrf, _) = page_csrf(req, state);
        let org = crate::storage::tenants::find(&state.db, p.tenant.as_str())
            .await
            .ok()
            .flatten()
            .map(|t| t.name)
            .unwrap_or_default();
        let tz = super::settings::show(&state.db, &p.tenant)
            .await
            .ok()
            .and_then(|v| v.timezone.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        Ctx {
            title,
            csrf,
            htmx: super::pages::htmx_available(),
            email: p.caller.label.clone(),
            org,
            role: p.role.to_string(),
            nav,
            can_write: p.role <= Role::Member,
            can_admin: p.role <= Role::Admin,
            notice: None,
            error: None,
            tz,
        }
    }

    /// A time in the tenant's zone, to the minute.
    pub fn time(&self, millis: i64) -> String {
        chrono::DateTime::from_timestamp_millis(millis).map_or_else(String::new, |t| {
            t.with_timezone(&self.tz)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
    }

    /// An RFC 3339 time (as the services return them) in the tenant's zone.
    pub fn time_text(&self, rfc3339: &str) -> String {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map_or_else(|_| rfc3339.to_owned(), |t| self.time(t.timestamp_millis()))
    }
}

/// Implements `Deref<Target = Ctx>` so the layout reads `title`, `csrf`, … from any page.
macro_rules! dashboard_page {
    ($($page:ty),* $(,)?) => {$(
        impl std::ops::Deref for $page {
            type Target = $crate::control_plane::dashboard::Ctx;
            fn deref(&self) -> &Self::Target {
                &self.ctx
            }
        }
    )*};
}
pub(crate) use dashboard_page;

/// Renders a page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "dashboard page rendering failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A 303 to `location` (after a successful form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// The answer to a visitor without a session: the login page.
pub fn to_login() -> HttpResponse {
    see_other("/login")
}

/// The status and the user-facing message of a failed action (internal causes are logged,
/// not shown).
pub fn failure(e: &ApiFailure) -> (StatusCode, String) {
    let status = e.status_code();
    let message = match e {
        ApiFailure::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "dashboard action failed");
            "Something went wrong on our side; please try again.".to_owned()
        }
        ApiFailure::Invalid {
            field: Some(field),
            message,
        } if !message.contains(field.as_str()) => format!("{field}: {message}"),
        other => {
            let text = match other {
                // A sentence already ("team `x` does not exist"), not an object's name.
                ApiFailure::NotFound(what) if what.contains(' ') => what.clone(),
                _ => other.to_string(),
            };
            let mut chars = text.chars();
            chars.next().map_or(text.clone(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    };
    if message.ends_with(['.', '!', '?']) {
        (status, message)
    } else {
        (status, format!("{message}."))
    }
}

/// Nano-USD as dollars: cents for whole amounts, more digits for small ones.
pub fn usd(nusd: i64) -> String {
    let value = NanoUsd(nusd).as_usd();
    if nusd == 0 {
        "$0.00".into()
    } else if value.abs() >= 1.0 {
        format!("${value:.2}")
    } else {
        format!("${value:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// An integer with thousands separators.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A trimmed form value, `None` when blank.
pub fn blank_none(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A comma- or newline-separated list from a text field.
pub fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An optional positive number from a text field.
pub fn number(field: &str, text: &str) -> Result<Option<u32>, ApiFailure> {
    blank_none(text)
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| ApiFailure::field(field, format!("`{t}` is not a whole number")))
        })
        .transpose()
}

/// An optional duration such as `30d` from a text field.
pub fn duration(field: &str, text: &str) -> Result<Option<std::time::Duration>, ApiFailure> {
    blank_none(text)
        .map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| ApiFailure::field(field, format!("`{t}`: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_and_counts() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(12_340_000_000), "$12.34");
        assert_eq!(usd(3_000), "$0.000003");
        assert_eq!(usd(1_500_000), "$0.0015");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(list(" a, b\nc ,"), vec!["a", "b", "c"]);
    }
}
