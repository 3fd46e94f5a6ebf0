//! The admin API for providers, models, routes, the PII policy and cache settings: the same
//! services as the pages, JSON errors naming the field, admin-only changes, another tenant's
//! objects out of reach.

use reqwest::Method;
use serde_json::json;
use switchyard::config::Secret;

use super::MASTER_KEY;
use crate::common::dashboard::Dashboard;
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(gateway_configuration_over_the_admin_api);

async fn gateway_configuration_over_the_admin_api(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(app) = spawn_app_with(
        backend,
        |s| {
            s.master_key = Some(Secret::new(MASTER_KEY));
            s.egress.allow_private_networks = true;
        },
        None,
    )
    .await
    else {
        return;
    };
    let mut a = Dashboard::signup(&app, "ada@api-config.test", "Api A").await;
    let mut b = Dashboard::signup(&app, "bob@api-config.test", "Api B").await;

    let added = a
        .post(
            "/api/v1/providers",
            json!({ "name": "local", "kind": "openai-compatible", "base_url": mock.base_url,
                    "api_key": "sk-api-local-0123456789" }),
        )
        .await;
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.body["masked_key"], "sk-…6789");
    assert!(!added.body.to_string().contains("sk-api-local-0123456789"));
    let bad = a
        .post(
            "/api/v1/providers",
            json!({ "name": "x", "kind": "openai-compatible", "base_url": "http://10.0.0.1/v1",
                    "api_key": "k" }),
        )
        .await;
    assert_eq!(
        bad.status, 201,
        "private networks are allowed on this server: {bad:?}"
    );
    let bad = a
        .post(
            "/api/v1/providers",
            json!({ "name": "y", "kind": "martian", "api_key": "k" }),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "kind");
    let tested = a.post("/api/v1/providers/local/test", json!({})).await;
    assert_eq!(tested.status, 200, "{tested:?}");
    assert_eq!(tested.body["ok"], true);

    let model = a
        .call(
            Method::PUT,
            "/api/v1/models/my-gpt",
            Some(json!({ "provider": "local", "upstream": "gpt-4o-mini", "input_usd_per_mtok": 1.5 })),
        )
        .await;
    assert_eq!(model.status, 200, "{model:?}");
    assert_eq!(model.body["input_usd_per_mtok"], 1.5);
    let bad = a
        .call(
            Method::PUT,
            "/api/v1/models/other",
            Some(json!({ "provider": "nope", "upstream": "x" })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "provider");

    let route = a
        .call(
            Method::PUT,
            "/api/v1/routes/chat",
            Some(json!({ "targets": [{ "model": "my-gpt", "weight": 2 }], "timeout": "10s" })),
        )
        .await;
    assert_eq!(route.status, 200, "{route:?}");
    assert_eq!(route.body["definition"]["targets"][0]["weight"], 2);
    let bad = a
        .call(
            Method::PUT,
            "/api/v1/routes/chat",
            Some(json!({ "targets": [{ "model": "ghost" }] })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "targets");
    assert_eq!(a.get("/api/v1/routes").await.body[0]["name"], "chat");

    let pii = a
        .call(
            Method::PUT,
            "/api/v1/pii",
            Some(json!({ "email": "redact", "custom": [{ "name": "EMP", "pattern": "EMP-\\d+", "action": "mask" }] })),
        )
        .await;
    assert_eq!(pii.status, 200, "{pii:?}");
    assert_eq!(a.get("/api/v1/pii").await.body["email"], "redact");
    let bad = a
        .call(
            Method::PUT,
            "/api/v1/pii",
            Some(json!({ "email": "shred" })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "email");
    let cache = a
        .call(
            Method::PATCH,
            "/api/v1/cache",
            Some(json!({ "enabled": true, "ttl": "5m" })),
        )
        .await;
    assert_eq!(cache.status, 200, "{cache:?}");
    assert_eq!(a.get("/api/v1/cache").await.body["ttl"], "5m");
    let bad = a
        .call(
            Method::PATCH,
            "/api/v1/cache",
            Some(json!({ "threshold": 3 })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "threshold");

    // Tenant B sees none of it and cannot touch it.
    for path in ["/api/v1/providers", "/api/v1/models", "/api/v1/routes"] {
        assert_eq!(b.get(path).await.body, json!([]), "{path}");
    }
    assert_eq!(b.get("/api/v1/pii").await.body, json!({}));
    for (method, path) in [
        (Method::DELETE, "/api/v1/providers/local"),
        (Method::POST, "/api/v1/providers/local/test"),
        (Method::DELETE, "/api/v1/models/my-gpt"),
        (Method::DELETE, "/api/v1/routes/chat"),
    ] {
        let answer = b.call(method.clone(), path, Some(json!({}))).await;
        assert_eq!(answer.status, 404, "{method} {path}: {answer:?}");
    }
    let borrowed = b
        .call(
            Method::PUT,
            "/api/v1/models/mine",
            Some(json!({ "provider": "local", "upstream": "gpt-4o-mini" })),
        )
        .await;
    assert_eq!(
        borrowed.status, 400,
        "A's credential is not B's: {borrowed:?}"
    );

    for (method, path) in [
        (Method::DELETE, "/api/v1/routes/chat"),
        (Method::DELETE, "/api/v1/models/my-gpt"),
        (Method::DELETE, "/api/v1/providers/local"),
    ] {
        let answer = a.call(method.clone(), path, None).await;
        assert_eq!(answer.status, 204, "{method} {path}: {answer:?}");
    }
    assert_eq!(a.get("/api/v1/models").await.body, json!([]));
}
