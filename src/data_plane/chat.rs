//! `POST /v1/chat/completions`: OpenAI's chat API, served by any provider.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::dialect::Dialect;
use super::relay::Encoder;
use super::{body, context, respond, upstream};
use crate::config::ModelMode;
use crate::providers::dispatch;
use crate::providers::{ProviderError, openai};
use crate::state::AppState;

/// The handler.
pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(res) => res,
        Err(err) => Dialect::OpenAi.error_response(&err),
    }
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<openai::wire::OpenAiUsage>,
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ProviderError> {
    let key = context::authenticate(req, state)?;
    let body = body::read_limited(payload, state.settings.server.max_body_bytes).await?;
    let mut parsed = openai::inbound::parse_chat(&body)?;
    let deployment = context::resolve_model(state, &key, &parsed.request.model, ModelMode::Chat)?;
    let target = deployment.target(context::strict(req));
    let same_format = target.kind.is_openai_style();
    let request = if same_format {
        openai::passthrough_chat(&target, &parsed.raw, parsed.request.stream)?
    } else {
        state
            .provider_state
            .restore(&key.tenant_id, &mut parsed.request);
        dispatch::chat_request(&target, &parsed.request)?
    };
    let chat = &parsed.request;
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
            Encoder::Passthrough {
                include_usage: chat.include_usage,
            }
        } else {
            Encoder::OpenAi(openai::inbound::StreamEncoder::new(
                &chat.model,
                chat.include_usage,
            ))
        };
        return Ok(respond::stream(
            req,
            state,
            &key.tenant_id,
            &target,
            chat,
            answer,
            encoder,
        ));
    }

    let bytes = answer.bytes(&target.provider, deployment.timeout).await?;
    if same_format {
        let usage = serde_json::from_slice::<UsageOnly>(&bytes)
            .ok()
            .and_then(|u| u.usage)
            .map(|u| openai::usage(&u));
        tracing::info!(
            request_id = %context::request_id(req),
            model = %chat.model,
            provider = %target.provider,
            prompt_tokens = usage.map(|u| u.prompt_tokens),
            completion_tokens = usage.map(|u| u.completion_tokens),
            "chat completed"
        );
        return Ok(respond::answered_by(&target)
            .content_type("application/json")
            .body(bytes));
    }
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
        "chat completed"
    );
    Ok(respond::answered_by(&target).json(openai::inbound::render_chat(&answer, &chat.model)))
}
