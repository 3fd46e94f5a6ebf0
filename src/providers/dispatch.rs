//! One entry point over every provider kind: builds requests, reads answers and decodes streams
//! with the right vendor module.

use super::types::*;
use super::{
    ErrorKind, ProviderError, ProviderKind, SseEvent, Target, UpstreamRequest, anthropic, cohere,
    gemini, openai,
};

/// Builds a chat request for the target's provider.
pub fn chat_request(target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    match target.kind {
        ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
            openai::chat_request(target, req)
        }
        ProviderKind::Anthropic => anthropic::chat_request(target, req),
        ProviderKind::Gemini => gemini::chat_request(target, req),
        ProviderKind::Cohere => cohere::chat_request(target, req),
    }
}

/// Reads a 2xx chat answer.
pub fn chat_response(kind: ProviderKind, body: &[u8]) -> Result<ChatResponse, ProviderError> {
    match kind {
        ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
            openai::chat_response(body)
        }
        ProviderKind::Anthropic => anthropic::chat_response(body),
        ProviderKind::Gemini => gemini::chat_response(body),
        ProviderKind::Cohere => cohere::chat_response(body),
    }
}

/// Maps a non-2xx answer.
pub fn error_response(kind: ProviderKind, status: u16, body: &[u8]) -> ProviderError {
    match kind {
        ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
            openai::error_response(status, body)
        }
        ProviderKind::Anthropic => anthropic::error_response(status, body),
        ProviderKind::Gemini => gemini::error_response(status, body),
        ProviderKind::Cohere => cohere::error_response(status, body),
    }
}

/// A stream decoder for any provider.
#[derive(Debug)]
pub enum StreamDecoder {
    OpenAi(openai::ChatStreamDecoder),
    Anthropic(anthropic::ChatStreamDecoder),
    Gemini(gemini::ChatStreamDecoder),
    Cohere(cohere::ChatStreamDecoder),
}

impl StreamDecoder {
    /// The decoder for a provider kind.
    pub fn new(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
                Self::OpenAi(openai::ChatStreamDecoder::new())
            }
            ProviderKind::Anthropic => Self::Anthropic(anthropic::ChatStreamDecoder::new()),
            ProviderKind::Gemini => Self::Gemini(gemini::ChatStreamDecoder::new()),
            ProviderKind::Cohere => Self::Cohere(cohere::ChatStreamDecoder::new()),
        }
    }

    /// Decodes one event.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        match self {
            Self::OpenAi(d) => d.on_event(event),
            Self::Anthropic(d) => d.on_event(event),
            Self::Gemini(d) => d.on_event(event),
            Self::Cohere(d) => d.on_event(event),
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        match self {
            Self::OpenAi(d) => d.finish(),
            Self::Anthropic(d) => d.finish(),
            Self::Gemini(d) => d.finish(),
            Self::Cohere(d) => d.finish(),
        }
    }
}

/// Builds an embeddings request; providers without embeddings get a clear 400.
pub fn embeddings_request(
    target: &Target,
    req: &EmbeddingRequest,
) -> Result<UpstreamRequest, ProviderError> {
    match target.kind {
        ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
            openai::embeddings_request(target, req)
        }
        ProviderKind::Gemini => gemini::embeddings_request(target, req),
        ProviderKind::Cohere => cohere::embeddings_request(target, req),
        ProviderKind::Anthropic => Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "model `{}` is served by Anthropic, which has no embeddings API",
                req.model
            ),
        )
        .with_param("model")
        .with_code("embeddings_not_supported")),
    }
}

/// Reads a 2xx embeddings answer to `req`.
pub fn embeddings_response(
    kind: ProviderKind,
    body: &[u8],
    req: &EmbeddingRequest,
) -> Result<EmbeddingResponse, ProviderError> {
    match kind {
        ProviderKind::Gemini => gemini::embeddings_response_for(body, req),
        ProviderKind::Cohere => cohere::embeddings_response(body),
        _ => openai::embeddings_response(body),
    }
}
