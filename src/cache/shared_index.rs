//! The semantic index shared through Redis (with `REDIS_URL`): per partition one list of the
//! latest prompts (at most [`PER_PARTITION`]), each the embedding and the exact-cache key of its
//! answer, so a replica finds prompts embedded by another. Values are binary:
//! `expires_at (i64 LE) | key length (u16 LE) | key | f32 LE × dims`. The key of the list
//! carries the partition (which carries the tenant), so a lookup reads its own partition only.
//! Every call is bounded by the same 50 ms as the exact cache and degrades the same way.

use redis::AsyncCommands;

use super::store::ExactStore;
use crate::domain::time::now_millis;
use crate::policy::rate_limit::REDIS_TIMEOUT;

/// Prompts kept per partition in Redis (newest first).
pub const PER_PARTITION: isize = 256;

fn list_key(partition: &str) -> String {
    format!("sy:cache:sem:{partition}")
}

fn encode(key: &str, vector: &[f32], expires_at: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + key.len() + 4 * vector.len());
    out.extend_from_slice(&expires_at.to_le_bytes());
    out.extend_from_slice(&u16::try_from(key.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Option<(String, Vec<f32>, i64)> {
    let expires_at = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let len = usize::from(u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?));
    let key = std::str::from_utf8(bytes.get(10..10 + len)?)
        .ok()?
        .to_owned();
    let rest = bytes.get(10 + len..)?;
    if rest.len() % 4 != 0 {
        return None;
    }
    let vector = rest
        .chunks_exact(4)
        .filter_map(|c| c.try_into().ok().map(f32::from_le_bytes))
        .collect();
    Some((key, vector, expires_at))
}

/// The most similar live prompt of `partition` in Redis, with its cosine similarity.
pub async fn nearest(store: &ExactStore, partition: &str, query: &[f32]) -> Option<(String, f32)> {
    let mut conn = store.redis()?;
    let found: Result<redis::RedisResult<Vec<Vec<u8>>>, _> = tokio::time::timeout(
        REDIS_TIMEOUT,
        conn.lrange(list_key(partition), 0, PER_PARTITION - 1),
    )
    .await;
    let items = match found {
        Ok(Ok(items)) => {
            store.redis_ok();
            items
        }
        Ok(Err(e)) => {
            store.redis_failed(&e.to_string());
            return None;
        }
        Err(_) => {
            store.redis_failed("timed out");
            return None;
        }
    };
    let now = now_millis();
    items
        .iter()
        .filter_map(|b| decode(b))
        .filter(|(_, v, expires_at)| *expires_at > now && v.len() == query.len())
        .map(|(key, v, _)| {
            let similarity: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            (key, similarity)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Adds a prompt (unit vector) whose answer is cached under `key`.
pub async fn insert(
    store: &ExactStore,
    partition: &str,
    vector: &[f32],
    key: &str,
    expires_at: i64,
) {
    let Some(mut conn) = store.redis() else {
        return;
    };
    let list = list_key(partition);
    let ttl = expires_at.saturating_sub(now_millis()).max(1);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .lpush(&list, encode(key, vector, expires_at))
        .ignore()
        .ltrim(&list, 0, PER_PARTITION - 1)
        .ignore()
        .cmd("PEXPIRE")
        .arg(&list)
        .arg(ttl)
        .ignore();
    let done: Result<redis::RedisResult<()>, _> =
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await;
    match done {
        Ok(Ok(())) => store.redis_ok(),
        Ok(Err(e)) => store.redis_failed(&e.to_string()),
        Err(_) => store.redis_failed("timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let bytes = encode("k1", &[0.5, -0.25], 42);
        assert_eq!(
            decode(&bytes),
            Some(("k1".to_owned(), vec![0.5, -0.25], 42))
        );
        assert_eq!(decode(&bytes[..5]), None);
    }
}
