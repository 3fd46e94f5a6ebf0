use super::fixture;
use crate::providers::anthropic::error_response;
use crate::providers::{ErrorKind, Origin};

#[test]
fn documented_error_bodies_map_to_kinds() {
    let cases = [
        (
            400,
            fixture!("error_400.json"),
            ErrorKind::InvalidRequest,
            "invalid_request_error",
            false,
        ),
        (
            400,
            fixture!("error_400_prompt_too_long.json"),
            ErrorKind::ContextLengthExceeded,
            "invalid_request_error",
            false,
        ),
        (
            401,
            fixture!("error_401.json"),
            ErrorKind::Authentication,
            "authentication_error",
            false,
        ),
        (
            403,
            fixture!("error_403.json"),
            ErrorKind::PermissionDenied,
            "permission_error",
            false,
        ),
        (
            404,
            fixture!("error_404.json"),
            ErrorKind::NotFound,
            "not_found_error",
            false,
        ),
        (
            413,
            fixture!("error_413.json"),
            ErrorKind::RequestTooLarge,
            "request_too_large",
            false,
        ),
        (
            429,
            fixture!("error_429.json"),
            ErrorKind::RateLimited,
            "rate_limit_error",
            true,
        ),
        (
            500,
            fixture!("error_500.json"),
            ErrorKind::Unavailable,
            "api_error",
            true,
        ),
        (
            529,
            fixture!("error_529.json"),
            ErrorKind::Overloaded,
            "overloaded_error",
            true,
        ),
    ];
    for (status, body, kind, code, retryable) in cases {
        let err = error_response(status, body.as_bytes());
        assert_eq!(err.kind, kind, "{status} {code}");
        assert_eq!(err.status, status, "{code}");
        assert_eq!(err.code.as_deref(), Some(code));
        assert_eq!(err.retryable, retryable, "{status} {code}");
        assert!(err.message.starts_with("Anthropic: "), "{}", err.message);
    }
}

#[test]
fn messages_are_kept_verbatim() {
    let err = error_response(401, fixture!("error_401.json").as_bytes());
    assert_eq!(err.message, "Anthropic: invalid x-api-key");
    assert_eq!(err.origin, Origin::Upstream);
    let err = error_response(404, fixture!("error_404.json").as_bytes());
    assert_eq!(err.message, "Anthropic: model: claude-sonnet-9-9");
    let err = error_response(529, fixture!("error_529.json").as_bytes());
    assert_eq!(err.message, "Anthropic: Overloaded");
}

#[test]
fn unreadable_bodies_fall_back_to_the_status() {
    let err = error_response(502, b"<html><body>Bad Gateway</body></html>");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert_eq!(err.status, 502);
    assert!(err.retryable);
    assert!(
        err.message.starts_with("Anthropic: HTTP 502"),
        "{}",
        err.message
    );
    let err = error_response(503, b"");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.message, "Anthropic: HTTP 503");
    let err = error_response(
        402,
        br#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low."}}"#,
    );
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    assert_eq!(err.status, 402);
    assert!(!err.retryable);
    let err = error_response(
        504,
        br#"{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}"#,
    );
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.retryable);
}
