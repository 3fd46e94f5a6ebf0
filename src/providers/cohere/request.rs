//! Unified chat request → Cohere `POST /v2/chat` body.

use serde_json::json;

use super::PROVIDER;
use super::wire::{
    CohereChatRequest, CohereContent, CohereContentItem, CohereImageUrl, CohereMessage,
    CohereResponseFormat, CohereThinking, CohereTool, CohereToolCall, CohereToolCallFunction,
    CohereToolFunction,
};
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, ProviderError, Target, UpstreamRequest};

/// Builds the upstream request for a chat call (`{base_url}/v2/chat`).
pub fn chat_request(target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ProviderError> {
    let body = chat_body(target, req)?;
    let body = serde_json::to_vec(&body).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("{PROVIDER}: cannot encode the request: {e}"),
        )
    })?;
    Ok(UpstreamRequest {
        url: format!("{}/v2/chat", target.base_url.trim_end_matches('/')),
        headers: headers(target, req.stream),
        body,
        stream: req.stream,
    })
}

/// The headers of every Cohere call: bearer credential, JSON body, and the answer format.
pub(super) fn headers(target: &Target, stream: bool) -> Vec<(&'static str, String)> {
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    vec![
        ("authorization", format!("Bearer {}", target.api_key)),
        ("content-type", "application/json".to_owned()),
        ("accept", accept.to_owned()),
    ]
}

/// The Cohere body for a unified request.
pub(super) fn chat_body(
    target: &Target,
    req: &ChatRequest,
) -> Result<CohereChatRequest, ProviderError> {
    check_unsupported(target, req)?;
    let (tools, tool_choice) = convert_tools(req)?;
    let strict_tools = req
        .tools
        .iter()
        .any(|t| t.strict == Some(true))
        .then_some(true);
    Ok(CohereChatRequest {
        model: target.upstream_model.clone(),
        messages: convert_messages(target, &req.messages)?,
        strict_tools: strict_tools.filter(|_| !tools.is_empty()),
        tools,
        tool_choice,
        response_format: req.response_format.as_ref().map(convert_response_format),
        max_tokens: req.max_tokens,
        stop_sequences: req.stop.clone(),
        temperature: req.temperature,
        seed: req.seed,
        frequency_penalty: req.frequency_penalty,
        presence_penalty: req.presence_penalty,
        k: req.top_k,
        p: req.top_p,
        logprobs: req.logprobs.filter(|l| *l),
        thinking: req.reasoning.as_ref().map(convert_reasoning),
        stream: req.stream,
    })
}

/// Drops (or, in strict mode, rejects) a field Cohere cannot honour.
pub(super) fn cannot_honour(target: &Target, param: &str) -> Result<(), ProviderError> {
    if target.strict {
        return Err(ProviderError::unsupported(param, PROVIDER));
    }
    tracing::debug!(param, provider = %target.provider, "Cohere cannot honour the parameter; dropped");
    Ok(())
}

fn check_unsupported(target: &Target, req: &ChatRequest) -> Result<(), ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        cannot_honour(target, "n")?;
    }
    if req.parallel_tool_calls == Some(false) {
        cannot_honour(target, "parallel_tool_calls")?;
    }
    if req.top_logprobs.is_some() {
        cannot_honour(target, "top_logprobs")?;
    }
    if req.user.is_some() {
        cannot_honour(target, "user")?;
    }
    if req.metadata.is_some() {
        cannot_honour(target, "metadata")?;
    }
    if !req.extra.is_empty() {
        let fields: Vec<&str> = req.extra.keys().map(String::as_str).collect();
        tracing::debug!(?fields, "fields without a Cohere equivalent dropped");
    }
    Ok(())
}

/// Tools and `tool_choice`. Cohere cannot name one tool, so a named choice sends only that
/// tool with `REQUIRED`, which forces exactly that call.
fn convert_tools(req: &ChatRequest) -> Result<(Vec<CohereTool>, Option<String>), ProviderError> {
    let mut defs: Vec<&ToolDefinition> = req.tools.iter().collect();
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::None) => Some("NONE"),
        Some(ToolChoice::Required) => Some("REQUIRED"),
        Some(ToolChoice::Tool(name)) => {
            defs.retain(|t| &t.name == name);
            if defs.is_empty() {
                return Err(ProviderError::new(
                    ErrorKind::InvalidRequest,
                    format!("tool_choice names the tool `{name}`, which is not among the tools"),
                )
                .with_param("tool_choice"));
            }
            Some("REQUIRED")
        }
    };
    let tools: Vec<CohereTool> = defs.into_iter().map(convert_tool).collect();
    let choice = choice.filter(|_| !tools.is_empty()).map(str::to_owned);
    Ok((tools, choice))
}

fn convert_tool(t: &ToolDefinition) -> CohereTool {
    let parameters = if t.parameters.is_null() {
        json!({"type": "object", "properties": {}})
    } else {
        t.parameters.clone()
    };
    CohereTool {
        kind: "function",
        function: CohereToolFunction {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters,
        },
    }
}

fn convert_response_format(f: &ResponseFormat) -> CohereResponseFormat {
    match f {
        ResponseFormat::Text => CohereResponseFormat::Text,
        ResponseFormat::JsonObject => CohereResponseFormat::JsonObject { json_schema: None },
        ResponseFormat::JsonSchema { schema, .. } => CohereResponseFormat::JsonObject {
            json_schema: Some(schema.clone()),
        },
    }
}

/// `thinking`: effort `none` disables reasoning; anything else enables it with the budget.
fn convert_reasoning(r: &Reasoning) -> CohereThinking {
    if r.effort.as_deref() == Some("none") {
        return CohereThinking {
            kind: "disabled",
            token_budget: None,
        };
    }
    CohereThinking {
        kind: "enabled",
        token_budget: r.budget_tokens,
    }
}

/// Messages in order; system prompts become one leading system message (Cohere requires the
/// system turn first).
fn convert_messages(
    target: &Target,
    messages: &[Message],
) -> Result<Vec<CohereMessage>, ProviderError> {
    let mut system = Vec::new();
    let mut out = Vec::with_capacity(messages.len() + 1);
    for (i, m) in messages.iter().enumerate() {
        if m.name.is_some() {
            cannot_honour(target, &format!("messages[{i}].name"))?;
        }
        match m.role {
            Role::System => system.push(system_text(target, i, m)?),
            Role::User => out.push(user_message(target, i, m)?),
            Role::Assistant => out.push(assistant_message(target, i, m)?),
            Role::Tool => out.push(tool_message(target, i, m)?),
        }
    }
    if !system.is_empty() {
        out.insert(
            0,
            CohereMessage::System {
                content: system.join("\n\n"),
            },
        );
    }
    Ok(out)
}

fn system_text(target: &Target, i: usize, m: &Message) -> Result<String, ProviderError> {
    if m.content.iter().any(|p| !matches!(p, Part::Text { .. })) {
        cannot_honour(target, &format!("messages[{i}].content"))?;
    }
    Ok(m.joined_text())
}

fn user_message(target: &Target, i: usize, m: &Message) -> Result<CohereMessage, ProviderError> {
    let mut items = Vec::with_capacity(m.content.len());
    for part in &m.content {
        match part {
            Part::Text { text } => items.push(CohereContentItem::Text { text: text.clone() }),
            Part::Image { source, detail } => items.push(CohereContentItem::ImageUrl {
                image_url: CohereImageUrl {
                    url: image_url(source),
                    detail: detail.clone(),
                },
            }),
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                cannot_honour(target, &format!("messages[{i}].content"))?;
            }
        }
    }
    Ok(CohereMessage::User {
        content: compact(items),
    })
}

/// An http(s) URL as is; inline bytes as a base64 `data:` URI.
fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Url { url } => url.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

/// A lone text item (or nothing) becomes a plain string, as the API's own examples send it.
fn compact(items: Vec<CohereContentItem>) -> CohereContent {
    match items.as_slice() {
        [] => CohereContent::Text(String::new()),
        [CohereContentItem::Text { text }] => CohereContent::Text(text.clone()),
        _ => CohereContent::Items(items),
    }
}

/// An assistant turn. With tool calls, its text is the `tool_plan` (that is where Cohere puts
/// the text that precedes tool calls); thinking goes back as `thinking` items.
fn assistant_message(
    target: &Target,
    i: usize,
    m: &Message,
) -> Result<CohereMessage, ProviderError> {
    let mut text = String::new();
    let mut thinking = Vec::new();
    for part in &m.content {
        match part {
            Part::Text { text: t } => text.push_str(t),
            Part::Thinking { text: t, .. } => thinking.push(CohereContentItem::Thinking {
                thinking: t.clone(),
            }),
            Part::RedactedThinking { .. } => {
                tracing::debug!(message = i, "redacted thinking has no Cohere form; dropped");
            }
            Part::Image { .. } => cannot_honour(target, &format!("messages[{i}].content"))?,
        }
    }
    let tool_calls: Vec<CohereToolCall> = m.tool_calls.iter().map(convert_tool_call).collect();
    if !tool_calls.is_empty() {
        return Ok(CohereMessage::Assistant {
            content: (!thinking.is_empty()).then_some(CohereContent::Items(thinking)),
            tool_plan: (!text.is_empty()).then_some(text),
            tool_calls,
        });
    }
    let content = if thinking.is_empty() {
        CohereContent::Text(text)
    } else {
        if !text.is_empty() {
            thinking.push(CohereContentItem::Text { text });
        }
        CohereContent::Items(thinking)
    };
    Ok(CohereMessage::Assistant {
        content: Some(content),
        tool_plan: None,
        tool_calls: Vec::new(),
    })
}

fn convert_tool_call(c: &ToolCall) -> CohereToolCall {
    let arguments = if c.arguments.trim().is_empty() {
        "{}".to_owned()
    } else {
        c.arguments.clone()
    };
    CohereToolCall {
        id: c.id.clone(),
        kind: "function".to_owned(),
        function: CohereToolCallFunction {
            name: c.name.clone(),
            arguments,
        },
    }
}

/// A tool result answering `tool_call_id`.
fn tool_message(target: &Target, i: usize, m: &Message) -> Result<CohereMessage, ProviderError> {
    let Some(id) = m.tool_call_id.as_ref().filter(|id| !id.is_empty()) else {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("messages[{i}] is a tool result without tool_call_id"),
        )
        .with_param(format!("messages[{i}].tool_call_id")));
    };
    if m.content.iter().any(|p| !matches!(p, Part::Text { .. })) {
        cannot_honour(target, &format!("messages[{i}].content"))?;
    }
    if m.is_error {
        tracing::debug!(
            message = i,
            "Cohere has no tool-error flag; the result text is sent"
        );
    }
    Ok(CohereMessage::Tool {
        tool_call_id: id.clone(),
        content: CohereContent::Text(m.joined_text()),
    })
}
