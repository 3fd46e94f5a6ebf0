//! Governance beyond a key's own limits: team, tenant and per-model limits and concurrency set
//! from the command line, token limits counted with the model's tokenizer and reconciled with
//! actual usage, the tenant-wide IP allowlist, unpriced models, body logging and retention.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::control_plane::keys;
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, Gateway, add_provider, run_binary, spawn_gateway, stderr, stdout};
use crate::on_both_backends;

on_both_backends!(
    team_model_and_tenant_limits_set_from_the_cli_are_enforced,
    bodies_are_logged_only_when_the_tenant_asks_and_expire_with_retention
);

fn cli(gw: &Gateway, args: &[&str]) -> String {
    let out = run_binary(args, &[("DATABASE_URL", gw.app.test_db.url.as_str())]);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn chat(model: &str) -> Value {
    json!({ "model": model, "max_tokens": 10, "messages": [{ "role": "user", "content": "x" }] })
}

async fn send(gw: &Gateway, key: &str, model: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = gw
        .app
        .post_json("/v1/chat/completions", key, &chat(model))
        .await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

async fn team_model_and_tenant_limits_set_from_the_cli_are_enforced(backend: Backend) {
    let mock = MockProvider::start(MockBehavior {
        delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt", "alt"]);
    })
    .await
    else {
        return;
    };
    let member = gw
        .app
        .mint_key(
            &gw.tenant,
            keys::KeySpec {
                team: Some("default".into()),
                ..Default::default()
            },
        )
        .await
        .key;
    let outsider = gw.key.clone();

    // A team limit applies to the team's keys only.
    cli(
        &gw,
        &[
            "limit",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "team:default",
            "--rpm",
            "3",
        ],
    );
    gw.app.wait_for_policy().await;
    for _ in 0..3 {
        assert_eq!(send(&gw, &member, "alt").await.0, 200);
    }
    let (status, headers, body) = send(&gw, &member, "alt").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team `default`")
    );
    assert_eq!(headers["x-switchyard-limit-scope"], "team");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(send(&gw, &outsider, "alt").await.0, 200);

    // A model limit counts every key of the tenant calling that model.
    cli(
        &gw,
        &[
            "limit",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "model:gpt",
            "--rpm",
            "2",
        ],
    );
    gw.app.wait_for_policy().await;
    assert_eq!(send(&gw, &outsider, "gpt").await.0, 200);
    assert_eq!(send(&gw, &outsider, "gpt").await.0, 200);
    let (status, headers, _) = send(&gw, &outsider, "gpt").await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-switchyard-limit-scope"], "model");
    assert_eq!(
        send(&gw, &outsider, "alt").await.0,
        200,
        "other models are not limited"
    );

    // A tenant-wide concurrency limit: of four simultaneous calls, two run.
    cli(
        &gw,
        &[
            "limit",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "tenant",
            "--max-concurrent",
            "2",
        ],
    );
    gw.app.wait_for_policy().await;
    let calls = (0..4).map(|_| send(&gw, &outsider, "alt"));
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<&Value> = results
        .iter()
        .filter(|r| r.0 == 429)
        .map(|r| &r.2)
        .collect();
    assert_eq!((ok, refused.len()), (2, 2), "{results:?}");
    assert!(
        refused
            .iter()
            .all(|b| b["error"]["code"] == "concurrency_limit_exceeded")
    );
    // Slots are released when calls end.
    assert_eq!(send(&gw, &outsider, "alt").await.0, 200);

    let shown = cli(&gw, &["tenant", "show", "Acme"]);
    assert!(shown.contains("max_concurrent=2"), "{shown}");
    assert!(shown.contains("limits model:gpt\trpm=2"), "{shown}");
    cli(
        &gw,
        &["limit", "clear", "--tenant", "Acme", "--scope", "tenant"],
    );
    let refused = run_binary(
        &[
            "limit",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "team:nope",
            "--rpm",
            "1",
        ],
        &[("DATABASE_URL", gw.app.test_db.url.as_str())],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("team `nope` does not exist"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limits_count_with_the_tokenizer_and_reconcile_with_usage() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    // The upstream id starts with `gpt-4o`, so prompts are counted with o200k.
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt-4o"]);
    })
    .await
    else {
        return;
    };
    let key = gw
        .app
        .mint_key(
            &gw.tenant,
            keys::KeySpec {
                tpm: Some(100),
                ..Default::default()
            },
        )
        .await
        .key;
    gw.app.wait_for_policy().await;
    // Each call is counted at 7 prompt tokens up front, then corrected to the 18 (11 + 7) the
    // provider reports: the 7th call no longer fits (6 × 18 + 7 > 100). Without the correction
    // 14 calls would fit.
    let mut admitted = 0;
    let mut last = None;
    for _ in 0..10 {
        let (status, headers, _) = send(&gw, &key, "gpt-4o").await;
        if status == 200 {
            admitted += 1;
        } else {
            last = Some((status, headers));
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(admitted, 6);
    let (status, headers) = last.expect("a refusal");
    assert_eq!(status, 429);
    assert_eq!(headers["x-ratelimit-limit-tokens"], "100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_ip_allowlist_applies_to_every_key() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
    })
    .await
    else {
        return;
    };
    cli(
        &gw,
        &[
            "tenant",
            "set",
            "Acme",
            "--ip-allowlist",
            "10.0.0.0/8,2001:db8::/32",
        ],
    );
    gw.app.wait_for_policy().await;
    let (status, _, body) = send(&gw, &gw.key, "gpt").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "ip_not_allowed");
    cli(
        &gw,
        &["tenant", "set", "Acme", "--ip-allowlist", "127.0.0.0/8"],
    );
    gw.app.wait_for_policy().await;
    assert_eq!(send(&gw, &gw.key, "gpt").await.0, 200);
    let bad = run_binary(
        &["tenant", "set", "Acme", "--ip-allowlist", "not-an-ip"],
        &[("DATABASE_URL", gw.app.test_db.url.as_str())],
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("not-an-ip"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpriced_models_are_refused_unless_allowed_and_then_alert() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["free", "local"]);
        for m in &mut s.models {
            m.input_usd_per_mtok = None;
            m.output_usd_per_mtok = None;
            m.allow_unpriced = m.name == "local";
        }
    })
    .await
    else {
        return;
    };
    let (status, _, body) = send(&gw, &gw.key, "free").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "model_not_priced");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`free`")
    );

    assert_eq!(send(&gw, &gw.key, "local").await.0, 200);
    assert_eq!(send(&gw, &gw.key, "local").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let notes = switchyard::storage::notifications::list(&gw.app.db, &gw.tenant, false, 10)
            .await
            .unwrap();
        if notes.len() == 2 {
            assert!(
                notes
                    .iter()
                    .all(|n| n.kind == "model.unpriced" && n.title.contains("`local`"))
            );
            break;
        }
        assert!(Instant::now() < deadline, "{notes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A tenant that does not track spend may use unpriced models.
    cli(&gw, &["tenant", "set", "Acme", "--cost-tracking", "false"]);
    gw.app.wait_for_policy().await;
    assert_eq!(send(&gw, &gw.key, "free").await.0, 200);
}

#[derive(Debug, sqlx::FromRow)]
struct Bodies {
    request_body: Option<String>,
    response_body: Option<String>,
}

async fn bodies(db: &Db) -> Vec<Bodies> {
    let sql = "SELECT request_body, response_body FROM request_logs ORDER BY created_at, id";
    match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
    }
}

async fn wait_for(db: &Db, n: usize) -> Vec<Bodies> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = bodies(db).await;
        if rows.len() == n || Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bodies_are_logged_only_when_the_tenant_asks_and_expire_with_retention(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.logs.retention_interval = Duration::from_millis(200);
    })
    .await
    else {
        return;
    };
    let body = json!({ "model": "gpt", "messages": [{ "role": "user", "content": "remember the walrus" }] });
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await
            .status(),
        200
    );
    let rows = wait_for(&gw.app.db, 1).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].request_body.is_none() && rows[0].response_body.is_none());

    cli(&gw, &["tenant", "set", "Acme", "--log-bodies", "true"]);
    gw.app.wait_for_policy().await;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body)
        .await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let rows = wait_for(&gw.app.db, 2).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows[1]
            .request_body
            .as_deref()
            .unwrap()
            .contains("remember the walrus")
    );
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(rows[1].response_body.as_deref().unwrap().contains(text));

    // Age the first row by two days; a one-day retention removes it and keeps the other.
    let old = switchyard::domain::time::now_millis() - 2 * 24 * 3600 * 1000;
    let sql = format!("UPDATE request_logs SET created_at = {old} WHERE request_body IS NULL");
    let aged = match &gw.app.db {
        Db::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .unwrap()
            .rows_affected(),
        Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(aged, 1);
    cli(&gw, &["tenant", "set", "Acme", "--retention-days", "1"]);
    let rows = wait_for(&gw.app.db, 1).await;
    assert_eq!(rows.len(), 1, "the aged row is swept");
    assert!(rows[0].request_body.is_some());
}
