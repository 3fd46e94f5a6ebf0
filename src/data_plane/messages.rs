//! `POST /v1/messages`: Anthropic's Messages API, served by any provider. Anthropic-served
//! models get the caller's body forwarded as is; every other provider gets a translation.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dialect::Dialect;
use super::relay::Encoder;
use super::{body, context, respond, upstream};
use crate::config::ModelMode;
use crate::providers::dispatch;
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

    if chat.stream {
        let encoder = if same_format {
            Encoder::AnthropicPassthrough
        } else {
            Encoder::Anthropic(anthropic::inbound::StreamEncoder::new(&chat.model))
        };
        return Ok(respond::stream(
            req,
            state,
            &key.tenant_id,
            &target,
            &chat,
            answer,
            encoder,
        ));
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
        return Ok(respond::answered_by(&target)
            .content_type("application/json")
            .body(bytes));
    }
    Ok(respond::answered_by(&target)
        .json(anthropic::inbound::render_response(&answer, &chat.model)))
}
