//! The HTTP edge error: every failure that reaches a client becomes one of these, rendered in
//! OpenAI's error shape (`{"error":{"message","type","param","code"}}`) with a stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route matches the method and path.
    #[error("Unknown request URL: {method} {path}. Please check the URL for typos.")]
    UnknownUrl { method: String, path: String },
    /// A failure on our side; the cause goes to the log, never to the client.
    #[error(
        "The server had an error while processing your request. Quote the x-request-id response header when reporting it."
    )]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownUrl { .. } => "unknown_url",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ApiError::UnknownUrl { .. } => "invalid_request_error",
            ApiError::Internal(_) => "server_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownUrl { .. } => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        HttpResponse::build(self.status_code()).json(json!({
            "error": {
                "message": self.to_string(),
                "type": self.error_type(),
                "param": null,
                "code": self.code(),
            }
        }))
    }
}

/// The fallback for unmatched routes.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::UnknownUrl {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}
