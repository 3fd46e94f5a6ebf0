//! `streamGenerateContent?alt=sse` decoding. Every SSE event is `data: <GenerateContentResponse>`
//! (no event names, no `[DONE]`); the body simply ends after the chunk carrying `finishReason`.
//! Function calls arrive whole in one chunk. `usageMetadata` is cumulative, so the last wins.
//! An error after the stream started arrives as `data: {"error": {...}}`.

use std::collections::{BTreeMap, BTreeSet};

use super::PROVIDER;
use super::response::{
    Piece, classify_part, empty_answer, finish_reason, parse_response, response_id, usage,
};
use super::wire::{GeminiCandidate, GeminiResponse};
use crate::providers::types::{StreamEvent, Usage};
use crate::providers::{ProviderError, SseEvent};

/// Turns Gemini stream chunks into unified [`StreamEvent`]s.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    started: bool,
    /// Function calls seen so far, per candidate (their count gives the next call index).
    calls: BTreeMap<u32, u32>,
    /// Candidates whose `finishReason` arrived.
    finished: BTreeSet<u32>,
    last_usage: Option<Usage>,
    sent_usage: Option<Usage>,
}

impl ChatStreamDecoder {
    /// A decoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one SSE event.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk = parse_response(data.as_bytes())?;
        let mut out = Vec::new();
        if !self.started {
            if chunk.candidates.is_empty() && chunk.prompt_feedback.is_some() {
                return Err(empty_answer(&chunk));
            }
            self.started = true;
            out.push(StreamEvent::Start {
                id: response_id(&chunk),
                model: chunk.model_version.clone().unwrap_or_default(),
            });
        }
        for (position, candidate) in chunk.candidates.iter().enumerate() {
            self.candidate_events(position, candidate, &mut out);
        }
        self.track_usage(&chunk, &mut out);
        Ok(out)
    }

    /// The upstream body ended: an error unless some candidate finished.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        if self.finished.is_empty() {
            return Err(ProviderError::protocol(
                PROVIDER,
                "the stream ended before any finishReason (truncated)",
            ));
        }
        let mut out = Vec::new();
        self.flush_usage(&mut out);
        Ok(out)
    }

    fn candidate_events(
        &mut self,
        position: usize,
        c: &GeminiCandidate,
        out: &mut Vec<StreamEvent>,
    ) {
        let choice = c.index.unwrap_or(position as u32);
        let parts = c.content.iter().flat_map(|content| &content.parts);
        for piece in parts.flat_map(classify_part) {
            match piece {
                Piece::Thinking { text, signature } => {
                    if !text.is_empty() {
                        out.push(StreamEvent::ThinkingDelta { choice, text });
                    }
                    if let Some(signature) = signature {
                        out.push(StreamEvent::ThinkingSignature { choice, signature });
                    }
                }
                Piece::Signature(signature) => {
                    out.push(StreamEvent::ThinkingSignature { choice, signature })
                }
                Piece::Text(text) => out.push(StreamEvent::TextDelta { choice, text }),
                Piece::Call(call) => {
                    let count = self.calls.entry(choice).or_default();
                    let index = *count;
                    *count += 1;
                    out.push(StreamEvent::ToolCallStart {
                        choice,
                        index,
                        id: call.id,
                        name: call.name,
                        signature: call.signature,
                    });
                    out.push(StreamEvent::ToolCallDelta {
                        choice,
                        index,
                        arguments: call.arguments,
                    });
                }
            }
        }
        if c.finish_reason.is_some() && self.finished.insert(choice) {
            let has_calls = self.calls.get(&choice).is_some_and(|n| *n > 0);
            let reason = finish_reason(c.finish_reason.as_deref(), has_calls);
            out.push(StreamEvent::Finish { choice, reason });
        }
    }

    /// Remembers the latest usage and sends it once a candidate has finished.
    fn track_usage(&mut self, chunk: &GeminiResponse, out: &mut Vec<StreamEvent>) {
        if let Some(metadata) = chunk.usage_metadata {
            self.last_usage = Some(usage(metadata));
        }
        if !self.finished.is_empty() {
            self.flush_usage(out);
        }
    }

    fn flush_usage(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(usage) = self.last_usage
            && self.sent_usage != Some(usage)
        {
            self.sent_usage = Some(usage);
            out.push(StreamEvent::Usage(usage));
        }
    }
}
