//! Server-rendered pages (askama): sign-up, login, password reset and the app shell. Forms post
//! back with a hidden `csrf_token` field, which the guard checks; they work without JavaScript.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::accounts::{self, AccountError, LoginStep, OpenedSession, Signup};
use super::auth::principal::{Caller, SessionUser, client_info, session_claims};
use crate::state::AppState;

/// htmx, fetched from the npm registry by build.rs (empty when npm was unavailable).
const HTMX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/htmx.min.js"));
/// The stylesheet.
const APP_CSS: &str = include_str!("../../static/app.css");
/// The dashboard's only script besides htmx (copy buttons).
const APP_JS: &str = include_str!("../../static/app.js");
/// The icon.
const FAVICON: &str = include_str!("../../static/favicon.svg");

/// Mounts the pages and their static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/login/two-factor", web::get().to(two_factor_page))
        .route("/login/two-factor", web::post().to(two_factor_submit))
        .route("/signup", web::get().to(signup_page))
        .route("/signup", web::post().to(signup_submit))
        .route("/reset", web::get().to(reset_page))
        .route("/reset", web::post().to(reset_submit))
        .route("/reset/confirm", web::post().to(reset_confirm))
        .route("/logout", web::post().to(logout))
        .route("/static/app.css", web::get().to(css))
        .route("/static/htmx.min.js", web::get().to(htmx))
        .route("/static/app.js", web::get().to(app_js))
        .route("/static/favicon.svg", web::get().to(favicon))
        .route("/favicon.ico", web::get().to(favicon))
        .configure(super::dashboard::configure);
}

/// The CSRF token for the page: bound to the session, or to a pre-session cookie (returned
/// when it must be set).
pub fn page_csrf(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    if let Some(claims) = session_claims(req, state) {
        return (state.auth.signer.csrf_token(&claims.sid), None);
    }
    let name = state.auth.presession_cookie();
    let existing = req
        .cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32);
    match existing {
        Some(binding) => (state.auth.signer.csrf_token(&binding), None),
        None => {
            let binding = hex::encode(rand::random::<[u8; 16]>());
            let cookie = state.auth.cookie(name, binding.clone(), Some(12 * 3600));
            (state.auth.signer.csrf_token(&binding), Some(cookie))
        }
    }
}

fn render(
    status: actix_web::http::StatusCode,
    page: &impl Template,
    cookie: Option<Cookie<'static>>,
) -> HttpResponse {
    match page.render() {
        Ok(html) => {
            let mut res = HttpResponse::build(status);
            res.content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"));
            if let Some(cookie) = cookie {
                res.cookie(cookie);
            }
            res.body(html)
        }
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, location.to_owned()));
    res
}

/// Sets the session cookie of a new session and goes to the dashboard.
pub(crate) fn signed_in(state: &AppState, opened: OpenedSession) -> HttpResponse {
    see_other("/app")
        .cookie(state.auth.cookie(
            state.auth.session_cookie(),
            opened.token,
            Some(opened.max_age),
        ))
        .finish()
}

/// The answer to a correct password: the session, or the code step (pending cookie set).
pub(crate) fn login_step_response(state: &AppState, step: LoginStep) -> HttpResponse {
    match step {
        LoginStep::Session(opened) => signed_in(state, opened),
        LoginStep::SecondFactor { pending, max_age } => see_other("/login/two-factor")
            .cookie(
                state
                    .auth
                    .cookie(state.auth.pending_cookie(), pending, Some(max_age)),
            )
            .finish(),
    }
}

fn message(e: &AccountError) -> (actix_web::http::StatusCode, String) {
    use actix_web::http::StatusCode;
    match e {
        AccountError::BadCredentials => (StatusCode::UNAUTHORIZED, e.to_string()),
        AccountError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        AccountError::SignupConflict => (StatusCode::CONFLICT, e.to_string()),
        AccountError::BadCode | AccountError::PendingExpired => {
            (StatusCode::UNAUTHORIZED, e.to_string())
        }
        AccountError::BadResetToken | AccountError::Invalid(_) => {
            (StatusCode::BAD_REQUEST, e.to_string())
        }
        AccountError::NotFound
        | AccountError::Hash(_)
        | AccountError::Storage(_)
        | AccountError::TwoFactor(_) => {
            tracing::error!(error = %e, "account page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; please try again.".into(),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/signup.html")]
struct SignupPage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    email: String,
    organization: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/reset.html")]
struct ResetPage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    token: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/app.html")]
struct AppPage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    email: String,
    tenant_name: Option<String>,
    role: String,
    key_count: usize,
}

/// Whether htmx was embedded at build time.
pub fn htmx_available() -> bool {
    !HTMX.is_empty()
}

async fn home(caller: Option<Caller>) -> HttpResponse {
    see_other(if caller.is_some() { "/app" } else { "/login" }).finish()
}

/// `?reset=done` after a password reset.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    reset: Option<String>,
}

async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> HttpResponse {
    let (csrf, cookie) = page_csrf(&req, &state);
    let page = LoginPage {
        title: "Log in",
        csrf,
        htmx: htmx_available(),
        email: String::new(),
        error: None,
        notice: query
            .reset
            .as_ref()
            .map(|_| "Your password was changed. Log in with the new one.".to_owned()),
    };
    render(actix_web::http::StatusCode::OK, &page, cookie)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    match accounts::login(
        &state.db,
        &state.auth,
        &form.email,
        form.password,
        None,
        &client_info(&req),
    )
    .await
    {
        Ok(step) => login_step_response(&state, step),
        Err(e) => {
            let (status, error) = message(&e);
            let (csrf, cookie) = page_csrf(&req, &state);
            let page = LoginPage {
                title: "Log in",
                csrf,
                htmx: htmx_available(),
                email: form.email,
                error: Some(error),
                notice: None,
            };
            render(status, &page, cookie)
        }
    }
}

#[derive(Template)]
#[template(path = "pages/login_two_factor.html")]
struct TwoFactorLoginPage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    error: Option<String>,
    notice: Option<String>,
}

fn two_factor_view(
    req: &HttpRequest,
    state: &AppState,
    status: actix_web::http::StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let (csrf, cookie) = page_csrf(req, state);
    let page = TwoFactorLoginPage {
        title: "Two-factor login",
        csrf,
        htmx: htmx_available(),
        error,
        notice: None,
    };
    render(status, &page, cookie)
}

/// `GET /login/two-factor`: the code form, while a pending login is alive.
async fn two_factor_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let pending = req
        .cookie(state.auth.pending_cookie())
        .and_then(|c| state.auth.pending.verify(c.value()));
    if pending.is_none() {
        return see_other("/login").finish();
    }
    two_factor_view(&req, &state, actix_web::http::StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
struct TwoFactorForm {
    code: String,
}

/// `POST /login/two-factor`: checks the code and opens the session.
async fn two_factor_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TwoFactorForm>,
) -> HttpResponse {
    let Some(pending) = req.cookie(state.auth.pending_cookie()) else {
        return see_other("/login").finish();
    };
    match accounts::complete_two_factor(
        &state.db,
        &state.auth,
        state.vault.as_ref(),
        pending.value(),
        &form.code,
        &client_info(&req),
    )
    .await
    {
        Ok(opened) => {
            let mut res = signed_in(&state, opened);
            let clear = state
                .auth
                .cookie(state.auth.pending_cookie(), String::new(), None);
            if let Ok(value) = header::HeaderValue::from_str(&clear.to_string()) {
                res.headers_mut().append(header::SET_COOKIE, value);
            }
            res
        }
        Err(AccountError::PendingExpired) => see_other("/login").finish(),
        Err(e) => {
            let (status, error) = message(&e);
            two_factor_view(&req, &state, status, Some(error))
        }
    }
}

async fn signup_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (csrf, cookie) = page_csrf(&req, &state);
    let page = SignupPage {
        title: "Sign up",
        csrf,
        htmx: htmx_available(),
        email: String::new(),
        organization: String::new(),
        error: None,
        notice: None,
    };
    render(actix_web::http::StatusCode::OK, &page, cookie)
}

#[derive(Debug, Deserialize)]
struct SignupForm {
    email: String,
    password: String,
    organization: String,
}

async fn signup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let signup = Signup {
        email: form.email.clone(),
        password: form.password,
        organization: form.organization.clone(),
        trial_credits_nusd: crate::billing::usd_to_nusd(state.settings.billing.trial_credits_usd),
    };
    match accounts::signup(&state.db, &state.auth, signup, &client_info(&req)).await {
        Ok(opened) => signed_in(&state, opened),
        Err(e) => {
            let (status, error) = message(&e);
            let (csrf, cookie) = page_csrf(&req, &state);
            let page = SignupPage {
                title: "Sign up",
                csrf,
                htmx: htmx_available(),
                email: form.email,
                organization: form.organization,
                error: Some(error),
                notice: None,
            };
            render(status, &page, cookie)
        }
    }
}

#[derive(Debug, Deserialize)]
struct ResetQuery {
    token: Option<String>,
}

fn reset_view(
    req: &HttpRequest,
    state: &AppState,
    status: actix_web::http::StatusCode,
    token: Option<String>,
    error: Option<String>,
    notice: Option<String>,
) -> HttpResponse {
    let (csrf, cookie) = page_csrf(req, state);
    let page = ResetPage {
        title: "Reset password",
        csrf,
        htmx: htmx_available(),
        token,
        error,
        notice,
    };
    render(status, &page, cookie)
}

async fn reset_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ResetQuery>,
) -> HttpResponse {
    let token = query.into_inner().token.filter(|t| !t.is_empty());
    reset_view(
        &req,
        &state,
        actix_web::http::StatusCode::OK,
        token,
        None,
        None,
    )
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    email: String,
}

async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
) -> HttpResponse {
    match accounts::request_reset(&state.db, &form.email).await {
        Ok(Some(token)) => {
            super::api::auth::deliver_reset_link(&req, &state, form.email.trim(), &token)
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "password reset request failed"),
    }
    reset_view(
        &req,
        &state,
        actix_web::http::StatusCode::OK,
        None,
        None,
        Some("If an account exists for that address, a reset link is on its way.".into()),
    )
}

#[derive(Debug, Deserialize)]
struct ResetConfirmForm {
    token: String,
    new_password: String,
}

async fn reset_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetConfirmForm>,
) -> HttpResponse {
    let form = form.into_inner();
    match accounts::confirm_reset(
        &state.db,
        &state.auth,
        &form.token,
        form.new_password,
        &client_info(&req),
    )
    .await
    {
        Ok(()) => see_other("/login?reset=done").finish(),
        Err(e) => {
            let (status, error) = message(&e);
            let token = matches!(e, AccountError::Invalid(_)).then_some(form.token);
            reset_view(&req, &state, status, token, Some(error), None)
        }
    }
}

async fn logout(state: web::Data<AppState>, user: Option<SessionUser>) -> HttpResponse {
    if let Some(user) = user
        && let Err(e) = accounts::logout(
            &state.db,
            &user.user_id,
            &user.session_id,
            user.caller.tenant.as_ref().map(|(t, _)| t),
            &user.caller.client,
        )
        .await
    {
        tracing::error!(error = %e, "logout failed");
        return HttpResponse::InternalServerError().finish();
    }
    see_other("/login")
        .cookie(
            state
                .auth
                .cookie(state.auth.session_cookie(), String::new(), None),
        )
        .finish()
}

/// The shell for a signed-in user without an organisation (a platform administrator).
pub async fn app_shell(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Option<SessionUser>,
) -> HttpResponse {
    let Some(user) = user else {
        return see_other("/login").finish();
    };
    let (csrf, _) = page_csrf(&req, &state);
    let (tenant_name, role, key_count) = match &user.caller.tenant {
        Some((tenant, role)) => {
            let name = crate::storage::tenants::find(&state.db, tenant.as_str())
                .await
                .ok()
                .flatten()
                .map(|t| t.name);
            let keys = crate::storage::keys::list(&state.db, tenant)
                .await
                .map_or(0, |k| k.len());
            (name, role.to_string(), keys)
        }
        None => (None, String::new(), 0),
    };
    let page = AppPage {
        title: "Overview",
        csrf,
        htmx: htmx_available(),
        email: user.caller.label.clone(),
        tenant_name,
        role,
        key_count,
    };
    render(actix_web::http::StatusCode::OK, &page, None)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_CSS)
}

async fn app_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_JS)
}

async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON)
}

async fn htmx() -> HttpResponse {
    if HTMX.is_empty() {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(HTMX)
}
