//! Per-key rate limits: in-process, and shared across replicas through Redis.

use serde_json::{Value, json};
use switchyard::control_plane::keys;
use switchyard::providers::ProviderKind;
use switchyard::startup::Application;
use switchyard::storage::Db;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, spawn_gateway};

fn chat(text: &str) -> Value {
    json!({ "model": "gpt", "messages": [{ "role": "user", "content": text }] })
}

fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but TEST_REDIS_URL is not set: the Redis tests must run in CI")
        }
        _ => {
            eprintln!("skipping Redis test: TEST_REDIS_URL is not set");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_after_the_limit_gets_a_429_with_retry_after() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
    })
    .await
    else {
        return;
    };
    let spec = keys::KeySpec {
        rpm: Some(3),
        tpm: Some(1_000),
        ..Default::default()
    };
    let limited = gw.app.mint_key(&gw.tenant, spec).await.key;
    gw.app.wait_for_policy().await;
    for _ in 0..3 {
        assert_eq!(
            gw.app
                .post_json("/v1/chat/completions", &limited, &chat("x"))
                .await
                .status(),
            200
        );
    }
    let res = gw
        .app
        .post_json("/v1/chat/completions", &limited, &chat("x"))
        .await;
    assert_eq!(res.status(), 429);
    let after: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&after), "{after}");
    assert_eq!(res.headers()["x-ratelimit-limit-requests"], "3");
    assert_eq!(res.headers()["x-ratelimit-remaining-requests"], "0");
    assert!(res.headers().contains_key("x-ratelimit-reset-requests"));
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        mock.received().len(),
        3,
        "the refused call never reached the provider"
    );
    // Another key is not affected.
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &chat("x"))
            .await
            .status(),
        200
    );

    // Tokens per minute count the estimated prompt.
    let spec = keys::KeySpec {
        tpm: Some(50),
        ..Default::default()
    };
    let tpm = gw.app.mint_key(&gw.tenant, spec).await.key;
    gw.app.wait_for_policy().await;
    let long = "word ".repeat(200);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &tpm, &chat(&long))
        .await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["x-ratelimit-limit-tokens"], "50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_share_the_limit() {
    let Some(redis) = redis_url() else { return };
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let shared = redis.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.redis_url = Some(switchyard::config::Secret::new(shared));
    })
    .await
    else {
        return;
    };
    // A second replica: same database, same Redis, its own process state.
    let second_settings = gw.app.settings.clone();
    let db = Db::connect(&gw.app.test_db.url, &second_settings.database)
        .await
        .expect("connect");
    let second = Application::build_with_db(second_settings, db, None)
        .await
        .expect("second replica");
    let second_address = format!("http://127.0.0.1:{}", second.port());
    let second_handle = second.handle();
    tokio::spawn(second.run_until_stopped());

    let spec = keys::KeySpec {
        rpm: Some(10),
        ..Default::default()
    };
    let key = gw.app.mint_key(&gw.tenant, spec).await.key;
    gw.app.wait_for_policy().await;
    let mut admitted = 0;
    for i in 0..16 {
        let address = if i % 2 == 0 {
            &gw.app.address
        } else {
            &second_address
        };
        let status = gw
            .app
            .client
            .post(format!("{address}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("x"))
            .send()
            .await
            .expect("send")
            .status();
        admitted += usize::from(status == 200);
    }
    assert_eq!(admitted, 10, "the limit holds across both replicas");
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("switchyard_ratelimit_degraded 0"),
        "{metrics}"
    );
    drop(second_handle.stop(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_replica_enforces_its_share_and_says_so() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        // Nothing listens on port 1: shared limiting is unavailable from the start.
        s.redis_url = Some(switchyard::config::Secret::new("redis://127.0.0.1:1"));
        s.server.replicas = 2;
    })
    .await
    else {
        return;
    };
    let spec = keys::KeySpec {
        rpm: Some(10),
        ..Default::default()
    };
    let key = gw.app.mint_key(&gw.tenant, spec).await.key;
    gw.app.wait_for_policy().await;
    let mut admitted = 0;
    for _ in 0..12 {
        admitted += usize::from(
            gw.app
                .post_json("/v1/chat/completions", &key, &chat("x"))
                .await
                .status()
                == 200,
        );
    }
    assert_eq!(admitted, 5, "limit / replicas, never unlimited");
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("switchyard_ratelimit_degraded 1"),
        "{metrics}"
    );
}
