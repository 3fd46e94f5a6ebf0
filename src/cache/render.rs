//! A cache hit rendered in the caller's format: OpenAI or Anthropic JSON, or a well-formed
//! stream (the cached answer replayed as unified events through the same encoders a translated
//! provider stream goes through).

use actix_web::HttpResponse;
use bytes::{Bytes, BytesMut};

use super::{CACHE_HEADER, Hit};
use crate::data_plane::relay::frame;
use crate::metering::log::LogDraft;
use crate::providers::types::ChatRequest;
use crate::providers::{anthropic, openai};

/// The caller's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// OpenAI chat completions; `include_usage` mirrors `stream_options.include_usage`.
    OpenAi { include_usage: bool },
    /// Anthropic Messages.
    Anthropic,
}

fn stream_body(hit: &Hit, chat: &ChatRequest, surface: Surface) -> Bytes {
    let events = super::assemble::replay(&hit.entry.answer);
    let frames = match surface {
        Surface::OpenAi { include_usage } => {
            let mut encoder = openai::inbound::StreamEncoder::new(&chat.model, include_usage);
            let mut out: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
            out.extend(encoder.finish());
            out
        }
        Surface::Anthropic => {
            let mut encoder = anthropic::inbound::StreamEncoder::new(&chat.model);
            let mut out: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
            out.extend(encoder.finish());
            out
        }
    };
    let mut body = BytesMut::new();
    for f in &frames {
        body.extend_from_slice(&frame(f));
    }
    body.freeze()
}

/// The answer to a request served from the cache, streamed when the caller asked for a stream.
pub fn respond(
    hit: &Hit,
    chat: &ChatRequest,
    route: &str,
    surface: Surface,
    draft: &mut LogDraft,
) -> HttpResponse {
    draft.streamed = chat.stream;
    let mut head = HttpResponse::Ok();
    head.insert_header((
        CACHE_HEADER,
        if hit.semantic { "semantic-hit" } else { "hit" },
    ))
    .insert_header(("x-switchyard-route", route))
    .insert_header(("x-switchyard-provider", hit.entry.provider.as_str()))
    .insert_header(("x-switchyard-model", hit.entry.served_model.as_str()))
    .insert_header(("x-switchyard-attempts", "0"));
    if chat.stream {
        return head
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .body(stream_body(hit, chat, surface));
    }
    let answer = &hit.entry.answer;
    match surface {
        Surface::OpenAi { .. } => head.json(openai::inbound::render_chat(answer, &chat.model)),
        Surface::Anthropic => head.json(anthropic::inbound::render_response(answer, &chat.model)),
    }
}
