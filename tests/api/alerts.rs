//! Budget alerts: crossing a threshold records one dashboard notification and delivers one
//! event to every destination — a signed webhook (retried after a failure), a Slack incoming
//! webhook and an email — once per period, on SQLite and Postgres.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use switchyard::alerts::signature;
use switchyard::config::{Secret, SmtpTls};
use switchyard::control_plane::keys;
use switchyard::providers::ProviderKind;
use switchyard::storage::alerts as alert_store;

use crate::common::mock_provider::{MockBehavior, MockProvider, serve_mock};
use crate::common::smtp::SmtpSink;
use crate::common::{Backend, add_provider, run_binary, spawn_gateway, stderr, stdout};
use crate::on_both_backends;

on_both_backends!(crossing_80_percent_of_a_team_budget_alerts_once_everywhere);

const MASTER_KEY: &str = "8f3c2a1b0e9d8c7b6a5f4e3d2c1b0a998877665544332211ffeeddccbbaa0011";

/// One request costs 25 000 nano-USD (11 prompt tokens at $1/M, 7 completion tokens at $2/M).
const ACTUAL: i64 = 25_000;

#[derive(Clone, Default)]
struct Hooks {
    webhook: Arc<Mutex<Vec<(String, String, String)>>>,
    slack: Arc<Mutex<Vec<Value>>>,
}

async fn webhook(req: HttpRequest, body: web::Bytes, hooks: web::Data<Hooks>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut seen = hooks.webhook.lock().unwrap();
    seen.push((
        header(signature::HEADER),
        header("x-switchyard-event-id"),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    // The first delivery fails: the sender must retry it.
    if seen.len() == 1 {
        HttpResponse::ServiceUnavailable().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

async fn slack(body: web::Json<Value>, hooks: web::Data<Hooks>) -> HttpResponse {
    hooks.slack.lock().unwrap().push(body.into_inner());
    HttpResponse::Ok().body("ok")
}

async fn crossing_80_percent_of_a_team_budget_alerts_once_everywhere(backend: Backend) {
    let hooks = Hooks::default();
    let data = web::Data::new(hooks.clone());
    let (hook_port, _hook_server) = serve_mock(move |cfg| {
        cfg.app_data(data.clone())
            .route("/hook", web::post().to(webhook))
            .route("/slack/T0/B0/token", web::post().to(slack));
    });
    let smtp = SmtpSink::start().await;
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let smtp_port = smtp.port;
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.master_key = Some(Secret::new(MASTER_KEY));
        // The receivers run on loopback.
        s.egress.allow_private_networks = true;
        s.alerts.poll_interval = Duration::from_millis(50);
        s.alerts.backoff = Duration::from_millis(100);
        s.smtp.host = Some("127.0.0.1".into());
        s.smtp.port = smtp_port;
        s.smtp.tls = SmtpTls::None;
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

    let env = [
        ("DATABASE_URL", gw.app.test_db.url.as_str()),
        ("SWITCHYARD_MASTER_KEY", MASTER_KEY),
        ("SWITCHYARD_EGRESS__ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    let cli = |args: &[&str]| {
        let out = run_binary(args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let hook_url = format!("http://127.0.0.1:{hook_port}/hook");
    let added: Value = serde_json::from_str(&cli(&[
        "alert",
        "add",
        "--tenant",
        "Acme",
        "--webhook",
        &hook_url,
        "--json",
    ]))
    .expect("json");
    let secret = added["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let slack_url = format!("http://127.0.0.1:{hook_port}/slack/T0/B0/token");
    cli(&["alert", "add", "--tenant", "Acme", "--slack", &slack_url]);
    cli(&[
        "alert",
        "add",
        "--tenant",
        "Acme",
        "--email",
        "finance@acme.test",
    ]); // Without the operator's permission, internal receivers are refused.
    let refused = run_binary(
        &["alert", "add", "--tenant", "Acme", "--webhook", &hook_url],
        &env[..2],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not allowed"),
        "{}",
        stderr(&refused)
    );
    let listed = cli(&["alert", "list", "--tenant", "Acme"]);
    assert!(
        !listed.contains("token"),
        "slack tokens are masked: {listed}"
    );
    assert!(!listed.contains(&secret));
    // $0.0003 with one threshold at 80%: the 10th request (250 000 of 300 000) crosses it.
    cli(&[
        "budget",
        "set",
        "--tenant",
        "Acme",
        "--scope",
        "team:default",
        "--usd",
        "0.0003",
        "--alert-at",
        "80",
    ]);
    gw.app.wait_for_policy().await;

    let body = json!({ "model": "gpt", "max_tokens": 10, "messages": [{ "role": "user", "content": "x" }] });
    for i in 0..12 {
        let status = gw
            .app
            .post_json("/v1/chat/completions", &member, &body)
            .await
            .status();
        assert!(
            status == 200 || (i >= 10 && status == 429),
            "request {i}: {status}"
        );
        // Settlement is asynchronous; let it land so the crossing happens at a known request.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delivered = hooks.webhook.lock().unwrap().len() >= 2
            && !hooks.slack.lock().unwrap().is_empty()
            && !smtp.mails().is_empty();
        if delivered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not arrive: webhook {:?}, slack {:?}, mail {}",
            hooks.webhook.lock().unwrap().len(),
            hooks.slack.lock().unwrap(),
            smtp.mails().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more may follow: each threshold fires once per period.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let posts = hooks.webhook.lock().unwrap().clone();
    assert_eq!(
        posts.len(),
        2,
        "one failed attempt and one retry: {posts:?}"
    );
    assert_eq!(
        posts[0].1, posts[1].1,
        "the retry carries the same event id"
    );
    let now = chrono::Utc::now().timestamp();
    for (sig, _, body) in &posts {
        assert!(signature::verify(
            secret.as_bytes(),
            sig,
            body.as_bytes(),
            now,
            300
        ));
        assert!(!signature::verify(
            b"whsec_wrong_secret_0000",
            sig,
            body.as_bytes(),
            now,
            300
        ));
    }
    let event: Value = serde_json::from_str(&posts[1].2).expect("webhook json");
    assert_eq!(event["type"], "budget.threshold_crossed");
    assert_eq!(event["data"]["threshold_pct"], 80);
    assert_eq!(event["data"]["scope_type"], "team");
    assert_eq!(event["data"]["limit_nusd"], 300_000);
    assert!(event["data"]["spent_nusd"].as_i64().unwrap() >= 240_000);
    assert!(event["data"]["spent_nusd"].as_i64().unwrap() < 300_000 + ACTUAL);

    let slack_posts = hooks.slack.lock().unwrap().clone();
    assert_eq!(slack_posts.len(), 1);
    assert!(slack_posts[0]["text"].as_str().unwrap().contains("80%"));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].to[0].contains("finance@acme.test"));
    assert!(mails[0].data.contains("80%"));

    let notes = switchyard::storage::notifications::list(&gw.app.db, &gw.tenant, false, 10)
        .await
        .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].kind, "budget.threshold_crossed");
    assert!(notes[0].title.contains("80%"));
    let deliveries = alert_store::deliveries(&gw.app.db, &gw.tenant)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.delivered_at.is_some()));
    let shown = cli(&["alert", "notifications", "--tenant", "Acme"]);
    assert!(shown.contains("80%"), "{shown}");
}
