#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

//! Self-test of the Anthropic mock server (`tests/common/providers/anthropic.rs`): requests built
//! by the real provider module go over HTTP to the mock, and its answers are read back with the
//! real decoders, so the mock and the module check each other against Anthropic's wire format.

mod common {
    #[path = "mock_provider.rs"]
    pub mod mock_provider;
}
#[path = "common/providers/anthropic.rs"]
mod vendor_mock;

use serde_json::{Value, json};
use switchyard::providers::anthropic::{
    ChatStreamDecoder, chat_request, chat_response, error_response,
};
use switchyard::providers::types::{
    ChatRequest, ChatResponse, Message, Part, Reasoning, Role, StreamEvent, ToolDefinition,
};
use switchyard::providers::{ErrorKind, ProviderError, ProviderKind, SseEvent, Target};
use vendor_mock::AnthropicMock;

fn target(mock: &AnthropicMock) -> Target {
    Target {
        provider: "anthropic".into(),
        kind: ProviderKind::Anthropic,
        base_url: mock.base_url.clone(),
        api_key: "sk-ant-mock-key".into(),
        upstream_model: "claude-sonnet-4-5".into(),
        api_version: None,
        default_max_tokens: 1024,
        strict: false,
    }
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        model: "smart".into(),
        messages: vec![Message::text(Role::User, text)],
        ..ChatRequest::default()
    }
}

fn with_tool(mut req: ChatRequest) -> ChatRequest {
    req.tools = vec![ToolDefinition {
        name: "get_weather".into(),
        description: Some("Weather forecast".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}),
        strict: None,
    }];
    req
}

/// Sends a request built by the provider module; returns status, headers and body.
async fn send(
    mock: &AnthropicMock,
    req: &ChatRequest,
) -> (u16, reqwest::header::HeaderMap, String) {
    let up = chat_request(&target(mock), req).expect("request");
    let mut builder = reqwest::Client::new().post(&up.url).body(up.body.clone());
    for (name, value) in &up.headers {
        builder = builder.header(*name, value);
    }
    let resp = builder.send().await.expect("mock answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

async fn complete(mock: &AnthropicMock, req: &ChatRequest) -> ChatResponse {
    let (status, _, body) = send(mock, req).await;
    assert_eq!(status, 200, "{body}");
    chat_response(body.as_bytes()).expect("a valid Message")
}

fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            let mut event = SseEvent::default();
            for line in chunk.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event.event = name.to_owned();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data = data.to_owned();
                }
            }
            event
        })
        .collect()
}

/// Streams a request; returns the raw events and what the real decoder made of them.
async fn stream(
    mock: &AnthropicMock,
    mut req: ChatRequest,
) -> (Vec<SseEvent>, Vec<StreamEvent>, Result<(), ProviderError>) {
    req.stream = true;
    let (status, headers, body) = send(mock, &req).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let raw = parse_sse(&body);
    let mut decoder = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for event in &raw {
        assert_eq!(
            serde_json::from_str::<Value>(&event.data).unwrap()["type"],
            event.event.as_str()
        );
        match decoder.on_event(event) {
            Ok(events) => out.extend(events),
            Err(e) => return (raw, out, Err(e)),
        }
    }
    let end = decoder.finish().map(|events| out.extend(events));
    (raw, out, end)
}

fn text_deltas(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn plain_answer_echoes_and_records_the_request() {
    let mock = AnthropicMock::start().await;
    let resp = complete(&mock, &ask("Hello there")).await;
    assert_eq!(resp.choices[0].message.joined_text(), "Echo: Hello there");
    assert_eq!(resp.usage.prompt_tokens, 11);
    assert_eq!(resp.usage.completion_tokens, 7);
    assert!(resp.id.starts_with("msg_"));
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/messages");
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("sk-ant-mock-key")
    );
    assert_eq!(received[0].body["model"], "claude-sonnet-4-5");
    assert_eq!(received[0].body["max_tokens"], 1024);
}

#[tokio::test]
async fn tools_parallel_calls_and_tool_results() {
    let mock = AnthropicMock::start().await;
    let one = complete(&mock, &with_tool(ask("Weather in Paris?"))).await;
    let calls = &one.choices[0].message.tool_calls;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "get_weather");
    assert!(calls[0].id.starts_with("toolu_"));
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].arguments).unwrap(),
        json!({"city": "Paris", "days": 3})
    );

    let two = complete(&mock, &with_tool(ask("Both cities, in parallel please"))).await;
    let calls = &two.choices[0].message.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].id, calls[1].id);
    assert_eq!(
        serde_json::from_str::<Value>(&calls[1].arguments).unwrap(),
        json!({"city": "Tokyo", "days": 1})
    );

    let mut follow_up = with_tool(ask("Both cities, in parallel please"));
    follow_up.messages.push(Message {
        tool_calls: calls.clone(),
        ..Message::text(Role::Assistant, "")
    });
    for (call, result) in calls.iter().zip(["15C", "20C"]) {
        follow_up.messages.push(Message {
            tool_call_id: Some(call.id.clone()),
            ..Message::text(Role::Tool, result)
        });
    }
    let answer = complete(&mock, &follow_up).await;
    assert_eq!(
        answer.choices[0].message.joined_text(),
        "Tool said: 15C | 20C"
    );
    let sent = &mock.received()[2].body["messages"];
    assert_eq!(sent[2]["content"][0]["type"], "tool_result");
    assert_eq!(sent[2]["content"][1]["tool_use_id"], calls[1].id.as_str());
}

#[tokio::test]
async fn streamed_text_comes_in_small_deltas_with_usage() {
    let mock = AnthropicMock::start().await;
    let (raw, events, end) = stream(&mock, ask("Stream me a longer sentence")).await;
    end.expect("complete stream");
    let names: Vec<&str> = raw.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let deltas = text_deltas(&events);
    assert!(deltas.len() > 3);
    assert!(deltas.iter().all(|d| d.chars().count() <= 8));
    assert_eq!(deltas.concat(), "Echo: Stream me a longer sentence");
    assert!(matches!(events.first(), Some(StreamEvent::Start { .. })));
    let usage = events.iter().rev().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    });
    let usage = usage.expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (11, 7));
}

#[tokio::test]
async fn streamed_parallel_tool_calls_come_in_fragments() {
    let mock = AnthropicMock::start().await;
    let (_, events, end) = stream(&mock, with_tool(ask("parallel please"))).await;
    end.expect("complete stream");
    for (index, expected) in [
        (0, r#"{"city":"Paris","days":3}"#),
        (1, r#"{"city":"Tokyo","days":1}"#),
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
        assert!(fragments.len() >= 3, "{fragments:?}");
        assert_eq!(fragments.concat(), expected);
    }
}

#[tokio::test]
async fn thinking_is_signed() {
    let mock = AnthropicMock::start().await;
    let mut req = ask("Think first");
    req.reasoning = Some(Reasoning {
        effort: Some("low".into()),
        budget_tokens: None,
    });
    let resp = complete(&mock, &req).await;
    assert_eq!(
        resp.choices[0].message.content[0],
        Part::Thinking {
            text: "Let me think.".into(),
            signature: Some("sig-mock-1".into())
        }
    );
    let (_, events, end) = stream(&mock, req).await;
    end.expect("complete stream");
    assert!(events.contains(&StreamEvent::ThinkingSignature {
        choice: 0,
        signature: "sig-mock-1".into()
    }));
}

#[tokio::test]
async fn error_triggers_use_anthropic_error_bodies() {
    let mock = AnthropicMock::start().await;
    let (status, headers, body) = send(&mock, &ask("slow down [mock:status=429]")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let err = error_response(status, body.as_bytes());
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.code.as_deref(), Some("rate_limit_error"));
    let (status, _, body) = send(&mock, &ask("[mock:status=529]")).await;
    assert_eq!(status, 529);
    assert_eq!(
        error_response(status, body.as_bytes()).kind,
        ErrorKind::Overloaded
    );
    let (status, _, body) = send(&mock, &ask("[mock:status=404]")).await;
    assert_eq!(
        error_response(status, body.as_bytes()).kind,
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn broken_streams() {
    let mock = AnthropicMock::start().await;
    let (_, events, end) = stream(&mock, ask("go [mock:midstream-error]")).await;
    assert_eq!(text_deltas(&events).len(), 2);
    assert_eq!(end.expect_err("error event").kind, ErrorKind::Overloaded);
    let (raw, events, end) = stream(&mock, ask("go [mock:truncate]")).await;
    assert_eq!(text_deltas(&events).len(), 2);
    assert!(raw.iter().all(|e| e.event != "message_stop"));
    assert_eq!(end.expect_err("truncated").kind, ErrorKind::Protocol);
}

#[tokio::test]
async fn missing_api_key_is_anthropics_401() {
    let mock = AnthropicMock::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", mock.base_url))
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(mock.received()[0].authorization, None);
}
