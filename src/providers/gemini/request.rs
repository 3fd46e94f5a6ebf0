//! Unified [`ChatRequest`] to a Gemini `generateContent` / `streamGenerateContent` request.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::PROVIDER;
use super::wire::{
    GeminiBlob, GeminiContent, GeminiFileData, GeminiFunctionCall, GeminiFunctionCallingConfig,
    GeminiFunctionDeclaration, GeminiFunctionResponse, GeminiGenerationConfig, GeminiPart,
    GeminiRequest, GeminiThinkingConfig, GeminiTool, GeminiToolConfig,
};
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, ProviderError, Target, UpstreamRequest};

/// Builds the upstream request: `{base}/v1beta/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` when `req.stream`; the key goes in `x-goog-api-key`.
pub fn chat_request(target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    let body = build_request(target, req)?;
    let body = serde_json::to_vec(&body)
        .map_err(|e| ProviderError::new(ErrorKind::InvalidRequest, format!("{PROVIDER}: {e}")))?;
    let url = if req.stream {
        endpoint(target, "streamGenerateContent?alt=sse")
    } else {
        endpoint(target, "generateContent")
    };
    Ok(UpstreamRequest {
        url,
        headers: auth_headers(target),
        body,
        stream: req.stream,
    })
}

/// `{base}/v1beta/{resource}:{method}` where resource is `models/{model}` (or the model id
/// itself when it already names a resource, e.g. `tunedModels/x`).
pub(crate) fn endpoint(target: &Target, method: &str) -> String {
    format!(
        "{}/v1beta/{}:{method}",
        target.base_url.trim_end_matches('/'),
        model_resource(&target.upstream_model)
    )
}

/// `models/{model}` unless the id already contains a collection.
pub(crate) fn model_resource(model: &str) -> String {
    if model.contains('/') {
        model.to_owned()
    } else {
        format!("models/{model}")
    }
}

/// The credential header.
pub(crate) fn auth_headers(target: &Target) -> Vec<(&'static str, String)> {
    vec![("x-goog-api-key", target.api_key.clone())]
}

/// Either an error (strict mode) or a debug log, for a field Gemini cannot honour.
pub(crate) fn cannot_honour(target: &Target, param: &str, why: &str) -> Result<(), ProviderError> {
    if target.strict {
        return Err(ProviderError::unsupported(param, PROVIDER));
    }
    tracing::debug!(provider = %target.provider, param, why, "dropping a field Gemini cannot honour");
    Ok(())
}

/// The full request body.
pub(crate) fn build_request(
    target: &Target,
    req: &ChatRequest,
) -> Result<GeminiRequest, ProviderError> {
    drop_unmapped(target, req)?;
    let (system, contents) = build_contents(target, &req.messages)?;
    let tools = build_tools(target, &req.tools)?;
    let tool_config = if tools.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(tool_config)
    };
    let generation_config = generation_config(target, req)?;
    Ok(GeminiRequest {
        contents,
        system_instruction: system,
        tools,
        tool_config,
        generation_config: (!generation_config.is_empty()).then_some(generation_config),
    })
}

/// Fields with no Gemini equivalent.
fn drop_unmapped(target: &Target, req: &ChatRequest) -> Result<(), ProviderError> {
    if !req.extra.is_empty() {
        let keys: Vec<&str> = req.extra.keys().map(String::as_str).collect();
        tracing::debug!(provider = %target.provider, ?keys, "dropping unknown request fields");
    }
    if req.user.is_some() || req.metadata.is_some() {
        tracing::debug!(provider = %target.provider, "dropping `user`/`metadata`: Gemini has none");
    }
    if req.parallel_tool_calls == Some(false) {
        cannot_honour(
            target,
            "parallel_tool_calls",
            "Gemini cannot forbid parallel calls",
        )?;
    }
    Ok(())
}

/// System instruction and the `user`/`model` turns (consecutive same-role turns merged, so
/// the results of parallel calls share one turn as Gemini requires).
fn build_contents(
    target: &Target,
    messages: &[Message],
) -> Result<(Option<GeminiContent>, Vec<GeminiContent>), ProviderError> {
    let call_names: HashMap<&str, &str> = messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut system = Vec::new();
    let mut contents: Vec<GeminiContent> = Vec::new();
    for message in messages {
        if message.name.is_some() {
            tracing::debug!(provider = %target.provider, "dropping message `name`");
        }
        let (role, parts) = match message.role {
            Role::System => {
                system.extend(system_parts(target, message)?);
                continue;
            }
            Role::User => ("user", user_parts(target, &message.content)?),
            Role::Assistant => ("model", model_parts(target, message)?),
            Role::Tool => (
                "user",
                vec![tool_result_part(target, message, &call_names)?],
            ),
        };
        push_turn(&mut contents, role, parts);
    }
    let system = (!system.is_empty()).then_some(GeminiContent {
        role: None,
        parts: system,
    });
    Ok((system, contents))
}

fn push_turn(contents: &mut Vec<GeminiContent>, role: &str, parts: Vec<GeminiPart>) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => contents.push(GeminiContent {
            role: Some(role.to_owned()),
            parts,
        }),
    }
}

fn system_parts(target: &Target, message: &Message) -> Result<Vec<GeminiPart>, ProviderError> {
    let mut parts = Vec::new();
    for part in &message.content {
        match part {
            Part::Text { text } if !text.is_empty() => parts.push(GeminiPart::text(text)),
            Part::Text { .. } => {}
            _ => cannot_honour(
                target,
                "messages[].content",
                "system instructions hold text only",
            )?,
        }
    }
    Ok(parts)
}

fn user_parts(target: &Target, content: &[Part]) -> Result<Vec<GeminiPart>, ProviderError> {
    let mut parts = Vec::new();
    for part in content {
        match part {
            Part::Text { text } if !text.is_empty() => parts.push(GeminiPart::text(text)),
            Part::Text { .. } => {}
            Part::Image { source, detail } => {
                if detail.is_some() {
                    tracing::debug!(provider = %target.provider, "dropping image `detail`");
                }
                parts.push(image_part(source));
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                tracing::debug!(provider = %target.provider, "dropping reasoning in a user turn");
            }
        }
    }
    Ok(parts)
}

/// An image: base64 (or a `data:` URL) as `inlineData`, any other URL as `fileData`.
/// Gemini only fetches URIs it supports (Files API URIs; public URLs on recent models).
fn image_part(source: &ImageSource) -> GeminiPart {
    let (inline_data, file_data) = match source {
        ImageSource::Base64 { media_type, data } => (
            Some(GeminiBlob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            None,
        ),
        ImageSource::Url { url } => match parse_data_url(url) {
            Some(blob) => (Some(blob), None),
            None => (
                None,
                Some(GeminiFileData {
                    mime_type: guess_mime(url),
                    file_uri: url.clone(),
                }),
            ),
        },
    };
    GeminiPart {
        inline_data,
        file_data,
        ..GeminiPart::default()
    }
}

/// `data:<mime>;base64,<data>`.
fn parse_data_url(url: &str) -> Option<GeminiBlob> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some(GeminiBlob {
        mime_type: mime.to_owned(),
        data: data.to_owned(),
    })
}

/// The MIME type of an image URL from its extension.
fn guess_mime(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    };
    Some(mime.to_owned())
}

/// An assistant turn: content in order (thoughts and text), then its function calls.
fn model_parts(target: &Target, message: &Message) -> Result<Vec<GeminiPart>, ProviderError> {
    let mut parts: Vec<GeminiPart> = Vec::new();
    let mut pending_signature: Option<String> = None;
    for part in &message.content {
        match part {
            Part::Text { text } if text.is_empty() => {}
            Part::Text { text } => {
                let mut p = GeminiPart::text(text);
                p.thought_signature = pending_signature.take();
                parts.push(p);
            }
            Part::Thinking { text, signature } if text.is_empty() => {
                if let Some(sig) = signature {
                    flush_signature(&mut parts, pending_signature.take());
                    pending_signature = Some(sig.clone());
                }
            }
            Part::Thinking { text, signature } => {
                flush_signature(&mut parts, pending_signature.take());
                parts.push(GeminiPart {
                    text: Some(text.clone()),
                    thought: Some(true),
                    thought_signature: signature.clone(),
                    ..GeminiPart::default()
                });
            }
            Part::RedactedThinking { .. } => {
                tracing::debug!(provider = %target.provider, "dropping redacted thinking");
            }
            Part::Image { .. } => {
                cannot_honour(target, "messages[].content", "images in assistant turns")?
            }
        }
    }
    flush_signature(&mut parts, pending_signature);
    for call in &message.tool_calls {
        parts.push(function_call_part(call)?);
    }
    Ok(parts)
}

/// A signature that followed its text (as streamed): put it on the preceding text part, or
/// keep it as a part of its own.
fn flush_signature(parts: &mut Vec<GeminiPart>, signature: Option<String>) {
    let Some(signature) = signature else { return };
    match parts.last_mut() {
        Some(last)
            if last.text.is_some()
                && last.thought.is_none()
                && last.thought_signature.is_none() =>
        {
            last.thought_signature = Some(signature)
        }
        _ => parts.push(GeminiPart {
            text: Some(String::new()),
            thought_signature: Some(signature),
            ..GeminiPart::default()
        }),
    }
}

/// `functionCall` with its signature; the id is sent only when Gemini issued it.
fn function_call_part(call: &ToolCall) -> Result<GeminiPart, ProviderError> {
    let args = parse_arguments(&call.arguments)?;
    Ok(GeminiPart {
        function_call: Some(GeminiFunctionCall {
            id: gemini_call_id(&call.id),
            name: call.name.clone(),
            args: Some(args),
        }),
        thought_signature: call.signature.clone(),
        ..GeminiPart::default()
    })
}

fn parse_arguments(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str(arguments) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        _ => Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "tool call arguments must be a JSON object for Gemini",
        )
        .with_param("messages[].tool_calls[].function.arguments")),
    }
}

/// Ids Switchyard generated (`call_` + 32 hex digits) were never seen by Gemini: omit them.
pub(crate) fn gemini_call_id(id: &str) -> Option<String> {
    let generated = id
        .strip_prefix("call_")
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    (!generated && !id.is_empty()).then(|| id.to_owned())
}

/// `functionResponse` for a tool result; Gemini matches by name, so the name comes from the
/// earlier call with the same id.
fn tool_result_part(
    target: &Target,
    message: &Message,
    call_names: &HashMap<&str, &str>,
) -> Result<GeminiPart, ProviderError> {
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    let name = call_names
        .get(id)
        .map(|n| (*n).to_owned())
        .or_else(|| message.name.clone())
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!("tool result `{id}` answers no earlier tool call"),
            )
            .with_param("messages[].tool_call_id")
        })?;
    if message
        .content
        .iter()
        .any(|p| !matches!(p, Part::Text { .. }))
    {
        cannot_honour(target, "messages[].content", "tool results carry text only")?;
    }
    Ok(GeminiPart {
        function_response: Some(GeminiFunctionResponse {
            id: gemini_call_id(id),
            name,
            response: tool_response_value(&message.joined_text(), message.is_error),
        }),
        ..GeminiPart::default()
    })
}

/// A JSON object result is sent as is; anything else under `output` (or `error`).
fn tool_response_value(text: &str, is_error: bool) -> Value {
    let parsed = serde_json::from_str::<Value>(text).ok();
    match (parsed, is_error) {
        (Some(Value::Object(map)), false) => Value::Object(map),
        (Some(Value::Object(map)), true) => json!({ "error": map }),
        (_, true) => json!({ "error": text }),
        (_, false) => json!({ "output": text }),
    }
}

fn build_tools(
    target: &Target,
    tools: &[ToolDefinition],
) -> Result<Vec<GeminiTool>, ProviderError> {
    if tools.is_empty() {
        return Ok(Vec::new());
    }
    let mut declarations = Vec::with_capacity(tools.len());
    for tool in tools {
        if tool.strict == Some(true) {
            cannot_honour(target, "tools[].function.strict", "no strict tool schemas")?;
        }
        let empty = match &tool.parameters {
            Value::Null => true,
            Value::Object(map) => map.is_empty(),
            _ => false,
        };
        declarations.push(GeminiFunctionDeclaration {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters_json_schema: (!empty).then(|| tool.parameters.clone()),
        });
    }
    Ok(vec![GeminiTool {
        function_declarations: declarations,
    }])
}

fn tool_config(choice: &ToolChoice) -> GeminiToolConfig {
    let (mode, allowed) = match choice {
        ToolChoice::Auto => ("AUTO", Vec::new()),
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Tool(name) => ("ANY", vec![name.clone()]),
    };
    GeminiToolConfig {
        function_calling_config: GeminiFunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: allowed,
        },
    }
}

fn generation_config(
    target: &Target,
    req: &ChatRequest,
) -> Result<GeminiGenerationConfig, ProviderError> {
    let (response_mime_type, response_json_schema) = match &req.response_format {
        None | Some(ResponseFormat::Text) => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json".to_owned()), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json".to_owned()), Some(schema.clone()))
        }
    };
    let thinking_config = match &req.reasoning {
        Some(reasoning) => thinking_config(target, reasoning)?,
        None => None,
    };
    Ok(GeminiGenerationConfig {
        stop_sequences: req.stop.clone(),
        candidate_count: req.n,
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_logprobs: (req.logprobs == Some(true) || req.top_logprobs.is_some())
            .then_some(true),
        logprobs: req.top_logprobs,
        response_mime_type,
        response_json_schema,
        thinking_config,
    })
}

/// `thinkingConfig`: an explicit budget wins; an effort maps to the budgets Google's own
/// OpenAI compatibility layer uses (low 1024, medium 8192, high 24576, none 0).
fn thinking_config(
    target: &Target,
    reasoning: &Reasoning,
) -> Result<Option<GeminiThinkingConfig>, ProviderError> {
    let budget = match (reasoning.budget_tokens, reasoning.effort.as_deref()) {
        (Some(budget), _) => Some(i64::from(budget)),
        (None, None) => None,
        (None, Some(effort)) => match effort_budget(effort) {
            Some(budget) => Some(budget),
            None => {
                cannot_honour(target, "reasoning_effort", "unknown effort level")?;
                return Ok(None);
            }
        },
    };
    Ok(Some(GeminiThinkingConfig {
        thinking_budget: budget,
        include_thoughts: (budget != Some(0)).then_some(true),
    }))
}

fn effort_budget(effort: &str) -> Option<i64> {
    match effort {
        "none" => Some(0),
        "minimal" | "low" => Some(1024),
        "medium" => Some(8192),
        "high" | "xhigh" => Some(24576),
        _ => None,
    }
}
