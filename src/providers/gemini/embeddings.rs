//! Embeddings through `models.batchEmbedContents` (one `EmbedContentRequest` per input).

use super::PROVIDER;
use super::request::{auth_headers, cannot_honour, endpoint, model_resource};
use super::wire::{
    GeminiBatchEmbedRequest, GeminiBatchEmbedResponse, GeminiContent, GeminiEmbedContentRequest,
    GeminiPart,
};
use crate::providers::types::{EmbeddingRequest, EmbeddingResponse, Usage};
use crate::providers::{ErrorKind, ProviderError, Target, UpstreamRequest};

/// Builds `POST {base}/v1beta/models/{model}:batchEmbedContents`.
pub fn embeddings_request(
    target: &Target,
    req: &EmbeddingRequest,
) -> Result<UpstreamRequest, ProviderError> {
    if req.user.is_some() {
        tracing::debug!(provider = %target.provider, "dropping `user`: Gemini has none");
    }
    let task_type = match req.input_type.as_deref() {
        None => None,
        Some(input_type) => match task_type(input_type) {
            Some(task) => Some(task),
            None => {
                cannot_honour(target, "input_type", "no matching Gemini taskType")?;
                None
            }
        },
    };
    let model = model_resource(&target.upstream_model);
    let requests = req
        .input
        .iter()
        .map(|text| GeminiEmbedContentRequest {
            model: model.clone(),
            content: GeminiContent {
                role: None,
                parts: vec![GeminiPart::text(text)],
            },
            task_type: task_type.clone(),
            output_dimensionality: req.dimensions,
        })
        .collect();
    let body = serde_json::to_vec(&GeminiBatchEmbedRequest { requests })
        .map_err(|e| ProviderError::new(ErrorKind::InvalidRequest, format!("{PROVIDER}: {e}")))?;
    Ok(UpstreamRequest {
        url: endpoint(target, "batchEmbedContents"),
        headers: auth_headers(target),
        body,
        stream: false,
    })
}

/// Gemini `taskType` for a Cohere-style input type (Gemini's own names are accepted too).
fn task_type(input_type: &str) -> Option<String> {
    let task = match input_type.to_ascii_lowercase().as_str() {
        "search_document" | "retrieval_document" => "RETRIEVAL_DOCUMENT",
        "search_query" | "retrieval_query" => "RETRIEVAL_QUERY",
        "classification" => "CLASSIFICATION",
        "clustering" => "CLUSTERING",
        "semantic_similarity" => "SEMANTIC_SIMILARITY",
        "question_answering" => "QUESTION_ANSWERING",
        "fact_verification" => "FACT_VERIFICATION",
        "code_retrieval_query" => "CODE_RETRIEVAL_QUERY",
        _ => return None,
    };
    Some(task.to_owned())
}

/// Reads a `batchEmbedContents` answer (contract signature). Gemini reports no usage and the
/// body does not say what was embedded, so usage is `estimated` with zero tokens; prefer
/// [`embeddings_response_for`], which estimates from the inputs.
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    let response: GeminiBatchEmbedResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
    Ok(EmbeddingResponse {
        model: String::new(),
        embeddings: response.embeddings.into_iter().map(|e| e.values).collect(),
        usage: Usage {
            estimated: true,
            ..Usage::default()
        },
    })
}

/// Reads a `batchEmbedContents` answer for `req`: one vector per input (checked), the
/// request's model, and usage estimated as ⌈characters / 4⌉ prompt tokens per input.
pub fn embeddings_response_for(
    body: &[u8],
    req: &EmbeddingRequest,
) -> Result<EmbeddingResponse, ProviderError> {
    let mut response = embeddings_response(body)?;
    if response.embeddings.len() != req.input.len() {
        return Err(ProviderError::protocol(
            PROVIDER,
            format!(
                "{} embeddings for {} inputs",
                response.embeddings.len(),
                req.input.len()
            ),
        ));
    }
    response.model = req.model.clone();
    response.usage = estimated_usage(req);
    Ok(response)
}

/// Usage Gemini does not report: ⌈characters / 4⌉ per input, marked `estimated`.
pub fn estimated_usage(req: &EmbeddingRequest) -> Usage {
    Usage {
        prompt_tokens: req
            .input
            .iter()
            .map(|t| (t.chars().count() as u64).div_ceil(4))
            .sum(),
        estimated: true,
        ..Usage::default()
    }
}
