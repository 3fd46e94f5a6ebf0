//! The data path: `/v1` endpoints that authenticate a virtual key, resolve the model, call the
//! provider and answer in the caller's own wire format.

pub mod body;
pub mod catalog;
pub mod chat;
pub mod context;
pub mod dialect;
pub mod embeddings;
pub mod messages;
pub mod meter;
pub mod models;
pub mod pii;
pub mod pipeline;
pub mod provider_state;
pub mod relay;
pub mod respond;
pub mod upstream;

use actix_web::web;

/// Mounts the `/v1` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/v1/chat/completions",
        web::post().to(chat::chat_completions),
    )
    .route("/v1/messages", web::post().to(messages::messages))
    .route("/v1/embeddings", web::post().to(embeddings::embeddings))
    .route("/v1/models", web::get().to(models::list))
    .route("/v1/models/{model}", web::get().to(models::retrieve));
}
