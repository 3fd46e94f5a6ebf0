//! Where exact-cache entries live: an in-process moka cache bounded by bytes with a TTL per
//! entry, and, with `REDIS_URL`, Redis shared by every replica (`GET` / `SET … PX`). Redis is
//! given 50 ms; when it fails the cache is per replica for a second before Redis is tried
//! again, and `switchyard_cache_degraded` reads 1 meanwhile. A slow Redis never stalls a call.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::domain::time::now_millis;
use crate::observability::metrics::Metrics;
use crate::policy::rate_limit::{REDIS_TIMEOUT, redis_manager};
use crate::providers::types::ChatResponse;

const REDIS_BACKOFF_MS: i64 = 1_000;

/// A cached answer, in unified form, with what it cost and who gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub answer: ChatResponse,
    /// What the original call cost: the saving of every hit.
    pub cost_nusd: i64,
    pub provider: String,
    /// The deployment that answered.
    pub served_model: String,
    /// When the entry stops being served (ms since epoch).
    pub expires_at: i64,
}

/// Whether any choice of `answer` calls tools.
pub fn has_tool_calls(answer: &ChatResponse) -> bool {
    answer
        .choices
        .iter()
        .any(|c| !c.message.tool_calls.is_empty())
}

impl CachedAnswer {
    /// Whether the stored answer calls tools.
    pub fn has_tool_calls(&self) -> bool {
        has_tool_calls(&self.answer)
    }
}

#[derive(Clone)]
struct Stored {
    entry: Arc<CachedAnswer>,
    bytes: u32,
}

struct PerEntryTtl;

impl moka::Expiry<String, Stored> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Stored, _: Instant) -> Option<Duration> {
        let left = value.entry.expires_at.saturating_sub(now_millis()).max(0);
        Some(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }
}

/// The exact-cache store.
pub struct ExactStore {
    local: Cache<String, Stored>,
    redis: Option<ConnectionManager>,
    redis_down_until: AtomicI64,
    metrics: Metrics,
}

fn redis_key(key: &str) -> String {
    format!("sy:cache:{key}")
}

impl ExactStore {
    /// A store holding at most `max_bytes` in process; shared through Redis with `redis_url`.
    pub async fn new(max_bytes: u64, redis_url: Option<&str>, metrics: Metrics) -> Self {
        let local = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Stored| v.bytes.saturating_add(k.len() as u32))
            .expire_after(PerEntryTtl)
            .build();
        let redis = match redis_url.map(redis::Client::open) {
            Some(Ok(client)) => match redis_manager(client).await {
                Ok(manager) => Some(manager),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis unavailable at start; the response cache is per replica");
                    metrics.set_cache_degraded(true);
                    None
                }
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "invalid redis_url; the response cache is per replica");
                None
            }
            None => None,
        };
        Self {
            local,
            redis,
            redis_down_until: AtomicI64::new(0),
            metrics,
        }
    }

    pub(super) fn redis(&self) -> Option<ConnectionManager> {
        let manager = self.redis.as_ref()?;
        (now_millis() >= self.redis_down_until.load(Ordering::Relaxed)).then(|| manager.clone())
    }

    pub(super) fn redis_ok(&self) {
        if self.redis_down_until.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("Redis is back; the response cache is shared again");
            self.metrics.set_cache_degraded(false);
        }
    }

    pub(super) fn redis_failed(&self, why: &str) {
        let now = now_millis();
        if self
            .redis_down_until
            .swap(now + REDIS_BACKOFF_MS, Ordering::Relaxed)
            == 0
        {
            tracing::warn!(error = why, "Redis cache failed; caching per replica");
            self.metrics.set_cache_degraded(true);
        }
    }

    /// The live entry under `key`: in process first, then Redis (copied into the process).
    pub async fn get(&self, key: &str) -> Option<Arc<CachedAnswer>> {
        let now = now_millis();
        if let Some(stored) = self.local.get(key) {
            if stored.entry.expires_at > now {
                return Some(stored.entry);
            }
            self.local.invalidate(key);
        }
        let mut conn = self.redis()?;
        let found: Result<redis::RedisResult<Option<Vec<u8>>>, _> =
            tokio::time::timeout(REDIS_TIMEOUT, conn.get(redis_key(key))).await;
        let bytes = match found {
            Ok(Ok(found)) => {
                self.redis_ok();
                found?
            }
            Ok(Err(e)) => {
                self.redis_failed(&e.to_string());
                return None;
            }
            Err(_) => {
                self.redis_failed("timed out");
                return None;
            }
        };
        let entry: CachedAnswer = match serde_json::from_slice(&bytes) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable shared cache entry; ignored");
                return None;
            }
        };
        if entry.expires_at <= now {
            return None;
        }
        let entry = Arc::new(entry);
        self.insert_local(key, entry.clone(), bytes.len());
        Some(entry)
    }

    fn insert_local(&self, key: &str, entry: Arc<CachedAnswer>, bytes: usize) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.local.insert(key.to_owned(), Stored { entry, bytes });
    }

    /// Stores `entry` under `key` in process and in Redis (waiting at most 50 ms for it).
    pub async fn put(&self, key: String, entry: CachedAnswer) {
        let ttl_ms = entry.expires_at - now_millis();
        if ttl_ms <= 0 {
            return;
        }
        let bytes = match serde_json::to_vec(&entry) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "cache entry not serialisable; not cached");
                return;
            }
        };
        self.insert_local(&key, Arc::new(entry), bytes.len());
        let Some(mut conn) = self.redis() else {
            return;
        };
        let ttl = u64::try_from(ttl_ms).unwrap_or(1).max(1);
        let done: Result<redis::RedisResult<()>, _> =
            tokio::time::timeout(REDIS_TIMEOUT, conn.pset_ex(redis_key(&key), bytes, ttl)).await;
        match done {
            Ok(Ok(())) => self.redis_ok(),
            Ok(Err(e)) => self.redis_failed(&e.to_string()),
            Err(_) => self.redis_failed("timed out"),
        }
    }

    /// Whether an entry is being shared through Redis right now.
    pub fn shared(&self) -> bool {
        self.redis().is_some()
    }
}
