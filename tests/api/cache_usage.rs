//! What the response cache saved, as the Usage page and `GET /api/v1/usage` show it: a hit
//! records the cost of the answer it reused, per model and in total, for its own tenant only.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::providers::ProviderKind;

use crate::common::dashboard::{Answer, Dashboard};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(a_hit_shows_its_saving_in_usage_page_and_api);

fn group<'a>(answer: &'a Answer, name: &str) -> &'a Value {
    answer.body["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["group"] == name))
        .unwrap_or(&Value::Null)
}

async fn a_hit_shows_its_saving_in_usage_page_and_api(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| {
            add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
            s.cache.enabled = true;
        },
        None,
    )
    .await
    else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let mut other = Dashboard::signup(&app, "bob@beta.test", "Beta").await;
    let key = owner
        .post("/api/v1/keys", json!({ "name": "cached" }))
        .await
        .body["key"]
        .as_str()
        .expect("key")
        .to_owned();
    app.wait_for_policy().await;

    // Before any hit, nothing is saved.
    let page = owner.get("/app/usage?group_by=model&days=1").await;
    assert_eq!(page.status, 200);
    let html = page.body.as_str().expect("html").to_owned();
    assert!(html.contains("Saved by cache"), "{html}");
    assert!(html.contains(r#"id="usage-saved">$0.00<"#), "{html}");

    let chat = json!({ "model": "gpt", "messages": [{ "role": "user", "content": "save me" }] });
    for expected in ["miss", "hit"] {
        let res = app.post_json("/v1/chat/completions", &key, &chat).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-switchyard-cache"], expected);
    }

    // The request log: the miss cost money, the hit saved exactly that.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let logs = owner.get("/api/v1/logs").await;
        let rows = logs.body["data"].as_array().map_or(0, Vec::len);
        if rows >= 2 || Instant::now() > deadline {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rows = logs.body["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{logs:?}");
    let hit = rows.iter().find(|r| r["cache"] == "hit").expect("hit row");
    let miss = rows
        .iter()
        .find(|r| r["cache"] == "miss")
        .expect("miss row");
    let cost = miss["cost_nusd"].as_i64().expect("cost");
    assert!(cost > 0, "{miss}");
    assert_eq!(hit["cost_nusd"], 0);
    assert_eq!(hit["saved_nusd"].as_i64(), Some(cost));
    assert_eq!(miss["saved_nusd"], 0);

    // The API: per model and in total.
    let by_model = owner.get("/api/v1/usage?group_by=model").await;
    assert_eq!(by_model.status, 200, "{by_model:?}");
    let gpt = group(&by_model, "gpt");
    assert_eq!(gpt["requests"], 2, "{by_model:?}");
    assert_eq!(gpt["cost_nusd"].as_i64(), Some(cost));
    assert_eq!(gpt["saved_nusd"].as_i64(), Some(cost), "{by_model:?}");
    assert!(gpt["saved_usd"].as_f64().is_some_and(|usd| usd > 0.0));
    assert_eq!(by_model.body["saved_by_cache_nusd"].as_i64(), Some(cost));
    let by_day = owner.get("/api/v1/usage?group_by=day").await;
    assert_eq!(by_day.body["saved_by_cache_nusd"].as_i64(), Some(cost));
    let by_user = owner.get("/api/v1/usage?group_by=user").await;
    assert_eq!(by_user.body["saved_by_cache_nusd"].as_i64(), Some(cost));

    // The page: the total and the model's column, in the dashboard's money format.
    let shown = switchyard::control_plane::dashboard::usd(cost);
    let page = owner.get("/app/usage?group_by=model&days=1").await;
    let html = page.body.as_str().expect("html").to_owned();
    assert!(
        html.contains(&format!(r#"id="usage-saved">{shown}<"#)),
        "total saving {shown} missing: {html}"
    );
    assert!(
        html.contains(&format!(
            r#"<td data-label="Saved by cache" class="num">{shown}</td>"#
        )),
        "per-model saving {shown} missing: {html}"
    );
    let csv = owner.get("/app/usage.csv?group_by=model&days=1").await;
    let csv = csv.body.as_str().expect("csv").to_owned();
    assert!(
        csv.lines()
            .next()
            .is_some_and(|h| h.ends_with(",saved_usd")),
        "{csv}"
    );

    // Another tenant sees none of it.
    let theirs = other.get("/api/v1/usage?group_by=model").await;
    assert_eq!(theirs.body["saved_by_cache_nusd"], 0, "{theirs:?}");
    assert_eq!(theirs.body["groups"], json!([]));
    let page = other.get("/app/usage?group_by=model&days=1").await;
    let html = page.body.as_str().expect("html").to_owned();
    assert!(html.contains(r#"id="usage-saved">$0.00<"#), "{html}");
}
