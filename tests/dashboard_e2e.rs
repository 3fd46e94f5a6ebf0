#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! The dashboard in a real headless Chromium (issue 6, acceptance 1 and 2): the real app and a
//! local OpenAI-format provider run here; `tests/e2e/dashboard.mjs` (playwright-core driving
//! the system Chromium) signs up, creates a team, mints a key and copies it, calls
//! `/v1/chat/completions` with it, sets a team budget with an 80 % alert, adds a provider
//! credential (the local mock; private networks allowed), a model and a route, chats in the
//! playground and sees the answer and its cost, waits for the spend and the request in Usage
//! and Logs, buys credits through the local Stripe server's hosted checkout (issue 8,
//! acceptance 4) and sees the new balance on the Credits page, screenshots every page at
//! 1280×800 and 390×844 (the team page after overriding its PII policy, and a key's edit page
//! with its PII section, among them) into
//! `target/screenshots/`, and fails on any CSP violation, console error or page error.
//!
//! Skipped with a printed reason when node, the npm packages or Chromium are missing, unless
//! `CI` is set (then missing tools fail). `tests/run` installs all three.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::{chromium, e2e_dir, missing_tools};
use common::mock_provider::{MockBehavior, MockProvider};
use common::stripe::{self, StripeServer};
use common::{Backend, add_provider, spawn_app_with};
use switchyard::providers::ProviderKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    if let Some(reason) = missing_tools() {
        if std::env::var_os("CI").is_some() {
            panic!("the dashboard browser test cannot run under CI: {reason}");
        }
        eprintln!("skipping the dashboard browser test: {reason} (tests/run installs it)");
        return;
    }
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let stripe_server = StripeServer::start().await;
    let stripe_base = stripe_server.base_url.clone();
    // The tenant's own provider (added in the browser) is this same local mock.
    let own_provider = mock.base_url.clone();
    let app = spawn_app_with(
        Backend::Sqlite,
        move |s| {
            add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt-e2e"]);
            s.stripe.api_base = stripe_base;
            s.stripe.secret_key = Some(switchyard::config::Secret::new(stripe::SECRET_KEY));
            s.stripe.webhook_secret = Some(switchyard::config::Secret::new(stripe::WEBHOOK_SECRET));
            s.master_key = Some(switchyard::config::Secret::new(
                "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c",
            ));
            s.egress.allow_private_networks = true;
        },
        None,
    )
    .await
    .expect("SQLite is always available");
    stripe_server.deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address));
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let mut child = Command::new("node")
        .arg(e2e_dir().join("dashboard.mjs"))
        .env("DASHBOARD_URL", &app.address)
        .env("GATEWAY_URL", &app.address)
        .env("MODEL", "gpt-e2e")
        .env("PROVIDER_URL", &own_provider)
        .env("CHROMIUM_PATH", chromium())
        .env("SCREENSHOT_DIR", &shots)
        .spawn()
        .expect("start node");
    // The app runs on this runtime, so the child is polled rather than waited on.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll node") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("tests/e2e/dashboard.mjs did not finish within 3 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "tests/e2e/dashboard.mjs failed: {status}");
    assert!(
        !mock.received().is_empty(),
        "the call from the browser test reached the provider mock"
    );
    assert!(
        shots.join("playground-answer-desktop.png").is_file(),
        "the playground answered in the browser"
    );
    let sessions = stripe_server.sessions();
    assert_eq!(sessions.len(), 1, "the browser started one Checkout");
    assert_eq!(sessions[0].object["status"], "complete", "and paid it");
    let deliveries = stripe_server.deliveries();
    assert!(
        !deliveries.is_empty() && deliveries.iter().all(|d| d.status == 200),
        "every webhook delivery was accepted: {deliveries:?}"
    );
    for name in [
        "overview",
        "keys",
        "teams",
        "budgets",
        "credits",
        "usage",
        "logs",
        "settings",
        "providers",
        "models",
        "playground",
        "privacy",
        "team",
        "key-edit",
    ] {
        for size in ["desktop", "phone"] {
            let file = shots.join(format!("{name}-{size}.png"));
            assert!(file.is_file(), "screenshot {} was written", file.display());
        }
    }
}
