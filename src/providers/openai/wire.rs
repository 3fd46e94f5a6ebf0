//! OpenAI chat-completions and embeddings wire types, used both for parsing what callers send
//! and for building what OpenAI-style providers receive.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /chat/completions` body.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpenAiChatRequest {
    pub model: String,
    pub messages: Vec<OpenAiMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<OpenAiStop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<OpenAiTool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OpenAiToolChoice>,
    /// Legacy function definitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<OpenAiFunctionDef>>,
    /// Legacy `function_call`: `"auto"`, `"none"` or `{"name": …}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<OpenAiToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<OpenAiResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<OpenAiStreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Anything else, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stop`: one string or several.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiStop {
    One(String),
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpenAiStreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message of the conversation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpenAiMessage {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<OpenAiContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<OpenAiToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Legacy assistant `function_call`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<OpenAiFunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text (DeepSeek, vLLM, OpenRouter and Switchyard's own answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// Message content: a string or typed parts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiContent {
    Text(String),
    Parts(Vec<OpenAiContentPart>),
}

/// One content part.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpenAiContentPart {
    Text { text: String },
    ImageUrl { image_url: OpenAiImageUrl },
    Refusal { refusal: String },
    InputAudio { input_audio: Value },
    File { file: Value },
}

/// `image_url`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call in an assistant message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: OpenAiFunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// A function name and its JSON arguments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiFunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// A tool definition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: OpenAiFunctionDef,
}

/// A function definition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiFunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice` (and legacy `function_call`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiToolChoice {
    /// `"auto"`, `"none"`, `"required"`.
    Mode(String),
    /// `{"type":"function","function":{"name":…}}`.
    Named {
        #[serde(rename = "type", default = "function_type")]
        kind: String,
        function: OpenAiNamedFunction,
    },
    /// Legacy `{"name": …}`.
    LegacyNamed { name: String },
}

/// `{"name": …}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiNamedFunction {
    pub name: String,
}

/// `response_format`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpenAiResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: OpenAiJsonSchema },
}

/// `response_format.json_schema`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiJsonSchema {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A `chat.completion` answer.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiChatResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<OpenAiChoice>,
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
}

/// One choice of an answer.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiChoice {
    #[serde(default)]
    pub index: u32,
    pub message: OpenAiMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// `usage`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<OpenAiPromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<OpenAiCompletionDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenAiPromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenAiCompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// A `chat.completion.chunk`.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<OpenAiChunkChoice>,
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
}

/// A choice in a chunk.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: OpenAiDelta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A chunk's `delta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenAiDelta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<OpenAiToolCallDelta>>,
    /// Legacy `function_call` deltas.
    #[serde(default)]
    pub function_call: Option<OpenAiFunctionDelta>,
}

/// A tool-call fragment in a chunk.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiToolCallDelta {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<OpenAiFunctionDelta>,
}

/// A function fragment.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenAiFunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// An error body: `{"error": {...}}`.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

/// The error object.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiErrorDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
}

/// `POST /embeddings` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAiEmbeddingRequest {
    pub model: String,
    pub input: OpenAiEmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<String>,
}

/// Embedding input: one string, several, or token arrays.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiEmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

/// An embeddings answer.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiEmbeddingResponse {
    pub data: Vec<OpenAiEmbedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
}

/// One embedding.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiEmbedding {
    #[serde(default)]
    pub index: usize,
    pub embedding: Vec<f32>,
}
