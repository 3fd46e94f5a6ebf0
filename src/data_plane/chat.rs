//! `POST /v1/chat/completions`: OpenAI's chat API, served by any provider through the route
//! or model named.

use actix_web::{HttpRequest, HttpResponse, web};

use super::context;
use super::dialect::Dialect;
use super::pipeline::{self, Body};
use super::relay::Encoder;
use super::respond::{self, Failure, Reply};
use crate::config::ModelMode;
use crate::metering::log::LogDraft;
use crate::providers::{dispatch, openai};
use crate::state::AppState;

/// The handler.
pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut draft = LogDraft::new(context::request_id(&req), "chat.completions");
    let result = handle(&req, payload, &state, &mut draft)
        .await
        .map(|mut res| {
            crate::cache::mark(&mut res, &draft);
            res
        });
    respond::finish(&state, draft, result, Dialect::OpenAi)
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    draft: &mut LogDraft,
) -> Result<HttpResponse, Failure> {
    let (key, body) = context::admit(req, payload, state, draft).await?;
    let mut parsed = openai::inbound::parse_chat(&body)?;
    draft.requested_model = Some(parsed.request.model.clone());
    draft.end_user.clone_from(&parsed.request.user);
    let protection = super::pii::protect(&key, &mut parsed.request, draft)?;
    let plan = context::plan(
        state,
        &key,
        req,
        &parsed.request.model,
        ModelMode::Chat,
        Some(&parsed.request),
    )?;
    draft.route = Some(plan.route.clone());
    context::enforce_limits(
        state,
        &key,
        &plan,
        context::PromptTokens::Chat(&parsed.request),
        draft,
    )
    .await?;
    draft.settlement = context::reserve_budgets(state, &key, &plan, &parsed.request).await?;
    // PII redaction, when configured, rewrites the request here: before the cache lookup.
    if let Some(hit) =
        crate::cache::lookup(state, req, &key, &plan.route, &parsed.request, draft).await
    {
        let hit = super::pii::restored_hit(hit, &protection);
        let surface = crate::cache::Surface::OpenAi {
            include_usage: parsed.request.include_usage,
        };
        return Ok(crate::cache::respond(
            &hit,
            &parsed.request,
            &plan.route,
            surface,
            draft,
        ));
    }
    draft.credits = context::reserve_credits(state, &key, &plan, &parsed.request).await?;
    state
        .provider_state
        .restore(&key.tenant_id, &mut parsed.request);
    let chat = &parsed.request;
    draft.capture_request(|| super::pii::loggable_request(&parsed.raw, chat, &protection));
    let served = pipeline::run(
        state,
        &context::http(req, state),
        &plan,
        context::strict(req),
        chat.stream,
        |target| {
            if target.kind.is_openai_style() && !protection.rewritten {
                openai::passthrough_chat(target, &parsed.raw, chat.stream)
            } else {
                dispatch::chat_request(target, chat)
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
    let same_format = by.target.kind.is_openai_style() && protection.restorer.is_none();
    let bytes = match body {
        Body::Stream { first, rest } => {
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
            let encoder = super::pii::restoring(encoder, &protection);
            return Ok(reply.stream(chat, first, rest, encoder, draft));
        }
        Body::Complete(bytes) => bytes,
    };
    if same_format {
        let usage = openai::usage_of(&bytes);
        draft.usage = usage;
        if draft.cache.is_some()
            && let Ok(answer) = dispatch::chat_response(by.target.kind, &bytes)
        {
            crate::cache::store(draft, &answer).await;
        }
        tracing::info!(
            request_id = %context::request_id(req),
            route = %plan.route,
            provider = %by.target.provider,
            attempts = by.attempts,
            prompt_tokens = usage.map(|u| u.prompt_tokens),
            completion_tokens = usage.map(|u| u.completion_tokens),
            "chat completed"
        );
        draft.capture_response(&bytes);
        return Ok(reply.head().content_type("application/json").body(bytes));
    }
    let mut answer = dispatch::chat_response(by.target.kind, &bytes).map_err(|error| Failure {
        error,
        route: Some(plan.route.clone()),
        attempts: by.attempts,
        headers: Vec::new(),
    })?;
    draft.usage = Some(answer.usage);
    crate::cache::store(draft, &answer).await;
    for choice in &answer.choices {
        state
            .provider_state
            .remember(&key.tenant_id, &choice.message);
    }
    if let Some(restorer) = &protection.restorer {
        // The log keeps the answer as the provider gave it (placeholders, no personal data).
        if draft.log_bodies {
            let unrestored = openai::inbound::render_chat(&answer, &chat.model);
            draft.capture_response(unrestored.to_string().as_bytes());
        }
        restorer.restore_response(&mut answer);
    }
    tracing::info!(
        request_id = %context::request_id(req),
        route = %plan.route,
        provider = %by.target.provider,
        attempts = by.attempts,
        prompt_tokens = answer.usage.prompt_tokens,
        completion_tokens = answer.usage.completion_tokens,
        "chat completed"
    );
    let rendered = openai::inbound::render_chat(&answer, &chat.model);
    if draft.log_bodies && protection.restorer.is_none() {
        draft.capture_response(rendered.to_string().as_bytes());
    }
    Ok(reply.head().json(rendered))
}
