//! An Anthropic Messages API server for integration tests, reached over real HTTP exactly like
//! `https://api.anthropic.com` (only the address differs). It speaks the real wire format:
//! `POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version` headers, Message
//! bodies, named server-sent events, and `{"type":"error","error":{…}}` error bodies.
//!
//! Behaviour is scripted by the request (identically for every vendor mock):
//! * plain request: the text `Echo: <last user text>`, streamed in deltas of at most 8 characters;
//! * tools given and the last message from the user: a call of the first tool with
//!   `{"city":"Paris","days":3}`, plus `{"city":"Tokyo","days":1}` when the text says `parallel`;
//!   streamed arguments come in at least 3 fragments;
//! * last message a tool result: `Tool said: <result>` (several joined with ` | `);
//! * thinking requested: a `Let me think.` thinking block signed `sig-mock-1`;
//! * usage: 11 input tokens, 7 output tokens;
//! * `[mock:status=NNN]`: HTTP NNN with Anthropic's error body (429 adds `retry-after: 1`);
//!   `[mock:midstream-error]`: a streamed `overloaded_error` event after two deltas;
//!   `[mock:truncate]`: a stream that ends after two deltas without `message_stop`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::common::mock_provider::{Received, serve_mock};

const PARIS: &str = r#"{"city":"Paris","days":3}"#;
const TOKYO: &str = r#"{"city":"Tokyo","days":1}"#;
const INPUT_TOKENS: u64 = 11;
const OUTPUT_TOKENS: u64 = 7;

struct Shared {
    received: Mutex<Vec<Received>>,
    counter: AtomicU64,
}

/// A running Anthropic mock; stopped when dropped.
pub struct AnthropicMock {
    /// What Anthropic's SDKs call the base URL: `http://127.0.0.1:PORT` (no `/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl AnthropicMock {
    /// Starts the server on a random loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
        });
        let data = web::Data::new(shared.clone());
        let (port, handle) = serve_mock(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(data.clone())
                .route("/v1/messages", web::post().to(messages));
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        }
    }

    /// Every request received so far; `authorization` holds the `x-api-key` value.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }
}

impl Drop for AnthropicMock {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn messages(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    shared
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            path: req.path().to_owned(),
            authorization: header("x-api-key"),
            body: json.clone().unwrap_or(Value::Null),
        });
    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    if header("x-api-key").is_none_or(|k| k.is_empty()) {
        return error(
            401,
            "authentication_error",
            "x-api-key header is required",
            n,
        );
    }
    if header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
            n,
        );
    }
    let Some(body) = json else {
        return error(
            400,
            "invalid_request_error",
            "There was an issue with the format of your request body",
            n,
        );
    };
    for field in ["model", "max_tokens", "messages"] {
        if body.get(field).is_none() {
            return error(
                400,
                "invalid_request_error",
                &format!("{field}: Field required"),
                n,
            );
        }
    }
    let script = Script::read(&body, n);
    if let Some(status) = script.status {
        return status_error(status, n);
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        stream(&script)
    } else {
        HttpResponse::Ok()
            .insert_header(("request-id", format!("req_mock{n:06}")))
            .json(script.message())
    }
}

/// What the request asks the mock to do.
struct Script {
    id: String,
    model: String,
    thinking: bool,
    answer: Answer,
    status: Option<u16>,
    midstream_error: bool,
    truncate: bool,
}

enum Answer {
    Text(String),
    /// `(id, name, arguments)` per call.
    Tools(Vec<(String, String, &'static str)>),
}

impl Script {
    fn read(body: &Value, n: u64) -> Self {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let last = messages.last().cloned().unwrap_or(Value::Null);
        let last_user_text = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(|m| texts(&m["content"]).join(""))
            .unwrap_or_default();
        let results = tool_results(&last["content"]);
        let first_tool = body["tools"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t["name"].as_str())
            .map(str::to_owned);
        let answer = match first_tool {
            _ if !results.is_empty() => Answer::Text(format!("Tool said: {}", results.join(" | "))),
            Some(name) if last["role"] == "user" => {
                let mut calls = vec![(format!("toolu_01MockA{n:014}"), name.clone(), PARIS)];
                if last_user_text.contains("parallel") {
                    calls.push((format!("toolu_01MockB{n:014}"), name, TOKYO));
                }
                Answer::Tools(calls)
            }
            _ => Answer::Text(format!("Echo: {last_user_text}")),
        };
        let thinking = matches!(
            body["thinking"]["type"].as_str(),
            Some("enabled" | "adaptive")
        );
        Self {
            id: format!("msg_01Mock{n:016}"),
            model: body["model"].as_str().unwrap_or("claude-mock").to_owned(),
            thinking,
            answer,
            status: trigger_status(&last_user_text),
            midstream_error: last_user_text.contains("[mock:midstream-error]"),
            truncate: last_user_text.contains("[mock:truncate]"),
        }
    }

    fn stop_reason(&self) -> &'static str {
        match self.answer {
            Answer::Text(_) => "end_turn",
            Answer::Tools(_) => "tool_use",
        }
    }

    /// The complete Message.
    fn message(&self) -> Value {
        let mut content = Vec::new();
        if self.thinking {
            content.push(
                json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig-mock-1"}),
            );
        }
        match &self.answer {
            Answer::Text(text) => content.push(json!({"type": "text", "text": text})),
            Answer::Tools(calls) => {
                for (id, name, args) in calls {
                    let input: Value = serde_json::from_str(args).expect("arguments");
                    content
                        .push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
                }
            }
        }
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason(),
            "stop_sequence": null,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": OUTPUT_TOKENS,
                "service_tier": "standard"
            }
        })
    }
}

/// The texts of a content value (a string or blocks).
fn texts(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of every `tool_result` block of a content value.
fn tool_results(content: &Value) -> Vec<String> {
    content
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b["type"] == "tool_result")
                .map(|b| texts(&b["content"]).join(""))
                .collect()
        })
        .unwrap_or_default()
}

fn trigger_status(text: &str) -> Option<u16> {
    let rest = &text[text.find("[mock:status=")? + "[mock:status=".len()..];
    rest[..rest.find(']')?].parse().ok()
}

/// Anthropic's error type and message for a status.
fn status_error(status: u16, n: u64) -> HttpResponse {
    let (kind, message) = match status {
        400 => (
            "invalid_request_error",
            "messages: text content blocks must be non-empty",
        ),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => (
            "billing_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit.",
        ),
        504 => ("timeout_error", "Request timed out"),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Invalid request"),
    };
    error(status, kind, message, n)
}

fn error(status: u16, kind: &str, message: &str, n: u64) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(code);
    builder.insert_header(("request-id", format!("req_mock{n:06}")));
    if status == 429 {
        builder.insert_header(("retry-after", "1"));
    }
    builder.json(json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": format!("req_mock{n:06}"),
    }))
}

/// One server-sent event, framed as Anthropic frames it.
fn frame(data: Value) -> String {
    let name = data["type"].as_str().unwrap_or("unknown").to_owned();
    format!("event: {name}\ndata: {data}\n\n")
}

/// `s` in pieces of at most `size` characters.
fn pieces(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn delta(index: usize, delta: Value) -> String {
    frame(json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

/// The streamed answer (or a broken stream when the script says so).
fn stream(script: &Script) -> HttpResponse {
    let mut frames = vec![frame(json!({"type": "message_start", "message": {
        "id": script.id, "type": "message", "role": "assistant", "model": script.model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": INPUT_TOKENS, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": 1, "service_tier": "standard"}}}))];
    let mut index = 0;
    if script.thinking {
        block_start(
            &mut frames,
            index,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        );
        frames.push(delta(
            index,
            json!({"type": "thinking_delta", "thinking": "Let me think."}),
        ));
        frames.push(delta(
            index,
            json!({"type": "signature_delta", "signature": "sig-mock-1"}),
        ));
        frames.push(frame(json!({"type": "content_block_stop", "index": index})));
        index += 1;
    }
    match &script.answer {
        Answer::Text(text) => {
            block_start(&mut frames, index, json!({"type": "text", "text": ""}));
            for (k, piece) in pieces(text, 8).into_iter().enumerate() {
                if k == 2 && (script.midstream_error || script.truncate) {
                    return broken(frames, script.midstream_error);
                }
                frames.push(delta(index, json!({"type": "text_delta", "text": piece})));
            }
            frames.push(frame(json!({"type": "content_block_stop", "index": index})));
        }
        Answer::Tools(calls) => {
            for (id, name, args) in calls {
                block_start(
                    &mut frames,
                    index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                );
                frames.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": ""}),
                ));
                let size = args.chars().count().div_ceil(3);
                for piece in pieces(args, size) {
                    frames.push(delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    ));
                }
                frames.push(frame(json!({"type": "content_block_stop", "index": index})));
                index += 1;
            }
        }
    }
    frames.push(frame(json!({"type": "message_delta",
        "delta": {"stop_reason": script.stop_reason(), "stop_sequence": null},
        "usage": {"output_tokens": OUTPUT_TOKENS}})));
    frames.push(frame(json!({"type": "message_stop"})));
    sse(frames)
}

/// `content_block_start`; Anthropic sends its first `ping` right after the first one.
fn block_start(frames: &mut Vec<String>, index: usize, block: Value) {
    frames.push(frame(
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    ));
    if index == 0 {
        frames.push(frame(json!({"type": "ping"})));
    }
}

/// Two deltas in, then Anthropic's mid-stream `error` event, or nothing more at all.
fn broken(mut frames: Vec<String>, with_error: bool) -> HttpResponse {
    if with_error {
        frames.push(frame(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    }
    sse(frames)
}

fn sse(frames: Vec<String>) -> HttpResponse {
    let body = futures_util::stream::iter(
        frames
            .into_iter()
            .map(|f| Ok::<_, actix_web::Error>(web::Bytes::from(f))),
    );
    HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}
