//! Invitations in the dashboard: admins invite on the Teams page and get the link once (to
//! copy and send; there is no mailer); `/invite?token=…` lets the invited person set a password
//! (or confirm their existing one), joins them to the tenant and signs them in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::render;
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::accounts;
use crate::control_plane::auth::principal::client_info;
use crate::control_plane::invitations::{self, InvitationError, OpenInvitation};
use crate::control_plane::pages::{htmx_available, page_csrf};
use crate::state::AppState;

impl From<InvitationError> for ApiFailure {
    fn from(e: InvitationError) -> Self {
        match e {
            InvitationError::NotFound => ApiFailure::NotFound("invitation".into()),
            InvitationError::Conflict(m) => ApiFailure::Conflict(m),
            InvitationError::Forbidden(m) => ApiFailure::Forbidden(m),
            InvitationError::WrongPassword => ApiFailure::BadCredentials(e.to_string()),
            InvitationError::Invalid(f) => f.into(),
            InvitationError::Hash(h) => ApiFailure::Internal(h.into()),
            InvitationError::Storage(s) => s.into(),
        }
    }
}

/// The link for an invitation token, on the host the admin is using.
pub fn link(req: &HttpRequest, token: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}/invite?token={token}", info.scheme(), info.host())
}

#[derive(Template)]
#[template(path = "pages/invite.html")]
struct InvitePage {
    title: &'static str,
    csrf: String,
    htmx: bool,
    token: String,
    invitation: Option<OpenInvitation>,
    organization: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    token: String,
    error: Option<String>,
) -> HttpResponse {
    let invitation = invitations::open(&state.db, &token).await.ok();
    let organization = match &invitation {
        Some(i) => crate::storage::tenants::find(&state.db, i.tenant.as_str())
            .await
            .ok()
            .flatten()
            .map(|t| t.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let (csrf, cookie) = page_csrf(req, state);
    let status = if invitation.is_none() && status.is_success() {
        StatusCode::NOT_FOUND
    } else {
        status
    };
    let page = InvitePage {
        title: "Join an organisation",
        csrf,
        htmx: htmx_available(),
        error: error.or_else(|| {
            invitation.is_none().then(|| {
                "This invitation does not exist, was already used or has expired. Ask for a new one."
                    .to_owned()
            })
        }),
        token,
        invitation,
        organization,
        notice: None,
    };
    let mut res = render(status, &page);
    if let Some(cookie) = cookie
        && let Err(e) = res.add_cookie(&cookie)
    {
        tracing::error!(error = %e, "pre-session cookie");
    }
    res
}

/// `?token=`.
#[derive(Debug, Deserialize)]
pub struct InviteQuery {
    #[serde(default)]
    token: String,
}

/// `GET /invite?token=…`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<InviteQuery>,
) -> HttpResponse {
    let token = query.into_inner().token;
    show(&req, &state, StatusCode::OK, token, None).await
}

/// The acceptance form.
#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    token: String,
    password: String,
}

/// `POST /invite`: joins and signs in.
pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AcceptForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let client = client_info(&req);
    // Confirming an existing account's password is throttled like a login.
    let mut throttle_keys = Vec::new();
    if let Ok(open) = invitations::open(&state.db, &form.token).await {
        throttle_keys.push(format!("account:{}", open.email));
    }
    if let Some(ip) = &client.ip {
        throttle_keys.push(format!("ip:{ip}"));
    }
    if let Err(wait) = state.auth.throttle.check(&throttle_keys) {
        let e = ApiFailure::Throttled(wait.as_secs().max(1));
        let (status, message) = super::failure(&e);
        return show(&req, &state, status, form.token, Some(message)).await;
    }
    let accepted = invitations::accept(
        &state.db,
        &form.token,
        form.password.clone(),
        client.ip.as_deref(),
    )
    .await;
    let invitation = match accepted {
        Ok(invitation) => invitation,
        Err(e) => {
            if matches!(e, InvitationError::WrongPassword) {
                state.auth.throttle.failure(&throttle_keys);
            }
            let (status, message) = super::failure(&e.into());
            return show(&req, &state, status, form.token, Some(message)).await;
        }
    };
    match accounts::login(
        &state.db,
        &state.auth,
        &invitation.email,
        form.password,
        Some(invitation.tenant.as_str()),
        &client,
    )
    .await
    {
        Ok(step) => crate::control_plane::pages::login_step_response(&state, step),
        Err(e) => {
            tracing::error!(error = %e, "sign-in after accepting an invitation failed");
            super::see_other("/login")
        }
    }
}
