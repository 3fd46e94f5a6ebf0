//! The gateway's Anthropic surface (`POST /v1/messages`): Anthropic-format requests → unified,
//! and unified answers, streams and errors → Anthropic format, so the official Anthropic SDKs
//! work unchanged against any provider.

mod encoder;
mod render;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use encoder::StreamEncoder;
pub use render::{render_error, render_response};

use super::wire::{
    AnthropicContentBlock, AnthropicImageSource, AnthropicMetadata, AnthropicOutputConfig,
    AnthropicOutputFormat, AnthropicSystemBlock, AnthropicThinking, AnthropicTool,
    AnthropicToolChoice, AnthropicToolResultContent,
};
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, ProviderError};

/// Top-level fields this surface reads; others are dropped with a debug log.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

/// Reads an Anthropic Messages request. Malformed input is an `InvalidRequest` (400) whose
/// message names the field (`messages.1.content: …`); features the unified types cannot carry
/// (documents, server tools) are `Unsupported`.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ProviderError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid("body", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid("body", "the body must be a JSON object"));
    };
    let dropped: Vec<&String> = obj
        .keys()
        .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
        .collect();
    if !dropped.is_empty() {
        tracing::debug!(
            ?dropped,
            "Anthropic inbound: dropping fields with no unified meaning"
        );
    }
    let mut req = ChatRequest {
        model: required(&obj, "model")?,
        max_tokens: Some(required(&obj, "max_tokens")?),
        temperature: field(&obj, "temperature")?,
        top_p: field(&obj, "top_p")?,
        top_k: field(&obj, "top_k")?,
        stop: field(&obj, "stop_sequences")?.unwrap_or_default(),
        stream: field(&obj, "stream")?.unwrap_or(false),
        ..ChatRequest::default()
    };
    req.include_usage = req.stream;
    req.user = field::<AnthropicMetadata>(&obj, "metadata")?.and_then(|m| m.user_id);
    req.messages = system(obj.get("system"))?;
    let Some(Value::Array(messages)) = obj.get("messages") else {
        return Err(match obj.get("messages") {
            None | Some(Value::Null) => invalid("messages", "messages: Field required"),
            Some(_) => invalid("messages", "messages: expected an array of messages"),
        });
    };
    for (i, m) in messages.iter().enumerate() {
        message(i, m, &mut req.messages)?;
    }
    req.tools = tools(obj.get("tools"))?;
    tool_choice(&obj, &mut req)?;
    let output = field::<AnthropicOutputConfig>(&obj, "output_config")?.unwrap_or_default();
    req.reasoning = reasoning(field(&obj, "thinking")?, output.effort.as_deref());
    req.response_format = output
        .format
        .map(
            |AnthropicOutputFormat::JsonSchema { schema }| ResponseFormat::JsonSchema {
                name: "response".to_owned(),
                schema,
                strict: Some(true),
                description: None,
            },
        );
    Ok(req)
}

fn invalid(param: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message).with_param(param)
}

fn unsupported(param: &str, message: String) -> ProviderError {
    let mut err = ProviderError::new(ErrorKind::Unsupported, message).with_param(param);
    err.code = Some("unsupported_parameter".to_owned());
    err
}

/// Reads `value` as `T`, naming `path` in the error.
fn parse_at<T: DeserializeOwned>(path: &str, value: &Value) -> Result<T, ProviderError> {
    T::deserialize(value).map_err(|e| invalid(path, format!("{path}: {e}")))
}

/// An optional field (`null` counts as absent).
fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, ProviderError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_at(key, v).map(Some),
    }
}

/// A required field.
fn required<T: DeserializeOwned>(obj: &Map<String, Value>, key: &str) -> Result<T, ProviderError> {
    field(obj, key)?.ok_or_else(|| invalid(key, format!("{key}: Field required")))
}

/// `system`: a string or text blocks → one system message.
fn system(value: Option<&Value>) -> Result<Vec<Message>, ProviderError> {
    let parts = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![Part::Text { text: s.clone() }],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let AnthropicSystemBlock::Text { text } = parse_at(&format!("system.{j}"), b)?;
                Ok(Part::Text { text })
            })
            .collect::<Result<_, ProviderError>>()?,
        Some(_) => {
            return Err(invalid(
                "system",
                "system: expected a string or an array of text blocks",
            ));
        }
    };
    Ok(vec![message_with(Role::System, parts)])
}

fn message_with(role: Role, content: Vec<Part>) -> Message {
    Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        is_error: false,
        name: None,
    }
}

/// One input message → unified messages (a user turn with tool results splits into `Tool`
/// messages and a `User` message, in order).
fn message(i: usize, value: &Value, out: &mut Vec<Message>) -> Result<(), ProviderError> {
    let path = format!("messages.{i}");
    let Value::Object(obj) = value else {
        return Err(invalid(&path, format!("{path}: expected an object")));
    };
    let role = match obj.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(invalid(
                &format!("{path}.role"),
                format!("{path}.role: expected \"user\" or \"assistant\", got \"{other}\""),
            ));
        }
        None => {
            let p = format!("{path}.role");
            return Err(invalid(
                &p,
                format!("{p}: Field required (\"user\" or \"assistant\")"),
            ));
        }
    };
    let blocks = content(&path, obj.get("content"))?;
    match role {
        Role::Assistant => out.push(assistant(&path, blocks)?),
        _ => user(&path, blocks, out)?,
    }
    Ok(())
}

/// `content`: a string or an array of blocks, each checked and named by position.
fn content(
    path: &str,
    value: Option<&Value>,
) -> Result<Vec<(String, AnthropicContentBlock)>, ProviderError> {
    let path = format!("{path}.content");
    match value {
        Some(Value::String(text)) => Ok(vec![(
            path.clone(),
            AnthropicContentBlock::Text { text: text.clone() },
        )]),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let at = format!("{path}.{j}");
                block(&at, b).map(|blk| (at, blk))
            })
            .collect(),
        None | Some(Value::Null) => Err(invalid(&path, format!("{path}: Field required"))),
        Some(_) => Err(invalid(
            &path,
            format!("{path}: expected a string or an array of content blocks"),
        )),
    }
}

/// One content block; block types the unified types cannot carry are `Unsupported`.
fn block(path: &str, value: &Value) -> Result<AnthropicContentBlock, ProviderError> {
    let kind = value.get("type").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            path,
            format!("{path}: expected a content block with a string `type`"),
        )
    })?;
    if kind == "image" && value.pointer("/source/type").and_then(Value::as_str) == Some("file") {
        return Err(unsupported(
            path,
            format!("{path}: image sources of type `file` are not supported"),
        ));
    }
    match parse_at::<AnthropicContentBlock>(path, value)? {
        AnthropicContentBlock::Unknown => Err(unsupported(
            path,
            format!("{path}: content blocks of type `{kind}` are not supported"),
        )),
        parsed => Ok(parsed),
    }
}

fn image_part(source: AnthropicImageSource) -> Part {
    let source = match source {
        AnthropicImageSource::Base64 { media_type, data } => {
            ImageSource::Base64 { media_type, data }
        }
        AnthropicImageSource::Url { url } => ImageSource::Url { url },
    };
    Part::Image {
        source,
        detail: None,
    }
}

/// A user turn: text and images; `tool_result` blocks become `Tool` messages.
fn user(
    path: &str,
    blocks: Vec<(String, AnthropicContentBlock)>,
    out: &mut Vec<Message>,
) -> Result<(), ProviderError> {
    let mut parts = Vec::new();
    let before = out.len();
    for (at, blk) in blocks {
        match blk {
            AnthropicContentBlock::Text { text } => parts.push(Part::Text { text }),
            AnthropicContentBlock::Image { source } => parts.push(image_part(source)),
            AnthropicContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                if !parts.is_empty() {
                    out.push(message_with(Role::User, std::mem::take(&mut parts)));
                }
                let mut msg = message_with(Role::Tool, tool_result_parts(&at, content)?);
                msg.tool_call_id = Some(tool_use_id);
                msg.is_error = is_error;
                out.push(msg);
            }
            other => {
                return Err(invalid(
                    &at,
                    format!(
                        "{at}: `{}` blocks are not allowed in user messages",
                        name(&other)
                    ),
                ));
            }
        }
    }
    if !parts.is_empty() || out.len() == before {
        if parts.is_empty() {
            tracing::debug!(path, "Anthropic inbound: empty user message");
        }
        out.push(message_with(Role::User, parts));
    }
    Ok(())
}

fn tool_result_parts(
    path: &str,
    content: Option<AnthropicToolResultContent>,
) -> Result<Vec<Part>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(AnthropicToolResultContent::Text(text)) => Ok(vec![Part::Text { text }]),
        Some(AnthropicToolResultContent::Blocks(blocks)) => blocks
            .into_iter()
            .enumerate()
            .map(|(k, b)| match b {
                AnthropicContentBlock::Text { text } => Ok(Part::Text { text }),
                AnthropicContentBlock::Image { source } => Ok(image_part(source)),
                other => Err(unsupported(
                    path,
                    format!(
                        "{path}.content.{k}: `{}` blocks are not supported in tool results",
                        name(&other)
                    ),
                )),
            })
            .collect(),
    }
}

/// An assistant turn: text, thinking (signatures kept) and `tool_use` calls (ids kept).
fn assistant(
    path: &str,
    blocks: Vec<(String, AnthropicContentBlock)>,
) -> Result<Message, ProviderError> {
    let mut msg = message_with(Role::Assistant, Vec::new());
    for (at, blk) in blocks {
        match blk {
            AnthropicContentBlock::Text { text } => msg.content.push(Part::Text { text }),
            AnthropicContentBlock::Thinking {
                thinking,
                signature,
            } => msg.content.push(Part::Thinking {
                text: thinking,
                signature: (!signature.is_empty()).then_some(signature),
            }),
            AnthropicContentBlock::RedactedThinking { data } => {
                msg.content.push(Part::RedactedThinking { data })
            }
            AnthropicContentBlock::ToolUse { id, name, input } => msg.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
                signature: None,
            }),
            other => {
                return Err(invalid(
                    &at,
                    format!(
                        "{at}: `{}` blocks are not allowed in assistant messages ({path})",
                        name(&other)
                    ),
                ));
            }
        }
    }
    Ok(msg)
}

/// The wire name of a block type, for messages.
fn name(block: &AnthropicContentBlock) -> &'static str {
    match block {
        AnthropicContentBlock::Text { .. } => "text",
        AnthropicContentBlock::Image { .. } => "image",
        AnthropicContentBlock::ToolUse { .. } => "tool_use",
        AnthropicContentBlock::ToolResult { .. } => "tool_result",
        AnthropicContentBlock::Thinking { .. } => "thinking",
        AnthropicContentBlock::RedactedThinking { .. } => "redacted_thinking",
        AnthropicContentBlock::Unknown => "unknown",
    }
}

/// `tools`: client tools only (server tools such as web search have a `type` and no schema).
fn tools(value: Option<&Value>) -> Result<Vec<ToolDefinition>, ProviderError> {
    let tools = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(invalid("tools", "tools: expected an array of tools")),
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let path = format!("tools.{i}");
            match t.get("type").and_then(Value::as_str) {
                None | Some("custom") => {}
                Some(kind) => {
                    return Err(unsupported(
                        &path,
                        format!("{path}: tools of type `{kind}` are not supported"),
                    ));
                }
            }
            let tool: AnthropicTool = parse_at(&path, t)?;
            Ok(ToolDefinition {
                name: tool.name,
                description: tool.description,
                parameters: tool.input_schema,
                strict: tool.strict,
            })
        })
        .collect()
}

/// `tool_choice` (and its `disable_parallel_tool_use`).
fn tool_choice(obj: &Map<String, Value>, req: &mut ChatRequest) -> Result<(), ProviderError> {
    let Some(choice) = field::<AnthropicToolChoice>(obj, "tool_choice")? else {
        return Ok(());
    };
    let (choice, disable) = match choice {
        AnthropicToolChoice::Auto {
            disable_parallel_tool_use,
        } => (ToolChoice::Auto, disable_parallel_tool_use),
        AnthropicToolChoice::Any {
            disable_parallel_tool_use,
        } => (ToolChoice::Required, disable_parallel_tool_use),
        AnthropicToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (ToolChoice::Tool(name), disable_parallel_tool_use),
        AnthropicToolChoice::NoTools => (ToolChoice::None, None),
    };
    req.tool_choice = Some(choice);
    if disable == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(())
}

/// `thinking` → reasoning: a budget when enabled; adaptive thinking keeps the effort
/// (`output_config.effort`, Anthropic's default being `high`).
fn reasoning(thinking: Option<AnthropicThinking>, effort: Option<&str>) -> Option<Reasoning> {
    match thinking? {
        AnthropicThinking::Enabled { budget_tokens } => Some(Reasoning {
            effort: None,
            budget_tokens: Some(budget_tokens),
        }),
        AnthropicThinking::Disabled => None,
        AnthropicThinking::Adaptive => {
            // `xhigh` and `max` have no unified level; `high` is the closest.
            let effort = effort
                .filter(|e| matches!(*e, "low" | "medium" | "high"))
                .unwrap_or("high");
            Some(Reasoning {
                effort: Some(effort.to_owned()),
                budget_tokens: None,
            })
        }
    }
}
