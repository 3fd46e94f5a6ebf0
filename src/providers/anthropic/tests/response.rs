use super::fixture;
use crate::providers::ErrorKind;
use crate::providers::anthropic::chat_response;
use crate::providers::types::{FinishReason, Part, Role, Usage};

#[test]
fn text_answer() {
    let resp = chat_response(fixture!("response_text.json").as_bytes()).expect("parse");
    assert_eq!(resp.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(resp.model, "claude-sonnet-4-5-20250929");
    assert_eq!(resp.choices.len(), 1);
    let choice = &resp.choices[0];
    assert_eq!(choice.index, 0);
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(
        choice.message.joined_text(),
        "Hello! How can I help you today?"
    );
    assert!(choice.message.tool_calls.is_empty());
    assert_eq!(choice.finish_reason, FinishReason::Stop);
    assert_eq!(
        resp.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 12,
            ..Usage::default()
        }
    );
}

#[test]
fn parallel_tool_calls_keep_ids_and_arguments() {
    let resp = chat_response(fixture!("response_tool_use.json").as_bytes()).expect("parse");
    let msg = &resp.choices[0].message;
    assert_eq!(msg.joined_text(), "I'll check the weather in both cities.");
    assert_eq!(msg.tool_calls.len(), 2);
    assert_eq!(msg.tool_calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(msg.tool_calls[1].id, "toolu_01B7s8d9f0g1h2j3k4l5m6n7");
    assert_eq!(msg.tool_calls[0].name, "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(&msg.tool_calls[1].arguments).expect("arguments are JSON");
    assert_eq!(
        args,
        serde_json::json!({"location": "Tokyo, Japan", "unit": "celsius"})
    );
    assert_eq!(resp.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(resp.usage.prompt_tokens, 421);
    assert_eq!(resp.usage.completion_tokens, 121);
}

#[test]
fn thinking_and_redacted_thinking_keep_signatures() {
    let resp = chat_response(fixture!("response_thinking.json").as_bytes()).expect("parse");
    let content = &resp.choices[0].message.content;
    assert_eq!(content.len(), 3);
    assert_eq!(
        content[0],
        Part::Thinking {
            text: "To approach this, let me think about what I know about prime numbers...".into(),
            signature: Some("EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into()),
        }
    );
    assert!(
        matches!(&content[1], Part::RedactedThinking { data } if data.starts_with("EmwKAhgBEgy3va3"))
    );
    assert_eq!(
        resp.choices[0].message.joined_text(),
        "Yes, there are infinitely many prime numbers such that n mod 4 = 3."
    );
    assert_eq!(resp.usage.reasoning_tokens, 1042);
    assert_eq!(resp.usage.completion_tokens, 1180);
}

#[test]
fn cached_usage_is_folded_into_prompt_tokens() {
    let resp = chat_response(fixture!("response_cached.json").as_bytes()).expect("parse");
    assert_eq!(
        resp.usage,
        Usage {
            prompt_tokens: 21 + 188_086 + 1500,
            completion_tokens: 10,
            cached_tokens: 1500,
            cache_write_tokens: 188_086,
            reasoning_tokens: 0,
            estimated: false,
        }
    );
    assert_eq!(resp.choices[0].finish_reason, FinishReason::Length);
}

#[test]
fn null_cache_fields_and_stop_sequence() {
    let resp = chat_response(fixture!("response_stop_sequence.json").as_bytes()).expect("parse");
    assert_eq!(resp.choices[0].finish_reason, FinishReason::StopSequence);
    assert_eq!(resp.usage.prompt_tokens, 18);
    assert_eq!(resp.usage.cached_tokens, 0);
}

#[test]
fn every_stop_reason_maps() {
    let cases = [
        ("end_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("stop_sequence", FinishReason::StopSequence),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("model_context_window_exceeded", FinishReason::Length),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ];
    let text = fixture!("response_text.json");
    for (stop, expected) in cases {
        let body = text.replace("\"end_turn\"", &format!("\"{stop}\""));
        let resp = chat_response(body.as_bytes()).expect("parse");
        assert_eq!(resp.choices[0].finish_reason, expected, "{stop}");
    }
}

#[test]
fn unknown_blocks_are_skipped_and_garbage_is_a_protocol_error() {
    let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
        "content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},
                   {"type":"text","text":"Found it."}],
        "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}"#;
    let resp = chat_response(body.as_bytes()).expect("parse");
    assert_eq!(resp.choices[0].message.joined_text(), "Found it.");
    assert!(resp.choices[0].message.tool_calls.is_empty());
    let err = chat_response(b"<html>oops</html>").expect_err("garbage");
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(err.message.contains("Anthropic"));
}
