//! The response cache: exact and semantic hits, streamed hits in both caller formats, the cost
//! saved in the request log, replicas sharing entries through Redis, and what is never cached
//! (errors, broken streams, `no-store`, other tenants).

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{Value, json};
use switchyard::control_plane::keys;
use switchyard::providers::ProviderKind;
use switchyard::startup::Application;
use switchyard::storage::Db;

use crate::common::db::{TestDb, pgvector_admin_url};
use crate::common::mock_provider::{MockBehavior, MockProvider, mock_vector};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, spawn_gateway_on, sse_events};
use crate::on_both_backends;

on_both_backends!(
    the_same_chat_twice_is_answered_from_the_cache_at_no_cost,
    a_paraphrase_above_the_threshold_is_a_semantic_hit_one_below_a_miss,
);

async fn gateway(
    backend: Backend,
    semantic: bool,
    redis: Option<String>,
) -> Option<(Gateway, MockProvider)> {
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
        if semantic {
            s.cache.embedding_model = Some("emb".into());
        }
        s.redis_url = redis.map(switchyard::config::Secret::new);
    })
    .await?;
    Some((gw, mock))
}

fn chat(text: &str) -> Value {
    json!({ "model": "gpt", "messages": [{ "role": "user", "content": text }] })
}

fn chat_calls(mock: &MockProvider) -> usize {
    mock.received()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count()
}

fn cache_header(res: &Response) -> String {
    res.headers()
        .get("x-switchyard-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned()
}

async fn post(gw: &Gateway, path: &str, key: &str, body: &Value) -> (String, Value) {
    let res = gw.app.post_json(path, key, body).await;
    assert_eq!(res.status(), 200, "{path}");
    let header = cache_header(&res);
    (header, res.json().await.expect("json"))
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    endpoint: String,
    cache_result: Option<String>,
    cost_nusd: i64,
    saved_nusd: i64,
}

async fn rows(db: &Db, n: usize) -> Vec<Row> {
    let sql = "SELECT endpoint, cache_result, cost_nusd, saved_nusd FROM request_logs \
               ORDER BY created_at, id";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<Row> = match db {
            Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
            Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        };
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn saved_in_rollups(db: &Db) -> i64 {
    let sql = "SELECT CAST(COALESCE(SUM(saved_nusd), 0) AS BIGINT) AS saved FROM usage_rollups \
               WHERE granularity = 'day'";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let saved: i64 = match db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("sum"),
            Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("sum"),
        };
        if saved > 0 || Instant::now() >= deadline {
            return saved;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_same_chat_twice_is_answered_from_the_cache_at_no_cost(backend: Backend) {
    let Some((gw, mock)) = gateway(backend, false, None).await else {
        return;
    };
    let (first, a) = post(&gw, "/v1/chat/completions", &gw.key, &chat("hello cache")).await;
    let (second, b) = post(&gw, "/v1/chat/completions", &gw.key, &chat("hello cache")).await;
    assert_eq!((first.as_str(), second.as_str()), ("miss", "hit"));
    assert_eq!(chat_calls(&mock), 1, "the provider was called once");
    assert_eq!(
        a["choices"][0]["message"]["content"],
        b["choices"][0]["message"]["content"]
    );
    assert_eq!(b["choices"][0]["message"]["content"], "Echo: hello cache");
    assert_eq!(b["object"], "chat.completion");

    let found = rows(&gw.app.db, 2).await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].cache_result.as_deref(), Some("miss"));
    assert!(found[0].cost_nusd > 0, "{found:#?}");
    assert_eq!(found[1].cache_result.as_deref(), Some("hit"));
    assert_eq!(found[1].cost_nusd, 0, "a hit costs nothing");
    assert_eq!(
        found[1].saved_nusd, found[0].cost_nusd,
        "the saving is recorded"
    );
    assert_eq!(saved_in_rollups(&gw.app.db).await, found[0].cost_nusd);
}

/// Reads an OpenAI stream: (its text, whether it ended with `[DONE]`).
async fn openai_stream(res: Response) -> (String, bool) {
    assert_eq!(res.status(), 200);
    let events = sse_events(res).await;
    let done = events.last().is_some_and(|(_, d)| d == "[DONE]");
    let text = events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    (text, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_hits_are_well_formed_streams_in_the_callers_format() {
    let Some((gw, mock)) = gateway(Backend::Sqlite, false, None).await else {
        return;
    };
    // A streamed miss is assembled and cached; the plain call then hits it, and vice versa.
    let mut streamed = chat("stream me");
    streamed["stream"] = json!(true);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &streamed)
        .await;
    assert_eq!(cache_header(&res), "miss");
    let (text, done) = openai_stream(res).await;
    assert_eq!((text.as_str(), done), ("Echo: stream me", true));
    let (header, plain) = post(&gw, "/v1/chat/completions", &gw.key, &chat("stream me")).await;
    assert_eq!(header, "hit");
    assert_eq!(plain["choices"][0]["message"]["content"], "Echo: stream me");

    streamed["stream_options"] = json!({ "include_usage": true });
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &streamed)
        .await;
    assert_eq!(cache_header(&res), "hit");
    assert_eq!(
        res.headers()["content-type"].to_str().expect("ct"),
        "text/event-stream"
    );
    let events = sse_events(res).await;
    let chunks: Vec<Value> = events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).expect("chunk json"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    assert!(chunks.last().expect("usage")["usage"]["total_tokens"].as_u64() > Some(0));
    assert_eq!(events.last().expect("done").1, "[DONE]");
    assert_eq!(chat_calls(&mock), 1);

    // Anthropic callers: a plain miss, then a streamed hit with Anthropic's event sequence.
    let messages = json!({ "model": "gpt", "max_tokens": 64,
        "messages": [{ "role": "user", "content": "from claude" }] });
    let (header, plain) = post(&gw, "/v1/messages", &gw.key, &messages).await;
    assert_eq!(header, "miss");
    assert_eq!(plain["content"][0]["text"], "Echo: from claude");
    let mut streamed = messages.clone();
    streamed["stream"] = json!(true);
    let res = gw.app.post_json("/v1/messages", &gw.key, &streamed).await;
    assert_eq!(cache_header(&res), "hit");
    let events = sse_events(res).await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    for expected in [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let text: String = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|d| d["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Echo: from claude");
    assert_eq!(chat_calls(&mock), 2);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

async fn a_paraphrase_above_the_threshold_is_a_semantic_hit_one_below_a_miss(backend: Backend) {
    let Some((gw, mock)) = gateway(backend, true, None).await else {
        return;
    };
    let original = "What is the capital of France?";
    // The mock's vectors depend on the text's bytes only: a reordering is identical (cosine 1).
    let paraphrase = "What is the France capital of?";
    let unrelated = "Write a haiku about autumn";
    assert!(cosine(&mock_vector(original), &mock_vector(paraphrase)) > 0.999);
    let far = cosine(&mock_vector(original), &mock_vector(unrelated));
    assert!(far < 0.95, "test texts must be far apart: {far}");

    let (first, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat(original)).await;
    assert_eq!(first, "miss");
    let (second, answer) = post(&gw, "/v1/chat/completions", &gw.key, &chat(paraphrase)).await;
    assert_eq!(second, "semantic-hit");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("Echo: {original}")
    );
    let (third, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat(unrelated)).await;
    assert_eq!(third, "miss");
    assert_eq!(chat_calls(&mock), 2);
    let embeddings = mock
        .received()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count();
    assert_eq!(embeddings, 3, "one embedding call per lookup");

    // Other parameters are another partition: no semantic hit across them.
    let mut hot = chat(paraphrase);
    hot["temperature"] = json!(1.5);
    let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &hot).await;
    assert_eq!(header, "miss");

    // The embedding calls' cost is tracked in rows of their own.
    let found = rows(&gw.app.db, 8).await;
    let embedding_rows: Vec<&Row> = found
        .iter()
        .filter(|r| r.endpoint == "embeddings")
        .collect();
    assert_eq!(embedding_rows.len(), 4, "{found:#?}");
    assert!(embedding_rows.iter().all(|r| r.cost_nusd > 0));
    let hit = found
        .iter()
        .find(|r| r.cache_result.as_deref() == Some("semantic-hit"))
        .expect("semantic hit row");
    assert_eq!(hit.cost_nusd, 0);
    assert!(hit.saved_nusd > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_may_raise_the_threshold_but_not_lower_it() {
    let Some((gw, mock)) = gateway(Backend::Sqlite, true, None).await else {
        return;
    };
    let original = "How tall is the Eiffel tower";
    post(&gw, "/v1/chat/completions", &gw.key, &chat(original)).await;
    // Find a text close to, but not identical with, the original (cosine in (0.95, 1)).
    let near: Vec<String> = (b'a'..=b'z')
        .map(|c| format!("{original}{}", c as char))
        .chain((0..40).map(|n| format!("{original}{}", " ".repeat(n))))
        .filter(|t| {
            let c = cosine(&mock_vector(original), &mock_vector(t));
            c > 0.95 && c < 0.999
        })
        .collect();
    assert!(
        near.len() >= 2,
        "no near texts found for the mock's vectors"
    );
    let raised = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("x-switchyard-cache-threshold", "0.9999")
        .json(&chat(&near[0]))
        .send()
        .await
        .expect("send");
    assert_eq!(
        cache_header(&raised),
        "miss",
        "a raised threshold is honoured"
    );
    let (plain, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat(&near[1])).await;
    assert_eq!(
        plain, "semantic-hit",
        "the same kind of text hits at the default threshold"
    );
    let far = "Something else entirely, really!!";
    let similarity = cosine(&mock_vector(original), &mock_vector(far));
    assert!(similarity > 0.1 && similarity < 0.95, "{similarity}");
    let lowered = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("x-switchyard-cache-threshold", "0.1")
        .json(&chat(far))
        .send()
        .await
        .expect("send");
    assert_eq!(
        cache_header(&lowered),
        "miss",
        "a lower threshold is ignored"
    );
    assert_eq!(chat_calls(&mock), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_broken_streams_and_no_store_are_never_cached() {
    let Some((gw, mock)) = gateway(Backend::Sqlite, false, None).await else {
        return;
    };
    for _ in 0..2 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &chat("[mock:status=400]"))
            .await;
        assert_eq!(res.status(), 400);
    }
    assert_eq!(chat_calls(&mock), 2, "errors are not cached");

    let mut broken = chat("[mock:midstream-error]");
    broken["stream"] = json!(true);
    for _ in 0..2 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &broken)
            .await;
        sse_events(res).await;
    }
    assert_eq!(chat_calls(&mock), 4, "broken streams are not cached");

    let send = |text: &'static str, control: &'static str| {
        gw.app
            .client
            .post(format!("{}/v1/chat/completions", gw.app.address))
            .bearer_auth(&gw.key)
            .header("cache-control", control)
            .json(&chat(text))
            .send()
    };
    assert_eq!(
        cache_header(&send("private", "no-store").await.expect("send")),
        "bypass"
    );
    let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat("private")).await;
    assert_eq!(header, "miss", "no-store stored nothing");
    assert_eq!(chat_calls(&mock), 6);
    // no-cache: not read, but written.
    assert_eq!(
        cache_header(&send("fresh", "no-cache").await.expect("send")),
        "bypass"
    );
    assert_eq!(
        cache_header(&send("private", "no-cache").await.expect("send")),
        "bypass"
    );
    assert_eq!(chat_calls(&mock), 8);
    let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat("fresh")).await;
    assert_eq!(header, "hit", "no-cache still stored its answer");
    assert_eq!(chat_calls(&mock), 8);

    // A namespace is a separate cache.
    let res = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("x-switchyard-cache-namespace", "other")
        .json(&chat("fresh"))
        .send()
        .await
        .expect("send");
    assert_eq!(cache_header(&res), "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_share_entries_exact_or_semantic() {
    let Some((gw, mock)) = gateway(Backend::Sqlite, true, None).await else {
        return;
    };
    let other = gw.app.create_tenant("Globex").await.tenant_id;
    let other_key = gw.app.mint_key(&other, keys::KeySpec::default()).await.key;
    gw.app.wait_for_policy().await;
    let (a, _) = post(
        &gw,
        "/v1/chat/completions",
        &gw.key,
        &chat("shared secret plan"),
    )
    .await;
    assert_eq!(a, "miss");
    let (b, _) = post(
        &gw,
        "/v1/chat/completions",
        &other_key,
        &chat("shared secret plan"),
    )
    .await;
    assert_eq!(b, "miss", "tenant B never gets A's exact entry");
    // Same bytes in another order: identical vectors, still no hit across tenants.
    let (c, _) = post(
        &gw,
        "/v1/chat/completions",
        &other_key,
        &chat("secret shared plan"),
    )
    .await;
    assert_eq!(c, "semantic-hit", "B's own entry is found");
    let third = gw.app.create_tenant("Initech").await.tenant_id;
    let third_key = gw.app.mint_key(&third, keys::KeySpec::default()).await.key;
    gw.app.wait_for_policy().await;
    let (d, _) = post(
        &gw,
        "/v1/chat/completions",
        &third_key,
        &chat("plan secret shared"),
    )
    .await;
    assert_eq!(d, "miss", "tenant C never gets a semantic hit from A or B");
    assert_eq!(chat_calls(&mock), 3);
}

/// A second replica of `gw`: same database, same settings (Redis included), its own process
/// state; its address and the handle that stops it.
async fn second_replica(gw: &Gateway) -> (String, actix_web::dev::ServerHandle) {
    let settings = gw.app.settings.clone();
    let db = Db::connect(&gw.app.test_db.url, &settings.database)
        .await
        .expect("connect");
    let second = Application::build_with_db(settings, db, None)
        .await
        .expect("second replica");
    let address = format!("http://127.0.0.1:{}", second.port());
    let handle = second.handle();
    tokio::spawn(second.run_until_stopped());
    (address, handle)
}

/// A chat with `text` sent with `key` to the replica at `address`.
async fn chat_at(gw: &Gateway, address: &str, key: &str, text: &str) -> Response {
    gw.app
        .client
        .post(format!("{address}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat(text))
        .send()
        .await
        .expect("send")
}

fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_REDIS_URL is not set: the Redis tests must run in CI")
        }
        _ => {
            eprintln!("skipping Redis test: TEST_REDIS_URL is not set");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_share_the_exact_cache() {
    let Some(redis) = redis_url() else { return };
    let Some((gw, mock)) = gateway(Backend::Sqlite, false, Some(redis)).await else {
        return;
    };
    let (second_address, second_handle) = second_replica(&gw).await;

    let (first, _) = post(
        &gw,
        "/v1/chat/completions",
        &gw.key,
        &chat("across replicas"),
    )
    .await;
    assert_eq!(first, "miss");
    // The miss was written to Redis before it was answered: the second replica hits at once.
    let res = chat_at(&gw, &second_address, &gw.key, "across replicas").await;
    let header = cache_header(&res);
    let body: Value = res.json().await.expect("json");
    assert_eq!(header, "hit");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: across replicas"
    );
    assert_eq!(
        chat_calls(&mock),
        1,
        "the provider was called once across both"
    );
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("switchyard_cache_degraded 0"), "{metrics}");
    drop(second_handle.stop(false));
}

on_both_backends!(tenant_and_key_settings_from_the_cli_apply_within_a_poll);

async fn tenant_and_key_settings_from_the_cli_apply_within_a_poll(backend: Backend) {
    let Some((gw, mock)) = gateway(backend, false, None).await else {
        return;
    };
    let issued = gw.app.mint_key(&gw.tenant, keys::KeySpec::default()).await;
    let out = gw
        .app
        .cli(&["cache", "set", "--tenant", "Acme", "--enabled", "false"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let out = gw.app.cli(&[
        "cache",
        "set",
        "--tenant",
        "Acme",
        "--key",
        &issued.id,
        "--enabled",
        "true",
        "--ttl",
        "10m",
        "--threshold",
        "0.97",
        "--exact-only",
    ]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let out = gw
        .app
        .cli(&["cache", "set", "--tenant", "Acme", "--threshold", "1.5"]);
    assert!(!out.status.success(), "a threshold above 1 is refused");
    let out = gw.app.cli(&["cache", "show", "--tenant", "Acme", "--json"]);
    let view: Value = serde_json::from_str(&crate::common::stdout(&out)).expect("json");
    assert_eq!(view["tenant"], json!({ "enabled": false }));
    assert_eq!(view["keys"][0]["key_id"], issued.id.as_str());
    assert_eq!(
        view["keys"][0]["cache"],
        json!({ "enabled": true, "ttl": "10m", "threshold": 0.97, "exact_only": true })
    );
    gw.app.wait_for_policy().await;

    // The tenant switched caching off; its other key follows the tenant.
    for _ in 0..2 {
        let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat("settings")).await;
        assert_eq!(header, "bypass");
    }
    assert_eq!(chat_calls(&mock), 2);
    // The key switched it back on for itself.
    let (a, _) = post(&gw, "/v1/chat/completions", &issued.key, &chat("settings")).await;
    let (b, _) = post(&gw, "/v1/chat/completions", &issued.key, &chat("settings")).await;
    assert_eq!((a.as_str(), b.as_str()), ("miss", "hit"));
    assert_eq!(chat_calls(&mock), 3);
}

on_both_backends!(a_hit_releases_its_budget_reservation_and_spends_nothing);

async fn a_hit_releases_its_budget_reservation_and_spends_nothing(backend: Backend) {
    use switchyard::domain::budget::BudgetPeriod;
    use switchyard::domain::money::NanoUsd;
    use switchyard::policy::budget::period_start;
    use switchyard::storage::spend::{self, Charge};
    let Some((gw, mock)) = gateway(backend, false, None).await else {
        return;
    };
    let limit = 1_000_000_000;
    let spec = keys::KeySpec {
        budget: Some(NanoUsd(limit)),
        budget_period: BudgetPeriod::Monthly,
        ..Default::default()
    };
    let issued = gw.app.mint_key(&gw.tenant, spec).await;
    gw.app.wait_for_policy().await;
    for expected in ["miss", "hit", "hit"] {
        let (header, _) = post(&gw, "/v1/chat/completions", &issued.key, &chat("budgeted")).await;
        assert_eq!(header, expected);
    }
    assert_eq!(chat_calls(&mock), 1);
    let found = rows(&gw.app.db, 3).await;
    let miss_cost = found[0].cost_nusd;
    assert!(miss_cost > 0);
    let charge = Charge {
        budget_id: String::new(),
        thresholds: Vec::new(),
        tenant_id: gw.tenant.to_string(),
        scope_type: "key".into(),
        scope_id: issued.id.clone(),
        period: "monthly".into(),
        period_start: period_start("monthly", switchyard::domain::time::now_millis()),
        limit_nusd: limit,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (spent, reserved) = loop {
        let totals = spend::totals(&gw.app.db, &charge).await.expect("totals");
        // Settlement (and, with the local arbiter, the spend write) happens after the answer.
        if (totals.1 == 0 && totals.0 == miss_cost) || Instant::now() >= deadline {
            break totals;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reserved, 0, "the hits' reservations were released");
    assert_eq!(spent, miss_cost, "only the miss was charged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_share_semantic_hits() {
    let Some(redis) = redis_url() else { return };
    let Some((gw, mock)) = gateway(Backend::Sqlite, true, Some(redis)).await else {
        return;
    };
    let (second_address, second_handle) = second_replica(&gw).await;
    let (first, _) = post(
        &gw,
        "/v1/chat/completions",
        &gw.key,
        &chat("Which river runs through Paris?"),
    )
    .await;
    assert_eq!(first, "miss");
    let res = chat_at(
        &gw,
        &second_address,
        &gw.key,
        "Which river runs Paris through?",
    )
    .await;
    assert_eq!(cache_header(&res), "semantic-hit");
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: Which river runs through Paris?"
    );
    assert_eq!(
        chat_calls(&mock),
        1,
        "the provider was called once across both"
    );
    drop(second_handle.stop(false));
}

/// With pgvector in the database, replicas share the semantic index there instead of in
/// Redis: the second replica finds the first one's prompt in `cache_vectors` (the answer
/// itself comes from the exact cache in Redis), and another tenant's paraphrase finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_postgres_with_pgvector_share_semantic_hits() {
    let Some(admin) = pgvector_admin_url() else {
        return;
    };
    let Some(redis) = redis_url() else { return };
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let gw = spawn_gateway_on(TestDb::create_postgres(&admin).await, move |s| {
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &url,
            &["gpt", "embed:emb"],
        );
        s.cache.enabled = true;
        s.cache.embedding_model = Some("emb".into());
        s.redis_url = Some(switchyard::config::Secret::new(redis));
    })
    .await;
    let Db::Postgres(pool) = &gw.app.db else {
        panic!("a Postgres database")
    };
    let (second_address, second_handle) = second_replica(&gw).await;
    let (first, _) = post(
        &gw,
        "/v1/chat/completions",
        &gw.key,
        &chat("Which river runs through Paris?"),
    )
    .await;
    assert_eq!(first, "miss");
    let stored: (i64, String) =
        sqlx::query_as("SELECT COUNT(*), MIN(tenant_id) FROM cache_vectors WHERE expires_at > 0")
            .fetch_one(pool)
            .await
            .expect("cache_vectors is there: pgvector was detected");
    assert_eq!(
        stored,
        (1, gw.tenant.to_string()),
        "the prompt went to pgvector"
    );
    // Row-level security covers the vectors too: another tenant's transaction sees none.
    let (forced, policies): (bool, i64) = sqlx::query_as(
        "SELECT c.relforcerowsecurity, (SELECT COUNT(*) FROM pg_policies \
             WHERE tablename = 'cache_vectors' AND policyname = 'tenant_isolation') \
         FROM pg_class c WHERE c.relname = 'cache_vectors'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_class");
    assert!(
        forced && policies == 1,
        "forced {forced}, policies {policies}"
    );
    let tx = switchyard::storage::scope::within(
        switchyard::storage::scope::Scope::Tenant("tnt_someone_else".into()),
        gw.app.db.begin(),
    )
    .await
    .expect("begin");
    let switchyard::storage::Tx::Postgres(mut tx) = tx else {
        unreachable!()
    };
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cache_vectors")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 0, "another tenant's transaction sees the vectors");
    drop(tx);

    let res = chat_at(
        &gw,
        &second_address,
        &gw.key,
        "Which river runs Paris through?",
    )
    .await;
    assert_eq!(cache_header(&res), "semantic-hit");
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: Which river runs through Paris?"
    );
    assert_eq!(
        chat_calls(&mock),
        1,
        "the provider was called once across both"
    );

    // Another tenant's identical paraphrase is looked up in its own partition only.
    let other = gw.app.create_tenant("Other").await.tenant_id;
    let other_key = gw.app.mint_key(&other, keys::KeySpec::default()).await.key;
    gw.app.wait_for_policy().await;
    let res = chat_at(
        &gw,
        &second_address,
        &other_key,
        "Which river runs Paris through?",
    )
    .await;
    assert_eq!(cache_header(&res), "miss");
    assert_eq!(chat_calls(&mock), 2);
    drop(second_handle.stop(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_switches_the_cache_on_and_an_unreachable_redis_degrades_to_local() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.routes.push(
            toml::from_str(
                r#"name = "cached"
                   targets = [ { model = "gpt" } ]
                   cache = { enabled = true, ttl = "5m" }"#,
            )
            .expect("route TOML"),
        );
        s.redis_url = Some(switchyard::config::Secret::new("redis://127.0.0.1:1"));
    })
    .await
    else {
        return;
    };
    let mut routed = chat("via route");
    routed["model"] = json!("cached");
    let started = Instant::now();
    for expected in ["miss", "hit"] {
        let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &routed).await;
        assert_eq!(header, expected);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an unreachable Redis never stalls a call"
    );
    for _ in 0..2 {
        let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &chat("via route")).await;
        assert_eq!(header, "bypass", "the cache is off outside the route");
    }
    assert_eq!(chat_calls(&mock), 3);
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("switchyard_cache_degraded 1"), "{metrics}");
    assert!(
        metrics.contains(r#"switchyard_cache_lookups_total{result="hit"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_answers_are_cached_except_for_several_choices() {
    let Some((gw, mock)) = gateway(Backend::Sqlite, false, None).await else {
        return;
    };
    let mut tools = chat("weather in Paris");
    tools["tools"] = json!([{ "type": "function", "function": {
        "name": "get_weather",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } } }
    }}]);
    let (a, first) = post(&gw, "/v1/chat/completions", &gw.key, &tools).await;
    let (b, second) = post(&gw, "/v1/chat/completions", &gw.key, &tools).await;
    assert_eq!((a.as_str(), b.as_str()), ("miss", "hit"));
    assert_eq!(
        first["choices"][0]["message"]["tool_calls"],
        second["choices"][0]["message"]["tool_calls"]
    );
    assert_eq!(second["choices"][0]["finish_reason"], "tool_calls");
    tools["n"] = json!(2);
    for _ in 0..2 {
        let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &tools).await;
        assert_eq!(header, "miss", "tool calls to n > 1 are not cached");
    }
    assert_eq!(chat_calls(&mock), 3);

    // `x-switchyard-cache-tool-calls: true` opts in: the answer is stored and served.
    let opted_in = || {
        gw.app
            .client
            .post(format!("{}/v1/chat/completions", gw.app.address))
            .bearer_auth(&gw.key)
            .header("x-switchyard-cache-tool-calls", "true")
            .json(&tools)
            .send()
    };
    let first = opted_in().await.expect("send");
    assert_eq!(cache_header(&first), "miss");
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    let second = opted_in().await.expect("send");
    assert_eq!(
        cache_header(&second),
        "hit",
        "the opted-in answer was stored"
    );
    let second: Value = second.json().await.expect("json");
    assert_eq!(
        first["choices"][0]["message"]["tool_calls"],
        second["choices"][0]["message"]["tool_calls"]
    );
    assert_eq!(chat_calls(&mock), 4);
    // A request that did not opt in is never served that entry.
    let (header, _) = post(&gw, "/v1/chat/completions", &gw.key, &tools).await;
    assert_eq!(
        header, "miss",
        "without the header, no cached tool calls for n > 1"
    );
    assert_eq!(chat_calls(&mock), 5);
}
