//! Which limits apply to a request (its key's, its team's, its tenant's, and the tenant's limit
//! on the model it names), in-flight counting for `max_concurrent`, and the hold a request keeps
//! until it ends: the concurrency permits it took and the token estimate to reconcile with the
//! provider's usage.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::rate_limit::RateLimiter;
use super::snapshot::{KeyPolicy, Snapshot};
use crate::domain::tenant_settings::Limits;

/// One scope a request is limited in.
#[derive(Clone, Debug)]
pub struct Scope {
    /// `key`, `team`, `tenant` or `model`.
    pub kind: &'static str,
    /// The counter's name, unique across tenants.
    pub counter: String,
    /// How errors name it.
    pub label: String,
    pub limits: Limits,
}

/// Every scope with a limit that applies to a request by `key` for `model`.
pub fn scopes(snapshot: &Snapshot, key: &KeyPolicy, model: &str) -> Vec<Scope> {
    let mut out = Vec::new();
    let as_u64 = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    let key_limits = Limits {
        rpm: as_u64(key.rpm_limit),
        tpm: as_u64(key.tpm_limit),
        max_concurrent: as_u64(key.max_concurrent),
    };
    if !key_limits.is_empty() {
        out.push(Scope {
            kind: "key",
            counter: format!("key:{}", key.key_id),
            label: "this key".into(),
            limits: key_limits,
        });
    }
    if let Some(team) = &key.team_id
        && let Some(limits) = snapshot.team_limits.get(team)
    {
        out.push(Scope {
            kind: "team",
            counter: format!("team:{team}"),
            label: format!(
                "team `{}`",
                key.team_name.as_deref().unwrap_or(team.as_str())
            ),
            limits: limits.clone(),
        });
    }
    let tenant = snapshot.tenant(&key.tenant_id);
    if !tenant.limits.is_empty() {
        out.push(Scope {
            kind: "tenant",
            counter: format!("tenant:{}", key.tenant_id),
            label: "this organisation".into(),
            limits: tenant.limits.clone(),
        });
    }
    if let Some(limits) = tenant.model_limits.get(model) {
        out.push(Scope {
            kind: "model",
            counter: format!("model:{}:{model}", key.tenant_id),
            label: format!("model `{model}` in this organisation"),
            limits: limits.clone(),
        });
    }
    out
}

/// Requests in flight per scope, in this process. With shared (Redis) limits each replica
/// admits `max_concurrent / replicas`.
#[derive(Clone, Default)]
pub struct Concurrency {
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
    divisor: u64,
}

impl Concurrency {
    /// A counter set; `divisor` splits each limit between replicas (1: this process only).
    pub fn new(divisor: u64) -> Self {
        Self {
            in_flight: Arc::default(),
            divisor: divisor.max(1),
        }
    }

    /// Takes one slot in every scope, all or none; `Err(i)`: scope `i` is full.
    pub fn acquire(&self, wanted: &[(String, u64)]) -> Result<Permit, usize> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for (i, (counter, limit)) in wanted.iter().enumerate() {
            let limit = limit.div_ceil(self.divisor);
            if map.get(counter).copied().unwrap_or(0) >= limit {
                return Err(i);
            }
        }
        for (counter, _) in wanted {
            *map.entry(counter.clone()).or_default() += 1;
        }
        Ok(Permit {
            owner: self.clone(),
            counters: wanted.iter().map(|(c, _)| c.clone()).collect(),
        })
    }

    /// Requests in flight in a scope.
    pub fn in_flight(&self, counter: &str) -> u64 {
        let map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        map.get(counter).copied().unwrap_or(0)
    }
}

/// Slots held until the request ends.
pub struct Permit {
    owner: Concurrency,
    counters: Vec<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut map = self
            .owner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for c in &self.counters {
            if let Some(n) = map.get_mut(c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(c);
                }
            }
        }
    }
}

/// What a request holds until it ends.
pub struct Hold {
    /// Concurrency slots, released when the hold is dropped.
    pub permit: Option<Permit>,
    /// Token counters charged with `estimated` up front.
    pub token_counters: Vec<String>,
    pub estimated: u64,
    pub limiter: RateLimiter,
    reconciled: AtomicBool,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("token_counters", &self.token_counters)
            .field("estimated", &self.estimated)
            .finish_non_exhaustive()
    }
}

impl Hold {
    /// A hold.
    pub fn new(
        permit: Option<Permit>,
        token_counters: Vec<String>,
        estimated: u64,
        limiter: RateLimiter,
    ) -> Self {
        Self {
            permit,
            token_counters,
            estimated,
            limiter,
            reconciled: AtomicBool::new(false),
        }
    }

    /// Corrects the token counters with the tokens the call actually used (once).
    pub fn reconcile(&self, actual_tokens: u64) {
        if self.token_counters.is_empty() || self.reconciled.swap(true, Ordering::Relaxed) {
            return;
        }
        let delta = i64::try_from(actual_tokens).unwrap_or(i64::MAX)
            - i64::try_from(self.estimated).unwrap_or(i64::MAX);
        if delta == 0 {
            return;
        }
        let limiter = self.limiter.clone();
        let counters = self.token_counters.clone();
        tokio::spawn(async move {
            for c in counters {
                limiter.adjust(&c, delta).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_slots_are_taken_all_or_none_and_released_on_drop() {
        let c = Concurrency::new(1);
        let wanted = [("key:a".to_owned(), 2), ("tenant:t".to_owned(), 3)];
        let p1 = c.acquire(&wanted).unwrap();
        let p2 = c.acquire(&wanted).unwrap();
        assert_eq!(c.acquire(&wanted).err(), Some(0));
        // The tenant slot was not taken by the refused attempt.
        assert_eq!(c.in_flight("tenant:t"), 2);
        drop(p1);
        assert_eq!(c.in_flight("key:a"), 1);
        let _p3 = c.acquire(&wanted).unwrap();
        drop(p2);
        assert_eq!(c.in_flight("tenant:t"), 1);
    }

    #[test]
    fn replicas_split_concurrency() {
        let c = Concurrency::new(2);
        let wanted = [("k".to_owned(), 3)];
        let _a = c.acquire(&wanted).unwrap();
        let _b = c.acquire(&wanted).unwrap();
        assert!(c.acquire(&wanted).is_err());
    }
}
