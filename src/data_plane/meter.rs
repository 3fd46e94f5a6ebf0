//! Usage accounting for one call: the provider's figures when it reports them, otherwise a local
//! estimate, marked as such.

use crate::providers::types::{ChatRequest, Part, StreamEvent, Usage};

/// Characters per token for the local estimate (a conservative average for English text and
/// code across tokenizers).
const CHARS_PER_TOKEN: u64 = 4;

/// A local token estimate for `chars` characters.
pub fn estimate_tokens(chars: u64) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN)
}

/// The prompt's estimated size: every message's text, tool arguments and tool definitions.
pub fn estimate_prompt(req: &ChatRequest) -> u64 {
    let mut chars = 0u64;
    for m in &req.messages {
        for p in &m.content {
            chars += match p {
                Part::Text { text } | Part::Thinking { text, .. } => text.len() as u64,
                Part::Image { .. } => 85 * CHARS_PER_TOKEN,
                Part::RedactedThinking { data } => data.len() as u64,
            };
        }
        for c in &m.tool_calls {
            chars += (c.name.len() + c.arguments.len()) as u64;
        }
        chars += 4 * CHARS_PER_TOKEN;
    }
    for t in &req.tools {
        chars += (t.name.len() + t.parameters.to_string().len()) as u64;
    }
    estimate_tokens(chars)
}

/// Tracks what a stream produced.
#[derive(Debug, Default)]
pub struct Meter {
    prompt_estimate: u64,
    completion_chars: u64,
    reported: Option<Usage>,
}

impl Meter {
    /// A meter for a request whose prompt is estimated at `prompt_estimate` tokens.
    pub fn new(prompt_estimate: u64) -> Self {
        Self {
            prompt_estimate,
            ..Self::default()
        }
    }

    /// Observes one event.
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta { text, .. } | StreamEvent::ThinkingDelta { text, .. } => {
                self.completion_chars += text.len() as u64;
            }
            StreamEvent::ToolCallStart { name, .. } => self.completion_chars += name.len() as u64,
            StreamEvent::ToolCallDelta { arguments, .. } => {
                self.completion_chars += arguments.len() as u64;
            }
            StreamEvent::Usage(u) => self.reported = Some(*u),
            _ => {}
        }
    }

    /// Whether the provider reported usage.
    pub fn reported(&self) -> bool {
        self.reported.is_some()
    }

    /// The final usage: reported, or estimated and marked so.
    pub fn usage(&self) -> Usage {
        self.reported.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: estimate_tokens(self.completion_chars),
            estimated: true,
            ..Usage::default()
        })
    }
}
