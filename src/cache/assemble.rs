//! Between a unified answer and its stream: a streamed answer is assembled from the unified
//! events the relay already decodes (to be cached), and a cached answer is replayed as unified
//! events (to be encoded in the caller's stream format).

use crate::providers::types::{
    ChatResponse, Choice, FinishReason, Message, Part, Role, StreamEvent, ToolCall, Usage,
};

/// Collects a stream's events into the complete answer.
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    id: String,
    model: String,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

impl Assembler {
    fn choice(&mut self, index: u32) -> &mut Choice {
        let position = match self.choices.iter().position(|c| c.index == index) {
            Some(p) => p,
            None => {
                self.choices.push(Choice {
                    index,
                    message: Message {
                        content: Vec::new(),
                        ..Message::text(Role::Assistant, "")
                    },
                    finish_reason: FinishReason::Other(String::new()),
                    logprobs: None,
                });
                self.choices.len() - 1
            }
        };
        &mut self.choices[position]
    }

    /// Observes one event.
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
            }
            StreamEvent::TextDelta { choice, text } => {
                let content = &mut self.choice(*choice).message.content;
                match content.last_mut() {
                    Some(Part::Text { text: t }) => t.push_str(text),
                    _ => content.push(Part::Text { text: text.clone() }),
                }
            }
            StreamEvent::ThinkingDelta { choice, text } => {
                let content = &mut self.choice(*choice).message.content;
                match content.last_mut() {
                    Some(Part::Thinking {
                        text: t,
                        signature: None,
                    }) => t.push_str(text),
                    _ => content.push(Part::Thinking {
                        text: text.clone(),
                        signature: None,
                    }),
                }
            }
            StreamEvent::ThinkingSignature { choice, signature } => {
                let content = &mut self.choice(*choice).message.content;
                match content.last_mut() {
                    Some(Part::Thinking { signature: s, .. }) if s.is_none() => {
                        *s = Some(signature.clone());
                    }
                    _ => content.push(Part::Thinking {
                        text: String::new(),
                        signature: Some(signature.clone()),
                    }),
                }
            }
            StreamEvent::RedactedThinking { choice, data } => self
                .choice(*choice)
                .message
                .content
                .push(Part::RedactedThinking { data: data.clone() }),
            StreamEvent::ToolCallStart {
                choice,
                id,
                name,
                signature,
                ..
            } => self.choice(*choice).message.tool_calls.push(ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
                signature: signature.clone(),
            }),
            StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments,
            } => {
                let calls = &mut self.choice(*choice).message.tool_calls;
                let i = usize::try_from(*index)
                    .unwrap_or(usize::MAX)
                    .min(calls.len().saturating_sub(1));
                if let Some(call) = calls.get_mut(i) {
                    call.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish { choice, reason } => {
                self.choice(*choice).finish_reason = reason.clone();
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
        }
    }

    /// The answer, once every choice has finished; `None` for an unfinished stream.
    pub fn finish(mut self, usage: Usage) -> Option<ChatResponse> {
        let unfinished =
            |c: &Choice| matches!(&c.finish_reason, FinishReason::Other(r) if r.is_empty());
        if self.choices.is_empty() || self.choices.iter().any(unfinished) {
            return None;
        }
        self.choices.sort_by_key(|c| c.index);
        Some(ChatResponse {
            id: self.id,
            model: self.model,
            created: crate::providers::unix_now(),
            choices: self.choices,
            usage: self.usage.unwrap_or(usage),
        })
    }
}

/// The unified events that replay `answer` as a stream.
pub fn replay(answer: &ChatResponse) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start {
        id: answer.id.clone(),
        model: answer.model.clone(),
    }];
    for c in &answer.choices {
        let choice = c.index;
        for part in &c.message.content {
            match part {
                Part::Text { text } => events.push(StreamEvent::TextDelta {
                    choice,
                    text: text.clone(),
                }),
                Part::Thinking { text, signature } => {
                    events.push(StreamEvent::ThinkingDelta {
                        choice,
                        text: text.clone(),
                    });
                    if let Some(signature) = signature {
                        events.push(StreamEvent::ThinkingSignature {
                            choice,
                            signature: signature.clone(),
                        });
                    }
                }
                Part::RedactedThinking { data } => events.push(StreamEvent::RedactedThinking {
                    choice,
                    data: data.clone(),
                }),
                Part::Image { .. } => {}
            }
        }
        for (i, call) in c.message.tool_calls.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            events.push(StreamEvent::ToolCallStart {
                choice,
                index,
                id: call.id.clone(),
                name: call.name.clone(),
                signature: call.signature.clone(),
            });
            events.push(StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments: call.arguments.clone(),
            });
        }
        events.push(StreamEvent::Finish {
            choice,
            reason: c.finish_reason.clone(),
        });
    }
    events.push(StreamEvent::Usage(answer.usage));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_answer_assembles_back_to_itself() {
        let answer = ChatResponse {
            id: "chatcmpl-1".into(),
            model: "m".into(),
            created: 1,
            choices: vec![Choice {
                index: 0,
                message: Message {
                    content: vec![
                        Part::Thinking {
                            text: "hmm".into(),
                            signature: Some("sig".into()),
                        },
                        Part::Text { text: "hi".into() },
                    ],
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "f".into(),
                        arguments: "{\"a\":1}".into(),
                        signature: None,
                    }],
                    ..Message::text(Role::Assistant, "")
                },
                finish_reason: FinishReason::ToolCalls,
                logprobs: None,
            }],
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                ..Usage::default()
            },
        };
        let mut assembler = Assembler::default();
        for e in replay(&answer) {
            assembler.observe(&e);
        }
        let mut back = assembler.finish(Usage::default()).expect("finished");
        back.created = 1;
        assert_eq!(back, answer);
    }

    #[test]
    fn an_unfinished_stream_is_not_an_answer() {
        let mut assembler = Assembler::default();
        assembler.observe(&StreamEvent::TextDelta {
            choice: 0,
            text: "partial".into(),
        });
        assert!(assembler.finish(Usage::default()).is_none());
    }
}
