#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Graceful shutdown: a SIGTERM lets in-flight requests finish, refuses new connections, then
//! flushes and closes storage. This file is its own test binary because it signals its own
//! process.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use nix::sys::signal::{Signal, kill, raise};
use nix::unistd::Pid;

use common::mock_provider::{MockBehavior, MockProvider};
use common::{Backend, binary_command, spawn_app_with};
use switchyard::startup::RouteHook;

/// A route that waits on the (slow) mock provider, as the proxy will.
fn slow_upstream_route(upstream: String) -> RouteHook {
    Arc::new(move |cfg: &mut web::ServiceConfig| {
        let upstream = upstream.clone();
        cfg.route(
            "/test/slow",
            web::post().to(move || {
                let upstream = upstream.clone();
                async move {
                    let answer = reqwest::Client::new()
                        .post(format!("{upstream}/chat/completions"))
                        .bearer_auth("sk-upstream")
                        .json(&serde_json::json!({ "model": "slow", "messages": [{ "role": "user", "content": "slow" }] }))
                        .send()
                        .await;
                    match answer {
                        Ok(res) => HttpResponse::Ok().body(res.text().await.unwrap_or_default()),
                        Err(_) => HttpResponse::BadGateway().finish(),
                    }
                }
            }),
        );
    })
}

/// Both phases live in one test: a signal reaches every app in the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_within_the_grace_period() {
    in_flight_request_finishes().await;
    grace_period_bounds_the_wait().await;
}

async fn in_flight_request_finishes() {
    let upstream = MockProvider::start(MockBehavior {
        delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let fast = MockProvider::start(MockBehavior::default()).await;
    let base = fast.base_url.clone();
    let Some(app) = spawn_app_with(
        Backend::Sqlite,
        move |s| {
            common::add_provider(
                s,
                "p",
                switchyard::providers::ProviderKind::Openai,
                &base,
                &["m"],
            )
        },
        Some(slow_upstream_route(upstream.base_url.clone())),
    )
    .await
    else {
        return;
    };
    let tenant = app.create_tenant("Acme").await.tenant_id;
    let key = app.mint_key(&tenant, Default::default()).await.key;
    app.wait_for_policy().await;
    let address = app.address.clone();
    let client = app.client.clone();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let address = address.clone();
        // An Authorization header exempts this test-only POST from the dashboard's CSRF guard.
        async move {
            client
                .post(format!("{address}/test/slow"))
                .bearer_auth("test")
                .send()
                .await
        }
    });
    assert!(
        upstream.wait_for_requests(1, Duration::from_secs(5)).await,
        "request in flight"
    );
    // A completed /v1 call whose log record is still buffered when the signal comes.
    let logged = app
        .post_json(
            "/v1/chat/completions",
            &key,
            &serde_json::json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }),
        )
        .await;
    assert_eq!(logged.status(), 200);

    let signalled = Instant::now();
    raise(Signal::SIGTERM).expect("raise SIGTERM");

    // New connections are refused once the server stops accepting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = reqwest::Client::new()
        .get(format!("{address}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted after SIGTERM"
    );

    // The in-flight request completes normally.
    let res = in_flight
        .await
        .expect("task")
        .expect("in-flight request completed");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("body").contains("Echo: slow"));
    assert!(signalled.elapsed() >= Duration::from_millis(1000));

    // Storage is flushed and closed once the server has drained.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app.db_closed() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.db_closed(), "database pool closed after shutdown");
    // The buffered log record was flushed before the pool closed.
    let db = switchyard::storage::Db::connect(&app.test_db.url, &Default::default())
        .await
        .expect("reopen");
    let switchyard::storage::Db::Sqlite(pool) = &db else {
        panic!("sqlite")
    };
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM request_logs")
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(
        rows, 1,
        "the buffered request-log record was written at shutdown"
    );
}

async fn grace_period_bounds_the_wait() {
    let upstream = MockProvider::start(MockBehavior {
        delay: Duration::from_secs(20),
        ..Default::default()
    })
    .await;
    let Some(app) = spawn_app_with(
        Backend::Sqlite,
        |s| s.shutdown_grace = Duration::from_secs(1),
        Some(slow_upstream_route(upstream.base_url.clone())),
    )
    .await
    else {
        return;
    };
    let in_flight = tokio::spawn({
        let (client, address) = (app.client.clone(), app.address.clone());
        // An Authorization header exempts this test-only POST from the dashboard's CSRF guard.
        async move {
            client
                .post(format!("{address}/test/slow"))
                .bearer_auth("test")
                .send()
                .await
        }
    });
    assert!(
        upstream.wait_for_requests(1, Duration::from_secs(5)).await,
        "request in flight"
    );
    let signalled = Instant::now();
    raise(Signal::SIGTERM).expect("raise SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(6);
    while !app.db_closed() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.db_closed(),
        "shutdown did not complete within the grace period"
    );
    let waited = signalled.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "shutdown took {waited:?} with a 1s grace"
    );
    // The request that outlived the grace period was cut, not answered.
    let outcome = in_flight.await.expect("task");
    assert!(
        outcome.is_err(),
        "a request slower than the grace period was answered"
    );
}

/// Starts the real binary on a random port and returns it with its address.
fn start_binary(db_url: &str) -> (Child, String, tempfile::TempDir) {
    start_binary_with(db_url, &[])
}

fn start_binary_with(db_url: &str, extra: &[(&str, &str)]) -> (Child, String, tempfile::TempDir) {
    let mut envs = vec![
        ("DATABASE_URL", db_url),
        ("SWITCHYARD_LISTEN", "127.0.0.1:0"),
        ("SWITCHYARD_SHUTDOWN_GRACE", "5s"),
    ];
    envs.extend_from_slice(extra);
    let (mut cmd, dir) = binary_command(&envs);
    let mut child = cmd
        .args(["--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn switchyard");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("listening line").expect("read");
        let event: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if event["message"] == "listening" {
            break event["port"].as_u64().expect("port");
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe; forward it for failures.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("[switchyard] {line}");
        }
    });
    (child, format!("http://127.0.0.1:{port}"), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_cleanly_on_sigterm_and_sigint() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let (mut child, address, _cwd) = start_binary(&url);
        let ready = reqwest::get(format!("{address}/readyz"))
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200);
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        kill(pid, signal).expect("signal");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{signal} did not stop the server"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{signal}: exit status {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_request_log_records_are_written_before_the_binary_exits() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"p\"\nkind = \"openai-compatible\"\nbase_url = \"{}\"\napi_key = \"sk-test\"\n\
             [[models]]\nname = \"m\"\nprovider = \"p\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
            mock.base_url
        ),
    )
    .expect("config");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let config = config.display().to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SWITCHYARD_CONFIG", config.as_str()),
    ];
    let out = common::run_binary(
        &[
            "tenant",
            "create",
            "Acme",
            "--admin-email",
            "a@acme.test",
            "--admin-password",
            "correct horse battery",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::run_binary(&["key", "create", "--tenant", "Acme", "--json"], &env);
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key json");
    let key = key["key"].as_str().expect("key").to_owned();

    let (mut child, address, _cwd) =
        start_binary_with(&url, &[("SWITCHYARD_CONFIG", config.as_str())]);
    let client = reqwest::Client::new();
    let calls = 20;
    for _ in 0..calls {
        let res = client
            .post(format!("{address}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }))
            .send()
            .await
            .expect("call");
        assert_eq!(res.status(), 200);
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        Signal::SIGTERM,
    )
    .expect("signal");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success());

    let db = switchyard::storage::Db::connect(&url, &Default::default())
        .await
        .expect("reopen");
    let switchyard::storage::Db::Sqlite(pool) = &db else {
        panic!("sqlite")
    };
    let (rows, cost): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(cost_nusd) AS BIGINT) FROM request_logs")
            .fetch_one(pool)
            .await
            .expect("count");
    assert_eq!(rows, calls, "every record was flushed before exit");
    assert_eq!(cost, calls * 25_000);
}
