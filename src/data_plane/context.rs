//! What every `/v1` call resolves first: the caller's key (from the snapshot), the model it
//! names, and per-request switches.

use std::sync::Arc;

use actix_web::HttpRequest;

use super::catalog::Deployment;
use super::dialect::auth_error;
use crate::config::ModelMode;
use crate::domain::time::now_millis;
use crate::policy::auth;
use crate::policy::snapshot::KeyPolicy;
use crate::providers::{ErrorKind, ProviderError};
use crate::state::AppState;

/// Strict mode header: a parameter the target cannot honour is a 400 instead of being dropped.
pub const STRICT_HEADER: &str = "x-switchyard-strict";

/// Authenticates the caller's virtual key.
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Arc<KeyPolicy>, ProviderError> {
    let snapshot = state.policy.current();
    auth::authenticate(&snapshot, auth::presented_key(req.headers()), now_millis())
        .map_err(|e| auth_error(&e))
}

/// Finds the model and checks the key may use it and that it serves this kind of call.
pub fn resolve_model(
    state: &AppState,
    key: &KeyPolicy,
    model: &str,
    mode: ModelMode,
) -> Result<Arc<Deployment>, ProviderError> {
    let not_found = || {
        ProviderError::new(
            ErrorKind::NotFound,
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found")
    };
    let deployment = state.catalog.get(model).ok_or_else(not_found)?;
    if !key.allows_model(model) {
        let mut e = ProviderError::new(
            ErrorKind::PermissionDenied,
            format!("This API key is not allowed to use the model `{model}`."),
        )
        .with_param("model")
        .with_code("model_not_allowed");
        e.origin = crate::providers::Origin::Caller;
        return Err(e);
    }
    if deployment.mode != mode {
        let wanted = match mode {
            ModelMode::Chat => "a chat model",
            ModelMode::Embedding => "an embedding model",
        };
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("The model `{model}` is not {wanted}."),
        )
        .with_param("model")
        .with_code("wrong_model_type"));
    }
    Ok(deployment.clone())
}

/// Whether the request asked for strict mode.
pub fn strict(req: &HttpRequest) -> bool {
    req.headers()
        .get(STRICT_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The request id set by the request middleware.
pub fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<crate::observability::request_context::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}
