use serde_json::json;

use super::{fixture, target};
use crate::providers::anthropic::inbound::{parse_request, render_error, render_response};
use crate::providers::anthropic::{chat_request, chat_response};
use crate::providers::types::{
    ChatResponse, Choice, FinishReason, ImageSource, Message, Part, Reasoning, Role, ToolCall,
    ToolChoice, Usage,
};
use crate::providers::{ErrorKind, ProviderError};

#[test]
fn parses_a_rich_sdk_request() {
    let req = parse_request(fixture!("inbound_request.json").as_bytes()).expect("parse");
    assert_eq!(req.model, "claude-sonnet-4-5");
    assert_eq!(req.max_tokens, Some(2048));
    assert!(req.stream);
    assert!(req.include_usage);
    assert_eq!(req.stop, ["\n\nHuman:"]);
    assert_eq!(req.temperature, Some(1.0));
    assert_eq!(req.top_k, Some(40));
    assert_eq!(
        req.user.as_deref(),
        Some("13803d75-b4b5-4c3e-b2a2-6f21399b021b")
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(
        req.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(1024)
        })
    );
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(req.tools[0].parameters["required"], json!(["city"]));
    assert!(req.extra.is_empty());

    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::User
        ]
    );
    assert_eq!(
        req.messages[0].content,
        [
            Part::Text {
                text: "You are a weather assistant.".into()
            },
            Part::Text {
                text: "Answer briefly.".into()
            }
        ]
    );
    let user = &req.messages[1];
    assert!(matches!(
        &user.content[1],
        Part::Image { source: ImageSource::Base64 { media_type, .. }, .. } if media_type == "image/png"
    ));
    assert!(matches!(
        &user.content[2],
        Part::Image { source: ImageSource::Url { url }, .. } if url.ends_with("ant.jpg")
    ));
    let assistant = &req.messages[2];
    assert_eq!(
        assistant.content[0],
        Part::Thinking {
            text: "The user wants the weather; call the tool.".into(),
            signature: Some("EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into())
        }
    );
    assert!(matches!(
        &assistant.content[1],
        Part::RedactedThinking { .. }
    ));
    assert_eq!(
        assistant.tool_calls,
        [ToolCall {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris","days":3}"#.into(),
            signature: None,
        }]
    );
    let tool = &req.messages[3];
    assert_eq!(
        tool.tool_call_id.as_deref(),
        Some("toolu_01A09q90qw90lq917835lq9")
    );
    assert_eq!(tool.joined_text(), "15 degrees, light rain");
    assert!(!tool.is_error);
    assert_eq!(
        req.messages[4].joined_text(),
        "Thanks. And should I take an umbrella?"
    );
}

#[test]
fn inbound_then_outbound_reproduces_the_anthropic_conversation() {
    let original: serde_json::Value =
        serde_json::from_str(fixture!("inbound_request.json")).expect("json");
    let req = parse_request(fixture!("inbound_request.json").as_bytes()).expect("parse");
    let up = chat_request(&target(), &req).expect("outbound");
    let body: serde_json::Value = serde_json::from_slice(&up.body).expect("json");
    assert_eq!(body["messages"][1], original["messages"][1]);
    assert_eq!(
        body["messages"][2]["content"][0],
        original["messages"][2]["content"][0]
    );
    assert_eq!(
        body["messages"][2]["content"][1],
        original["messages"][2]["content"][1]
    );
    assert_eq!(
        body["messages"][2]["content"][3],
        original["messages"][2]["content"][3]
    );
    assert_eq!(body["tool_choice"], original["tool_choice"]);
    assert_eq!(body["thinking"], original["thinking"]);
    assert_eq!(body["metadata"], original["metadata"]);
    assert_eq!(body["stop_sequences"], original["stop_sequences"]);
}

fn invalid(body: &str) -> ProviderError {
    parse_request(body.as_bytes()).expect_err("invalid")
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        ("{", "body", "not valid JSON"),
        ("[]", "body", "JSON object"),
        (
            r#"{"max_tokens":5,"messages":[]}"#,
            "model",
            "model: Field required",
        ),
        (
            r#"{"model":"m","messages":[]}"#,
            "max_tokens",
            "max_tokens: Field required",
        ),
        (
            r#"{"model":"m","max_tokens":"many","messages":[]}"#,
            "max_tokens",
            "max_tokens: invalid type",
        ),
        (
            r#"{"model":"m","max_tokens":5}"#,
            "messages",
            "messages: Field required",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":{}}"#,
            "messages",
            "messages: expected an array",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":5}]}"#,
            "messages.1.content",
            "messages.1.content: expected a string or an array",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}"#,
            "messages.0.role",
            "messages.0.role: expected \"user\" or \"assistant\"",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#,
            "messages.0.content.0",
            "messages.0.content.0: missing field `tool_use_id`",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            "messages.0.content.0",
            "messages.0.content.0: expected a content block",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"temperature":"hot"}"#,
            "temperature",
            "temperature: invalid type",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"system":7}"#,
            "system",
            "system: expected a string or an array",
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"tool_choice":{"type":"sometimes"}}"#,
            "tool_choice",
            "tool_choice: unknown variant `sometimes`",
        ),
    ];
    for (body, param, message) in cases {
        let err = invalid(body);
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
        assert_eq!(err.status, 400);
        assert_eq!(err.param.as_deref(), Some(param), "{body}");
        assert!(
            err.message.contains(message),
            "{body}: `{}` lacks `{message}`",
            err.message
        );
    }
}

#[test]
fn features_without_a_unified_form_are_unsupported() {
    let doc = r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}}]}]}"#;
    let err = invalid(doc);
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.param.as_deref(), Some("messages.0.content.0"));
    assert!(err.message.contains("`document`"), "{}", err.message);
    let server_tool = r#"{"model":"m","max_tokens":5,"messages":[],
        "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}]}"#;
    let err = invalid(server_tool);
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.param.as_deref(), Some("tools.0"));
}

#[test]
fn adaptive_thinking_and_structured_output() {
    let body = r#"{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}],
        "thinking":{"type":"adaptive"},
        "output_config":{"effort":"medium","format":{"type":"json_schema","schema":{"type":"object"}}}}"#;
    let req = parse_request(body.as_bytes()).expect("parse");
    assert_eq!(
        req.reasoning,
        Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None
        })
    );
    assert!(matches!(
        &req.response_format,
        Some(crate::providers::types::ResponseFormat::JsonSchema { schema, .. }) if schema == &json!({"type": "object"})
    ));
    let off = r#"{"model":"m","max_tokens":64,"messages":[],"thinking":{"type":"disabled"}}"#;
    assert_eq!(
        parse_request(off.as_bytes()).expect("parse").reasoning,
        None
    );
}

fn answer(content: Vec<Part>, calls: Vec<ToolCall>, reason: FinishReason) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-AbC123".into(),
        model: "gpt-4o-2024-08-06".into(),
        created: 1_764_000_000,
        choices: vec![Choice {
            index: 0,
            message: Message {
                content,
                tool_calls: calls,
                ..Message::text(Role::Assistant, "")
            },
            finish_reason: reason,
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens: 120,
            completion_tokens: 30,
            cached_tokens: 100,
            cache_write_tokens: 5,
            reasoning_tokens: 0,
            estimated: false,
        },
    }
}

#[test]
fn renders_a_unified_answer_as_an_anthropic_message() {
    let resp = answer(
        vec![
            Part::Text {
                text: "Checking.".into(),
            },
            Part::Thinking {
                text: "Need the tool.".into(),
                signature: Some("sig-9".into()),
            },
        ],
        vec![ToolCall {
            id: "call_abc".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
            signature: None,
        }],
        FinishReason::ToolCalls,
    );
    assert_eq!(
        render_response(&resp, "claude-sonnet-4-5"),
        json!({
            "id": "msg_chatcmplAbC123",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "Need the tool.", "signature": "sig-9"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {
                "input_tokens": 15,
                "cache_creation_input_tokens": 5,
                "cache_read_input_tokens": 100,
                "output_tokens": 30
            }
        })
    );
}

#[test]
fn render_keeps_anthropic_ids_and_maps_stop_reasons() {
    let mut resp = chat_response(fixture!("response_text.json").as_bytes()).expect("parse");
    let rendered = render_response(&resp, "claude-sonnet-4-5");
    assert_eq!(rendered["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(
        rendered["content"],
        json!([{"type": "text", "text": "Hello! How can I help you today?"}])
    );
    assert_eq!(rendered["usage"]["input_tokens"], 12);
    let cases = [
        (FinishReason::Stop, "end_turn"),
        (FinishReason::StopSequence, "stop_sequence"),
        (FinishReason::Length, "max_tokens"),
        (FinishReason::ToolCalls, "tool_use"),
        (FinishReason::ContentFilter, "refusal"),
        (FinishReason::Other("SAFETY_X".into()), "end_turn"),
    ];
    for (reason, expected) in cases {
        resp.choices[0].finish_reason = reason;
        assert_eq!(render_response(&resp, "m")["stop_reason"], expected);
    }
    // A provider that reports a plain stop with tool calls (Gemini) still yields `tool_use`.
    let gemini = answer(
        vec![],
        vec![ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: None,
        }],
        FinishReason::Stop,
    );
    assert_eq!(render_response(&gemini, "m")["stop_reason"], "tool_use");
}

#[test]
fn renders_errors_with_anthropic_types() {
    let cases = [
        (
            ProviderError::new(ErrorKind::InvalidRequest, "bad"),
            "invalid_request_error",
        ),
        (
            ProviderError::unsupported("seed", "Anthropic"),
            "invalid_request_error",
        ),
        (
            ProviderError::new(ErrorKind::Authentication, "no"),
            "authentication_error",
        ),
        (
            ProviderError::new(ErrorKind::PermissionDenied, "no"),
            "permission_error",
        ),
        (
            ProviderError::new(ErrorKind::NotFound, "no"),
            "not_found_error",
        ),
        (
            ProviderError::new(ErrorKind::RequestTooLarge, "big"),
            "request_too_large",
        ),
        (
            ProviderError::new(ErrorKind::RateLimited, "slow"),
            "rate_limit_error",
        ),
        (
            ProviderError::new(ErrorKind::Overloaded, "busy"),
            "overloaded_error",
        ),
        (
            ProviderError::new(ErrorKind::Timeout, "late"),
            "timeout_error",
        ),
        (
            ProviderError::new(ErrorKind::Unavailable, "down"),
            "api_error",
        ),
    ];
    for (err, kind) in cases {
        let body = render_error(&err);
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": kind, "message": err.message}})
        );
    }
}
