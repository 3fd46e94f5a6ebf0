//! Who is calling the dashboard or the admin API: a session cookie (JWT naming a live
//! `user_sessions` row, checked against the database on every request) or an admin API token
//! (`Authorization: Bearer sy_admin_…`). Handlers take [`Principal`] (a tenant member or token),
//! [`SessionUser`] (any logged-in user) or [`PlatformAdmin`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::accounts::ClientInfo;
use super::jwt::Claims;
use crate::control_plane::Actor;
use crate::control_plane::api::error::ApiFailure;
use crate::domain::ids::TenantId;
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::state::AppState;
use crate::storage::{api_tokens, sessions, tenants, users};

/// The prefix of admin API tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "sy_admin_";

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A dashboard session.
    Session { session_id: String },
    /// An admin API token.
    Token { token_id: String },
}

/// An authenticated caller, with the tenant it acts in when it has one.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user, for sessions.
    pub user_id: Option<String>,
    /// An email address, or `token:NAME`.
    pub label: String,
    pub platform_admin: bool,
    /// The tenant and the caller's role in it.
    pub tenant: Option<(TenantId, Role)>,
    pub credential: Credential,
    pub client: ClientInfo,
    /// The tenant requires two-factor login and this session's user has not enrolled: only
    /// enrolment, `/api/v1/me` and logout are open to it.
    pub must_enrol_two_factor: bool,
}

/// A caller acting in a tenant: every handler that touches tenant data takes this.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub role: Role,
    pub caller: Caller,
}

/// A logged-in user through a session (not a token).
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub user_id: String,
    pub session_id: String,
    pub caller: Caller,
}

/// A platform administrator (through a session).
#[derive(Clone, Debug)]
pub struct PlatformAdmin(pub Caller);

impl Caller {
    /// The audit actor.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            user_id: self.user_id.as_deref(),
            label: &self.label,
            ip: self.client.ip.as_deref(),
        }
    }
}

impl Principal {
    /// The audit actor.
    pub fn actor(&self) -> Actor<'_> {
        self.caller.actor()
    }

    /// Refuses (403) unless the role is at least `least` (owner > admin > member > viewer).
    pub fn require(&self, least: Role) -> Result<(), ApiFailure> {
        if self.role <= least {
            Ok(())
        } else {
            Err(ApiFailure::Forbidden(format!(
                "this action needs the {least} role or higher; you are {}",
                self.role
            )))
        }
    }
}

/// The client's address and user agent.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// The verified claims of the request's session cookie (signature and expiry only; revocation
/// is checked by [`authenticate`]).
pub fn session_claims(req: &HttpRequest, state: &AppState) -> Option<Claims> {
    let cookie = req.cookie(state.auth.session_cookie())?;
    state.auth.signer.verify(cookie.value())
}

fn bearer(req: &HttpRequest) -> Option<Result<String, ()>> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let text = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    Some(text.ok_or(()))
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiFailure> {
    if let Some(found) = req.extensions().get::<Caller>() {
        return Ok(found.clone());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiFailure::Internal(anyhow::anyhow!("application state missing")))?
        .clone();
    let client = client_info(req);
    let caller = match bearer(req) {
        Some(token) => {
            let token = token.map_err(|()| ApiFailure::Unauthorized)?;
            authenticate_token(&state, &token, client).await?
        }
        None => {
            let claims = session_claims(req, &state).ok_or(ApiFailure::Unauthorized)?;
            authenticate_session(&state, claims, client).await?
        }
    };
    req.extensions_mut().insert(caller.clone());
    Ok(caller)
}

async fn authenticate_session(
    state: &AppState,
    claims: Claims,
    client: ClientInfo,
) -> Result<Caller, ApiFailure> {
    let session = sessions::find(&state.db, &claims.sid)
        .await?
        .filter(|s| {
            s.revoked_at.is_none() && s.expires_at > now_millis() && s.user_id == claims.sub
        })
        .ok_or(ApiFailure::Unauthorized)?;
    let user = users::find(&state.db, &session.user_id)
        .await?
        .ok_or(ApiFailure::Unauthorized)?;
    let tenant = match &claims.tid {
        Some(tid) => users::membership(&state.db, tid, &user.id)
            .await?
            .and_then(|m| m.role.parse::<Role>().ok())
            .map(|role| (TenantId::from_db(tid.clone()), role)),
        None => None,
    };
    let must_enrol_two_factor = match &tenant {
        Some((tid, _)) => {
            requires_two_factor(state, tid).await?
                && !crate::storage::totp::is_enrolled(&state.db, &user.id).await?
        }
        None => false,
    };
    Ok(Caller {
        user_id: Some(user.id),
        label: user.email,
        platform_admin: user.is_platform_admin,
        tenant,
        credential: Credential::Session {
            session_id: session.id,
        },
        client,
        must_enrol_two_factor,
    })
}

async fn requires_two_factor(state: &AppState, tenant: &TenantId) -> Result<bool, ApiFailure> {
    let raw = tenants::settings_json(&state.db, tenant.as_str()).await?;
    Ok(raw
        .and_then(|r| {
            crate::domain::tenant_settings::parse::<crate::domain::tenant_settings::TenantSettings>(
                &r,
            )
            .ok()
        })
        .is_some_and(|s| s.require_two_factor))
}

/// The caller of a request (cached per request), or `None` without valid credentials.
pub async fn caller_of(req: &HttpRequest) -> Option<Caller> {
    authenticate(req).await.ok()
}

/// Splits `sy_admin_<public id>_<secret>`.
pub fn parse_admin_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(ADMIN_TOKEN_PREFIX)?;
    let (public_id, secret) = rest.split_once('_')?;
    (!public_id.is_empty() && !secret.is_empty()).then_some((public_id, secret))
}

/// The stored hash of a whole admin token.
pub fn admin_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn authenticate_token(
    state: &AppState,
    token: &str,
    client: ClientInfo,
) -> Result<Caller, ApiFailure> {
    let (public_id, _) = parse_admin_token(token).ok_or(ApiFailure::Unauthorized)?;
    let stored = api_tokens::find_secret(&state.db, public_id)
        .await?
        .filter(|t| t.revoked_at.is_none())
        .ok_or(ApiFailure::Unauthorized)?;
    let hash = admin_token_hash(token);
    if !bool::from(hash.as_bytes().ct_eq(stored.secret_hash.as_bytes())) {
        return Err(ApiFailure::Unauthorized);
    }
    let role = stored
        .role
        .parse::<Role>()
        .map_err(|e| ApiFailure::Internal(anyhow::anyhow!(e)))?;
    if tenants::find(&state.db, &stored.tenant_id).await?.is_none() {
        return Err(ApiFailure::Unauthorized);
    }
    api_tokens::touch(&state.db, &stored.id, now_millis()).await?;
    Ok(Caller {
        user_id: None,
        label: format!("token:{}", stored.name),
        platform_admin: false,
        tenant: Some((TenantId::from_db(stored.tenant_id), role)),
        credential: Credential::Token {
            token_id: stored.id,
        },
        client,
        must_enrol_two_factor: false,
    })
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiFailure>>>>;

impl FromRequest for Caller {
    type Error = ApiFailure;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for Principal {
    type Error = ApiFailure;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req).await?;
            let (tenant, role) = caller.tenant.clone().ok_or_else(|| {
                ApiFailure::Forbidden("this session does not act in a tenant".into())
            })?;
            crate::storage::scope::narrow_to_tenant(tenant.as_str());
            Ok(Principal {
                tenant,
                role,
                caller,
            })
        })
    }
}

impl FromRequest for SessionUser {
    type Error = ApiFailure;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req).await?;
            match (&caller.credential, &caller.user_id) {
                (Credential::Session { session_id }, Some(user_id)) => Ok(SessionUser {
                    user_id: user_id.clone(),
                    session_id: session_id.clone(),
                    caller,
                }),
                _ => Err(ApiFailure::Forbidden(
                    "this action needs a logged-in user, not an API token".into(),
                )),
            }
        })
    }
}

impl FromRequest for PlatformAdmin {
    type Error = ApiFailure;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req).await?;
            if caller.platform_admin {
                crate::storage::scope::widen_for_platform_admin();
                Ok(PlatformAdmin(caller))
            } else {
                Err(ApiFailure::Forbidden(
                    "this action needs a platform administrator".into(),
                ))
            }
        })
    }
}
