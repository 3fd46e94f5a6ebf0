//! Anthropic Messages API: wire types and conversions to and from the unified types.
//!
//! Provider side: [`chat_request`] builds `POST {base_url}/v1/messages` (headers `x-api-key`,
//! `anthropic-version: 2023-06-01`), [`chat_response`] reads a Message, [`ChatStreamDecoder`]
//! reads its server-sent events and [`error_response`] reads its error bodies. Anthropic has no
//! embeddings API. The [`inbound`] module is the other direction: the gateway's own
//! `POST /v1/messages` surface for Anthropic-format callers.

mod error;
pub mod inbound;
mod request;
mod response;
mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

pub use error::error_response;
pub use request::{chat_request, passthrough_request};
pub use response::chat_response;
pub use stream::ChatStreamDecoder;

/// The provider name used in messages.
pub const PROVIDER: &str = "Anthropic";

/// The `anthropic-version` header value.
pub const API_VERSION: &str = "2023-06-01";
