use super::{decode, fixture};
use crate::providers::anthropic::ChatStreamDecoder;
use crate::providers::types::{FinishReason, StreamEvent, Usage};
use crate::providers::{ErrorKind, SseEvent};

fn last_usage(events: &[StreamEvent]) -> Option<Usage> {
    events.iter().rev().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    })
}

#[test]
fn text_stream() {
    let (events, end) = decode(fixture!("stream_text.sse"));
    end.expect("complete stream");
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_01Jh3CaSbGSsVGCqDpTXpZXs".into(),
                model: "claude-sonnet-4-5-20250929".into(),
            },
            StreamEvent::Usage(Usage {
                prompt_tokens: 25,
                completion_tokens: 1,
                ..Usage::default()
            }),
            StreamEvent::TextDelta {
                choice: 0,
                text: "Hello".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: "! How can I".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: " help you today?".into()
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage {
                prompt_tokens: 25,
                completion_tokens: 15,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn tool_call_fragments_arrive_in_order_with_their_own_indexes() {
    let (events, end) = decode(fixture!("stream_tool_use.sse"));
    end.expect("complete stream");
    let starts: Vec<(u32, &str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart {
                choice: 0,
                index,
                id,
                name,
                ..
            } => Some((*index, id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [
            (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
            (1, "toolu_01Vz5bZ9kQ3rXtYu8MnL2pW4", "get_weather"),
        ]
    );
    let fragments = |tool: u32| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta {
                    index, arguments, ..
                } if *index == tool => Some(arguments.clone()),
                _ => None,
            })
            .collect()
    };
    let first = fragments(0);
    assert_eq!(first.len(), 4, "empty fragments are skipped: {first:?}");
    assert_eq!(
        first.concat(),
        r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#
    );
    assert_eq!(
        fragments(1).concat(),
        r#"{"location": "Tokyo, Japan", "unit": "celsius"}"#
    );
    // Each call's start precedes its fragments; the second call starts after the first's last.
    let pos = |pred: &dyn Fn(&StreamEvent) -> bool| events.iter().position(pred).expect("found");
    let start1 = pos(&|e| matches!(e, StreamEvent::ToolCallStart { index: 1, .. }));
    let last0 = events
        .iter()
        .rposition(|e| matches!(e, StreamEvent::ToolCallDelta { index: 0, .. }))
        .expect("delta");
    assert!(last0 < start1);
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Okay, let's check the weather in both cities:");
    assert!(events.contains(&StreamEvent::Finish {
        choice: 0,
        reason: FinishReason::ToolCalls
    }));
    assert_eq!(
        last_usage(&events),
        Some(Usage {
            prompt_tokens: 600,
            completion_tokens: 89,
            cached_tokens: 128,
            ..Usage::default()
        })
    );
}

#[test]
fn thinking_stream_with_signature_and_redacted_block() {
    let (events, end) = decode(fixture!("stream_thinking.sse"));
    end.expect("complete stream");
    let content: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| !matches!(e, StreamEvent::Start { .. } | StreamEvent::Usage(_)))
        .collect();
    assert_eq!(
        content,
        [
            &StreamEvent::ThinkingDelta {
                choice: 0,
                text: "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n"
                    .into()
            },
            &StreamEvent::ThinkingDelta {
                choice: 0,
                text: "1071 = 2 × 462 + 147".into()
            },
            &StreamEvent::ThinkingSignature {
                choice: 0,
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into()
            },
            &StreamEvent::RedactedThinking {
                choice: 0,
                data: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP...".into()
            },
            &StreamEvent::TextDelta {
                choice: 0,
                text: "The greatest common divisor of 1071 and 462 is **21**.".into()
            },
            &StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
        ]
    );
    let usage = last_usage(&events).expect("usage");
    assert_eq!(usage.prompt_tokens, 85);
    assert_eq!(usage.completion_tokens, 356);
    assert_eq!(usage.reasoning_tokens, 298);
}

#[test]
fn truncated_stream_is_an_error_at_finish() {
    let (events, end) = decode(fixture!("stream_truncated.sse"));
    let err = end.expect_err("no message_stop");
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(err.retryable);
    assert!(err.message.contains("Anthropic"), "{}", err.message);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::TextDelta { .. }))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
}

#[test]
fn mid_stream_error_event_is_an_error() {
    let (events, end) = decode(fixture!("stream_error.sse"));
    let err = end.expect_err("error event");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.status, 529);
    assert!(err.retryable);
    assert_eq!(err.message, "Anthropic: Overloaded");
    assert_eq!(err.code.as_deref(), Some("overloaded_error"));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::TextDelta {
            choice: 0,
            text: "Here is the".into()
        })
    );
}

#[test]
fn empty_stream_and_out_of_order_events_are_errors() {
    let mut decoder = ChatStreamDecoder::new();
    assert_eq!(
        decoder.finish().expect_err("nothing").kind,
        ErrorKind::Protocol
    );
    let mut decoder = ChatStreamDecoder::new();
    let delta = SseEvent {
        event: "content_block_delta".into(),
        data:
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#
                .into(),
    };
    assert!(decoder.on_event(&delta).is_err());
    let mut decoder = ChatStreamDecoder::new();
    assert!(decoder.on_event(&SseEvent::data("{not json")).is_err());
}

#[test]
fn unknown_events_and_deltas_are_ignored() {
    let mut decoder = ChatStreamDecoder::new();
    let start = SseEvent::data(
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#,
    );
    assert_eq!(decoder.on_event(&start).expect("start").len(), 2);
    let future = SseEvent::data(r#"{"type":"message_annotation","annotation":{}}"#);
    assert!(decoder.on_event(&future).expect("ignored").is_empty());
    let block = SseEvent::data(
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"","citations":[]}}"#,
    );
    assert!(decoder.on_event(&block).expect("block").is_empty());
    let citation = SseEvent::data(
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}"#,
    );
    assert!(decoder.on_event(&citation).expect("ignored").is_empty());
}
