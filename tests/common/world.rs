//! One gateway with a model served by each provider kind, each behind its own wire-faithful
//! mock, plus an embedding model per provider kind.

use switchyard::providers::ProviderKind;

use super::mock_provider::{MockBehavior, MockProvider};
use super::providers::anthropic::AnthropicMock;
use super::providers::cohere::CohereMock;
use super::providers::gemini::GeminiMock;
use super::{Backend, Gateway, add_provider, spawn_gateway};

/// The chat models, one per provider kind.
pub const MODELS: &str = "via-openai,via-azure,via-compatible,via-anthropic,via-gemini,via-cohere";

/// Mocks of every provider kind, and a gateway with one model per kind.
pub struct World {
    pub gw: Gateway,
    pub mocks: (MockProvider, AnthropicMock, GeminiMock, CohereMock),
}

/// Starts the mocks and the gateway.
pub async fn world() -> Option<World> {
    let openai = MockProvider::start(MockBehavior::default()).await;
    let anthropic = AnthropicMock::start().await;
    let gemini = GeminiMock::start().await;
    let cohere = CohereMock::start().await;
    let azure = openai.azure_base_url.clone();
    let urls = [
        openai.base_url.clone(),
        anthropic.base_url.clone(),
        gemini.base_url.clone(),
        cohere.base_url.clone(),
    ];
    let gw = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(
            s,
            "azure",
            ProviderKind::AzureOpenai,
            &azure,
            &["via-azure", "embed:via-azure-embed"],
        );
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &urls[0],
            &["via-openai", "embed:via-openai-embed"],
        );
        add_provider(
            s,
            "compat",
            ProviderKind::OpenaiCompatible,
            &urls[0],
            &["via-compatible", "embed:via-compatible-embed"],
        );
        add_provider(
            s,
            "anthropic",
            ProviderKind::Anthropic,
            &urls[1],
            &["via-anthropic", "embed:via-anthropic-embed"],
        );
        add_provider(
            s,
            "gemini",
            ProviderKind::Gemini,
            &urls[2],
            &["via-gemini", "embed:via-gemini-embed"],
        );
        add_provider(
            s,
            "cohere",
            ProviderKind::Cohere,
            &urls[3],
            &["via-cohere", "embed:via-cohere-embed"],
        );
    })
    .await?;
    Some(World {
        gw,
        mocks: (openai, anthropic, gemini, cohere),
    })
}
