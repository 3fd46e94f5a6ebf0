//! `POST /v1/messages`: Anthropic's Messages API, served by any provider through the route or
//! model named. Anthropic-served models get the caller's body forwarded as is; every other
//! provider gets a translation.

use actix_web::{HttpRequest, HttpResponse, web};

use super::context;
use super::dialect::Dialect;
use super::pipeline::{self, Body};
use super::relay::Encoder;
use super::respond::{self, Failure, Reply};
use crate::config::ModelMode;
use crate::metering::log::LogDraft;
use crate::providers::{ProviderError, ProviderKind, RawObject, anthropic, dispatch};
use crate::state::AppState;

/// The handler.
pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut draft = LogDraft::new(context::request_id(&req), "messages");
    let result = handle(&req, payload, &state, &mut draft)
        .await
        .map(|mut res| {
            crate::cache::mark(&mut res, &draft);
            res
        });
    respond::finish(&state, draft, result, Dialect::Anthropic)
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    draft: &mut LogDraft,
) -> Result<HttpResponse, Failure> {
    let (key, body) = context::admit(req, payload, state, draft).await?;
    let mut chat = anthropic::inbound::parse_request(&body)?;
    draft.requested_model = Some(chat.model.clone());
    draft.end_user.clone_from(&chat.user);
    let protection = super::pii::protect(&key, &mut chat, draft)?;
    let plan = context::plan(state, &key, req, &chat.model, ModelMode::Chat, Some(&chat))?;
    draft.route = Some(plan.route.clone());
    context::enforce_limits(
        state,
        &key,
        &plan,
        context::PromptTokens::Chat(&chat),
        draft,
    )
    .await?;
    draft.settlement = context::reserve_budgets(state, &key, &plan, &chat).await?;
    // PII redaction, when configured, rewrites the request here: before the cache lookup.
    if let Some(hit) = crate::cache::lookup(state, req, &key, &plan.route, &chat, draft).await {
        let hit = super::pii::restored_hit(hit, &protection);
        let surface = crate::cache::Surface::Anthropic;
        return Ok(crate::cache::respond(
            &hit,
            &chat,
            &plan.route,
            surface,
            draft,
        ));
    }
    draft.credits = context::reserve_credits(state, &key, &plan, &chat).await?;
    state.provider_state.restore(&key.tenant_id, &mut chat);
    let raw: RawObject =
        serde_json::from_slice(&body).map_err(|e| ProviderError::protocol("Switchyard", e))?;
    draft.capture_request(|| super::pii::loggable_request(&raw, &chat, &protection));
    let beta = req
        .headers()
        .get("anthropic-beta")
        .and_then(|v| v.to_str().ok());
    let served = pipeline::run(
        state,
        &context::http(req, state),
        &plan,
        context::strict(req),
        chat.stream,
        |target| {
            if target.kind == ProviderKind::Anthropic && !protection.rewritten {
                anthropic::passthrough_request(target, raw.clone(), chat.stream, beta)
            } else {
                dispatch::chat_request(target, &chat)
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
    let same_format = by.target.kind == ProviderKind::Anthropic && protection.restorer.is_none();
    let bytes = match body {
        Body::Stream { first, rest } => {
            let encoder = if same_format {
                Encoder::AnthropicPassthrough
            } else {
                Encoder::Anthropic(anthropic::inbound::StreamEncoder::new(&chat.model))
            };
            let encoder = super::pii::restoring(encoder, &protection);
            return Ok(reply.stream(&chat, first, rest, encoder, draft));
        }
        Body::Complete(bytes) => bytes,
    };
    let mut answer = dispatch::chat_response(by.target.kind, &bytes).map_err(|error| Failure {
        error,
        route: Some(plan.route.clone()),
        attempts: by.attempts,
        headers: Vec::new(),
    })?;
    draft.usage = Some(answer.usage);
    crate::cache::store(draft, &answer).await;
    tracing::info!(
        request_id = %context::request_id(req),
        route = %plan.route,
        provider = %by.target.provider,
        attempts = by.attempts,
        prompt_tokens = answer.usage.prompt_tokens,
        completion_tokens = answer.usage.completion_tokens,
        "messages completed"
    );
    if same_format {
        draft.capture_response(&bytes);
        return Ok(reply.head().content_type("application/json").body(bytes));
    }
    if let Some(restorer) = &protection.restorer {
        // The log keeps the answer as the provider gave it (placeholders, no personal data).
        if draft.log_bodies {
            let unrestored = anthropic::inbound::render_response(&answer, &chat.model);
            draft.capture_response(unrestored.to_string().as_bytes());
        }
        restorer.restore_response(&mut answer);
    }
    for choice in &answer.choices {
        state
            .provider_state
            .remember(&key.tenant_id, &choice.message);
    }
    let rendered = anthropic::inbound::render_response(&answer, &chat.model);
    if draft.log_bodies && protection.restorer.is_none() {
        draft.capture_response(rendered.to_string().as_bytes());
    }
    Ok(reply.head().json(rendered))
}
