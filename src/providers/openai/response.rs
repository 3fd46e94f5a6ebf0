//! Reading OpenAI-style answers: complete responses, errors and embeddings.

use super::wire::*;
use crate::providers::types::*;
use crate::providers::{ErrorKind, ProviderError, generated_id, unix_now};

/// The provider name used in messages.
pub const NAME: &str = "OpenAI";

/// Maps OpenAI's `finish_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Converts OpenAI usage.
pub fn usage(u: &OpenAiUsage) -> Usage {
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        cached_tokens: u
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: u
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
        estimated: false,
    }
}

/// The usage of a forwarded answer (chat or embeddings) without reading the rest of it.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct UsageOnly {
        #[serde(default)]
        usage: Option<OpenAiUsage>,
    }
    serde_json::from_slice::<UsageOnly>(body)
        .ok()
        .and_then(|u| u.usage)
        .map(|u| usage(&u))
}

/// Reads a 2xx `chat.completion` body.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let wire: OpenAiChatResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(NAME, e))?;
    let choices = wire
        .choices
        .into_iter()
        .map(|c| Choice {
            index: c.index,
            message: assistant_message(c.message),
            finish_reason: c
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, finish_reason),
            logprobs: c.logprobs.filter(|l| !l.is_null()),
        })
        .collect();
    Ok(ChatResponse {
        id: if wire.id.is_empty() {
            generated_id("chatcmpl-")
        } else {
            wire.id
        },
        model: wire.model,
        created: if wire.created == 0 {
            unix_now()
        } else {
            wire.created
        },
        choices,
        usage: wire.usage.as_ref().map(usage).unwrap_or_default(),
    })
}

fn assistant_message(m: OpenAiMessage) -> Message {
    let mut content = Vec::new();
    if let Some(reasoning) = m.reasoning_content.filter(|r| !r.is_empty()) {
        content.push(Part::Thinking {
            text: reasoning,
            signature: None,
        });
    }
    match m.content {
        Some(OpenAiContent::Text(text)) if !text.is_empty() => content.push(Part::Text { text }),
        Some(OpenAiContent::Parts(parts)) => {
            for part in parts {
                if let OpenAiContentPart::Text { text } = part {
                    content.push(Part::Text { text });
                }
            }
        }
        _ => {}
    }
    if let Some(refusal) = m.refusal.filter(|r| !r.is_empty()) {
        content.push(Part::Text { text: refusal });
    }
    let tool_calls = tool_calls(m.tool_calls, m.function_call);
    Message {
        role: Role::Assistant,
        content,
        tool_calls,
        tool_call_id: None,
        is_error: false,
        name: None,
    }
}

/// Tool calls of an OpenAI message, the legacy `function_call` last. A legacy call gets the id
/// `call_<name>`, the same id a legacy `function` result is matched with.
pub(super) fn tool_calls(
    calls: Option<Vec<OpenAiToolCall>>,
    legacy: Option<OpenAiFunctionCall>,
) -> Vec<ToolCall> {
    let mut out: Vec<ToolCall> = calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
            signature: None,
        })
        .collect();
    if let Some(f) = legacy {
        out.push(ToolCall {
            id: format!("call_{}", f.name),
            name: f.name,
            arguments: f.arguments,
            signature: None,
        });
    }
    out
}

/// Maps a non-2xx answer, keeping OpenAI's message, type and code.
pub fn error_response(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<OpenAiErrorBody>(body) {
        Ok(parsed) => from_detail(status, parsed.error),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.chars().take(200).collect();
            ProviderError::from_status(status, format!("{NAME}: HTTP {status}: {snippet}"))
        }
    }
}

/// Maps an OpenAI error object (also used for errors inside streams).
pub fn from_detail(status: u16, detail: OpenAiErrorDetail) -> ProviderError {
    let code = detail.code.as_ref().and_then(|c| match c {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let mut err = ProviderError::from_status(status, format!("{NAME}: {}", detail.message));
    match code.as_deref() {
        Some("context_length_exceeded") => {
            err.kind = ErrorKind::ContextLengthExceeded;
            err.retryable = false;
        }
        Some("content_filter") | Some("content_policy_violation") => {
            err.kind = ErrorKind::ContentFilter;
            err.retryable = false;
        }
        _ => {}
    }
    err.code = code.or(detail.kind);
    err.param = detail.param;
    err
}

/// Reads a 2xx embeddings body.
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    let mut wire: OpenAiEmbeddingResponse =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(NAME, e))?;
    wire.data.sort_by_key(|d| d.index);
    Ok(EmbeddingResponse {
        model: wire.model,
        embeddings: wire.data.into_iter().map(|d| d.embedding).collect(),
        usage: wire.usage.as_ref().map(usage).unwrap_or_default(),
    })
}
