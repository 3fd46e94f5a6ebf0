//! Bring-your-own provider credentials: sealed at rest (no plaintext anywhere in the database,
//! audit included), shown masked, checked against the egress policy, tested against the
//! provider's model list without echoing its answer, on SQLite and Postgres.

use serde_json::Value;

use crate::common::db::columns_containing;
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, binary_command, spawn_gateway, stderr, stdout};
use crate::on_both_backends;
use serde_json::json;
use switchyard::config::Secret;
use switchyard::providers::ProviderKind;

on_both_backends!(
    provider_credentials_are_sealed_masked_guarded_and_testable,
    tenant_models_are_served_with_the_tenant_s_own_key
);

const MASTER_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c";

fn run(args: &[&str], envs: &[(&str, &str)], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let (mut cmd, _dir) = binary_command(envs);
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

async fn provider_credentials_are_sealed_masked_guarded_and_testable(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(gw) = spawn_gateway(backend, |_| {}).await else {
        return;
    };
    let db_url = gw.app.test_db.url.clone();
    let allowed = [
        ("DATABASE_URL", db_url.as_str()),
        ("SWITCHYARD_MASTER_KEY", MASTER_KEY),
        ("SWITCHYARD_EGRESS__ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    let secret = format!("sk-canary-{}", uuid::Uuid::now_v7().simple());
    let add = |name: &str, key: &str, envs: &[(&str, &str)]| {
        run(
            &[
                "provider",
                "add",
                "--tenant",
                "Acme",
                "--name",
                name,
                "--kind",
                "openai",
                "--base-url",
                &mock.base_url,
                "--api-key-stdin",
                "--json",
            ],
            envs,
            key,
        )
    };

    // Without the master key nothing can be stored.
    let out = add("main", &secret, &[allowed[0], allowed[2]]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SWITCHYARD_MASTER_KEY"),
        "{}",
        stderr(&out)
    );
    // A loopback base URL is refused unless the operator allows internal networks.
    let out = add("main", &secret, &allowed[..2]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not allowed"), "{}", stderr(&out));
    let metadata = run(
        &[
            "provider",
            "add",
            "--tenant",
            "Acme",
            "--name",
            "meta",
            "--kind",
            "openai-compatible",
            "--base-url",
            "http://169.254.169.254/latest",
            "--api-key-stdin",
        ],
        &allowed[..2],
        "sk-x",
    );
    assert!(!metadata.status.success());

    let out = add("main", &secret, &allowed);
    assert!(out.status.success(), "{}", stderr(&out));
    let added: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(added["kind"], "openai");
    let masked = added["masked_key"].as_str().unwrap();
    assert!(masked.starts_with("sk-") && masked.ends_with(&secret[secret.len() - 4..]));
    assert!(!stdout(&out).contains(&secret));
    let again = add("main", &secret, &allowed);
    assert!(stderr(&again).contains("already exists"));

    // The key is nowhere in the database in plaintext (credential rows, audit, anything).
    assert!(columns_containing(&gw.app.db, &secret).await.is_empty());
    assert!(
        columns_containing(&gw.app.db, &secret[10..])
            .await
            .is_empty()
    );

    let listed = run(
        &["provider", "list", "--tenant", "Acme", "--json"],
        &allowed,
        "",
    );
    let listed: Value = serde_json::from_str(&stdout(&listed)).expect("json");
    assert_eq!(listed[0]["name"], "main");
    assert!(!listed.to_string().contains(&secret));

    let tested = run(
        &["provider", "test", "--tenant", "Acme", "--name", "main"],
        &allowed,
        "",
    );
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(stdout(&tested).contains("accepted the key"));

    // A refused key fails the test without echoing the provider's answer.
    let out = add("wrong", "sk-wrong", &allowed);
    assert!(out.status.success(), "{}", stderr(&out));
    let tested = run(
        &["provider", "test", "--tenant", "Acme", "--name", "wrong"],
        &allowed,
        "",
    );
    assert!(!tested.status.success());
    let text = format!("{}{}", stdout(&tested), stderr(&tested));
    assert!(text.contains("refused the key (HTTP 401)"), "{text}");
    assert!(!text.contains("upstream-body-marker"), "{text}");

    // Internal networks become unreachable again when the operator withdraws permission.
    let tested = run(
        &["provider", "test", "--tenant", "Acme", "--name", "main"],
        &allowed[..2],
        "",
    );
    assert!(!tested.status.success());

    let removed = run(
        &["provider", "remove", "--tenant", "Acme", "--name", "wrong"],
        &allowed,
        "",
    );
    assert!(removed.status.success(), "{}", stderr(&removed));
}

async fn tenant_models_are_served_with_the_tenant_s_own_key(backend: Backend) {
    let platform = MockProvider::start(MockBehavior::default()).await;
    let own = MockProvider::start(MockBehavior::default()).await;
    let url = platform.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.master_key = Some(Secret::new(MASTER_KEY));
        s.egress.allow_private_networks = true;
    })
    .await
    else {
        return;
    };
    let other_tenant = gw.app.create_tenant("Other").await.tenant_id;
    let outsider = gw
        .app
        .mint_key(
            &other_tenant,
            switchyard::control_plane::keys::KeySpec::default(),
        )
        .await
        .key;
    let db_url = gw.app.test_db.url.clone();
    let env = [
        ("DATABASE_URL", db_url.as_str()),
        ("SWITCHYARD_MASTER_KEY", MASTER_KEY),
        ("SWITCHYARD_EGRESS__ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    let ok = |args: &[&str], stdin: &str| {
        let out = run(args, &env, stdin);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(
        &[
            "provider",
            "add",
            "--tenant",
            "Acme",
            "--name",
            "own",
            "--kind",
            "openai",
            "--base-url",
            &own.base_url,
            "--api-key-stdin",
        ],
        "sk-acme-own-key-123456",
    );
    ok(
        &[
            "model",
            "set",
            "--tenant",
            "Acme",
            "--name",
            "my-gpt",
            "--provider",
            "own",
            "--upstream",
            "gpt-4o-mini",
        ],
        "",
    );
    // The tenant's own "gpt" shadows the platform's, for this tenant only.
    ok(
        &[
            "model",
            "set",
            "--tenant",
            "Acme",
            "--name",
            "gpt",
            "--provider",
            "own",
            "--upstream",
            "gpt-4o-mini",
        ],
        "",
    );
    gw.app.wait_for_policy().await;
    let body =
        |model: &str| json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });

    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body("my-gpt"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-switchyard-provider"], "own");
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    let seen = own.received();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer sk-acme-own-key-123456"))
    );
    assert_eq!(seen[0].body["model"], "gpt-4o-mini");
    assert!(platform.received().is_empty());

    let listed: serde_json::Value = gw
        .app
        .client
        .get(format!("{}/v1/models", gw.app.address))
        .bearer_auth(&gw.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "my-gpt" && m["owned_by"] == "own")
    );

    // Another tenant sees neither the model nor the shadowing.
    let res = gw
        .app
        .post_json("/v1/chat/completions", &outsider, &body("my-gpt"))
        .await;
    assert_eq!(res.status(), 404);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &outsider, &body("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(platform.received().len(), 1);
    assert_eq!(
        platform.received()[0].authorization.as_deref(),
        Some("Bearer sk-upstream-openai")
    );

    ok(
        &["model", "remove", "--tenant", "Acme", "--name", "my-gpt"],
        "",
    );
    gw.app.wait_for_policy().await;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body("my-gpt"))
        .await;
    assert_eq!(res.status(), 404);
}
