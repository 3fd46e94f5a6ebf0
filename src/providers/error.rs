//! Provider errors: what went wrong, whose fault it is, and whether another attempt may help.

use std::fmt;

/// The class of a failure, which decides the status code and the error type shown to callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or invalid for the target (400).
    InvalidRequest,
    /// The provider rejected the credentials (401).
    Authentication,
    PermissionDenied,
    NotFound,
    /// The request body is too large (413).
    RequestTooLarge,
    /// 429 from the provider.
    RateLimited,
    /// The provider is overloaded (Anthropic 529, 503).
    Overloaded,
    /// No answer in time (408/504).
    Timeout,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider refused for content-policy reasons.
    ContentFilter,
    /// The target cannot honour a parameter (strict mode) or feature.
    Unsupported,
    /// The provider answered 5xx or could not be reached.
    Unavailable,
    /// The provider answered something we could not understand.
    Protocol,
}

/// Who caused an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Caller,
    Upstream,
    Internal,
}

/// A failed provider call, or a request a provider cannot serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The HTTP status to answer the caller with.
    pub status: u16,
    /// A readable message; provider messages are kept, secrets never included.
    pub message: String,
    /// The offending parameter, when known.
    pub param: Option<String>,
    /// The provider's own error code or type, when it gave one.
    pub code: Option<String>,
    pub origin: Origin,
    /// Whether retrying or falling back may succeed.
    pub retryable: bool,
    /// Seconds the provider asked us to wait (`retry-after`).
    pub retry_after: Option<u64>,
}

impl ProviderError {
    /// An error of `kind` with the usual status, origin and retryability.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let (status, origin, retryable) = match kind {
            ErrorKind::InvalidRequest => (400, Origin::Caller, false),
            ErrorKind::Authentication => (401, Origin::Upstream, false),
            ErrorKind::PermissionDenied => (403, Origin::Upstream, false),
            ErrorKind::NotFound => (404, Origin::Upstream, false),
            ErrorKind::RequestTooLarge => (413, Origin::Caller, false),
            ErrorKind::RateLimited => (429, Origin::Upstream, true),
            ErrorKind::Overloaded => (529, Origin::Upstream, true),
            ErrorKind::Timeout => (504, Origin::Upstream, true),
            ErrorKind::ContextLengthExceeded => (400, Origin::Caller, false),
            ErrorKind::ContentFilter => (400, Origin::Upstream, false),
            ErrorKind::Unsupported => (400, Origin::Caller, false),
            ErrorKind::Unavailable => (502, Origin::Upstream, true),
            ErrorKind::Protocol => (502, Origin::Upstream, true),
        };
        Self {
            kind,
            status,
            message: message.into(),
            param: None,
            code: None,
            origin,
            retryable,
            retry_after: None,
        }
    }

    /// A parameter the target cannot honour (strict mode), naming it.
    pub fn unsupported(param: &str, target: &str) -> Self {
        let mut e = Self::new(
            ErrorKind::Unsupported,
            format!("`{param}` is not supported by {target}"),
        );
        e.param = Some(param.to_owned());
        e.code = Some("unsupported_parameter".to_owned());
        e
    }

    /// A malformed provider answer.
    pub fn protocol(provider: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::Protocol,
            format!("{provider} returned a response Switchyard could not read: {detail}"),
        )
    }

    /// Classifies a non-2xx provider answer by status, keeping the provider's message.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            _ => ErrorKind::Unavailable,
        };
        let mut e = Self::new(kind, message);
        if (400..600).contains(&status) {
            e.status = status;
        }
        e
    }

    /// Sets the provider's code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the offending parameter.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProviderError {}
