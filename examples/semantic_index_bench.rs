//! Measures the semantic cache's in-process index against an exact cosine scan:
//! `cargo run --release --example semantic_index_bench [-- SIZES [DIMS [QUERIES]]]`
//! (default `10000,100000 1536 200`).
//!
//! For each size it fills one partition with clustered unit vectors (embeddings of related
//! prompts sit in clusters), then times lookups through the index (an HNSW graph at these
//! sizes) and through a plain scan of the same vectors, and reports recall@1 of the index
//! against the scan for two kinds of query: paraphrase-like (a stored prompt's vector plus
//! noise, the case a cache hit comes from) and unrelated (fresh vectors of the same
//! distribution, the case of a miss).

use std::time::{Duration, Instant};

use switchyard::cache::semantic::{SemanticIndex, dot, normalized};

/// A deterministic generator of clustered unit vectors.
struct Vectors {
    dims: usize,
    centres: Vec<Vec<f32>>,
    state: u64,
}

impl Vectors {
    fn new(dims: usize, clusters: usize) -> Self {
        let mut v = Vectors {
            dims,
            centres: Vec::new(),
            state: 0x9E37_79B9_7F4A_7C15,
        };
        v.centres = (0..clusters).map(|_| v.noise(1.0)).collect();
        v
    }

    fn next(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % 1_000_000) as f32 / 1_000_000.0 - 0.5
    }

    fn noise(&mut self, scale: f32) -> Vec<f32> {
        (0..self.dims).map(|_| scale * self.next()).collect()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        normalized(v).unwrap_or_default()
    }

    /// A vector near a random cluster centre.
    fn point(&mut self) -> Vec<f32> {
        let c = (self.state % self.centres.len() as u64) as usize;
        let noise = self.noise(0.8);
        Self::unit(
            self.centres[c]
                .iter()
                .zip(noise)
                .map(|(a, b)| a + b)
                .collect(),
        )
    }

    /// A vector near `base` (a paraphrase of a stored prompt).
    fn near(&mut self, base: &[f32]) -> Vec<f32> {
        let noise = self.noise(0.15);
        Self::unit(base.iter().zip(noise).map(|(a, b)| a + b).collect())
    }
}

fn exact(points: &[Vec<f32>], query: &[f32]) -> (usize, f32) {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| (i, dot(p, query)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(label: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let median = percentile(&times, 0.5);
    println!(
        "  {label:<28} median {:>10.3?}   p99 {:>10.3?}",
        median,
        percentile(&times, 0.99)
    );
    median
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args
        .first()
        .map_or("10000,100000", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dims: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1536);
    let queries: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    println!("semantic index vs exact scan, {dims} dimensions, {queries} queries per kind");
    for n in sizes {
        let mut vectors = Vectors::new(dims, 1 + n / 100);
        let points: Vec<Vec<f32>> = (0..n).map(|_| vectors.point()).collect();
        let index = SemanticIndex::new(n);
        let later = switchyard::domain::time::now_millis() + 86_400_000;
        let started = Instant::now();
        for (i, p) in points.iter().enumerate() {
            index.insert("bench", p.clone(), i.to_string(), later);
        }
        index.settle();
        let built = started.elapsed();
        println!(
            "\n{n} vectors: inserted in {built:.1?} ({:.0?} each), graph: {}",
            built / n as u32,
            index.is_graph("bench")
        );
        for (kind, near) in [("paraphrase", true), ("unrelated", false)] {
            let qs: Vec<Vec<f32>> = (0..queries)
                .map(|q| {
                    if near {
                        let base = points[(q * 7919) % n].clone();
                        vectors.near(&base)
                    } else {
                        vectors.point()
                    }
                })
                .collect();
            let mut hnsw_times = Vec::with_capacity(queries);
            let mut scan_times = Vec::with_capacity(queries);
            let mut agree = 0;
            for q in &qs {
                let t = Instant::now();
                let found = index.nearest("bench", q);
                hnsw_times.push(t.elapsed());
                let t = Instant::now();
                let (want, _) = exact(&points, q);
                scan_times.push(t.elapsed());
                if found.is_some_and(|(key, _)| key == want.to_string()) {
                    agree += 1;
                }
            }
            println!("  {kind} queries:");
            let h = report("index (HNSW) lookup", hnsw_times);
            let s = report("exact scan", scan_times);
            println!(
                "  {:<28} {:.3} ({agree}/{queries}); speed-up {:.1}x",
                "recall@1 vs exact",
                agree as f64 / queries as f64,
                s.as_secs_f64() / h.as_secs_f64().max(1e-9)
            );
        }
    }
}
