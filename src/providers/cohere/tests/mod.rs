//! Unit tests against recorded-style fixtures in `tests/fixtures/cohere/`.

mod embeddings;
mod errors;
mod request;
mod response;
mod stream;

use crate::providers::types::StreamEvent;
use crate::providers::{ProviderError, ProviderKind, SseEvent, Target};

use super::ChatStreamDecoder;

/// A Cohere target; `strict` as given.
fn target(strict: bool) -> Target {
    Target {
        provider: "cohere-prod".into(),
        kind: ProviderKind::Cohere,
        base_url: "https://api.cohere.com".into(),
        api_key: "co-test-key".into(),
        upstream_model: "command-a-03-2025".into(),
        api_version: None,
        default_max_tokens: 4096,
        strict,
    }
}

/// Splits SSE text into events (`event:` / `data:` lines, blank-line separated).
fn parse_sse(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut current = SseEvent::default();
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            if !data.is_empty() || !current.event.is_empty() {
                current.data = data.join("\n");
                events.push(std::mem::take(&mut current));
                data.clear();
            }
        } else if let Some(v) = line.strip_prefix("event:") {
            current.event = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if !data.is_empty() {
        current.data = data.join("\n");
        events.push(current);
    }
    events
}

/// Feeds every event of an `.sse` text, then `finish()`; the first error ends decoding.
fn decode(text: &str) -> (Vec<StreamEvent>, Result<(), ProviderError>) {
    let mut decoder = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for event in parse_sse(text) {
        match decoder.on_event(&event) {
            Ok(events) => out.extend(events),
            Err(e) => return (out, Err(e)),
        }
    }
    match decoder.finish() {
        Ok(events) => {
            out.extend(events);
            (out, Ok(()))
        }
        Err(e) => (out, Err(e)),
    }
}
