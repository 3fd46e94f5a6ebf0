use serde_json::{Value, json};

use super::target;
use crate::providers::cohere::chat_request;
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, Target};

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: Some("Current weather for a city".into()),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]
        }),
        strict: None,
    }
}

fn time_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_time".into(),
        description: None,
        parameters: json!({"type": "object", "properties": {}}),
        strict: None,
    }
}

fn body(target: &Target, req: &ChatRequest) -> Value {
    let up = chat_request(target, req).expect("request");
    serde_json::from_slice(&up.body).expect("json body")
}

fn rich_request() -> ChatRequest {
    let user_images = Message {
        role: Role::User,
        content: vec![
            Part::Text {
                text: "What is in these images?".into(),
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
        tool_calls: vec![],
        tool_call_id: None,
        is_error: false,
        name: None,
    };
    let assistant_calls = Message {
        role: Role::Assistant,
        content: vec![
            Part::Thinking {
                text: "The user wants Paris weather.".into(),
                signature: Some("ignored-by-cohere".into()),
            },
            Part::Text {
                text: "I will check the weather in Paris.".into(),
            },
        ],
        tool_calls: vec![ToolCall {
            id: "get_weather_nsz5zm3w56q3".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
            signature: None,
        }],
        tool_call_id: None,
        is_error: false,
        name: None,
    };
    let tool_result = Message {
        tool_call_id: Some("get_weather_nsz5zm3w56q3".into()),
        ..Message::text(Role::Tool, r#"{"temperature":18,"sky":"sunny"}"#)
    };
    ChatRequest {
        model: "my-route".into(),
        messages: vec![
            Message::text(Role::System, "You are a weather bot."),
            user_images,
            Message::text(Role::Assistant, "Two cats on a sofa."),
            Message::text(Role::System, "Answer briefly."),
            Message::text(Role::User, "And the weather in Paris?"),
            assistant_calls,
            tool_result,
        ],
        max_tokens: Some(256),
        temperature: Some(0.5),
        top_p: Some(0.9),
        top_k: Some(40),
        frequency_penalty: Some(0.1),
        presence_penalty: Some(0.2),
        stop: vec!["END".into()],
        seed: Some(7),
        tools: vec![weather_tool(), time_tool()],
        tool_choice: Some(ToolChoice::Required),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "weather".into(),
            schema: json!({"type": "object", "properties": {"summary": {"type": "string"}}}),
            strict: Some(true),
            description: None,
        }),
        reasoning: Some(Reasoning {
            effort: Some("high".into()),
            budget_tokens: Some(1024),
        }),
        ..ChatRequest::default()
    }
}

#[test]
fn rich_request_translates_to_exact_cohere_json() {
    let got = body(&target(false), &rich_request());
    let want = json!({
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "You are a weather bot.\n\nAnswer briefly."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": "Two cats on a sofa."},
            {"role": "user", "content": "And the weather in Paris?"},
            {"role": "assistant",
             "content": [{"type": "thinking", "thinking": "The user wants Paris weather."}],
             "tool_plan": "I will check the weather in Paris.",
             "tool_calls": [{"id": "get_weather_nsz5zm3w56q3", "type": "function",
                             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "get_weather_nsz5zm3w56q3",
             "content": "{\"temperature\":18,\"sky\":\"sunny\"}"}
        ],
        "tools": [
            {"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {"type": "object",
                               "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                               "required": ["city"]}}},
            {"type": "function", "function": {
                "name": "get_time",
                "parameters": {"type": "object", "properties": {}}}}
        ],
        "tool_choice": "REQUIRED",
        "response_format": {"type": "json_object",
                            "json_schema": {"type": "object", "properties": {"summary": {"type": "string"}}}},
        "max_tokens": 256,
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "k": 40,
        "p": 0.9,
        "thinking": {"type": "enabled", "token_budget": 1024},
        "stream": false
    });
    assert_eq!(got, want);
}

#[test]
fn url_headers_and_stream_flag() {
    let mut t = target(false);
    t.base_url = "http://127.0.0.1:9999/".into();
    let req = ChatRequest {
        stream: true,
        messages: vec![Message::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let up = chat_request(&t, &req).expect("request");
    assert_eq!(up.url, "http://127.0.0.1:9999/v2/chat");
    assert!(up.stream);
    assert_eq!(
        up.headers,
        vec![
            ("authorization", "Bearer co-test-key".to_owned()),
            ("content-type", "application/json".to_owned()),
            ("accept", "text/event-stream".to_owned()),
        ]
    );
    let body: Value = serde_json::from_slice(&up.body).expect("json");
    assert_eq!(
        body,
        json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}], "stream": true})
    );
}

#[test]
fn named_tool_choice_sends_only_that_tool_as_required() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "time?")],
        tools: vec![weather_tool(), time_tool()],
        tool_choice: Some(ToolChoice::Tool("get_time".into())),
        ..ChatRequest::default()
    };
    let got = body(&target(false), &req);
    assert_eq!(got["tool_choice"], "REQUIRED");
    assert_eq!(got["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(got["tools"][0]["function"]["name"], "get_time");

    let unknown = ChatRequest {
        tool_choice: Some(ToolChoice::Tool("nope".into())),
        ..req
    };
    let err = chat_request(&target(false), &unknown).expect_err("unknown tool");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.param.as_deref(), Some("tool_choice"));
}

#[test]
fn tool_choice_none_auto_and_strict_tools() {
    let mut strict_tool = weather_tool();
    strict_tool.strict = Some(true);
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        tools: vec![strict_tool],
        tool_choice: Some(ToolChoice::None),
        ..ChatRequest::default()
    };
    let got = body(&target(false), &req);
    assert_eq!(got["tool_choice"], "NONE");
    assert_eq!(got["strict_tools"], true);
    req.tool_choice = Some(ToolChoice::Auto);
    let got = body(&target(false), &req);
    assert!(got.get("tool_choice").is_none());
}

#[test]
fn unsupported_fields_error_in_strict_mode_and_drop_otherwise() {
    let cases: Vec<(&str, ChatRequest)> = vec![
        (
            "n",
            ChatRequest {
                n: Some(2),
                ..ChatRequest::default()
            },
        ),
        (
            "parallel_tool_calls",
            ChatRequest {
                parallel_tool_calls: Some(false),
                ..ChatRequest::default()
            },
        ),
        (
            "top_logprobs",
            ChatRequest {
                top_logprobs: Some(3),
                ..ChatRequest::default()
            },
        ),
        (
            "user",
            ChatRequest {
                user: Some("u-1".into()),
                ..ChatRequest::default()
            },
        ),
        (
            "metadata",
            ChatRequest {
                metadata: Some(json!({"a": 1})),
                ..ChatRequest::default()
            },
        ),
    ];
    for (param, mut req) in cases {
        req.messages = vec![Message::text(Role::User, "hi")];
        let err = chat_request(&target(true), &req).expect_err(param);
        assert_eq!(err.kind, ErrorKind::Unsupported, "{param}");
        assert_eq!(err.param.as_deref(), Some(param));
        assert_eq!(err.message, format!("`{param}` is not supported by Cohere"));
        let got = body(&target(false), &req);
        assert!(got.get(param).is_none(), "{param} dropped");
    }
}

#[test]
fn tool_result_without_id_is_rejected() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::Tool, "42")],
        ..ChatRequest::default()
    };
    let err = chat_request(&target(false), &req).expect_err("no id");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.param.as_deref(), Some("messages[0].tool_call_id"));
}

#[test]
fn reasoning_logprobs_and_assistant_thinking_history() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "2+2?"),
            Message {
                content: vec![
                    Part::Thinking {
                        text: "Add.".into(),
                        signature: None,
                    },
                    Part::RedactedThinking {
                        data: "opaque".into(),
                    },
                    Part::Text { text: "4".into() },
                ],
                ..Message::text(Role::Assistant, "")
            },
        ],
        logprobs: Some(true),
        reasoning: Some(Reasoning {
            effort: Some("none".into()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    let got = body(&target(true), &req);
    assert_eq!(got["logprobs"], true);
    assert_eq!(got["thinking"], json!({"type": "disabled"}));
    assert_eq!(
        got["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Add."},
            {"type": "text", "text": "4"}
        ]})
    );
}

#[test]
fn image_in_a_tool_result_is_unsupported_in_strict_mode() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::Tool,
            content: vec![Part::Image {
                source: ImageSource::Url {
                    url: "https://example.com/x.png".into(),
                },
                detail: None,
            }],
            tool_calls: vec![],
            tool_call_id: Some("t1".into()),
            is_error: false,
            name: None,
        }],
        ..ChatRequest::default()
    };
    let err = chat_request(&target(true), &req).expect_err("strict");
    assert_eq!(err.param.as_deref(), Some("messages[0].content"));
    let got = body(&target(false), &req);
    assert_eq!(
        got["messages"][0],
        json!({"role": "tool", "tool_call_id": "t1", "content": ""})
    );
}
