//! The admin API under `/api/v1` (JSON), described by the OpenAPI document at
//! `/api/openapi.json`. Callers authenticate with the dashboard session cookie (plus the
//! `X-CSRF-Token` header on state-changing calls) or an admin API token
//! (`Authorization: Bearer sy_admin_…`).

pub mod activity;
pub mod auth;
pub mod budgets;
pub mod byok;
pub mod credits;
pub mod error;
pub mod gateway_config;
pub mod keys;
pub mod pii_levels;
pub mod platform;
pub mod teams;
pub mod tenant_config;
pub mod tokens;
pub mod two_factor;
pub mod usage;

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every admin-API route as `(method, path)`: the one list the router is built from
        /// (tests enumerate it, so no route can miss the CSRF or cross-tenant checks).
        pub const ROUTES: &[(&str, &str)] = &[ $( (stringify!($method), concat!("/api", $path)) ),* ];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

api_routes! {
    get "/v1/auth/csrf" => auth::csrf,
    post "/v1/auth/signup" => auth::signup,
    post "/v1/auth/login" => auth::login,
    post "/v1/auth/login/two-factor" => two_factor::login,
    post "/v1/auth/logout" => auth::logout,
    post "/v1/auth/password" => auth::change_password,
    post "/v1/auth/password-reset" => auth::request_reset,
    post "/v1/auth/password-reset/confirm" => auth::confirm_reset,
    get "/v1/me" => auth::me,
    get "/v1/me/two-factor" => two_factor::status,
    post "/v1/me/two-factor" => two_factor::begin,
    post "/v1/me/two-factor/confirm" => two_factor::confirm,
    post "/v1/me/two-factor/disable" => two_factor::disable,
    get "/v1/settings/two-factor" => two_factor::get_setting,
    put "/v1/settings/two-factor" => two_factor::set_setting,
    get "/v1/keys" => keys::list,
    post "/v1/keys" => keys::create,
    get "/v1/keys/{id}" => keys::get,
    patch "/v1/keys/{id}" => keys::update,
    delete "/v1/keys/{id}" => keys::revoke,
    post "/v1/keys/{id}/rotate" => keys::rotate,
    get "/v1/keys/{id}/pii" => pii_levels::get_key_pii,
    put "/v1/keys/{id}/pii" => pii_levels::put_key_pii,
    delete "/v1/keys/{id}/pii" => pii_levels::delete_key_pii,
    get "/v1/teams" => teams::list_teams,
    post "/v1/teams" => teams::create_team,
    post "/v1/teams/{id}/members" => teams::add_team_member,
    delete "/v1/teams/{id}/members/{user_id}" => teams::remove_team_member,
    get "/v1/teams/{id}/pii" => pii_levels::get_team_pii,
    put "/v1/teams/{id}/pii" => pii_levels::put_team_pii,
    delete "/v1/teams/{id}/pii" => pii_levels::delete_team_pii,
    get "/v1/members" => teams::list_members,
    patch "/v1/members/{user_id}" => teams::set_role,
    delete "/v1/members/{user_id}" => teams::remove_member,
    get "/v1/budgets" => budgets::list,
    put "/v1/budgets" => budgets::set,
    delete "/v1/budgets" => budgets::delete,
    get "/v1/credits" => credits::show,
    get "/v1/credits/ledger" => credits::ledger,
    post "/v1/credits/checkout" => credits::checkout,
    put "/v1/credits/auto-recharge" => credits::set_auto_recharge,
    get "/v1/providers" => byok::list_providers,
    post "/v1/providers" => byok::add_provider,
    delete "/v1/providers/{name}" => byok::remove_provider,
    post "/v1/providers/{name}/test" => byok::test_provider,
    get "/v1/models" => byok::list_models,
    put "/v1/models/{name}" => byok::set_model,
    delete "/v1/models/{name}" => byok::remove_model,
    get "/v1/routes" => gateway_config::list_routes,
    put "/v1/routes/{name}" => gateway_config::set_route,
    delete "/v1/routes/{name}" => gateway_config::delete_route,
    get "/v1/pii" => gateway_config::get_pii,
    put "/v1/pii" => gateway_config::put_pii,
    get "/v1/cache" => gateway_config::get_cache,
    patch "/v1/cache" => gateway_config::patch_cache,
    get "/v1/tokens" => tokens::list,
    post "/v1/tokens" => tokens::create,
    delete "/v1/tokens/{id}" => tokens::revoke,
    get "/v1/notifications" => activity::list_notifications,
    post "/v1/notifications/{id}/read" => activity::mark_read,
    get "/v1/audit" => activity::audit_log,
    get "/v1/usage" => usage::usage_report,
    get "/v1/logs" => usage::logs,
    get "/v1/admin/tenants" => platform::list_tenants,
    post "/v1/admin/tenants/{id}/suspend" => platform::suspend,
    post "/v1/admin/tenants/{id}/reactivate" => platform::reactivate,
    get "/openapi.json" => openapi_json,
}

/// Mounts `/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(error::json_config())
            .app_data(error::query_config())
            .configure(register),
    );
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::control_plane::auth::SESSION_COOKIE,
                "The dashboard session; state-changing calls also need the X-CSRF-Token header",
            ))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An admin API token: sy_admin_…"))
                    .build(),
            ),
        );
    }
}

/// The admin API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard admin API", description = "Everything the dashboard does, as JSON."),
    paths(
        auth::csrf, auth::signup, auth::login, auth::logout, auth::change_password,
        auth::request_reset, auth::confirm_reset, auth::me,
        two_factor::login, two_factor::status, two_factor::begin, two_factor::confirm,
        two_factor::disable, two_factor::get_setting, two_factor::set_setting,
        keys::list, keys::create, keys::get, keys::update, keys::revoke, keys::rotate,
        teams::list_teams, teams::create_team, teams::add_team_member, teams::remove_team_member,
        teams::list_members, teams::set_role, teams::remove_member,
        budgets::list, budgets::set, budgets::delete,
        credits::show, credits::ledger, credits::checkout, credits::set_auto_recharge,
        byok::list_providers, byok::add_provider, byok::remove_provider, byok::test_provider,
        byok::list_models, byok::set_model, byok::remove_model,
        gateway_config::list_routes, gateway_config::set_route, gateway_config::delete_route,
        gateway_config::get_pii, gateway_config::put_pii,
        pii_levels::get_team_pii, pii_levels::put_team_pii, pii_levels::delete_team_pii,
        pii_levels::get_key_pii, pii_levels::put_key_pii, pii_levels::delete_key_pii,
        gateway_config::get_cache, gateway_config::patch_cache,
        tokens::list, tokens::create, tokens::revoke,
        activity::list_notifications, activity::mark_read, activity::audit_log,
        usage::usage_report, usage::logs,
        platform::list_tenants, platform::suspend, platform::reactivate,
    ),
    modifiers(&SecuritySchemes),
    security(("session" = []), ("token" = [])),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
