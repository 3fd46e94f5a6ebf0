use super::{decode, parse_sse};
use crate::providers::cohere::ChatStreamDecoder;
use crate::providers::types::{FinishReason, StreamEvent, Usage};
use crate::providers::{ErrorKind, SseEvent};

const TEXT: &str = include_str!("../../../../tests/fixtures/cohere/stream_text.sse");
const TOOLS: &str = include_str!("../../../../tests/fixtures/cohere/stream_tool_calls.sse");
const REASONING: &str = include_str!("../../../../tests/fixtures/cohere/stream_reasoning.sse");
const TRUNCATED: &str = include_str!("../../../../tests/fixtures/cohere/stream_truncated.sse");
const MIDSTREAM: &str =
    include_str!("../../../../tests/fixtures/cohere/stream_midstream_error.sse");

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn text_stream() {
    let (events, end) = decode(TEXT);
    end.expect("clean end");
    assert_eq!(
        events.first(),
        Some(&StreamEvent::Start {
            id: "a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8".into(),
            model: String::new()
        })
    );
    assert_eq!(text_of(&events), "The capital of France is Paris.");
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::TextDelta { choice: 0, .. }))
        .count();
    assert_eq!(deltas, 7);
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Stop
        }
    );
    assert_eq!(
        events[n - 1],
        StreamEvent::Usage(Usage {
            prompt_tokens: 211,
            completion_tokens: 7,
            ..Usage::default()
        })
    );
}

#[test]
fn streamed_tool_calls_arrive_in_order_with_fragmented_arguments() {
    let (events, end) = decode(TOOLS);
    end.expect("clean end");
    assert_eq!(
        text_of(&events),
        "I will check the weather in Paris and Tokyo."
    );
    let starts: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCallStart { .. }))
        .collect();
    assert_eq!(
        starts,
        vec![
            &StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "get_weather_e8p4pn45zt0t".into(),
                name: "get_weather".into(),
                signature: None
            },
            &StreamEvent::ToolCallStart {
                choice: 0,
                index: 1,
                id: "get_weather_pyxssbwnq9fq".into(),
                name: "get_weather".into(),
                signature: None
            },
        ]
    );
    for (index, want) in [
        (0, r#"{"city": "Paris", "days": 3}"#),
        (1, r#"{"city": "Tokyo", "days": 1}"#),
    ] {
        let fragments: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta {
                    index: i,
                    arguments,
                    ..
                } if *i == index => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(fragments.len(), 11, "call {index} arrives in fragments");
        assert_eq!(fragments.concat(), want);
    }
    // Every delta of a call follows its start and precedes the next call's start.
    let pos = |pred: &dyn Fn(&StreamEvent) -> bool| events.iter().position(pred);
    let start1 =
        pos(&|e| matches!(e, StreamEvent::ToolCallStart { index: 1, .. })).expect("start 1");
    let last0 = events
        .iter()
        .rposition(|e| matches!(e, StreamEvent::ToolCallDelta { index: 0, .. }))
        .expect("delta 0");
    assert!(last0 < start1);
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls
        }
    );
    assert_eq!(
        events[n - 1],
        StreamEvent::Usage(Usage {
            prompt_tokens: 1549,
            completion_tokens: 95,
            cached_tokens: 1504,
            ..Usage::default()
        })
    );
}

#[test]
fn reasoning_stream_has_thinking_then_text() {
    let (events, end) = decode(REASONING);
    end.expect("clean end");
    let thinking: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ThinkingDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(thinking, "The user asks for 2 + 2.");
    assert_eq!(text_of(&events), "2 + 2 = 4");
    let first_text = events
        .iter()
        .position(|e| matches!(e, StreamEvent::TextDelta { .. }));
    let last_thinking = events
        .iter()
        .rposition(|e| matches!(e, StreamEvent::ThinkingDelta { .. }));
    assert!(last_thinking < first_text);
    assert!(events.contains(&StreamEvent::Usage(Usage {
        prompt_tokens: 1394,
        completion_tokens: 54,
        cached_tokens: 1360,
        ..Usage::default()
    })));
}

#[test]
fn truncated_stream_fails_on_finish() {
    let (events, end) = decode(TRUNCATED);
    let err = end.expect_err("no message-end");
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(err.message.contains("message-end"), "{}", err.message);
    assert_eq!(text_of(&events), "Once upon a");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
}

#[test]
fn midstream_error_event_is_an_error() {
    let (events, end) = decode(MIDSTREAM);
    let err = end.expect_err("error event");
    assert_eq!(err.message, "Cohere: internal server error");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.retryable);
    assert_eq!(text_of(&events), "Half an");
}

#[test]
fn finish_reason_error_without_message_is_an_error() {
    let mut d = ChatStreamDecoder::new();
    let end = SseEvent::data(r#"{"type":"message-end","delta":{"finish_reason":"ERROR"}}"#);
    let err = d.on_event(&end).expect_err("error");
    assert!(err.message.starts_with("Cohere: "), "{}", err.message);
}

#[test]
fn type_comes_from_data_or_event_name_and_done_is_ignored() {
    let mut d = ChatStreamDecoder::new();
    // No `message-start`: a Start with a generated id comes first.
    let ev = SseEvent {
        event: "content-delta".into(),
        data: r#"{"index":0,"delta":{"message":{"content":{"text":"Hi"}}}}"#.into(),
    };
    let out = d.on_event(&ev).expect("delta");
    assert!(matches!(&out[0], StreamEvent::Start { id, .. } if id.starts_with("msg_")));
    assert_eq!(
        out[1],
        StreamEvent::TextDelta {
            choice: 0,
            text: "Hi".into()
        }
    );
    let end = SseEvent::data(
        r#"{"type":"message-end","delta":{"finish_reason":"STOP_SEQUENCE","usage":{"billed_units":{"input_tokens":3,"output_tokens":1}}}}"#,
    );
    let out = d.on_event(&end).expect("end");
    assert_eq!(
        out,
        vec![
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::StopSequence
            },
            StreamEvent::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 1,
                ..Usage::default()
            }),
        ]
    );
    assert_eq!(d.on_event(&SseEvent::data("[DONE]")).expect("done"), vec![]);
    assert_eq!(d.finish().expect("finished"), vec![]);
}

#[test]
fn malformed_event_is_a_protocol_error() {
    let mut d = ChatStreamDecoder::new();
    let err = d
        .on_event(&SseEvent::data("{not json"))
        .expect_err("bad json");
    assert_eq!(err.kind, ErrorKind::Protocol);
}

#[test]
fn fixtures_use_event_names_equal_to_types() {
    for text in [TEXT, TOOLS, REASONING, TRUNCATED, MIDSTREAM] {
        for ev in parse_sse(text) {
            let v: serde_json::Value = serde_json::from_str(&ev.data).expect("json");
            assert_eq!(v["type"], ev.event.as_str());
        }
    }
}
