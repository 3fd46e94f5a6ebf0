//! Credits on the data path: reservations under concurrency, 402s, BYOK, markup, alerts, cache.

use super::*;
use crate::on_both_backends;

on_both_backends!(
    concurrent_requests_never_overdraw_credits_by_more_than_one_request,
    byok_models_never_touch_the_balance_and_markup_applies,
    an_empty_balance_is_a_402_in_the_callers_format,
    concurrent_settlements_share_one_usage_transaction_per_day,
);

async fn concurrent_requests_never_overdraw_credits_by_more_than_one_request(backend: Backend) {
    let mock = MockProvider::start(MockBehavior {
        delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let Some(gw) = gateway(backend, Some(&mock), 0.0).await else {
        return;
    };
    let initial = 5 * MAX_COST;
    billing::grant(&gw.app.db, &gw.tenant, initial, "test credits", Actor::CLI)
        .await
        .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    let statuses: Vec<(u16, Value)> = futures_util::stream::iter(0..100)
        .map(|_| {
            let (app, key, body) = (&gw.app, &gw.key, &body);
            async move {
                let res = app.post_json("/v1/chat/completions", key, body).await;
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let admitted = statuses.iter().filter(|(s, _)| *s == 200).count() as i64;
    for (status, body) in &statuses {
        if *status != 200 {
            assert_eq!(*status, 402, "{body}");
            assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
        }
    }
    assert!(admitted >= 5, "only {admitted} admitted");
    assert!(admitted < 100, "the balance was never exhausted");
    let (after, reserved) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert_eq!(reserved, 0, "every reservation was settled");
    assert_eq!(after, initial - admitted * ACTUAL);
    assert!(
        after >= -MAX_COST,
        "overdrawn by more than one request: {after}"
    );
    eprintln!(
        "{backend:?}: 100 concurrent requests on a balance of {initial} nUSD: {admitted} admitted, \
         final balance {after} nUSD"
    );
    assert_eq!(
        mock.received().len() as i64,
        admitted,
        "refused calls never reached the provider"
    );
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn byok_models_never_touch_the_balance_and_markup_applies(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(gw) = gateway(backend, Some(&mock), 50.0).await else {
        return;
    };
    let chat = |model: &str| json!({ "model": model, "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    // BYOK works at a zero balance and leaves the ledger empty.
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("byok"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await, (0, 0));
    assert_eq!(ledger_len(&gw.app.db, &gw.tenant).await, 0);

    billing::grant(&gw.app.db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    for _ in 0..3 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &chat("byok"))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    let (after, _) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert_eq!(
        after,
        NanoUsd::PER_USD - ACTUAL * 3 / 2,
        "cost plus 50 % markup"
    );
    // One usage transaction per UTC day takes every draw-down.
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 != NanoUsd::PER_USD - ACTUAL * 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ledger = billing::ledger(&gw.app.db, &gw.tenant, 10)
        .await
        .expect("ledger");
    let usage: Vec<_> = ledger.iter().filter(|t| t.kind == "usage").collect();
    assert_eq!(usage.len(), 1, "{ledger:?}");
    assert_eq!(usage[0].amount_nusd, -ACTUAL * 3);

    // A stream settles when it ends.
    let mut streamed = chat("gpt");
    streamed["stream"] = json!(true);
    let before = balance(&gw.app.db, &gw.tenant).await.0;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &streamed)
        .await;
    assert_eq!(res.status(), 200);
    let events = crate::common::sse_events(res).await;
    assert!(!events.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, reserved) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert!(after < before, "the stream was charged");
    assert_eq!(reserved, 0);
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn an_empty_balance_is_a_402_in_the_callers_format(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(gw) = gateway(backend, Some(&mock), 0.0).await else {
        return;
    };
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            &gw.key,
            &json!({ "model": "gpt", "messages": [{ "role": "user", "content": "x" }] }),
        )
        .await;
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("credit")
    );

    let res = gw
        .app
        .client
        .post(format!("{}/v1/messages", gw.app.address))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({ "model": "gpt", "max_tokens": 10, "messages": [{ "role": "user", "content": "x" }] }))
        .send()
        .await
        .expect("messages");
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "billing_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("credit")
    );
    let res = gw
        .app
        .post_json(
            "/v1/embeddings",
            &gw.key,
            &json!({ "model": "emb", "input": "x" }),
        )
        .await;
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
    assert!(mock.received().is_empty(), "nothing reached the provider");
    assert_eq!(balance(&gw.app.db, &gw.tenant).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_low_balance_alert_fires_once_per_crossing() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.models[0].billing = Billing::Credits;
        // Crossed by the third request.
        s.billing.low_balance_usd = Some(1.0);
    })
    .await
    else {
        return;
    };
    let threshold = NanoUsd::PER_USD;
    billing::grant(
        &gw.app.db,
        &gw.tenant,
        threshold + 2 * ACTUAL + ACTUAL / 2,
        "t",
        Actor::CLI,
    )
    .await
    .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    for _ in 0..6 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        wait_for_settlements(&gw.app.db, &gw.tenant).await;
    }
    let low = |rows: &[switchyard::storage::notifications::NotificationRow]| {
        rows.iter()
            .filter(|n| n.kind == "credits.low_balance")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let rows = switchyard::storage::notifications::list(&gw.app.db, &gw.tenant, false, 50)
            .await
            .expect("notifications");
        if low(&rows) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second (wrong) alert would have been raised by a later settlement, already awaited.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = switchyard::storage::notifications::list(&gw.app.db, &gw.tenant, false, 50)
        .await
        .expect("notifications");
    assert_eq!(low(&rows), 1, "{rows:?}");
}

async fn concurrent_settlements_share_one_usage_transaction_per_day(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let (db, tenant) = (&gw.app.db, gw.tenant.as_str());
    billing::grant(db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    for _ in 0..20 {
        assert!(
            credits::reserve(db, tenant, 5_000, 0)
                .await
                .expect("reserve")
        );
    }
    let settlement = credits::UsageSettlement {
        tenant_id: tenant,
        reserved_nusd: 5_000,
        actual_nusd: 1_000,
        day: "2030-01-01",
        now: 0,
    };
    let settled =
        futures_util::future::join_all((0..20).map(|_| credits::settle(db, &settlement))).await;
    assert!(settled.iter().all(Result::is_ok), "{settled:?}");
    assert_eq!(
        balance(db, &gw.tenant).await,
        (NanoUsd::PER_USD - 20_000, 0)
    );
    let ledger = billing::ledger(db, &gw.tenant, 10).await.expect("ledger");
    let usage: Vec<_> = ledger.iter().filter(|t| t.kind == "usage").collect();
    assert_eq!(usage.len(), 1, "{ledger:?}");
    assert_eq!(usage[0].amount_nusd, -20_000);
    assert_ledger_consistent(db, &gw.tenant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_draws_no_credits() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.models[0].billing = Billing::Credits;
        s.cache.enabled = true;
    })
    .await
    else {
        return;
    };
    billing::grant(&gw.app.db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "cached" }] });
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        outcomes.push(
            res.headers()
                .get("x-switchyard-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<none>")
                .to_owned(),
        );
        wait_for_settlements(&gw.app.db, &gw.tenant).await;
    }
    assert_eq!(outcomes, ["miss", "hit"]);
    assert_eq!(mock.received().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 == NanoUsd::PER_USD && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await,
        (NanoUsd::PER_USD - ACTUAL, 0),
        "only the miss was charged"
    );
}
