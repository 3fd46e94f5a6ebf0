//! A Cohere v2 server for tests, speaking Cohere's real wire format on a random loopback port:
//! `POST {base_url}/v2/chat` (JSON, or server-sent events with `"stream": true`) and
//! `POST {base_url}/v2/embed`, with `Authorization: Bearer <key>`. Every request is recorded.
//!
//! Behaviour is scripted by the request, the same for every vendor mock:
//! * plain request: `Echo: <last user text>`, streamed in deltas of at most 8 characters;
//! * tools given and the last message from the user: calls the first tool with
//!   `{"city":"Paris","days":3}` (and `{"city":"Tokyo","days":1}` too when the text says
//!   `parallel`), arguments streamed in at least 3 fragments;
//! * last message a tool result: `Tool said: <results joined with " | ">`;
//! * `thinking` enabled: a thinking block `Let me think.` first (Cohere has no signatures);
//! * usage: 11 input and 7 output tokens;
//! * `[mock:status=NNN]`: HTTP NNN with Cohere's error body (429 adds `retry-after: 1`);
//!   `[mock:midstream-error]`: two deltas, then `message-end` carrying `error`;
//!   `[mock:truncate]`: two deltas, then the body ends without `message-end`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::common::mock_provider::{Received, serve_mock};

const INPUT_TOKENS: u64 = 11;
const OUTPUT_TOKENS: u64 = 7;
const THINKING: &str = "Let me think.";
const EMBED_DIMENSION: usize = 8;

struct Shared {
    received: Mutex<Vec<Received>>,
    calls: AtomicU64,
}

/// A running Cohere mock; stopped when dropped.
pub struct CohereMock {
    /// What Cohere's SDK calls its base URL: `http://127.0.0.1:PORT`.
    pub base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl CohereMock {
    /// Starts the server on a random loopback port.
    pub async fn start() -> CohereMock {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            calls: AtomicU64::new(0),
        });
        let data = web::Data::new(shared.clone());
        let (port, handle) = serve_mock(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(data.clone())
                .route("/v2/chat", web::post().to(chat))
                .route("/v2/embed", web::post().to(embed));
        });
        CohereMock {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        }
    }

    /// Every request received so far (`authorization` holds the `Authorization` header).
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
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

impl Drop for CohereMock {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Records the request and checks the bearer credential; `Err` is the error status and message
/// to answer with.
fn admit(req: &HttpRequest, body: &Bytes, shared: &Shared) -> Result<Value, (u16, &'static str)> {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    shared
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            path: req.path().to_owned(),
            authorization: authorization.clone(),
            body: parsed.clone().unwrap_or(Value::Null),
        });
    match authorization.as_deref() {
        None => return Err((401, "no api key supplied")),
        Some(a)
            if a.strip_prefix("Bearer ")
                .is_none_or(|k| k.trim().is_empty()) =>
        {
            return Err((401, "invalid api token"));
        }
        Some(_) => {}
    }
    parsed.ok_or((400, "invalid json syntax: the body is not valid JSON"))
}

/// Cohere's error body: `{"id": "...", "message": "..."}`.
fn error(status: u16, message: &str) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(code);
    if status == 429 {
        resp.insert_header(("retry-after", "1"));
    }
    resp.json(json!({ "id": uuid::Uuid::now_v7().to_string(), "message": message }))
}

/// The message Cohere sends for a status (from its errors reference).
fn status_message(status: u16, model: &str) -> String {
    match status {
        400 => "invalid request: message must be at least 1 token long or tool results must be specified.".into(),
        401 => "invalid api token".into(),
        402 => "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue".into(),
        404 => format!("model '{model}' not found, make sure the correct model ID was used and that you have access to the model."),
        429 => "You are past the per minute request limit, please wait and try again later.".into(),
        499 => "request cancelled".into(),
        500 => "internal server error".into(),
        503 => "service unavailable, please try again later".into(),
        504 => "request timed out, please try again later".into(),
        _ => format!("mock error {status}"),
    }
}

/// The status a `[mock:status=NNN]` trigger asks for.
fn status_trigger(text: &str) -> Option<u16> {
    let rest = text.split("[mock:status=").nth(1)?;
    rest.split(']').next()?.trim().parse().ok()
}

/// The text of a message's `content` (a string, or text/document items).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item["type"].as_str() {
                Some("text") => item["text"].as_str().map(str::to_owned),
                Some("document") => Some(match &item["document"]["data"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                _ => None,
            })
            .collect(),
        _ => String::new(),
    }
}

/// What the assistant answers.
enum Reply {
    Text(String),
    Calls(Vec<(String, String, String)>),
}

fn reply(body: &Value, messages: &[Value], last_user: &str, shared: &Shared) -> Reply {
    let last_role = messages
        .last()
        .and_then(|m| m["role"].as_str())
        .unwrap_or("");
    if last_role == "tool" {
        let results: Vec<String> = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| content_text(&m["content"]))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Reply::Text(format!("Tool said: {}", results.join(" | ")));
    }
    let tool = body["tools"][0]["function"]["name"].as_str();
    if let (Some(name), "user") = (tool, last_role) {
        let mut args = vec![r#"{"city":"Paris","days":3}"#];
        if last_user.contains("parallel") {
            args.push(r#"{"city":"Tokyo","days":1}"#);
        }
        let calls = args
            .into_iter()
            .map(|a| {
                let n = shared.calls.fetch_add(1, Ordering::Relaxed);
                (format!("{name}_mock{n:08x}"), name.to_owned(), a.to_owned())
            })
            .collect();
        return Reply::Calls(calls);
    }
    Reply::Text(format!("Echo: {last_user}"))
}

fn usage() -> Value {
    json!({
        "billed_units": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
        "tokens": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}
    })
}

async fn chat(req: HttpRequest, body: Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let body = match admit(&req, &body, &shared) {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let Some(model) = body["model"].as_str() else {
        return error(400, "a model parameter is required for this endpoint.");
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        return error(400, "invalid request: messages must not be empty");
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default();
    if let Some(status) = status_trigger(&last_user) {
        return error(status, &status_message(status, model));
    }
    let thinking = body["thinking"]["type"] == "enabled";
    let reply = reply(&body, &messages, &last_user, &shared);
    if body["stream"] == true {
        let events = if last_user.contains("[mock:midstream-error]") {
            broken_stream(&reply, true)
        } else if last_user.contains("[mock:truncate]") {
            broken_stream(&reply, false)
        } else {
            stream_events(&reply, thinking)
        };
        return sse(events);
    }
    HttpResponse::Ok().json(chat_json(&reply, thinking))
}

/// A non-streamed answer.
fn chat_json(reply: &Reply, thinking: bool) -> Value {
    let mut content = Vec::new();
    if thinking {
        content.push(json!({"type": "thinking", "thinking": THINKING}));
    }
    let (message, finish) = match reply {
        Reply::Text(text) => {
            content.push(json!({"type": "text", "text": text}));
            (json!({"role": "assistant", "content": content}), "COMPLETE")
        }
        Reply::Calls(calls) => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|(id, name, args)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
                })
                .collect();
            let mut message = json!({"role": "assistant", "tool_calls": tool_calls});
            if !content.is_empty() {
                message["content"] = json!(content);
            }
            (message, "TOOL_CALL")
        }
    };
    json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "message": message,
        "finish_reason": finish,
        "usage": usage(),
    })
}

/// Splits into pieces of at most 8 characters.
fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}

fn message_start() -> Value {
    json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "type": "message-start",
        "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                              "tool_calls": [], "citations": []}}
    })
}

/// `content-start`, deltas, `content-end` for one block (`text` or `thinking`).
fn content_block(index: usize, kind: &str, text: &str) -> Vec<Value> {
    let mut events = vec![json!({"type": "content-start", "index": index,
        "delta": {"message": {"content": {"type": kind, kind: ""}}}})];
    for piece in chunks(text) {
        events.push(json!({"type": "content-delta", "index": index,
            "delta": {"message": {"content": {kind: piece}}}}));
    }
    events.push(json!({"type": "content-end", "index": index}));
    events
}

fn tool_call_events(index: usize, id: &str, name: &str, args: &str) -> Vec<Value> {
    let mut events = vec![json!({"type": "tool-call-start", "index": index,
        "delta": {"message": {"tool_calls": {"id": id, "type": "function",
                                             "function": {"name": name, "arguments": ""}}}}})];
    for piece in chunks(args) {
        events.push(json!({"type": "tool-call-delta", "index": index,
            "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}}));
    }
    events.push(json!({"type": "tool-call-end", "index": index}));
    events
}

fn stream_events(reply: &Reply, thinking: bool) -> Vec<Value> {
    let mut events = vec![message_start()];
    let mut index = 0;
    if thinking {
        events.extend(content_block(index, "thinking", THINKING));
        index += 1;
    }
    let finish = match reply {
        Reply::Text(text) => {
            events.extend(content_block(index, "text", text));
            "COMPLETE"
        }
        Reply::Calls(calls) => {
            for (i, (id, name, args)) in calls.iter().enumerate() {
                events.extend(tool_call_events(i, id, name, args));
            }
            "TOOL_CALL"
        }
    };
    events.push(json!({"type": "message-end",
        "delta": {"finish_reason": finish, "usage": usage()}}));
    events
}

/// Two deltas, then an error `message-end` (`error`) or nothing at all (`truncate`).
fn broken_stream(reply: &Reply, with_error: bool) -> Vec<Value> {
    let text = match reply {
        Reply::Text(t) => t.clone(),
        Reply::Calls(_) => "Echo: partial answer".to_owned(),
    };
    let mut events = vec![message_start()];
    events.push(json!({"type": "content-start", "index": 0,
        "delta": {"message": {"content": {"type": "text", "text": ""}}}}));
    for piece in chunks(&text).into_iter().take(2) {
        events.push(json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": piece}}}}));
    }
    if with_error {
        events.push(json!({"type": "message-end", "delta": {
            "error": "internal server error", "finish_reason": "ERROR", "usage": usage()}}));
    }
    events
}

/// Frames events as Cohere does: `event: <type>` and `data: <json>`, one chunk each.
fn sse(events: Vec<Value>) -> HttpResponse {
    let frames: Vec<Result<Bytes, actix_web::Error>> = events
        .into_iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or("").to_owned();
            Ok(Bytes::from(format!("event: {kind}\ndata: {e}\n\n")))
        })
        .collect();
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(futures_util::stream::iter(frames))
}

/// Deterministic vector: component i = (byte sum × (i+1) mod 97) / 97.
fn embedding(text: &str) -> Vec<f32> {
    let sum: u64 = text.bytes().map(u64::from).sum();
    (0..EMBED_DIMENSION as u64)
        .map(|i| (sum * (i + 1) % 97) as f32 / 97.0)
        .collect()
}

async fn embed(req: HttpRequest, body: Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let body = match admit(&req, &body, &shared) {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let Some(model) = body["model"].as_str() else {
        return error(400, "a model parameter is required for this endpoint.");
    };
    let texts: Vec<String> = body["texts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if texts.is_empty() {
        return error(400, "invalid request: texts must not be empty");
    }
    if let Some(status) = texts.iter().find_map(|t| status_trigger(t)) {
        return error(status, &status_message(status, model));
    }
    if body["embedding_types"].as_array().is_none_or(Vec::is_empty) {
        return error(400, "embedding_types parameter is required");
    }
    if !body["input_type"].is_string() {
        return error(
            400,
            "invalid request: valid input_type must be provided with the provided model",
        );
    }
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedding(t)).collect();
    HttpResponse::Ok().json(json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "texts": texts,
        "embeddings": {"float": vectors},
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": INPUT_TOKENS}},
        "response_type": "embeddings_by_type"
    }))
}
