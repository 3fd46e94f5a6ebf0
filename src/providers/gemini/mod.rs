//! Google Gemini API: wire types and conversions to and from the unified types.

// Temporary stubs with the contract's signatures; the real module replaces this file.
use crate::providers::types::*;
use crate::providers::{ProviderError, SseEvent, Target, UpstreamRequest};

const PENDING: &str = "gemini support is not built yet";

/// Not built yet.
pub fn chat_request(_: &Target, _: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    Err(ProviderError::unsupported("model", PENDING))
}

/// Not built yet.
pub fn chat_response(_: &[u8]) -> Result<ChatResponse, ProviderError> {
    Err(ProviderError::protocol("gemini", PENDING))
}

/// Not built yet.
pub fn error_response(status: u16, _: &[u8]) -> ProviderError {
    ProviderError::from_status(status, PENDING)
}

/// Not built yet.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder;

impl ChatStreamDecoder {
    /// Not built yet.
    pub fn new() -> Self {
        Self
    }

    /// Not built yet.
    pub fn on_event(&mut self, _: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        Err(ProviderError::protocol("gemini", PENDING))
    }

    /// Not built yet.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Ok(Vec::new())
    }
}

/// Not built yet.
pub fn embeddings_request(
    _: &Target,
    _: &EmbeddingRequest,
) -> Result<UpstreamRequest, ProviderError> {
    Err(ProviderError::unsupported("model", PENDING))
}

/// Not built yet.
pub fn embeddings_response(_: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    Err(ProviderError::protocol("gemini", PENDING))
}
