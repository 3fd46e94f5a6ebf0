//! Google Gemini API (`generativelanguage.googleapis.com`, `v1beta`; not Vertex AI): wire types
//! and conversions to and from the unified types.
//!
//! * Chat: `POST {base}/v1beta/models/{model}:generateContent`, streaming
//!   `:streamGenerateContent?alt=sse`; the key travels in `x-goog-api-key`, never in the URL.
//! * Embeddings: `POST {base}/v1beta/models/{model}:batchEmbedContents`.
//! * Errors: `{"error": {"code", "message", "status", "details"}}`.

mod embeddings;
mod error;
mod request;
mod response;
mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

pub use embeddings::{
    embeddings_request, embeddings_response, embeddings_response_for, estimated_usage,
};
pub use error::error_response;
pub use request::chat_request;
pub use response::chat_response;
pub use stream::ChatStreamDecoder;

/// The provider name used in messages.
pub const PROVIDER: &str = "Gemini";
