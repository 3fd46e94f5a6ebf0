//! Unit tests for the Gemini module, against recorded-style fixtures in `tests/fixtures/gemini`.

mod embeddings;
mod errors;
mod request;
mod response;
mod stream;

use crate::providers::{ProviderKind, SseEvent, Target};

/// A fixture's text.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/gemini/", $name))
    };
}
pub(crate) use fixture;

/// A Gemini target as configured in production.
fn target() -> Target {
    Target {
        provider: "gemini-main".into(),
        kind: ProviderKind::Gemini,
        base_url: "https://generativelanguage.googleapis.com".into(),
        api_key: "AIzaSy-test-key".into(),
        upstream_model: "gemini-2.5-flash".into(),
        api_version: None,
        default_max_tokens: 4096,
        strict: false,
    }
}

/// Splits an `.sse` fixture into events the way the gateway's SSE parser does.
fn sse_events(text: &str) -> Vec<SseEvent> {
    let normalized = text.replace("\r\n", "\n");
    normalized
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = SseEvent::default();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("data:") {
                    data.push(rest.strip_prefix(' ').unwrap_or(rest));
                } else if let Some(rest) = line.strip_prefix("event:") {
                    event.event = rest.trim().to_owned();
                }
            }
            event.data = data.join("\n");
            event
        })
        .collect()
}
