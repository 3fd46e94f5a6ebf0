//! Settings → PII & cache: the organisation's PII policy and cache settings saved through the
//! forms, applied by the data path, with readable errors naming the field; admins only.

use serde_json::json;
use switchyard::control_plane::{cache, pii};
use switchyard::domain::ids::TenantId;
use switchyard::domain::role::Role;
use switchyard::providers::ProviderKind;
use switchyard::storage::pii_settings::Level;

use super::{between, member, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider, last_user_text};
use crate::common::{Backend, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(pii_policy_and_cache_settings_are_saved_and_applied);

const PAGE: &str = "/app/settings/privacy";

fn alert(html: &str) -> &str {
    between(html, "role=\"alert\" id=\"form-error\">", "</p>")
}

async fn pii_policy_and_cache_settings_are_saved_and_applied(backend: Backend) {
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
    let (mut owner, tenant) = sign_up(&app, "owner@privacy.test", "Privacy").await;
    let tenant_id = TenantId::from_db(tenant.clone());
    let page = owner.get(PAGE).await;
    assert_eq!(page.status, 200, "{}", page.html);
    super::super::pages::assert_hardened(&page, PAGE);
    assert!(
        owner
            .get("/app/settings")
            .await
            .html
            .contains("href=\"/app/settings/privacy\"")
    );

    // Errors name the field and keep what was typed.
    let bad = submit(
        &mut owner,
        PAGE,
        "/app/settings/pii",
        &[
            ("pii_email", "redact"),
            ("custom_name", "EMPLOYEE_ID"),
            ("custom_pattern", "EMP-(\\d"),
            ("custom_action", "redact"),
        ],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(alert(&bad.html).contains("custom"), "{}", alert(&bad.html));
    assert!(
        alert(&bad.html).contains("EMPLOYEE_ID"),
        "{}",
        alert(&bad.html)
    );
    assert!(
        bad.html.contains("value=\"EMP-(\\d\""),
        "refilled: {}",
        bad.html
    );
    let bad = submit(
        &mut owner,
        PAGE,
        "/app/settings/pii",
        &[("pii_card", "shred")],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        alert(&bad.html).contains("pii_card"),
        "{}",
        alert(&bad.html)
    );

    let saved = submit(
        &mut owner,
        PAGE,
        "/app/settings/pii",
        &[
            ("pii_email", "redact"),
            ("pii_card", "block"),
            ("custom_name", "EMPLOYEE_ID"),
            ("custom_pattern", "EMP-\\d{6}"),
            ("custom_action", "redact"),
            ("custom_name", ""),
            ("custom_pattern", ""),
            ("custom_action", "redact"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let policy = pii::get(&app.db, &tenant_id, &Level::Tenant).await.unwrap();
    assert_eq!(policy.email.map(|a| a.as_str()), Some("redact"));
    assert_eq!(policy.card.map(|a| a.as_str()), Some("block"));
    assert_eq!(policy.custom.len(), 1);
    let page = owner.get(&format!("{PAGE}?saved=pii")).await;
    assert!(page.html.contains("PII policy saved"));
    assert!(page.html.contains("value=\"EMPLOYEE_ID\""));
    assert!(page.html.contains("<option value=\"block\" selected>"));

    // The data path applies it.
    let minted = submit(&mut owner, "/app/keys", "/app/keys", &[("name", "k")]).await;
    let secret = between(&minted.html, "class=\"secret-value\">", "<").to_owned();
    app.wait_for_policy().await;
    let res = app
        .post_json(
            "/v1/chat/completions",
            &secret,
            &json!({ "model": "gpt-test", "messages": [{ "role": "user",
                "content": "mail jane@example.com about EMP-123456" }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let upstream = last_user_text(&mock.received().last().unwrap().body);
    assert!(
        upstream.contains("[EMAIL]") && upstream.contains("[EMPLOYEE_ID]"),
        "{upstream}"
    );
    assert!(!upstream.contains("jane@example.com"), "{upstream}");

    // Cache settings.
    for (form, field) in [
        (
            vec![("enabled", "on"), ("ttl", "soon"), ("threshold", "0.9")],
            "ttl",
        ),
        (
            vec![("enabled", "on"), ("ttl", "10m"), ("threshold", "2")],
            "threshold",
        ),
        (
            vec![("enabled", "on"), ("ttl", "10m"), ("threshold", "high")],
            "threshold",
        ),
    ] {
        let bad = submit(&mut owner, PAGE, "/app/settings/cache", &form).await;
        assert_eq!(bad.status, 400, "{form:?}: {}", bad.html);
        assert!(alert(&bad.html).contains(field), "{}", alert(&bad.html));
    }
    let saved = submit(
        &mut owner,
        PAGE,
        "/app/settings/cache",
        &[
            ("enabled", "on"),
            ("ttl", "10m"),
            ("threshold", "0.9"),
            ("exact_only", "on"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let view = cache::show(&app.db, &tenant_id).await.unwrap().tenant;
    assert_eq!(view.enabled, Some(true));
    assert_eq!(view.ttl, Some(std::time::Duration::from_secs(600)));
    assert_eq!(view.threshold, Some(0.9));
    assert_eq!(view.exact_only, Some(true));
    let page = owner.get(PAGE).await;
    assert!(page.html.contains("value=\"10m\"") && page.html.contains("value=\"0.9\""));
    let saved = submit(&mut owner, PAGE, "/app/settings/cache", &[("ttl", "10m")]).await;
    assert_eq!(saved.status, 303);
    let view = cache::show(&app.db, &tenant_id).await.unwrap().tenant;
    assert_eq!(view.enabled, Some(false), "an unticked box switches it off");

    // Members read but cannot change.
    let mut reader = member(&app, &tenant, "member@privacy.test", Role::Member).await;
    let read = reader.get(PAGE).await;
    assert_eq!(read.status, 200);
    assert!(!read.html.contains("id=\"save-pii\""));
    let refused = submit(
        &mut reader,
        PAGE,
        "/app/settings/pii",
        &[("pii_email", "off")],
    )
    .await;
    assert_eq!(refused.status, 403);
    let refused = submit(&mut reader, PAGE, "/app/settings/cache", &[("ttl", "1m")]).await;
    assert_eq!(refused.status, 403);
}
