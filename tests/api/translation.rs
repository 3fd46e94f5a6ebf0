//! OpenAI-format callers served by providers that speak other wire formats, reached over HTTP:
//! the same scenarios for every provider kind.

use serde_json::{Value, json};
use switchyard::providers::ProviderKind;

use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events};

const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]"#;

fn tools() -> Value {
    serde_json::from_str(TOOLS).expect("tools json")
}

pub async fn gateway(kind: ProviderKind, base_url: &str) -> Option<Gateway> {
    let base = base_url.to_owned();
    spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "vendor", kind, &base, &["m"]);
    })
    .await
}

fn user(text: &str) -> Value {
    json!({ "model": "m", "messages": [{ "role": "user", "content": text }] })
}

/// The concatenated text of a stream and its chunks (without `[DONE]`).
fn stream_text(events: &[(String, String)]) -> (String, Vec<Value>) {
    let chunks: Vec<Value> = events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).expect("chunk json"))
        .collect();
    let text = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    (text, chunks)
}

pub async fn text_answers(gw: &Gateway) {
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &user("hello there"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-switchyard-provider"], "vendor");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "m");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["usage"]["completion_tokens"], 7);

    let mut req = user("hello stream");
    req["stream"] = json!(true);
    req["stream_options"] = json!({ "include_usage": true });
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let (text, chunks) = stream_text(&events);
    assert_eq!(text, "Echo: hello stream");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    let usage = chunks.last().expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 11);
    assert_eq!(usage["usage"]["completion_tokens"], 7);
}

pub async fn tool_calls_round_trip(gw: &Gateway) {
    let mut req = user("what's the weather?");
    req["tools"] = tools();
    let body: Value = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &req)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("args"))
        .expect("arguments are JSON");
    assert_eq!(args, json!({ "city": "Paris", "days": 3 }));
    let id = call["id"].as_str().expect("id").to_owned();
    assert!(!id.is_empty());

    // Second turn: the tool result goes back with the same id.
    let follow_up = json!({
        "model": "m",
        "tools": tools(),
        "messages": [
            { "role": "user", "content": "what's the weather?" },
            { "role": "assistant", "content": null, "tool_calls": [call] },
            { "role": "tool", "tool_call_id": id, "content": "sunny, 21C" }
        ]
    });
    let body: Value = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &follow_up)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"], "Tool said: sunny, 21C",
        "{body}"
    );
}

pub async fn streamed_parallel_tool_calls_arrive_intact(gw: &Gateway) {
    let mut req = user("weather in two cities, parallel please");
    req["tools"] = tools();
    req["stream"] = json!(true);
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let (_, chunks) = stream_text(&events);
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in &chunks {
        for c in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = c["index"].as_u64().expect("index") as usize;
            if calls.len() <= i {
                calls.resize(i + 1, Default::default());
            }
            if let Some(id) = c["id"].as_str() {
                calls[i].0 = id.to_owned();
                calls[i].1 = c["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
            calls[i]
                .2
                .push_str(c["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(calls.len(), 2, "{chunks:?}");
    assert!(
        calls
            .iter()
            .all(|c| !c.0.is_empty() && c.1 == "get_weather")
    );
    assert_ne!(calls[0].0, calls[1].0);
    let args: Vec<Value> = calls
        .iter()
        .map(|c| serde_json::from_str(&c.2).expect("complete JSON arguments"))
        .collect();
    assert_eq!(
        args,
        [
            json!({ "city": "Paris", "days": 3 }),
            json!({ "city": "Tokyo", "days": 1 })
        ]
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned));
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

pub async fn errors_map_to_the_callers_format(gw: &Gateway) {
    for (trigger, status) in [
        ("[mock:status=429]", 429),
        ("[mock:status=400]", 400),
        ("[mock:status=500]", 500),
    ] {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &user(trigger))
            .await;
        assert_eq!(res.status(), status, "{trigger}");
        let err: Value = res.json().await.expect("json");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
        assert!(err["error"]["type"].is_string(), "{err}");
    }
    let mut req = user("[mock:midstream-error]");
    req["stream"] = json!(true);
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let last: Value = serde_json::from_str(&events.last().expect("events").1).expect("json");
    assert!(
        last["error"]["message"].is_string(),
        "stream must end with an error: {events:?}"
    );
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));

    let mut req = user("[mock:truncate]");
    req["stream"] = json!(true);
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let last: Value = serde_json::from_str(&events.last().expect("events").1).expect("json");
    assert!(
        last["error"]["message"].is_string(),
        "a cut stream must not look complete: {events:?}"
    );
}

/// Runs every scenario against one provider kind.
macro_rules! translated_provider {
    ($name:ident, $kind:expr, $mock:ty) => {
        mod $name {
            use super::*;

            async fn setup() -> Option<(Gateway, $mock)> {
                let mock = <$mock>::start().await;
                let gw = gateway($kind, &mock.base_url).await?;
                Some((gw, mock))
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn text() {
                let Some((gw, _mock)) = setup().await else {
                    return;
                };
                text_answers(&gw).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tools() {
                let Some((gw, _mock)) = setup().await else {
                    return;
                };
                tool_calls_round_trip(&gw).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn streamed_tools() {
                let Some((gw, _mock)) = setup().await else {
                    return;
                };
                streamed_parallel_tool_calls_arrive_intact(&gw).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn errors() {
                let Some((gw, _mock)) = setup().await else {
                    return;
                };
                errors_map_to_the_callers_format(&gw).await;
            }
        }
    };
}

translated_provider!(
    cohere,
    ProviderKind::Cohere,
    crate::common::providers::cohere::CohereMock
);
translated_provider!(
    gemini,
    ProviderKind::Gemini,
    crate::common::providers::gemini::GeminiMock
);
translated_provider!(
    anthropic,
    ProviderKind::Anthropic,
    crate::common::providers::anthropic::AnthropicMock
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_callers_get_anthropic_errors() {
    let mock = crate::common::mock_provider::MockProvider::start(Default::default()).await;
    let Some(gw) = gateway(ProviderKind::Openai, &mock.base_url).await else {
        return;
    };
    let post = |body: String| {
        gw.app
            .client
            .post(format!("{}/v1/messages", gw.app.address))
            .header("x-api-key", &gw.key)
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        ("{\"model\":", 400, "invalid_request_error"),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
            400,
            "invalid_request_error",
        ),
        (
            r#"{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
            404,
            "not_found_error",
        ),
    ];
    for (body, status, kind) in cases {
        let res = post(body.to_owned()).await.expect("send");
        assert_eq!(res.status(), status, "{body}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["type"], "error", "{err}");
        assert_eq!(err["error"]["type"], kind, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let missing = gw
        .app
        .client
        .post(format!("{}/v1/messages", gw.app.address))
        .json(&json!({ "model": "m", "max_tokens": 5, "messages": [] }))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.json::<Value>().await.expect("json")["error"]["type"],
        "authentication_error"
    );
    assert!(mock.received().is_empty());
}
