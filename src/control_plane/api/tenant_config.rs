//! The tenant's gateway configuration as JSON: provider credentials (BYOK), models, routes,
//! the PII policy and cache settings — the same services the dashboard pages use.

use crate::control_plane::models::ModelError;
use crate::control_plane::providers::CredentialError;
use crate::control_plane::routes::RouteError;
use crate::crypto::CryptoError;

use super::error::ApiFailure;

impl From<CredentialError> for ApiFailure {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::NotFound => ApiFailure::NotFound("provider credential".into()),
            CredentialError::Exists(_) => ApiFailure::Conflict(e.to_string()),
            CredentialError::Invalid(f) => f.into(),
            CredentialError::Crypto(CryptoError::NoMasterKey) => ApiFailure::Conflict(
                "provider credentials cannot be stored: the operator has not set \
                 SWITCHYARD_MASTER_KEY"
                    .into(),
            ),
            CredentialError::Crypto(c) => ApiFailure::Internal(c.into()),
            CredentialError::Storage(s) => s.into(),
        }
    }
}

impl From<ModelError> for ApiFailure {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::NotFound => ApiFailure::NotFound("model".into()),
            ModelError::Invalid(f) => f.into(),
            ModelError::Storage(s) => s.into(),
        }
    }
}

impl From<RouteError> for ApiFailure {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound(_) => ApiFailure::NotFound("route".into()),
            RouteError::Invalid(f) => f.into(),
            RouteError::Storage(s) => s.into(),
        }
    }
}

impl From<crate::control_plane::pii::PiiError> for ApiFailure {
    fn from(e: crate::control_plane::pii::PiiError) -> Self {
        use crate::control_plane::pii::PiiError;
        match e {
            PiiError::NotFound(what) => ApiFailure::NotFound(what),
            PiiError::Invalid(f) => f.into(),
            PiiError::Storage(s) => s.into(),
        }
    }
}

impl From<crate::control_plane::cache::CacheSettingsError> for ApiFailure {
    fn from(e: crate::control_plane::cache::CacheSettingsError) -> Self {
        use crate::control_plane::cache::CacheSettingsError;
        match e {
            CacheSettingsError::KeyNotFound => ApiFailure::NotFound("key".into()),
            CacheSettingsError::TenantNotFound => ApiFailure::NotFound("tenant".into()),
            CacheSettingsError::Invalid(f) => f.into(),
            CacheSettingsError::Storage(s) => s.into(),
        }
    }
}
