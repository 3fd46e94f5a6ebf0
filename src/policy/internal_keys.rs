//! Short-lived, single-use internal credentials: the dashboard's playground sends a chat
//! through `/v1` acting as one of the tenant's keys. A grant lives only in memory, for
//! [`LIFETIME`], names a tenant, a key and the dashboard user's client address, and is consumed
//! by the first request presenting it; the data path then applies that key's snapshot policy
//! (limits, budgets, PII, routing, metering), as for the key itself, and the tenant's IP
//! allowlist to the dashboard user's address (the call itself comes from loopback).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

/// How every internal token starts (never a valid virtual key).
pub const PREFIX: &str = "sy_internal_";
/// How long an unused grant stays valid.
pub const LIFETIME: Duration = Duration::from_secs(30);

struct Grant {
    redeemed: Redeemed,
    expires: Instant,
}

/// What a live token acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub tenant_id: String,
    pub key_id: String,
    /// The address of the dashboard user the token was issued to (trusted-proxy rule applied).
    pub client_ip: Option<IpAddr>,
}

/// The grants not yet used.
#[derive(Clone, Default)]
pub struct InternalKeys {
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

impl InternalKeys {
    /// A new token acting as `key_id` of `tenant_id` for a user at `client_ip`, valid once
    /// within [`LIFETIME`].
    pub fn issue(&self, tenant_id: &str, key_id: &str, client_ip: Option<IpAddr>) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        let token = format!("{PREFIX}{}", hex::encode(bytes));
        let now = Instant::now();
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            Grant {
                redeemed: Redeemed {
                    tenant_id: tenant_id.to_owned(),
                    key_id: key_id.to_owned(),
                    client_ip,
                },
                expires: now + LIFETIME,
            },
        );
        token
    }

    /// Consumes a token: what it acts as, when it is live.
    pub fn redeem(&self, token: &str) -> Option<Redeemed> {
        let grant = self
            .grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token)?;
        (grant.expires > Instant::now()).then_some(grant.redeemed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once() {
        let keys = InternalKeys::default();
        let ip = "203.0.113.9".parse().ok();
        let token = keys.issue("ten_1", "key_1", ip);
        assert!(token.starts_with(PREFIX));
        let expected = Redeemed {
            tenant_id: "ten_1".into(),
            key_id: "key_1".into(),
            client_ip: ip,
        };
        assert_eq!(keys.redeem(&token), Some(expected));
        assert_eq!(keys.redeem(&token), None);
        assert_eq!(keys.redeem("sy_internal_guess"), None);
    }
}
