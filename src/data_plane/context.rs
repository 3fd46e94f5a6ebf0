//! What every `/v1` call resolves first: the caller's key (from the snapshot), the model it
//! names, and per-request switches.

use std::sync::Arc;

use actix_web::HttpRequest;

use super::dialect::auth_error;
use super::meter::{count_prompt, estimate_prompt};
use crate::config::ModelMode;
use crate::domain::time::now_millis;
use crate::metering::log::{LogDraft, Settlement};
use crate::policy::rate_limit::Decision;
use crate::policy::snapshot::KeyPolicy;
use crate::policy::{access, auth, budget, internal_keys, limits};
use crate::providers::types::{ChatRequest, Part, Role};
use crate::providers::{ErrorKind, ProviderError};
use crate::routing::rules::Features;
use crate::routing::{Plan, PlanError};
use crate::state::AppState;

/// Strict mode header: a parameter the target cannot honour is a 400 instead of being dropped.
pub const STRICT_HEADER: &str = "x-switchyard-strict";

/// Authenticates the caller's virtual key and checks where the call comes from.
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Arc<KeyPolicy>, ProviderError> {
    let snapshot = state.policy.current();
    let presented = auth::presented_key(req.headers());
    if let Some(token) = presented.filter(|k| k.starts_with(internal_keys::PREFIX)) {
        let key = internal(state, &snapshot, token)?;
        crate::storage::scope::narrow_to_tenant(&key.tenant_id);
        return Ok(key);
    }
    let key = auth::authenticate(&snapshot, presented, now_millis()).map_err(|e| auth_error(&e))?;
    crate::storage::scope::narrow_to_tenant(&key.tenant_id);
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
    tenant_allows(&snapshot, &key.tenant_id, ip)?;
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
    state
        .key_usage
        .note(&key.tenant_id, &key.key_id, now_millis());
    Ok(key)
}

/// Refuses a client address outside the tenant's IP allowlist (an empty list allows all).
fn tenant_allows(
    snapshot: &crate::policy::snapshot::Snapshot,
    tenant_id: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<(), ProviderError> {
    if access::ip_allowed(ip, &snapshot.tenant(tenant_id).ip_allowlist) {
        return Ok(());
    }
    let from = ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    let mut e = ProviderError::new(
        ErrorKind::PermissionDenied,
        format!("This organisation's API keys may not be used from {from}."),
    )
    .with_code("ip_not_allowed");
    e.origin = crate::providers::Origin::Caller;
    Err(e)
}

/// The key an internal (playground) token acts as. The dashboard user was authenticated and
/// authorised for the tenant when the token was issued; the tenant's IP allowlist applies to
/// that user's address (carried by the token, as the call itself comes from loopback). The
/// key's own IP allowlist and allowed origins describe where its secret is deployed, which the
/// playground never sees, so they do not apply.
fn internal(
    state: &AppState,
    snapshot: &crate::policy::snapshot::Snapshot,
    token: &str,
) -> Result<Arc<KeyPolicy>, ProviderError> {
    let invalid = || auth_error(&auth::AuthError::Invalid("sy_internal_…".into()));
    let grant = state.internal_keys.redeem(token).ok_or_else(invalid)?;
    let (tenant, key_id) = (grant.tenant_id, grant.key_id);
    let key = snapshot
        .credentials
        .values()
        .find(|c| c.valid_until.is_none() && c.key.key_id == key_id && c.key.tenant_id == tenant)
        .map(|c| c.key.clone())
        .ok_or_else(invalid)?;
    if key.expires_at.is_some_and(|at| now_millis() >= at) {
        return Err(auth_error(&auth::AuthError::Expired));
    }
    if snapshot.suspended_tenants.contains(&tenant) {
        return Err(auth_error(&auth::AuthError::TenantSuspended));
    }
    tenant_allows(snapshot, &tenant, grant.client_ip)?;
    state.key_usage.note(&tenant, &key_id, now_millis());
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
    draft.log_bodies = state.policy.current().tenant(&key.tenant_id).log_bodies;
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
    // A tenant's own models join (and shadow) the platform's.
    let catalog = snapshot
        .tenant_catalogs
        .get(&key.tenant_id)
        .map_or(&*state.catalog, |c| &**c);
    let plan = router
        .plan(catalog, &state.health, name, mode, &features)
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
        });
    let plan = plan?;
    let tenant = snapshot.tenant(&key.tenant_id);
    if tenant.cost_tracking {
        check_priced(state, key, &plan)?;
    }
    Ok(plan)
}

/// Refuses a plan whose models have no price (their cost could not be tracked) unless the
/// operator allowed them; an allowed unpriced model raises an alert on every request.
fn check_priced(state: &AppState, key: &KeyPolicy, plan: &Plan) -> Result<(), ProviderError> {
    let mut unpriced = plan.candidates.iter().filter(|d| d.prices.is_none());
    let Some(first) = unpriced.next() else {
        return Ok(());
    };
    if let Some(refused) = std::iter::once(first)
        .chain(unpriced)
        .find(|d| !d.settings.allow_unpriced)
    {
        let mut e = ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "The model `{}` has no price, so its cost cannot be tracked; the operator must \
                 price it (input_usd_per_mtok and output_usd_per_mtok) or set allow_unpriced.",
                refused.name
            ),
        )
        .with_param("model")
        .with_code("model_not_priced");
        e.origin = crate::providers::Origin::Caller;
        return Err(e);
    }
    if plan.candidates.first().is_some_and(|d| d.prices.is_none()) {
        state.alerts.raise(crate::alerts::event::AlertEvent {
            tenant_id: key.tenant_id.clone(),
            kind: "model.unpriced",
            severity: "warning",
            title: format!(
                "Unpriced model `{}` was called: its cost is not tracked",
                first.name
            ),
            data: serde_json::json!({ "model": first.name, "key_id": key.key_id }),
        });
    }
    Ok(())
}

/// How many prompt tokens a request counts against token limits.
#[derive(Clone, Copy, Debug)]
pub enum PromptTokens<'a> {
    /// A chat: counted with the model's tokenizer when one is known, else estimated.
    Chat(&'a ChatRequest),
    /// Already counted.
    Counted(u64),
}

/// Counts the call against every limit that applies — the key's, its team's, its tenant's and
/// the tenant's limit on the named model: requests and prompt tokens per minute, and requests in
/// flight. A refusal is a 429 with `retry-after` and OpenAI-style `x-ratelimit-*` headers. What
/// the request holds (concurrency slots, the token estimate to reconcile) goes into `draft`.
pub async fn enforce_limits(
    state: &AppState,
    key: &KeyPolicy,
    plan: &Plan,
    prompt: PromptTokens<'_>,
    draft: &mut LogDraft,
) -> Result<(), super::respond::Failure> {
    let scopes = {
        let snapshot = state.policy.current();
        limits::scopes(&snapshot, key, &plan.route)
    };
    if scopes.is_empty() {
        return Ok(());
    }
    let mut counted_requests: Vec<&str> = Vec::new();
    for scope in &scopes {
        let Some(limit) = scope.limits.rpm else {
            continue;
        };
        let counter = format!("{}:requests", scope.counter);
        let decision = state.limiter.check(&counter, limit, 1).await;
        if !decision.allowed {
            refund(state, &counted_requests, 1).await;
            return Err(limited(scope, "requests", decision));
        }
        counted_requests.push(&scope.counter);
    }
    let tokens = if scopes.iter().any(|s| s.limits.tpm.is_some()) {
        match prompt {
            PromptTokens::Counted(n) => n,
            PromptTokens::Chat(chat) => {
                let upstream = plan
                    .candidates
                    .first()
                    .map_or(chat.model.as_str(), |d| d.target.upstream_model.as_str());
                count_prompt(chat, upstream)
            }
        }
        .max(1)
    } else {
        0
    };
    let mut token_counters: Vec<String> = Vec::new();
    for scope in &scopes {
        let Some(limit) = scope.limits.tpm else {
            continue;
        };
        let counter = format!("{}:tokens", scope.counter);
        let decision = state.limiter.check(&counter, limit, tokens).await;
        if !decision.allowed {
            refund(state, &counted_requests, 1).await;
            for c in &token_counters {
                state
                    .limiter
                    .adjust(c, -i64::try_from(tokens).unwrap_or(0))
                    .await;
            }
            return Err(limited(scope, "tokens", decision));
        }
        token_counters.push(counter);
    }
    let wanted: Vec<(String, u64)> = scopes
        .iter()
        .filter_map(|s| s.limits.max_concurrent.map(|l| (s.counter.clone(), l)))
        .collect();
    let permit = if wanted.is_empty() {
        None
    } else {
        match state.concurrency.acquire(&wanted) {
            Ok(permit) => Some(permit),
            Err(i) => {
                refund(state, &counted_requests, 1).await;
                for c in &token_counters {
                    state
                        .limiter
                        .adjust(c, -i64::try_from(tokens).unwrap_or(0))
                        .await;
                }
                let scope = scopes
                    .iter()
                    .find(|s| s.counter == wanted[i].0)
                    .unwrap_or(&scopes[0]);
                return Err(too_many_in_flight(scope, wanted[i].1));
            }
        }
    };
    draft.hold = Some(Arc::new(limits::Hold::new(
        permit,
        token_counters,
        tokens,
        state.limiter.clone(),
    )));
    Ok(())
}

async fn refund(state: &AppState, counters: &[&str], cost: i64) {
    for c in counters {
        state.limiter.adjust(&format!("{c}:requests"), -cost).await;
    }
}

fn limited(scope: &limits::Scope, what: &str, decision: Decision) -> super::respond::Failure {
    let wait = decision.retry_after_ms.div_ceil(1000).max(1);
    let mut error = ProviderError::new(
        ErrorKind::RateLimited,
        format!(
            "Rate limit reached for {}: {} {what} per minute. Try again in {wait}s.",
            scope.label, decision.limit
        ),
    )
    .with_code("rate_limit_exceeded");
    error.origin = crate::providers::Origin::Caller;
    error.retry_after = Some(wait);
    let (limit, remaining, reset) = if what == "requests" {
        (
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        )
    } else {
        (
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        )
    };
    super::respond::Failure {
        error,
        route: None,
        attempts: 0,
        headers: vec![
            (limit, decision.limit.to_string()),
            (remaining, decision.remaining.to_string()),
            (reset, format!("{}ms", decision.retry_after_ms)),
            ("x-switchyard-limit-scope", scope.kind.to_owned()),
        ],
    }
}

fn too_many_in_flight(scope: &limits::Scope, limit: u64) -> super::respond::Failure {
    let mut error = ProviderError::new(
        ErrorKind::RateLimited,
        format!(
            "Too many requests in flight for {}: at most {limit} at once. Try again when one finishes.",
            scope.label
        ),
    )
    .with_code("concurrency_limit_exceeded");
    error.origin = crate::providers::Origin::Caller;
    error.retry_after = Some(1);
    super::respond::Failure {
        error,
        route: None,
        attempts: 0,
        headers: vec![("x-switchyard-limit-scope", scope.kind.to_owned())],
    }
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
    let size = BudgetedCall {
        end_user: chat.user.as_deref(),
        model: &chat.model,
        prompt_tokens: estimate_prompt(chat),
        max_tokens: chat.max_tokens,
    };
    reserve_budgets_for(state, key, plan, size).await
}

/// What a call's budget reservation depends on: who it is for, the model it names and its size.
#[derive(Clone, Copy, Debug)]
pub struct BudgetedCall<'a> {
    /// The caller's end user (`user` field), for end-user budgets.
    pub end_user: Option<&'a str>,
    /// The model or route named, for model budgets.
    pub model: &'a str,
    pub prompt_tokens: u64,
    /// The output cap (`Some(0)` for embeddings, `None`: the default cap).
    pub max_tokens: Option<u32>,
}

/// [`reserve_budgets`] for a call already sized (embeddings, the semantic cache's embedding).
pub async fn reserve_budgets_for(
    state: &AppState,
    key: &KeyPolicy,
    plan: &Plan,
    call: BudgetedCall<'_>,
) -> Result<Option<Settlement>, super::respond::Failure> {
    let charges = {
        let snapshot = state.policy.current();
        budget::charges(&snapshot, key, call.end_user, call.model, now_millis())
    };
    if charges.is_empty() {
        return Ok(None);
    }
    let amount = budget::max_cost(
        plan.candidates.iter().map(|d| d.prices.as_ref()),
        call.prompt_tokens,
        call.max_tokens,
    );
    match state.budgets.reserve(&charges, amount).await {
        Ok(Ok(())) => Ok(Some(Settlement {
            arbiter: state.budgets.clone(),
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

/// Reserves the request's maximum cost on the tenant's prepaid credits when the plan has models
/// billed to credits (see [`crate::billing::hold`]); 402 `insufficient_credits` when short.
pub async fn reserve_credits(
    state: &AppState,
    key: &KeyPolicy,
    plan: &Plan,
    chat: &ChatRequest,
) -> Result<Option<crate::billing::hold::CreditHold>, super::respond::Failure> {
    let estimate = crate::billing::hold::Estimate {
        prompt_tokens: estimate_prompt(chat),
        max_tokens: chat.max_tokens,
    };
    reserve_credits_for(state, key, plan, estimate).await
}

/// [`reserve_credits`] for a request whose size is already estimated (embeddings).
pub async fn reserve_credits_for(
    state: &AppState,
    key: &KeyPolicy,
    plan: &Plan,
    estimate: crate::billing::hold::Estimate,
) -> Result<Option<crate::billing::hold::CreditHold>, super::respond::Failure> {
    crate::billing::hold::reserve(&state.credits, &key.tenant_id, plan, estimate).await
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
