//! The playground: pick one of the tenant's keys and a model or route, type a message, and the
//! chat goes through the gateway's own `/v1/chat/completions` (over loopback, with a single-use
//! internal token acting as that key) — so the key's policy, the tenant's routing, the cache,
//! metering and the request log apply exactly as for the key itself. The tenant's IP allowlist
//! applies to the dashboard user's own address (checked here, with a readable refusal, and again
//! on the data path, which gets the address with the token). The page shows the answer, who
//! answered, the latency and the cost the log recorded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, dashboard_page, failure, render, to_login, usd};
use crate::config::ModelMode;
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::auth::principal::Principal;
use crate::control_plane::keys::{self, KeyStatus};
use crate::control_plane::{models, routes};
use crate::domain::role::Role;
use crate::domain::time::now_millis;
use crate::policy::access;
use crate::state::AppState;
use crate::storage::usage::{self, LogFilter};

/// The longest a playground chat may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// The longest message accepted.
const MAX_MESSAGE: usize = 32 * 1024;

/// A key to act as.
pub struct KeyChoice {
    pub id: String,
    pub label: String,
}

/// The form.
#[derive(Debug, Default, Deserialize)]
pub struct PlaygroundForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    system: String,
    #[serde(default)]
    message: String,
}

/// What came back.
pub struct Outcome {
    pub ok: bool,
    pub status: u16,
    pub answer: String,
    pub route: String,
    pub provider: String,
    pub upstream_model: String,
    pub attempts: String,
    pub cache: String,
    /// Round trip as the dashboard measured it.
    pub latency: String,
    /// From the request log: the gateway's latency, tokens and cost.
    pub logged: Option<Logged>,
    pub request_id: String,
}

/// The request-log row's figures.
pub struct Logged {
    pub latency: String,
    pub tokens: String,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "dashboard/playground.html")]
struct PlaygroundPage {
    ctx: Ctx,
    keys: Vec<KeyChoice>,
    models: Vec<String>,
    form: PlaygroundForm,
    outcome: Option<Outcome>,
}

#[derive(Template)]
#[template(path = "dashboard/playground_result.html")]
struct ResultPartial {
    outcome: Outcome,
}

dashboard_page!(PlaygroundPage);

/// Every chat model and route the tenant's keys may name.
async fn callable(state: &AppState, p: &Principal) -> Result<Vec<String>, ApiFailure> {
    let mut names: Vec<String> = state
        .catalog
        .all()
        .iter()
        .filter(|d| d.mode == ModelMode::Chat)
        .map(|d| d.name.clone())
        .chain(state.settings.routes.iter().map(|r| r.name.clone()))
        .collect();
    for m in models::list(&state.db, &p.tenant).await? {
        let embedding = serde_json::from_str::<Value>(&m.settings)
            .ok()
            .is_some_and(|s| s["mode"] == "embedding");
        if !embedding {
            names.push(m.name);
        }
    }
    names.extend(
        routes::list(&state.db, &p.tenant)
            .await?
            .into_iter()
            .map(|r| r.name),
    );
    names.sort();
    names.dedup();
    Ok(names)
}

async fn active_keys(state: &AppState, p: &Principal) -> Result<Vec<KeyChoice>, ApiFailure> {
    Ok(keys::list(&state.db, &p.tenant)
        .await?
        .into_iter()
        .filter(|k| k.status == KeyStatus::Active)
        .map(|k| KeyChoice {
            label: format!("{} ({})", k.name, k.display),
            id: k.id,
        })
        .collect())
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    form: PlaygroundForm,
    outcome: Option<Outcome>,
    error: Option<String>,
) -> HttpResponse {
    let mut ctx = Ctx::new(req, state, p, "Playground", "playground").await;
    ctx.error = error;
    let loaded =
        async { Ok::<_, ApiFailure>((active_keys(state, p).await?, callable(state, p).await?)) };
    let (keys, models) = match loaded.await {
        Ok(found) => found,
        Err(e) => {
            ctx.error = Some(failure(&e).1);
            (Vec::new(), Vec::new())
        }
    };
    let page = PlaygroundPage {
        ctx,
        keys,
        models,
        form,
        outcome,
    };
    render(status, &page)
}

/// `GET /app/playground`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
) -> HttpResponse {
    match p {
        Some(p) => {
            show(
                &req,
                &state,
                &p,
                StatusCode::OK,
                PlaygroundForm::default(),
                None,
                None,
            )
            .await
        }
        None => to_login(),
    }
}

/// Where this server answers, as seen from itself.
fn loopback(req: &HttpRequest) -> SocketAddr {
    let mut addr = req.app_config().local_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    addr
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("—")
        .to_owned()
}

/// The dashboard user's address, by the data plane's rule: the socket peer, or the rightmost
/// untrusted `X-Forwarded-For` hop when the peer is a trusted proxy.
fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    access::client_ip(
        req.peer_addr().map(|a| a.ip()),
        forwarded,
        &state.settings.server.trusted_proxies,
    )
}

/// Refuses a user outside the tenant's IP allowlist: the playground must not let them reach
/// providers that the tenant's keys could not reach from where they are.
fn check_tenant_allowlist(
    state: &AppState,
    p: &Principal,
    ip: Option<IpAddr>,
) -> Result<(), ApiFailure> {
    let snapshot = state.policy.current();
    if access::ip_allowed(ip, &snapshot.tenant(p.tenant.as_str()).ip_allowlist) {
        return Ok(());
    }
    let from = ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    Err(ApiFailure::Forbidden(format!(
        "your address ({from}) is outside this organisation's IP allowlist (see Settings), \
         so the playground cannot send chats from here"
    )))
}

/// Sends the chat through `/v1` as the chosen key.
async fn send(
    req: &HttpRequest,
    state: &AppState,
    p: &Principal,
    f: &PlaygroundForm,
) -> Result<Outcome, ApiFailure> {
    p.require(Role::Member)?;
    let ip = client_ip(req, state);
    check_tenant_allowlist(state, p, ip)?;
    let message = f.message.trim();
    if message.is_empty() {
        return Err(ApiFailure::field("message", "type a message to send"));
    }
    if message.len() > MAX_MESSAGE {
        return Err(ApiFailure::field("message", "is longer than 32 KiB"));
    }
    if f.model.trim().is_empty() {
        return Err(ApiFailure::field("model", "choose a model or route"));
    }
    let key = active_keys(state, p)
        .await?
        .into_iter()
        .find(|k| k.id == f.key)
        .ok_or_else(|| ApiFailure::field("key", "choose one of your active keys"))?;
    let mut messages = Vec::new();
    if !f.system.trim().is_empty() {
        messages.push(json!({ "role": "system", "content": f.system.trim() }));
    }
    messages.push(json!({ "role": "user", "content": message }));
    let body = json!({ "model": f.model.trim(), "messages": messages });
    let token = state.internal_keys.issue(p.tenant.as_str(), &key.id, ip);
    let request_id = format!("playground-{}", uuid::Uuid::now_v7().simple());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| ApiFailure::Internal(e.into()))?;
    let started_at = now_millis();
    let started = Instant::now();
    let res = client
        .post(format!("http://{}/v1/chat/completions", loopback(req)))
        .bearer_auth(&token)
        .header("x-request-id", &request_id)
        .json(&body)
        .send()
        .await
        .map_err(|e| ApiFailure::Internal(anyhow::anyhow!("playground call failed: {e}")))?;
    let status = res.status().as_u16();
    let (route, provider, upstream_model, attempts, cache) = (
        header(&res, "x-switchyard-route"),
        header(&res, "x-switchyard-provider"),
        header(&res, "x-switchyard-model"),
        header(&res, "x-switchyard-attempts"),
        header(&res, "x-switchyard-cache"),
    );
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    let latency = format!("{} ms", started.elapsed().as_millis());
    let ok = (200..300).contains(&status);
    let text = if ok {
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        answer["error"]["message"]
            .as_str()
            .unwrap_or("The gateway refused the request.")
            .to_owned()
    };
    Ok(Outcome {
        ok,
        status,
        answer: text,
        route,
        provider,
        upstream_model,
        attempts,
        cache,
        latency,
        logged: logged(state, p, &key.id, &request_id, started_at).await,
        request_id,
    })
}

/// The request's row in the log (written once the log writer has flushed).
async fn logged(
    state: &AppState,
    p: &Principal,
    key_id: &str,
    request_id: &str,
    since: i64,
) -> Option<Logged> {
    state.logs.flush().await;
    let filter = LogFilter {
        key_id: Some(key_id.to_owned()),
        from: Some(since - 1_000),
        ..LogFilter::default()
    };
    let rows = usage::logs_page(&state.db, &p.tenant, &filter, None, 20)
        .await
        .ok()?;
    let row = rows
        .into_iter()
        .find(|r| r.request_id.as_deref() == Some(request_id))?;
    Some(Logged {
        latency: format!("{} ms", row.latency_ms),
        tokens: format!(
            "{} in · {} out",
            super::count(row.prompt_tokens),
            super::count(row.completion_tokens)
        ),
        cost: usd(row.cost_nusd),
    })
}

fn is_htmx_partial(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().contains_key(name);
    header("hx-request") && !header("hx-boosted")
}

/// `POST /app/playground`: sends the chat; htmx gets the result alone, a plain form post the
/// page with the result.
pub async fn send_chat(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Option<Principal>,
    form: web::Form<PlaygroundForm>,
) -> HttpResponse {
    let Some(p) = p else {
        return to_login();
    };
    let form = form.into_inner();
    match send(&req, &state, &p, &form).await {
        Ok(outcome) if is_htmx_partial(&req) => render(StatusCode::OK, &ResultPartial { outcome }),
        Ok(outcome) => show(&req, &state, &p, StatusCode::OK, form, Some(outcome), None).await,
        Err(e) => {
            let (code, message) = failure(&e);
            if is_htmx_partial(&req) {
                let outcome = Outcome {
                    ok: false,
                    status: code.as_u16(),
                    answer: message,
                    route: "—".into(),
                    provider: "—".into(),
                    upstream_model: "—".into(),
                    attempts: "—".into(),
                    cache: "—".into(),
                    latency: "—".into(),
                    logged: None,
                    request_id: String::new(),
                };
                return render(code, &ResultPartial { outcome });
            }
            show(&req, &state, &p, code, form, None, Some(message)).await
        }
    }
}
