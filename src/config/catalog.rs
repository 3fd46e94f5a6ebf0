//! `[[providers]]` and `[[models]]`: the platform's provider accounts and the models clients may
//! name.

use serde::Deserialize;

use super::{ConfigError, Secret};
use crate::providers::ProviderKind;

/// One provider account (`[[providers]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique name that models refer to.
    pub name: String,
    /// The wire format.
    pub kind: ProviderKind,
    /// The base URL as the provider's SDK names it (OpenAI `…/v1`, Anthropic without `/v1`).
    pub base_url: String,
    /// The credential, usually `${ENV_VAR}`; optional for local OpenAI-compatible servers.
    pub api_key: Option<Secret>,
    /// Azure OpenAI `api-version`.
    pub api_version: Option<String>,
    /// Per-attempt time limit for a complete answer.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: std::time::Duration,
}

/// One model clients may name (`[[models]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The name clients send as `model`.
    pub name: String,
    /// The `[[providers]]` entry that serves it.
    pub provider: String,
    /// The provider's model id (Azure: the deployment name); defaults to `name`.
    pub upstream: Option<String>,
    /// `chat` (default) or `embedding`.
    #[serde(default)]
    pub mode: ModelMode,
    /// Prices in USD per million tokens.
    pub input_usd_per_mtok: Option<f64>,
    pub output_usd_per_mtok: Option<f64>,
    pub cached_input_usd_per_mtok: Option<f64>,
    pub cache_write_usd_per_mtok: Option<f64>,
    /// Price per request in USD.
    pub request_usd: Option<f64>,
    /// `max_tokens` sent to providers that require one when the caller gives none.
    pub max_output_tokens: Option<u32>,
    /// The model's context window, in tokens.
    pub context_window: Option<u32>,
    /// Serve the model even without a price (every request raises an alert); otherwise an
    /// unpriced model is refused for cost-tracked tenants.
    #[serde(default)]
    pub allow_unpriced: bool,
    /// `byok` (default: the tenant brings the provider account) or `credits` (served on the
    /// platform's account, drawn from the tenant's prepaid balance).
    #[serde(default)]
    pub billing: Billing,
    /// Markup on the model's cost for `credits` billing, in percent (default 0).
    #[serde(default)]
    pub markup_pct: f64,
}

/// Who pays the provider for a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Billing {
    /// Bring your own key: requests do not touch the credit balance.
    #[default]
    Byok,
    /// Platform credentials: requests draw from the tenant's prepaid credits.
    Credits,
}

/// What a model is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelMode {
    #[default]
    Chat,
    Embedding,
}

fn default_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(600)
}

impl ModelSettings {
    /// The markup in basis points (1 % = 100).
    pub fn markup_bps(&self) -> i64 {
        (self.markup_pct * 100.0).round() as i64
    }

    /// The provider's model id.
    pub fn upstream_id(&self) -> &str {
        self.upstream.as_deref().unwrap_or(&self.name)
    }
}

/// Checks names, references and URLs across both lists.
pub fn validate(
    providers: &[ProviderSettings],
    models: &[ModelSettings],
) -> Result<(), ConfigError> {
    let invalid = |key: &'static str, message: String| ConfigError::Value { key, message };
    for (i, p) in providers.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(invalid(
                "providers.name",
                format!("provider #{} has an empty name", i + 1),
            ));
        }
        if providers[..i].iter().any(|q| q.name == p.name) {
            return Err(invalid(
                "providers.name",
                format!("provider `{}` is defined twice", p.name),
            ));
        }
        let url = url::Url::parse(&p.base_url).map_err(|e| {
            invalid(
                "providers.base_url",
                format!("provider `{}`: `{}`: {e}", p.name, p.base_url),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                "providers.base_url",
                format!(
                    "provider `{}`: `{}` is not an http(s) URL",
                    p.name, p.base_url
                ),
            ));
        }
        if p.kind == ProviderKind::AzureOpenai && p.api_version.is_none() {
            return Err(invalid(
                "providers.api_version",
                format!("provider `{}`: azure-openai needs api_version", p.name),
            ));
        }
        let needs_key = !matches!(p.kind, ProviderKind::OpenaiCompatible);
        if needs_key && p.api_key.as_ref().is_none_or(|k| k.expose().is_empty()) {
            return Err(invalid(
                "providers.api_key",
                format!("provider `{}` ({}) needs an api_key", p.name, p.kind),
            ));
        }
    }
    for (i, m) in models.iter().enumerate() {
        if m.name.trim().is_empty() {
            return Err(invalid(
                "models.name",
                format!("model #{} has an empty name", i + 1),
            ));
        }
        if models[..i].iter().any(|n| n.name == m.name) {
            return Err(invalid(
                "models.name",
                format!("model `{}` is defined twice", m.name),
            ));
        }
        if !providers.iter().any(|p| p.name == m.provider) {
            return Err(invalid(
                "models.provider",
                format!(
                    "model `{}` names provider `{}`, which is not defined",
                    m.name, m.provider
                ),
            ));
        }
        let prices = [
            m.input_usd_per_mtok,
            m.output_usd_per_mtok,
            m.cached_input_usd_per_mtok,
            m.cache_write_usd_per_mtok,
            m.request_usd,
        ];
        if !m.markup_pct.is_finite() || !(0.0..=10_000.0).contains(&m.markup_pct) {
            return Err(invalid(
                "models.markup_pct",
                format!("model `{}`: markup_pct must be between 0 and 10000", m.name),
            ));
        }
        if m.billing == Billing::Credits
            && prices.iter().all(Option::is_none)
            && crate::metering::prices::default_for(m.upstream_id()).is_none()
        {
            return Err(invalid(
                "models.billing",
                format!(
                    "model `{}` is billed to credits but has no price (set input_usd_per_mtok and \
                     output_usd_per_mtok)",
                    m.name
                ),
            ));
        }
        if prices.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(invalid(
                "models.input_usd_per_mtok",
                format!("model `{}` has a negative or invalid price", m.name),
            ));
        }
    }
    Ok(())
}
