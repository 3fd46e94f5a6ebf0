//! Unified [`ChatRequest`] → Anthropic Messages request.

use serde_json::{Value, json};

use super::wire::{
    AnthropicContent, AnthropicContentBlock, AnthropicImageSource, AnthropicMessage,
    AnthropicMetadata, AnthropicOutputConfig, AnthropicOutputFormat, AnthropicRequest,
    AnthropicRole, AnthropicSystem, AnthropicSystemBlock, AnthropicThinking, AnthropicTool,
    AnthropicToolChoice, AnthropicToolResultContent,
};
use super::{API_VERSION, PROVIDER};
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, ProviderError, Target, UpstreamRequest};

/// The smallest thinking budget Anthropic accepts.
pub(crate) const MIN_THINKING_BUDGET: u32 = 1024;

/// Builds `POST {base_url}/v1/messages` for `req`, sent to `target.upstream_model`.
pub fn chat_request(target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    let body = build_body(target, req)?;
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ProviderError::new(ErrorKind::InvalidRequest, format!("{PROVIDER}: {e}")))?;
    Ok(UpstreamRequest {
        url: format!("{}/v1/messages", target.base_url.trim_end_matches('/')),
        headers: vec![
            ("x-api-key", target.api_key.clone()),
            ("anthropic-version", API_VERSION.to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        body: bytes,
        stream: req.stream,
    })
}

/// The same-format fast path: an Anthropic caller's own body forwarded to an Anthropic provider
/// with only `model` replaced, so fields the unified types do not carry (`cache_control`,
/// citations, server tools) survive. The caller's `anthropic-beta` header is forwarded.
pub fn passthrough_request(
    target: &Target,
    mut raw: crate::providers::RawObject,
    stream: bool,
    beta: Option<&str>,
) -> Result<UpstreamRequest, ProviderError> {
    raw.insert(
        "model".into(),
        crate::providers::raw_json(&target.upstream_model)?,
    );
    let body = serde_json::to_vec(&raw)
        .map_err(|e| ProviderError::new(ErrorKind::InvalidRequest, format!("{PROVIDER}: {e}")))?;
    let mut headers = vec![
        ("x-api-key", target.api_key.clone()),
        ("anthropic-version", API_VERSION.to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    if let Some(beta) = beta {
        headers.push(("anthropic-beta", beta.to_owned()));
    }
    Ok(UpstreamRequest {
        url: format!("{}/v1/messages", target.base_url.trim_end_matches('/')),
        headers,
        body,
        stream,
    })
}

/// The request body as wire types (exposed for tests and the mock).
pub(crate) fn build_body(
    target: &Target,
    req: &ChatRequest,
) -> Result<AnthropicRequest, ProviderError> {
    check_unsupported(target, req)?;
    let mut system = system_texts(&req.messages);
    let output_config = response_format(target, req, &mut system)?;
    let thinking = thinking(target, req.reasoning.as_ref())?;
    let mut max_tokens = req.max_tokens.unwrap_or(target.default_max_tokens);
    if let Some(AnthropicThinking::Enabled { budget_tokens }) = &thinking
        && max_tokens <= *budget_tokens
    {
        max_tokens = budget_tokens.saturating_add(max_tokens.max(1));
    }
    let tools: Vec<AnthropicTool> = req.tools.iter().map(tool).collect();
    let tool_choice = tool_choice(req, !tools.is_empty());
    Ok(AnthropicRequest {
        model: target.upstream_model.clone(),
        max_tokens,
        messages: messages(&req.messages)?,
        system: system_value(system),
        stop_sequences: req.stop.clone(),
        temperature: temperature(target, req.temperature)?,
        top_p: req.top_p,
        top_k: req.top_k,
        tools,
        tool_choice,
        metadata: req.user.as_ref().map(|u| AnthropicMetadata {
            user_id: Some(u.clone()),
        }),
        thinking,
        output_config,
        stream: req.stream.then_some(true),
    })
}

/// Unified parameters with no Anthropic equivalent: an error in strict mode, dropped otherwise.
fn check_unsupported(target: &Target, req: &ChatRequest) -> Result<(), ProviderError> {
    let unsupported = [
        ("n", req.n.is_some_and(|n| n > 1)),
        ("seed", req.seed.is_some()),
        ("logprobs", req.logprobs == Some(true)),
        ("top_logprobs", req.top_logprobs.is_some()),
        ("frequency_penalty", req.frequency_penalty.is_some()),
        ("presence_penalty", req.presence_penalty.is_some()),
    ];
    for (param, present) in unsupported {
        if present {
            drop_or_fail(target, param)?;
        }
    }
    if let Some(meta) = &req.metadata {
        tracing::debug!(
            ?meta,
            "Anthropic: dropping `metadata` (only a user id is accepted)"
        );
    }
    if !req.extra.is_empty() {
        let keys: Vec<&String> = req.extra.keys().collect();
        tracing::debug!(?keys, "Anthropic: dropping unknown request fields");
    }
    Ok(())
}

fn drop_or_fail(target: &Target, param: &str) -> Result<(), ProviderError> {
    if target.strict {
        return Err(ProviderError::unsupported(param, PROVIDER));
    }
    tracing::debug!(param, "Anthropic: dropping unsupported parameter");
    Ok(())
}

/// Anthropic accepts temperatures from 0 to 1 (OpenAI: 0 to 2).
fn temperature(target: &Target, value: Option<f64>) -> Result<Option<f64>, ProviderError> {
    match value {
        Some(t) if t > 1.0 && target.strict => Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("`temperature` must be between 0 and 1 for {PROVIDER}, got {t}"),
        )
        .with_param("temperature")),
        Some(t) if t > 1.0 => {
            tracing::debug!(t, "Anthropic: clamping temperature to 1");
            Ok(Some(1.0))
        }
        other => Ok(other),
    }
}

/// The text of every system message, in order.
fn system_texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            Part::Text { text } if !text.is_empty() => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// One text is sent as a string, several as text blocks.
fn system_value(mut texts: Vec<String>) -> Option<AnthropicSystem> {
    match texts.len() {
        0 => None,
        1 => texts.pop().map(AnthropicSystem::Text),
        _ => Some(AnthropicSystem::Blocks(
            texts
                .into_iter()
                .map(|text| AnthropicSystemBlock::Text { text })
                .collect(),
        )),
    }
}

/// `response_format`: a JSON schema maps to native structured outputs (`output_config.format`);
/// schema-less JSON mode has no native form and becomes a system instruction (non-strict only).
fn response_format(
    target: &Target,
    req: &ChatRequest,
    system: &mut Vec<String>,
) -> Result<Option<AnthropicOutputConfig>, ProviderError> {
    match &req.response_format {
        None | Some(ResponseFormat::Text) => Ok(None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => Ok(Some(AnthropicOutputConfig {
            format: Some(AnthropicOutputFormat::JsonSchema {
                schema: schema.clone(),
            }),
            effort: None,
        })),
        Some(ResponseFormat::JsonObject) => {
            if target.strict {
                return Err(ProviderError::unsupported("response_format", PROVIDER));
            }
            tracing::debug!("Anthropic: JSON mode requested; asking for JSON in the system prompt");
            system.push(
                "Respond with a single valid JSON object and nothing else: no prose, no code fences."
                    .to_owned(),
            );
            Ok(None)
        }
    }
}

/// `reasoning` → `thinking: {type: "enabled", budget_tokens}`.
fn thinking(
    target: &Target,
    reasoning: Option<&Reasoning>,
) -> Result<Option<AnthropicThinking>, ProviderError> {
    let Some(reasoning) = reasoning else {
        return Ok(None);
    };
    let budget = match (reasoning.budget_tokens, reasoning.effort.as_deref()) {
        (Some(0), _) => None,
        (Some(budget), _) => Some(budget.max(MIN_THINKING_BUDGET)),
        (None, Some("none")) | (None, None) => None,
        (None, Some("minimal" | "low")) => Some(MIN_THINKING_BUDGET),
        (None, Some("medium")) => Some(4096),
        (None, Some("high")) => Some(16384),
        (None, Some(other)) => {
            if target.strict {
                return Err(ProviderError::new(
                    ErrorKind::InvalidRequest,
                    format!("reasoning effort `{other}` is not supported by {PROVIDER}"),
                )
                .with_param("reasoning_effort"));
            }
            tracing::debug!(
                effort = other,
                "Anthropic: dropping unknown reasoning effort"
            );
            None
        }
    };
    Ok(budget.map(|budget_tokens| AnthropicThinking::Enabled { budget_tokens }))
}

fn tool(def: &ToolDefinition) -> AnthropicTool {
    let input_schema = match &def.parameters {
        Value::Object(map) if !map.is_empty() => def.parameters.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    AnthropicTool {
        name: def.name.clone(),
        description: def.description.clone(),
        input_schema,
        strict: def.strict.filter(|s| *s),
    }
}

/// `tool_choice` and `parallel_tool_calls: false` (→ `disable_parallel_tool_use`).
fn tool_choice(req: &ChatRequest, has_tools: bool) -> Option<AnthropicToolChoice> {
    if !has_tools {
        if req.tool_choice.is_some() {
            tracing::debug!("Anthropic: dropping `tool_choice` without tools");
        }
        return None;
    }
    let disable = (req.parallel_tool_calls == Some(false)).then_some(true);
    match (&req.tool_choice, disable) {
        (None, None) => None,
        (None | Some(ToolChoice::Auto), _) => Some(AnthropicToolChoice::Auto {
            disable_parallel_tool_use: disable,
        }),
        (Some(ToolChoice::None), _) => Some(AnthropicToolChoice::NoTools),
        (Some(ToolChoice::Required), _) => Some(AnthropicToolChoice::Any {
            disable_parallel_tool_use: disable,
        }),
        (Some(ToolChoice::Tool(name)), _) => Some(AnthropicToolChoice::Tool {
            name: name.clone(),
            disable_parallel_tool_use: disable,
        }),
    }
}

/// Non-system messages → alternating user/assistant turns (consecutive same-role turns merged;
/// tool results become `tool_result` blocks at the front of a user turn).
fn messages(messages: &[Message]) -> Result<Vec<AnthropicMessage>, ProviderError> {
    let mut turns: Vec<(AnthropicRole, Vec<AnthropicContentBlock>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => (AnthropicRole::User, user_blocks(message)),
            Role::Tool => (AnthropicRole::User, vec![tool_result(message)]),
            Role::Assistant => (AnthropicRole::Assistant, assistant_blocks(message)?),
        };
        if message.name.is_some() {
            tracing::debug!("Anthropic: dropping message `name`");
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == AnthropicRole::User {
                // Anthropic requires tool results before any other content of the turn.
                blocks.sort_by_key(|b| !matches!(b, AnthropicContentBlock::ToolResult { .. }));
            }
            AnthropicMessage {
                role,
                content: AnthropicContent::Blocks(blocks),
            }
        })
        .collect())
}

fn user_blocks(message: &Message) -> Vec<AnthropicContentBlock> {
    message
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text { text } if text.is_empty() => None,
            Part::Text { text } => Some(AnthropicContentBlock::Text { text: text.clone() }),
            Part::Image { source, .. } => Some(image(source)),
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                tracing::debug!("Anthropic: dropping thinking content in a user message");
                None
            }
        })
        .collect()
}

fn image(source: &ImageSource) -> AnthropicContentBlock {
    let source = match source {
        ImageSource::Url { url } => AnthropicImageSource::Url { url: url.clone() },
        ImageSource::Base64 { media_type, data } => AnthropicImageSource::Base64 {
            media_type: media_type.clone(),
            data: data.clone(),
        },
    };
    AnthropicContentBlock::Image { source }
}

/// A `Role::Tool` message → a `tool_result` block answering `tool_call_id`.
fn tool_result(message: &Message) -> AnthropicContentBlock {
    let has_image = message
        .content
        .iter()
        .any(|p| matches!(p, Part::Image { .. }));
    let content = if has_image {
        Some(AnthropicToolResultContent::Blocks(user_blocks(message)))
    } else {
        let text = message.joined_text();
        (!text.is_empty()).then_some(AnthropicToolResultContent::Text(text))
    };
    AnthropicContentBlock::ToolResult {
        tool_use_id: message.tool_call_id.clone().unwrap_or_default(),
        content,
        is_error: message.is_error,
    }
}

/// Assistant content: thinking blocks first, then text, then `tool_use` blocks.
fn assistant_blocks(message: &Message) -> Result<Vec<AnthropicContentBlock>, ProviderError> {
    let mut thinking = Vec::new();
    let mut rest = Vec::new();
    for part in &message.content {
        match part {
            Part::Thinking {
                text,
                signature: Some(signature),
            } => thinking.push(AnthropicContentBlock::Thinking {
                thinking: text.clone(),
                signature: signature.clone(),
            }),
            Part::Thinking {
                signature: None, ..
            } => tracing::debug!("Anthropic: dropping unsigned thinking from history"),
            Part::RedactedThinking { data } => {
                thinking.push(AnthropicContentBlock::RedactedThinking { data: data.clone() })
            }
            Part::Text { text } if text.is_empty() => {}
            Part::Text { text } => rest.push(AnthropicContentBlock::Text { text: text.clone() }),
            Part::Image { .. } => tracing::debug!("Anthropic: dropping image in assistant turn"),
        }
    }
    for call in &message.tool_calls {
        let input = parse_arguments(&call.arguments).map_err(|e| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "tool call `{}` ({}) has arguments that are not valid JSON: {e}",
                    call.id, call.name
                ),
            )
            .with_param("messages.tool_calls.function.arguments")
        })?;
        rest.push(AnthropicContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.name.clone(),
            input,
        });
    }
    thinking.extend(rest);
    Ok(thinking)
}

/// Tool-call arguments as a JSON object (empty arguments read as `{}`).
fn parse_arguments(arguments: &str) -> Result<Value, serde_json::Error> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(arguments)
}
