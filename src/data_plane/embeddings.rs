//! `POST /v1/embeddings`: OpenAI's embeddings API, served by OpenAI-style providers, Gemini and
//! Cohere; providers without embeddings get a clear 400.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dialect::Dialect;
use super::{body, context, upstream};
use crate::config::ModelMode;
use crate::providers::{ErrorKind, ProviderError, dispatch, openai};
use crate::state::AppState;

/// The handler.
pub async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(res) => res,
        Err(err) => Dialect::OpenAi.error_response(&err),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ProviderError> {
    let key = context::authenticate(req, state)?;
    let body = body::read_limited(payload, state.settings.server.max_body_bytes).await?;
    let parsed = openai::inbound::parse_embeddings(&body)?;
    let deployment =
        context::resolve_model(state, &key, &parsed.request.model, ModelMode::Embedding)?;
    let target = deployment.target(context::strict(req));
    let same_format = target.kind.is_openai_style();
    if parsed.token_input && !same_format {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "{} embeddings take text input, not token arrays",
                target.kind
            ),
        )
        .with_param("input"));
    }
    let request = if same_format {
        openai::passthrough_embeddings(&target, &parsed.raw)?
    } else {
        dispatch::embeddings_request(&target, &parsed.request)?
    };
    let answer = upstream::send(
        &state.http,
        &target.provider,
        target.kind,
        request,
        deployment.timeout,
    )
    .await?;
    let bytes = answer.bytes(&target.provider, deployment.timeout).await?;
    let mut response = HttpResponse::Ok();
    response.insert_header(("x-switchyard-provider", target.provider.as_str()));
    if same_format {
        return Ok(response.content_type("application/json").body(bytes));
    }
    let answer = dispatch::embeddings_response(target.kind, &bytes, &parsed.request)?;
    Ok(response.json(openai::inbound::render_embeddings(
        &answer,
        &parsed.request.model,
    )))
}
