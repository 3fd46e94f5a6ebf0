//! The conformance matrix: every capability, streamed and not, for every provider kind, each
//! cell the result of a real request through the gateway to a wire-faithful mock. The test
//! writes `docs/conformance.md` and then fails if any supported cell failed.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::common::world::{World, world};
use crate::common::{mock_provider::Received, sse_events};

const PROVIDERS: [(&str, &str); 6] = [
    ("via-openai", "OpenAI"),
    ("via-azure", "Azure OpenAI"),
    ("via-compatible", "OpenAI-compatible"),
    ("via-anthropic", "Anthropic"),
    ("via-gemini", "Gemini"),
    ("via-cohere", "Cohere"),
];

const CAPABILITIES: [&str; 12] = [
    "text",
    "system",
    "multi-turn",
    "tools",
    "parallel tools",
    "streamed tool deltas",
    "images",
    "JSON schema",
    "reasoning",
    "usage in stream",
    "embeddings",
    "errors",
];

const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}]"#;
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

enum Cell {
    Pass(&'static str),
    Fail(String),
    NotApplicable(&'static str),
}

/// What the gateway answered, in the caller's (OpenAI) terms.
struct Answer {
    status: u16,
    /// Non-stream: the body. Stream: the chunks (without `[DONE]`).
    body: Value,
    chunks: Vec<Value>,
    done: bool,
}

impl Answer {
    fn text(&self) -> String {
        if self.chunks.is_empty() {
            self.body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            self.chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect()
        }
    }

    fn reasoning(&self) -> String {
        if self.chunks.is_empty() {
            self.body["choices"][0]["message"]["reasoning_content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            self.chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
                .collect()
        }
    }

    /// Tool calls as (name, arguments JSON).
    fn calls(&self) -> Vec<(String, Value)> {
        if self.chunks.is_empty() {
            return self.body["choices"][0]["message"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let args =
                        serde_json::from_str(c["function"]["arguments"].as_str().unwrap_or("null"));
                    (
                        c["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        args.unwrap_or(Value::Null),
                    )
                })
                .collect();
        }
        let mut calls: Vec<(String, String)> = Vec::new();
        for c in self.chunks.iter().flat_map(|c| {
            c["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }) {
            let i = c["index"].as_u64().unwrap_or(0) as usize;
            if calls.len() <= i {
                calls.resize(i + 1, Default::default());
            }
            if let Some(name) = c["function"]["name"].as_str().filter(|n| !n.is_empty()) {
                calls[i].0 = name.to_owned();
            }
            calls[i]
                .1
                .push_str(c["function"]["arguments"].as_str().unwrap_or_default());
        }
        calls
            .into_iter()
            .map(|(n, a)| (n, serde_json::from_str(&a).unwrap_or(Value::Null)))
            .collect()
    }
}

struct Ctx {
    w: World,
}

impl Ctx {
    async fn chat(&self, mut body: Value, stream: bool) -> Answer {
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
        }
        let res = self
            .w
            .gw
            .app
            .post_json("/v1/chat/completions", &self.w.gw.key, &body)
            .await;
        let status = res.status().as_u16();
        if !stream || status != 200 {
            return Answer {
                status,
                body: res.json().await.unwrap_or(Value::Null),
                chunks: Vec::new(),
                done: false,
            };
        }
        let events = sse_events(res).await;
        let done = events.last().is_some_and(|e| e.1 == "[DONE]");
        let chunks = events
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .filter_map(|(_, d)| serde_json::from_str(d).ok())
            .collect();
        Answer {
            status,
            body: Value::Null,
            chunks,
            done,
        }
    }

    fn last_upstream(&self, model: &str) -> Value {
        let received: Vec<Received> = match model {
            "via-anthropic" => self.w.mocks.1.received(),
            "via-gemini" => self.w.mocks.2.received(),
            "via-cohere" => self.w.mocks.3.received(),
            _ => self.w.mocks.0.received(),
        };
        received
            .last()
            .map(|r| r.body.clone())
            .unwrap_or(Value::Null)
    }
}

fn user(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

fn expect(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}

async fn check(ctx: &Ctx, model: &str, capability: &str, stream: bool) -> Cell {
    let result: Result<&'static str, String> = async {
        match capability {
            "text" => {
                let a = ctx.chat(user(model, "hi"), stream).await;
                expect(a.status == 200 && a.text() == "Echo: hi", format!("{} {:?}", a.status, a.text()))?;
                expect(!stream || a.done, "stream did not end with [DONE]")?;
            }
            "system" => {
                let body = json!({ "model": model, "messages": [
                    { "role": "system", "content": "SYSTEM-MARKER" }, { "role": "user", "content": "hi" }] });
                let a = ctx.chat(body, stream).await;
                expect(a.text() == "Echo: hi", format!("{:?}", a.text()))?;
                let up = ctx.last_upstream(model).to_string();
                expect(up.contains("SYSTEM-MARKER"), "system prompt did not reach the provider")?;
            }
            "multi-turn" => {
                let body = json!({ "model": model, "messages": [
                    { "role": "user", "content": "first" }, { "role": "assistant", "content": "EARLIER-ANSWER" },
                    { "role": "user", "content": "second" }] });
                let a = ctx.chat(body, stream).await;
                expect(a.text() == "Echo: second", format!("{:?}", a.text()))?;
                expect(ctx.last_upstream(model).to_string().contains("EARLIER-ANSWER"), "history was lost")?;
            }
            "tools" => {
                let mut body = user(model, "weather?");
                body["tools"] = serde_json::from_str(TOOLS).map_err(|e| e.to_string())?;
                let a = ctx.chat(body, stream).await;
                let calls = a.calls();
                expect(calls == [("get_weather".to_owned(), json!({"city": "Paris", "days": 3}))], format!("{calls:?}"))?;
            }
            "parallel tools" => {
                let mut body = user(model, "weather, parallel please");
                body["tools"] = serde_json::from_str(TOOLS).map_err(|e| e.to_string())?;
                let a = ctx.chat(body, stream).await;
                let args: Vec<Value> = a.calls().into_iter().map(|c| c.1).collect();
                expect(args == [json!({"city": "Paris", "days": 3}), json!({"city": "Tokyo", "days": 1})], format!("{args:?}"))?;
            }
            "streamed tool deltas" => {
                if !stream {
                    return Ok("n/a");
                }
                let mut body = user(model, "weather?");
                body["tools"] = serde_json::from_str(TOOLS).map_err(|e| e.to_string())?;
                let a = ctx.chat(body, true).await;
                let pieces = a.chunks.iter().filter(|c| c["choices"][0]["delta"]["tool_calls"].is_array()).count();
                expect(pieces >= 2, format!("{pieces} tool-call chunks"))?;
                expect(a.calls().len() == 1, "arguments did not reassemble")?;
                return Ok(if pieces > 2 { "pass" } else { "pass (args in one delta)" });
            }
            "images" => {
                let body = json!({ "model": model, "messages": [{ "role": "user", "content": [
                    { "type": "text", "text": "describe" },
                    { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{PNG}") } }] }] });
                let a = ctx.chat(body, stream).await;
                expect(a.status == 200, format!("status {}", a.status))?;
                expect(ctx.last_upstream(model).to_string().contains(PNG), "image bytes did not reach the provider")?;
            }
            "JSON schema" => {
                let mut body = user(model, "json please");
                body["response_format"] = json!({ "type": "json_schema", "json_schema": {
                    "name": "answer", "schema": { "type": "object", "properties": { "answer_field": { "type": "string" } } } } });
                let a = ctx.chat(body, stream).await;
                expect(a.status == 200, format!("status {}", a.status))?;
                expect(ctx.last_upstream(model).to_string().contains("answer_field"), "schema did not reach the provider")?;
            }
            "reasoning" => {
                let mut body = user(model, "think");
                body["reasoning_effort"] = json!("low");
                let a = ctx.chat(body, stream).await;
                expect(a.status == 200, format!("status {}", a.status))?;
                if matches!(model, "via-openai" | "via-azure" | "via-compatible") {
                    expect(ctx.last_upstream(model)["reasoning_effort"] == "low", "reasoning_effort not forwarded")?;
                    return Ok("pass (forwarded)");
                }
                expect(a.reasoning() == "Let me think.", format!("reasoning {:?}", a.reasoning()))?;
            }
            "usage in stream" => {
                if !stream {
                    let a = ctx.chat(user(model, "hi"), false).await;
                    expect(a.body["usage"]["completion_tokens"] == 7, format!("{}", a.body["usage"]))?;
                    return Ok("pass");
                }
                let a = ctx.chat(user(model, "hi"), true).await;
                let usage = a.chunks.last().map(|c| c["usage"].clone()).unwrap_or(Value::Null);
                expect(usage["prompt_tokens"] == 11 && usage["completion_tokens"] == 7, format!("{usage}"))?;
            }
            "embeddings" => {
                if stream {
                    return Ok("n/a");
                }
                let embed = format!("{model}-embed");
                let res = ctx
                    .w
                    .gw
                    .app
                    .post_json("/v1/embeddings", &ctx.w.gw.key, &json!({ "model": embed, "input": ["a", "bb"] }))
                    .await;
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if model == "via-anthropic" {
                    expect(status == 400 && body["error"]["code"] == "embeddings_not_supported", format!("{status} {body}"))?;
                    return Ok("400 by design (no API)");
                }
                let vectors = body["data"].as_array().map_or(0, Vec::len);
                expect(status == 200 && vectors == 2, format!("{status} {body}"))?;
            }
            "errors" => {
                if stream {
                    let a = ctx.chat(user(model, "[mock:midstream-error]"), true).await;
                    let last = a.chunks.last().cloned().unwrap_or(Value::Null);
                    expect(!a.done && last["error"]["message"].is_string(), "no error event at the end of the stream")?;
                } else {
                    let a = ctx.chat(user(model, "[mock:status=429]"), false).await;
                    expect(a.status == 429 && a.body["error"]["type"].is_string(), format!("{} {}", a.status, a.body))?;
                }
            }
            other => return Err(format!("unknown capability {other}")),
        }
        Ok("pass")
    }
    .await;
    match result {
        Ok("n/a") => Cell::NotApplicable("n/a"),
        Ok(note) => Cell::Pass(note),
        Err(why) => Cell::Fail(why),
    }
}

fn render(rows: &[(String, Vec<Cell>)]) -> String {
    let mut out = String::from(
        "# Conformance matrix\n\n\
         Generated by `cargo test --test api conformance` (part of the suite): every cell is a real \
         request from an OpenAI-format caller through the gateway to a server that speaks the \
         provider's own wire format. Anthropic-format callers are covered by the official \
         Anthropic SDK test (tests/sdk/anthropic_sdk.py) against the same providers.\n\n| capability |",
    );
    for (_, name) in PROVIDERS {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(PROVIDERS.len()));
    out.push('\n');
    for (label, cells) in rows {
        let _ = write!(out, "| {label} |");
        for cell in cells {
            let text = match cell {
                Cell::Pass(note) => format!("✅ {note}"),
                Cell::NotApplicable(note) => (*note).to_owned(),
                Cell::Fail(why) => format!(
                    "❌ {}",
                    why.replace('|', "\\|").chars().take(80).collect::<String>()
                ),
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_matrix() {
    let Some(w) = world().await else { return };
    let ctx = Ctx { w };
    let mut rows = Vec::new();
    for capability in CAPABILITIES {
        for stream in [false, true] {
            let mut cells = Vec::new();
            for (model, _) in PROVIDERS {
                cells.push(check(&ctx, model, capability, stream).await);
            }
            let label = format!(
                "{capability} ({})",
                if stream { "stream" } else { "non-stream" }
            );
            rows.push((label, cells));
        }
    }
    let doc = render(&rows);
    let path = format!("{}/docs/conformance.md", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(format!("{}/docs", env!("CARGO_MANIFEST_DIR"))).expect("docs dir");
    std::fs::write(&path, &doc).expect("write docs/conformance.md");
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|(label, cells)| {
            cells
                .iter()
                .zip(PROVIDERS)
                .filter_map(move |(c, (_, p))| match c {
                    Cell::Fail(why) => Some(format!("{label} / {p}: {why}")),
                    _ => None,
                })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "conformance failures:\n{}",
        failures.join("\n")
    );
}
