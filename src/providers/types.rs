//! Switchyard's own request, response and stream-event types. Every inbound format (OpenAI chat,
//! Anthropic messages) converts into these, and every provider converts from them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat request in unified form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model (or route) name the client sent.
    pub model: String,
    /// The conversation, system prompts included (role `System`), in order.
    pub messages: Vec<Message>,
    /// Maximum tokens to generate (`max_tokens` / `max_completion_tokens`).
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    /// Number of choices.
    pub n: Option<u32>,
    pub tools: Vec<ToolDefinition>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    /// Whether the caller asked for a stream.
    pub stream: bool,
    /// Whether the caller asked for a usage chunk at the end of the stream.
    pub include_usage: bool,
    /// End-user id.
    pub user: Option<String>,
    pub metadata: Option<Value>,
    pub reasoning: Option<Reasoning>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    /// Fields the inbound format carried that have no unified meaning. OpenAI-style providers
    /// receive them unchanged; others drop them (with a debug log).
    pub extra: Map<String, Value>,
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System (and OpenAI `developer`) instructions.
    System,
    User,
    Assistant,
    /// A tool result; `tool_call_id` says which call it answers.
    Tool,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// Content parts in order (text, images, thinking).
    pub content: Vec<Part>,
    /// Tool calls made by an assistant message, in order.
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the id of the call this result answers.
    pub tool_call_id: Option<String>,
    /// For `Role::Tool`: whether the tool reported an error (Anthropic `is_error`).
    pub is_error: bool,
    /// Optional participant name.
    pub name: Option<String>,
}

impl Message {
    /// A message with text content only.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![Part::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
            name: None,
        }
    }

    /// The concatenated text parts.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A piece of message content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
        /// OpenAI's `detail` (`low`, `high`, `auto`), when given.
        detail: Option<String>,
    },
    /// Reasoning shown by the model. `signature` (Anthropic) or Gemini's `thoughtSignature`
    /// must be sent back unchanged on the next turn.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Anthropic `redacted_thinking`: opaque, must be sent back unchanged.
    RedactedThinking {
        data: String,
    },
}

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    /// An http(s) URL.
    Url { url: String },
    /// Inline bytes, base64-encoded (from a `data:` URL or a base64 block).
    Base64 { media_type: String, data: String },
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// OpenAI structured-outputs `strict`.
    pub strict: Option<bool>,
}

/// How the model should choose tools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    /// Must call some tool (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// Must call this tool.
    Tool(String),
}

/// A tool call made by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id, preserved end to end.
    pub id: String,
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
    /// Gemini `thoughtSignature` attached to this call, when present.
    pub signature: Option<String>,
}

/// Requested output format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
        description: Option<String>,
    },
}

/// Reasoning controls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium` or `high` (OpenAI `reasoning_effort`).
    pub effort: Option<String>,
    /// Token budget for thinking (Anthropic `budget_tokens`, Gemini `thinkingBudget`).
    pub budget_tokens: Option<u32>,
}

/// A complete (non-streamed) chat answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's response id (or one we generated when it has none).
    pub id: String,
    /// The model the provider says answered.
    pub model: String,
    /// Unix seconds.
    pub created: i64,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

/// One choice of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    /// The assistant message (text, thinking, tool calls).
    pub message: Message,
    pub finish_reason: FinishReason,
    /// OpenAI-format logprobs, passed through when the provider gives them.
    pub logprobs: Option<Value>,
}

/// Why generation stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end (OpenAI `stop`, Anthropic `end_turn`, Gemini `STOP`).
    Stop,
    /// A stop sequence matched (Anthropic `stop_sequence`; OpenAI reports `stop`).
    StopSequence,
    /// Token limit (`length`, `max_tokens`, `MAX_TOKENS`).
    Length,
    ToolCalls,
    ContentFilter,
    /// Anything else, verbatim.
    Other(String),
}

/// Token usage. Prompt tokens include cached and cache-write tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// True when counted locally because the provider reported none.
    pub estimated: bool,
}

impl Usage {
    /// Prompt plus completion.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// One event of a streamed answer, in order. `choice` is the choice index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// First event: response id and model.
    Start {
        id: String,
        model: String,
    },
    TextDelta {
        choice: u32,
        text: String,
    },
    ThinkingDelta {
        choice: u32,
        text: String,
    },
    /// The signature that closes a thinking block.
    ThinkingSignature {
        choice: u32,
        signature: String,
    },
    RedactedThinking {
        choice: u32,
        data: String,
    },
    /// A tool call begins; `index` orders calls within the choice.
    ToolCallStart {
        choice: u32,
        index: u32,
        id: String,
        name: String,
        signature: Option<String>,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolCallDelta {
        choice: u32,
        index: u32,
        arguments: String,
    },
    Finish {
        choice: u32,
        reason: FinishReason,
    },
    /// Usage, typically last (may come more than once; the last one wins).
    Usage(Usage),
}

/// An embeddings request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Vec<String>,
    pub dimensions: Option<u32>,
    pub user: Option<String>,
    /// Cohere/Gemini task hint (`search_document`, `search_query`, …), when the caller gave one.
    pub input_type: Option<String>,
}

/// An embeddings answer: one vector per input, in input order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    pub usage: Usage,
}
