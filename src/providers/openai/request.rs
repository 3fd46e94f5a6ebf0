//! Building requests for OpenAI-style providers (OpenAI, Azure OpenAI, OpenAI-compatible).

use serde_json::{Map, Value};

use super::wire::*;
pub use crate::providers::RawObject;
use crate::providers::types::*;
use crate::providers::{ProviderError, ProviderKind, Target, UpstreamRequest, raw_json};

/// The URL and headers for one OpenAI-style endpoint (`chat/completions`, `embeddings`).
pub fn endpoint(target: &Target, path: &str) -> (String, Vec<(&'static str, String)>) {
    let base = target.base_url.trim_end_matches('/');
    let mut headers = vec![("content-type", "application/json".to_owned())];
    let url = match target.kind {
        ProviderKind::AzureOpenai => {
            headers.push(("api-key", target.api_key.clone()));
            format!(
                "{base}/openai/deployments/{}/{path}?api-version={}",
                target.upstream_model,
                target.api_version.as_deref().unwrap_or_default()
            )
        }
        _ => {
            if !target.api_key.is_empty() {
                headers.push(("authorization", format!("Bearer {}", target.api_key)));
            }
            format!("{base}/{path}")
        }
    };
    (url, headers)
}

/// The same-format fast path: the caller's own top-level fields, forwarded byte for byte except
/// `model` (the upstream id) and, for streams, `stream_options.include_usage` (always on, so usage
/// is never lost).
pub fn passthrough_chat(
    target: &Target,
    raw: &RawObject,
    stream: bool,
) -> Result<UpstreamRequest, ProviderError> {
    let mut body = raw.clone();
    body.insert("model".into(), raw_json(&target.upstream_model)?);
    if stream {
        let mut options: Map<String, Value> = match body.get("stream_options") {
            Some(v) => serde_json::from_str(v.get()).unwrap_or_default(),
            None => Map::new(),
        };
        options.insert("include_usage".into(), Value::Bool(true));
        body.insert("stream_options".into(), raw_json(&options)?);
    }
    finish(target, "chat/completions", &body, stream)
}

fn finish(
    target: &Target,
    path: &str,
    body: &impl serde::Serialize,
    stream: bool,
) -> Result<UpstreamRequest, ProviderError> {
    let (url, headers) = endpoint(target, path);
    let body = serde_json::to_vec(body)
        .map_err(|e| ProviderError::protocol("Switchyard", format!("encoding request: {e}")))?;
    Ok(UpstreamRequest {
        url,
        headers,
        body,
        stream,
    })
}

/// Converts a unified request into OpenAI's format.
pub fn chat_request(target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    let wire = to_wire(target, req)?;
    finish(target, "chat/completions", &wire, req.stream)
}

fn to_wire(target: &Target, req: &ChatRequest) -> Result<OpenAiChatRequest, ProviderError> {
    let messages = req
        .messages
        .iter()
        .map(message_to_wire)
        .collect::<Result<Vec<_>, _>>()?;
    let tools = (!req.tools.is_empty()).then(|| {
        req.tools
            .iter()
            .map(|t| OpenAiTool {
                kind: "function".into(),
                function: OpenAiFunctionDef {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: Some(t.parameters.clone()),
                    strict: t.strict,
                },
            })
            .collect()
    });
    let tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => OpenAiToolChoice::Mode("auto".into()),
        ToolChoice::None => OpenAiToolChoice::Mode("none".into()),
        ToolChoice::Required => OpenAiToolChoice::Mode("required".into()),
        ToolChoice::Tool(name) => OpenAiToolChoice::Named {
            kind: "function".into(),
            function: OpenAiNamedFunction { name: name.clone() },
        },
    });
    let response_format = req.response_format.as_ref().map(|f| match f {
        ResponseFormat::Text => OpenAiResponseFormat::Text,
        ResponseFormat::JsonObject => OpenAiResponseFormat::JsonObject,
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
            description,
        } => OpenAiResponseFormat::JsonSchema {
            json_schema: OpenAiJsonSchema {
                name: name.clone(),
                description: description.clone(),
                schema: Some(schema.clone()),
                strict: *strict,
            },
        },
    });
    if req.top_k.is_some() {
        if target.strict {
            return Err(ProviderError::unsupported("top_k", "OpenAI"));
        }
        tracing::debug!("dropping top_k: OpenAI-style providers have no equivalent");
    }
    // OpenAI's own models take `max_completion_tokens`; compatible servers mostly `max_tokens`.
    let (max_tokens, max_completion_tokens) = match target.kind {
        ProviderKind::OpenaiCompatible => (req.max_tokens, None),
        _ => (None, req.max_tokens),
    };
    Ok(OpenAiChatRequest {
        model: target.upstream_model.clone(),
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        frequency_penalty: req.frequency_penalty,
        presence_penalty: req.presence_penalty,
        stop: (!req.stop.is_empty()).then(|| OpenAiStop::Many(req.stop.clone())),
        seed: req.seed,
        n: req.n,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        stream: req.stream.then_some(true),
        stream_options: req.stream.then(|| OpenAiStreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        user: req.user.clone(),
        metadata: req.metadata.clone(),
        reasoning_effort: req.reasoning.as_ref().and_then(|r| r.effort.clone()),
        logprobs: req.logprobs,
        top_logprobs: req.top_logprobs,
        functions: None,
        function_call: None,
        extra: req.extra.clone(),
    })
}

fn message_to_wire(m: &Message) -> Result<OpenAiMessage, ProviderError> {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let has_media = m.content.iter().any(|p| matches!(p, Part::Image { .. }));
    let content = if has_media {
        let parts = m
            .content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(OpenAiContentPart::Text { text: text.clone() }),
                Part::Image { source, detail } => Some(OpenAiContentPart::ImageUrl {
                    image_url: OpenAiImageUrl {
                        url: match source {
                            ImageSource::Url { url } => url.clone(),
                            ImageSource::Base64 { media_type, data } => {
                                format!("data:{media_type};base64,{data}")
                            }
                        },
                        detail: detail.clone(),
                    },
                }),
                // Reasoning from other providers has no place in OpenAI's request format.
                Part::Thinking { .. } | Part::RedactedThinking { .. } => None,
            })
            .collect();
        Some(OpenAiContent::Parts(parts))
    } else {
        let text = m.joined_text();
        (!(text.is_empty() && m.role == Role::Assistant && !m.tool_calls.is_empty()))
            .then_some(OpenAiContent::Text(text))
    };
    let tool_calls = (!m.tool_calls.is_empty()).then(|| {
        m.tool_calls
            .iter()
            .map(|c| OpenAiToolCall {
                id: c.id.clone(),
                kind: "function".into(),
                function: OpenAiFunctionCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
            .collect()
    });
    Ok(OpenAiMessage {
        role: role.into(),
        content,
        name: m.name.clone(),
        tool_calls,
        tool_call_id: m.tool_call_id.clone(),
        ..Default::default()
    })
}

/// Builds an embeddings request.
pub fn embeddings_request(
    target: &Target,
    req: &EmbeddingRequest,
) -> Result<UpstreamRequest, ProviderError> {
    let wire = OpenAiEmbeddingRequest {
        model: target.upstream_model.clone(),
        input: OpenAiEmbeddingInput::Many(req.input.clone()),
        dimensions: req.dimensions,
        encoding_format: Some("float".into()),
        user: req.user.clone(),
        input_type: None,
    };
    finish(target, "embeddings", &wire, false)
}

/// The caller's embeddings body forwarded as is, with the upstream model id.
pub fn passthrough_embeddings(
    target: &Target,
    raw: &RawObject,
) -> Result<UpstreamRequest, ProviderError> {
    let mut body = raw.clone();
    body.insert("model".into(), raw_json(&target.upstream_model)?);
    finish(target, "embeddings", &body, false)
}
