//! The semantic cache's one embedding call per lookup, served through this gateway's own
//! catalog and routing (fallbacks and retries apply). Its cost is tracked as a request-log row of
//! its own (endpoint `embeddings`, same request id, tenant, team and key as the chat call).

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
    log.requested_model = Some(model.to_owned());
    log.route = Some(plan.route.clone());
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
