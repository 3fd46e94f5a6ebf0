use serde_json::json;

use crate::providers::ErrorKind;
use crate::providers::cohere::{chat_response, finish_reason};
use crate::providers::types::{FinishReason, Part, Role, ToolCall, Usage};

const TEXT: &str = include_str!("../../../../tests/fixtures/cohere/chat_text.json");
const TOOLS: &str = include_str!("../../../../tests/fixtures/cohere/chat_tool_calls.json");
const REASONING: &str = include_str!("../../../../tests/fixtures/cohere/chat_reasoning.json");
const MAX_TOKENS: &str = include_str!("../../../../tests/fixtures/cohere/chat_max_tokens.json");
const LOGPROBS: &str = include_str!("../../../../tests/fixtures/cohere/chat_logprobs.json");

#[test]
fn text_answer() {
    let r = chat_response(TEXT.as_bytes()).expect("parse");
    assert_eq!(r.id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
    assert_eq!(r.model, "", "Cohere names no model; the gateway fills it");
    assert!(r.created > 1_700_000_000);
    assert_eq!(r.choices.len(), 1);
    let c = &r.choices[0];
    assert_eq!(c.index, 0);
    assert_eq!(c.message.role, Role::Assistant);
    assert_eq!(
        c.message.content,
        vec![Part::Text {
            text: "The capital of France is Paris.".into()
        }]
    );
    assert!(c.message.tool_calls.is_empty());
    assert_eq!(c.finish_reason, FinishReason::Stop);
    assert_eq!(c.logprobs, None);
    // `tokens` (processed) wins over `billed_units`.
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 211,
            completion_tokens: 10,
            ..Usage::default()
        }
    );
}

#[test]
fn parallel_tool_calls_keep_ids_and_the_tool_plan() {
    let r = chat_response(TOOLS.as_bytes()).expect("parse");
    let m = &r.choices[0].message;
    assert_eq!(r.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        m.content,
        vec![Part::Text {
            text: "I will look up the weather in Paris and in Tokyo.".into()
        }]
    );
    assert_eq!(
        m.tool_calls,
        vec![
            ToolCall {
                id: "get_weather_dqgshstja6p9".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris","days":3}"#.into(),
                signature: None,
            },
            ToolCall {
                id: "get_weather_dcxfx4myvx68".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Tokyo","days":1}"#.into(),
                signature: None,
            },
        ]
    );
    assert_eq!(r.usage.prompt_tokens, 1549);
    assert_eq!(r.usage.completion_tokens, 103);
    assert_eq!(r.usage.cached_tokens, 992);
}

#[test]
fn reasoning_answer_has_thinking_then_text() {
    let r = chat_response(REASONING.as_bytes()).expect("parse");
    assert_eq!(
        r.choices[0].message.content,
        vec![
            Part::Thinking {
                text: "The user asks for 2 + 2. That is basic addition: 4.".into(),
                signature: None,
            },
            Part::Text {
                text: "2 + 2 = 4".into()
            },
        ]
    );
}

#[test]
fn usage_with_cached_tokens() {
    let r = chat_response(MAX_TOKENS.as_bytes()).expect("parse");
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 500,
            completion_tokens: 3,
            cached_tokens: 448,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            estimated: false,
        }
    );
    assert_eq!(r.usage.total(), 503);
    assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
}

#[test]
fn billed_units_are_used_when_tokens_are_absent() {
    let body = json!({
        "id": "x", "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": []},
        "usage": {"billed_units": {"input_tokens": 12, "output_tokens": 5}}
    });
    let r = chat_response(body.to_string().as_bytes()).expect("parse");
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (12, 5));
    assert!(r.choices[0].message.content.is_empty());
}

#[test]
fn every_finish_reason_maps() {
    let cases = [
        ("COMPLETE", FinishReason::Stop),
        ("STOP_SEQUENCE", FinishReason::StopSequence),
        ("MAX_TOKENS", FinishReason::Length),
        ("TOOL_CALL", FinishReason::ToolCalls),
        ("ERROR", FinishReason::Other("ERROR".into())),
        ("TIMEOUT", FinishReason::Other("TIMEOUT".into())),
    ];
    for (wire, want) in cases {
        assert_eq!(finish_reason(wire), want, "{wire}");
        let body = TEXT.replace("\"COMPLETE\"", &format!("\"{wire}\""));
        let r = chat_response(body.as_bytes()).expect("parse");
        assert_eq!(r.choices[0].finish_reason, want, "{wire} in a body");
    }
}

#[test]
fn logprobs_become_openai_shaped() {
    let r = chat_response(LOGPROBS.as_bytes()).expect("parse");
    assert_eq!(
        r.choices[0].logprobs,
        Some(json!({"content": [
            {"token": "Hello", "logprob": -0.25, "bytes": [72, 101, 108, 108, 111], "top_logprobs": []},
            {"token": " there", "logprob": -0.625, "bytes": [32, 116, 104, 101, 114, 101], "top_logprobs": []}
        ]}))
    );
}

#[test]
fn malformed_body_is_a_protocol_error() {
    let err = chat_response(b"{\"message\": 3}").expect_err("malformed");
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(
        err.message.starts_with("Cohere returned a response"),
        "{}",
        err.message
    );
    assert!(err.retryable);
}
