//! Providers: each vendor module owns its wire types and the conversions between them and the
//! unified types in [`types`]. Vendor modules are pure: they build an [`UpstreamRequest`] and read
//! bodies and stream events; the data path does the HTTP.
//!
//! Every vendor module offers the same functions:
//! * `chat_request(&Target, &ChatRequest) -> Result<UpstreamRequest, ProviderError>`
//! * `chat_response(&[u8]) -> Result<ChatResponse, ProviderError>` for a 2xx body
//! * `ChatStreamDecoder::new()`, `.on_event(&SseEvent) -> Result<Vec<StreamEvent>, ProviderError>`
//!   and `.finish() -> Result<Vec<StreamEvent>, ProviderError>` for streams
//! * `error_response(status, &[u8]) -> ProviderError` for a non-2xx answer
//! * `embeddings_request` / `embeddings_response` where the vendor has embeddings.

pub mod anthropic;
pub mod cohere;
pub mod dispatch;
pub mod error;
pub mod gemini;
pub mod openai;
pub mod types;

use std::fmt;

pub use error::{ErrorKind, Origin, ProviderError};

/// The wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
    Cohere,
    OpenaiCompatible,
}

impl ProviderKind {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure-openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Cohere => "cohere",
            ProviderKind::OpenaiCompatible => "openai-compatible",
        }
    }

    /// Whether the provider speaks OpenAI's chat-completions format.
    pub fn is_openai_style(self) -> bool {
        matches!(
            self,
            ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible
        )
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how to call one deployment of a model.
#[derive(Clone)]
pub struct Target {
    /// The configured provider name, for messages and logs.
    pub provider: String,
    pub kind: ProviderKind,
    /// The base URL as the provider's own SDK names it (no trailing slash).
    pub base_url: String,
    /// The credential; never logged.
    pub api_key: String,
    /// The provider's model id (Azure: the deployment name).
    pub upstream_model: String,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// `max_tokens` to send when the caller gave none and the provider requires one.
    pub default_max_tokens: u32,
    /// Strict mode: a parameter the target cannot honour is an error instead of being dropped.
    pub strict: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .field("upstream_model", &self.upstream_model)
            .finish_non_exhaustive()
    }
}

/// An HTTP request to send upstream (always a JSON POST).
#[derive(Clone)]
pub struct UpstreamRequest {
    pub url: String,
    /// Headers, credentials included; never logged.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Whether the answer is a server-sent-event stream.
    pub stream: bool,
}

impl fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamRequest")
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .field("stream", &self.stream)
            .finish()
    }
}

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when absent.
    pub event: String,
    /// The `data:` field (lines joined with `\n`).
    pub data: String,
}

impl SseEvent {
    /// An event with data only.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: String::new(),
            data: data.into(),
        }
    }
}

/// Top-level fields of a JSON object, each value kept as the caller's raw text: the same-format
/// fast paths forward these without re-serialising nested content.
pub type RawObject = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;

/// Serialises a value as a raw JSON field.
pub fn raw_json(
    value: &impl serde::Serialize,
) -> Result<Box<serde_json::value::RawValue>, ProviderError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| ProviderError::protocol("Switchyard", format!("encoding request: {e}")))
}

/// A fresh id for answers whose provider gives none.
pub fn generated_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
