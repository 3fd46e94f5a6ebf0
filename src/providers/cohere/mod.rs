//! Cohere v2 API: wire types and conversions to and from the unified types.
//!
//! Chat is `POST {base_url}/v2/chat` (streaming with `"stream": true`, answered as server-sent
//! events), embeddings are `POST {base_url}/v2/embed`; both authenticate with
//! `Authorization: Bearer <key>`. Cohere's answers name no model, so responses leave `model`
//! empty for the caller to fill with the model it sent.

mod embeddings;
mod error;
mod request;
mod response;
mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

pub use embeddings::{embeddings_request, embeddings_response};
pub use error::error_response;
pub use request::chat_request;
pub use response::{chat_response, finish_reason, usage};
pub use stream::ChatStreamDecoder;

/// The provider's name in messages.
pub(crate) const PROVIDER: &str = "Cohere";
