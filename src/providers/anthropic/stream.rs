//! Anthropic streaming events → unified [`StreamEvent`]s.
//!
//! A stream is `message_start`, then per content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (stop reason and
//! cumulative usage) and `message_stop`; `ping` may appear anywhere and `error` ends a failed
//! stream. Content-block indexes count every block; tool calls get their own 0-based indexes.

use std::collections::HashMap;

use super::PROVIDER;
use super::error::stream_error;
use super::response::{finish_reason, usage};
use super::wire::{AnthropicContentBlock, AnthropicDelta, AnthropicStreamEvent, AnthropicUsage};
use crate::providers::types::{FinishReason, StreamEvent};
use crate::providers::{ProviderError, SseEvent};

/// What a content block (by Anthropic index) is.
#[derive(Clone, Copy, Debug)]
enum Block {
    Text,
    Thinking,
    /// A `tool_use` block and its tool-call index.
    Tool(u32),
    Other,
}

/// Decodes one Anthropic stream, event by event.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    started: bool,
    stopped: bool,
    finished: bool,
    blocks: HashMap<u32, Block>,
    next_tool: u32,
    usage: AnthropicUsage,
}

impl ChatStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// One SSE event in; the unified events it yields out. An `error` event is an `Err`.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        if event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let parsed: AnthropicStreamEvent = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::protocol(PROVIDER, format!("stream event: {e}")))?;
        if self.stopped {
            tracing::debug!(event = %event.event, "Anthropic: event after message_stop ignored");
            return Ok(Vec::new());
        }
        match parsed {
            AnthropicStreamEvent::MessageStart { message } => {
                if self.started {
                    return Ok(Vec::new());
                }
                self.started = true;
                merge_usage(&mut self.usage, &message.usage);
                Ok(vec![
                    StreamEvent::Start {
                        id: message.id,
                        model: message.model,
                    },
                    StreamEvent::Usage(usage(&self.usage)),
                ])
            }
            AnthropicStreamEvent::Ping | AnthropicStreamEvent::Unknown => Ok(Vec::new()),
            AnthropicStreamEvent::Error { error } => Err(stream_error(&error.kind, &error.message)),
            other => {
                if !self.started {
                    return Err(ProviderError::protocol(
                        PROVIDER,
                        "stream content arrived before message_start",
                    ));
                }
                self.on_content(other)
            }
        }
    }

    /// The upstream stream ended: an error unless `message_stop` arrived.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.stopped {
            return Ok(Vec::new());
        }
        let detail = if self.started {
            "the stream ended before message_stop (truncated)"
        } else {
            "the stream ended before message_start"
        };
        Err(ProviderError::protocol(PROVIDER, detail))
    }

    fn on_content(
        &mut self,
        event: AnthropicStreamEvent,
    ) -> Result<Vec<StreamEvent>, ProviderError> {
        match event {
            AnthropicStreamEvent::ContentBlockStart {
                index,
                content_block,
            } => Ok(self.block_start(index, content_block)),
            AnthropicStreamEvent::ContentBlockDelta { index, delta } => {
                self.block_delta(index, delta)
            }
            AnthropicStreamEvent::MessageDelta { delta, usage: u } => {
                if let Some(u) = &u {
                    merge_usage(&mut self.usage, u);
                }
                let mut out = Vec::new();
                if let Some(reason) = delta.stop_reason.as_deref() {
                    self.finished = true;
                    out.push(StreamEvent::Finish {
                        choice: 0,
                        reason: finish_reason(reason),
                    });
                }
                out.push(StreamEvent::Usage(usage(&self.usage)));
                Ok(out)
            }
            AnthropicStreamEvent::MessageStop => {
                self.stopped = true;
                if self.finished {
                    return Ok(Vec::new());
                }
                self.finished = true;
                Ok(vec![StreamEvent::Finish {
                    choice: 0,
                    reason: FinishReason::Stop,
                }])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn block_start(&mut self, index: u32, block: AnthropicContentBlock) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        let kind = match block {
            AnthropicContentBlock::Text { text } => {
                if !text.is_empty() {
                    out.push(StreamEvent::TextDelta { choice: 0, text });
                }
                Block::Text
            }
            AnthropicContentBlock::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() {
                    out.push(StreamEvent::ThinkingDelta {
                        choice: 0,
                        text: thinking,
                    });
                }
                if !signature.is_empty() {
                    out.push(StreamEvent::ThinkingSignature {
                        choice: 0,
                        signature,
                    });
                }
                Block::Thinking
            }
            AnthropicContentBlock::RedactedThinking { data } => {
                out.push(StreamEvent::RedactedThinking { choice: 0, data });
                Block::Other
            }
            AnthropicContentBlock::ToolUse { id, name, input } => {
                let tool = self.next_tool;
                self.next_tool += 1;
                out.push(StreamEvent::ToolCallStart {
                    choice: 0,
                    index: tool,
                    id,
                    name,
                    signature: None,
                });
                if input.as_object().is_some_and(|o| !o.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: tool,
                        arguments: input.to_string(),
                    });
                }
                Block::Tool(tool)
            }
            _ => Block::Other,
        };
        self.blocks.insert(index, kind);
        out
    }

    fn block_delta(
        &mut self,
        index: u32,
        delta: AnthropicDelta,
    ) -> Result<Vec<StreamEvent>, ProviderError> {
        let block = self.blocks.get(&index).copied();
        let event = match (delta, block) {
            (_, None) => {
                return Err(ProviderError::protocol(
                    PROVIDER,
                    format!("delta for content block {index}, which never started"),
                ));
            }
            (AnthropicDelta::TextDelta { text }, Some(Block::Text)) if !text.is_empty() => {
                StreamEvent::TextDelta { choice: 0, text }
            }
            (AnthropicDelta::InputJsonDelta { partial_json }, Some(Block::Tool(tool)))
                if !partial_json.is_empty() =>
            {
                StreamEvent::ToolCallDelta {
                    choice: 0,
                    index: tool,
                    arguments: partial_json,
                }
            }
            (AnthropicDelta::ThinkingDelta { thinking }, Some(Block::Thinking))
                if !thinking.is_empty() =>
            {
                StreamEvent::ThinkingDelta {
                    choice: 0,
                    text: thinking,
                }
            }
            (AnthropicDelta::SignatureDelta { signature }, Some(Block::Thinking)) => {
                StreamEvent::ThinkingSignature {
                    choice: 0,
                    signature,
                }
            }
            (delta, Some(block)) => {
                tracing::debug!(?delta, ?block, "Anthropic: ignoring delta");
                return Ok(Vec::new());
            }
        };
        Ok(vec![event])
    }
}

/// Later usage reports are cumulative: every field they carry replaces the earlier value.
fn merge_usage(into: &mut AnthropicUsage, from: &AnthropicUsage) {
    if from.input_tokens.is_some() {
        into.input_tokens = from.input_tokens;
    }
    if from.output_tokens.is_some() {
        into.output_tokens = from.output_tokens;
    }
    if from.cache_creation_input_tokens.is_some() {
        into.cache_creation_input_tokens = from.cache_creation_input_tokens;
    }
    if from.cache_read_input_tokens.is_some() {
        into.cache_read_input_tokens = from.cache_read_input_tokens;
    }
    if from.output_tokens_details.is_some() {
        into.output_tokens_details = from.output_tokens_details;
    }
}
