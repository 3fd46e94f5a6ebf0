//! OpenAI chat completions and embeddings: the provider side (OpenAI, Azure OpenAI and
//! OpenAI-compatible servers) and the inbound surface Switchyard offers to OpenAI SDKs.

pub mod inbound;
mod request;
mod response;
mod stream;
pub mod wire;

pub use request::{
    RawObject, chat_request, embeddings_request, endpoint, passthrough_chat, passthrough_embeddings,
};
pub use response::{chat_response, embeddings_response, error_response, usage, usage_of};
pub use stream::ChatStreamDecoder;

#[cfg(test)]
mod tests;
