//! Provider state that a caller's wire format cannot carry between turns: Anthropic thinking
//! blocks with their signatures (and redacted thinking) and Gemini `thoughtSignature`s. Reasoning
//! models reject a tool-use turn whose assistant message comes back without them, and an
//! OpenAI-format caller has nowhere to keep them. So the gateway remembers them per tenant,
//! keyed by the tool-call ids of the answer, for a limited time, and puts them back when the
//! caller sends that assistant turn again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::providers::types::{ChatRequest, Message, Part, Role, StreamEvent};

/// How long remembered state lives.
pub const TTL: Duration = Duration::from_secs(6 * 3600);
/// How many tool-call ids are remembered at most.
const CAPACITY: u64 = 200_000;

/// The state of one assistant turn.
#[derive(Debug, Default, PartialEq)]
pub struct TurnState {
    /// Signed thinking and redacted thinking, in order.
    pub reasoning: Vec<Part>,
    /// Signatures attached to individual tool calls, by call id.
    pub call_signatures: HashMap<String, String>,
}

/// The store, shared by every worker.
#[derive(Clone)]
pub struct ProviderState {
    turns: Cache<(String, String), Arc<TurnState>>,
}

impl Default for ProviderState {
    fn default() -> Self {
        Self::new(TTL)
    }
}

fn is_signed(part: &Part) -> bool {
    match part {
        Part::Thinking { signature, .. } => signature.as_deref().is_some_and(|s| !s.is_empty()),
        Part::RedactedThinking { .. } => true,
        _ => false,
    }
}

impl ProviderState {
    /// A store whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            turns: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Remembers what an answer's assistant message carried, when it has tool calls and
    /// anything signed.
    pub fn remember(&self, tenant: &str, message: &Message) {
        if message.tool_calls.is_empty() {
            return;
        }
        let state = TurnState {
            reasoning: message
                .content
                .iter()
                .filter(|p| is_signed(p))
                .cloned()
                .collect(),
            call_signatures: message
                .tool_calls
                .iter()
                .filter_map(|c| c.signature.clone().map(|s| (c.id.clone(), s)))
                .collect(),
        };
        if state.reasoning.is_empty() && state.call_signatures.is_empty() {
            return;
        }
        let state = Arc::new(state);
        for call in &message.tool_calls {
            self.turns
                .insert((tenant.to_owned(), call.id.clone()), state.clone());
        }
    }

    /// Puts remembered state back into the request's assistant turns that lack it.
    pub fn restore(&self, tenant: &str, request: &mut ChatRequest) {
        for message in request
            .messages
            .iter_mut()
            .filter(|m| m.role == Role::Assistant && !m.tool_calls.is_empty())
        {
            let Some(state) = message
                .tool_calls
                .iter()
                .find_map(|c| self.turns.get(&(tenant.to_owned(), c.id.clone())))
            else {
                continue;
            };
            if !message.content.iter().any(is_signed) && !state.reasoning.is_empty() {
                // Unsigned reasoning echoed back by the caller is replaced by the signed original.
                message.content.retain(|p| {
                    !matches!(p, Part::Thinking { .. } | Part::RedactedThinking { .. })
                });
                let mut restored = state.reasoning.clone();
                restored.append(&mut message.content);
                message.content = restored;
            }
            for call in message
                .tool_calls
                .iter_mut()
                .filter(|c| c.signature.is_none())
            {
                call.signature = state.call_signatures.get(&call.id).cloned();
            }
        }
    }
}

/// Rebuilds an answer's first choice from stream events, for [`ProviderState::remember`].
#[derive(Debug, Default)]
pub struct Transcript {
    reasoning: Vec<Part>,
    calls: Vec<crate::providers::types::ToolCall>,
}

impl Transcript {
    /// Observes one event of choice 0.
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::ThinkingDelta { choice: 0, text } => match self.reasoning.last_mut() {
                Some(Part::Thinking {
                    text: t,
                    signature: None,
                }) => t.push_str(text),
                _ => self.reasoning.push(Part::Thinking {
                    text: text.clone(),
                    signature: None,
                }),
            },
            StreamEvent::ThinkingSignature {
                choice: 0,
                signature,
            } => match self.reasoning.last_mut() {
                Some(Part::Thinking {
                    signature: s @ None,
                    ..
                }) => {
                    *s = Some(signature.clone());
                }
                _ => self.reasoning.push(Part::Thinking {
                    text: String::new(),
                    signature: Some(signature.clone()),
                }),
            },
            StreamEvent::RedactedThinking { choice: 0, data } => {
                self.reasoning
                    .push(Part::RedactedThinking { data: data.clone() });
            }
            StreamEvent::ToolCallStart {
                choice: 0,
                id,
                name,
                signature,
                ..
            } => self.calls.push(crate::providers::types::ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
                signature: signature.clone(),
            }),
            _ => {}
        }
    }

    /// The assistant message the events described (arguments are not kept).
    pub fn message(self) -> Message {
        Message {
            role: Role::Assistant,
            content: self.reasoning,
            tool_calls: self.calls,
            tool_call_id: None,
            is_error: false,
            name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::ToolCall;

    fn call(id: &str, signature: Option<&str>) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: signature.map(str::to_owned),
        }
    }

    fn answer() -> Message {
        Message {
            role: Role::Assistant,
            content: vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                },
                Part::RedactedThinking {
                    data: "opaque".into(),
                },
            ],
            tool_calls: vec![call("call_1", Some("g-sig")), call("call_2", None)],
            tool_call_id: None,
            is_error: false,
            name: None,
        }
    }

    fn echoed() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message::text(Role::User, "hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![Part::Thinking {
                        text: "hmm".into(),
                        signature: None,
                    }],
                    tool_calls: vec![call("call_1", None), call("call_2", None)],
                    tool_call_id: None,
                    is_error: false,
                    name: None,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn signed_reasoning_comes_back_for_the_same_tenant_only() {
        let store = ProviderState::default();
        store.remember("ten_a", &answer());
        let mut req = echoed();
        store.restore("ten_a", &mut req);
        assert_eq!(req.messages[1].content, answer().content);
        assert_eq!(
            req.messages[1].tool_calls[0].signature.as_deref(),
            Some("g-sig")
        );
        assert_eq!(req.messages[1].tool_calls[1].signature, None);

        let mut other = echoed();
        store.restore("ten_b", &mut other);
        assert_eq!(other, echoed(), "another tenant gets nothing");
    }

    #[test]
    fn transcripts_rebuild_streamed_turns() {
        let mut t = Transcript::default();
        for e in [
            StreamEvent::ThinkingDelta {
                choice: 0,
                text: "hm".into(),
            },
            StreamEvent::ThinkingDelta {
                choice: 0,
                text: "m".into(),
            },
            StreamEvent::ThinkingSignature {
                choice: 0,
                signature: "sig".into(),
            },
            StreamEvent::RedactedThinking {
                choice: 0,
                data: "opaque".into(),
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "call_1".into(),
                name: "f".into(),
                signature: Some("g-sig".into()),
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 1,
                id: "call_2".into(),
                name: "f".into(),
                signature: None,
            },
        ] {
            t.observe(&e);
        }
        let m = t.message();
        assert_eq!(m.content, answer().content);
        assert_eq!(m.tool_calls.len(), 2);
        assert_eq!(m.tool_calls[0].signature.as_deref(), Some("g-sig"));
    }

    #[test]
    fn answers_without_tool_calls_or_signatures_are_not_kept() {
        let store = ProviderState::default();
        let mut plain = answer();
        plain.tool_calls.clear();
        store.remember("t", &plain);
        let mut unsigned = answer();
        unsigned.content.clear();
        unsigned.tool_calls = vec![call("call_9", None)];
        store.remember("t", &unsigned);
        store.turns.run_pending_tasks();
        assert_eq!(store.turns.entry_count(), 0);
    }
}
