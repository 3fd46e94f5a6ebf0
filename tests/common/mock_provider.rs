//! An OpenAI-format provider server for tests, reached over real HTTP exactly like a provider in
//! production. Its answers are scripted by the request itself (the same script every provider
//! mock follows): `Echo: <last user text>`; with tools, a call to the first tool with
//! `{"city":"Paris","days":3}` (two calls when the text says `parallel`); after tool results,
//! `Tool said: <results>`; `[mock:status=NNN]` answers that error status, `[mock:midstream-error]`
//! and `[mock:truncate]` break a stream. A fixed `content`, a delay or a status can be forced with
//! [`MockBehavior`]. Every request is recorded.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// How the mock answers.
#[derive(Clone, Debug)]
pub struct MockBehavior {
    /// Wait before answering.
    pub delay: Duration,
    /// HTTP status to answer with.
    pub status: u16,
    /// A fixed answer text; empty means the script decides.
    pub content: String,
    /// Report no usage at all, like some OpenAI-compatible servers.
    pub omit_usage: bool,
    /// With a non-200 `status`: only the first this-many requests fail (0: all of them).
    pub fail_first: usize,
}

impl Default for MockBehavior {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            status: 200,
            content: String::new(),
            omit_usage: false,
            fail_first: 0,
        }
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

struct Shared {
    behavior: Mutex<MockBehavior>,
    received: Mutex<Vec<Received>>,
    /// When the client of a `[mock:slow-stream]` went away.
    cancelled_at: Mutex<Option<std::time::Instant>>,
}

/// Records when the slow stream's body is dropped (the client disconnected).
struct CancelGuard(Arc<Shared>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        *self.0.cancelled_at.lock().expect("cancel lock") = Some(std::time::Instant::now());
    }
}

/// An endless stream: a chunk every 50 ms until the client goes away; with `stall`, two chunks
/// and then silence (the connection stays open).
fn slow_stream(shared: Arc<Shared>, model: String, stall: bool) -> HttpResponse {
    let guard = CancelGuard(shared);
    let chunks = futures_util::stream::unfold((guard, 0u64), move |(guard, i)| {
        let model = model.clone();
        async move {
            if stall && i >= 2 {
                futures_util::future::pending::<()>().await;
            }
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let data = chunk(&model, json!({ "content": format!("{i} ") }), None);
            Some((
                Ok::<_, actix_web::Error>(bytes::Bytes::from(data)),
                (guard, i + 1),
            ))
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(chunks)
}

/// A running mock provider; stopped when dropped.
pub struct MockProvider {
    /// What the provider's SDK calls its base URL: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// Azure OpenAI's base URL (`http://127.0.0.1:PORT`, deployments under `/openai`).
    pub azure_base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

/// The text of the last user message.
pub fn last_user_text(body: &Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// The status asked for with `[mock:status=NNN]`, if any.
pub fn status_trigger(text: &str) -> Option<u16> {
    let rest = text.split("[mock:status=").nth(1)?;
    rest.split(']').next()?.parse().ok()
}

/// The scripted answer shared by every mock: text, tool calls, or a tool-result echo.
pub enum Script {
    Text(String),
    ToolCalls(Vec<(String, String)>),
}

/// Decides the answer from an OpenAI-format request body.
fn script(body: &Value) -> Script {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    if last["role"] == "tool" {
        let results: Vec<String> = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| match &m["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Script::Text(format!("Tool said: {}", results.join(" | ")));
    }
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let text = last_user_text(body);
    if let Some(first) = tools.first() {
        let name = first["function"]["name"]
            .as_str()
            .unwrap_or("tool")
            .to_owned();
        let mut calls = vec![(name.clone(), r#"{"city":"Paris","days":3}"#.to_owned())];
        if text.contains("parallel") {
            calls.push((name, r#"{"city":"Tokyo","days":1}"#.to_owned()));
        }
        return Script::ToolCalls(calls);
    }
    Script::Text(format!("Echo: {text}"))
}

fn openai_error(status: u16) -> HttpResponse {
    let (kind, code, message) = match status {
        400 => ("invalid_request_error", Value::Null, "mock: bad request"),
        401 => (
            "invalid_request_error",
            json!("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        404 => (
            "invalid_request_error",
            json!("model_not_found"),
            "The model does not exist.",
        ),
        429 => (
            "requests",
            json!("rate_limit_exceeded"),
            "Rate limit reached for requests.",
        ),
        _ => (
            "server_error",
            Value::Null,
            "The server had an error while processing your request.",
        ),
    };
    let status_code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status_code);
    if status == 429 {
        res.insert_header(("retry-after", "1"));
    }
    res.json(json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }))
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-mock0001", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": model, "system_fingerprint": "fp_mock",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
    });
    format!("data: {chunk}\n\n")
}

fn split(text: &str, size: usize) -> Vec<String> {
    text.chars()
        .collect::<Vec<_>>()
        .chunks(size)
        .map(|c| c.iter().collect())
        .collect()
}

fn stream_body(model: &str, script: &Script, text: &str, include_usage: bool) -> String {
    let mut out = chunk(
        model,
        json!({ "role": "assistant", "content": "", "refusal": null }),
        None,
    );
    let finish = match script {
        Script::Text(answer) => {
            for piece in split(answer, 8) {
                out.push_str(&chunk(model, json!({ "content": piece }), None));
            }
            "stop"
        }
        Script::ToolCalls(calls) => {
            for (i, (name, args)) in calls.iter().enumerate() {
                out.push_str(&chunk(
                    model,
                    json!({ "tool_calls": [{
                    "index": i, "id": format!("call_mock{i}"), "type": "function",
                    "function": { "name": name, "arguments": "" } }] }),
                    None,
                ));
                for piece in split(args, 7) {
                    out.push_str(&chunk(
                        model,
                        json!({ "tool_calls": [{
                        "index": i, "function": { "arguments": piece } }] }),
                        None,
                    ));
                }
            }
            "tool_calls"
        }
    };
    if text.contains("[mock:midstream-error]") {
        out.push_str("data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
        return out;
    }
    if text.contains("[mock:truncate]") {
        return out;
    }
    out.push_str(&chunk(model, json!({}), Some(finish)));
    if include_usage {
        let usage = json!({
            "id": "chatcmpl-mock0001", "object": "chat.completion.chunk", "created": 1_764_000_000,
            "model": model, "choices": [],
            "usage": { "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18 }
        });
        out.push_str(&format!("data: {usage}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn record(shared: &Shared, req: &HttpRequest, body: &Value) -> MockBehavior {
    shared
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            path: req.path().to_owned(),
            authorization: credential(req),
            body: body.clone(),
        });
    shared.behavior.lock().expect("behavior lock").clone()
}

/// OpenAI's `authorization` header, or Azure's `api-key` (recorded as `api-key <value>`).
fn credential(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("authorization")
        .map(str::to_owned)
        .or_else(|| header("api-key").map(|k| format!("api-key {k}")))
}

/// Azure OpenAI's deployment route: the same answers, plus Azure's `api-version` requirement.
async fn azure_chat_completions(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    if !req.query_string().contains("api-version=") {
        return HttpResponse::NotFound().json(json!({
            "error": { "code": "404", "message": "Resource not found" }
        }));
    }
    chat_completions(req, body, shared).await
}

async fn chat_completions(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let behavior = record(&shared, &req, &body.0);
    tokio::time::sleep(behavior.delay).await;
    if credential(&req).is_none() {
        return openai_error(401);
    }
    let served_before = shared.received.lock().expect("received lock").len() - 1;
    if behavior.status != 200 && (behavior.fail_first == 0 || served_before < behavior.fail_first) {
        return openai_error(behavior.status);
    }
    let text = last_user_text(&body);
    if let Some(status) = status_trigger(&text) {
        return openai_error(status);
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_owned();
    let script = if behavior.content.is_empty() {
        script(&body)
    } else {
        Script::Text(behavior.content.clone())
    };
    if body["stream"] == true && text.contains("[mock:slow-stream]") {
        return slow_stream(shared.get_ref().clone(), model, false);
    }
    if body["stream"] == true && text.contains("[mock:stall]") {
        return slow_stream(shared.get_ref().clone(), model, true);
    }
    if body["stream"] == true {
        let include_usage = body["stream_options"]["include_usage"] == true && !behavior.omit_usage;
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .body(stream_body(&model, &script, &text, include_usage));
    }
    let (message, finish) = match &script {
        Script::Text(answer) => (
            json!({ "role": "assistant", "content": answer, "refusal": null, "annotations": [] }),
            "stop",
        ),
        Script::ToolCalls(calls) => (
            json!({ "role": "assistant", "content": null, "refusal": null, "annotations": [],
                "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                    "id": format!("call_mock{i}"), "type": "function",
                    "function": { "name": name, "arguments": args } })).collect::<Vec<_>>() }),
            "tool_calls",
        ),
    };
    let mut answer = json!({
        "id": "chatcmpl-mock0001",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
        "usage": {
            "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 }
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    });
    if behavior.omit_usage {
        answer.as_object_mut().map(|o| o.remove("usage"));
    }
    HttpResponse::Ok().json(answer)
}

/// The deterministic test vector for a text: dimension 8.
pub fn mock_vector(text: &str) -> Vec<f32> {
    let sum: u64 = text.bytes().map(u64::from).sum();
    (0..8u64)
        .map(|i| ((sum * (i + 1)) % 97) as f32 / 97.0)
        .collect()
}

async fn embeddings(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    record(&shared, &req, &body.0);
    if credential(&req).is_none() {
        return openai_error(401);
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": mock_vector(t) }))
        .collect();
    HttpResponse::Ok().json(json!({
        "object": "list", "data": data, "model": body["model"],
        "usage": { "prompt_tokens": 5, "total_tokens": 5 }
    }))
}

/// Serves a mock's routes on a random loopback port (one worker, no signal handling); returns the
/// port and the handle that stops it. `configure` adds the mock's shared data and routes.
pub fn serve_mock(
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> (u16, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock");
    let port = listener.local_addr().expect("mock addr").port();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .h1_allow_half_closed(false)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen mock")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

/// `GET /v1/models` as OpenAI answers it; the key `sk-wrong` gets OpenAI's 401.
async fn list_models(req: HttpRequest) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth.is_empty() || auth == "Bearer sk-wrong" {
        return HttpResponse::Unauthorized().json(json!({
            "error": {
                "message": "Incorrect API key provided: sk-wrong. upstream-body-marker",
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        }));
    }
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": [
            { "id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system" },
            { "id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system" }
        ]
    }))
}

impl MockProvider {
    /// Starts the server on a random loopback port.
    pub async fn start(behavior: MockBehavior) -> MockProvider {
        let shared = Arc::new(Shared {
            behavior: Mutex::new(behavior),
            received: Mutex::new(Vec::new()),
            cancelled_at: Mutex::new(None),
        });
        let data = web::Data::new(shared.clone());
        let (port, handle) = serve_mock(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat_completions))
                .route("/v1/embeddings", web::post().to(embeddings))
                .route("/v1/models", web::get().to(list_models))
                .route(
                    "/openai/deployments/{deployment}/chat/completions",
                    web::post().to(azure_chat_completions),
                )
                .route(
                    "/openai/deployments/{deployment}/embeddings",
                    web::post().to(embeddings),
                );
        });
        MockProvider {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            azure_base_url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        }
    }

    /// Changes how later requests are answered.
    pub fn set_behavior(&self, behavior: MockBehavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// When the client of a `[mock:slow-stream]` request went away, if it did.
    pub fn cancelled_at(&self) -> Option<std::time::Instant> {
        *self.shared.cancelled_at.lock().expect("cancel lock")
    }

    /// Waits until at least `n` requests have arrived (at most `timeout`).
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.received().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
