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
        self.check_at(keys, Instant::now())
    }

    fn check_at(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
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
        self.failure_at(keys, Instant::now());
    }

    fn failure_at(&self, keys: &[String], now: Instant) {
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

    /// An attacker retrying as soon as allowed, for hours: at most 100 guesses in any hour,
    /// and the account is never locked for longer than the longest delay.
    #[test]
    fn at_most_a_hundred_guesses_per_hour_and_no_lockout() {
        let t = LoginThrottle::default();
        let keys = vec!["account:victim@b.c".to_owned()];
        let start = Instant::now();
        let mut attempts = Vec::new();
        let mut now = start;
        let end = start + Duration::from_secs(3 * 3600);
        while now < end {
            match t.check_at(&keys, now) {
                Ok(()) => {
                    attempts.push(now);
                    t.failure_at(&keys, now);
                    now += Duration::from_millis(100);
                }
                Err(wait) => {
                    assert!(wait <= MAX_DELAY, "locked for {wait:?}");
                    now += wait;
                }
            }
        }
        for (i, first) in attempts.iter().enumerate() {
            let within_hour = attempts[i..]
                .iter()
                .take_while(|a| a.duration_since(*first) < WINDOW)
                .count();
            assert!(within_hour <= 100, "{within_hour} guesses within an hour");
        }
        // Delays start after the 10th failure, and the owner can still get in later.
        assert!(attempts[9].duration_since(start) < Duration::from_secs(2));
        assert!(t.check_at(&keys, now + MAX_DELAY).is_ok());
    }
}
