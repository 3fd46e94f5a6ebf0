//! The in-process semantic index: per partition (tenant + namespace + route + embedding model +
//! hash of everything but the last user turn) the embedded prompts seen, each pointing at the
//! exact-cache entry holding its answer. A lookup only ever reads its own partition (the tenant
//! is part of the partition key, so no other tenant's vectors are even touched).
//!
//! A small partition (at most [`FLAT_MAX`] prompts) is scanned exactly: that is faster than a
//! graph at that size and needs no upkeep. A larger one is an HNSW graph ([`hnsw_rs`], cosine
//! on unit vectors). The graph cannot delete, so an evicted or expired prompt becomes a
//! tombstone the search filters out; once tombstones exceed a quarter of a graph's points, the
//! partition is rebuilt from its live points on a background thread while lookups keep using
//! the old graph (a shrunken partition goes back to an exact scan). The whole index holds at
//! most `cache.max_entries` live prompts, oldest out first; expired prompts are swept out of a
//! partition when it is next written (at most once a second).
//!
//! Locks: the map of partitions and the global eviction order sit behind one lock, held only
//! for bookkeeping; each partition has its own, so a graph insert or a rebuild's swap only
//! delays lookups of that one partition.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hnsw_rs::hnsw::Point;
use hnsw_rs::prelude::{Distance, Hnsw};

use crate::domain::time::now_millis;

/// Partitions of up to this many prompts are scanned exactly rather than through a graph.
pub const FLAT_MAX: usize = 1024;
/// Neighbours kept per graph node and layer.
const MAX_CONNECTIONS: usize = 16;
/// Candidates explored while inserting.
const EF_CONSTRUCTION: usize = 100;
/// Candidates explored while searching (also the number of neighbours asked, so tombstones
/// among the nearest still leave live ones to answer with). 64 gave recall@1 0.94 on 100k
/// clustered 1536-dimension vectors (`examples/semantic_index_bench`), 128 gives 0.975 for
/// about 1.8 times the lookup time (a few milliseconds, beside an embedding call's tens).
const EF_SEARCH: usize = 128;
const MAX_LAYERS: usize = 16;
/// How often a partition's expired prompts are swept out (on its next write).
const SWEEP_EVERY_MS: i64 = 1_000;

/// Cosine distance between unit vectors, `1 - a·b`, never negative (rounding can push the dot
/// product of a vector with itself above 1, and the graph requires non-negative distances).
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = 1.0 - dot(a, b);
        if d.is_nan() { 1.0 } else { d.max(0.0) }
    }
}

type Graph = Hnsw<'static, f32, UnitCosine>;

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

/// The dot product (cosine similarity of unit vectors), over the shorter of the two. Summed in
/// eight independent lanes so the compiler can vectorise it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

struct Entry {
    /// The exact-cache key of the answer.
    key: String,
    expires_at: i64,
}

/// Where a partition's vectors are.
enum Vectors {
    /// Scanned exactly.
    Flat(HashMap<u64, Arc<[f32]>>),
    /// An HNSW graph, possibly holding tombstones (points no longer in `live`).
    Graph(Arc<Graph>),
}

/// A vector to (re)build from: one of a flat partition's, or a point of a graph.
enum Source {
    Flat(Arc<[f32]>),
    Point(Arc<Point<'static, f32>>),
}

impl Source {
    fn slice(&self) -> &[f32] {
        match self {
            Source::Flat(v) => v,
            Source::Point(p) => p.get_v(),
        }
    }
}

struct State {
    dims: usize,
    live: HashMap<u64, Entry>,
    vectors: Vectors,
    /// A background rebuild is under way.
    rebuilding: bool,
    next_sweep: i64,
}

impl State {
    /// Drops a prompt; whether it was live.
    fn remove(&mut self, id: u64) -> bool {
        if let Vectors::Flat(points) = &mut self.vectors {
            points.remove(&id);
        }
        self.live.remove(&id).is_some()
    }

    /// Drops expired prompts; how many.
    fn sweep(&mut self, now: i64) -> usize {
        self.next_sweep = now + SWEEP_EVERY_MS;
        let expired: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.remove(*id);
        }
        expired.len()
    }

    /// Points in the graph that are no longer live.
    fn tombstones(&self) -> usize {
        match &self.vectors {
            Vectors::Flat(_) => 0,
            Vectors::Graph(g) => g.get_nb_point().saturating_sub(self.live.len()),
        }
    }

    /// Whether the partition should be rebuilt: a flat one grown past [`FLAT_MAX`], or a graph
    /// whose tombstones exceed a quarter of its points.
    fn needs_rebuild(&self) -> bool {
        !self.rebuilding
            && match &self.vectors {
                Vectors::Flat(points) => points.len() > FLAT_MAX,
                Vectors::Graph(g) => self.tombstones() * 4 > g.get_nb_point(),
            }
    }

    /// The live vectors, less those whose id is in `except`.
    fn sources(&self, except: &HashSet<u64>) -> Vec<(u64, Source)> {
        let wanted = |id: u64| !except.contains(&id) && self.live.contains_key(&id);
        match &self.vectors {
            Vectors::Flat(points) => points
                .iter()
                .filter(|(id, _)| wanted(**id))
                .map(|(id, v)| (*id, Source::Flat(v.clone())))
                .collect(),
            Vectors::Graph(g) if g.get_nb_point() > 0 => g
                .get_point_indexation()
                .into_iter()
                .filter_map(|p| {
                    let id = u64::try_from(p.get_origin_id()).ok()?;
                    wanted(id).then_some((id, Source::Point(p)))
                })
                .collect(),
            Vectors::Graph(_) => Vec::new(),
        }
    }
}

struct Partition {
    state: RwLock<State>,
}

#[derive(Default)]
struct Inner {
    partitions: HashMap<String, Arc<Partition>>,
    /// Insertion order over all partitions, for eviction: (partition, id). Entries of prompts
    /// already gone are skipped (and compacted away when they pile up).
    order: VecDeque<(String, u64)>,
    /// Live prompts over all partitions.
    live: usize,
    next_id: u64,
}

/// The index.
pub struct SemanticIndex {
    inner: RwLock<Inner>,
    max_entries: usize,
}

fn new_graph(capacity: usize) -> Graph {
    Hnsw::new(
        MAX_CONNECTIONS,
        capacity.max(FLAT_MAX),
        MAX_LAYERS,
        EF_CONSTRUCTION,
        UnitCosine,
    )
}

fn data_id(id: u64) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX)
}

/// Builds a partition's vectors from `sources`: a graph, or a flat set when few are left.
fn build(sources: &[(u64, Source)]) -> Vectors {
    if sources.len() <= FLAT_MAX / 2 {
        return Vectors::Flat(
            sources
                .iter()
                .map(|(id, s)| (*id, Arc::from(s.slice())))
                .collect(),
        );
    }
    let graph = new_graph(sources.len() * 2);
    let points: Vec<(&[f32], usize)> = sources
        .iter()
        .map(|(id, s)| (s.slice(), data_id(*id)))
        .collect();
    graph.parallel_insert_slice(&points);
    Vectors::Graph(Arc::new(graph))
}

/// Rebuilds a partition from its live points, then swaps the result in together with the
/// points added meanwhile. Lookups use the old vectors until the swap.
fn rebuild(partition: &Partition) {
    let sources = read(&partition.state).sources(&HashSet::new());
    let mut built = build(&sources);
    let seen: HashSet<u64> = sources.iter().map(|(id, _)| *id).collect();
    drop(sources);
    let mut st = write(&partition.state);
    // Points added while the new vectors were built.
    let late = st.sources(&seen);
    match &mut built {
        Vectors::Flat(points) => {
            points.extend(late.iter().map(|(id, s)| (*id, Arc::from(s.slice()))));
        }
        Vectors::Graph(graph) => {
            for (id, s) in &late {
                graph.insert_slice((s.slice(), data_id(*id)));
            }
        }
    }
    // Prompts that died during the build are tombstones of the new graph (or dropped from the
    // flat set).
    if let Vectors::Flat(points) = &mut built {
        points.retain(|id, _| st.live.contains_key(id));
    }
    st.vectors = built;
    st.rebuilding = false;
}

impl SemanticIndex {
    /// An index holding at most `max_entries` prompts.
    pub fn new(max_entries: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_entries: max_entries.max(1),
        }
    }

    fn partition(&self, name: &str) -> Option<Arc<Partition>> {
        read(&self.inner).partitions.get(name).cloned()
    }

    /// The most similar live prompt of `partition` to the unit vector `query`, with its cosine
    /// similarity.
    pub fn nearest(&self, partition: &str, query: &[f32]) -> Option<(String, f32)> {
        let partition = self.partition(partition)?;
        let now = now_millis();
        let st = read(&partition.state);
        if query.len() != st.dims {
            return None;
        }
        let alive = |id: u64| st.live.get(&id).filter(|e| e.expires_at > now);
        let (entry, similarity) = match &st.vectors {
            Vectors::Flat(points) => points
                .iter()
                .filter_map(|(id, v)| alive(*id).map(|e| (e, dot(v, query))))
                .max_by(|a, b| a.1.total_cmp(&b.1))?,
            Vectors::Graph(graph) => {
                let first_alive = |found: Vec<hnsw_rs::hnsw::Neighbour>| {
                    found.into_iter().find_map(|n| {
                        let entry = alive(u64::try_from(n.d_id).ok()?)?;
                        Some((entry, 1.0 - n.distance))
                    })
                };
                // The nearest EF_SEARCH points, then the first live one among them. hnsw_rs's
                // filtered search gives up its early stop (it walks most of the graph), so it
                // is only the fallback for when tombstones crowd every one of them out.
                first_alive(graph.search(query, EF_SEARCH, EF_SEARCH)).or_else(|| {
                    let filter = |id: &usize| u64::try_from(*id).ok().and_then(alive).is_some();
                    first_alive(graph.search_filter(query, EF_SEARCH, EF_SEARCH, Some(&filter)))
                })?
            }
        };
        Some((entry.key.clone(), similarity))
    }

    /// Adds a prompt (unit vector) whose answer is cached under `key`. A vector of another
    /// length than the partition's is ignored.
    pub fn insert(&self, partition: &str, vector: Vec<f32>, key: String, expires_at: i64) {
        let vector: Arc<[f32]> = vector.into();
        let now = now_millis();
        let (part, id, into_graph) = {
            let mut inner = write(&self.inner);
            let inner = &mut *inner;
            let part = inner
                .partitions
                .entry(partition.to_owned())
                .or_insert_with(|| {
                    Arc::new(Partition {
                        state: RwLock::new(State {
                            dims: vector.len(),
                            live: HashMap::new(),
                            vectors: Vectors::Flat(HashMap::new()),
                            rebuilding: false,
                            next_sweep: now + SWEEP_EVERY_MS,
                        }),
                    })
                })
                .clone();
            let id = inner.next_id;
            let into_graph = {
                let mut st = write(&part.state);
                if st.dims != vector.len() {
                    return;
                }
                if now >= st.next_sweep {
                    inner.live -= st.sweep(now).min(inner.live);
                }
                st.live.insert(id, Entry { key, expires_at });
                match &mut st.vectors {
                    Vectors::Flat(points) => {
                        points.insert(id, vector.clone());
                        false
                    }
                    Vectors::Graph(_) => true,
                }
            };
            inner.next_id += 1;
            inner.live += 1;
            inner.order.push_back((partition.to_owned(), id));
            self.evict(inner);
            (part, id, into_graph)
        };
        let mut st = write(&part.state);
        if into_graph && st.live.contains_key(&id) {
            match &mut st.vectors {
                Vectors::Graph(graph) => graph.insert_slice((&vector, data_id(id))),
                // A rebuild shrank the partition back to a flat set meanwhile.
                Vectors::Flat(points) => {
                    points.insert(id, vector.clone());
                }
            }
        }
        if st.needs_rebuild() {
            st.rebuilding = true;
            drop(st);
            let worker = part.clone();
            let spawned = std::thread::Builder::new()
                .name("cache-index".into())
                .spawn(move || rebuild(&worker));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "semantic index rebuild could not start");
                write(&part.state).rebuilding = false;
            }
        }
    }

    /// Drops the oldest prompts until at most `max_entries` are live.
    fn evict(&self, inner: &mut Inner) {
        while inner.live > self.max_entries {
            let Some((name, id)) = inner.order.pop_front() else {
                inner.live = 0;
                break;
            };
            let Some(part) = inner.partitions.get(&name).cloned() else {
                continue;
            };
            let mut st = write(&part.state);
            if st.remove(id) {
                inner.live -= 1;
            }
            if st.live.is_empty() && !st.rebuilding {
                drop(st);
                inner.partitions.remove(&name);
            }
        }
        if inner.order.len() > 2 * self.max_entries + 64 {
            let partitions = &inner.partitions;
            inner.order.retain(|(name, id)| {
                partitions
                    .get(name)
                    .is_some_and(|p| read(&p.state).live.contains_key(id))
            });
        }
    }

    /// Live prompts over all partitions (expired ones count until they are swept).
    pub fn len(&self) -> usize {
        read(&self.inner).live
    }

    /// Whether the index holds no prompts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `partition` is searched through a graph (rather than scanned exactly).
    pub fn is_graph(&self, partition: &str) -> bool {
        self.partition(partition)
            .is_some_and(|p| matches!(read(&p.state).vectors, Vectors::Graph(_)))
    }

    /// Tombstones in `partition`'s graph (0 for an exactly scanned partition).
    pub fn tombstones(&self, partition: &str) -> usize {
        self.partition(partition)
            .map_or(0, |p| read(&p.state).tombstones())
    }

    /// Waits until no background rebuild is under way (for tests and benchmarks).
    pub fn settle(&self) {
        loop {
            let busy = read(&self.inner)
                .partitions
                .values()
                .any(|p| read(&p.state).rebuilding);
            if !busy {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
#[path = "semantic_tests.rs"]
mod tests;
