//! A Gemini `GenerateContentResponse` to the unified [`ChatResponse`], plus the pieces the
//! stream decoder shares (part classification, finish reasons, usage).

use serde_json::{Value, json};

use super::PROVIDER;
use super::error::{from_error_body, parse_error_body, prompt_blocked};
use super::wire::{
    GeminiCandidate, GeminiLogprobsResult, GeminiPart, GeminiResponse, GeminiUsageMetadata,
};
use crate::providers::types::{
    ChatResponse, Choice, FinishReason, Message, Part, Role, ToolCall, Usage,
};
use crate::providers::{ProviderError, generated_id, unix_now};

/// Reads a 2xx `generateContent` body.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let response = parse_response(body)?;
    if response.candidates.is_empty() {
        return Err(empty_answer(&response));
    }
    let choices = response
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| candidate_choice(i, c))
        .collect();
    Ok(ChatResponse {
        id: response_id(&response),
        model: response.model_version.clone().unwrap_or_default(),
        created: unix_now(),
        choices,
        usage: response.usage_metadata.map(usage).unwrap_or_default(),
    })
}

/// Parses a response body, turning an embedded error object into an error.
pub(crate) fn parse_response(body: &[u8]) -> Result<GeminiResponse, ProviderError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
    if value.get("error").is_some() {
        let error = parse_error_body(body).unwrap_or_default();
        return Err(from_error_body(500, &error));
    }
    serde_json::from_value(value).map_err(|e| ProviderError::protocol(PROVIDER, e))
}

/// No candidates: a blocked prompt, or an answer we cannot use.
pub(crate) fn empty_answer(response: &GeminiResponse) -> ProviderError {
    match response
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
    {
        Some(reason) => prompt_blocked(reason),
        None => ProviderError::protocol(PROVIDER, "the answer has no candidates"),
    }
}

/// Gemini's `responseId`, or a generated one.
pub(crate) fn response_id(response: &GeminiResponse) -> String {
    response
        .response_id
        .clone()
        .unwrap_or_else(|| generated_id("gen-"))
}

fn candidate_choice(position: usize, candidate: &GeminiCandidate) -> Choice {
    let mut content: Vec<Part> = Vec::new();
    let mut tool_calls = Vec::new();
    let parts = candidate.content.iter().flat_map(|c| &c.parts);
    for piece in parts.flat_map(classify_part) {
        match piece {
            Piece::Thinking { text, signature } => content.push(Part::Thinking { text, signature }),
            Piece::Signature(signature) => content.push(Part::Thinking {
                text: String::new(),
                signature: Some(signature),
            }),
            Piece::Text(text) => push_text(&mut content, text),
            Piece::Call(call) => tool_calls.push(call),
        }
    }
    let finish_reason = finish_reason(candidate.finish_reason.as_deref(), !tool_calls.is_empty());
    Choice {
        index: candidate.index.unwrap_or(position as u32),
        message: Message {
            role: Role::Assistant,
            content,
            tool_calls,
            tool_call_id: None,
            is_error: false,
            name: None,
        },
        finish_reason,
        logprobs: candidate.logprobs_result.as_ref().map(openai_logprobs),
    }
}

/// Appends text, joining it to a preceding text part.
fn push_text(content: &mut Vec<Part>, text: String) {
    if let Some(Part::Text { text: last }) = content.last_mut() {
        last.push_str(&text);
    } else {
        content.push(Part::Text { text });
    }
}

/// What one Gemini part means, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Piece {
    /// A `thought: true` part (its signature travels with it).
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// A signature carried by a text part (it precedes that text) or by an empty part.
    Signature(String),
    Text(String),
    Call(ToolCall),
}

/// Splits a part into pieces; unknown part kinds (code execution, media) yield nothing.
pub(crate) fn classify_part(part: &GeminiPart) -> Vec<Piece> {
    let signature = part.thought_signature.clone();
    if let Some(call) = &part.function_call {
        let arguments = call
            .args
            .as_ref()
            .map_or_else(|| "{}".to_owned(), Value::to_string);
        return vec![Piece::Call(ToolCall {
            id: call.id.clone().unwrap_or_else(|| generated_id("call_")),
            name: call.name.clone(),
            arguments,
            signature,
        })];
    }
    let text = part.text.clone().unwrap_or_default();
    if part.thought == Some(true) {
        return if text.is_empty() && signature.is_none() {
            Vec::new()
        } else {
            vec![Piece::Thinking { text, signature }]
        };
    }
    let mut pieces: Vec<Piece> = signature.into_iter().map(Piece::Signature).collect();
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// Gemini's `finishReason` in unified form; `STOP` after function calls is `ToolCalls`.
pub(crate) fn finish_reason(reason: Option<&str>, has_calls: bool) -> FinishReason {
    match reason {
        None | Some("STOP") if has_calls => FinishReason::ToolCalls,
        None | Some("STOP") => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT",
        ) => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// `usageMetadata` in unified form: prompt includes cached and tool-use prompt tokens;
/// completion includes thoughts.
pub(crate) fn usage(m: GeminiUsageMetadata) -> Usage {
    Usage {
        prompt_tokens: m.prompt_token_count + m.tool_use_prompt_token_count,
        completion_tokens: m.candidates_token_count + m.thoughts_token_count,
        cached_tokens: m.cached_content_token_count,
        cache_write_tokens: 0,
        reasoning_tokens: m.thoughts_token_count,
        estimated: false,
    }
}

/// `logprobsResult` as OpenAI's `logprobs` object (`content[]` with `top_logprobs`).
pub(crate) fn openai_logprobs(result: &GeminiLogprobsResult) -> Value {
    let content: Vec<Value> = result
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, chosen)| {
            let top: Vec<Value> = result
                .top_candidates
                .get(i)
                .map(|t| {
                    t.candidates
                        .iter()
                        .map(|c| token_logprob(&c.token, c.log_probability))
                        .collect()
                })
                .unwrap_or_default();
            let mut entry = token_logprob(&chosen.token, chosen.log_probability);
            entry["top_logprobs"] = Value::Array(top);
            entry
        })
        .collect();
    json!({ "content": content })
}

fn token_logprob(token: &str, logprob: f64) -> Value {
    json!({ "token": token, "logprob": logprob, "bytes": token.as_bytes() })
}
