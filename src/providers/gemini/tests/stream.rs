use super::{fixture, sse_events};
use crate::providers::gemini::ChatStreamDecoder;
use crate::providers::types::{FinishReason, StreamEvent, Usage};
use crate::providers::{ErrorKind, ProviderError, SseEvent};

/// Feeds every event, then `finish()`.
fn decode(text: &str) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut decoder = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for event in sse_events(text) {
        out.extend(decoder.on_event(&event)?);
    }
    out.extend(decoder.finish()?);
    Ok(out)
}

#[test]
fn text_stream() {
    let events = decode(fixture!("stream_text.sse")).expect("decodes");
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "Wl2faM_3OYqsxN8PhfLQ8Qk".into(),
                model: "gemini-2.0-flash".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: "Hello".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: "! How can I help".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: " you today?".into()
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 9,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn streamed_parallel_tool_calls_with_thinking() {
    let events = decode(fixture!("stream_tool_call.sse")).expect("decodes");
    let full = r#"{"city":"Paris","days":3,"units":{"temperature":"celsius","wind":"km/h"}}"#;
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "k0yfaOGIC-ivxN8P6IqVyQs".into(), model: "gemini-3-pro-preview".into() },
            StreamEvent::ThinkingDelta {
                choice: 0,
                text: "**Planning the lookups**\n\nThe user wants two cities, so I will call get_weather twice.".into(),
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "q4w8e2rt".into(),
                name: "get_weather".into(),
                signature: Some("EpQCCpECAdHtim9sigForFirstCall==".into()),
            },
            StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: full.into() },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 1,
                id: "z9x7c5vb".into(),
                name: "get_weather".into(),
                signature: None,
            },
            StreamEvent::ToolCallDelta { choice: 0, index: 1, arguments: r#"{"city":"Tokyo","days":1}"#.into() },
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls },
            StreamEvent::Usage(Usage {
                prompt_tokens: 61,
                completion_tokens: 54,
                reasoning_tokens: 24,
                ..Usage::default()
            }),
        ]
    );
    // Gemini sends each call's arguments whole: the fragments of call 0, joined in order,
    // are exactly its full JSON.
    let joined: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments,
                ..
            } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(joined, full);
    let parsed: serde_json::Value = serde_json::from_str(&joined).expect("valid json");
    assert_eq!(parsed["units"]["wind"], "km/h");
}

#[test]
fn thinking_stream_ends_with_the_signature() {
    let events = decode(fixture!("stream_thinking.sse")).expect("decodes");
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "TmOfaPyvDLmbxN8P1YyY-Qw".into(),
                model: "gemini-2.5-pro".into()
            },
            StreamEvent::ThinkingDelta {
                choice: 0,
                text: "**Counting the letters**\n\nI spell it out".into()
            },
            StreamEvent::ThinkingDelta {
                choice: 0,
                text: " and count each r.".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: "There are three r's".into()
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: " in \"strawberry\".".into()
            },
            StreamEvent::ThinkingSignature {
                choice: 0,
                signature: "CtIBAVSoXO5streamedSignature==".into()
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage {
                prompt_tokens: 12,
                completion_tokens: 199,
                reasoning_tokens: 188,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn truncated_stream_fails_at_finish() {
    let mut decoder = ChatStreamDecoder::new();
    let mut texts = String::new();
    for event in sse_events(fixture!("stream_truncated.sse")) {
        for e in decoder.on_event(&event).expect("chunks decode") {
            if let StreamEvent::TextDelta { text, .. } = e {
                texts.push_str(&text);
            }
        }
    }
    assert_eq!(texts, "Once upon a time");
    let err = decoder.finish().expect_err("no finishReason");
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(err.retryable);
    assert!(err.message.contains("truncated"), "{}", err.message);
}

#[test]
fn empty_stream_fails_at_finish() {
    assert!(ChatStreamDecoder::new().finish().is_err());
}

#[test]
fn mid_stream_error_event_is_an_error() {
    let mut decoder = ChatStreamDecoder::new();
    let events = sse_events(fixture!("stream_error.sse"));
    assert_eq!(events.len(), 3);
    assert_eq!(decoder.on_event(&events[0]).expect("first chunk").len(), 2);
    assert_eq!(decoder.on_event(&events[1]).expect("second chunk").len(), 1);
    let err = decoder.on_event(&events[2]).expect_err("error event");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.status, 503);
    assert!(err.retryable);
    assert_eq!(err.code.as_deref(), Some("UNAVAILABLE"));
    assert_eq!(
        err.message,
        "Gemini: The model is overloaded. Please try again later."
    );
}

#[test]
fn blocked_prompt_in_a_stream_is_an_error() {
    let mut decoder = ChatStreamDecoder::new();
    let event = SseEvent::data(fixture!("response_prompt_blocked.json"));
    let err = decoder.on_event(&event).expect_err("blocked");
    assert_eq!(err.kind, ErrorKind::ContentFilter);
}

#[test]
fn garbage_and_blank_events() {
    let mut decoder = ChatStreamDecoder::new();
    assert!(
        decoder
            .on_event(&SseEvent::data("   "))
            .expect("blank")
            .is_empty()
    );
    assert_eq!(
        decoder
            .on_event(&SseEvent::data("{oops"))
            .expect_err("bad")
            .kind,
        ErrorKind::Protocol
    );
}

#[test]
fn usage_arriving_after_finish_is_sent_again() {
    let mut decoder = ChatStreamDecoder::new();
    let first = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}"#;
    let late = r#"{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}"#;
    let out = decoder.on_event(&SseEvent::data(first)).expect("first");
    assert_eq!(
        out.last(),
        Some(&StreamEvent::Usage(Usage {
            prompt_tokens: 3,
            completion_tokens: 1,
            ..Usage::default()
        }))
    );
    let out = decoder.on_event(&SseEvent::data(late)).expect("late");
    assert_eq!(
        out,
        vec![StreamEvent::Usage(Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
            ..Usage::default()
        })]
    );
    assert!(decoder.finish().expect("finished").is_empty());
}
