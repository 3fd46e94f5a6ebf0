//! `POST /v1/messages`: Anthropic's Messages API, served by any provider. Anthropic-served
//! models get the caller's body forwarded as is; every other provider gets a translation.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dialect::Dialect;
use super::meter::{Meter, estimate_prompt};
use super::relay::{Encoder, StateSink, StreamLog, relay};
use super::{body, context, upstream};
use crate::config::ModelMode;
use crate::providers::dispatch::{self, StreamDecoder};
use crate::providers::{ProviderError, ProviderKind, RawObject, anthropic};
use crate::state::AppState;

/// The handler.
pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(res) => res,
        Err(err) => Dialect::Anthropic.error_response(&err),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ProviderError> {
    let key = context::authenticate(req, state)?;
    let body = body::read_limited(payload, state.settings.server.max_body_bytes).await?;
    let mut chat = anthropic::inbound::parse_request(&body)?;
    let deployment = context::resolve_model(state, &key, &chat.model, ModelMode::Chat)?;
    let target = deployment.target(context::strict(req));
    let same_format = target.kind == ProviderKind::Anthropic;
    let request = if same_format {
        let raw: RawObject =
            serde_json::from_slice(&body).map_err(|e| ProviderError::protocol("Switchyard", e))?;
        let beta = req
            .headers()
            .get("anthropic-beta")
            .and_then(|v| v.to_str().ok());
        anthropic::passthrough_request(&target, raw, chat.stream, beta)?
    } else {
        state.provider_state.restore(&key.tenant_id, &mut chat);
        dispatch::chat_request(&target, &chat)?
    };
    let answer = upstream::send(
        &state.http,
        &target.provider,
        target.kind,
        request,
        deployment.timeout,
    )
    .await?;

    let mut response = HttpResponse::Ok();
    response
        .insert_header(("x-switchyard-provider", target.provider.as_str()))
        .insert_header(("x-switchyard-model", target.upstream_model.as_str()));

    if chat.stream {
        let encoder = if same_format {
            Encoder::AnthropicPassthrough
        } else {
            Encoder::Anthropic(anthropic::inbound::StreamEncoder::new(&chat.model))
        };
        let stream = relay(
            answer.events(target.provider.clone()),
            StreamDecoder::new(target.kind),
            encoder,
            Meter::new(estimate_prompt(&chat)),
            StreamLog {
                request_id: context::request_id(req),
                model: chat.model.clone(),
                provider: target.provider.clone(),
            },
            (!same_format).then(|| StateSink {
                store: state.provider_state.clone(),
                tenant: key.tenant_id.clone(),
            }),
        );
        return Ok(response
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(stream));
    }

    let bytes = answer.bytes(&target.provider, deployment.timeout).await?;
    let answer = dispatch::chat_response(target.kind, &bytes)?;
    if !same_format {
        for choice in &answer.choices {
            state
                .provider_state
                .remember(&key.tenant_id, &choice.message);
        }
    }
    tracing::info!(
        request_id = %context::request_id(req),
        model = %chat.model,
        provider = %target.provider,
        prompt_tokens = answer.usage.prompt_tokens,
        completion_tokens = answer.usage.completion_tokens,
        "messages completed"
    );
    if same_format {
        return Ok(response.content_type("application/json").body(bytes));
    }
    Ok(response.json(anthropic::inbound::render_response(&answer, &chat.model)))
}
