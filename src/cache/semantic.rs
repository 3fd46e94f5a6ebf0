//! The in-process semantic index: per partition (tenant + namespace + route + hash of
//! everything but the last user turn) the embedded prompts seen, each pointing at the exact-cache
//! entry holding its answer. A lookup only ever scans its own partition (the tenant is part of
//! the partition key, so no other tenant's prompts are even read). The index is bounded by
//! `cache.max_entries` over all partitions and [`PER_PARTITION`] per partition, oldest first out.
//! A partition is one tenant's prompts to one route with one system prompt and parameter set, so
//! an exact cosine scan is used rather than an approximate graph: it is exact, needs no rebuild on
//! eviction, and a full partition of 1536-dimension vectors scans in a few milliseconds (the
//! embedding call it follows takes longer). Lookups share a read lock; only inserts write.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

use crate::domain::time::now_millis;

/// Prompts kept per partition (oldest out first), bounding one lookup's scan.
pub const PER_PARTITION: usize = 2048;

struct Point {
    /// Insertion sequence number (for eviction across partitions).
    seq: u64,
    /// Unit-length embedding.
    vector: Vec<f32>,
    /// The exact-cache key of the answer.
    key: String,
    expires_at: i64,
}

#[derive(Default)]
struct Inner {
    partitions: HashMap<String, VecDeque<Point>>,
    /// Insertion order over all partitions, for eviction: (partition, sequence number).
    order: VecDeque<(String, u64)>,
    next_seq: u64,
}

/// The index.
pub struct SemanticIndex {
    inner: RwLock<Inner>,
    max_entries: usize,
}

/// A vector scaled to unit length (`None` for a zero or non-finite vector).
pub fn normalized(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut v {
        *x /= norm;
    }
    Some(v)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl SemanticIndex {
    /// An index holding at most `max_entries` prompts.
    pub fn new(max_entries: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_entries: max_entries.max(1),
        }
    }

    /// The most similar live prompt of `partition` to the unit vector `query`, with its cosine
    /// similarity.
    pub fn nearest(&self, partition: &str, query: &[f32]) -> Option<(String, f32)> {
        let now = now_millis();
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .partitions
            .get(partition)?
            .iter()
            .filter(|p| p.expires_at > now && p.vector.len() == query.len())
            .map(|p| (p.key.as_str(), dot(&p.vector, query)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(key, similarity)| (key.to_owned(), similarity))
    }

    /// Adds a prompt (unit vector) whose answer is cached under `key`.
    pub fn insert(&self, partition: &str, vector: Vec<f32>, key: String, expires_at: i64) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let points = inner.partitions.entry(partition.to_owned()).or_default();
        points.push_back(Point {
            seq,
            vector,
            key,
            expires_at,
        });
        if points.len() > PER_PARTITION {
            points.pop_front();
        }
        inner.order.push_back((partition.to_owned(), seq));
        while inner.order.len() > self.max_entries {
            let Some((oldest, seq)) = inner.order.pop_front() else {
                break;
            };
            let empty = inner.partitions.get_mut(&oldest).is_some_and(|points| {
                // Already gone when the partition's own bound evicted it.
                if points.front().is_some_and(|p| p.seq == seq) {
                    points.pop_front();
                }
                points.is_empty()
            });
            if empty {
                inner.partitions.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_prompt_of_the_same_partition_only() {
        let index = SemanticIndex::new(10);
        let later = now_millis() + 60_000;
        let unit = |v: Vec<f32>| normalized(v).expect("non-zero");
        index.insert("a", unit(vec![1.0, 0.0]), "k1".into(), later);
        index.insert("a", unit(vec![0.0, 1.0]), "k2".into(), later);
        index.insert("b", unit(vec![1.0, 0.1]), "k3".into(), later);
        let (key, sim) = index.nearest("a", &unit(vec![0.9, 0.1])).expect("found");
        assert_eq!(key, "k1");
        assert!(sim > 0.98);
        assert!(index.nearest("c", &unit(vec![1.0, 0.0])).is_none());
    }

    #[test]
    fn the_index_is_bounded_oldest_first() {
        let index = SemanticIndex::new(2);
        let later = now_millis() + 60_000;
        for (i, v) in [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]].into_iter().enumerate() {
            index.insert(
                "a",
                normalized(v.to_vec()).expect("v"),
                format!("k{i}"),
                later,
            );
        }
        let (key, _) = index
            .nearest("a", &normalized(vec![1.0, 0.0]).expect("v"))
            .expect("found");
        assert_eq!(key, "k2", "k0 was evicted");
    }

    /// Scan cost at the default bound: `cargo test --release --lib cache::semantic -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "a measurement, run in release"]
    fn measure_a_full_partition_scan() {
        let (points, dims) = (PER_PARTITION, 1536usize);
        let index = SemanticIndex::new(points);
        let later = now_millis() + 600_000;
        let vector = |seed: usize| {
            let v = (0..dims)
                .map(|i| ((seed * 31 + i * 17) % 101) as f32 - 50.0)
                .collect();
            normalized(v).expect("non-zero")
        };
        for i in 0..points {
            index.insert("p", vector(i), format!("k{i}"), later);
        }
        let query = vector(7);
        let runs = 50;
        let started = std::time::Instant::now();
        for _ in 0..runs {
            assert!(index.nearest("p", &query).is_some());
        }
        let each = started.elapsed() / runs;
        println!("nearest over {points} x {dims}: {each:?} per lookup");
    }
}
