#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Two-factor login in a real headless Chromium: `tests/e2e/two_factor.mjs` (playwright-core
//! driving the system Chromium) signs up, turns on TOTP from Account security with codes it
//! computes itself (RFC 6238 over node's crypto), logs out, logs in with password and code,
//! and screenshots the pages into `target/screenshots/`.
//!
//! Skipped with a printed reason when node, the npm packages or Chromium are missing, unless
//! `CI` is set (then missing tools fail).

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::{chromium, e2e_dir, missing_tools};
use common::{Backend, spawn_app_with};
use switchyard::config::Secret;

const MASTER_KEY: &str = "6a1f0e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_login_in_headless_chromium() {
    if let Some(reason) = missing_tools() {
        if std::env::var_os("CI").is_some() {
            panic!("the two-factor browser test cannot run under CI: {reason}");
        }
        eprintln!("skipping the two-factor browser test: {reason}");
        return;
    }
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| s.master_key = Some(Secret::new(MASTER_KEY)),
        None,
    )
    .await
    .expect("SQLite is always available");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut child = Command::new("node")
        .arg(e2e_dir().join("two_factor.mjs"))
        .env("DASHBOARD_URL", &app.address)
        .env("CHROMIUM_PATH", chromium())
        .env("SCREENSHOT_DIR", &shots)
        .spawn()
        .expect("start node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll node") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("tests/e2e/two_factor.mjs did not finish within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "tests/e2e/two_factor.mjs failed: {status}"
    );
    for name in [
        "security-desktop",
        "security-phone",
        "login-two-factor-desktop",
    ] {
        let file = shots.join(format!("{name}.png"));
        assert!(file.is_file(), "screenshot {} was written", file.display());
    }
    // The enrolment is stored sealed and confirmed.
    let user = switchyard::storage::users::find_by_email(&app.db, "owner@2fa.example")
        .await
        .unwrap()
        .unwrap();
    assert!(
        switchyard::storage::totp::is_enrolled(&app.db, &user.id)
            .await
            .unwrap()
    );
}
