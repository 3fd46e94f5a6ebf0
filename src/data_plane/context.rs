//! What every `/v1` call resolves first: the caller's key (from the snapshot), the model it
//! names, and per-request switches.

use std::sync::Arc;

use actix_web::HttpRequest;

use super::dialect::auth_error;
use super::meter::estimate_prompt;
use crate::config::ModelMode;
use crate::domain::time::now_millis;
use crate::metering::log::{LogDraft, Settlement};
use crate::policy::snapshot::KeyPolicy;
use crate::policy::{access, auth, budget};
use crate::providers::types::{ChatRequest, Part, Role};
use crate::providers::{ErrorKind, ProviderError};
use crate::routing::rules::Features;
use crate::routing::{Plan, PlanError};
use crate::state::AppState;
use crate::storage::spend;

/// Strict mode header: a parameter the target cannot honour is a 400 instead of being dropped.
pub const STRICT_HEADER: &str = "x-switchyard-strict";

/// Authenticates the caller's virtual key and checks where the call comes from.
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Arc<KeyPolicy>, ProviderError> {
    let snapshot = state.policy.current();
    let key = auth::authenticate(&snapshot, auth::presented_key(req.headers()), now_millis())
        .map_err(|e| auth_error(&e))?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let denied = |code: &str, message: String| {
        let mut e = ProviderError::new(ErrorKind::PermissionDenied, message).with_code(code);
        e.origin = crate::providers::Origin::Caller;
        e
    };
    let ip = access::client_ip(
        req.peer_addr().map(|a| a.ip()),
        header("x-forwarded-for"),
        &state.settings.server.trusted_proxies,
    );
    if !access::ip_allowed(ip, &key.allowed_ips) {
        let from = ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
        return Err(denied(
            "ip_not_allowed",
            format!("This API key may not be used from {from}."),
        ));
    }
    if !access::origin_allowed(header("origin"), header("referer"), &key.allowed_referrers) {
        return Err(denied(
            "origin_not_allowed",
            "This API key may not be used from this origin.".to_owned(),
        ));
    }
    Ok(key)
}

/// Authenticates the caller, notes who it is in the request's log draft, and reads the body.
pub async fn admit(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
    state: &AppState,
    draft: &mut LogDraft,
) -> Result<(Arc<KeyPolicy>, bytes::Bytes), ProviderError> {
    let key = authenticate(req, state)?;
    draft.tenant_id = Some(key.tenant_id.clone());
    draft.team_id.clone_from(&key.team_id);
    draft.key_id = Some(key.key_id.clone());
    let body = super::body::read_limited(payload, state.settings.server.max_body_bytes).await?;
    Ok((key, body))
}

/// The routing plan for a request naming `name`, after checking the key may use that name.
pub fn plan(
    state: &AppState,
    key: &KeyPolicy,
    req: &HttpRequest,
    name: &str,
    mode: ModelMode,
    chat: Option<&ChatRequest>,
) -> Result<Plan, ProviderError> {
    if !key.allows_model(name) {
        let mut e = ProviderError::new(
            ErrorKind::PermissionDenied,
            format!("This API key is not allowed to use the model `{name}`."),
        )
        .with_param("model")
        .with_code("model_not_allowed");
        e.origin = crate::providers::Origin::Caller;
        return Err(e);
    }
    let features = features(req, key, chat);
    let snapshot = state.policy.current();
    // A tenant's own route shadows a platform route of the same name.
    let router = snapshot
        .tenant_routes
        .get(&key.tenant_id)
        .filter(|r| r.has_route(name))
        .unwrap_or(&state.router);
    router
        .plan(&state.catalog, &state.health, name, mode, &features)
        .map_err(|e| match e {
            PlanError::Unknown => ProviderError::new(
                ErrorKind::NotFound,
                format!("The model `{name}` does not exist or you do not have access to it."),
            )
            .with_param("model")
            .with_code("model_not_found"),
            PlanError::WrongMode => ProviderError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "The model `{name}` is not {}.",
                    match mode {
                        ModelMode::Chat => "a chat model",
                        ModelMode::Embedding => "an embedding model",
                    }
                ),
            )
            .with_param("model")
            .with_code("wrong_model_type"),
        })
}

/// Counts the call against the key's per-minute limits (requests, and the estimated prompt
/// tokens); a refusal is a 429 with `retry-after` and OpenAI-style `x-ratelimit-*` headers.
pub async fn enforce_limits(
    state: &AppState,
    key: &KeyPolicy,
    prompt_tokens: u64,
) -> Result<(), super::respond::Failure> {
    let limits = [
        ("requests", key.rpm_limit, 1),
        ("tokens", key.tpm_limit, prompt_tokens.max(1)),
    ];
    for (what, limit, cost) in limits {
        let Some(limit) = limit.and_then(|l| u64::try_from(l).ok()) else {
            continue;
        };
        let scope = format!("key:{}:{what}", key.key_id);
        let decision = state.limiter.check(&scope, limit, cost).await;
        if decision.allowed {
            continue;
        }
        let wait = decision.retry_after_ms.div_ceil(1000).max(1);
        let mut error = ProviderError::new(
            ErrorKind::RateLimited,
            format!(
                "Rate limit reached for this key: {limit} {what} per minute. Try again in {wait}s."
            ),
        )
        .with_code("rate_limit_exceeded");
        error.origin = crate::providers::Origin::Caller;
        error.retry_after = Some(wait);
        let headers = vec![
            (
                if what == "requests" {
                    "x-ratelimit-limit-requests"
                } else {
                    "x-ratelimit-limit-tokens"
                },
                limit.to_string(),
            ),
            (
                if what == "requests" {
                    "x-ratelimit-remaining-requests"
                } else {
                    "x-ratelimit-remaining-tokens"
                },
                decision.remaining.to_string(),
            ),
            (
                if what == "requests" {
                    "x-ratelimit-reset-requests"
                } else {
                    "x-ratelimit-reset-tokens"
                },
                format!("{}ms", decision.retry_after_ms),
            ),
        ];
        return Err(super::respond::Failure {
            error,
            route: None,
            attempts: 0,
            headers,
        });
    }
    Ok(())
}

/// Reserves the request's maximum cost on every budget that applies (none: nothing to do). Over
/// budget is a 429 `budget_exceeded` naming the budget; an unreachable arbiter refuses the call
/// (budgets fail closed).
pub async fn reserve_budgets(
    state: &AppState,
    key: &KeyPolicy,
    plan: &Plan,
    chat: &ChatRequest,
) -> Result<Option<Settlement>, super::respond::Failure> {
    let charges = {
        let snapshot = state.policy.current();
        budget::charges(
            &snapshot,
            key,
            chat.user.as_deref(),
            &chat.model,
            now_millis(),
        )
    };
    if charges.is_empty() {
        return Ok(None);
    }
    let amount = budget::max_cost(
        plan.candidates.iter().map(|d| d.prices.as_ref()),
        estimate_prompt(chat),
        chat.max_tokens,
    );
    match spend::reserve(&state.db, &charges, amount).await {
        Ok(Ok(())) => Ok(Some(Settlement {
            db: state.db.clone(),
            charges,
            reserved_nusd: amount,
            alerts: state.alerts.clone(),
        })),
        Ok(Err(i)) => {
            let c = &charges[i];
            let mut error = ProviderError::new(
                ErrorKind::RateLimited,
                format!(
                    "The {} budget of {} ({}) is exhausted.",
                    c.scope_type,
                    crate::domain::money::NanoUsd(c.limit_nusd),
                    c.period
                ),
            )
            .with_code("budget_exceeded");
            error.origin = crate::providers::Origin::Caller;
            error.retryable = false;
            Err(error.into())
        }
        Err(e) => {
            tracing::error!(error = %e, "budget reservation failed");
            let mut error = ProviderError::new(
                ErrorKind::Unavailable,
                "Budgets cannot be checked right now; try again shortly.",
            )
            .with_code("budget_unavailable");
            error.status = 503;
            error.retry_after = Some(1);
            Err(error.into())
        }
    }
}

/// Header through which a request tags itself (comma-separated), besides `metadata.tags`.
pub const TAGS_HEADER: &str = "x-switchyard-tags";

fn features<'a>(
    req: &'a HttpRequest,
    key: &'a KeyPolicy,
    chat: Option<&ChatRequest>,
) -> Features<'a> {
    let mut tags: Vec<String> = req
        .headers()
        .get(TAGS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut features = Features {
        tags: Vec::new(),
        headers: req.headers(),
        key_id: &key.key_id,
        team_id: key.team_id.as_deref(),
        team_name: key.team_name.as_deref(),
        prompt_tokens: 0,
        has_tools: false,
        has_images: false,
        last_user_text: String::new(),
    };
    if let Some(chat) = chat {
        if let Some(list) = chat
            .metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .and_then(|t| t.as_array())
        {
            tags.extend(list.iter().filter_map(|t| t.as_str().map(str::to_owned)));
        }
        features.prompt_tokens = estimate_prompt(chat);
        features.has_tools = !chat.tools.is_empty();
        features.has_images = chat
            .messages
            .iter()
            .any(|m| m.content.iter().any(|p| matches!(p, Part::Image { .. })));
        features.last_user_text = chat
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.joined_text())
            .unwrap_or_default();
    }
    features.tags = tags;
    features
}

/// The provider client of the worker handling `req` (the shared one outside a worker).
pub fn http(req: &HttpRequest, state: &AppState) -> reqwest::Client {
    req.app_data::<actix_web::web::Data<super::upstream::WorkerClient>>()
        .map_or_else(|| state.http.clone(), |c| c.0.clone())
}

/// Whether the request asked for strict mode.
pub fn strict(req: &HttpRequest) -> bool {
    req.headers()
        .get(STRICT_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The request id set by the request middleware.
pub fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<crate::observability::request_context::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}
