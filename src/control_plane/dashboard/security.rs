//! The Account security page (`/app/account/security`): turn two-factor login on (a secret
//! shown once as a QR code, an `otpauth://` link and base32 text, confirmed by a code, then one-time
//! recovery codes shown once) or off (with a current code or the password); and the owner's
//! "require two-factor login for all members" switch posted from the Settings page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Ctx, dashboard_page, failure, render, see_other, to_login};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::api::two_factor::proof;
use crate::control_plane::auth::principal::{Principal, SessionUser};
use crate::control_plane::auth::two_factor::{self, Status};
use crate::domain::role::Role;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "dashboard/security.html")]
struct SecurityPage {
    ctx: Ctx,
    status: Status,
    /// The tenant requires two-factor login and the user has not enrolled.
    required: bool,
    /// A secret waiting for confirmation, shown once: (otpauth URI, base32).
    enrolment: Option<(String, String)>,
    /// The otpauth URI as an inline SVG QR code (markup we generate: numbers and colours only).
    qr: Option<String>,
    /// Recovery codes just issued, shown once.
    recovery_codes: Vec<String>,
}

dashboard_page!(SecurityPage);

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    enrolment: Option<(String, String)>,
    recovery_codes: Vec<String>,
    outcome: Option<(StatusCode, String)>,
) -> HttpResponse {
    let user_id = p.caller.user_id.clone().unwrap_or_default();
    let mut ctx = Ctx::new(req, state, p, "Account security", "security").await;
    let status = match two_factor::status(&state.db, &user_id).await {
        Ok(s) => s,
        Err(e) => {
            let (code, message) = failure(&e.into());
            ctx.error = Some(message);
            return render(
                code,
                &SecurityPage {
                    ctx,
                    status: Status {
                        enabled: false,
                        pending: false,
                        recovery_codes_left: 0,
                    },
                    required: false,
                    enrolment: None,
                    qr: None,
                    recovery_codes: Vec::new(),
                },
            );
        }
    };
    let required = p.caller.must_enrol_two_factor && !status.enabled;
    let code = match outcome {
        Some((code, message)) if code.is_success() => {
            ctx.notice = Some(message);
            code
        }
        Some((code, message)) => {
            ctx.error = Some(message);
            code
        }
        None => StatusCode::OK,
    };
    let qr = enrolment.as_ref().and_then(|(uri, _)| super::qr::svg(uri));
    render(
        code,
        &SecurityPage {
            ctx,
            status,
            required,
            enrolment,
            qr,
            recovery_codes,
        },
    )
}

/// `GET /app/account/security`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) if p.caller.user_id.is_some() => {
            show(&req, &state, &p, None, Vec::new(), None).await
        }
        _ => to_login(),
    }
}

/// `POST /app/account/security/totp`: a new secret, shown once.
pub async fn begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: Option<SessionUser>,
) -> HttpResponse {
    let (Some(p), Some(user)) = (p, user) else {
        return to_login();
    };
    match two_factor::begin(
        &state.db,
        state.vault.as_ref(),
        &user.user_id,
        &user.caller.label,
    )
    .await
    {
        Ok(e) => {
            let shown = Some((e.uri.clone(), e.secret_base32.clone()));
            show(&req, &state, &p, shown, Vec::new(), None).await
        }
        Err(e) => show(&req, &state, &p, None, Vec::new(), Some(failure(&e.into()))).await,
    }
}

/// A code (or a password, to disable).
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// `POST /app/account/security/totp/confirm`: turns two-factor login on; shows the recovery
/// codes once.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: Option<SessionUser>,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let (Some(p), Some(user)) = (p, user) else {
        return to_login();
    };
    match two_factor::confirm(
        &state.db,
        state.vault.as_ref(),
        Some(&p.tenant),
        &user.user_id,
        &user.caller.label,
        &form.code,
        &user.caller.client,
    )
    .await
    {
        Ok(codes) => {
            let done = (
                StatusCode::OK,
                "Two-factor login is on. Save your recovery codes now: they are shown only once."
                    .to_owned(),
            );
            show(&req, &state, &p, None, codes, Some(done)).await
        }
        Err(e) => show(&req, &state, &p, None, Vec::new(), Some(failure(&e.into()))).await,
    }
}

/// `POST /app/account/security/totp/disable`: with a current code or the password.
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    user: Option<SessionUser>,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let (Some(p), Some(user)) = (p, user) else {
        return to_login();
    };
    let f = form.into_inner();
    let result = async {
        let proof = proof(&state, &user, Some(f.code), Some(f.password)).await?;
        two_factor::disable(
            &state.db,
            state.vault.as_ref(),
            Some(&p.tenant),
            &user.user_id,
            &user.caller.label,
            proof,
            &user.caller.client,
        )
        .await?;
        Ok::<(), ApiFailure>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/account/security"),
        Err(e) => show(&req, &state, &p, None, Vec::new(), Some(failure(&e))).await,
    }
}

/// The owner's switch on the Settings page (a checkbox is absent when off).
#[derive(Debug, Deserialize)]
pub struct RequireForm {
    #[serde(default)]
    require_two_factor: Option<String>,
}

/// `POST /app/settings/two-factor` (owner only).
pub async fn set_required(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<RequireForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let result = async {
        p.require(Role::Owner)?;
        two_factor::set_required(
            &state.db,
            &p.tenant,
            form.require_two_factor.is_some(),
            p.actor(),
        )
        .await?;
        Ok::<(), ApiFailure>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/app/settings"),
        Err(e) => super::settings::show(&req, &state, &p, Some(failure(&e))).await,
    }
}
