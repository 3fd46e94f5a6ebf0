//! Answer heads and streamed answers shared by the `/v1` chat surfaces.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::context;
use super::meter::{Meter, estimate_prompt};
use super::relay::{Encoder, StateSink, StreamLog, relay};
use super::upstream::Answer;
use crate::providers::Target;
use crate::providers::dispatch::StreamDecoder;
use crate::providers::types::ChatRequest;
use crate::state::AppState;

/// A 200 head naming the provider and model that served the answer.
pub fn answered_by(target: &Target) -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("x-switchyard-provider", target.provider.as_str()))
        .insert_header(("x-switchyard-model", target.upstream_model.as_str()));
    response
}

/// Relays a streamed answer to the caller through `encoder`. For translated streams the
/// reasoning state of the turn is remembered for the tenant.
pub fn stream(
    req: &HttpRequest,
    state: &AppState,
    tenant: &str,
    target: &Target,
    chat: &ChatRequest,
    answer: Answer,
    encoder: Encoder,
) -> HttpResponse {
    let translated = encoder.translates();
    let body = relay(
        answer.events(target.provider.clone()),
        StreamDecoder::new(target.kind),
        encoder,
        Meter::new(estimate_prompt(chat)),
        StreamLog {
            request_id: context::request_id(req),
            model: chat.model.clone(),
            provider: target.provider.clone(),
        },
        translated.then(|| StateSink {
            store: state.provider_state.clone(),
            tenant: tenant.to_owned(),
        }),
    );
    answered_by(target)
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}
