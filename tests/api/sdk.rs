//! The official Python SDKs, unchanged, against Switchyard (tests/sdk/*.py). The interpreter
//! with the pinned SDKs comes from `TEST_SDK_PYTHON` (tests/run sets it up); under CI its
//! absence is a failure.

use std::process::Command;

fn python() -> Option<String> {
    match std::env::var("TEST_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but TEST_SDK_PYTHON is not set: the SDK tests must run in CI")
        }
        _ => {
            eprintln!("skipping SDK test: TEST_SDK_PYTHON is not set (bash tests/run sets it)");
            None
        }
    }
}

async fn run_script(python: String, script: &str, envs: Vec<(&'static str, String)>) {
    let script = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&script)
            .envs(envs)
            .output()
            .expect("run python")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
}

use crate::common::world::{MODELS, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_sdk_against_every_provider_kind() {
    let Some(python) = python() else { return };
    let Some(w) = world().await else { return };
    run_script(
        python,
        "openai_sdk.py",
        vec![
            ("SY_BASE_URL", format!("{}/v1", w.gw.app.address)),
            ("SY_KEY", w.gw.key.clone()),
            ("SY_MODELS", MODELS.to_owned()),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_anthropic_sdk_against_every_provider_kind() {
    let Some(python) = python() else { return };
    let Some(w) = world().await else { return };
    run_script(
        python,
        "anthropic_sdk.py",
        vec![
            ("SY_ROOT_URL", w.gw.app.address.clone()),
            ("SY_KEY", w.gw.key.clone()),
            ("SY_MODELS", MODELS.to_owned()),
        ],
    )
    .await;
}
