//! Bring-your-own provider credentials: sealed at rest (no plaintext anywhere in the database,
//! audit included), shown masked, checked against the egress policy, tested against the
//! provider's model list without echoing its answer, on SQLite and Postgres.

use serde_json::Value;

use crate::common::db::columns_containing;
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, binary_command, spawn_gateway, stderr, stdout};
use crate::on_both_backends;

on_both_backends!(provider_credentials_are_sealed_masked_guarded_and_testable);

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
