//! Unified [`StreamEvent`]s (from any provider) → Anthropic's exact streaming event sequence:
//! `message_start`, `ping`, per block `content_block_start` / `content_block_delta`s /
//! `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`.
//!
//! Anthropic blocks never interleave, while other providers may interleave tool-call fragments
//! by index. A tool call streams live while it is the open block; a new tool call (or other
//! content) closes it only once its arguments are complete JSON. Anything arriving while an
//! unfinished call is open is buffered and sent, as whole blocks and in order, at the end.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::render::{message_id, stop_reason, to_json, uncached_input, usage_json};
use crate::providers::anthropic::error::anthropic_error_type;
use crate::providers::anthropic::wire::{AnthropicContentBlock, AnthropicDelta};
use crate::providers::types::{FinishReason, StreamEvent, Usage};
use crate::providers::{ProviderError, SseEvent, generated_id};

/// The kind of the open content block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    /// A live `tool_use` block and its unified tool-call index.
    Tool(u32),
}

/// Content held back until the end of the stream.
#[derive(Debug)]
enum Deferred {
    Text(String),
    Thinking(String, Option<String>),
    Redacted(String),
    Tool {
        id: String,
        name: String,
        args: String,
    },
}

/// Encodes one unified stream as Anthropic server-sent events.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    id: Option<String>,
    started: bool,
    done: bool,
    next_index: u32,
    open: Option<(u32, Kind)>,
    live_args: String,
    deferred: Vec<Deferred>,
    deferred_tools: HashMap<u32, usize>,
    closed_tools: Vec<u32>,
    any_tool: bool,
    reason: Option<FinishReason>,
    usage: Option<Usage>,
}

impl StreamEncoder {
    /// An encoder answering as `model` (the name the caller asked for).
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            id: None,
            started: false,
            done: false,
            next_index: 0,
            open: None,
            live_args: String::new(),
            deferred: Vec::new(),
            deferred_tools: HashMap::new(),
            closed_tools: Vec::new(),
            any_tool: false,
            reason: None,
            usage: None,
        }
    }

    /// One unified event → the Anthropic events it completes (possibly none).
    pub fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                self.id.get_or_insert_with(|| message_id(id));
                return out;
            }
            StreamEvent::Usage(u) => {
                self.usage = Some(*u);
                return out;
            }
            StreamEvent::Finish { choice: 0, reason } => {
                self.reason = Some(reason.clone());
                return out;
            }
            other if choice_of(other) != Some(0) => {
                tracing::debug!("Anthropic inbound: dropping an event of another choice");
                return out;
            }
            _ => {}
        }
        self.start(&mut out);
        match event {
            StreamEvent::TextDelta { text, .. } => self.text(&mut out, text),
            StreamEvent::ThinkingDelta { text, .. } => self.thinking(&mut out, text),
            StreamEvent::ThinkingSignature { signature, .. } => self.signature(&mut out, signature),
            StreamEvent::RedactedThinking { data, .. } => self.redacted(&mut out, data),
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => self.tool_start(&mut out, *index, id, name),
            StreamEvent::ToolCallDelta {
                index, arguments, ..
            } => self.tool_delta(&mut out, *index, arguments),
            _ => {}
        }
        out
    }

    /// The stream ended: closes blocks, sends held-back content, `message_delta` (stop reason
    /// and final usage) and `message_stop`.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(&mut out);
        self.close(&mut out);
        for item in std::mem::take(&mut self.deferred) {
            self.whole_block(&mut out, item);
        }
        let reason = self.reason.clone().unwrap_or(FinishReason::Stop);
        let usage = self
            .usage
            .as_ref()
            .map_or_else(|| json!({"output_tokens": 0}), usage_json);
        out.push(sse(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(&reason, self.any_tool), "stop_sequence": null},
                "usage": usage,
            }),
        ));
        out.push(sse("message_stop", json!({"type": "message_stop"})));
        self.done = true;
        out
    }

    /// A mid-stream failure → Anthropic's `error` event; the stream ends there.
    pub fn error(&mut self, err: &ProviderError) -> Vec<SseEvent> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![sse(
            "error",
            json!({
                "type": "error",
                "error": {"type": anthropic_error_type(err), "message": err.message},
            }),
        )]
    }

    /// `message_start` (with whatever usage is known yet) and a `ping`, once.
    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = self.id.get_or_insert_with(|| generated_id("msg_")).clone();
        let usage = self.usage.as_ref().map_or_else(
            || json!({"input_tokens": 0, "output_tokens": 0}),
            |u| {
                json!({
                    "input_tokens": uncached_input(u),
                    "cache_creation_input_tokens": u.cache_write_tokens,
                    "cache_read_input_tokens": u.cached_tokens,
                    "output_tokens": u.completion_tokens,
                })
            },
        );
        out.push(sse(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage,
                },
            }),
        ));
        out.push(sse("ping", json!({"type": "ping"})));
    }

    /// Whether new content must wait: an unfinished tool call is open, or content already waits.
    fn must_defer(&mut self, out: &mut Vec<SseEvent>) -> bool {
        if !self.deferred.is_empty() {
            return true;
        }
        if let Some((_, Kind::Tool(_))) = self.open {
            if !is_complete_json(&self.live_args) {
                return true;
            }
            self.close(out);
        }
        false
    }

    fn text(&mut self, out: &mut Vec<SseEvent>, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.must_defer(out) {
            match self.deferred.last_mut() {
                Some(Deferred::Text(t)) => t.push_str(text),
                _ => self.deferred.push(Deferred::Text(text.to_owned())),
            }
            return;
        }
        let index = self.ensure_open(out, Kind::Text);
        out.push(delta(
            index,
            &AnthropicDelta::TextDelta {
                text: text.to_owned(),
            },
        ));
    }

    fn thinking(&mut self, out: &mut Vec<SseEvent>, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.must_defer(out) {
            match self.deferred.last_mut() {
                Some(Deferred::Thinking(t, None)) => t.push_str(text),
                _ => self
                    .deferred
                    .push(Deferred::Thinking(text.to_owned(), None)),
            }
            return;
        }
        let index = self.ensure_open(out, Kind::Thinking);
        let thinking = text.to_owned();
        out.push(delta(index, &AnthropicDelta::ThinkingDelta { thinking }));
    }

    /// The signature closes the thinking block it belongs to.
    fn signature(&mut self, out: &mut Vec<SseEvent>, signature: &str) {
        if self.must_defer(out) {
            match self.deferred.last_mut() {
                Some(Deferred::Thinking(_, sig @ None)) => *sig = Some(signature.to_owned()),
                _ => self.deferred.push(Deferred::Thinking(
                    String::new(),
                    Some(signature.to_owned()),
                )),
            }
            return;
        }
        let index = self.ensure_open(out, Kind::Thinking);
        let signature = signature.to_owned();
        out.push(delta(index, &AnthropicDelta::SignatureDelta { signature }));
        self.close(out);
    }

    fn redacted(&mut self, out: &mut Vec<SseEvent>, data: &str) {
        if self.must_defer(out) {
            self.deferred.push(Deferred::Redacted(data.to_owned()));
            return;
        }
        self.close(out);
        self.whole_block(out, Deferred::Redacted(data.to_owned()));
    }

    fn tool_start(&mut self, out: &mut Vec<SseEvent>, tool: u32, id: &str, name: &str) {
        self.any_tool = true;
        if self.must_defer(out) {
            self.deferred_tools.insert(tool, self.deferred.len());
            self.deferred.push(Deferred::Tool {
                id: id.to_owned(),
                name: name.to_owned(),
                args: String::new(),
            });
            return;
        }
        self.close(out);
        let index = self.open_block(out, &tool_block(id, name));
        self.open = Some((index, Kind::Tool(tool)));
        self.live_args.clear();
    }

    fn tool_delta(&mut self, out: &mut Vec<SseEvent>, tool: u32, arguments: &str) {
        if arguments.is_empty() {
            return;
        }
        match self.open {
            Some((index, Kind::Tool(live))) if live == tool => {
                self.live_args.push_str(arguments);
                let partial_json = arguments.to_owned();
                out.push(delta(
                    index,
                    &AnthropicDelta::InputJsonDelta { partial_json },
                ));
                return;
            }
            _ => {}
        }
        if let Some(Deferred::Tool { args, .. }) = self
            .deferred_tools
            .get(&tool)
            .and_then(|&pos| self.deferred.get_mut(pos))
        {
            args.push_str(arguments);
        } else if self.closed_tools.contains(&tool) && arguments.trim().is_empty() {
            // Whitespace after a complete JSON value changes nothing.
        } else {
            tracing::debug!(
                tool,
                "Anthropic inbound: dropping arguments of an unknown tool call"
            );
        }
    }

    /// Opens a block of `kind` unless one is open already.
    fn ensure_open(&mut self, out: &mut Vec<SseEvent>, kind: Kind) -> u32 {
        if let Some((index, open)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(out);
        let block = match kind {
            Kind::Thinking => AnthropicContentBlock::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            _ => AnthropicContentBlock::Text {
                text: String::new(),
            },
        };
        let index = self.open_block(out, &block);
        self.open = Some((index, kind));
        index
    }

    fn open_block(&mut self, out: &mut Vec<SseEvent>, block: &AnthropicContentBlock) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        out.push(sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": to_json(block)}),
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, kind)) = self.open.take() {
            if let Kind::Tool(tool) = kind {
                self.closed_tools.push(tool);
            }
            out.push(stop(index));
        }
    }

    /// A held-back item as one complete block.
    fn whole_block(&mut self, out: &mut Vec<SseEvent>, item: Deferred) {
        let (block, deltas) = match item {
            Deferred::Text(text) => (
                AnthropicContentBlock::Text {
                    text: String::new(),
                },
                vec![AnthropicDelta::TextDelta { text }],
            ),
            Deferred::Thinking(thinking, signature) => {
                let mut deltas = Vec::new();
                if !thinking.is_empty() {
                    deltas.push(AnthropicDelta::ThinkingDelta { thinking });
                }
                if let Some(signature) = signature {
                    deltas.push(AnthropicDelta::SignatureDelta { signature });
                }
                let block = AnthropicContentBlock::Thinking {
                    thinking: String::new(),
                    signature: String::new(),
                };
                (block, deltas)
            }
            Deferred::Redacted(data) => (AnthropicContentBlock::RedactedThinking { data }, vec![]),
            Deferred::Tool { id, name, args } => {
                let deltas = if args.is_empty() {
                    vec![]
                } else {
                    vec![AnthropicDelta::InputJsonDelta { partial_json: args }]
                };
                (tool_block(&id, &name), deltas)
            }
        };
        let index = self.open_block(out, &block);
        for d in &deltas {
            out.push(delta(index, d));
        }
        out.push(stop(index));
    }
}

fn choice_of(event: &StreamEvent) -> Option<u32> {
    match event {
        StreamEvent::TextDelta { choice, .. }
        | StreamEvent::ThinkingDelta { choice, .. }
        | StreamEvent::ThinkingSignature { choice, .. }
        | StreamEvent::RedactedThinking { choice, .. }
        | StreamEvent::ToolCallStart { choice, .. }
        | StreamEvent::ToolCallDelta { choice, .. }
        | StreamEvent::Finish { choice, .. } => Some(*choice),
        StreamEvent::Start { .. } | StreamEvent::Usage(_) => None,
    }
}

/// Whether streamed arguments already form a whole JSON value (nothing valid can follow).
fn is_complete_json(args: &str) -> bool {
    !args.trim().is_empty() && serde_json::from_str::<Value>(args).is_ok()
}

fn tool_block(id: &str, name: &str) -> AnthropicContentBlock {
    AnthropicContentBlock::ToolUse {
        id: id.to_owned(),
        name: name.to_owned(),
        input: json!({}),
    }
}

fn delta(index: u32, delta: &AnthropicDelta) -> SseEvent {
    sse(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": to_json(delta)}),
    )
}

fn stop(index: u32) -> SseEvent {
    sse(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    )
}

fn sse(event: &str, data: Value) -> SseEvent {
    SseEvent {
        event: event.to_owned(),
        data: data.to_string(),
    }
}
