//! Cohere error answers → [`ProviderError`].
//!
//! Every non-2xx answer carries `{"id": "...", "message": "..."}` (reference: "Errors (status
//! codes and description)"). The body has no error code, so the code recorded is the status's
//! name as Cohere's SDKs name their errors (`too_many_requests`, `invalid_token`, …).

use super::PROVIDER;
use super::wire::CohereErrorBody;
use crate::providers::{ErrorKind, ProviderError};

/// Maps a non-2xx Cohere answer, keeping Cohere's message.
pub fn error_response(status: u16, body: &[u8]) -> ProviderError {
    let detail = message(status, body);
    let text = format!("{PROVIDER}: {detail}");
    let mut err = match status {
        400 if detail.starts_with("too many tokens") => {
            ProviderError::new(ErrorKind::ContextLengthExceeded, text)
        }
        402 => with_status(ProviderError::new(ErrorKind::PermissionDenied, text), 402),
        // 498: Cohere's "invalid token".
        498 => ProviderError::new(ErrorKind::Authentication, text),
        // 499: cancelled on Cohere's side; Cohere advises trying again.
        499 => ProviderError::new(ErrorKind::Unavailable, text),
        _ => ProviderError::from_status(status, text),
    };
    err.code = Some(code(status).to_owned());
    err
}

fn with_status(mut e: ProviderError, status: u16) -> ProviderError {
    e.status = status;
    e
}

/// Cohere's `message`, else the (shortened) body, else the status.
fn message(status: u16, body: &[u8]) -> String {
    if let Ok(CohereErrorBody { message: Some(m) }) = serde_json::from_slice(body)
        && !m.trim().is_empty()
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("HTTP {status}");
    }
    text.chars().take(500).collect()
}

/// The name Cohere's SDKs give each status.
fn code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        402 => "payment_required",
        403 => "forbidden",
        404 => "not_found",
        413 => "request_entity_too_large",
        422 => "unprocessable_entity",
        429 => "too_many_requests",
        498 => "invalid_token",
        499 => "client_closed_request",
        500 => "internal_server_error",
        501 => "not_implemented",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "http_error",
    }
}
