//! PII redaction together with the response cache and body logging: the cache and the log only
//! ever hold placeholders, and a cache hit gives each caller back its own values.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::control_plane::{Actor, pii};
use switchyard::policy::pii::{Action, PiiPolicy};
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;
use switchyard::storage::pii_settings::Level;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, run_binary, spawn_gateway, stderr};
use crate::on_both_backends;

on_both_backends!(cache_and_log_hold_placeholders_and_hits_restore_the_callers_values);

const EMAIL: &str = "jane.doe@example.com";

#[derive(sqlx::FromRow, Debug)]
struct Row {
    cache_result: Option<String>,
    request_body: Option<String>,
    response_body: Option<String>,
}

async fn rows(db: &Db) -> Vec<Row> {
    let sql = "SELECT cache_result, request_body, response_body FROM request_logs \
               WHERE endpoint = 'chat.completions' ORDER BY created_at, id";
    match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
    }
}

async fn cache_and_log_hold_placeholders_and_hits_restore_the_callers_values(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.cache.enabled = true;
    })
    .await
    else {
        return;
    };
    let policy = PiiPolicy {
        email: Some(Action::Tokenize),
        ..PiiPolicy::default()
    };
    pii::put(&gw.app.db, &gw.tenant, &Level::Tenant, &policy, Actor::CLI)
        .await
        .expect("policy");
    let out = run_binary(
        &["tenant", "set", "Acme", "--log-bodies", "true"],
        &[("DATABASE_URL", gw.app.test_db.url.as_str())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    gw.app.wait_for_policy().await;

    let body = json!({ "model": "gpt", "messages": [{ "role": "user", "content": format!("write to {EMAIL}") }] });
    let mut answers = Vec::new();
    for _ in 0..2 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        let header = res.headers()["x-switchyard-cache"]
            .to_str()
            .unwrap()
            .to_owned();
        let v: Value = res.json().await.unwrap();
        answers.push((
            header,
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    assert_eq!(answers[0].0, "miss");
    assert_eq!(answers[1].0, "hit");
    for (_, text) in &answers {
        assert!(
            text.contains(EMAIL),
            "the caller sees its own value: {text}"
        );
        assert!(!text.contains("[EMAIL_1]"));
    }
    assert_eq!(mock.received().len(), 1);
    assert!(!mock.received()[0].body.to_string().contains(EMAIL));

    let deadline = Instant::now() + Duration::from_secs(5);
    let found = loop {
        let found = rows(&gw.app.db).await;
        if found.len() == 2 || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(found.len(), 2, "{found:?}");
    let miss = &found[0];
    assert_eq!(miss.cache_result.as_deref(), Some("miss"));
    let logged = format!(
        "{} {}",
        miss.request_body.as_deref().unwrap_or_default(),
        miss.response_body.as_deref().unwrap_or_default()
    );
    assert!(logged.contains("[EMAIL_1]"), "{logged}");
    assert!(
        !logged.contains(EMAIL),
        "no personal data in the log: {logged}"
    );
    for r in &found {
        for b in [&r.request_body, &r.response_body].into_iter().flatten() {
            assert!(!b.contains(EMAIL), "{b}");
        }
    }
}
