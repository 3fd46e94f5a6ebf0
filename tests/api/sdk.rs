//! The official Python SDKs, unchanged, against Switchyard (tests/sdk/*.py). The interpreter
//! with the pinned SDKs comes from `SWITCHYARD_TEST_PYTHON` (tests/run sets it up); under CI its
//! absence is a failure.

use std::process::Command;

use switchyard::providers::ProviderKind;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::providers::cohere::CohereMock;
use crate::common::{Backend, add_provider, spawn_gateway};

fn python() -> Option<String> {
    match std::env::var("SWITCHYARD_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but SWITCHYARD_TEST_PYTHON is not set: the SDK tests must run in CI")
        }
        _ => {
            eprintln!(
                "skipping SDK test: SWITCHYARD_TEST_PYTHON is not set (bash tests/run sets it)"
            );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_sdk_against_every_provider_kind() {
    let Some(python) = python() else { return };
    let openai = MockProvider::start(MockBehavior::default()).await;
    let cohere = CohereMock::start().await;
    let (openai_url, cohere_url) = (openai.base_url.clone(), cohere.base_url.clone());
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &openai_url,
            &["via-openai"],
        );
        add_provider(
            s,
            "compat",
            ProviderKind::OpenaiCompatible,
            &openai_url,
            &["via-compatible"],
        );
        add_provider(
            s,
            "cohere",
            ProviderKind::Cohere,
            &cohere_url,
            &["via-cohere"],
        );
    })
    .await
    else {
        return;
    };
    run_script(
        python,
        "openai_sdk.py",
        vec![
            ("SY_BASE_URL", format!("{}/v1", gw.app.address)),
            ("SY_KEY", gw.key.clone()),
            (
                "SY_MODELS",
                "via-openai,via-compatible,via-cohere".to_owned(),
            ),
        ],
    )
    .await;
}
