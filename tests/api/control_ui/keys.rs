//! Keys: the edit form sets max-concurrent and the budget; a key's last use reaches the list
//! and `/api/v1/keys` a moment after it calls `/v1`, without the data path awaiting the DB.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::providers::ProviderKind;

use super::{between, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    edit_form_sets_concurrency_and_budget,
    last_use_is_written_shortly_after_a_call,
);

async fn key_json(browser: &mut super::Browser, id: &str) -> Value {
    let page = browser.get(&format!("/api/v1/keys/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    serde_json::from_str(&page.html).unwrap()
}

async fn edit_form_sets_concurrency_and_budget(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}, None).await else {
        return;
    };
    let (mut owner, _) = sign_up(&app, "owner@keyedit.test", "Key Edit").await;
    let minted = submit(&mut owner, "/app/keys", "/app/keys", &[("name", "svc")]).await;
    assert_eq!(minted.status, 200, "{}", minted.html);
    let listed: Value = serde_json::from_str(&owner.get("/api/v1/keys").await.html).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let edit_path = format!("/app/keys/{id}");

    let form = owner.get(&edit_path).await;
    for label in ["Max concurrent requests", "Budget (USD)", "Budget period"] {
        assert!(form.html.contains(label), "{label}: {}", form.html);
    }
    let saved = submit(
        &mut owner,
        &edit_path,
        &edit_path,
        &[
            ("name", "svc"),
            ("max_concurrent", "3"),
            ("budget_usd", "12.5"),
            ("budget_period", "weekly"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let key = key_json(&mut owner, &id).await;
    assert_eq!(key["max_concurrent"], 3);
    assert_eq!(key["budget_usd"], 12.5);
    assert_eq!(key["budget_period"], "weekly");
    let list = owner.get("/app/keys").await;
    assert!(list.html.contains("3 at once"), "{}", list.html);
    assert!(list.html.contains("$12.50 weekly"), "{}", list.html);
    // The form shows what is stored.
    let form = owner.get(&edit_path).await;
    assert!(form.html.contains("value=\"12.50\""), "{}", form.html);
    assert!(
        form.html.contains("<option value=\"weekly\" selected>"),
        "{}",
        form.html
    );

    // A new period replaces the budget; the faulty field is named.
    let bad = submit(
        &mut owner,
        &edit_path,
        &edit_path,
        &[
            ("name", "svc"),
            ("budget_usd", "ten"),
            ("budget_period", "daily"),
        ],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(bad.html.contains("budget_usd"), "{}", bad.html);
    let bad = submit(
        &mut owner,
        &edit_path,
        &edit_path,
        &[("name", "svc"), ("max_concurrent", "0")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(bad.html.contains("max-concurrent"), "{}", bad.html);
    let saved = submit(
        &mut owner,
        &edit_path,
        &edit_path,
        &[
            ("name", "svc"),
            ("budget_usd", "5"),
            ("budget_period", "daily"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let key = key_json(&mut owner, &id).await;
    assert_eq!(key["budget_usd"], 5.0);
    assert_eq!(key["budget_period"], "daily");
    assert!(key["max_concurrent"].is_null(), "blank clears the limit");
    let budgets: Value = serde_json::from_str(&owner.get("/api/v1/budgets").await.html).unwrap();
    let for_key: Vec<&Value> = budgets
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["scope"].as_str().unwrap_or_default().contains(&id))
        .collect();
    assert_eq!(
        for_key.len(),
        1,
        "the weekly budget was replaced: {budgets}"
    );

    // Blank removes it.
    let saved = submit(&mut owner, &edit_path, &edit_path, &[("name", "svc")]).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert!(key_json(&mut owner, &id).await["budget_usd"].is_null());
}

async fn last_use_is_written_shortly_after_a_call(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| add_provider(s, "openai", ProviderKind::Openai, &base, &["gpt-test"]),
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, _) = sign_up(&app, "owner@lastuse.test", "Last Use").await;
    let minted = submit(&mut owner, "/app/keys", "/app/keys", &[("name", "caller")]).await;
    let secret = between(
        &minted.html,
        "id=\"new-key-secret\" class=\"secret-value\">",
        "<",
    )
    .to_owned();
    let listed: Value = serde_json::from_str(&owner.get("/api/v1/keys").await.html).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(listed[0]["last_used_at"].is_null());
    assert!(owner.get("/app/keys").await.html.contains(">never<"));

    app.wait_for_policy().await;
    let answer = app
        .post_json(
            "/v1/chat/completions",
            &secret,
            &json!({ "model": "gpt-test", "messages": [{ "role": "user", "content": "hi" }] }),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let called = Instant::now();
    let last_used = loop {
        let key = key_json(&mut owner, &id).await;
        if let Some(at) = key["last_used_at"].as_str() {
            break at.to_owned();
        }
        assert!(
            called.elapsed() < Duration::from_secs(8),
            "last_used_at not written: {key}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let at = chrono::DateTime::parse_from_rfc3339(&last_used).unwrap();
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age.num_seconds().abs() < 30, "{last_used}");
    let list = owner.get("/app/keys").await;
    let row = between(&list.html, "data-label=\"Last used\">", "<");
    assert_ne!(row, "never", "{}", list.html);
    assert!(row.contains(&at.format("%Y-%m-%d").to_string()), "{row}");
}
