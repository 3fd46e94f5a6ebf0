//! Every `/v1` call leaves one request-log record, written in batches with its rollups; while
//! the database is unavailable records wait in the spool and none is lost.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events};
use crate::on_both_backends;

on_both_backends!(calls_are_logged_with_usage_cost_and_rollups);

#[derive(Debug, sqlx::FromRow)]
struct Row {
    request_id: Option<String>,
    route: Option<String>,
    served_model: Option<String>,
    provider: Option<String>,
    status: i64,
    outcome: String,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_nusd: i64,
    streamed: bool,
    ttft_ms: Option<i64>,
    error_code: Option<String>,
}

async fn rows(db: &Db) -> Vec<Row> {
    let sql = "SELECT request_id, route, served_model, provider, status, outcome, prompt_tokens, \
               completion_tokens, cost_nusd, streamed, ttft_ms, error_code FROM request_logs \
               ORDER BY created_at, id";
    match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
    }
}

async fn wait_for_rows(db: &Db, n: usize, within: Duration) -> Vec<Row> {
    let deadline = Instant::now() + within;
    loop {
        let found = rows(db).await;
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn gateway(backend: Backend) -> Option<(Gateway, MockProvider)> {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let gw = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
    })
    .await?;
    Some((gw, mock))
}

fn chat(text: &str) -> Value {
    json!({ "model": "gpt", "messages": [{ "role": "user", "content": text }] })
}

async fn calls_are_logged_with_usage_cost_and_rollups(backend: Backend) {
    let Some((gw, _mock)) = gateway(backend).await else {
        return;
    };
    let ok = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("x-request-id", "req-plain")
        .json(&chat("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    let mut streamed = chat("stream");
    streamed["stream"] = json!(true);
    sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &streamed)
            .await,
    )
    .await;
    let limited = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("[mock:status=429]"))
        .await;
    assert_eq!(limited.status(), 429);
    let unknown = json!({ "model": "nope", "messages": [{ "role": "user", "content": "x" }] });
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &unknown)
            .await
            .status(),
        404
    );
    // Unidentified callers are not attributed to anyone.
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", "sy_live_x", &chat("x"))
            .await
            .status(),
        401
    );

    let found = wait_for_rows(&gw.app.db, 4, Duration::from_secs(3)).await;
    assert_eq!(found.len(), 4, "{found:#?}");
    let plain = &found[0];
    assert_eq!(plain.request_id.as_deref(), Some("req-plain"));
    assert_eq!(plain.route.as_deref(), Some("gpt"));
    assert_eq!(plain.served_model.as_deref(), Some("gpt"));
    assert_eq!(plain.provider.as_deref(), Some("openai"));
    assert_eq!((plain.status, plain.outcome.as_str()), (200, "complete"));
    assert_eq!((plain.prompt_tokens, plain.completion_tokens), (11, 7));
    // 11 × $1/M + 7 × $2/M = $0.000025.
    assert_eq!(plain.cost_nusd, 25_000);
    let stream = &found[1];
    assert!(stream.streamed && stream.ttft_ms.is_some());
    assert_eq!(
        (
            stream.prompt_tokens,
            stream.completion_tokens,
            stream.cost_nusd
        ),
        (11, 7, 25_000)
    );
    assert_eq!((found[2].status, found[2].outcome.as_str()), (429, "error"));
    assert_eq!(found[2].cost_nusd, 0);
    assert_eq!(found[3].status, 404);
    assert_eq!(found[3].error_code.as_deref(), Some("model_not_found"));

    let sql = "SELECT CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), \
               CAST(SUM(cost_nusd) AS BIGINT) FROM usage_rollups WHERE granularity = 'hour'";
    let totals: (i64, i64, i64) = match &gw.app.db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_one(p).await.expect("rollups"),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await.expect("rollups"),
    };
    assert_eq!(totals, (4, 2, 50_000));
}

/// Stops new connections to the test database and ends the open ones; undone on `allow`.
async fn block(admin: &str, db: &str, allow: bool) {
    let mut conn = PgConnection::connect(admin)
        .await
        .expect("admin connection");
    let sql = format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS {allow}");
    conn.execute(sqlx::AssertSqlSafe(sql))
        .await
        .expect("alter database");
    if !allow {
        let kill = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        );
        conn.execute(sqlx::AssertSqlSafe(kill))
            .await
            .expect("terminate");
    }
    conn.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_no_request_log_record() {
    let Some(admin) = crate::common::db::postgres_admin_url() else {
        return;
    };
    let Some((gw, _mock)) = gateway(Backend::Postgres).await else {
        return;
    };
    let name = gw
        .app
        .test_db
        .url
        .rsplit('/')
        .next()
        .expect("db name")
        .to_owned();
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &chat("before"))
            .await
            .status(),
        200
    );
    assert_eq!(
        wait_for_rows(&gw.app.db, 1, Duration::from_secs(3))
            .await
            .len(),
        1
    );

    // The database refuses every connection for 10 s while four callers keep sending.
    block(&admin, &name, false).await;
    let outage = Instant::now();
    let mut sent_during = 0;
    while outage.elapsed() < Duration::from_secs(10) {
        let batch = (0..4).map(|i| {
            let body = chat(&format!("during {sent_during}-{i}"));
            let (app, key) = (&gw.app, &gw.key);
            async move { app.post_json("/v1/chat/completions", key, &body).await }
        });
        for res in futures_util::future::join_all(batch).await {
            assert_eq!(
                res.status(),
                200,
                "the data path does not need the database"
            );
        }
        sent_during += 4;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sent_during >= 100, "under load: {sent_during} requests");
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(r#"switchyard_log_records_total{fate="spooled"}"#),
        "{metrics}"
    );
    assert!(outage.elapsed() >= Duration::from_secs(10));
    block(&admin, &name, true).await;

    let found = wait_for_rows(&gw.app.db, 1 + sent_during, Duration::from_secs(10)).await;
    assert_eq!(
        found.len(),
        1 + sent_during,
        "every record written once the database returned"
    );
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(!metrics.contains(r#"fate="dropped""#), "{metrics}");
}
