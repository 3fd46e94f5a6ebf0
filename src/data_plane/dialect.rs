//! The caller's wire format, which decides how errors are written back.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::policy::auth::AuthError;
use crate::providers::{ErrorKind, ProviderError, anthropic, openai};

/// Which API surface the caller used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
}

impl Dialect {
    /// The JSON error body in this dialect.
    pub fn error_body(self, err: &ProviderError) -> serde_json::Value {
        match self {
            Dialect::OpenAi => openai::inbound::render_error(err),
            Dialect::Anthropic => anthropic::inbound::render_error(err),
        }
    }

    /// An error response with the error's status and, for rate limits, `retry-after`.
    pub fn error_response(self, err: &ProviderError) -> HttpResponse {
        let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut res = HttpResponse::build(status);
        if let Some(after) = err.retry_after {
            res.insert_header(("retry-after", after.to_string()));
        }
        res.json(self.error_body(err))
    }
}

/// An authentication failure as a provider-style error (caller's fault).
pub fn auth_error(err: &AuthError) -> ProviderError {
    let kind = match err {
        AuthError::TenantSuspended => ErrorKind::PermissionDenied,
        _ => ErrorKind::Authentication,
    };
    let mut e = ProviderError::new(kind, err.to_string()).with_code(err.code());
    e.status = err.status();
    e.origin = crate::providers::Origin::Caller;
    e
}
