//! Cohere chat answer → unified response; usage, finish reasons and logprobs.

use serde_json::{Value, json};

use super::PROVIDER;
use super::wire::{
    CohereChatResponse, CohereLogprobItem, CohereResponseContent, CohereTokenCounts, CohereUsage,
};
use crate::providers::types::{
    ChatResponse, Choice, FinishReason, Message, Part, Role, ToolCall, Usage,
};
use crate::providers::{ProviderError, unix_now};

/// Reads a 2xx chat body. Cohere names no model in its answers, so `model` is left empty for
/// the caller to fill with the model it sent.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let wire: CohereChatResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
    let message = assistant_message(&wire);
    Ok(ChatResponse {
        id: wire.id,
        model: String::new(),
        created: unix_now(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: finish_reason(&wire.finish_reason),
            logprobs: wire.logprobs.as_deref().map(openai_logprobs),
        }],
        usage: wire.usage.as_ref().map(usage).unwrap_or_default(),
    })
}

/// Content items in order, then the tool plan (the text Cohere writes before tool calls).
fn assistant_message(wire: &CohereChatResponse) -> Message {
    let mut content = Vec::new();
    for item in wire.message.content.iter().flatten() {
        match item {
            CohereResponseContent::Text { text } => content.push(Part::Text { text: text.clone() }),
            CohereResponseContent::Thinking { thinking } => content.push(Part::Thinking {
                text: thinking.clone(),
                signature: None,
            }),
            CohereResponseContent::Other => {}
        }
    }
    if let Some(plan) = wire.message.tool_plan.as_ref().filter(|p| !p.is_empty()) {
        content.push(Part::Text { text: plan.clone() });
    }
    let tool_calls = wire
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|c| ToolCall {
            id: c.id.clone(),
            name: c.function.name.clone(),
            arguments: c.function.arguments.clone(),
            signature: None,
        })
        .collect();
    Message {
        role: Role::Assistant,
        content,
        tool_calls,
        tool_call_id: None,
        is_error: false,
        name: None,
    }
}

/// Maps Cohere's `finish_reason`; `ERROR` and `TIMEOUT` (and unknown values) stay verbatim.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "COMPLETE" => FinishReason::Stop,
        "STOP_SEQUENCE" => FinishReason::StopSequence,
        "MAX_TOKENS" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Unified usage: processed `tokens` when present, else `billed_units`; `cached_tokens` is part
/// of the input tokens.
pub fn usage(u: &CohereUsage) -> Usage {
    let counts = u
        .tokens
        .filter(has_counts)
        .or(u.billed_units)
        .unwrap_or_default();
    let prompt_tokens = count(counts.input_tokens);
    Usage {
        prompt_tokens,
        completion_tokens: count(counts.output_tokens),
        cached_tokens: count(u.cached_tokens).min(prompt_tokens),
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        estimated: false,
    }
}

fn has_counts(c: &CohereTokenCounts) -> bool {
    c.input_tokens.is_some() || c.output_tokens.is_some()
}

/// A token count (the API types counts as numbers).
pub(super) fn count(v: Option<f64>) -> u64 {
    match v {
        Some(x) if x.is_finite() && x > 0.0 => x.round() as u64,
        _ => 0,
    }
}

/// Cohere's per-chunk logprobs in OpenAI's `{"content": [{token, logprob, bytes, top_logprobs}]}`
/// shape; a chunk's log probability is the sum over its tokens.
fn openai_logprobs(items: &[CohereLogprobItem]) -> Value {
    let content: Vec<Value> = items
        .iter()
        .map(|item| {
            let token = item.text.clone().unwrap_or_default();
            let logprob: f64 = item.logprobs.iter().flatten().sum();
            json!({
                "token": token,
                "logprob": logprob,
                "bytes": token.as_bytes(),
                "top_logprobs": [],
            })
        })
        .collect();
    json!({ "content": content })
}
