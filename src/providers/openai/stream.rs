//! Decoding OpenAI-style `chat.completion.chunk` streams into unified events.

use std::collections::HashSet;

use super::response::{NAME, finish_reason, from_detail, usage};
use super::wire::*;
use crate::providers::types::*;
use crate::providers::{ProviderError, SseEvent};

/// Turns chunks into unified events.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    started: bool,
    done: bool,
    finished: bool,
    /// (choice, tool index) pairs whose start has been emitted.
    open_calls: HashSet<(u32, u32)>,
}

impl ChatStreamDecoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one SSE event.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if (data.starts_with("{\"error\"") || event.event == "error")
            && let Ok(body) = serde_json::from_str::<OpenAiErrorBody>(data)
        {
            return Err(from_detail(500, body.error));
        }
        let chunk: OpenAiChunk =
            serde_json::from_str(data).map_err(|e| ProviderError::protocol(NAME, e))?;
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id.clone(),
                model: chunk.model.clone(),
            });
        }
        for choice in chunk.choices {
            self.choice_events(choice, &mut out);
        }
        if let Some(u) = chunk.usage.as_ref() {
            out.push(StreamEvent::Usage(usage(u)));
        }
        Ok(out)
    }

    fn choice_events(&mut self, choice: OpenAiChunkChoice, out: &mut Vec<StreamEvent>) {
        let index = choice.index;
        let delta = choice.delta;
        if let Some(text) = delta.reasoning_content.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::ThinkingDelta {
                choice: index,
                text,
            });
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta {
                choice: index,
                text,
            });
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta {
                choice: index,
                text,
            });
        }
        let legacy = delta.function_call.map(|f| OpenAiToolCallDelta {
            index: 0,
            id: None,
            function: Some(f),
        });
        for call in delta
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .chain(legacy)
        {
            let function = call.function.unwrap_or_default();
            if self.open_calls.insert((index, call.index)) {
                out.push(StreamEvent::ToolCallStart {
                    choice: index,
                    index: call.index,
                    id: call
                        .id
                        .unwrap_or_else(|| crate::providers::generated_id("call_")),
                    name: function.name.unwrap_or_default(),
                    signature: None,
                });
            }
            if let Some(arguments) = function.arguments.filter(|a| !a.is_empty()) {
                out.push(StreamEvent::ToolCallDelta {
                    choice: index,
                    index: call.index,
                    arguments,
                });
            }
        }
        if let Some(reason) = choice.finish_reason {
            self.finished = true;
            out.push(StreamEvent::Finish {
                choice: index,
                reason: finish_reason(&reason),
            });
        }
    }

    /// The upstream body ended: a stream without `[DONE]` and without any finish reason was cut.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.done || self.finished {
            Ok(Vec::new())
        } else {
            Err(ProviderError::protocol(
                NAME,
                "the stream ended before it was complete",
            ))
        }
    }
}
