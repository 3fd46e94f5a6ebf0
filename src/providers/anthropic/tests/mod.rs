//! Unit tests for the Anthropic module, against recorded-style fixtures in
//! `tests/fixtures/anthropic/`.

mod encoder;
mod errors;
mod inbound;
mod request;
mod response;
mod stream;

use crate::providers::types::StreamEvent;
use crate::providers::{ProviderError, ProviderKind, SseEvent, Target};

use super::ChatStreamDecoder;

/// A fixture file's text.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/anthropic/", $name))
    };
}
pub(crate) use fixture;

/// A target as configured for Anthropic.
pub(super) fn target() -> Target {
    Target {
        provider: "anthropic-main".into(),
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com".into(),
        api_key: "sk-ant-test-key".into(),
        upstream_model: "claude-sonnet-4-5-20250929".into(),
        api_version: None,
        default_max_tokens: 4096,
        strict: false,
    }
}

/// Splits SSE text into events (`event:` and `data:` lines, blank-line separated).
pub(super) fn parse_sse(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut current = SseEvent::default();
    let mut has_data = false;
    for line in text.lines() {
        if line.is_empty() {
            if has_data {
                events.push(std::mem::take(&mut current));
                has_data = false;
            }
        } else if let Some(name) = line.strip_prefix("event:") {
            current.event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            if has_data {
                current.data.push('\n');
            }
            current
                .data
                .push_str(data.strip_prefix(' ').unwrap_or(data));
            has_data = true;
        }
    }
    if has_data {
        events.push(current);
    }
    events
}

/// Feeds every event of an SSE fixture through a decoder; the first error stops it.
pub(super) fn decode(text: &str) -> (Vec<StreamEvent>, Result<(), ProviderError>) {
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
