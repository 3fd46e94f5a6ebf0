//! Anthropic Message (2xx body) → unified [`ChatResponse`].

use super::PROVIDER;
use super::wire::{AnthropicContentBlock, AnthropicResponse, AnthropicUsage};
use crate::providers::types::{
    ChatResponse, Choice, FinishReason, Message, Part, Role, ToolCall, Usage,
};
use crate::providers::{ProviderError, unix_now};

/// Reads a complete Message.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let parsed: AnthropicResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
    let mut message = Message {
        role: Role::Assistant,
        content: Vec::new(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        is_error: false,
        name: None,
    };
    for block in parsed.content {
        add_block(&mut message, block);
    }
    let finish_reason = parsed
        .stop_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    Ok(ChatResponse {
        id: parsed.id,
        model: parsed.model,
        created: unix_now(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason,
            logprobs: None,
        }],
        usage: usage(&parsed.usage),
    })
}

fn add_block(message: &mut Message, block: AnthropicContentBlock) {
    match block {
        AnthropicContentBlock::Text { text } => message.content.push(Part::Text { text }),
        AnthropicContentBlock::Thinking {
            thinking,
            signature,
        } => message.content.push(Part::Thinking {
            text: thinking,
            signature: (!signature.is_empty()).then_some(signature),
        }),
        AnthropicContentBlock::RedactedThinking { data } => {
            message.content.push(Part::RedactedThinking { data })
        }
        AnthropicContentBlock::ToolUse { id, name, input } => message.tool_calls.push(ToolCall {
            id,
            name,
            arguments: input.to_string(),
            signature: None,
        }),
        AnthropicContentBlock::Image { .. }
        | AnthropicContentBlock::ToolResult { .. }
        | AnthropicContentBlock::Unknown => {
            tracing::debug!("Anthropic: ignoring a content block Switchyard does not model");
        }
    }
}

/// `stop_reason` → finish reason.
pub(crate) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "stop_sequence" => FinishReason::StopSequence,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic reports uncached, cache-write and cache-read input tokens separately; unified
/// prompt tokens are their sum.
pub(crate) fn usage(u: &AnthropicUsage) -> Usage {
    let cache_write = u.cache_creation_input_tokens.unwrap_or(0);
    let cached = u.cache_read_input_tokens.unwrap_or(0);
    Usage {
        prompt_tokens: u.input_tokens.unwrap_or(0) + cache_write + cached,
        completion_tokens: u.output_tokens.unwrap_or(0),
        cached_tokens: cached,
        cache_write_tokens: cache_write,
        reasoning_tokens: u.output_tokens_details.map_or(0, |d| d.thinking_tokens),
        estimated: false,
    }
}
