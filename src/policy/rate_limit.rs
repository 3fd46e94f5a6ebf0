//! Per-minute rate limits (requests and tokens) with a sliding-window counter: the previous
//! minute's count, weighted by how much of it still overlaps the last 60 s, plus this minute's.
//! In-process by default; with Redis the counters are shared by every replica through one atomic
//! script. When Redis fails (50 ms timeout), limits fall back to in-process counters at
//! `limit / replicas` for a second before Redis is tried again, and a gauge says so.

use foldhash::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::domain::time::now_millis;
use crate::observability::metrics::Metrics;

const WINDOW_MS: i64 = 60_000;
/// How long the data path waits for Redis before degrading to in-process state.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(50);
const REDIS_BACKOFF_MS: i64 = 1_000;

/// Counts `cost` against `limit` if it fits; returns (allowed, count after, previous window).
const SCRIPT: &str = r"
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local weight = tonumber(ARGV[3])
local cost = tonumber(ARGV[2])
if prev * weight + curr + cost > tonumber(ARGV[1]) then
  return {0, curr, prev}
end
curr = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, curr, prev}
";

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// When enough capacity frees up for this request (0 when allowed).
    pub retry_after_ms: u64,
}

#[derive(Default, Clone, Copy)]
struct Counter {
    window: i64,
    current: u64,
    previous: u64,
}

/// Adds a (possibly negative) correction to this window's count, never below zero.
const ADJUST: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then redis.call('SET', KEYS[1], 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v
";

/// What to do with the limits while Redis is unreachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Limit per replica at `limit / replicas` (the default: never unlimited).
    #[default]
    Local,
    /// Admit everything until Redis is back.
    Open,
    /// Refuse limited requests until Redis is back.
    Closed,
}

/// The limiter: a cheap handle, shared by every worker.
#[derive(Clone)]
pub struct RateLimiter(std::sync::Arc<Core>);

impl std::ops::Deref for RateLimiter {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.0
    }
}

/// The limiter's state.
pub struct Core {
    local: Mutex<HashMap<String, Counter>>,
    redis: Option<(ConnectionManager, redis::Script, redis::Script)>,
    on_redis_failure: RedisFailure,
    /// Whether shared limits were configured (even if Redis could not be reached at start).
    shared: bool,
    replicas: u64,
    redis_down_until: AtomicI64,
    metrics: Metrics,
}

/// A Redis connection manager with the data path's short timeouts (shared by the rate limiter
/// and the response cache).
pub async fn redis_manager(client: redis::Client) -> Result<ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

fn decide(limit: u64, cost: u64, current: u64, previous: u64, now: i64, allowed: bool) -> Decision {
    let into = now.rem_euclid(WINDOW_MS);
    let weight = (WINDOW_MS - into) as f64 / WINDOW_MS as f64;
    let used = previous as f64 * weight + current as f64;
    let retry_after_ms = if allowed {
        0
    } else if current + cost > limit {
        (WINDOW_MS - into) as u64
    } else {
        // Wait until enough of the previous minute has slid out of the window.
        let excess = used + cost as f64 - limit as f64;
        ((excess / previous.max(1) as f64) * WINDOW_MS as f64).ceil() as u64
    };
    Decision {
        allowed,
        limit,
        remaining: (limit as f64 - used).max(0.0) as u64,
        retry_after_ms,
    }
}

impl RateLimiter {
    /// A limiter; with `redis_url` the counters are shared through Redis.
    pub async fn new(
        redis_url: Option<&str>,
        replicas: u64,
        on_redis_failure: RedisFailure,
        metrics: Metrics,
    ) -> Result<Self, redis::RedisError> {
        let redis = match redis_url {
            Some(url) => {
                let client = redis::Client::open(url)?;
                // Start even when Redis is down: the manager reconnects by itself.
                match redis_manager(client).await {
                    Ok(manager) => Some((
                        manager,
                        redis::Script::new(SCRIPT),
                        redis::Script::new(ADJUST),
                    )),
                    Err(e) => {
                        tracing::warn!(error = %e, "Redis unavailable at start; rate limits are per replica");
                        metrics.set_ratelimit_degraded(true);
                        None
                    }
                }
            }
            None => None,
        };
        Ok(Self(std::sync::Arc::new(Core {
            local: Mutex::new(HashMap::default()),
            shared: redis_url.is_some(),
            redis,
            on_redis_failure,
            replicas: replicas.max(1),
            redis_down_until: AtomicI64::new(0),
            metrics,
        })))
    }

    /// Corrects this window's count for `scope` by `delta` (e.g. actual tokens minus the
    /// estimate counted up front).
    pub async fn adjust(&self, scope: &str, delta: i64) {
        if delta == 0 {
            return;
        }
        let now = now_millis();
        let window = now.div_euclid(WINDOW_MS);
        if let Some((manager, _, adjust)) = &self.redis
            && now >= self.redis_down_until.load(Ordering::Relaxed)
        {
            let mut conn = manager.clone();
            let mut invocation = adjust.prepare_invoke();
            invocation
                .key(format!("sy:rl:{scope}:{window}"))
                .arg(delta)
                .arg(2 * WINDOW_MS);
            let call = invocation.invoke_async::<i64>(&mut conn);
            match tokio::time::timeout(REDIS_TIMEOUT, call).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => self.redis_failed(now, &e.to_string()),
                Err(_) => self.redis_failed(now, "timed out"),
            }
        }
        let mut counters = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = counters.get_mut(scope)
            && c.window == window
        {
            c.current = c.current.saturating_add_signed(delta);
        }
    }
}

impl Core {
    /// Counts `cost` against `limit` per minute for `scope` (e.g. `key:<id>:rpm`).
    pub async fn check(&self, scope: &str, limit: u64, cost: u64) -> Decision {
        let now = now_millis();
        if let Some((manager, script, _)) = &self.redis
            && now >= self.redis_down_until.load(Ordering::Relaxed)
        {
            let window = now.div_euclid(WINDOW_MS);
            let weight = (WINDOW_MS - now.rem_euclid(WINDOW_MS)) as f64 / WINDOW_MS as f64;
            let mut conn = manager.clone();
            let mut invocation = script.prepare_invoke();
            invocation
                .key(format!("sy:rl:{scope}:{window}"))
                .key(format!("sy:rl:{scope}:{}", window - 1))
                .arg(limit)
                .arg(cost)
                .arg(weight)
                .arg(2 * WINDOW_MS);
            let call = invocation.invoke_async::<(i64, u64, u64)>(&mut conn);
            match tokio::time::timeout(REDIS_TIMEOUT, call).await {
                Ok(Ok((allowed, current, previous))) => {
                    if self.redis_down_until.swap(0, Ordering::Relaxed) != 0 {
                        tracing::info!("Redis is back; rate limits are shared again");
                        self.metrics.set_ratelimit_degraded(false);
                    }
                    return decide(limit, cost, current, previous, now, allowed == 1);
                }
                Ok(Err(e)) => self.redis_failed(now, &e.to_string()),
                Err(_) => self.redis_failed(now, "timed out"),
            }
        }
        let local_limit = if self.shared {
            match self.on_redis_failure {
                RedisFailure::Local => limit.div_ceil(self.replicas),
                RedisFailure::Open => {
                    return Decision {
                        allowed: true,
                        limit,
                        remaining: limit,
                        retry_after_ms: 0,
                    };
                }
                RedisFailure::Closed => {
                    return Decision {
                        allowed: false,
                        limit,
                        remaining: 0,
                        retry_after_ms: u64::try_from(REDIS_BACKOFF_MS).unwrap_or(1000),
                    };
                }
            }
        } else {
            limit
        };
        self.check_local(scope, local_limit, cost, now)
    }

    fn redis_failed(&self, now: i64, why: &str) {
        if self
            .redis_down_until
            .swap(now + REDIS_BACKOFF_MS, Ordering::Relaxed)
            == 0
        {
            tracing::warn!(
                error = why,
                "Redis rate limiting failed; limiting per replica"
            );
            self.metrics.set_ratelimit_degraded(true);
        }
    }

    fn check_local(&self, scope: &str, limit: u64, cost: u64, now: i64) -> Decision {
        let window = now.div_euclid(WINDOW_MS);
        let mut counters = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let c = counters.entry(scope.to_owned()).or_default();
        if c.window != window {
            c.previous = if c.window == window - 1 { c.current } else { 0 };
            c.current = 0;
            c.window = window;
        }
        let weight = (WINDOW_MS - now.rem_euclid(WINDOW_MS)) as f64 / WINDOW_MS as f64;
        let allowed = c.previous as f64 * weight + (c.current + cost) as f64 <= limit as f64;
        if allowed {
            c.current += cost;
        }
        decide(limit, cost, c.current, c.previous, now, allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_window_admits_exactly_the_limit() {
        let limiter = RateLimiter::new(
            None,
            1,
            RedisFailure::Local,
            Metrics::new().expect("metrics"),
        )
        .await
        .expect("limiter");
        let now = now_millis();
        let admitted = (0..100)
            .filter(|_| limiter.check_local("k", 60, 1, now).allowed)
            .count();
        assert_eq!(admitted, 60);
        let denied = limiter.check_local("k", 60, 1, now);
        assert!(!denied.allowed && denied.retry_after_ms > 0 && denied.remaining == 0);
    }

    #[test]
    fn the_previous_minute_slides_out() {
        // Halfway into a window after a full previous one: half the previous still counts.
        let now = 10 * WINDOW_MS + WINDOW_MS / 2;
        let d = decide(60, 1, 0, 60, now, false);
        assert_eq!(d.remaining, 30);
        let d = decide(60, 40, 0, 60, now, false);
        // 30 + 40 − 60 = 10 of the previous 60 must slide out: a sixth of a minute.
        assert_eq!(d.retry_after_ms, 10_000);
    }
}
