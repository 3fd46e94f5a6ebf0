//! Gemini error bodies (`{"error": {"code", "message", "status", "details"}}`) to
//! [`ProviderError`]s.

use serde_json::Value;

use super::PROVIDER;
use super::wire::{GeminiErrorBody, GeminiErrorEnvelope};
use crate::providers::{ErrorKind, ProviderError};

/// Maps a non-2xx Gemini answer to an error, keeping Gemini's message and status name.
pub fn error_response(status: u16, body: &[u8]) -> ProviderError {
    match parse_error_body(body) {
        Some(error) => from_error_body(status, &error),
        None => ProviderError::from_status(
            status,
            format!("{PROVIDER}: HTTP {status}: {}", snippet(body)),
        ),
    }
}

/// The error object of a body, accepting both the plain envelope and the one-element JSON
/// array that `streamGenerateContent` without `alt=sse` answers with.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<GeminiErrorBody> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let value = match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let envelope: GeminiErrorEnvelope = serde_json::from_value(value).ok()?;
    Some(envelope.error)
}

/// Converts a Google API error object; `status` is used when the body carries no `code`.
pub(crate) fn from_error_body(status: u16, error: &GeminiErrorBody) -> ProviderError {
    let status = error
        .code
        .filter(|c| (400..600).contains(c))
        .unwrap_or(status);
    let text = error.message.as_deref().unwrap_or("unknown error");
    let message = format!("{PROVIDER}: {text}");
    let mut e = match refined_kind(error) {
        Some(kind) => ProviderError::new(kind, message),
        None => ProviderError::from_status(status, message),
    };
    if let Some(code) = &error.status {
        e.code = Some(code.clone());
    }
    if e.kind == ErrorKind::RateLimited || e.kind == ErrorKind::Overloaded {
        e.retry_after = retry_delay(&error.details);
    }
    e
}

/// Kinds the status alone does not tell: an invalid key (Gemini answers 400
/// `API_KEY_INVALID`) and a prompt longer than the context window (400 `INVALID_ARGUMENT`).
fn refined_kind(error: &GeminiErrorBody) -> Option<ErrorKind> {
    if error_reason(&error.details).as_deref() == Some("API_KEY_INVALID") {
        return Some(ErrorKind::Authentication);
    }
    let message = error.message.as_deref().unwrap_or_default();
    let invalid = error.status.as_deref() == Some("INVALID_ARGUMENT");
    if invalid && message.contains("exceeds the maximum number of tokens") {
        return Some(ErrorKind::ContextLengthExceeded);
    }
    None
}

/// `reason` of the `google.rpc.ErrorInfo` detail, if any.
fn error_reason(details: &[Value]) -> Option<String> {
    details
        .iter()
        .find(|d| detail_type(d).ends_with("google.rpc.ErrorInfo"))
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Seconds from the `google.rpc.RetryInfo` detail (`"retryDelay": "22s"`), rounded up.
fn retry_delay(details: &[Value]) -> Option<u64> {
    let delay = details
        .iter()
        .find(|d| detail_type(d).ends_with("google.rpc.RetryInfo"))?
        .get("retryDelay")?
        .as_str()?;
    let seconds: f64 = delay.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| seconds.ceil() as u64)
}

fn detail_type(detail: &Value) -> &str {
    detail.get("@type").and_then(Value::as_str).unwrap_or("")
}

/// The start of an unreadable body, for the message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "empty body".to_owned();
    }
    trimmed.chars().take(200).collect()
}

/// A prompt Gemini refused to answer (`promptFeedback.blockReason`).
pub(crate) fn prompt_blocked(reason: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::ContentFilter,
        format!("{PROVIDER}: the prompt was blocked (blockReason {reason})"),
    )
    .with_code(reason)
}
