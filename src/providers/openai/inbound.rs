//! The OpenAI-compatible surface: parsing what callers send to `/v1/chat/completions` and
//! `/v1/embeddings`, and rendering answers, stream chunks and errors exactly as OpenAI does.

use serde_json::{Value, json};

use super::request::RawObject;
use super::wire::*;
use crate::providers::types::*;
use crate::providers::{ErrorKind, ProviderError, SseEvent};

/// A parsed chat request: the unified form, plus the caller's raw top-level fields for the
/// same-format fast path.
#[derive(Debug)]
pub struct ParsedChat {
    pub request: ChatRequest,
    pub raw: RawObject,
}

fn invalid(message: impl Into<String>, param: Option<&str>) -> ProviderError {
    let mut e = ProviderError::new(ErrorKind::InvalidRequest, message);
    e.param = param.map(str::to_owned);
    e.code = Some(
        if param.is_some() {
            "invalid_value"
        } else {
            "invalid_request"
        }
        .to_owned(),
    );
    e
}

/// Reads a JSON body as a typed value, naming the offending field on failure.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    // The plain parse is the fast path; only a failure pays for tracking the field path.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            invalid(
                format!(
                    "We could not parse the JSON body of your request. ({inner}) \
                     The OpenAI API expects a JSON payload."
                ),
                None,
            )
        } else if path == "." {
            invalid(format!("Invalid request body: {inner}"), None)
        } else {
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            invalid(
                format!("Invalid value for '{path}': {message}"),
                Some(&path),
            )
        }
    })
}

/// Parses a `/v1/chat/completions` body.
pub fn parse_chat(body: &[u8]) -> Result<ParsedChat, ProviderError> {
    let raw: RawObject = decode(body)?;
    for required in ["model", "messages"] {
        if !raw.contains_key(required) {
            return Err(if required == "model" {
                invalid("you must provide a model parameter", Some("model"))
            } else {
                invalid("Missing required parameter: 'messages'.", Some("messages"))
            }
            .with_code("missing_required_parameter"));
        }
    }
    let wire: OpenAiChatRequest = decode(body)?;
    let request = from_wire(wire)?;
    Ok(ParsedChat { request, raw })
}

fn from_wire(w: OpenAiChatRequest) -> Result<ChatRequest, ProviderError> {
    if w.messages.is_empty() {
        return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            Some("messages"),
        ));
    }
    let messages = w
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| message_from_wire(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tools: Vec<ToolDefinition> = w
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| tool_from_wire(t.function))
        .collect();
    tools.extend(
        w.functions
            .unwrap_or_default()
            .into_iter()
            .map(tool_from_wire),
    );
    let tool_choice = w
        .tool_choice
        .or(w.function_call)
        .map(|c| match c {
            OpenAiToolChoice::Mode(mode) => match mode.as_str() {
                "auto" => Ok(ToolChoice::Auto),
                "none" => Ok(ToolChoice::None),
                "required" => Ok(ToolChoice::Required),
                other => Err(invalid(
                    format!("Invalid value for 'tool_choice': '{other}'."),
                    Some("tool_choice"),
                )),
            },
            OpenAiToolChoice::Named { function, .. } => Ok(ToolChoice::Tool(function.name)),
            OpenAiToolChoice::LegacyNamed { name } => Ok(ToolChoice::Tool(name)),
        })
        .transpose()?;
    let response_format = w.response_format.map(|f| match f {
        OpenAiResponseFormat::Text => ResponseFormat::Text,
        OpenAiResponseFormat::JsonObject => ResponseFormat::JsonObject,
        OpenAiResponseFormat::JsonSchema { json_schema } => ResponseFormat::JsonSchema {
            name: json_schema.name,
            schema: json_schema.schema.unwrap_or_else(|| json!({})),
            strict: json_schema.strict,
            description: json_schema.description,
        },
    });
    let stream = w.stream.unwrap_or(false);
    Ok(ChatRequest {
        model: w.model,
        messages,
        max_tokens: w.max_completion_tokens.or(w.max_tokens),
        temperature: w.temperature,
        top_p: w.top_p,
        top_k: None,
        frequency_penalty: w.frequency_penalty,
        presence_penalty: w.presence_penalty,
        stop: match w.stop {
            Some(OpenAiStop::One(s)) => vec![s],
            Some(OpenAiStop::Many(v)) => v,
            None => Vec::new(),
        },
        seed: w.seed,
        n: w.n,
        tools,
        tool_choice,
        parallel_tool_calls: w.parallel_tool_calls,
        response_format,
        stream,
        include_usage: stream
            && w.stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        user: w.user,
        metadata: w.metadata,
        reasoning: w.reasoning_effort.map(|effort| Reasoning {
            effort: Some(effort),
            budget_tokens: None,
        }),
        logprobs: w.logprobs,
        top_logprobs: w.top_logprobs,
        extra: w.extra,
    })
}

fn tool_from_wire(f: OpenAiFunctionDef) -> ToolDefinition {
    ToolDefinition {
        name: f.name,
        description: f.description,
        parameters: f
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        strict: f.strict,
    }
}

fn message_from_wire(i: usize, m: OpenAiMessage) -> Result<Message, ProviderError> {
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        other => {
            return Err(invalid(
                format!(
                    "Invalid value: '{other}'. Supported values are: 'system', 'assistant', \
                     'user', 'function', 'tool', and 'developer'."
                ),
                Some(&format!("messages[{i}].role")),
            ));
        }
    };
    let mut content = Vec::new();
    match m.content {
        Some(OpenAiContent::Text(text)) => content.push(Part::Text { text }),
        Some(OpenAiContent::Parts(parts)) => {
            for (j, part) in parts.into_iter().enumerate() {
                content.push(part_from_wire(i, j, part)?);
            }
        }
        None => {}
    }
    if let Some(reasoning) = m.reasoning_content.filter(|r| !r.is_empty()) {
        content.insert(
            0,
            Part::Thinking {
                text: reasoning,
                signature: None,
            },
        );
    }
    let tool_calls = super::response::tool_calls(m.tool_calls, m.function_call);
    // Legacy `function` results carry the function name instead of a call id.
    let tool_call_id = match (role, m.tool_call_id, &m.name) {
        (Role::Tool, Some(id), _) => Some(id),
        (Role::Tool, None, Some(name)) => Some(format!("call_{name}")),
        (Role::Tool, None, None) => {
            return Err(invalid(
                "Missing required parameter: 'tool_call_id'.",
                Some(&format!("messages[{i}].tool_call_id")),
            ));
        }
        (_, id, _) => id,
    };
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id,
        is_error: false,
        name: if role == Role::Tool { None } else { m.name },
    })
}

fn part_from_wire(i: usize, j: usize, part: OpenAiContentPart) -> Result<Part, ProviderError> {
    match part {
        OpenAiContentPart::Text { text } => Ok(Part::Text { text }),
        OpenAiContentPart::Refusal { refusal } => Ok(Part::Text { text: refusal }),
        OpenAiContentPart::ImageUrl { image_url } => {
            let source = image_source(&image_url.url).ok_or_else(|| {
                invalid(
                    "Invalid image URL: expected an https URL or a base64 data URL.",
                    Some(&format!("messages[{i}].content[{j}].image_url.url")),
                )
            })?;
            Ok(Part::Image {
                source,
                detail: image_url.detail,
            })
        }
        OpenAiContentPart::InputAudio { .. } | OpenAiContentPart::File { .. } => {
            let mut e = ProviderError::unsupported(
                &format!("messages[{i}].content[{j}]"),
                "Switchyard's unified API (audio and file parts)",
            );
            e.status = 400;
            Err(e)
        }
    }
}

/// Reads an image URL: `https://…`/`http://…`, or `data:<type>;base64,<data>`.
pub fn image_source(url: &str) -> Option<ImageSource> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',')?;
        let media_type = meta.strip_suffix(";base64")?;
        return (!media_type.is_empty() && !data.is_empty()).then(|| ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        });
    }
    (url.starts_with("https://") || url.starts_with("http://")).then(|| ImageSource::Url {
        url: url.to_owned(),
    })
}

/// OpenAI's `finish_reason` for a unified reason.
pub fn finish_reason_str(reason: &FinishReason) -> String {
    match reason {
        FinishReason::Stop | FinishReason::StopSequence => "stop".into(),
        FinishReason::Length => "length".into(),
        FinishReason::ToolCalls => "tool_calls".into(),
        FinishReason::ContentFilter => "content_filter".into(),
        FinishReason::Other(other) => other.clone(),
    }
}

/// OpenAI's usage object.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total(),
        "prompt_tokens_details": { "cached_tokens": u.cached_tokens, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments }
                })
            })
            .collect(),
    )
}

/// Renders a unified answer as a `chat.completion`, under the model name the caller used.
pub fn render_chat(resp: &ChatResponse, model: &str) -> Value {
    let choices: Vec<Value> = resp
        .choices
        .iter()
        .map(|c| {
            let text = c.message.joined_text();
            let reasoning: String = c
                .message
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::Thinking { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let mut message = json!({
                "role": "assistant",
                "content": if text.is_empty() && !c.message.tool_calls.is_empty() {
                    Value::Null
                } else {
                    Value::String(text)
                },
                "refusal": null,
                "annotations": [],
            });
            if !c.message.tool_calls.is_empty() {
                message["tool_calls"] = tool_calls_json(&c.message.tool_calls);
            }
            if !reasoning.is_empty() {
                message["reasoning_content"] = Value::String(reasoning);
            }
            json!({
                "index": c.index,
                "message": message,
                "logprobs": c.logprobs.clone().unwrap_or(Value::Null),
                "finish_reason": finish_reason_str(&c.finish_reason),
            })
        })
        .collect();
    json!({
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": model,
        "choices": choices,
        "usage": usage_json(&resp.usage),
        "service_tier": "default",
        "system_fingerprint": null,
    })
}

/// Renders unified stream events as `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    usage: Option<Usage>,
    roles_sent: Vec<u32>,
}

impl StreamEncoder {
    /// An encoder answering under `model`; `include_usage` mirrors the caller's
    /// `stream_options.include_usage`.
    pub fn new(model: &str, include_usage: bool) -> Self {
        Self {
            id: crate::providers::generated_id("chatcmpl-"),
            model: model.to_owned(),
            created: crate::providers::unix_now(),
            include_usage,
            usage: None,
            roles_sent: Vec::new(),
        }
    }

    fn chunk(&self, choices: Value) -> SseEvent {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": choices,
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        SseEvent::data(chunk.to_string())
    }

    fn delta(&mut self, choice: u32, delta: Value, out: &mut Vec<SseEvent>) {
        if !self.roles_sent.contains(&choice) {
            self.roles_sent.push(choice);
            out.push(self.chunk(json!([{
                "index": choice,
                "delta": { "role": "assistant", "content": "", "refusal": null },
                "logprobs": null,
                "finish_reason": null
            }])));
        }
        out.push(self.chunk(json!([{
            "index": choice, "delta": delta, "logprobs": null, "finish_reason": null
        }])));
    }

    /// Encodes one event.
    pub fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match event {
            StreamEvent::Start { id, .. } => {
                if id.starts_with("chatcmpl") {
                    self.id.clone_from(id);
                }
            }
            StreamEvent::TextDelta { choice, text } => {
                self.delta(*choice, json!({ "content": text }), &mut out);
            }
            StreamEvent::ThinkingDelta { choice, text } => {
                self.delta(*choice, json!({ "reasoning_content": text }), &mut out);
            }
            StreamEvent::ThinkingSignature { .. } | StreamEvent::RedactedThinking { .. } => {}
            StreamEvent::ToolCallStart {
                choice,
                index,
                id,
                name,
                ..
            } => self.delta(
                *choice,
                json!({ "tool_calls": [{
                    "index": index, "id": id, "type": "function",
                    "function": { "name": name, "arguments": "" }
                }]}),
                &mut out,
            ),
            StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments,
            } => self.delta(
                *choice,
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": arguments } }] }),
                &mut out,
            ),
            StreamEvent::Finish { choice, reason } => {
                if !self.roles_sent.contains(choice) {
                    self.delta(*choice, json!({ "content": "" }), &mut out);
                }
                out.push(self.chunk(json!([{
                    "index": choice, "delta": {}, "logprobs": null,
                    "finish_reason": finish_reason_str(reason)
                }])));
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
        }
        out
    }

    /// Closes the stream: the usage chunk when asked for, then `[DONE]`.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.include_usage {
            let usage = self.usage.unwrap_or_default();
            let mut chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": null,
                "choices": [],
                "usage": usage_json(&usage),
            });
            if usage.estimated {
                chunk["usage"]["estimated"] = Value::Bool(true);
            }
            out.push(SseEvent::data(chunk.to_string()));
        }
        out.push(SseEvent::data("[DONE]"));
        out
    }

    /// A mid-stream failure, as OpenAI reports it inside a stream.
    pub fn error(&mut self, err: &ProviderError) -> Vec<SseEvent> {
        vec![SseEvent::data(render_error(err).to_string())]
    }
}

/// OpenAI's error `type` for a failure.
pub fn error_type(err: &ProviderError) -> &'static str {
    match err.kind {
        ErrorKind::InvalidRequest
        | ErrorKind::NotFound
        | ErrorKind::RequestTooLarge
        | ErrorKind::ContextLengthExceeded
        | ErrorKind::ContentFilter
        | ErrorKind::Unsupported => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable | ErrorKind::Protocol => "server_error",
    }
}

/// `{"error": {"message","type","param","code"}}`.
pub fn render_error(err: &ProviderError) -> Value {
    json!({
        "error": {
            "message": err.message,
            "type": error_type(err),
            "param": err.param,
            "code": err.code,
        }
    })
}

/// A parsed `/v1/embeddings` body: unified form plus the raw fields for the fast path.
#[derive(Debug)]
pub struct ParsedEmbeddings {
    pub request: EmbeddingRequest,
    pub raw: RawObject,
    /// Token-array input, which only OpenAI-style providers accept.
    pub token_input: bool,
}

/// Parses a `/v1/embeddings` body.
pub fn parse_embeddings(body: &[u8]) -> Result<ParsedEmbeddings, ProviderError> {
    let raw: RawObject = decode(body)?;
    if !raw.contains_key("model") {
        return Err(invalid("you must provide a model parameter", Some("model")));
    }
    if !raw.contains_key("input") {
        return Err(invalid(
            "Missing required parameter: 'input'.",
            Some("input"),
        ));
    }
    let wire: OpenAiEmbeddingRequest = decode(body)?;
    let (input, token_input) = match wire.input {
        OpenAiEmbeddingInput::One(s) => (vec![s], false),
        OpenAiEmbeddingInput::Many(v) => (v, false),
        OpenAiEmbeddingInput::Tokens(_) | OpenAiEmbeddingInput::TokenBatches(_) => {
            (Vec::new(), true)
        }
    };
    if !token_input && (input.is_empty() || input.iter().any(String::is_empty)) {
        return Err(invalid("'input' must not be empty.", Some("input")));
    }
    Ok(ParsedEmbeddings {
        request: EmbeddingRequest {
            model: wire.model,
            input,
            dimensions: wire.dimensions,
            user: wire.user,
            input_type: wire.input_type,
        },
        raw,
        token_input,
    })
}

/// Renders unified embeddings in OpenAI's list format.
pub fn render_embeddings(resp: &EmbeddingResponse, model: &str) -> Value {
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "object": "embedding", "index": i, "embedding": e }))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": resp.usage.prompt_tokens, "total_tokens": resp.usage.prompt_tokens },
    })
}
