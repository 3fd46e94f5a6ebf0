use serde_json::json;

use super::fixture;
use crate::providers::ErrorKind;
use crate::providers::gemini::chat_response;
use crate::providers::types::{FinishReason, Part, Role, ToolCall, Usage};

#[test]
fn text_answer() {
    let r = chat_response(fixture!("response_text.json").as_bytes()).expect("parses");
    assert_eq!(r.id, "mKdGaOjtBKexgLUPqfbA-Q8");
    assert_eq!(r.model, "gemini-2.0-flash");
    assert_eq!(r.choices.len(), 1);
    let choice = &r.choices[0];
    assert_eq!(choice.index, 0);
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(
        choice.message.content,
        vec![Part::Text {
            text: "The capital of France is Paris.".into()
        }]
    );
    assert!(choice.message.tool_calls.is_empty());
    assert_eq!(choice.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 9,
            completion_tokens: 7,
            ..Usage::default()
        }
    );
}

#[test]
fn parallel_tool_calls_keep_ids_and_the_signature() {
    let r = chat_response(fixture!("response_tool_calls.json").as_bytes()).expect("parses");
    let choice = &r.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        choice.message.tool_calls,
        vec![
            ToolCall {
                id: "7xk2m9qa".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris","days":3}"#.into(),
                signature: Some("CiQB0e2Kb4PqW7nQ1Fv0lJb3mX9yE2sTQ8u5rD1kZc0aHgYpL6w=".into()),
            },
            ToolCall {
                id: "p3n8v1zt".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Tokyo","days":1}"#.into(),
                signature: None,
            },
        ]
    );
    assert!(choice.message.content.is_empty());
    assert_eq!(r.usage.prompt_tokens, 112);
    assert_eq!(r.usage.completion_tokens, 36 + 142);
    assert_eq!(r.usage.reasoning_tokens, 142);
}

#[test]
fn calls_without_ids_get_generated_call_ids() {
    let r = chat_response(fixture!("response_tool_call_no_id.json").as_bytes()).expect("parses");
    let choice = &r.choices[0];
    assert_eq!(choice.message.joined_text(), "Let me look that up.");
    let call = &choice.message.tool_calls[0];
    assert!(
        call.id.starts_with("call_") && call.id.len() == 37,
        "{}",
        call.id
    );
    assert_eq!(call.arguments, r#"{"city":"Paris","days":3}"#);
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
}

#[test]
fn thinking_answer_keeps_thoughts_and_the_text_signature() {
    let r = chat_response(fixture!("response_thinking.json").as_bytes()).expect("parses");
    assert_eq!(
        r.choices[0].message.content,
        vec![
            Part::Thinking {
                text: "**Counting the letters**\n\nI spell out s-t-r-a-w-b-e-r-r-y and count each r: positions 3, 8 and 9.".into(),
                signature: None,
            },
            Part::Thinking {
                text: String::new(),
                signature: Some("CtIBAVSoXO5m1Qk3d2VhYmZ0ZXN0c2lnbmF0dXJlZm9yZ2VtaW5pMjU=".into()),
            },
            Part::Text { text: "There are three r's in \"strawberry\".".into() },
        ]
    );
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 199,
            reasoning_tokens: 188,
            ..Usage::default()
        }
    );
}

#[test]
fn cached_tokens_are_part_of_the_prompt() {
    let r = chat_response(fixture!("response_cached_usage.json").as_bytes()).expect("parses");
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 2310,
            completion_tokens: 165,
            cached_tokens: 2048,
            cache_write_tokens: 0,
            reasoning_tokens: 120,
            estimated: false,
        }
    );
    assert_eq!(r.usage.total(), 2475);
}

#[test]
fn finish_reasons_map() {
    let r = chat_response(fixture!("response_max_tokens.json").as_bytes()).expect("parses");
    assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
    let r = chat_response(fixture!("response_safety.json").as_bytes()).expect("parses");
    assert_eq!(r.choices[0].finish_reason, FinishReason::ContentFilter);
    assert!(r.choices[0].message.content.is_empty());
    let cases = [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::Length),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        (
            "MALFORMED_FUNCTION_CALL",
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into()),
        ),
        ("OTHER", FinishReason::Other("OTHER".into())),
        ("LANGUAGE", FinishReason::Other("LANGUAGE".into())),
    ];
    for (reason, expected) in cases {
        let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"},
            "finishReason": reason, "index": 0}]});
        let r = chat_response(body.to_string().as_bytes()).expect("parses");
        assert_eq!(r.choices[0].finish_reason, expected, "{reason}");
    }
}

#[test]
fn blocked_prompt_is_a_content_filter_error() {
    let err =
        chat_response(fixture!("response_prompt_blocked.json").as_bytes()).expect_err("blocked");
    assert_eq!(err.kind, ErrorKind::ContentFilter);
    assert_eq!(err.code.as_deref(), Some("SAFETY"));
    assert!(err.message.starts_with("Gemini: "), "{}", err.message);
}

#[test]
fn logprobs_become_openai_format() {
    let r = chat_response(fixture!("response_logprobs.json").as_bytes()).expect("parses");
    assert_eq!(
        r.choices[0].logprobs,
        Some(json!({"content": [{
            "token": "Yes", "logprob": -0.0034, "bytes": [89, 101, 115],
            "top_logprobs": [
                {"token": "Yes", "logprob": -0.0034, "bytes": [89, 101, 115]},
                {"token": "No", "logprob": -5.71, "bytes": [78, 111]}
            ]
        }]}))
    );
}

#[test]
fn several_candidates_become_several_choices() {
    let body = json!({"candidates": [
        {"content": {"parts": [{"text": "A"}], "role": "model"}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "B"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 1}
    ]});
    let r = chat_response(body.to_string().as_bytes()).expect("parses");
    assert_eq!(r.choices.len(), 2);
    assert_eq!(r.choices[1].index, 1);
    assert_eq!(r.choices[1].message.joined_text(), "B");
    assert_eq!(r.choices[1].finish_reason, FinishReason::Length);
    assert!(r.id.starts_with("gen-"));
}

#[test]
fn unreadable_bodies_are_protocol_errors() {
    assert_eq!(
        chat_response(b"not json").expect_err("bad").kind,
        ErrorKind::Protocol
    );
    assert_eq!(
        chat_response(b"{}").expect_err("empty").kind,
        ErrorKind::Protocol
    );
}
