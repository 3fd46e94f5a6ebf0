//! Login throttling per account and per client address: the first 10 failures in an hour are
//! free, then each further attempt must wait a doubling delay (1 s, 2 s, … capped at 60 s).
//! Nothing is ever locked permanently; a success clears the account's count. With the cap, an
//! attacker gets fewer than 100 guesses per account per hour.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed without delay in a window.
pub const FREE_FAILURES: u32 = 10;
/// The longest delay imposed.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// Entries kept before expired ones are pruned.
const PRUNE_AT: usize = 100_000;

#[derive(Debug)]
struct Entry {
    failures: u32,
    first_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Failure counts by `account:EMAIL` and `ip:ADDRESS`.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(wait)` when any of the keys must wait before the next attempt.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let entries = self.lock();
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k))
            .filter(|e| now.duration_since(e.first_failure) < WINDOW)
            .filter_map(|e| e.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against every key.
    pub fn failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() > PRUNE_AT {
            entries.retain(|_, e| now.duration_since(e.first_failure) < WINDOW);
        }
        for key in keys {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                first_failure: now,
                blocked_until: None,
            });
            if now.duration_since(entry.first_failure) >= WINDOW {
                *entry = Entry {
                    failures: 0,
                    first_failure: now,
                    blocked_until: None,
                };
            }
            entry.failures += 1;
            if entry.failures >= FREE_FAILURES {
                let exponent = (entry.failures - FREE_FAILURES).min(6);
                let delay = Duration::from_secs(1u64 << exponent).min(MAX_DELAY);
                entry.blocked_until = Some(now + delay);
            }
        }
    }

    /// Clears a key after a successful login.
    pub fn success(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_are_free_then_delays_grow() {
        let t = LoginThrottle::default();
        let keys = vec!["account:a@b.c".to_owned()];
        for _ in 0..FREE_FAILURES - 1 {
            t.failure(&keys);
            assert!(t.check(&keys).is_ok());
        }
        t.failure(&keys);
        let wait = t.check(&keys).expect_err("throttled");
        assert!(wait <= Duration::from_secs(1));
        t.failure(&keys);
        assert!(t.check(&keys).expect_err("throttled") > Duration::from_secs(1));
        t.success(&keys[0]);
        assert!(t.check(&keys).is_ok());
    }
}
