//! Cohere v2 wire types (`POST /v2/chat`, `POST /v2/embed`), named after the API reference
//! (<https://docs.cohere.com/reference/chat>) and the official SDK types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /v2/chat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CohereChatRequest {
    pub model: String,
    pub messages: Vec<CohereMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<CohereTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict_tools: Option<bool>,
    /// `REQUIRED` or `NONE`; absent means the model chooses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<CohereResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    /// Nucleus (top-p) sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<CohereThinking>,
    pub stream: bool,
}

/// One message of `messages`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum CohereMessage {
    System {
        content: String,
    },
    User {
        content: CohereContent,
    },
    Assistant {
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<CohereContent>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CohereToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: CohereContent,
    },
}

/// Message content: a plain string or a list of content items.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CohereContent {
    Text(String),
    Items(Vec<CohereContentItem>),
}

/// A content item of a request message.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CohereContentItem {
    Text { text: String },
    ImageUrl { image_url: CohereImageUrl },
    Thinking { thinking: String },
}

/// `image_url` of an image item: an http(s) URL or a base64 `data:` URI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohereImageUrl {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool definition (`tools[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohereTool {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: CohereToolFunction,
}

/// The function of a tool definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohereToolFunction {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub parameters: Value,
}

/// A tool call, in requests (assistant history) and responses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: CohereToolCallFunction,
}

fn function_type() -> String {
    "function".to_owned()
}

/// The function of a tool call; `arguments` is JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereToolCallFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// `response_format`: `{"type":"text"}` or `{"type":"json_object","json_schema":{..}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CohereResponseFormat {
    Text,
    JsonObject {
        #[serde(skip_serializing_if = "Option::is_none")]
        json_schema: Option<Value>,
    },
}

/// `thinking`: `{"type":"enabled"|"disabled","token_budget":N}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohereThinking {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u32>,
}

/// A non-streamed chat answer.
#[derive(Clone, Debug, Deserialize)]
pub struct CohereChatResponse {
    pub id: String,
    pub finish_reason: String,
    pub message: CohereResponseMessage,
    #[serde(default)]
    pub usage: Option<CohereUsage>,
    #[serde(default)]
    pub logprobs: Option<Vec<CohereLogprobItem>>,
}

/// The assistant message of an answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereResponseMessage {
    #[serde(default)]
    pub content: Option<Vec<CohereResponseContent>>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<CohereToolCall>>,
}

/// A content item of an answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CohereResponseContent {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
    },
    #[serde(other)]
    Other,
}

/// `usage` (chat) with billed and processed token counts.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct CohereUsage {
    #[serde(default)]
    pub billed_units: Option<CohereTokenCounts>,
    #[serde(default)]
    pub tokens: Option<CohereTokenCounts>,
    /// Prompt tokens that hit the inference cache (part of the input tokens).
    #[serde(default)]
    pub cached_tokens: Option<f64>,
}

/// Input and output counts (the API types them as numbers).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct CohereTokenCounts {
    #[serde(default)]
    pub input_tokens: Option<f64>,
    #[serde(default)]
    pub output_tokens: Option<f64>,
}

/// One `logprobs` entry: a text chunk and the log probability of each of its tokens.
#[derive(Clone, Debug, Deserialize)]
pub struct CohereLogprobItem {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Vec<f64>>,
}

/// One streamed event; `type` names it (the SSE `event:` field carries the same name).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereStreamEvent {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub delta: Option<CohereStreamDelta>,
}

/// The `delta` of a streamed event.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereStreamDelta {
    #[serde(default)]
    pub message: Option<CohereDeltaMessage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<CohereUsage>,
    /// Set on `message-end` when generation failed mid-stream.
    #[serde(default)]
    pub error: Option<String>,
}

/// `delta.message`: `message-start` carries empty lists, the other events single objects.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereDeltaMessage {
    #[serde(default)]
    pub content: Option<OneOrList<CohereDeltaContent>>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<OneOrList<CohereDeltaToolCall>>,
}

/// A single object, or the (empty) list `message-start` carries.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrList<T> {
    One(T),
    List(Vec<Value>),
}

impl<T> OneOrList<T> {
    /// The single object, if this is one.
    pub fn one(&self) -> Option<&T> {
        match self {
            OneOrList::One(t) => Some(t),
            OneOrList::List(_) => None,
        }
    }
}

/// `delta.message.content` of `content-start` / `content-delta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereDeltaContent {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

/// `delta.message.tool_calls` of `tool-call-start` / `tool-call-delta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereDeltaToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<CohereDeltaFunction>,
}

/// The function part of a streamed tool call.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CohereDeltaFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// The body of `POST /v2/embed`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohereEmbedRequest {
    pub model: String,
    pub texts: Vec<String>,
    pub input_type: String,
    pub embedding_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<u32>,
}

/// An embed answer (`response_type: embeddings_by_type`).
#[derive(Clone, Debug, Deserialize)]
pub struct CohereEmbedResponse {
    pub embeddings: CohereEmbeddingsByType,
    #[serde(default)]
    pub meta: Option<CohereEmbedMeta>,
}

/// `embeddings`, one list per requested type.
#[derive(Clone, Debug, Deserialize)]
pub struct CohereEmbeddingsByType {
    #[serde(default)]
    pub float: Option<Vec<Vec<f32>>>,
}

/// `meta` of an embed answer.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct CohereEmbedMeta {
    #[serde(default)]
    pub billed_units: Option<CohereTokenCounts>,
    #[serde(default)]
    pub tokens: Option<CohereTokenCounts>,
}

/// The error body of a non-2xx answer: `{"id": "...", "message": "..."}`.
#[derive(Clone, Debug, Deserialize)]
pub struct CohereErrorBody {
    #[serde(default)]
    pub message: Option<String>,
}
