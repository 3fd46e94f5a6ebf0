//! `POST /v1/embeddings`: OpenAI's embeddings API, served by OpenAI-style providers, Gemini and
//! Cohere through the route or model named; providers without embeddings get a clear 400.

use actix_web::{HttpRequest, HttpResponse, web};

use super::context;
use super::dialect::Dialect;
use super::pipeline::{self, Body};
use super::respond::{self, Failure, Reply};
use crate::config::ModelMode;
use crate::metering::log::LogDraft;
use crate::providers::{ErrorKind, ProviderError, dispatch, openai};
use crate::state::AppState;

/// The handler.
pub async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut draft = LogDraft::new(context::request_id(&req), "embeddings");
    let result = handle(&req, payload, &state, &mut draft).await;
    respond::finish(&state, draft, result, Dialect::OpenAi)
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    draft: &mut LogDraft,
) -> Result<HttpResponse, Failure> {
    let (key, body) = context::admit(req, payload, state, draft).await?;
    let parsed = openai::inbound::parse_embeddings(&body)?;
    draft.requested_model = Some(parsed.request.model.clone());
    draft.end_user.clone_from(&parsed.request.user);
    let plan = context::plan(
        state,
        &key,
        req,
        &parsed.request.model,
        ModelMode::Embedding,
        None,
    )?;
    draft.route = Some(plan.route.clone());
    let tokens: u64 = parsed
        .request
        .input
        .iter()
        .map(|t| t.len() as u64)
        .sum::<u64>()
        .div_ceil(4);
    context::enforce_limits(
        state,
        &key,
        &plan,
        context::PromptTokens::Counted(tokens),
        draft,
    )
    .await?;
    let call = context::BudgetedCall {
        end_user: parsed.request.user.as_deref(),
        model: &parsed.request.model,
        prompt_tokens: tokens,
        max_tokens: Some(0),
    };
    draft.settlement = context::reserve_budgets_for(state, &key, &plan, call).await?;
    let estimate = crate::billing::hold::Estimate {
        prompt_tokens: tokens,
        max_tokens: Some(0),
    };
    draft.credits = context::reserve_credits_for(state, &key, &plan, estimate).await?;
    let served = pipeline::run(
        state,
        &context::http(req, state),
        &plan,
        context::strict(req),
        false,
        |target| {
            if target.kind.is_openai_style() {
                openai::passthrough_embeddings(target, &parsed.raw)
            } else if parsed.token_input {
                Err(ProviderError::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "{} embeddings take text input, not token arrays",
                        target.kind
                    ),
                )
                .with_param("input"))
            } else {
                dispatch::embeddings_request(target, &parsed.request)
            }
        },
    )
    .await
    .map_err(|failed| Failure::routed(&plan.route, failed))?;
    let pipeline::Served { by, body } = served;
    by.note(draft);
    let reply = Reply {
        req,
        state,
        tenant: &key.tenant_id,
        route: &plan.route,
        by: &by,
    };
    let Body::Complete(bytes) = body else {
        return Err(ProviderError::protocol(&by.target.provider, "unexpected stream").into());
    };
    if by.target.kind.is_openai_style() {
        draft.usage = openai::usage_of(&bytes);
        return Ok(reply.head().content_type("application/json").body(bytes));
    }
    let answer = dispatch::embeddings_response(by.target.kind, &bytes, &parsed.request)?;
    draft.usage = Some(answer.usage);
    Ok(reply.head().json(openai::inbound::render_embeddings(
        &answer,
        &parsed.request.model,
    )))
}
