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

/// The tokenizer of an OpenAI-family model, when it has a known one.
fn openai_tokenizer(model: &str) -> Option<&'static tiktoken_rs::CoreBPE> {
    let m = model.rsplit('/').next().unwrap_or(model);
    let o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
    ];
    if o200k.iter().any(|p| m.starts_with(p)) {
        Some(tiktoken_rs::o200k_base_singleton())
    } else if m.starts_with("gpt-4") || m.starts_with("gpt-3.5") || m.starts_with("text-embedding")
    {
        Some(tiktoken_rs::cl100k_base_singleton())
    } else {
        None
    }
}

/// The prompt's token count for rate limiting: exact (tiktoken, with OpenAI's per-message
/// overhead) for OpenAI-family models, the local estimate for others.
pub fn count_prompt(req: &ChatRequest, upstream_model: &str) -> u64 {
    let Some(bpe) = openai_tokenizer(upstream_model) else {
        return estimate_prompt(req);
    };
    let count = |text: &str| bpe.encode_ordinary(text).len() as u64;
    // Three tokens frame each message, three prime the reply.
    let mut tokens = 3u64;
    for m in &req.messages {
        tokens += 3;
        for p in &m.content {
            tokens += match p {
                Part::Text { text } | Part::Thinking { text, .. } => count(text),
                Part::Image { .. } => 85,
                Part::RedactedThinking { data } => estimate_tokens(data.len() as u64),
            };
        }
        for c in &m.tool_calls {
            tokens += count(&c.name) + count(&c.arguments);
        }
    }
    for t in &req.tools {
        tokens += count(&t.name) + count(&t.parameters.to_string());
    }
    tokens
}

#[cfg(test)]
mod token_tests {
    use super::*;
    use crate::providers::types::{Message, Role};

    fn chat(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, text)],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn openai_models_are_counted_with_their_tokenizer() {
        let req = chat("Hello, world! How are you today?");
        // o200k: "Hello", ",", " world", "!", " How", " are", " you", " today", "?" = 9, +3 +3.
        assert_eq!(count_prompt(&req, "gpt-4o-mini"), 15);
        assert_eq!(count_prompt(&req, "claude-sonnet-4"), estimate_prompt(&req));
    }
}
