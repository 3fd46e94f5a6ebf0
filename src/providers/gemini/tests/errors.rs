use super::fixture;
use crate::providers::gemini::error_response;
use crate::providers::{ErrorKind, Origin};

#[test]
fn invalid_argument_400() {
    let e = error_response(400, fixture!("error_400.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.status, 400);
    assert_eq!(e.code.as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        e.message,
        "Gemini: * GenerateContentRequest.contents: contents is not specified\n"
    );
    assert!(!e.retryable);
    assert_eq!(e.origin, Origin::Caller);
}

#[test]
fn invalid_api_key_400_is_an_authentication_error() {
    let e = error_response(400, fixture!("error_400_api_key.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, 401);
    assert_eq!(e.code.as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        e.message,
        "Gemini: API key not valid. Please pass a valid API key."
    );
    assert!(!e.retryable);
}

#[test]
fn too_long_prompt_is_context_length_exceeded() {
    let e = error_response(400, fixture!("error_400_context.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
    assert_eq!(e.status, 400);
}

#[test]
fn unauthenticated_401() {
    let e = error_response(401, fixture!("error_401.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, 401);
    assert_eq!(e.code.as_deref(), Some("UNAUTHENTICATED"));
    assert!(
        e.message
            .starts_with("Gemini: Request is missing required authentication credential.")
    );
}

#[test]
fn permission_denied_403() {
    let e = error_response(403, fixture!("error_403.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert_eq!(e.status, 403);
    assert_eq!(e.code.as_deref(), Some("PERMISSION_DENIED"));
}

#[test]
fn not_found_404() {
    let e = error_response(404, fixture!("error_404.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, 404);
    assert_eq!(e.code.as_deref(), Some("NOT_FOUND"));
    assert!(e.message.contains("models/gemini-9.9-ultra is not found"));
    assert!(!e.retryable);
}

#[test]
fn resource_exhausted_429_is_retryable_with_the_retry_delay() {
    let e = error_response(429, fixture!("error_429.json").as_bytes());
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.status, 429);
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(22));
    assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
    assert!(
        e.message
            .starts_with("Gemini: You exceeded your current quota")
    );
}

#[test]
fn server_errors_are_retryable() {
    let e = error_response(500, fixture!("error_500.json").as_bytes());
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Unavailable, 500, true)
    );
    assert_eq!(e.code.as_deref(), Some("INTERNAL"));
    let e = error_response(503, fixture!("error_503.json").as_bytes());
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Overloaded, 503, true)
    );
    assert_eq!(
        e.message,
        "Gemini: The model is overloaded. Please try again later."
    );
    assert_eq!(e.retry_after, None);
    let e = error_response(504, fixture!("error_504.json").as_bytes());
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Timeout, 504, true)
    );
    assert_eq!(e.code.as_deref(), Some("DEADLINE_EXCEEDED"));
}

#[test]
fn array_wrapped_and_unreadable_bodies() {
    let wrapped = format!("[{}]", fixture!("error_503.json"));
    let e = error_response(503, wrapped.as_bytes());
    assert_eq!(e.code.as_deref(), Some("UNAVAILABLE"));
    let e = error_response(502, b"<html>Bad Gateway</html>");
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Unavailable, 502, true)
    );
    assert_eq!(e.message, "Gemini: HTTP 502: <html>Bad Gateway</html>");
    assert_eq!(e.code, None);
}
