//! PII policies per team and per key over the admin API (`/api/v1/teams/{id}/pii`,
//! `/api/v1/keys/{id}/pii`): a key's `block` refuses that key's requests only, a team's
//! `tokenize` applies to the team's keys, `DELETE` makes the level inherit again, every change
//! reaches the data path within a second without a restart and is audited; viewers read but
//! cannot change, another tenant's team or key is a 404, a bad policy a 400 naming the field.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::providers::ProviderKind;

use crate::common::dashboard::{Dashboard, with_token};
use crate::common::mock_provider::{MockBehavior, MockProvider, last_user_text};
use crate::common::{Backend, TestApp, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(team_and_key_policies_set_over_the_api_apply_to_their_keys);
on_both_backends!(team_and_key_policies_are_guarded_by_role_tenant_and_validation);

const EMAIL: &str = "jane.doe@example.com";

async fn app(backend: Backend) -> Option<(TestApp, MockProvider)> {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let app = spawn_app_with(
        backend,
        move |s| add_provider(s, "openai", ProviderKind::Openai, &base, &["gpt"]),
        None,
    )
    .await?;
    Some((app, mock))
}

/// Mints a key (optionally in `team`): its id and secret.
async fn mint(owner: &mut Dashboard, name: &str, team: Option<&str>) -> (String, String) {
    let issued = owner
        .post("/api/v1/keys", json!({ "name": name, "team": team }))
        .await;
    assert_eq!(issued.status, 201, "{issued:?}");
    (
        issued.body["id"].as_str().unwrap().to_owned(),
        issued.body["key"].as_str().unwrap().to_owned(),
    )
}

async fn create_team(owner: &mut Dashboard, name: &str) -> String {
    let team = owner.post("/api/v1/teams", json!({ "name": name })).await;
    assert_eq!(team.status, 201, "{team:?}");
    team.body["id"].as_str().unwrap().to_owned()
}

/// A chat with `text` as `key`: the status and the answer's text.
async fn chat(app: &TestApp, key: &str, text: &str) -> (u16, Value) {
    let res = app
        .post_json(
            "/v1/chat/completions",
            key,
            &json!({ "model": "gpt", "messages": [{ "role": "user", "content": text }] }),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

/// Calls `key` until its answer has `status`; fails unless that happens within a second of the
/// change (the data path's snapshot follows the database without a restart).
async fn within_a_second(app: &TestApp, key: &str, status: u16) -> Value {
    let changed = Instant::now();
    loop {
        let (got, body) = chat(app, key, &format!("Mail {EMAIL}")).await;
        if got == status {
            return body;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "still {got} (want {status}) a second after the change: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn audit_actions(owner: &mut Dashboard) -> Vec<(String, String)> {
    let page = owner.get("/api/v1/audit").await;
    assert_eq!(page.status, 200, "{page:?}");
    page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_type"] == "pii_policy")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn team_and_key_policies_set_over_the_api_apply_to_their_keys(backend: Backend) {
    let Some((app, mock)) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let (blocked_id, blocked) = mint(&mut owner, "blocked", None).await;
    let (_, other) = mint(&mut owner, "other", None).await;
    // Both keys work before any policy.
    within_a_second(&app, &blocked, 200).await;
    within_a_second(&app, &other, 200).await;

    // A key-level block for email: that key's request is refused, the other key's passes.
    let path = format!("/api/v1/keys/{blocked_id}/pii");
    let fresh = owner.get(&path).await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_eq!(fresh.body["inherits"], true);
    assert_eq!(fresh.body["policy"], json!({}));
    let set = owner
        .call(Method::PUT, &path, Some(json!({ "email": "block" })))
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["policy"], json!({ "email": "block" }));
    assert_eq!(set.body["inherits"], false);
    assert_eq!(set.body["effective"]["email"], "block");
    let refused = within_a_second(&app, &blocked, 400).await;
    assert_eq!(refused["error"]["code"], "pii_blocked", "{refused}");
    assert!(!refused.to_string().contains(EMAIL), "{refused}");
    let calls_before = mock.received().len();
    let (status, body) = chat(&app, &other, &format!("Mail {EMAIL}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        last_user_text(&mock.received().last().unwrap().body),
        format!("Mail {EMAIL}"),
        "the other key's request is untouched"
    );
    assert_eq!(mock.received().len(), calls_before + 1);

    // A team-level tokenize applies to the team's keys, and only to them.
    let team = create_team(&mut owner, "research").await;
    let (member_id, member) = mint(&mut owner, "member", Some("research")).await;
    within_a_second(&app, &member, 200).await;
    let set = owner
        .call(
            Method::PUT,
            &format!("/api/v1/teams/{team}/pii"),
            Some(json!({ "email": "tokenize" })),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["policy"]["email"], "tokenize");
    let changed = Instant::now();
    loop {
        let (status, body) = chat(&app, &member, &format!("Mail {EMAIL}")).await;
        assert_eq!(status, 200, "{body}");
        if last_user_text(&mock.received().last().unwrap().body) == "Mail [EMAIL_1]" {
            assert_eq!(
                body["choices"][0]["message"]["content"],
                format!("Echo: Mail {EMAIL}"),
                "the caller's answer is restored"
            );
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "the team policy did not apply within a second"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, _) = chat(&app, &other, &format!("Mail {EMAIL}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        last_user_text(&mock.received().last().unwrap().body),
        format!("Mail {EMAIL}"),
        "a key outside the team is untouched"
    );
    // The team member's key shows what it inherits.
    let inherited = owner.get(&format!("/api/v1/keys/{member_id}/pii")).await;
    assert_eq!(inherited.body["inherits"], true, "{inherited:?}");
    assert_eq!(inherited.body["inherited"]["email"], "tokenize");
    assert_eq!(inherited.body["effective"]["email"], "tokenize");

    // DELETE: the key inherits again, and its requests pass.
    let cleared = owner.call(Method::DELETE, &path, None).await;
    assert_eq!(cleared.status, 200, "{cleared:?}");
    assert_eq!(cleared.body["inherits"], true);
    within_a_second(&app, &blocked, 200).await;
    let cleared = owner
        .call(Method::DELETE, &format!("/api/v1/teams/{team}/pii"), None)
        .await;
    assert_eq!(cleared.status, 200, "{cleared:?}");

    let mut audit = audit_actions(&mut owner).await;
    audit.sort();
    let mut want = vec![
        ("pii.set".to_owned(), format!("key:{blocked_id}")),
        ("pii.set".to_owned(), format!("team:{team}")),
        ("pii.clear".to_owned(), format!("key:{blocked_id}")),
        ("pii.clear".to_owned(), format!("team:{team}")),
    ];
    want.sort();
    assert_eq!(audit, want);
}

async fn team_and_key_policies_are_guarded_by_role_tenant_and_validation(backend: Backend) {
    let Some((app, _mock)) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let team = create_team(&mut owner, "research").await;
    let (key, _) = mint(&mut owner, "k", Some("research")).await;
    let paths = [
        format!("/api/v1/teams/{team}/pii"),
        format!("/api/v1/keys/{key}/pii"),
    ];

    // A bad policy is a 400 naming the field; nothing is stored.
    for path in &paths {
        for (body, field) in [
            (json!({ "email": "shred" }), "email"),
            (
                json!({ "custom": [{ "name": "EMP", "pattern": "E-1", "action": "burn" }] }),
                "custom[0].action",
            ),
            (
                json!({ "custom": [{ "name": "EMP", "pattern": "E-(", "action": "redact" }] }),
                "custom",
            ),
        ] {
            let bad = owner.call(Method::PUT, path, Some(body.clone())).await;
            assert_eq!(bad.status, 400, "{path} {body}: {bad:?}");
            assert_eq!(bad.code(), "invalid_request");
            assert_eq!(bad.body["error"]["field"], field, "{path} {body}: {bad:?}");
        }
        assert_eq!(owner.get(path).await.body["inherits"], true, "{path}");
    }

    // Viewers (session or token) read but cannot change.
    let viewer_token = owner
        .post("/api/v1/tokens", json!({ "name": "ro", "role": "viewer" }))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in &paths {
        let read = with_token(&app, &viewer_token, Method::GET, path, None).await;
        assert_eq!(read.status, 200, "{path}: {read:?}");
        for (method, body) in [
            (Method::PUT, Some(json!({ "email": "allow" }))),
            (Method::DELETE, None),
        ] {
            let refused = with_token(&app, &viewer_token, method.clone(), path, body).await;
            assert_eq!(refused.status, 403, "{method} {path}: {refused:?}");
            assert_eq!(refused.code(), "forbidden");
        }
    }

    // Another tenant's team and key are not found, by session and by token.
    let mut other = Dashboard::signup(&app, "bob@beta.test", "Beta").await;
    let other_token = other
        .post("/api/v1/tokens", json!({ "name": "b", "role": "owner" }))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in &paths {
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({ "email": "allow" }))),
            (Method::DELETE, None),
        ] {
            let by_session = other.call(method.clone(), path, body.clone()).await;
            let by_token = with_token(&app, &other_token, method.clone(), path, body).await;
            for answer in [by_session, by_token] {
                assert_eq!(answer.status, 404, "{method} {path}: {answer:?}");
                assert_eq!(answer.code(), "not_found");
            }
        }
    }
    assert!(
        audit_actions(&mut owner).await.is_empty(),
        "refused changes leave no trace"
    );
    let stored = owner.get(&paths[1]).await;
    assert_eq!(stored.body["inherits"], true, "{stored:?}");
}
