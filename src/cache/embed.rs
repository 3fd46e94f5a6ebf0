//! The semantic cache's one embedding call per lookup, served through this gateway's own
//! catalog and routing (fallbacks and retries apply). It is paid like a `/v1/embeddings` call of
//! the caller: its most possible cost is reserved on the caller's budgets (key, team, tenant,
//! end user, the embedding model) and prepaid credits before the call, and settled with the
//! actual cost after it; its request-log row is its own (endpoint `embeddings`, same request
//! id, tenant, team and key as the chat call). When a budget or the credits cannot cover it,
//! the call is not made and the request goes on without the semantic cache.

use actix_web::HttpRequest;

use crate::config::ModelMode;
use crate::data_plane::context;
use crate::data_plane::pipeline::{self, Body};
use crate::metering::log::LogDraft;
use crate::policy::snapshot::KeyPolicy;
use crate::providers::dispatch;
use crate::providers::types::EmbeddingRequest;
use crate::routing::rules::Features;
use crate::state::AppState;

/// The unit-length embedding of `text` with `model`; `None` (and a warning) when it cannot be
/// had, in which case the request simply goes without the semantic cache.
pub async fn embed(
    state: &AppState,
    req: &HttpRequest,
    key: &KeyPolicy,
    draft: &LogDraft,
    model: &str,
    text: &str,
) -> Option<Vec<f32>> {
    let features = Features {
        tags: Vec::new(),
        headers: req.headers(),
        key_id: &key.key_id,
        team_id: key.team_id.as_deref(),
        team_name: key.team_name.as_deref(),
        prompt_tokens: 0,
        has_tools: false,
        has_images: false,
        last_user_text: String::new(),
    };
    let plan = match state.router.plan(
        &state.catalog,
        &state.health,
        model,
        ModelMode::Embedding,
        &features,
    ) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::warn!(model, error = ?e, "cache.embedding_model cannot be planned; semantic cache skipped");
            return None;
        }
    };
    let request = EmbeddingRequest {
        model: model.to_owned(),
        input: vec![text.to_owned()],
        ..EmbeddingRequest::default()
    };
    let mut log = LogDraft::new(draft.request_id.clone(), "embeddings");
    log.tenant_id.clone_from(&draft.tenant_id);
    log.team_id.clone_from(&draft.team_id);
    log.key_id.clone_from(&draft.key_id);
    log.end_user.clone_from(&draft.end_user);
    log.requested_model = Some(model.to_owned());
    log.route = Some(plan.route.clone());
    let prompt_tokens = (text.len() as u64).div_ceil(4);
    let call = context::BudgetedCall {
        end_user: draft.end_user.as_deref(),
        model,
        prompt_tokens,
        max_tokens: Some(0),
    };
    log.settlement = match context::reserve_budgets_for(state, key, &plan, call).await {
        Ok(settlement) => settlement,
        Err(refused) => {
            tracing::info!(model, reason = %refused.error, "cache embedding not paid for; semantic cache skipped");
            return None;
        }
    };
    let estimate = crate::billing::hold::Estimate {
        prompt_tokens,
        max_tokens: Some(0),
    };
    log.credits = match context::reserve_credits_for(state, key, &plan, estimate).await {
        Ok(hold) => hold,
        Err(refused) => {
            tracing::info!(model, reason = %refused.error, "cache embedding not paid for; semantic cache skipped");
            // Dropping the draft unsettled would keep the budget reservation held.
            if let Some(settlement) = log.settlement.take() {
                settlement.settle(0);
            }
            return None;
        }
    };
    let served = pipeline::run(
        state,
        &context::http(req, state),
        &plan,
        false,
        false,
        |target| dispatch::embeddings_request(target, &request),
    )
    .await;
    let outcome = match served {
        Ok(pipeline::Served {
            by,
            body: Body::Complete(bytes),
        }) => {
            by.note(&mut log);
            dispatch::embeddings_response(by.target.kind, &bytes, &request)
        }
        Ok(pipeline::Served { by, .. }) => {
            by.note(&mut log);
            Err(crate::providers::ProviderError::protocol(
                &by.target.provider,
                "unexpected stream",
            ))
        }
        Err(failed) => {
            log.attempts = failed.attempts;
            Err(failed.error)
        }
    };
    match outcome {
        Ok(answer) => {
            log.usage = Some(answer.usage);
            if let Some(record) = log.finish(200, None, "complete", None) {
                state.logs.record(record);
            }
            answer
                .embeddings
                .into_iter()
                .next()
                .and_then(super::semantic::normalized)
        }
        Err(error) => {
            tracing::warn!(model, error = %error, "cache embedding failed; semantic cache skipped");
            if let Some(record) = log.finish(error.status, Some(&error), "error", None) {
                state.logs.record(record);
            }
            None
        }
    }
}
