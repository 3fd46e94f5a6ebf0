//! Anthropic error bodies and `error` stream events → [`ProviderError`].
//!
//! Anthropic answers every error as `{"type":"error","error":{"type":…,"message":…},
//! "request_id":…}`. The error type decides the kind (it is more precise than the status:
//! `billing_error` is 402, `overloaded_error` 529); the HTTP status is kept as given.

use super::PROVIDER;
use super::wire::AnthropicErrorResponse;
use crate::providers::{ErrorKind, ProviderError};

/// A non-2xx answer → error, keeping Anthropic's message and error type.
pub fn error_response(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<AnthropicErrorResponse>(body) {
        Ok(parsed) => {
            let mut err = classify(&parsed.error.kind, &parsed.error.message, Some(status));
            if let Some(id) = parsed.request_id {
                tracing::debug!(request_id = %id, status, "Anthropic error");
            }
            err.code = Some(parsed.error.kind);
            err
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.trim().chars().take(200).collect();
            let message = if snippet.is_empty() {
                format!("{PROVIDER}: HTTP {status}")
            } else {
                format!("{PROVIDER}: HTTP {status}: {snippet}")
            };
            ProviderError::from_status(status, message)
        }
    }
}

/// A mid-stream `error` event → error (the status is the one the type would have had).
pub(crate) fn stream_error(kind: &str, message: &str) -> ProviderError {
    let mut err = classify(kind, message, None);
    err.code = Some(kind.to_owned());
    err
}

/// Maps an Anthropic error type (and the HTTP status, when there was one) to an error.
fn classify(kind: &str, message: &str, status: Option<u16>) -> ProviderError {
    let text = format!("{PROVIDER}: {message}");
    let class = match kind {
        "invalid_request_error" if is_context_overflow(message) => {
            Some(ErrorKind::ContextLengthExceeded)
        }
        "invalid_request_error" => Some(ErrorKind::InvalidRequest),
        "authentication_error" => Some(ErrorKind::Authentication),
        "permission_error" | "billing_error" => Some(ErrorKind::PermissionDenied),
        "not_found_error" => Some(ErrorKind::NotFound),
        "request_too_large" => Some(ErrorKind::RequestTooLarge),
        "rate_limit_error" => Some(ErrorKind::RateLimited),
        "timeout_error" => Some(ErrorKind::Timeout),
        "overloaded_error" => Some(ErrorKind::Overloaded),
        "api_error" => Some(ErrorKind::Unavailable),
        _ => None,
    };
    match (class, status) {
        (Some(class), Some(status)) => {
            let mut err = ProviderError::new(class, text);
            if (400..600).contains(&status) {
                err.status = status;
            }
            err
        }
        (Some(class), None) => {
            let mut err = ProviderError::new(class, text);
            if class == ErrorKind::Unavailable {
                err.status = 500;
            }
            err
        }
        (None, Some(status)) => ProviderError::from_status(status, text),
        (None, None) => ProviderError::new(ErrorKind::Unavailable, text),
    }
}

/// Anthropic reports an over-long prompt as `invalid_request_error` "prompt is too long: …".
fn is_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("prompt is too long") || lower.contains("context window")
}

/// The Anthropic error type for an error shown to an Anthropic-format caller.
pub(crate) fn anthropic_error_type(err: &ProviderError) -> &'static str {
    match err.kind {
        ErrorKind::InvalidRequest
        | ErrorKind::ContextLengthExceeded
        | ErrorKind::ContentFilter
        | ErrorKind::Unsupported => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied if err.status == 402 => "billing_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Unavailable | ErrorKind::Protocol => "api_error",
    }
}
