use crate::providers::cohere::error_response;
use crate::providers::{ErrorKind, Origin};

const E400: &str = include_str!("../../../../tests/fixtures/cohere/error_400.json");
const E400_TOKENS: &str =
    include_str!("../../../../tests/fixtures/cohere/error_400_too_many_tokens.json");
const E401: &str = include_str!("../../../../tests/fixtures/cohere/error_401.json");
const E402: &str = include_str!("../../../../tests/fixtures/cohere/error_402.json");
const E404: &str = include_str!("../../../../tests/fixtures/cohere/error_404.json");
const E429: &str = include_str!("../../../../tests/fixtures/cohere/error_429.json");
const E500: &str = include_str!("../../../../tests/fixtures/cohere/error_500.json");
const E503: &str = include_str!("../../../../tests/fixtures/cohere/error_503.json");

#[test]
fn bad_request() {
    let e = error_response(400, E400.as_bytes());
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.status, 400);
    assert_eq!(
        e.message,
        "Cohere: invalid request: temperature must be between 0 and 1.0 inclusive."
    );
    assert_eq!(e.code.as_deref(), Some("bad_request"));
    assert_eq!(e.origin, Origin::Caller);
    assert!(!e.retryable);
}

#[test]
fn too_many_tokens_is_context_length() {
    let e = error_response(400, E400_TOKENS.as_bytes());
    assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
    assert_eq!(e.status, 400);
    assert!(e.message.starts_with("Cohere: too many tokens:"));
    assert!(!e.retryable);
}

#[test]
fn unauthorized_and_invalid_token() {
    let e = error_response(401, E401.as_bytes());
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, 401);
    assert_eq!(e.message, "Cohere: invalid api token");
    assert_eq!(e.code.as_deref(), Some("unauthorized"));
    assert!(!e.retryable);
    let e = error_response(498, br#"{"message":"invalid token"}"#);
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, 401);
    assert_eq!(e.code.as_deref(), Some("invalid_token"));
}

#[test]
fn payment_required() {
    let e = error_response(402, E402.as_bytes());
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert_eq!(e.status, 402);
    assert_eq!(e.code.as_deref(), Some("payment_required"));
    assert!(
        e.message
            .starts_with("Cohere: Please add or update your payment method")
    );
}

#[test]
fn not_found() {
    let e = error_response(404, E404.as_bytes());
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, 404);
    assert_eq!(
        e.message,
        "Cohere: model 'command-z' not found, make sure the correct model ID was used and that you have access to the model."
    );
    assert!(!e.retryable);
}

#[test]
fn rate_limited_is_retryable() {
    let e = error_response(429, E429.as_bytes());
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.status, 429);
    assert_eq!(e.code.as_deref(), Some("too_many_requests"));
    assert!(e.retryable);
    assert_eq!(
        e.message,
        "Cohere: You are past the per minute request limit, please wait and try again later."
    );
}

#[test]
fn server_errors_are_retryable() {
    let e = error_response(500, E500.as_bytes());
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(e.status, 500);
    assert_eq!(e.message, "Cohere: internal server error");
    assert!(e.retryable);
    let e = error_response(503, E503.as_bytes());
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert_eq!(e.status, 503);
    assert_eq!(e.code.as_deref(), Some("service_unavailable"));
    assert!(e.retryable);
    let e = error_response(504, b"");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.message, "Cohere: HTTP 504");
    assert!(e.retryable);
    let e = error_response(499, br#"{"message":"request cancelled"}"#);
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.retryable);
}

#[test]
fn non_json_body_is_kept() {
    let e = error_response(502, b"<html>bad gateway</html>");
    assert_eq!(e.message, "Cohere: <html>bad gateway</html>");
    assert!(e.retryable);
}
