//! Two-factor login in the admin API: completing a login with a code, enrolling, confirming,
//! disabling, and the tenant's "require two-factor login" setting (owner only).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::session_response;
use super::error::ApiFailure;
use crate::control_plane::auth::accounts;
use crate::control_plane::auth::principal::{Principal, SessionUser, client_info};
use crate::control_plane::auth::two_factor::{self, Proof, Status};
use crate::domain::role::Role;
use crate::state::AppState;

/// The second login step.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TwoFactorLoginRequest {
    /// From the 202 answer of `POST /api/v1/auth/login`.
    pub pending_token: String,
    /// The authenticator's 6-digit code, or an unused recovery code.
    pub code: String,
}

/// A new secret, shown once; confirm it with a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentResponse {
    /// `otpauth://totp/…` for authenticator apps (as a QR code or a link).
    pub otpauth_uri: String,
    /// The secret in base32, to type in by hand.
    pub secret: String,
}

/// A code proving the authenticator works.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    pub code: String,
}

/// One-time recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

/// Proof for turning two-factor login off: a current code or the password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableRequest {
    pub code: Option<String>,
    pub password: Option<String>,
}

/// The tenant's two-factor requirement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorSetting {
    /// Whether every member must use two-factor login; members without it can reach only the
    /// enrolment until they enrol (admin API tokens are unaffected).
    pub require_two_factor: bool,
}

/// Completes a two-factor login and opens the session.
#[utoipa::path(post, path = "/api/v1/auth/login/two-factor", tag = "auth", security(()),
    request_body = TwoFactorLoginRequest,
    responses((status = 200, body = super::auth::SessionResponse), (status = 400),
        (status = 401), (status = 429)))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TwoFactorLoginRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let opened = accounts::complete_two_factor(
        &state.db,
        &state.auth,
        state.vault.as_ref(),
        &body.pending_token,
        &body.code,
        &client_info(&req),
    )
    .await
    .map_err(|e| match e {
        accounts::AccountError::BadCode => ApiFailure::BadCredentials(e.to_string()),
        other => other.into(),
    })?;
    Ok(session_response(&state, opened, false))
}

/// The caller's two-factor state.
#[utoipa::path(get, path = "/api/v1/me/two-factor", tag = "auth",
    responses((status = 200, body = Status), (status = 401)))]
pub async fn status(
    state: web::Data<AppState>,
    user: SessionUser,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(two_factor::status(&state.db, &user.user_id).await?))
}

/// Starts enrolment: a new secret (replacing an unconfirmed one), shown once.
#[utoipa::path(post, path = "/api/v1/me/two-factor", tag = "auth",
    responses((status = 201, body = EnrolmentResponse), (status = 401), (status = 409)))]
pub async fn begin(
    state: web::Data<AppState>,
    user: SessionUser,
) -> Result<HttpResponse, ApiFailure> {
    let enrolment = two_factor::begin(
        &state.db,
        state.vault.as_ref(),
        &user.user_id,
        &user.caller.label,
    )
    .await?;
    Ok(HttpResponse::Created().json(EnrolmentResponse {
        otpauth_uri: enrolment.uri,
        secret: enrolment.secret_base32,
    }))
}

/// Confirms enrolment with a current code; answers the recovery codes (shown once).
#[utoipa::path(post, path = "/api/v1/me/two-factor/confirm", tag = "auth",
    request_body = ConfirmRequest,
    responses((status = 200, body = RecoveryCodesResponse), (status = 400), (status = 409)))]
pub async fn confirm(
    state: web::Data<AppState>,
    user: SessionUser,
    body: web::Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let codes = two_factor::confirm(
        &state.db,
        state.vault.as_ref(),
        user.caller.tenant.as_ref().map(|(t, _)| t),
        &user.user_id,
        &user.caller.label,
        &body.code,
        &user.caller.client,
    )
    .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        recovery_codes: codes,
    }))
}

/// Turns two-factor login off, with a current code or the password.
#[utoipa::path(post, path = "/api/v1/me/two-factor/disable", tag = "auth",
    request_body = DisableRequest,
    responses((status = 204), (status = 400), (status = 409)))]
pub async fn disable(
    state: web::Data<AppState>,
    user: SessionUser,
    body: web::Json<DisableRequest>,
) -> Result<HttpResponse, ApiFailure> {
    let body = body.into_inner();
    let proof = proof(&state, &user, body.code, body.password).await?;
    two_factor::disable(
        &state.db,
        state.vault.as_ref(),
        user.caller.tenant.as_ref().map(|(t, _)| t),
        &user.user_id,
        &user.caller.label,
        proof,
        &user.caller.client,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turns a code or a password into a proof (a wrong password is refused here, audited).
pub async fn proof(
    state: &AppState,
    user: &SessionUser,
    code: Option<String>,
    password: Option<String>,
) -> Result<Proof, ApiFailure> {
    let code = code.filter(|c| !c.trim().is_empty());
    let password = password.filter(|p| !p.is_empty());
    match (code, password) {
        (Some(code), _) => Ok(Proof::Code(code)),
        (None, Some(password)) => {
            if accounts::check_password(&state.db, &state.auth, &user.user_id, password).await? {
                Ok(Proof::PasswordVerified)
            } else {
                Err(ApiFailure::field(
                    "password",
                    "is not your current password",
                ))
            }
        }
        (None, None) => Err(ApiFailure::field(
            "code",
            "enter a current code from your authenticator, or your password",
        )),
    }
}

/// Whether the organisation requires two-factor login.
#[utoipa::path(get, path = "/api/v1/settings/two-factor", tag = "settings",
    responses((status = 200, body = TwoFactorSetting), (status = 401)))]
pub async fn get_setting(
    state: web::Data<AppState>,
    p: Principal,
) -> Result<HttpResponse, ApiFailure> {
    Ok(HttpResponse::Ok().json(TwoFactorSetting {
        require_two_factor: two_factor::required(&state.db, &p.tenant).await?,
    }))
}

/// Requires (or stops requiring) two-factor login of every member. Owner only; an owner
/// turning it on must have two-factor login on already.
#[utoipa::path(put, path = "/api/v1/settings/two-factor", tag = "settings",
    request_body = TwoFactorSetting,
    responses((status = 200, body = TwoFactorSetting), (status = 400), (status = 403)))]
pub async fn set_setting(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<TwoFactorSetting>,
) -> Result<HttpResponse, ApiFailure> {
    p.require(Role::Owner)?;
    let required =
        two_factor::set_required(&state.db, &p.tenant, body.require_two_factor, p.actor()).await?;
    Ok(HttpResponse::Ok().json(TwoFactorSetting {
        require_two_factor: required,
    }))
}
