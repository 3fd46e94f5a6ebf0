//! Unified answers and errors → Anthropic JSON.

use serde::Serialize;
use serde_json::{Value, json};

use crate::providers::anthropic::error::anthropic_error_type;
use crate::providers::anthropic::wire::AnthropicContentBlock;
use crate::providers::types::{ChatResponse, FinishReason, Message, Part, Usage};
use crate::providers::{ProviderError, generated_id};

/// A unified answer → an Anthropic Message (`type: "message"`), under the caller's `model`.
pub fn render_response(resp: &ChatResponse, model: &str) -> Value {
    let choice = resp.choices.first();
    let content: Vec<Value> = choice
        .map(|c| content_blocks(&c.message))
        .unwrap_or_default()
        .iter()
        .map(to_json)
        .collect();
    let has_tools = choice.is_some_and(|c| !c.message.tool_calls.is_empty());
    let reason = choice.map_or(FinishReason::Stop, |c| c.finish_reason.clone());
    json!({
        "id": message_id(&resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(&reason, has_tools),
        "stop_sequence": null,
        "usage": usage_json(&resp.usage),
    })
}

/// An error → `{"type":"error","error":{"type":…,"message":…}}`.
pub fn render_error(err: &ProviderError) -> Value {
    json!({
        "type": "error",
        "error": {"type": anthropic_error_type(err), "message": err.message},
    })
}

/// Serialises a wire value (infallible for the plain types used here).
pub(super) fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The assistant message as blocks: thinking first, then text, then `tool_use`.
fn content_blocks(message: &Message) -> Vec<AnthropicContentBlock> {
    let mut thinking = Vec::new();
    let mut rest = Vec::new();
    for part in &message.content {
        match part {
            Part::Thinking { text, signature } => thinking.push(AnthropicContentBlock::Thinking {
                thinking: text.clone(),
                signature: signature.clone().unwrap_or_default(),
            }),
            Part::RedactedThinking { data } => {
                thinking.push(AnthropicContentBlock::RedactedThinking { data: data.clone() })
            }
            Part::Text { text } if !text.is_empty() => {
                rest.push(AnthropicContentBlock::Text { text: text.clone() })
            }
            Part::Text { .. } | Part::Image { .. } => {}
        }
    }
    for call in &message.tool_calls {
        rest.push(AnthropicContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.name.clone(),
            input: tool_input(&call.arguments),
        });
    }
    thinking.extend(rest);
    thinking
}

/// Tool-call arguments as the JSON object Anthropic's `input` must be.
pub(super) fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => json!({}),
        _ => {
            tracing::debug!("Anthropic inbound: tool arguments are not a JSON object");
            json!({})
        }
    }
}

/// Keeps an Anthropic id; derives `msg_…` from any other.
pub(super) fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        return id.to_owned();
    }
    let clean: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    if clean.is_empty() {
        generated_id("msg_")
    } else {
        format!("msg_{clean}")
    }
}

/// Finish reason → `stop_reason`; a natural stop with tool calls is `tool_use`, as Anthropic
/// clients run tools only on that reason.
pub(super) fn stop_reason(reason: &FinishReason, has_tools: bool) -> &'static str {
    match reason {
        FinishReason::Stop if has_tools => "tool_use",
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Other(other) => match other.as_str() {
            "pause_turn" => "pause_turn",
            "model_context_window_exceeded" => "model_context_window_exceeded",
            _ => "end_turn",
        },
    }
}

/// Unified usage → Anthropic usage (`input_tokens` excludes cache reads and writes).
pub(super) fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": uncached_input(u),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.completion_tokens,
    })
}

pub(super) fn uncached_input(u: &Usage) -> u64 {
    u.prompt_tokens
        .saturating_sub(u.cached_tokens)
        .saturating_sub(u.cache_write_tokens)
}
