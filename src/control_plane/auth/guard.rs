//! The control-plane guard, installed on the whole app: every state-changing request
//! (POST, PUT, PATCH, DELETE) outside `/v1` must come from our own origin (Origin and
//! Sec-Fetch-Site checks) and carry the CSRF token bound to its session or pre-session cookie
//! (`X-CSRF-Token` header, or the `csrf_token` form field), unless it authenticates with an
//! `Authorization` header (admin API tokens, which browsers never attach on their own).
//! Every response outside `/v1` gets the security headers, and a live session's token is
//! re-signed as it is used (sliding idle timeout, capped by the absolute lifetime).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

use super::accounts::sign_refreshed;
use super::{CSRF_FIELD, CSRF_HEADER};
use crate::state::AppState;

/// The Content-Security-Policy of every control-plane response: no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
/// HSTS: two years, subdomains included.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";
/// The largest form body read for its `csrf_token` field.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// A session token is re-signed once it is this old (seconds).
const REFRESH_AFTER_SECS: i64 = 60;

/// Whether the method changes state.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn is_data_plane(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Server-to-server webhooks authenticated by their own signature (Stripe's), never by a
/// browser session: no CSRF check.
fn is_signed_webhook(path: &str) -> bool {
    path == crate::billing::webhook::PATH
}

/// The guard; install with `middleware::from_fn(guard)`.
pub async fn guard<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if is_data_plane(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    // Boxed: the checks' state is large, and actix moves this future into a box of its own on
    // every request; kept out of it, `/v1` requests only move a few words.
    Box::pin(guard_control_plane(req, next)).await
}

/// The checks for everything outside `/v1`.
async fn guard_control_plane<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if is_state_changing(req.method())
        && !is_signed_webhook(req.path())
        && let Err(reason) = check_csrf(&mut req, &state).await
    {
        tracing::info!(path = %req.path(), reason, "state-changing request refused: CSRF");
        let mut res = HttpResponse::build(StatusCode::FORBIDDEN).json(json!({
            "error": {
                "message": format!("Request refused: {reason}."),
                "field": null,
                "code": "csrf_failed",
            }
        }));
        add_security_headers(res.headers_mut());
        return Ok(req.into_response(res).map_into_right_body());
    }
    let claims = super::principal::session_claims(req.request(), &state);
    if claims.is_some()
        && !req.headers().contains_key(header::AUTHORIZATION)
        && gated_until_enrolled(req.path())
        && super::principal::caller_of(req.request())
            .await
            .is_some_and(|c| c.must_enrol_two_factor)
    {
        let mut res = enrol_first(req.path());
        add_security_headers(res.headers_mut());
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    // htmx swaps pages into one document, so the Credits page's "Add credits" form (redirected
    // to Stripe's hosted checkout) runs under whichever page's policy loaded the document.
    if !res.headers().contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(csp) = HeaderValue::from_str(
            &crate::control_plane::dashboard::credits::content_security_policy(&state.settings),
        )
    {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    add_security_headers(res.headers_mut());
    if let Some(claims) = claims {
        refresh_session(&mut res, &state, claims);
    }
    Ok(res.map_into_left_body())
}

/// The page where a user enrols in two-factor login.
pub const ENROL_PAGE: &str = "/app/account/security";

/// Whether a session that must enrol in two-factor login is kept off `path`: every dashboard
/// page and admin-API call except enrolment itself, `/api/v1/me` and the `auth` calls.
fn gated_until_enrolled(path: &str) -> bool {
    let open = path.starts_with(ENROL_PAGE)
        || path == "/api/v1/me"
        || path.starts_with("/api/v1/me/two-factor")
        || path.starts_with("/api/v1/auth/");
    !open && (path == "/app" || path.starts_with("/app/") || path.starts_with("/api/v1/"))
}

/// The refusal for a session that must enrol first: a redirect to the enrolment page for
/// pages, a JSON 403 for the API.
fn enrol_first(path: &str) -> HttpResponse {
    if path.starts_with("/api/") {
        HttpResponse::Forbidden().json(json!({
            "error": {
                "message": "Your organisation requires two-factor login: enrol first \
                            (POST /api/v1/me/two-factor).",
                "field": null,
                "code": "two_factor_enrolment_required",
            }
        }))
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, ENROL_PAGE))
            .finish()
    }
}

/// Adds the security headers.
pub fn add_security_headers(headers: &mut header::HeaderMap) {
    let set = |headers: &mut header::HeaderMap, name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        STRICT_TRANSPORT_SECURITY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
}

fn refresh_session<B>(res: &mut ServiceResponse<B>, state: &AppState, claims: super::jwt::Claims) {
    let name = state.auth.session_cookie();
    let already_set = res.response().cookies().any(|c| c.name() == name);
    let age = chrono::Utc::now().timestamp() - claims.iat;
    if already_set || age < REFRESH_AFTER_SECS || !res.status().is_success() {
        return;
    }
    if let Ok((token, max_age)) = sign_refreshed(&state.auth, claims) {
        let cookie = state.auth.cookie(name, token, Some(max_age));
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// Checks the origin and the CSRF token of a state-changing request.
async fn check_csrf(req: &mut ServiceRequest, state: &AppState) -> Result<(), &'static str> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err("cross-site request");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .is_some_and(|o| {
                let origin_host = match (o.host_str(), o.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    _ => String::new(),
                };
                !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
            });
        if !same {
            return Err("cross-origin request");
        }
    }
    if headers.contains_key(header::AUTHORIZATION) {
        // Token-authenticated API call: browsers never attach this header cross-site.
        return Ok(());
    }
    let mut bindings = Vec::new();
    if let Some(claims) = super::principal::session_claims(req.request(), state) {
        bindings.push(claims.sid);
    }
    if let Some(pre) = req.cookie(state.auth.presession_cookie()) {
        bindings.push(pre.value().to_owned());
    }
    if bindings.is_empty() {
        return Err("no session: fetch a CSRF token first (GET /api/v1/auth/csrf)");
    }
    let token = match req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => token.to_owned(),
        None => form_token(req).await.ok_or("missing CSRF token")?,
    };
    if bindings
        .iter()
        .any(|b| state.auth.signer.csrf_valid(b, &token))
    {
        Ok(())
    } else {
        Err("invalid CSRF token")
    }
}

/// Reads the `csrf_token` field of a form body, and puts the body back for the handler.
async fn form_token(req: &mut ServiceRequest) -> Option<String> {
    if req.content_type() != "application/x-www-form-urlencoded" {
        return None;
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    let mut token = None;
    let mut complete = true;
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            complete = false;
            break;
        };
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            complete = false;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if complete {
        token = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
    }
    req.set_payload(Payload::from(body.freeze()));
    token
}
