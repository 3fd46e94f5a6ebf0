//! `/api/v1/auth/*` and `/api/v1/me`: sign-up, login, logout, password change and reset.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiFailure;
use crate::control_plane::auth::accounts::{self, OpenedSession, Signup};
use crate::control_plane::auth::principal::{Caller, Credential, SessionUser, client_info};
use crate::state::AppState;

/// Sign-up form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// 12 to 256 characters.
    pub password: String,
    /// The organisation (tenant) name.
    pub organization: String,
}

/// Login form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant id to act in; default: the user's first tenant.
    pub tenant: Option<String>,
}

/// An opened session. The session itself travels in the `__Host-switchyard_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub user_id: String,
    pub email: String,
    pub tenant_id: Option<String>,
    /// Send as `X-CSRF-Token` (or the `csrf_token` form field) on state-changing requests.
    pub csrf_token: String,
}

/// A CSRF token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsrfResponse {
    pub csrf_token: String,
}

/// Password change form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Password change outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePasswordResponse {
    /// How many other sessions were ended.
    pub other_sessions_ended: u64,
}

/// Password reset request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

/// Password reset completion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    /// The token from the emailed link.
    pub token: String,
    pub new_password: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: Option<String>,
    /// An email address, or `token:NAME` for an API token.
    pub label: String,
    pub platform_admin: bool,
    pub tenant_id: Option<String>,
    pub role: Option<String>,
    /// `session` or `token`.
    pub auth: String,
    /// The CSRF token for this session (sessions only).
    pub csrf_token: Option<String>,
}

pub(crate) fn session_response(
    state: &AppState,
    opened: OpenedSession,
    created: bool,
) -> HttpResponse {
    let cookie = state.auth.cookie(
        state.auth.session_cookie(),
        opened.token.clone(),
        Some(opened.max_age),
    );
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    res.cookie(cookie).json(SessionResponse {
        user_id: opened.user_id,
        email: opened.email,
        tenant_id: opened.tenant_id,
        csrf_token: opened.csrf_token,
    })
}

/// A CSRF token for the current session, or for a pre-session cookie (set if absent) before
/// sign-up or login.
#[utoipa::path(get, path = "/api/v1/auth/csrf", tag = "auth", security(()),
    responses((status = 200, body = CsrfResponse)))]
pub async fn csrf(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(claims) = crate::control_plane::auth::principal::session_claims(&req, &state) {
        return HttpResponse::Ok().json(CsrfResponse {
            csrf_token: state.auth.signer.csrf_token(&claims.sid),
        });
    }
    let name = state.auth.presession_cookie();
    let existing = req.cookie(name).map(|c| c.value().to_owned());
    let binding = existing
        .clone()
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let mut res = HttpResponse::Ok();
    if existing.as_deref() != Some(binding.as_str()) {
        res.cookie(state.auth.cookie(name, binding.clone(), Some(12 * 3600)));
    }
    res.json(CsrfResponse {
        csrf_token: state.auth.signer.csrf_token(&binding),
    })
}

/// Creates an organisation and its owner, and logs the owner in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", security(()),
    request_body = SignupRequest,
    responses((status = 201, body = SessionResponse), (status = 400), (status = 409)))]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let body = body.into_inner();
    let opened = accounts::signup(
        &state.db,
        &state.auth,
        Signup {
            email: body.email,
            password: body.password,
            organization: body.organization,
            trial_credits_nusd: crate::billing::usd_to_nusd(
                state.settings.billing.trial_credits_usd,
            ),
        },
        &client_info(&req),
    )
    .await?;
    Ok(session_response(&state, opened, true))
}

/// Logs in (a new session id on every login). An account with two-factor login answers 202
/// with a pending token instead: complete with `POST /api/v1/auth/login/two-factor`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = SessionResponse), (status = 202, body = TwoFactorChallenge),
        (status = 401), (status = 429)))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let body = body.into_inner();
    let step = accounts::login(
        &state.db,
        &state.auth,
        &body.email,
        body.password,
        body.tenant.as_deref(),
        &client_info(&req),
    )
    .await?;
    Ok(match step {
        accounts::LoginStep::Session(opened) => session_response(&state, opened, false),
        accounts::LoginStep::SecondFactor { pending, max_age } => {
            HttpResponse::Accepted().json(TwoFactorChallenge {
                two_factor_required: true,
                pending_token: pending,
                expires_in: max_age,
            })
        }
    })
}

/// The answer to a correct password when the account has two-factor login on.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorChallenge {
    /// Always `true`.
    pub two_factor_required: bool,
    /// Send back to `POST /api/v1/auth/login/two-factor` with the code. Not a session.
    pub pending_token: String,
    /// Seconds the pending token stays valid.
    pub expires_in: i64,
}

/// Ends the session; its cookie stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401)))]
pub async fn logout(
    state: web::Data<AppState>,
    user: SessionUser,
) -> Result<HttpResponse, ApiFailure> {
    accounts::logout(
        &state.db,
        &user.user_id,
        &user.session_id,
        user.caller.tenant.as_ref().map(|(t, _)| t),
        &user.caller.client,
    )
    .await?;
    Ok(HttpResponse::NoContent()
        .cookie(
            state
                .auth
                .cookie(state.auth.session_cookie(), String::new(), None),
        )
        .finish())
}

/// Changes the password and ends every other session of the user.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses((status = 200, body = ChangePasswordResponse), (status = 400), (status = 401)))]
pub async fn change_password(
    state: web::Data<AppState>,
    user: SessionUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let body = body.into_inner();
    let ended = accounts::change_password(
        &state.db,
        &state.auth,
        &user.user_id,
        Some(&user.session_id),
        body.current_password,
        body.new_password,
        &user.caller.client,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ChangePasswordResponse {
        other_sessions_ended: ended,
    }))
}

/// Sends a password-reset link when the account exists; answers 202 either way.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", security(()),
    request_body = ResetRequest, responses((status = 202)))]
pub async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, ApiFailure> {
    if let Some(token) = accounts::request_reset(&state.db, &body.email).await? {
        deliver_reset_link(&req, &state, body.email.trim(), &token);
    }
    Ok(HttpResponse::Accepted().finish())
}

/// Delivers a reset link: by email when `[smtp]` is configured, and logged at info level in
/// `auth.dev_mode`.
pub fn deliver_reset_link(req: &HttpRequest, state: &AppState, email: &str, token: &str) {
    let info = req.connection_info();
    let link = format!("{}://{}/reset?token={token}", info.scheme(), info.host());
    state.auth.mailer.send_reset(email, &link);
    if state.auth.settings.dev_mode {
        tracing::info!(%link, "password reset link (auth.dev_mode)");
    } else if !state.auth.mailer.configured() {
        tracing::warn!(
            "a password reset was requested but [smtp] is not configured; \
             enable auth.dev_mode to log reset links"
        );
    }
}

/// Sets a new password with a reset token (single use, one hour); ends every session.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", security(()),
    request_body = ResetConfirmRequest, responses((status = 204), (status = 400)))]
pub async fn confirm_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetConfirmRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let body = body.into_inner();
    accounts::confirm_reset(
        &state.db,
        &state.auth,
        &body.token,
        body.new_password,
        &client_info(&req),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who is calling.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401)))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> HttpResponse {
    let (auth, csrf_token) = match &caller.credential {
        Credential::Session { session_id } => {
            ("session", Some(state.auth.signer.csrf_token(session_id)))
        }
        Credential::Token { .. } => ("token", None),
    };
    HttpResponse::Ok().json(MeResponse {
        user_id: caller.user_id.clone(),
        label: caller.label.clone(),
        platform_admin: caller.platform_admin,
        tenant_id: caller.tenant.as_ref().map(|(t, _)| t.to_string()),
        role: caller.tenant.as_ref().map(|(_, r)| r.to_string()),
        auth: auth.into(),
        csrf_token,
    })
}
