//! Self-test of the Gemini mock: requests built by the real Gemini provider module go over
//! HTTP to the mock, and its answers are read back by the same module.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

mod common {
    #[path = "mock_provider.rs"]
    pub mod mock_provider;
}

#[path = "common/providers/gemini.rs"]
mod vendor_mock;

use serde_json::{Value, json};
use switchyard::providers::gemini::{
    ChatStreamDecoder, chat_request, chat_response, embeddings_request, embeddings_response_for,
    error_response,
};
use switchyard::providers::types::{
    ChatRequest, EmbeddingRequest, FinishReason, Message, Part, Reasoning, Role, StreamEvent,
    ToolCall, ToolDefinition, Usage,
};
use switchyard::providers::{
    ErrorKind, ProviderError, ProviderKind, SseEvent, Target, UpstreamRequest,
};
use vendor_mock::GeminiMock;

fn target(mock: &GeminiMock) -> Target {
    Target {
        provider: "gemini".into(),
        kind: ProviderKind::Gemini,
        base_url: mock.base_url.clone(),
        api_key: "test-gemini-key".into(),
        upstream_model: "gemini-2.5-flash".into(),
        api_version: None,
        default_max_tokens: 1024,
        strict: false,
    }
}

fn ask(text: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        model: "route".into(),
        messages: vec![Message::text(Role::User, text)],
        stream,
        ..ChatRequest::default()
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

/// Sends an upstream request as the data path does; returns status, headers and body.
async fn send(up: &UpstreamRequest) -> (u16, reqwest::header::HeaderMap, String) {
    let mut builder = reqwest::Client::new()
        .post(&up.url)
        .header("content-type", "application/json")
        .body(up.body.clone());
    for (name, value) in &up.headers {
        builder = builder.header(*name, value);
    }
    let response = builder.send().await.expect("mock answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

fn sse_events(body: &str) -> Vec<SseEvent> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let data: Vec<&str> = b.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            SseEvent::data(data.join("\n"))
        })
        .collect()
}

/// Decodes a streamed body; the error is the first one hit.
fn decode(body: &str) -> (Vec<StreamEvent>, Result<(), ProviderError>) {
    let mut decoder = ChatStreamDecoder::new();
    let mut out = Vec::new();
    for event in sse_events(body) {
        match decoder.on_event(&event) {
            Ok(events) => out.extend(events),
            Err(e) => return (out, Err(e)),
        }
    }
    match decoder.finish() {
        Ok(events) => {
            out.extend(events);
            (out, Ok(()))
        }
        Err(e) => (out, Err(e)),
    }
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

const USAGE: Usage = Usage {
    prompt_tokens: 11,
    completion_tokens: 7,
    cached_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    estimated: false,
};

#[tokio::test]
async fn plain_answer_and_recording() {
    let mock = GeminiMock::start().await;
    let up = chat_request(&target(&mock), &ask("Hello there", false)).unwrap();
    let (status, _, body) = send(&up).await;
    assert_eq!(status, 200);
    let r = chat_response(body.as_bytes()).unwrap();
    assert_eq!(r.choices[0].message.joined_text(), "Echo: Hello there");
    assert_eq!(r.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.usage, USAGE);
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("test-gemini-key")
    );
    assert_eq!(
        received[0].body["contents"][0]["parts"][0]["text"],
        "Hello there"
    );
}

#[tokio::test]
async fn plain_stream_in_small_deltas() {
    let mock = GeminiMock::start().await;
    let up = chat_request(&target(&mock), &ask("Stream this please", true)).unwrap();
    let (status, headers, body) = send(&up).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(body.starts_with("data: {") && body.ends_with("}\r\n\r\n"));
    assert!(!body.contains("[DONE]"));
    let (events, end) = decode(&body);
    end.unwrap();
    assert!(matches!(events[0], StreamEvent::Start { .. }));
    let deltas: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
        .collect();
    assert!(deltas.len() >= 3);
    for d in deltas {
        if let StreamEvent::TextDelta { text, .. } = d {
            assert!(text.chars().count() <= 8, "{text}");
        }
    }
    assert_eq!(text_of(&events), "Echo: Stream this please");
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Stop
        }
    );
    assert_eq!(events[n - 1], StreamEvent::Usage(USAGE));
}

#[tokio::test]
async fn tool_calls_single_and_parallel() {
    let mock = GeminiMock::start().await;
    let mut req = ask("Weather in Paris?", false);
    req.tools = vec![weather_tool()];
    let r = chat_response(
        send(&chat_request(&target(&mock), &req).unwrap())
            .await
            .2
            .as_bytes(),
    )
    .unwrap();
    let calls = &r.choices[0].message.tool_calls;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].arguments).unwrap(),
        json!({"city": "Paris", "days": 3})
    );
    assert_eq!(calls[0].id.len(), 8);
    assert_eq!(r.choices[0].finish_reason, FinishReason::ToolCalls);

    req.messages = vec![Message::text(Role::User, "Both cities in parallel")];
    req.stream = true;
    let (events, end) = decode(&send(&chat_request(&target(&mock), &req).unwrap()).await.2);
    end.unwrap();
    let starts: Vec<(u32, String)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, id, .. } => Some((*index, id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2);
    assert_ne!(starts[0].1, starts[1].1);
    let args: Vec<Value> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { arguments, .. } => {
                Some(serde_json::from_str(arguments).unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        args,
        vec![
            json!({"city": "Paris", "days": 3}),
            json!({"city": "Tokyo", "days": 1})
        ]
    );
    assert!(events.contains(&StreamEvent::Finish {
        choice: 0,
        reason: FinishReason::ToolCalls
    }));
}

#[tokio::test]
async fn tool_results_are_echoed() {
    let mock = GeminiMock::start().await;
    let call = |id: &str, city: &str| ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: json!({"city": city}).to_string(),
        signature: None,
    };
    let result = |id: &str, text: &str| Message {
        tool_call_id: Some(id.into()),
        ..Message::text(Role::Tool, text)
    };
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "Weather?"),
            Message {
                tool_calls: vec![call("a1", "Paris"), call("b2", "Tokyo")],
                ..Message::text(Role::Assistant, "")
            },
            result("a1", "18C"),
            result("b2", "25C"),
        ],
        tools: vec![weather_tool()],
        ..ask("", false)
    };
    let r = chat_response(
        send(&chat_request(&target(&mock), &req).unwrap())
            .await
            .2
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.choices[0].message.joined_text(), "Tool said: 18C | 25C");
    assert!(r.choices[0].message.tool_calls.is_empty());
}

#[tokio::test]
async fn thinking_with_signature() {
    let mock = GeminiMock::start().await;
    let mut req = ask("Think first", false);
    req.reasoning = Some(Reasoning {
        effort: None,
        budget_tokens: Some(512),
    });
    let r = chat_response(
        send(&chat_request(&target(&mock), &req).unwrap())
            .await
            .2
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        r.choices[0].message.content,
        vec![
            Part::Thinking {
                text: "Let me think.".into(),
                signature: Some("sig-mock-1".into())
            },
            Part::Text {
                text: "Echo: Think first".into()
            },
        ]
    );
    assert_eq!(r.usage.completion_tokens, 7);
    assert_eq!(r.usage.reasoning_tokens, 3);

    req.stream = true;
    let (events, end) = decode(&send(&chat_request(&target(&mock), &req).unwrap()).await.2);
    end.unwrap();
    assert_eq!(
        events[1],
        StreamEvent::ThinkingDelta {
            choice: 0,
            text: "Let me think.".into()
        }
    );
    assert_eq!(
        events[2],
        StreamEvent::ThinkingSignature {
            choice: 0,
            signature: "sig-mock-1".into()
        }
    );
}

#[tokio::test]
async fn status_triggers_and_auth() {
    let mock = GeminiMock::start().await;
    let up = chat_request(&target(&mock), &ask("Fail [mock:status=429] now", true)).unwrap();
    let (status, headers, body) = send(&up).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let e = error_response(status, body.as_bytes());
    assert_eq!(
        (e.kind, e.retryable, e.retry_after),
        (ErrorKind::RateLimited, true, Some(1))
    );
    assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));

    for (code, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Authentication),
        (404, ErrorKind::NotFound),
        (500, ErrorKind::Unavailable),
        (503, ErrorKind::Overloaded),
    ] {
        let up = chat_request(
            &target(&mock),
            &ask(&format!("[mock:status={code}]"), false),
        )
        .unwrap();
        let (status, _, body) = send(&up).await;
        assert_eq!(status, code);
        let e = error_response(status, body.as_bytes());
        assert_eq!(e.kind, kind, "{code}");
        assert!(e.message.starts_with("Gemini: "));
    }

    let mut no_key = target(&mock);
    no_key.api_key = String::new();
    let (status, _, body) = send(&chat_request(&no_key, &ask("hi", false)).unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(
        error_response(status, body.as_bytes()).kind,
        ErrorKind::PermissionDenied
    );

    let mut bad_key = target(&mock);
    bad_key.api_key = "invalid-key".into();
    let (status, _, body) = send(&chat_request(&bad_key, &ask("hi", false)).unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_response(status, body.as_bytes()).kind,
        ErrorKind::Authentication
    );
}

#[tokio::test]
async fn midstream_error_and_truncation() {
    let mock = GeminiMock::start().await;
    let up = chat_request(
        &target(&mock),
        &ask("A long answer [mock:midstream-error]", true),
    )
    .unwrap();
    let (events, end) = decode(&send(&up).await.2);
    assert_eq!(text_of(&events).chars().count(), 16);
    let e = end.expect_err("error event");
    assert_eq!(e.code.as_deref(), Some("INTERNAL"));
    assert!(e.retryable);

    let up = chat_request(&target(&mock), &ask("A long answer [mock:truncate]", true)).unwrap();
    let (events, end) = decode(&send(&up).await.2);
    assert_eq!(text_of(&events), "Echo: A long ans");
    assert_eq!(end.expect_err("truncated").kind, ErrorKind::Protocol);
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let mock = GeminiMock::start().await;
    let mut up = chat_request(&target(&mock), &ask("hi", true)).unwrap();
    up.url = up.url.replace("?alt=sse", "");
    let (status, _, body) = send(&up).await;
    assert_eq!(status, 200);
    let chunks: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        chunks.as_array().unwrap().last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let mock = GeminiMock::start().await;
    let mut t = target(&mock);
    t.upstream_model = "gemini-embedding-001".into();
    let req = EmbeddingRequest {
        model: "embed".into(),
        input: vec!["ab".into(), "hello".into()],
        ..EmbeddingRequest::default()
    };
    let up = embeddings_request(&t, &req).unwrap();
    let (status, _, body) = send(&up).await;
    assert_eq!(status, 200);
    let r = embeddings_response_for(body.as_bytes(), &req).unwrap();
    let expected = |text: &str| -> Vec<f32> {
        let sum: u64 = text.bytes().map(u64::from).sum();
        (0..8u64)
            .map(|i| ((sum * (i + 1)) % 97) as f32 / 97.0)
            .collect()
    };
    assert_eq!(r.embeddings, vec![expected("ab"), expected("hello")]);
    assert_eq!(r.embeddings[0][0], (195 % 97) as f32 / 97.0);
    assert!(r.usage.estimated);
    assert_eq!(
        mock.received()[0].path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );

    let single = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/gemini-embedding-001:embedContent",
            mock.base_url
        ))
        .header("x-goog-api-key", "k")
        .json(&json!({"content": {"parts": [{"text": "ab"}]}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(single["embedding"]["values"].as_array().unwrap().len(), 8);
}
