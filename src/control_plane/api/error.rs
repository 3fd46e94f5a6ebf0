//! The admin API's errors: `{"error":{"message","field","code"}}` with a fitting status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::control_plane::FieldError;
use crate::control_plane::auth::accounts::AccountError;
use crate::control_plane::auth::two_factor::TwoFactorError;
use crate::control_plane::budgets::BudgetError;
use crate::control_plane::keys::KeyError;
use crate::storage::StorageError;

/// An admin-API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("authentication required: log in, or send an admin API token")]
    Unauthorized,
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("Too many failed attempts; try again in {0} s.")]
    Throttled(u64),
    /// A service we depend on (Stripe) refused or failed; its message is safe to show.
    #[error("{0}")]
    Upstream(String),
    #[error("internal error; quote the x-request-id response header when reporting it")]
    Internal(#[source] anyhow::Error),
}

impl ApiFailure {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiFailure::Unauthorized => "unauthorized",
            ApiFailure::BadCredentials(_) => "invalid_credentials",
            ApiFailure::Forbidden(_) => "forbidden",
            ApiFailure::NotFound(_) => "not_found",
            ApiFailure::Invalid { .. } => "invalid_request",
            ApiFailure::Conflict(_) => "conflict",
            ApiFailure::Throttled(_) => "too_many_attempts",
            ApiFailure::Upstream(_) => "upstream_error",
            ApiFailure::Internal(_) => "internal_error",
        }
    }

    /// A 400 naming the field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiFailure::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl ResponseError for ApiFailure {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiFailure::Unauthorized | ApiFailure::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiFailure::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiFailure::NotFound(_) => StatusCode::NOT_FOUND,
            ApiFailure::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiFailure::Conflict(_) => StatusCode::CONFLICT,
            ApiFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiFailure::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiFailure::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "admin API internal error");
        }
        let field = match self {
            ApiFailure::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        let mut res = HttpResponse::build(self.status_code());
        if let ApiFailure::Throttled(secs) = self {
            res.insert_header(("retry-after", secs.to_string()));
        }
        res.json(json!({
            "error": { "message": self.to_string(), "field": field, "code": self.code() }
        }))
    }
}

impl From<StorageError> for ApiFailure {
    fn from(e: StorageError) -> Self {
        ApiFailure::Internal(e.into())
    }
}

impl From<FieldError> for ApiFailure {
    fn from(e: FieldError) -> Self {
        ApiFailure::Invalid {
            field: Some(e.field.replace('-', "_")),
            message: e.to_string(),
        }
    }
}

impl From<AccountError> for ApiFailure {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::BadCredentials => ApiFailure::BadCredentials(e.to_string()),
            AccountError::Throttled(secs) => ApiFailure::Throttled(secs),
            AccountError::SignupConflict => ApiFailure::Conflict(e.to_string()),
            AccountError::BadResetToken => ApiFailure::field("token", e.to_string()),
            AccountError::BadCode => ApiFailure::field("code", e.to_string()),
            AccountError::PendingExpired => ApiFailure::field("pending_token", e.to_string()),
            AccountError::TwoFactor(e) => e.into(),
            AccountError::NotFound => ApiFailure::NotFound("user".into()),
            AccountError::Invalid(e) => e.into(),
            AccountError::Hash(e) => ApiFailure::Internal(e.into()),
            AccountError::Storage(e) => e.into(),
        }
    }
}

impl From<TwoFactorError> for ApiFailure {
    fn from(e: TwoFactorError) -> Self {
        match e {
            TwoFactorError::NoMasterKey => ApiFailure::Conflict(e.to_string()),
            TwoFactorError::AlreadyEnrolled | TwoFactorError::NotEnrolled => {
                ApiFailure::Conflict(e.to_string())
            }
            TwoFactorError::NoPendingEnrolment => ApiFailure::Conflict(e.to_string()),
            TwoFactorError::BadCode => ApiFailure::field("code", e.to_string()),
            TwoFactorError::Invalid(f) => f.into(),
            TwoFactorError::Crypto(c) => ApiFailure::Internal(c.into()),
            TwoFactorError::Storage(s) => s.into(),
        }
    }
}

impl From<KeyError> for ApiFailure {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound(_) => ApiFailure::NotFound("key".into()),
            KeyError::TeamNotFound(_) => ApiFailure::field("team", e.to_string()),
            KeyError::Revoked(_) => ApiFailure::Conflict(e.to_string()),
            KeyError::Invalid(e) => e.into(),
            KeyError::Storage(e) => e.into(),
        }
    }
}

impl From<BudgetError> for ApiFailure {
    fn from(e: BudgetError) -> Self {
        match e {
            BudgetError::NotFound => ApiFailure::NotFound("budget".into()),
            // A scope naming another tenant's (or no) team or key is a missing object.
            BudgetError::Invalid(e)
                if e.field == "scope"
                    && (e.message.contains("not found")
                        || e.message.contains("does not exist")) =>
            {
                ApiFailure::NotFound(e.message)
            }
            BudgetError::Invalid(e) => e.into(),
            BudgetError::Storage(e) => e.into(),
        }
    }
}

/// JSON and query-string errors in the API's shape.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _| {
            ApiFailure::Invalid {
                field: None,
                message: format!("invalid JSON body: {err}"),
            }
            .into()
        })
}

/// Query-string errors in the API's shape.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _| {
        ApiFailure::Invalid {
            field: None,
            message: format!("invalid query string: {err}"),
        }
        .into()
    })
}
