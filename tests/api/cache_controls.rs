//! Semantic-cache controls and costs: a route's own similarity threshold, which a request may
//! raise but never lower; and a lookup costing at most one embedding call, whose cost is in the
//! request log and the usage rollups.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;

use crate::common::mock_provider::{MockBehavior, MockProvider, mock_vector};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events};
use crate::on_both_backends;

on_both_backends!(
    a_routes_threshold_applies_and_a_request_may_only_raise_it,
    a_lookup_costs_at_most_one_embedding_call_and_it_is_tracked,
);

async fn gateway(backend: Backend) -> Option<(Gateway, MockProvider)> {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let gw = spawn_gateway(backend, move |s| {
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &url,
            &["gpt", "embed:emb"],
        );
        s.cache.enabled = true;
        s.cache.embedding_model = Some("emb".into());
        for (name, threshold) in [("strict", 0.9995), ("loose", 0.6)] {
            s.routes.push(
                toml::from_str(&format!(
                    "name = \"{name}\"\ntargets = [ {{ model = \"gpt\" }} ]\n\
                     cache = {{ threshold = {threshold} }}"
                ))
                .expect("route TOML"),
            );
        }
    })
    .await?;
    Some((gw, mock))
}

fn cosine(a: &str, b: &str) -> f32 {
    let (a, b) = (mock_vector(a), mock_vector(b));
    let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(&a) * norm(&b))
}

/// A text built from `original` whose (mock) embedding has a cosine similarity to the
/// original's in `(lo, hi)`.
fn similar(original: &str, lo: f32, hi: f32) -> String {
    (b'!'..=b'~')
        .flat_map(|a| (b'!'..=b'~').map(move |b| format!("{original} {}{}", a as char, b as char)))
        .find(|t| {
            let c = cosine(original, t);
            c > lo && c < hi
        })
        .unwrap_or_else(|| panic!("no text with similarity in ({lo}, {hi})"))
}

fn chat(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

/// Sends a chat and returns `x-switchyard-cache`.
async fn send(gw: &Gateway, model: &str, text: &str, headers: &[(&str, &str)]) -> String {
    let mut req = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .json(&chat(model, text));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("send");
    assert_eq!(res.status(), 200);
    let header = res.headers()["x-switchyard-cache"]
        .to_str()
        .expect("header")
        .to_owned();
    res.bytes().await.expect("body");
    header
}

static NAMESPACE: AtomicUsize = AtomicUsize::new(0);

/// Stores `original` through `model` in a fresh namespace, then asks `query` there (with
/// `headers`); what the cache said to the query.
async fn after_storing(
    gw: &Gateway,
    model: &str,
    original: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> String {
    let ns = format!("ns{}", NAMESPACE.fetch_add(1, Ordering::Relaxed));
    let namespace = ("x-switchyard-cache-namespace", ns.as_str());
    assert_eq!(send(gw, model, original, &[namespace]).await, "miss");
    let mut with = headers.to_vec();
    with.push(namespace);
    send(gw, model, query, &with).await
}

async fn a_routes_threshold_applies_and_a_request_may_only_raise_it(backend: Backend) {
    let Some((gw, _mock)) = gateway(backend).await else {
        return;
    };
    // The mock's vectors have few distinct values; this original has neighbours in each band.
    let original = "How tall is the Eiffel tower";
    let close = similar(original, 0.95, 0.999);
    let middling = similar(original, 0.65, 0.9);
    let far = similar(original, 0.3, 0.55);

    // The configured default (0.95): a close text hits.
    assert_eq!(
        after_storing(&gw, "gpt", original, &close, &[]).await,
        "semantic-hit"
    );
    // Route `strict` (0.9995): the same close text misses, and a request cannot lower it.
    assert_eq!(
        after_storing(&gw, "strict", original, &close, &[]).await,
        "miss"
    );
    let lower = [("x-switchyard-cache-threshold", "0.5")];
    assert_eq!(
        after_storing(&gw, "strict", original, &close, &lower).await,
        "miss",
        "a request cannot lower the route's threshold"
    );
    // Route `loose` (0.6): a middling text hits ...
    assert_eq!(
        after_storing(&gw, "loose", original, &middling, &[]).await,
        "semantic-hit"
    );
    // ... unless the request raises the threshold ...
    let raise = [("x-switchyard-cache-threshold", "0.95")];
    assert_eq!(
        after_storing(&gw, "loose", original, &middling, &raise).await,
        "miss",
        "a request may raise the threshold"
    );
    // ... and a far text misses even when the request asks for a lower threshold.
    let lowest = [("x-switchyard-cache-threshold", "0.1")];
    assert_eq!(
        after_storing(&gw, "loose", original, &far, &lowest).await,
        "miss",
        "a request cannot go below the route's threshold"
    );
}

fn embedding_calls(mock: &MockProvider) -> usize {
    mock.received()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count()
}

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("scalar"),
        Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("scalar"),
    }
}

async fn a_lookup_costs_at_most_one_embedding_call_and_it_is_tracked(backend: Backend) {
    let Some((gw, mock)) = gateway(backend).await else {
        return;
    };
    let mut expected = 0;
    // A miss: one call; the same text again is an exact hit: none.
    assert_eq!(send(&gw, "gpt", "tides and the moon", &[]).await, "miss");
    expected += 1;
    assert_eq!(embedding_calls(&mock), expected);
    assert_eq!(send(&gw, "gpt", "tides and the moon", &[]).await, "hit");
    assert_eq!(
        embedding_calls(&mock),
        expected,
        "an exact hit embeds nothing"
    );
    // A paraphrase: one call, answered from the cache.
    assert_eq!(
        send(&gw, "gpt", "moon and the tides", &[]).await,
        "semantic-hit"
    );
    expected += 1;
    assert_eq!(embedding_calls(&mock), expected);
    // `no-cache`: looked up nowhere but stored, so embedded once.
    let no_cache = [("cache-control", "no-cache")];
    assert_eq!(
        send(&gw, "gpt", "volcanoes of Iceland", &no_cache).await,
        "bypass"
    );
    expected += 1;
    assert_eq!(embedding_calls(&mock), expected);
    // `no-store`: the cache is not used at all.
    let no_store = [("cache-control", "no-store")];
    assert_eq!(
        send(&gw, "gpt", "glaciers of Norway", &no_store).await,
        "bypass"
    );
    assert_eq!(embedding_calls(&mock), expected, "no-store embeds nothing");
    // A streamed miss and an Anthropic-format miss: one call each, none when storing.
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            &gw.key,
            &json!({ "model": "gpt", "stream": true,
                "messages": [{ "role": "user", "content": "deserts at night" }] }),
        )
        .await;
    assert_eq!(res.headers()["x-switchyard-cache"], "miss");
    sse_events(res).await;
    expected += 1;
    let res = gw
        .app
        .post_json(
            "/v1/messages",
            &gw.key,
            &json!({ "model": "gpt", "max_tokens": 32,
                "messages": [{ "role": "user", "content": "rainforests by day" }] }),
        )
        .await;
    assert_eq!(res.headers()["x-switchyard-cache"], "miss");
    res.bytes().await.expect("body");
    expected += 1;
    // An upstream error: one lookup call, and nothing more (errors are not stored).
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            &gw.key,
            &chat("gpt", "[mock:status=400]"),
        )
        .await;
    assert_eq!(res.status(), 400);
    expected += 1;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(embedding_calls(&mock), expected, "one call per lookup");

    // Each call is a request-log row of its own with its cost, summed in the usage rollups.
    let db = &gw.app.db;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = scalar(
            db,
            "SELECT COUNT(*) FROM request_logs WHERE endpoint = 'embeddings'",
        )
        .await;
        if rows >= expected as i64 || Instant::now() > deadline {
            assert_eq!(rows, expected as i64, "one log row per embedding call");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unpriced = scalar(
        db,
        "SELECT COUNT(*) FROM request_logs WHERE endpoint = 'embeddings' AND cost_nusd <= 0",
    )
    .await;
    assert_eq!(unpriced, 0, "every embedding call is priced");
    let logged = scalar(
        db,
        "SELECT CAST(COALESCE(SUM(cost_nusd), 0) AS BIGINT) FROM request_logs",
    )
    .await;
    let rolled = scalar(
        db,
        "SELECT CAST(COALESCE(SUM(cost_nusd), 0) AS BIGINT) FROM usage_rollups \
         WHERE granularity = 'day'",
    )
    .await;
    assert_eq!(rolled, logged, "the embedding cost is in the usage rollups");
}
