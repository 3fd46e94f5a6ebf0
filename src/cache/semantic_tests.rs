use super::*;

fn unit(v: Vec<f32>) -> Vec<f32> {
    normalized(v).expect("non-zero")
}

/// A deterministic pseudo-random unit vector (xorshift), clustered around one of `clusters`
/// centres the way embeddings of related prompts are.
fn clustered(seed: u64, dims: usize, clusters: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f32 / 10_000.0 - 0.5
    };
    let centre = seed % clusters;
    let mut c = centre.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    let v = (0..dims)
        .map(|_| {
            c ^= c << 13;
            c ^= c >> 7;
            c ^= c << 17;
            ((c % 10_000) as f32 / 10_000.0 - 0.5) + 0.6 * next()
        })
        .collect();
    unit(v)
}

fn exact_nearest(points: &[Vec<f32>], query: &[f32]) -> usize {
    points
        .iter()
        .enumerate()
        .max_by(|a, b| dot(a.1, query).total_cmp(&dot(b.1, query)))
        .map(|(i, _)| i)
        .expect("points")
}

#[test]
fn the_nearest_prompt_of_the_same_partition_only() {
    let index = SemanticIndex::new(10);
    let later = now_millis() + 60_000;
    index.insert("a", unit(vec![1.0, 0.0]), "k1".into(), later);
    index.insert("a", unit(vec![0.0, 1.0]), "k2".into(), later);
    index.insert("b", unit(vec![1.0, 0.1]), "k3".into(), later);
    let (key, sim) = index.nearest("a", &unit(vec![0.9, 0.1])).expect("found");
    assert_eq!(key, "k1");
    assert!(sim > 0.98);
    assert!(index.nearest("c", &unit(vec![1.0, 0.0])).is_none());
    // Another length (another embedding model) is never compared.
    assert!(index.nearest("a", &unit(vec![1.0, 0.0, 0.0])).is_none());
}

#[test]
fn the_index_is_bounded_oldest_first() {
    let index = SemanticIndex::new(2);
    let later = now_millis() + 60_000;
    for (i, v) in [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]].into_iter().enumerate() {
        index.insert("a", unit(v.to_vec()), format!("k{i}"), later);
    }
    assert_eq!(index.len(), 2);
    let (key, _) = index.nearest("a", &unit(vec![1.0, 0.0])).expect("found");
    assert_eq!(key, "k2", "k0 was evicted");
}

#[test]
fn expired_prompts_are_never_served_and_are_swept() {
    let index = SemanticIndex::new(10);
    let now = now_millis();
    index.insert("a", unit(vec![1.0, 0.0]), "old".into(), now - 1);
    assert!(index.nearest("a", &unit(vec![1.0, 0.0])).is_none());
    index.insert("a", unit(vec![0.0, 1.0]), "new".into(), now + 60_000);
    let (key, _) = index
        .nearest("a", &unit(vec![1.0, 0.0]))
        .expect("the live one");
    assert_eq!(key, "new");
    assert_eq!(index.len(), 2, "not swept yet");
    std::thread::sleep(std::time::Duration::from_millis(SWEEP_EVERY_MS as u64 + 50));
    index.insert("a", unit(vec![1.0, 1.0]), "newer".into(), now + 60_000);
    assert_eq!(
        index.len(),
        2,
        "the expired prompt was swept on the next write"
    );
}

#[test]
fn a_large_partition_becomes_a_graph_with_high_recall() {
    let (dims, n) = (48, 3_000u64);
    let index = SemanticIndex::new(10_000);
    let later = now_millis() + 600_000;
    let points: Vec<Vec<f32>> = (0..n).map(|i| clustered(i, dims, 40)).collect();
    for (i, p) in points.iter().enumerate() {
        index.insert("p", p.clone(), format!("k{i}"), later);
    }
    index.settle();
    assert!(index.is_graph("p"));
    assert_eq!(index.len(), n as usize);
    // Every stored prompt finds itself.
    for i in (0..n as usize).step_by(97) {
        let (key, sim) = index.nearest("p", &points[i]).expect("found");
        assert!(sim > 0.999, "{key}: {sim}");
    }
    // Recall@1 against the exact scan, for queries near (not on) stored prompts.
    let queries = 300u64;
    let hits = (0..queries)
        .filter(|q| {
            let mut query = clustered(n + q, dims, 40);
            let base = &points[(q * 7 % n) as usize];
            for (x, b) in query.iter_mut().zip(base) {
                *x = 0.3 * *x + b;
            }
            let query = unit(query);
            let want = format!("k{}", exact_nearest(&points, &query));
            index.nearest("p", &query).is_some_and(|(k, _)| k == want)
        })
        .count();
    assert!(
        hits as f64 / queries as f64 >= 0.95,
        "recall@1 {hits}/{queries}"
    );
}

#[test]
fn evictions_leave_tombstones_until_the_graph_is_rebuilt() {
    let dims = 16;
    let index = SemanticIndex::new(1_400);
    let later = now_millis() + 600_000;
    let points: Vec<Vec<f32>> = (0..1_200u64).map(|i| clustered(i, dims, 10)).collect();
    for (i, p) in points.iter().enumerate() {
        index.insert("a", p.clone(), format!("a{i}"), later);
    }
    index.settle();
    assert!(index.is_graph("a"));
    // Another partition's prompts push the oldest 500 of `a` out.
    for i in 0..700u64 {
        index.insert("b", clustered(10_000 + i, dims, 10), format!("b{i}"), later);
    }
    assert_eq!(index.len(), 1_400);
    assert_eq!(index.tombstones("a"), 500);
    // Evicted prompts are never answered, even for their own vector.
    for i in (0..500).step_by(50) {
        let (key, _) = index.nearest("a", &points[i]).expect("a live neighbour");
        let n: usize = key[1..].parse().expect("id");
        assert!(n >= 500, "{key} was evicted");
    }
    // The next write to `a` rebuilds it from its live points (and evicts one more).
    index.insert("a", clustered(99_999, dims, 10), "late".into(), later);
    index.settle();
    assert_eq!(index.tombstones("a"), 0);
    assert!(index.is_graph("a"));
    let (key, sim) = index.nearest("a", &points[900]).expect("found");
    assert_eq!(key, "a900");
    assert!(sim > 0.999);
}

#[test]
fn a_partition_shrunk_by_eviction_goes_back_to_an_exact_scan() {
    let dims = 8;
    let index = SemanticIndex::new(1_100);
    let later = now_millis() + 600_000;
    for i in 0..1_100u64 {
        index.insert("a", clustered(i, dims, 5), format!("a{i}"), later);
    }
    index.settle();
    assert!(index.is_graph("a"));
    for i in 0..900u64 {
        index.insert("b", clustered(50_000 + i, dims, 5), format!("b{i}"), later);
    }
    let last = clustered(77, dims, 5);
    index.insert("a", last.clone(), "last".into(), later);
    index.settle();
    assert!(!index.is_graph("a"), "{} live prompts left", 200);
    let (key, _) = index.nearest("a", &last).expect("found");
    assert!(key == "last" || key == "a77", "{key}");
}

#[test]
fn unit_cosine_is_never_negative() {
    let v = unit(vec![0.3, 0.4, 0.5, 0.6, 0.7]);
    assert!(UnitCosine.eval(&v, &v) >= 0.0);
    assert!((UnitCosine.eval(&v, &v)).abs() < 1e-6);
    let w: Vec<f32> = v.iter().map(|x| -x).collect();
    assert!((UnitCosine.eval(&v, &w) - 2.0).abs() < 1e-5);
}

#[test]
fn the_laned_dot_product_matches_the_plain_one() {
    for len in [0usize, 1, 7, 8, 9, 1536, 1539] {
        let a: Vec<f32> = (0..len).map(|i| (i % 13) as f32 * 0.1 - 0.5).collect();
        let b: Vec<f32> = (0..len).map(|i| (i % 7) as f32 * 0.2 - 0.6).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(
            (dot(&a, &b) - plain).abs() <= 1e-3 * plain.abs().max(1.0),
            "{len}"
        );
    }
    assert_eq!(
        dot(&[1.0, 2.0, 3.0], &[1.0]),
        1.0,
        "the shorter length counts"
    );
}
