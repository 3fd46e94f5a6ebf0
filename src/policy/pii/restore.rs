//! Putting tokenized values back: whole texts, and streams whose placeholders may be split
//! across chunks (a possible placeholder prefix at a chunk's end is held back until the next
//! chunk decides, and flushed as is at the end).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::providers::types::{ChatResponse, Part, StreamEvent};

/// The placeholders of one request and the values they stand for.
#[derive(Clone, Debug, Default)]
pub struct Restorer {
    values: HashMap<String, String>,
    longest: usize,
}

impl Restorer {
    /// Remembers that `placeholder` (e.g. `[EMAIL_1]`) stands for `value`.
    pub fn insert(&mut self, placeholder: String, value: String) {
        self.longest = self.longest.max(placeholder.len());
        self.values.insert(placeholder, value);
    }

    /// Whether no value was tokenized.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every known placeholder replaced by its value (JSON-escaped when `json`, for
    /// text inside JSON strings such as tool-call arguments).
    pub fn restore<'a>(&self, text: &'a str, json: bool) -> Cow<'a, str> {
        if self.values.is_empty() || !text.contains('[') {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('[') {
            out.push_str(&rest[..open]);
            let tail = &rest[open..];
            let close = tail.bytes().take(self.longest).position(|b| b == b']');
            match close.and_then(|c| self.values.get(&tail[..=c]).map(|v| (c, v))) {
                Some((c, value)) => {
                    if json {
                        let quoted = serde_json::Value::String(value.clone()).to_string();
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    } else {
                        out.push_str(value);
                    }
                    rest = &tail[c + 1..];
                }
                None => {
                    out.push('[');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Where a possible placeholder starts at the end of `text` (must be held back), if any.
    fn holdback(&self, text: &str) -> Option<usize> {
        let open = text.rfind('[')?;
        let tail = &text[open + 1..];
        let could_be = text.len() - open < self.longest
            && tail
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        could_be.then_some(open)
    }

    /// Restores every choice of a complete answer (texts and tool-call arguments).
    pub fn restore_response(&self, answer: &mut ChatResponse) {
        for choice in &mut answer.choices {
            for part in &mut choice.message.content {
                if let Part::Text { text } = part
                    && let Cow::Owned(t) = self.restore(text, false)
                {
                    *text = t;
                }
            }
            for call in &mut choice.message.tool_calls {
                if let Cow::Owned(t) = self.restore(&call.arguments, true) {
                    call.arguments = t;
                }
            }
        }
    }
}

/// Which delta a held-back piece belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Channel {
    Text(u32),
    Tool(u32, u32),
}

/// Restores placeholders in a stream of unified events.
#[derive(Debug)]
pub struct StreamRestorer {
    restorer: std::sync::Arc<Restorer>,
    held: Vec<(Channel, String)>,
}

impl StreamRestorer {
    /// A restorer for one stream.
    pub fn new(restorer: std::sync::Arc<Restorer>) -> Self {
        Self {
            restorer,
            held: Vec::new(),
        }
    }

    fn take_held(&mut self, channel: Channel) -> String {
        match self.held.iter().position(|(c, _)| *c == channel) {
            Some(i) => self.held.swap_remove(i).1,
            None => String::new(),
        }
    }

    fn delta(&mut self, channel: Channel, text: &str) -> Option<StreamEvent> {
        let mut pending = self.take_held(channel);
        pending.push_str(text);
        let cut = self.restorer.holdback(&pending).unwrap_or(pending.len());
        let held = pending.split_off(cut);
        if !held.is_empty() {
            self.held.push((channel, held));
        }
        (!pending.is_empty()).then(|| event(channel, self.restore(channel, &pending)))
    }

    fn restore(&self, channel: Channel, text: &str) -> String {
        self.restorer
            .restore(text, matches!(channel, Channel::Tool(..)))
            .into_owned()
    }

    /// The events to send for `e`: restored deltas, with any held-back text flushed before
    /// another kind of event.
    pub fn on_event(&mut self, e: &StreamEvent) -> Vec<StreamEvent> {
        match e {
            StreamEvent::TextDelta { choice, text } => self
                .delta(Channel::Text(*choice), text)
                .into_iter()
                .collect(),
            StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments,
            } => self
                .delta(Channel::Tool(*choice, *index), arguments)
                .into_iter()
                .collect(),
            other => {
                let mut out = self.flush();
                out.push(other.clone());
                out
            }
        }
    }

    /// Everything still held back, as it is.
    pub fn flush(&mut self) -> Vec<StreamEvent> {
        let held = std::mem::take(&mut self.held);
        held.into_iter()
            .map(|(channel, text)| event(channel, self.restore(channel, &text)))
            .collect()
    }
}

fn event(channel: Channel, text: String) -> StreamEvent {
    match channel {
        Channel::Text(choice) => StreamEvent::TextDelta { choice, text },
        Channel::Tool(choice, index) => StreamEvent::ToolCallDelta {
            choice,
            index,
            arguments: text,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn restorer() -> Arc<Restorer> {
        let mut r = Restorer::default();
        r.insert("[EMAIL_1]".into(), "jane@example.com".into());
        r.insert("[CARD_1]".into(), "4242 4242 4242 4242".into());
        r.insert("[EMAIL_12]".into(), "a\"b@example.com".into());
        Arc::new(r)
    }

    fn streamed(chunks: &[&str]) -> String {
        let mut s = StreamRestorer::new(restorer());
        let mut out = String::new();
        let mut take = |events: Vec<StreamEvent>| {
            for e in events {
                if let StreamEvent::TextDelta { text, .. } = e {
                    out.push_str(&text);
                }
            }
        };
        for c in chunks {
            take(s.on_event(&StreamEvent::TextDelta {
                choice: 0,
                text: (*c).to_owned(),
            }));
        }
        take(s.flush());
        out
    }

    #[test]
    fn restores_whole_texts_and_json() {
        let r = restorer();
        assert_eq!(
            r.restore("to [EMAIL_1], [CARD_1] [X_1] [", false),
            "to jane@example.com, 4242 4242 4242 4242 [X_1] ["
        );
        assert_eq!(
            r.restore(r#"{"to":"[EMAIL_12]"}"#, true),
            r#"{"to":"a\"b@example.com"}"#
        );
    }

    #[test]
    fn every_split_point_restores_the_same_text() {
        let text = "Hi [EMAIL_1], card [CARD_1]; [not] [EMAIL_1][EMAIL_12] end [EMA";
        let want = restorer().restore(text, false).into_owned();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let got = streamed(&[&text[..i], &text[i..j], &text[j..]]);
                assert_eq!(got, want, "split at {i},{j}");
            }
        }
    }

    /// Fuzz: random chunkings of interleaved text (two choices) and tool-call arguments.
    #[test]
    fn random_chunkings_of_interleaved_channels_restore_exactly() {
        let r = restorer();
        let text = "a [EMAIL_1]b[CARD_1][EMAIL_12]] [[EMAIL_1] [CARD_ [X] z";
        let args = r#"{"to":"[EMAIL_12]","card":"[CARD_1]"}"#;
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut s = StreamRestorer::new(r.clone());
            let mut out: [String; 3] = Default::default();
            let mut pos = [0usize; 3];
            let sources = [text, text, args];
            let collect = |events: Vec<StreamEvent>, out: &mut [String; 3]| {
                for e in events {
                    match e {
                        StreamEvent::TextDelta { choice, text } => {
                            out[choice as usize].push_str(&text)
                        }
                        StreamEvent::ToolCallDelta { arguments, .. } => out[2].push_str(&arguments),
                        _ => {}
                    }
                }
            };
            while pos.iter().zip(&sources).any(|(p, src)| *p < src.len()) {
                let channel = next(3);
                let src = sources[channel];
                if pos[channel] >= src.len() {
                    continue;
                }
                let end = (pos[channel] + 1 + next(6)).min(src.len());
                let piece = src[pos[channel]..end].to_owned();
                pos[channel] = end;
                let event = match channel {
                    2 => StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: 0,
                        arguments: piece,
                    },
                    c => StreamEvent::TextDelta {
                        choice: c as u32,
                        text: piece,
                    },
                };
                let events = s.on_event(&event);
                collect(events, &mut out);
            }
            collect(s.flush(), &mut out);
            assert_eq!(out[0], r.restore(text, false));
            assert_eq!(out[1], r.restore(text, false));
            assert_eq!(out[2], r.restore(args, true));
        }
    }

    #[test]
    fn held_text_is_flushed_before_other_events() {
        let mut s = StreamRestorer::new(restorer());
        let first = s.on_event(&StreamEvent::TextDelta {
            choice: 0,
            text: "see [EMA".into(),
        });
        assert_eq!(
            first,
            vec![StreamEvent::TextDelta {
                choice: 0,
                text: "see ".into()
            }]
        );
        let finish = StreamEvent::Finish {
            choice: 0,
            reason: crate::providers::types::FinishReason::Stop,
        };
        let out = s.on_event(&finish);
        assert_eq!(
            out,
            vec![
                StreamEvent::TextDelta {
                    choice: 0,
                    text: "[EMA".into()
                },
                finish
            ]
        );
    }
}
