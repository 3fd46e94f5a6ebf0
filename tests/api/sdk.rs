//! The official Python SDKs, unchanged, against Switchyard (tests/sdk/*.py). The interpreter
//! with the pinned SDKs comes from `SWITCHYARD_TEST_PYTHON` (tests/run sets it up); under CI its
//! absence is a failure.

use std::process::Command;

use switchyard::providers::ProviderKind;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::providers::anthropic::AnthropicMock;
use crate::common::providers::cohere::CohereMock;
use crate::common::providers::gemini::GeminiMock;
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

const MODELS: &str = "via-openai,via-compatible,via-anthropic,via-gemini,via-cohere";

/// Mocks of every provider kind, and a gateway with one model per kind.
struct World {
    gw: crate::common::Gateway,
    _mocks: (MockProvider, AnthropicMock, GeminiMock, CohereMock),
}

async fn world() -> Option<World> {
    let openai = MockProvider::start(MockBehavior::default()).await;
    let anthropic = AnthropicMock::start().await;
    let gemini = GeminiMock::start().await;
    let cohere = CohereMock::start().await;
    let urls = [
        openai.base_url.clone(),
        anthropic.base_url.clone(),
        gemini.base_url.clone(),
        cohere.base_url.clone(),
    ];
    let gw = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &urls[0], &["via-openai"]);
        add_provider(
            s,
            "compat",
            ProviderKind::OpenaiCompatible,
            &urls[0],
            &["via-compatible"],
        );
        add_provider(
            s,
            "anthropic",
            ProviderKind::Anthropic,
            &urls[1],
            &["via-anthropic"],
        );
        add_provider(s, "gemini", ProviderKind::Gemini, &urls[2], &["via-gemini"]);
        add_provider(s, "cohere", ProviderKind::Cohere, &urls[3], &["via-cohere"]);
    })
    .await?;
    Some(World {
        gw,
        _mocks: (openai, anthropic, gemini, cohere),
    })
}

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
