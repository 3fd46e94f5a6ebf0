//! Cohere v2 chat stream → unified stream events.
//!
//! Cohere sends one SSE event per step, named both by the `event:` field and by `type` in the
//! JSON data: `message-start`, then `content-start` / `content-delta` / `content-end` per content
//! block (text or thinking), `tool-plan-delta`, `tool-call-start` / `tool-call-delta` /
//! `tool-call-end` per call, `citation-start` / `citation-end`, and a final `message-end` with
//! `finish_reason` and `usage` (or `error` when generation failed). There is no `[DONE]`
//! sentinel; one is ignored if present.

use std::collections::HashMap;

use super::PROVIDER;
use super::response::{finish_reason, usage};
use super::wire::{CohereDeltaContent, CohereDeltaToolCall, CohereStreamDelta, CohereStreamEvent};
use crate::providers::types::StreamEvent;
use crate::providers::{ErrorKind, ProviderError, SseEvent, generated_id};

/// The kind of a content block, from its `content-start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
}

/// Turns Cohere stream events into unified events, in order.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    started: bool,
    ended: bool,
    blocks: HashMap<u32, BlockKind>,
    /// Tool calls started so far (the next index when an event carries none).
    calls_started: u32,
    /// The index of the call whose arguments are streaming.
    current_call: Option<u32>,
}

impl ChatStreamDecoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one SSE event; a mid-stream failure (`message-end` with an error) is an `Err`.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let wire: CohereStreamEvent =
            serde_json::from_str(data).map_err(|e| ProviderError::protocol(PROVIDER, e))?;
        let kind = wire
            .kind
            .clone()
            .unwrap_or_else(|| event.event.trim().to_owned());
        if self.ended {
            tracing::debug!(kind, "Cohere event after message-end ignored");
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let id = wire
                .id
                .clone()
                .filter(|_| kind == "message-start")
                .unwrap_or_else(|| generated_id("msg_"));
            out.push(StreamEvent::Start {
                id,
                model: String::new(),
            });
        }
        self.dispatch(&kind, &wire, &mut out)?;
        Ok(out)
    }

    /// The upstream stream ended: an error unless `message-end` arrived.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.ended {
            return Ok(Vec::new());
        }
        Err(ProviderError::protocol(
            PROVIDER,
            "the stream ended before its message-end event",
        ))
    }

    fn dispatch(
        &mut self,
        kind: &str,
        wire: &CohereStreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        let delta = wire.delta.as_ref();
        let message = delta.and_then(|d| d.message.as_ref());
        match kind {
            "content-start" | "content-delta" => {
                let content = message.and_then(|m| m.content.as_ref()?.one());
                if let Some(c) = content {
                    self.content(kind, wire.index.unwrap_or(0), c, out);
                }
            }
            "tool-plan-delta" => {
                if let Some(plan) = message.and_then(|m| m.tool_plan.clone()) {
                    push_text(out, plan);
                }
            }
            "tool-call-start" | "tool-call-delta" => {
                let call = message.and_then(|m| m.tool_calls.as_ref()?.one());
                if let Some(call) = call {
                    self.tool_call(kind, wire.index, call, out);
                }
            }
            "message-end" => self.message_end(delta, out)?,
            "message-start" | "content-end" | "tool-call-end" | "citation-start"
            | "citation-end" | "debug" => {}
            other => tracing::debug!(kind = other, "unknown Cohere stream event ignored"),
        }
        Ok(())
    }

    /// A text or thinking fragment; `content-start` fixes the block's kind.
    fn content(
        &mut self,
        kind: &str,
        index: u32,
        c: &CohereDeltaContent,
        out: &mut Vec<StreamEvent>,
    ) {
        if kind == "content-start" {
            let block = if c.kind.as_deref() == Some("thinking") || c.thinking.is_some() {
                BlockKind::Thinking
            } else {
                BlockKind::Text
            };
            self.blocks.insert(index, block);
        }
        if let Some(t) = c.thinking.clone() {
            push_thinking(out, t);
        } else if let Some(t) = c.text.clone() {
            match self.blocks.get(&index) {
                Some(BlockKind::Thinking) => push_thinking(out, t),
                _ => push_text(out, t),
            }
        }
    }

    fn tool_call(
        &mut self,
        kind: &str,
        index: Option<u32>,
        call: &CohereDeltaToolCall,
        out: &mut Vec<StreamEvent>,
    ) {
        let function = call.function.as_ref();
        let arguments = function
            .and_then(|f| f.arguments.clone())
            .unwrap_or_default();
        let index = if kind == "tool-call-start" {
            let index = index.unwrap_or(self.calls_started);
            self.calls_started = self.calls_started.max(index + 1);
            self.current_call = Some(index);
            out.push(StreamEvent::ToolCallStart {
                choice: 0,
                index,
                id: call.id.clone().unwrap_or_else(|| generated_id("call_")),
                name: function.and_then(|f| f.name.clone()).unwrap_or_default(),
                signature: None,
            });
            index
        } else {
            index.or(self.current_call).unwrap_or(0)
        };
        if !arguments.is_empty() {
            out.push(StreamEvent::ToolCallDelta {
                choice: 0,
                index,
                arguments,
            });
        }
    }

    fn message_end(
        &mut self,
        delta: Option<&CohereStreamDelta>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        self.ended = true;
        let reason = delta.and_then(|d| d.finish_reason.clone());
        if let Some(err) = delta.and_then(|d| d.error.clone()) {
            return Err(stream_error(&err));
        }
        if reason.as_deref() == Some("ERROR") {
            return Err(stream_error("generation failed (finish_reason ERROR)"));
        }
        out.push(StreamEvent::Finish {
            choice: 0,
            reason: finish_reason(reason.as_deref().unwrap_or("COMPLETE")),
        });
        if let Some(u) = delta.and_then(|d| d.usage.as_ref()) {
            out.push(StreamEvent::Usage(usage(u)));
        }
        Ok(())
    }
}

fn push_text(out: &mut Vec<StreamEvent>, text: String) {
    if !text.is_empty() {
        out.push(StreamEvent::TextDelta { choice: 0, text });
    }
}

fn push_thinking(out: &mut Vec<StreamEvent>, text: String) {
    if !text.is_empty() {
        out.push(StreamEvent::ThinkingDelta { choice: 0, text });
    }
}

/// The error for a stream Cohere ended with a failure.
fn stream_error(message: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Unavailable, format!("{PROVIDER}: {message}"))
        .with_code("stream_error")
}
