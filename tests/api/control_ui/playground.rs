//! The playground sends a chat through `/v1` as one of the tenant's keys: the answer, the
//! provider, the latency and the cost come back, the request is in the log, and the key's own
//! policy applies (a model it may not use is refused). Viewers cannot send.

use serde_json::Value;
use switchyard::domain::role::Role;
use switchyard::providers::ProviderKind;

use super::{between, member, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(playground_chats_through_the_gateway_as_a_key);

async fn playground_chats_through_the_gateway_as_a_key(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| {
            add_provider(
                s,
                "openai",
                ProviderKind::Openai,
                &base,
                &["gpt-test", "gpt-other"],
            );
        },
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "owner@playground.test", "Playground").await;
    let empty = owner.get("/app/playground").await;
    assert_eq!(empty.status, 200);
    super::super::pages::assert_hardened(&empty, "/app/playground");
    assert!(
        empty.html.contains("Mint a key</a> first"),
        "{}",
        empty.html
    );

    let minted = submit(
        &mut owner,
        "/app/keys",
        "/app/keys",
        &[("name", "pg"), ("models", "gpt-test")],
    )
    .await;
    assert_eq!(minted.status, 200);
    let keys: Value = serde_json::from_str(&owner.get("/api/v1/keys").await.html).unwrap();
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();
    app.wait_for_policy().await;

    let page = owner.get("/app/playground").await;
    assert!(
        page.html.contains("<option value=\"gpt-test\""),
        "{}",
        page.html
    );
    let sent = submit(
        &mut owner,
        "/app/playground",
        "/app/playground",
        &[
            ("key", &key_id),
            ("model", "gpt-test"),
            ("message", "hello there"),
        ],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    let answer = between(&sent.html, "id=\"answer-text\">", "</div>");
    assert_eq!(answer, "Echo: hello there");
    assert_eq!(
        between(&sent.html, "id=\"answer-provider\">", "<"),
        "openai"
    );
    let cost = between(&sent.html, "id=\"answer-cost\">", "<");
    assert!(
        cost.starts_with("$0.0000"),
        "priced at $1/$2 per 1M tokens: {cost}"
    );
    assert!(between(&sent.html, "id=\"answer-latency\">", "<").ends_with(" ms"));
    assert!(
        sent.html.contains("value=\"gpt-test\" selected"),
        "the form keeps the choice"
    );

    // The request is in the log, costed, for that key.
    let logs: Value =
        serde_json::from_str(&owner.get(&format!("/api/v1/logs?key={key_id}")).await.html).unwrap();
    let rows = logs["data"]
        .as_array()
        .or(logs.as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        rows.iter().any(|r| r["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("playground-"))),
        "{logs}"
    );
    assert_eq!(mock.received().len(), 1);

    // htmx: the result alone; the key's own policy applies.
    let token = super::super::pages::csrf_field(&page.html);
    let refused = owner
        .post_with_headers(
            "/app/playground",
            &[
                ("csrf_token", &token),
                ("key", &key_id),
                ("model", "gpt-other"),
                ("message", "hi"),
            ],
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(refused.status, 200, "{}", refused.html);
    assert!(!refused.html.contains("<html"));
    assert!(
        refused.html.contains("Refused (HTTP 403)"),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("not allowed to use the model"),
        "{}",
        refused.html
    );
    assert_eq!(mock.received().len(), 1, "never reached the provider");

    // A key that is not the tenant's, an empty message: the field is named.
    for (form, field) in [
        (
            vec![("key", "key_nope"), ("model", "gpt-test"), ("message", "x")],
            "key",
        ),
        (
            vec![
                ("key", key_id.as_str()),
                ("model", "gpt-test"),
                ("message", " "),
            ],
            "message",
        ),
    ] {
        let bad = submit(&mut owner, "/app/playground", "/app/playground", &form).await;
        assert_eq!(bad.status, 400, "{}", bad.html);
        assert!(between(&bad.html, "role=\"alert\" id=\"form-error\">", "</p>").contains(field));
    }

    let mut viewer = member(&app, &tenant, "viewer@playground.test", Role::Viewer).await;
    let refused = submit(
        &mut viewer,
        "/app/playground",
        "/app/playground",
        &[("key", &key_id), ("model", "gpt-test"), ("message", "hi")],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert_eq!(mock.received().len(), 1);
}

on_both_backends!(playground_applies_the_tenant_ip_allowlist_to_the_user);

/// A dashboard user outside the tenant's IP allowlist cannot reach providers through the
/// playground; the address is found by the data plane's trusted-proxy rule.
async fn playground_applies_the_tenant_ip_allowlist_to_the_user(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| {
            add_provider(s, "openai", ProviderKind::Openai, &base, &["gpt-test"]);
            s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        },
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, _) = sign_up(&app, "owner@allowlist.test", "Allowlisted").await;
    let minted = submit(&mut owner, "/app/keys", "/app/keys", &[("name", "pg")]).await;
    assert_eq!(minted.status, 200);
    let keys: Value = serde_json::from_str(&owner.get("/api/v1/keys").await.html).unwrap();
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();
    let saved = submit(
        &mut owner,
        "/app/settings",
        "/app/settings",
        &[
            ("timezone", "UTC"),
            ("retention_days", "30"),
            ("ip_allowlist", "203.0.113.0/24"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    app.wait_for_policy().await;

    let page = owner.get("/app/playground").await;
    let token = super::super::pages::csrf_field(&page.html);
    let form = [
        ("csrf_token", token.as_str()),
        ("key", key_id.as_str()),
        ("model", "gpt-test"),
        ("message", "hello"),
    ];
    // From the loopback address itself, and with a spoofed hop in front of an outside one
    // (the rightmost untrusted hop is the client): refused, readably, before any provider call.
    for forwarded in [None, Some("203.0.113.9, 198.51.100.1")] {
        let headers: Vec<(&str, &str)> = forwarded
            .map(|f| vec![("x-forwarded-for", f)])
            .unwrap_or_default();
        let refused = owner
            .post_with_headers("/app/playground", &form, &headers)
            .await;
        assert_eq!(refused.status, 403, "{forwarded:?}: {}", refused.html);
        let message = between(&refused.html, "role=\"alert\" id=\"form-error\">", "</p>");
        let from = if forwarded.is_some() {
            "198.51.100.1"
        } else {
            "127.0.0.1"
        };
        assert!(
            message.contains(&format!("Your address ({from}) is outside"))
                && message.contains("IP allowlist"),
            "{message}"
        );
        let htmx = owner
            .post_with_headers(
                "/app/playground",
                &form,
                &[headers.as_slice(), &[("hx-request", "true")]].concat(),
            )
            .await;
        assert!(
            htmx.html.contains("Refused (HTTP 403)") && htmx.html.contains("IP allowlist"),
            "{}",
            htmx.html
        );
    }
    assert_eq!(mock.received().len(), 0, "never reached the provider");

    // From inside the allowlist (through the trusted proxy): the chat goes through, so the
    // data path judged the user's address, not the playground's loopback call.
    let sent = owner
        .post_with_headers(
            "/app/playground",
            &form,
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    assert_eq!(
        between(&sent.html, "id=\"answer-text\">", "</div>"),
        "Echo: hello"
    );
    assert_eq!(mock.received().len(), 1);
}
