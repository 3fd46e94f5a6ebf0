use serde_json::{Value, json};

use super::target;
use crate::providers::anthropic::chat_request;
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, Target};

fn body_of(target: &Target, req: &ChatRequest) -> Value {
    let up = chat_request(target, req).expect("request builds");
    serde_json::from_slice(&up.body).expect("body is JSON")
}

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"]
    })
}

fn call(id: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: args.into(),
        signature: None,
    }
}

fn tool_msg(id: &str, text: &str, is_error: bool) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        is_error,
        ..Message::text(Role::Tool, text)
    }
}

fn rich_request() -> ChatRequest {
    let user = Message {
        content: vec![
            Part::Text {
                text: "What's in these images?".into(),
            },
            Part::Image {
                source: ImageSource::Url {
                    url: "https://example.com/cat.jpg".into(),
                },
                detail: Some("high".into()),
            },
            Part::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                },
                detail: None,
            },
        ],
        ..Message::text(Role::User, "")
    };
    let assistant = Message {
        content: vec![
            Part::Text {
                text: "Let me check the weather.".into(),
            },
            Part::Thinking {
                text: "Two cities, two calls.".into(),
                signature: Some("sig-1".into()),
            },
        ],
        tool_calls: vec![
            call("toolu_01A", r#"{"city":"Paris","days":3}"#),
            call("toolu_01B", r#"{"city":"Tokyo","days":1}"#),
        ],
        ..Message::text(Role::Assistant, "")
    };
    ChatRequest {
        model: "smart".into(),
        messages: vec![
            Message::text(Role::System, "You are a helpful assistant."),
            Message::text(Role::System, "Answer in English."),
            user,
            assistant,
            tool_msg("toolu_01A", "Sunny, 22C", false),
            tool_msg("toolu_01B", "Service unavailable", true),
            Message::text(Role::User, "Thanks! Summarise."),
        ],
        max_tokens: Some(1000),
        temperature: Some(0.7),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec!["END".into()],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: Some("Get the weather".into()),
            parameters: weather_schema(),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "summary".into(),
            schema: json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": false}),
            strict: Some(true),
            description: None,
        }),
        stream: true,
        include_usage: true,
        user: Some("user-123".into()),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(2048),
        }),
        ..ChatRequest::default()
    }
}

#[test]
fn rich_request_maps_to_the_exact_anthropic_body() {
    let body = body_of(&target(), &rich_request());
    let expected = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 3048,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What's in these images?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two cities, two calls.", "signature": "sig-1"},
                {"type": "text", "text": "Let me check the weather."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris", "days": 3}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Tokyo", "days": 1}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "Sunny, 22C"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "Service unavailable", "is_error": true},
                {"type": "text", "text": "Thanks! Summarise."}
            ]}
        ],
        "system": [
            {"type": "text", "text": "You are a helpful assistant."},
            {"type": "text", "text": "Answer in English."}
        ],
        "stop_sequences": ["END"],
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "tools": [{"name": "get_weather", "description": "Get the weather", "input_schema": weather_schema()}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "user-123"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": false}}},
        "stream": true
    });
    assert_eq!(body, expected);
}

#[test]
fn url_headers_and_defaults() {
    let mut t = target();
    t.base_url = "http://127.0.0.1:9999/".into();
    let req = ChatRequest {
        model: "smart".into(),
        messages: vec![Message::text(Role::User, "Hi")],
        ..ChatRequest::default()
    };
    let up = chat_request(&t, &req).expect("request");
    assert_eq!(up.url, "http://127.0.0.1:9999/v1/messages");
    assert!(!up.stream);
    assert!(!up.url.contains("sk-ant"));
    let header = |name: &str| {
        up.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-api-key").as_deref(), Some("sk-ant-test-key"));
    assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&up.body).expect("json");
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
        })
    );
}

fn with_unsupported(param: &str) -> ChatRequest {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi")],
        ..ChatRequest::default()
    };
    match param {
        "n" => req.n = Some(2),
        "seed" => req.seed = Some(7),
        "logprobs" => req.logprobs = Some(true),
        "top_logprobs" => req.top_logprobs = Some(3),
        "frequency_penalty" => req.frequency_penalty = Some(0.5),
        "presence_penalty" => req.presence_penalty = Some(0.5),
        other => panic!("unknown param {other}"),
    }
    req
}

#[test]
fn unsupported_parameters_fail_in_strict_mode_and_are_dropped_otherwise() {
    let params = [
        "n",
        "seed",
        "logprobs",
        "top_logprobs",
        "frequency_penalty",
        "presence_penalty",
    ];
    let mut strict = target();
    strict.strict = true;
    for param in params {
        let req = with_unsupported(param);
        let err = chat_request(&strict, &req).expect_err(param);
        assert_eq!(err.kind, ErrorKind::Unsupported, "{param}");
        assert_eq!(err.param.as_deref(), Some(param));
        assert_eq!(err.status, 400);
        assert!(err.message.contains("Anthropic"), "{}", err.message);
        let body = body_of(&target(), &req);
        let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["max_tokens", "messages", "model"], "{param}");
    }
    let mut ok = with_unsupported("n");
    ok.n = Some(1);
    assert!(chat_request(&strict, &ok).is_ok());
}

#[test]
fn reasoning_effort_maps_to_a_thinking_budget_and_raises_max_tokens() {
    for (effort, budget, max_tokens) in [
        ("low", 1024, 4096),
        ("medium", 4096, 8192),
        ("high", 16384, 20480),
    ] {
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "Think")],
            reasoning: Some(Reasoning {
                effort: Some(effort.into()),
                budget_tokens: None,
            }),
            ..ChatRequest::default()
        };
        let body = body_of(&target(), &req);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": budget})
        );
        assert_eq!(body["max_tokens"], json!(max_tokens), "{effort}");
    }
    let small = ChatRequest {
        messages: vec![Message::text(Role::User, "Think")],
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(100),
        }),
        max_tokens: Some(5000),
        ..ChatRequest::default()
    };
    let body = body_of(&target(), &small);
    assert_eq!(body["thinking"]["budget_tokens"], json!(1024));
    assert_eq!(body["max_tokens"], json!(5000));
}

#[test]
fn json_mode_is_a_system_instruction_or_unsupported_when_strict() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::System, "Be terse."),
            Message::text(Role::User, "List three colours"),
        ],
        response_format: Some(ResponseFormat::JsonObject),
        ..ChatRequest::default()
    };
    let body = body_of(&target(), &req);
    let system = body["system"].as_array().expect("system blocks");
    assert_eq!(system.len(), 2);
    assert_eq!(system[0], json!({"type": "text", "text": "Be terse."}));
    assert!(
        system[1]["text"]
            .as_str()
            .expect("text")
            .contains("single valid JSON object")
    );
    assert!(body.get("output_config").is_none());
    let mut strict = target();
    strict.strict = true;
    let err = chat_request(&strict, &req).expect_err("strict");
    assert_eq!(err.param.as_deref(), Some("response_format"));
}

#[test]
fn consecutive_turns_merge_and_tool_results_come_first() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "first"),
            Message::text(Role::User, "second"),
            Message {
                tool_calls: vec![call("toolu_X", "")],
                ..Message::text(Role::Assistant, "")
            },
            Message::text(Role::User, "by the way"),
            tool_msg("toolu_X", "42", false),
        ],
        ..ChatRequest::default()
    };
    let body = body_of(&target(), &req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_X", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_X", "content": "42"},
                {"type": "text", "text": "by the way"}
            ]}
        ])
    );
}

#[test]
fn invalid_tool_arguments_name_the_call() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "go"),
            Message {
                tool_calls: vec![call("toolu_bad", "{\"city\": ")],
                ..Message::text(Role::Assistant, "")
            },
        ],
        ..ChatRequest::default()
    };
    let err = chat_request(&target(), &req).expect_err("invalid JSON");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.message.contains("toolu_bad"), "{}", err.message);
}

#[test]
fn tool_choice_variants_and_parallel_flag() {
    let base = ChatRequest {
        messages: vec![Message::text(Role::User, "go")],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: None,
            parameters: Value::Null,
            strict: Some(true),
        }],
        ..ChatRequest::default()
    };
    let body = body_of(&target(), &base);
    assert_eq!(
        body["tools"],
        json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}, "strict": true}])
    );
    assert!(body.get("tool_choice").is_none());
    let cases = [
        (Some(ToolChoice::None), None, json!({"type": "none"})),
        (Some(ToolChoice::Auto), None, json!({"type": "auto"})),
        (
            None,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            Some(ToolChoice::Tool("get_weather".into())),
            Some(true),
            json!({"type": "tool", "name": "get_weather"}),
        ),
    ];
    for (choice, parallel, expected) in cases {
        let req = ChatRequest {
            tool_choice: choice,
            parallel_tool_calls: parallel,
            ..base.clone()
        };
        assert_eq!(body_of(&target(), &req)["tool_choice"], expected);
    }
}

#[test]
fn temperature_above_one_is_clamped_or_rejected_when_strict() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "go")],
        temperature: Some(1.6),
        ..ChatRequest::default()
    };
    assert_eq!(body_of(&target(), &req)["temperature"], json!(1.0));
    let mut strict = target();
    strict.strict = true;
    let err = chat_request(&strict, &req).expect_err("strict");
    assert_eq!(err.param.as_deref(), Some("temperature"));
}
