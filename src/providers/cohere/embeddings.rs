//! Unified embeddings ↔ Cohere `POST /v2/embed` (float embeddings).

use super::PROVIDER;
use super::request::{cannot_honour, headers};
use super::response::count;
use super::wire::{CohereEmbedRequest, CohereEmbedResponse};
use crate::providers::types::{EmbeddingRequest, EmbeddingResponse, Usage};
use crate::providers::{ErrorKind, ProviderError, Target, UpstreamRequest};

/// The `input_type` sent when the caller gave none (Cohere requires one for v3+ models).
const DEFAULT_INPUT_TYPE: &str = "search_document";

/// Builds the upstream request for an embeddings call (`{base_url}/v2/embed`).
pub fn embeddings_request(
    target: &Target,
    req: &EmbeddingRequest,
) -> Result<UpstreamRequest, ProviderError> {
    if req.input.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "embeddings input must not be empty",
        )
        .with_param("input"));
    }
    if req.user.is_some() {
        cannot_honour(target, "user")?;
    }
    let body = CohereEmbedRequest {
        model: target.upstream_model.clone(),
        texts: req.input.clone(),
        input_type: input_type(target, req.input_type.as_deref())?,
        embedding_types: vec!["float"],
        output_dimension: req.dimensions,
    };
    let body = serde_json::to_vec(&body).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("{PROVIDER}: cannot encode the request: {e}"),
        )
    })?;
    Ok(UpstreamRequest {
        url: format!("{}/v2/embed", target.base_url.trim_end_matches('/')),
        headers: headers(target, false),
        body,
        stream: false,
    })
}

/// Cohere's `input_type` for a task hint; Gemini-style task names are accepted too.
fn input_type(target: &Target, hint: Option<&str>) -> Result<String, ProviderError> {
    let Some(hint) = hint else {
        return Ok(DEFAULT_INPUT_TYPE.to_owned());
    };
    let normalized = hint.trim().to_ascii_lowercase().replace('-', "_");
    let mapped = match normalized.as_str() {
        "search_document" | "retrieval_document" | "document" => Some("search_document"),
        "search_query" | "retrieval_query" | "query" => Some("search_query"),
        "classification" => Some("classification"),
        "clustering" => Some("clustering"),
        _ => None,
    };
    match mapped {
        Some(t) => Ok(t.to_owned()),
        None => {
            cannot_honour(target, "input_type")?;
            Ok(DEFAULT_INPUT_TYPE.to_owned())
        }
    }
}

/// Reads a 2xx embed body: one float vector per input, in order. Cohere names no model in the
/// answer, so `model` is left empty for the caller to fill.
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    let wire: CohereEmbedResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
    let embeddings = wire
        .embeddings
        .float
        .ok_or_else(|| ProviderError::protocol(PROVIDER, "no float embeddings in the answer"))?;
    let counts = wire
        .meta
        .and_then(|m| m.billed_units.or(m.tokens))
        .unwrap_or_default();
    Ok(EmbeddingResponse {
        model: String::new(),
        embeddings,
        usage: Usage {
            prompt_tokens: count(counts.input_tokens),
            ..Usage::default()
        },
    })
}
