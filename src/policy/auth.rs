//! Authenticating virtual keys against the snapshot: format and checksum first (no lookup for
//! typos), then an O(1) lookup by public id and a constant-time hash comparison.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;

use super::snapshot::{KeyPolicy, Snapshot};
use crate::domain::api_key;
use crate::domain::time::EpochMillis;

/// Why a caller was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "Missing API key. Send your Switchyard key as `Authorization: Bearer KEY` or `x-api-key: KEY`."
    )]
    Missing,
    #[error("Incorrect API key provided: {0}. Check the key, or mint a new one.")]
    Invalid(String),
    #[error("This API key expired. Rotate it or mint a new one.")]
    Expired,
    #[error("This organization is suspended.")]
    TenantSuspended,
}

impl AuthError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::TenantSuspended => 403,
            _ => 401,
        }
    }

    /// A stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_api_key",
            AuthError::Invalid(_) => "invalid_api_key",
            AuthError::Expired => "expired_api_key",
            AuthError::TenantSuspended => "tenant_suspended",
        }
    }
}

/// The presented key from `Authorization: Bearer …` or `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value);
        return Some(token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A masked form of a presented key for messages: never more than its first 12 and last 4
/// characters.
fn masked(key: &str) -> String {
    if key.len() <= 16 || !key.is_ascii() {
        return "****".to_owned();
    }
    format!("{}…{}", &key[..12], &key[key.len() - 4..])
}

/// Authenticates a presented key at time `now`.
pub fn authenticate(
    snapshot: &Snapshot,
    presented: Option<&str>,
    now: EpochMillis,
) -> Result<Arc<KeyPolicy>, AuthError> {
    let presented = presented
        .filter(|k| !k.is_empty())
        .ok_or(AuthError::Missing)?;
    let parsed = api_key::parse(presented).map_err(|_| AuthError::Invalid(masked(presented)))?;
    let credential = snapshot
        .credentials
        .get(parsed.public_id)
        .filter(|c| api_key::hash_matches(parsed.full, &c.secret_hash))
        .ok_or_else(|| AuthError::Invalid(masked(presented)))?;
    if credential.valid_until.is_some_and(|until| now >= until) {
        return Err(AuthError::Invalid(masked(presented)));
    }
    if credential.key.expires_at.is_some_and(|at| now >= at) {
        return Err(AuthError::Expired);
    }
    if snapshot
        .suspended_tenants
        .iter()
        .any(|t| *t == credential.key.tenant_id)
    {
        return Err(AuthError::TenantSuspended);
    }
    Ok(credential.key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::snapshot::KeyCredential;

    fn snapshot_with(
        key: &api_key::MintedKey,
        valid_until: Option<i64>,
        expires: Option<i64>,
    ) -> Snapshot {
        let policy = Arc::new(KeyPolicy {
            key_id: "key_1".into(),
            tenant_id: "ten_1".into(),
            team_id: None,
            team_name: None,
            allowed_models: vec!["gpt-4o".into()],
            rpm_limit: None,
            tpm_limit: None,
            max_concurrent: None,
            allowed_ips: vec![],
            allowed_referrers: vec![],
            expires_at: expires,
            cache: None,
            pii: None,
        });
        let mut s = Snapshot::default();
        s.credentials.insert(
            key.public_id.clone(),
            KeyCredential {
                secret_hash: key.hash.clone(),
                valid_until,
                key: policy,
            },
        );
        s
    }

    #[test]
    fn keys_are_checked_by_hash_expiry_grace_and_tenant() {
        let key = api_key::mint();
        let s = snapshot_with(&key, None, None);
        let ok = authenticate(&s, Some(&key.secret), 0).expect("valid");
        assert!(ok.allows_model("gpt-4o") && !ok.allows_model("gpt-5"));
        assert_eq!(authenticate(&s, None, 0).unwrap_err(), AuthError::Missing);
        let other = api_key::mint();
        let err = authenticate(&s, Some(&other.secret), 0).unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)));
        assert!(!err.to_string().contains(&other.secret));

        let grace = snapshot_with(&key, Some(1_000), None);
        assert!(authenticate(&grace, Some(&key.secret), 999).is_ok());
        assert!(authenticate(&grace, Some(&key.secret), 1_000).is_err());

        let expiring = snapshot_with(&key, None, Some(5_000));
        assert_eq!(
            authenticate(&expiring, Some(&key.secret), 5_000).unwrap_err(),
            AuthError::Expired
        );

        let mut suspended = snapshot_with(&key, None, None);
        suspended.suspended_tenants.push("ten_1".into());
        assert_eq!(
            authenticate(&suspended, Some(&key.secret), 0).unwrap_err(),
            AuthError::TenantSuspended
        );
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert(
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::HeaderValue::from_static("Bearer sy_live_abc"),
        );
        assert_eq!(presented_key(&h), Some("sy_live_abc"));
        let mut h = HeaderMap::new();
        h.insert(
            actix_web::http::header::HeaderName::from_static("x-api-key"),
            actix_web::http::header::HeaderValue::from_static("sy_live_xyz"),
        );
        assert_eq!(presented_key(&h), Some("sy_live_xyz"));
    }
}
