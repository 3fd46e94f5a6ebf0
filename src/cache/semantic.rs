//! The in-process semantic index: per partition (tenant + namespace + route + hash of
//! everything but the last user turn) the embedded prompts seen, each pointing at the exact-cache
//! entry holding its answer. A lookup only ever scans its own partition (the tenant is part of
//! the partition key, so no other tenant's prompts are even read). The index is bounded by
//! `cache.max_entries` over all partitions, oldest first out. Partitions are small (one tenant's
//! prompts to one model with one set of parameters), so an exact cosine scan is used rather than
//! an approximate graph: it is exact, and cheap at these sizes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::time::now_millis;

struct Point {
    /// Unit-length embedding.
    vector: Vec<f32>,
    /// The exact-cache key of the answer.
    key: String,
    expires_at: i64,
}

#[derive(Default)]
struct Inner {
    partitions: HashMap<String, VecDeque<Point>>,
    /// Insertion order over all partitions, for eviction.
    order: VecDeque<String>,
}

/// The index.
pub struct SemanticIndex {
    inner: Mutex<Inner>,
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
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
        }
    }

    /// The most similar live prompt of `partition` to the unit vector `query`, with its cosine
    /// similarity.
    pub fn nearest(&self, partition: &str, query: &[f32]) -> Option<(String, f32)> {
        let now = now_millis();
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .partitions
            .entry(partition.to_owned())
            .or_default()
            .push_back(Point {
                vector,
                key,
                expires_at,
            });
        inner.order.push_back(partition.to_owned());
        while inner.order.len() > self.max_entries {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            let empty = inner.partitions.get_mut(&oldest).is_some_and(|points| {
                points.pop_front();
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
}
