use serde_json::{Value, json};

use super::inbound::{self, StreamEncoder};
use super::*;
use crate::providers::types::*;
use crate::providers::{ErrorKind, ProviderKind, SseEvent, Target};

fn target(kind: ProviderKind) -> Target {
    Target {
        provider: "p".into(),
        kind,
        base_url: "http://upstream.test/v1".into(),
        api_key: "sk-x".into(),
        upstream_model: "gpt-4o-2024-08-06".into(),
        api_version: Some("2024-10-21".into()),
        default_max_tokens: 1024,
        strict: false,
    }
}

fn rich_request() -> Value {
    json!({
        "model": "gpt-4o",
        "messages": [
            { "role": "developer", "content": "Be brief." },
            { "role": "user", "content": [
                { "type": "text", "text": "What is in this image?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low" } },
                { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } }
            ]},
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":\"cat\"}" } }
            ]},
            { "role": "tool", "tool_call_id": "call_1", "content": "a cat" }
        ],
        "tools": [{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" }, "strict": true } }],
        "tool_choice": { "type": "function", "function": { "name": "lookup" } },
        "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "schema": { "type": "object" }, "strict": true } },
        "stop": "END",
        "max_completion_tokens": 300,
        "temperature": 0.5,
        "seed": 7,
        "n": 1,
        "user": "u-1",
        "reasoning_effort": "low",
        "stream": true,
        "stream_options": { "include_usage": true },
        "x_custom": [1, 2]
    })
}

#[test]
fn inbound_requests_become_unified() {
    let parsed = inbound::parse_chat(rich_request().to_string().as_bytes()).expect("parses");
    let r = parsed.request;
    assert_eq!(r.model, "gpt-4o");
    assert_eq!(r.messages[0].role, Role::System);
    assert_eq!(r.messages[1].content.len(), 3);
    assert_eq!(
        r.messages[1].content[1],
        Part::Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            },
            detail: Some("low".into()),
        }
    );
    assert_eq!(r.messages[2].tool_calls[0].id, "call_1");
    assert_eq!(r.messages[3].role, Role::Tool);
    assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("lookup".into())));
    assert_eq!(r.stop, ["END"]);
    assert_eq!(r.max_tokens, Some(300));
    assert!(r.stream && r.include_usage);
    assert_eq!(r.reasoning.and_then(|x| x.effort).as_deref(), Some("low"));
    assert_eq!(r.extra.get("x_custom"), Some(&json!([1, 2])));
    assert!(matches!(
        r.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
}

#[test]
fn unified_requests_become_openai_wire_json() {
    let parsed = inbound::parse_chat(rich_request().to_string().as_bytes()).expect("parses");
    let built = chat_request(&target(ProviderKind::Openai), &parsed.request).expect("builds");
    assert_eq!(built.url, "http://upstream.test/v1/chat/completions");
    assert!(
        built
            .headers
            .contains(&("authorization", "Bearer sk-x".into()))
    );
    let body: Value = serde_json::from_slice(&built.body).expect("json");
    assert_eq!(body["model"], "gpt-4o-2024-08-06");
    assert_eq!(
        body["messages"][0],
        json!({ "role": "system", "content": "Be brief." })
    );
    assert_eq!(
        body["messages"][1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":\"cat\"}"
    );
    assert!(body["messages"][2].get("content").is_none());
    assert_eq!(
        body["messages"][3],
        json!({ "role": "tool", "content": "a cat", "tool_call_id": "call_1" })
    );
    assert_eq!(
        body["tool_choice"],
        json!({ "type": "function", "function": { "name": "lookup" } })
    );
    assert_eq!(body["max_completion_tokens"], 300);
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert_eq!(body["x_custom"], json!([1, 2]));
    assert_eq!(body["response_format"]["json_schema"]["name"], "answer");
}

#[test]
fn azure_and_compatible_endpoints() {
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "hi")],
        max_tokens: Some(5),
        ..Default::default()
    };
    let azure = chat_request(&target(ProviderKind::AzureOpenai), &req).expect("azure");
    assert_eq!(
        azure.url,
        "http://upstream.test/v1/openai/deployments/gpt-4o-2024-08-06/chat/completions?api-version=2024-10-21"
    );
    assert!(azure.headers.contains(&("api-key", "sk-x".into())));
    let compat = chat_request(&target(ProviderKind::OpenaiCompatible), &req).expect("compat");
    let body: Value = serde_json::from_slice(&compat.body).expect("json");
    assert_eq!(body["max_tokens"], 5, "compatible servers get max_tokens");
}

#[test]
fn passthrough_keeps_the_callers_fields_and_forces_stream_usage() {
    let parsed = inbound::parse_chat(
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"logit_bias":{"50256":-100}}"#,
    )
    .expect("parses");
    let built = passthrough_chat(&target(ProviderKind::Openai), &parsed.raw, true).expect("builds");
    let body: Value = serde_json::from_slice(&built.body).expect("json");
    assert_eq!(body["model"], "gpt-4o-2024-08-06");
    assert_eq!(body["logit_bias"], json!({ "50256": -100 }));
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[test]
fn invalid_bodies_name_the_field() {
    let err = inbound::parse_chat(
        br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":"two"}"#,
    )
    .expect_err("bad type");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.param.as_deref(), Some("n"));
    let err = inbound::parse_chat(br#"{"model":"m","messages":[]}"#).expect_err("empty");
    assert_eq!(err.param.as_deref(), Some("messages"));
    let err = inbound::parse_chat(br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#)
        .expect_err("tool without id");
    assert_eq!(err.param.as_deref(), Some("messages[0].tool_call_id"));
    let err = inbound::parse_chat(b"not json").expect_err("syntax");
    assert!(
        err.message.contains("could not parse the JSON body"),
        "{}",
        err.message
    );
}

fn events(data: &[&str]) -> Vec<StreamEvent> {
    let mut d = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for item in data {
        out.extend(d.on_event(&SseEvent::data(*item)).expect("decodes"));
    }
    out.extend(d.finish().expect("complete"));
    out
}

#[test]
fn chunks_decode_into_ordered_unified_events() {
    let out = events(&[
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}"#,
        "[DONE]",
    ]);
    assert_eq!(
        out[0],
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt-4o".into()
        }
    );
    assert!(
        matches!(&out[1], StreamEvent::ToolCallStart { id, name, .. } if id == "call_a" && name == "f")
    );
    let args: String = out
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, r#"{"a":1}"#);
    assert!(out.contains(&StreamEvent::Finish {
        choice: 0,
        reason: FinishReason::ToolCalls
    }));
    assert!(
        matches!(out.last(), Some(StreamEvent::Usage(u)) if u.cached_tokens == 1 && u.prompt_tokens == 3)
    );
}

#[test]
fn cut_streams_and_error_events_are_errors() {
    let mut d = ChatStreamDecoder::new();
    d.on_event(&SseEvent::data(
        r#"{"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}]}"#,
    ))
    .expect("chunk");
    assert!(d.finish().is_err());
    let mut d = ChatStreamDecoder::new();
    let err = d
        .on_event(&SseEvent::data(
            r#"{"error":{"message":"boom","type":"server_error"}}"#,
        ))
        .expect_err("error event");
    assert!(err.message.contains("boom"));
}

#[test]
fn encoder_writes_openai_chunks_in_order() {
    let mut enc = StreamEncoder::new("my-model", true);
    let mut out = Vec::new();
    for e in [
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude".into(),
        },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Hi".into(),
        },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "toolu_1".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            choice: 0,
            index: 0,
            arguments: "{}".into(),
        },
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 4,
            completion_tokens: 2,
            ..Default::default()
        }),
    ] {
        out.extend(enc.encode(&e));
    }
    out.extend(enc.finish());
    let data: Vec<Value> = out[..out.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).expect("json"))
        .collect();
    assert_eq!(out.last().map(|e| e.data.as_str()), Some("[DONE]"));
    assert_eq!(data[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(data[0]["model"], "my-model");
    assert!(
        data.iter()
            .all(|c| c["id"] == data[0]["id"] && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(data[1]["choices"][0]["delta"]["content"], "Hi");
    assert_eq!(
        data[2]["choices"][0]["delta"]["tool_calls"][0]["id"],
        "toolu_1"
    );
    assert_eq!(data[4]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(data[5]["choices"], json!([]));
    assert_eq!(data[5]["usage"]["total_tokens"], 6);
}

#[test]
fn rendered_answers_match_openai_shape() {
    let resp = ChatResponse {
        id: "msg_1".into(),
        model: "claude".into(),
        created: 1,
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                content: vec![Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("s".into()),
                }],
                tool_calls: vec![ToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None,
                }],
                tool_call_id: None,
                is_error: false,
                name: None,
            },
            finish_reason: FinishReason::ToolCalls,
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens: 5,
            completion_tokens: 3,
            cached_tokens: 2,
            ..Default::default()
        },
    };
    let out = inbound::render_chat(&resp, "alias");
    assert_eq!(out["model"], "alias");
    assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(out["choices"][0]["message"]["reasoning_content"], "hmm");
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "f"
    );
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
    assert_eq!(out["usage"]["total_tokens"], 8);
}

#[test]
fn provider_errors_keep_message_type_and_code() {
    let err = error_response(
        400,
        br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
    );
    assert_eq!(err.kind, ErrorKind::ContextLengthExceeded);
    assert_eq!(err.param.as_deref(), Some("messages"));
    assert!(err.message.starts_with("OpenAI: "));
    let err = error_response(
        429,
        br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
    );
    assert!(err.retryable && err.status == 429);
    let err = error_response(502, b"<html>bad gateway</html>");
    assert!(err.retryable && err.message.contains("HTTP 502"));
}
