//! A Gemini API server for tests, speaking the real `v1beta` wire format on a random loopback
//! port: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (SSE with
//! `alt=sse`, a JSON array without it), `:batchEmbedContents` and `:embedContent`, key in
//! `x-goog-api-key`. It records every request (the key is recorded as `authorization`).
//!
//! Scripted by the request content:
//! * no/empty key: 403 `PERMISSION_DENIED` ("Method doesn't allow unregistered callers", what
//!   Gemini really answers); a key starting with `invalid`: 400 `API_KEY_INVALID`.
//! * `[mock:status=NNN]` in the last user text: HTTP NNN with Gemini's error body (429 adds
//!   `retry-after: 1` and a `RetryInfo` of `1s`).
//! * tools declared and the last turn is user text: a call of the first tool with
//!   `{"city":"Paris","days":3}`; with `parallel` in the text, a second call with
//!   `{"city":"Tokyo","days":1}`. Ids are 8 lowercase alphanumerics. Gemini streams each
//!   call's arguments whole, in one chunk.
//! * the last turn holds `functionResponse`s: `Tool said: <results joined by " | ">`.
//! * otherwise `Echo: <last user text>`, streamed in pieces of at most 8 characters.
//! * `thinkingConfig.includeThoughts`: a thought part `Let me think.` first; the signature
//!   `sig-mock-1` rides on that thought part (text answers) or on the first function call.
//! * usage: `promptTokenCount` 11, `candidatesTokenCount` 7 (with thinking: 4 candidates +
//!   3 `thoughtsTokenCount`, still 7 completion tokens).
//! * streams: `[mock:midstream-error]` sends two chunks then `data: {"error": …}` (500
//!   `INTERNAL`); `[mock:truncate]` sends two chunks then ends without a `finishReason`.
//! * embeddings: 8 dimensions, component i = ((byte sum of text) * (i+1) % 97) / 97.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::common::mock_provider::{Received, serve_mock};

const PROMPT_TOKENS: u64 = 11;
const OUTPUT_TOKENS: u64 = 7;
const SIGNATURE: &str = "sig-mock-1";

struct Shared {
    received: Mutex<Vec<Received>>,
    counter: AtomicU64,
}

impl Shared {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running Gemini mock; stopped when dropped.
pub struct GeminiMock {
    /// What the Gemini SDKs call the base URL: `http://127.0.0.1:PORT` (no `/v1beta`).
    pub base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl GeminiMock {
    /// Starts the server on a random loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
        });
        let data = web::Data::new(shared.clone());
        let (port, handle) = serve_mock(move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/v1beta/models/{call}", web::post().to(dispatch));
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            shared,
            handle,
        }
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }
}

impl Drop for GeminiMock {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn dispatch(
    req: HttpRequest,
    call: web::Path<String>,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let key = req
        .headers()
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    shared
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            path: req.path().to_owned(),
            authorization: key.clone(),
            body: parsed.clone().unwrap_or(Value::Null),
        });
    match key.as_deref() {
        None | Some("") => return error(403, "PERMISSION_DENIED"),
        Some(k) if k.starts_with("invalid") => return error(400, "API_KEY_INVALID"),
        Some(_) => {}
    }
    let Some(body) = parsed else {
        return error(400, "INVALID_JSON");
    };
    let (model, method) = call.rsplit_once(':').unwrap_or((call.as_str(), ""));
    let sse = req.query_string().split('&').any(|p| p == "alt=sse");
    match method {
        "generateContent" => generate(&shared, model, &body, Mode::Json),
        "streamGenerateContent" if sse => generate(&shared, model, &body, Mode::Sse),
        "streamGenerateContent" => generate(&shared, model, &body, Mode::JsonArray),
        "batchEmbedContents" => batch_embed(&body),
        "embedContent" => json_ok(json!({ "embedding": embedding(&body["content"]) })),
        _ => error(404, "METHOD_NOT_FOUND"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Json,
    Sse,
    JsonArray,
}

/// What the last turn asks for.
enum Script {
    Text(String),
    Calls(String, Vec<Value>),
}

fn generate(shared: &Shared, model: &str, body: &Value, mode: Mode) -> HttpResponse {
    let last = last_turn(body);
    let user_text = last.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    if let Some(status) = trigger_status(&user_text) {
        return error(status, "");
    }
    let thinking = body["generationConfig"]["thinkingConfig"]["includeThoughts"] == json!(true);
    let script = match &last {
        Some(turn) if !turn.results.is_empty() => {
            Script::Text(format!("Tool said: {}", turn.results.join(" | ")))
        }
        _ => match first_tool(body) {
            Some(name) => Script::Calls(name, call_args(&user_text)),
            None => Script::Text(format!("Echo: {user_text}")),
        },
    };
    let id = format!("mockResp{:06}", shared.next());
    let chunks = chunks(shared, &script, thinking, &id, model);
    match mode {
        Mode::Json => json_ok(merge_chunks(&chunks)),
        Mode::JsonArray => json_ok(Value::Array(stream_cut(chunks, &user_text))),
        Mode::Sse => sse(stream_cut(chunks, &user_text)),
    }
}

/// The last `user` turn: its text, or the results it carries.
struct Turn {
    text: String,
    results: Vec<String>,
}

fn last_turn(body: &Value) -> Option<Turn> {
    let contents = body["contents"].as_array()?;
    let last = contents
        .iter()
        .rev()
        .find(|c| c["role"].as_str().unwrap_or("user") == "user")?;
    let parts = last["parts"].as_array()?;
    let ends_with_result = parts
        .last()
        .is_some_and(|p| p.get("functionResponse").is_some());
    let results = if ends_with_result {
        parts
            .iter()
            .filter_map(|p| p.get("functionResponse"))
            .map(|r| result_text(&r["response"]))
            .collect()
    } else {
        Vec::new()
    };
    let text = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    Some(Turn { text, results })
}

/// The text of a `functionResponse.response` (`output`, `result`, `error`, else the JSON).
fn result_text(response: &Value) -> String {
    for key in ["output", "result", "error"] {
        match response.get(key) {
            Some(Value::String(s)) => return s.clone(),
            Some(other) => return other.to_string(),
            None => {}
        }
    }
    response.to_string()
}

fn first_tool(body: &Value) -> Option<String> {
    body["tools"]
        .as_array()?
        .iter()
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .find_map(|d| d["name"].as_str())
        .map(str::to_owned)
}

fn call_args(text: &str) -> Vec<Value> {
    let mut args = vec![json!({"city": "Paris", "days": 3})];
    if text.contains("parallel") {
        args.push(json!({"city": "Tokyo", "days": 1}));
    }
    args
}

fn trigger_status(text: &str) -> Option<u16> {
    let rest = text.split("[mock:status=").nth(1)?;
    rest.split(']').next()?.parse().ok()
}

/// The answer as stream chunks; the last one carries `finishReason` and the final usage.
fn chunks(shared: &Shared, script: &Script, thinking: bool, id: &str, model: &str) -> Vec<Value> {
    let mut parts_per_chunk: Vec<Vec<Value>> = Vec::new();
    let text_signature = thinking && matches!(script, Script::Text(_));
    if thinking {
        let mut thought = json!({"text": "Let me think.", "thought": true});
        if text_signature {
            thought["thoughtSignature"] = json!(SIGNATURE);
        }
        parts_per_chunk.push(vec![thought]);
    }
    match script {
        Script::Text(text) => {
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(8) {
                parts_per_chunk.push(vec![json!({"text": piece.iter().collect::<String>()})]);
            }
        }
        Script::Calls(name, args) => {
            let calls = args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let mut part = json!({"functionCall": {"id": call_id(shared.next()), "name": name, "args": a}});
                    if thinking && i == 0 {
                        part["thoughtSignature"] = json!(SIGNATURE);
                    }
                    part
                })
                .collect();
            parts_per_chunk.push(calls);
        }
    }
    let count = parts_per_chunk.len();
    parts_per_chunk
        .into_iter()
        .enumerate()
        .map(|(i, parts)| chunk(parts, i + 1 == count, thinking, id, model))
        .collect()
}

fn chunk(parts: Vec<Value>, last: bool, thinking: bool, id: &str, model: &str) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let usage = if last {
        candidate["finishReason"] = json!("STOP");
        final_usage(thinking)
    } else {
        json!({"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS})
    };
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": id})
}

fn final_usage(thinking: bool) -> Value {
    let details = json!([{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]);
    if thinking {
        json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS - 3,
               "totalTokenCount": PROMPT_TOKENS + OUTPUT_TOKENS, "promptTokensDetails": details,
               "thoughtsTokenCount": 3})
    } else {
        json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
               "totalTokenCount": PROMPT_TOKENS + OUTPUT_TOKENS, "promptTokensDetails": details})
    }
}

/// A `generateContent` answer: every chunk's parts in one candidate (adjacent plain text
/// merged), with the last chunk's finish reason and usage.
fn merge_chunks(chunks: &[Value]) -> Value {
    let mut parts: Vec<Value> = Vec::new();
    for part in chunks.iter().flat_map(|c| {
        c["candidates"][0]["content"]["parts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }) {
        let plain = |p: &Value| p.get("text").is_some() && p.get("thought").is_none();
        match parts.last_mut() {
            Some(prev) if plain(prev) && plain(&part) && prev.get("thoughtSignature").is_none() => {
                let joined = format!(
                    "{}{}",
                    prev["text"].as_str().unwrap_or(""),
                    part["text"].as_str().unwrap_or("")
                );
                prev["text"] = json!(joined);
            }
            _ => parts.push(part),
        }
    }
    let mut answer = chunks.last().cloned().unwrap_or(Value::Null);
    answer["candidates"][0]["content"]["parts"] = Value::Array(parts);
    answer
}

/// Applies the stream triggers: two chunks then an error event, or two chunks then the end.
fn stream_cut(mut chunks: Vec<Value>, text: &str) -> Vec<Value> {
    if text.contains("[mock:midstream-error]") {
        chunks.truncate(2);
        strip_finish(&mut chunks);
        chunks.push(error_body(500, ""));
    } else if text.contains("[mock:truncate]") {
        chunks.truncate(2);
        strip_finish(&mut chunks);
    }
    chunks
}

fn strip_finish(chunks: &mut [Value]) {
    for c in chunks {
        if let Some(candidate) = c["candidates"][0].as_object_mut() {
            candidate.remove("finishReason");
        }
        c["usageMetadata"] =
            json!({"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS});
    }
}

/// `data: <json>` events with CRLF framing, sent as a chunked body.
fn sse(chunks: Vec<Value>) -> HttpResponse {
    let frames: Vec<String> = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    let stream = futures_util::stream::unfold(frames.into_iter(), |mut frames| async move {
        let frame = frames.next()?;
        tokio::time::sleep(Duration::from_millis(2)).await;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(frame)), frames))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}

/// Ids in Gemini's style for function calls: 8 lowercase alphanumerics.
fn call_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    (0..8)
        .map(|_| {
            let c = ALPHABET[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

fn batch_embed(body: &Value) -> HttpResponse {
    let embeddings: Vec<Value> = body["requests"]
        .as_array()
        .map(|r| r.iter().map(|req| embedding(&req["content"])).collect())
        .unwrap_or_default();
    json_ok(json!({ "embeddings": embeddings }))
}

fn embedding(content: &Value) -> Value {
    let text: String = content["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default();
    let sum: u64 = text.bytes().map(u64::from).sum();
    let values: Vec<f32> = (0..8u64)
        .map(|i| ((sum * (i + 1)) % 97) as f32 / 97.0)
        .collect();
    json!({ "values": values })
}

fn json_ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=UTF-8")
        .body(body.to_string())
}

/// An error answer with Gemini's body for `status` (`reason` selects special bodies).
fn error(status: u16, reason: &str) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(code);
    response.content_type("application/json; charset=UTF-8");
    if status == 429 {
        response.insert_header(("retry-after", "1"));
    }
    response.body(error_body(status, reason).to_string())
}

fn error_body(status: u16, reason: &str) -> Value {
    let (name, message) = match (status, reason) {
        (403, "PERMISSION_DENIED") => (
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        ),
        (400, "API_KEY_INVALID") => (
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        ),
        (400, "INVALID_JSON") => (
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. Unexpected token.",
        ),
        (404, "METHOD_NOT_FOUND") => ("NOT_FOUND", "Method not found."),
        (400, _) => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        (401, _) => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        ),
        (403, _) => ("PERMISSION_DENIED", "The caller does not have permission"),
        (404, _) => (
            "NOT_FOUND",
            "models/mock-model is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
        ),
        (429, _) => (
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        ),
        (500, _) => (
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
        (503, _) => (
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        (504, _) => (
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
        _ => ("UNKNOWN", "Unknown error."),
    };
    let mut error = json!({"code": status, "message": message, "status": name});
    if reason == "API_KEY_INVALID" {
        error["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]);
    } else if status == 429 {
        error["details"] =
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]);
    }
    json!({ "error": error })
}
