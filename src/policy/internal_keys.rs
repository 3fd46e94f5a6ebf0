//! Short-lived, single-use internal credentials: the dashboard's playground sends a chat
//! through `/v1` acting as one of the tenant's keys. A grant lives only in memory, for
//! [`LIFETIME`], names a tenant and a key, and is consumed by the first request presenting it;
//! the data path then applies that key's snapshot policy (limits, budgets, PII, routing,
//! metering), as for the key itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

/// How every internal token starts (never a valid virtual key).
pub const PREFIX: &str = "sy_internal_";
/// How long an unused grant stays valid.
pub const LIFETIME: Duration = Duration::from_secs(30);

struct Grant {
    tenant_id: String,
    key_id: String,
    expires: Instant,
}

/// The grants not yet used.
#[derive(Clone, Default)]
pub struct InternalKeys {
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

impl InternalKeys {
    /// A new token acting as `key_id` of `tenant_id`, valid once within [`LIFETIME`].
    pub fn issue(&self, tenant_id: &str, key_id: &str) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        let token = format!("{PREFIX}{}", hex::encode(bytes));
        let now = Instant::now();
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            Grant {
                tenant_id: tenant_id.to_owned(),
                key_id: key_id.to_owned(),
                expires: now + LIFETIME,
            },
        );
        token
    }

    /// Consumes a token: the (tenant id, key id) it acts as, when it is live.
    pub fn redeem(&self, token: &str) -> Option<(String, String)> {
        let grant = self
            .grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token)?;
        (grant.expires > Instant::now()).then_some((grant.tenant_id, grant.key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once() {
        let keys = InternalKeys::default();
        let token = keys.issue("ten_1", "key_1");
        assert!(token.starts_with(PREFIX));
        assert_eq!(keys.redeem(&token), Some(("ten_1".into(), "key_1".into())));
        assert_eq!(keys.redeem(&token), None);
        assert_eq!(keys.redeem("sy_internal_guess"), None);
    }
}
