#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

//! Self-test of the Cohere mock (`tests/common/providers/cohere.rs`): raw HTTP requests, and the
//! Cohere provider module's own request builder, decoder and error mapping against it.

mod common {
    #[path = "mock_provider.rs"]
    pub mod mock_provider;
}

#[path = "common/providers/cohere.rs"]
mod vendor_mock;

use serde_json::{Value, json};
use switchyard::providers::cohere::{
    ChatStreamDecoder, chat_request, chat_response, embeddings_request, embeddings_response,
    error_response,
};
use switchyard::providers::types::{
    ChatRequest, EmbeddingRequest, FinishReason, Message, Part, Reasoning, Role, StreamEvent,
    ToolDefinition, Usage,
};
use switchyard::providers::{
    ErrorKind, ProviderError, ProviderKind, SseEvent, Target, UpstreamRequest,
};
use vendor_mock::CohereMock;

fn target(mock: &CohereMock) -> Target {
    Target {
        provider: "cohere-mock".into(),
        kind: ProviderKind::Cohere,
        base_url: mock.base_url.clone(),
        api_key: "co-mock-key".into(),
        upstream_model: "command-a-03-2025".into(),
        api_version: None,
        default_max_tokens: 1024,
        strict: false,
    }
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: Some("Weather".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        strict: None,
    }
}

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        model: "route".into(),
        messages: vec![Message::text(Role::User, text)],
        ..ChatRequest::default()
    }
}

async fn send(up: &UpstreamRequest) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(&up.url).body(up.body.clone());
    for (k, v) in &up.headers {
        req = req.header(*k, v);
    }
    req.send().await.expect("request to mock")
}

/// A non-streamed call through the provider module.
async fn call(
    mock: &CohereMock,
    req: &ChatRequest,
) -> Result<switchyard::providers::types::ChatResponse, ProviderError> {
    let up = chat_request(&target(mock), req).expect("build");
    let resp = send(&up).await;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body");
    if status == 200 {
        chat_response(&body)
    } else {
        Err(error_response(status, &body))
    }
}

fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut ev = SseEvent::default();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    ev.event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    ev.data = v.to_owned();
                }
            }
            ev
        })
        .collect()
}

/// A streamed call through the provider module: events until the first error.
async fn stream(
    mock: &CohereMock,
    mut req: ChatRequest,
) -> (Vec<StreamEvent>, Result<(), ProviderError>) {
    req.stream = true;
    let up = chat_request(&target(mock), &req).expect("build");
    let resp = send(&up).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.expect("sse body");
    let mut decoder = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for ev in parse_sse(&text) {
        assert_eq!(
            serde_json::from_str::<Value>(&ev.data).expect("json")["type"],
            ev.event.as_str()
        );
        match decoder.on_event(&ev) {
            Ok(events) => out.extend(events),
            Err(e) => return (out, Err(e)),
        }
    }
    let end = decoder.finish().map(|events| out.extend(events));
    (out, end)
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

const MOCK_USAGE: Usage = Usage {
    prompt_tokens: 11,
    completion_tokens: 7,
    cached_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    estimated: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credential_gets_cohere_401() {
    let mock = CohereMock::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/chat", mock.base_url))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["message"], "no api key supplied");
    assert!(body["id"].is_string());
    assert_eq!(mock.received().len(), 1);
    assert_eq!(mock.received()[0].authorization, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_request_echoes_and_is_recorded() {
    let mock = CohereMock::start().await;
    let r = call(&mock, &user("hello there")).await.expect("answer");
    assert_eq!(
        r.choices[0].message.content,
        vec![Part::Text {
            text: "Echo: hello there".into()
        }]
    );
    assert_eq!(r.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, MOCK_USAGE);
    let rec = mock.received();
    assert_eq!(rec[0].path, "/v2/chat");
    assert_eq!(rec[0].authorization.as_deref(), Some("Bearer co-mock-key"));
    assert_eq!(rec[0].body["model"], "command-a-03-2025");
    assert_eq!(rec[0].body["stream"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_make_one_or_two_calls() {
    let mock = CohereMock::start().await;
    let mut req = user("weather please");
    req.tools = vec![weather_tool()];
    let r = call(&mock, &req).await.expect("answer");
    let calls = &r.choices[0].message.tool_calls;
    assert_eq!(r.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(calls[0].arguments, r#"{"city":"Paris","days":3}"#);
    assert!(calls[0].id.starts_with("get_weather_"));

    req.messages = vec![Message::text(Role::User, "parallel weather please")];
    let r = call(&mock, &req).await.expect("answer");
    let args: Vec<&str> = r.choices[0]
        .message
        .tool_calls
        .iter()
        .map(|c| c.arguments.as_str())
        .collect();
    assert_eq!(
        args,
        vec![
            r#"{"city":"Paris","days":3}"#,
            r#"{"city":"Tokyo","days":1}"#
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_results_are_echoed() {
    let mock = CohereMock::start().await;
    let mut req = user("weather?");
    req.tools = vec![weather_tool()];
    let first = call(&mock, &req).await.expect("calls");
    req.messages.push(first.choices[0].message.clone());
    for text in ["18C", "sunny"] {
        req.messages.push(Message {
            tool_call_id: Some(first.choices[0].message.tool_calls[0].id.clone()),
            ..Message::text(Role::Tool, text)
        });
    }
    let r = call(&mock, &req).await.expect("answer");
    assert_eq!(r.choices[0].message.joined_text(), "Tool said: 18C | sunny");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_is_included_when_enabled() {
    let mock = CohereMock::start().await;
    let mut req = user("think");
    req.reasoning = Some(Reasoning {
        effort: None,
        budget_tokens: Some(512),
    });
    let r = call(&mock, &req).await.expect("answer");
    assert_eq!(
        r.choices[0].message.content[0],
        Part::Thinking {
            text: "Let me think.".into(),
            signature: None
        }
    );
    let (events, end) = stream(&mock, req).await;
    end.expect("clean");
    assert!(events.contains(&StreamEvent::ThinkingDelta {
        choice: 0,
        text: "Let me t".into()
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_stream_in_small_deltas_with_usage() {
    let mock = CohereMock::start().await;
    let (events, end) = stream(&mock, user("stream this answer")).await;
    end.expect("clean end");
    assert!(matches!(events[0], StreamEvent::Start { .. }));
    let deltas = text_deltas(&events);
    assert!(deltas.len() >= 3);
    assert!(deltas.iter().all(|d| d.chars().count() <= 8));
    assert_eq!(deltas.concat(), "Echo: stream this answer");
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Stop
        }
    );
    assert_eq!(events[n - 1], StreamEvent::Usage(MOCK_USAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_parallel_tool_calls_in_fragments() {
    let mock = CohereMock::start().await;
    let mut req = user("parallel please");
    req.tools = vec![weather_tool()];
    let (events, end) = stream(&mock, req).await;
    end.expect("clean end");
    for (index, want) in [
        (0, r#"{"city":"Paris","days":3}"#),
        (1, r#"{"city":"Tokyo","days":1}"#),
    ] {
        assert!(events.iter().any(|e| matches!(e,
            StreamEvent::ToolCallStart { index: i, name, .. } if *i == index && name == "get_weather")));
        let fragments: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta {
                    index: i,
                    arguments,
                    ..
                } if *i == index => Some(arguments.clone()),
                _ => None,
            })
            .collect();
        assert!(fragments.len() >= 3);
        assert_eq!(fragments.concat(), want);
    }
    assert!(events.contains(&StreamEvent::Finish {
        choice: 0,
        reason: FinishReason::ToolCalls
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_triggers_answer_cohere_errors() {
    let mock = CohereMock::start().await;
    let up = chat_request(&target(&mock), &user("[mock:status=429]")).expect("build");
    let resp = send(&up).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = resp.bytes().await.expect("body");
    let err = error_response(429, &body);
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert!(err.retryable);
    assert_eq!(
        err.message,
        "Cohere: You are past the per minute request limit, please wait and try again later."
    );
    for (status, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Authentication),
        (404, ErrorKind::NotFound),
        (500, ErrorKind::Unavailable),
        (503, ErrorKind::Overloaded),
    ] {
        let err = call(&mock, &user(&format!("x [mock:status={status}]")))
            .await
            .expect_err("error");
        assert_eq!(err.kind, kind, "{status}");
        assert!(err.message.starts_with("Cohere: "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn midstream_error_and_truncation() {
    let mock = CohereMock::start().await;
    let (events, end) = stream(&mock, user("oops [mock:midstream-error]")).await;
    let err = end.expect_err("error event");
    assert_eq!(err.message, "Cohere: internal server error");
    assert_eq!(text_deltas(&events).len(), 2);

    let (events, end) = stream(&mock, user("cut [mock:truncate]")).await;
    assert_eq!(end.expect_err("truncated").kind, ErrorKind::Protocol);
    assert_eq!(text_deltas(&events).len(), 2);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_deterministic() {
    let mock = CohereMock::start().await;
    let req = EmbeddingRequest {
        model: "embed".into(),
        input: vec!["ab".into(), "hello".into()],
        ..EmbeddingRequest::default()
    };
    let up = embeddings_request(&target(&mock), &req).expect("build");
    let resp = send(&up).await;
    assert_eq!(resp.status(), 200);
    let r = embeddings_response(&resp.bytes().await.expect("body")).expect("parse");
    // "ab" = 97 + 98 = 195; 195 % 97 = 1, so component i = (i + 1) / 97.
    let want: Vec<f32> = (1..=8).map(|i| i as f32 / 97.0).collect();
    assert_eq!(r.embeddings[0], want);
    assert_eq!(r.embeddings[1].len(), 8);
    assert_eq!(r.usage.prompt_tokens, 11);
    let rec = mock.received();
    assert_eq!(rec[0].path, "/v2/embed");
    assert_eq!(rec[0].body["input_type"], "search_document");
    assert_eq!(rec[0].body["embedding_types"], json!(["float"]));
}
