use serde_json::{Map, Value, json};

use super::target;
use crate::providers::gemini::chat_request;
use crate::providers::types::{
    ChatRequest, ImageSource, Message, Part, Reasoning, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition,
};
use crate::providers::{ErrorKind, generated_id};

fn body(req: &ChatRequest) -> Value {
    let upstream = chat_request(&target(), req).expect("request builds");
    serde_json::from_slice(&upstream.body).expect("json body")
}

fn tool_result(id: &str, text: &str) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        ..Message::text(Role::Tool, text)
    }
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: Some("Current weather for a city".into()),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
            "additionalProperties": false
        }),
        strict: None,
    }
}

/// System, multi-turn, images, parallel tool calls with results, sampling, stop, schema
/// output, reasoning, logprobs — and fields Gemini has no use for.
fn rich_request(generated: &str) -> ChatRequest {
    let mut extra = Map::new();
    extra.insert("store".into(), json!(true));
    ChatRequest {
        model: "my-route".into(),
        messages: vec![
            Message::text(Role::System, "You are a weather assistant."),
            Message::text(Role::System, "Answer briefly."),
            Message {
                content: vec![
                    Part::Text {
                        text: "What's the weather in these places?".into(),
                    },
                    Part::Image {
                        source: ImageSource::Url {
                            url: "https://example.com/paris.JPG?w=640".into(),
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
            },
            Message {
                content: vec![
                    Part::Thinking {
                        text: "Need both cities.".into(),
                        signature: Some("sig-think".into()),
                    },
                    Part::Text {
                        text: "Checking both.".into(),
                    },
                ],
                tool_calls: vec![
                    ToolCall {
                        id: "7xk2m9qa".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris","days":3}"#.into(),
                        signature: Some("sig-call-1".into()),
                    },
                    ToolCall {
                        id: generated.into(),
                        name: "get_time".into(),
                        arguments: r#"{"tz":"Asia/Tokyo"}"#.into(),
                        signature: None,
                    },
                ],
                ..Message::text(Role::Assistant, "")
            },
            tool_result("7xk2m9qa", r#"{"temp_c":18}"#),
            tool_result(generated, "09:30"),
            Message::text(Role::User, "Thanks, and in JSON please."),
        ],
        max_tokens: Some(512),
        temperature: Some(0.4),
        top_p: Some(0.9),
        top_k: Some(40),
        frequency_penalty: Some(0.1),
        presence_penalty: Some(0.2),
        stop: vec!["END".into()],
        seed: Some(7),
        n: Some(2),
        tools: vec![
            weather_tool(),
            ToolDefinition {
                name: "get_time".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(true),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "forecast".into(),
            schema: json!({"type": "object", "properties": {"summary": {"type": "string"}}}),
            strict: Some(true),
            description: None,
        }),
        stream: false,
        include_usage: false,
        user: Some("user-1".into()),
        metadata: Some(json!({"team": "a"})),
        reasoning: Some(Reasoning {
            effort: Some("high".into()),
            budget_tokens: Some(2048),
        }),
        logprobs: Some(true),
        top_logprobs: Some(3),
        extra,
    }
}

#[test]
fn rich_request_becomes_exact_gemini_json() {
    let generated = generated_id("call_");
    let req = rich_request(&generated);
    let upstream = chat_request(&target(), &req).expect("request builds");
    assert_eq!(
        upstream.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert!(!upstream.stream);
    assert_eq!(
        upstream.headers,
        vec![("x-goog-api-key", "AIzaSy-test-key".to_owned())]
    );
    let body: Value = serde_json::from_slice(&upstream.body).expect("json");
    let expected = json!({
        "contents": [
            {"role": "user", "parts": [
                {"text": "What's the weather in these places?"},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/paris.JPG?w=640"}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"role": "model", "parts": [
                {"text": "Need both cities.", "thought": true, "thoughtSignature": "sig-think"},
                {"text": "Checking both."},
                {"functionCall": {"id": "7xk2m9qa", "name": "get_weather", "args": {"city": "Paris", "days": 3}},
                 "thoughtSignature": "sig-call-1"},
                {"functionCall": {"name": "get_time", "args": {"tz": "Asia/Tokyo"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "7xk2m9qa", "name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "09:30"}}},
                {"text": "Thanks, and in JSON please."}
            ]}
        ],
        "systemInstruction": {"parts": [
            {"text": "You are a weather assistant."},
            {"text": "Answer briefly."}
        ]},
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Current weather for a city",
             "parametersJsonSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
                "additionalProperties": false}},
            {"name": "get_time",
             "parametersJsonSchema": {"type": "object", "properties": {"tz": {"type": "string"}}}}
        ]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "stopSequences": ["END"],
            "candidateCount": 2,
            "maxOutputTokens": 512,
            "temperature": 0.4,
            "topP": 0.9,
            "topK": 40,
            "seed": 7,
            "presencePenalty": 0.2,
            "frequencyPenalty": 0.1,
            "responseLogprobs": true,
            "logprobs": 3,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "properties": {"summary": {"type": "string"}}},
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true}
        }
    });
    assert_eq!(body, expected);
}

#[test]
fn minimal_request_has_no_optional_fields_and_streams_over_sse() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi")],
        stream: true,
        ..ChatRequest::default()
    };
    let upstream = chat_request(&target(), &req).expect("request builds");
    assert_eq!(
        upstream.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert!(upstream.stream);
    assert!(!upstream.url.contains("key="));
    req.stream = false;
    assert_eq!(
        body(&req),
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
    );
}

#[test]
fn base_url_and_model_resource_are_respected() {
    let mut t = target();
    t.base_url = "http://127.0.0.1:9999/".into();
    t.upstream_model = "tunedModels/my-tuned-1".into();
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi")],
        ..ChatRequest::default()
    };
    let upstream = chat_request(&t, &req).expect("request builds");
    assert_eq!(
        upstream.url,
        "http://127.0.0.1:9999/v1beta/tunedModels/my-tuned-1:generateContent"
    );
}

#[test]
fn tool_choice_variants_map_to_function_calling_modes() {
    let cases = [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
        (
            ToolChoice::Tool("get_weather".into()),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
    ];
    for (choice, expected) in cases {
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "Hi")],
            tools: vec![weather_tool()],
            tool_choice: Some(choice),
            ..ChatRequest::default()
        };
        assert_eq!(body(&req)["toolConfig"]["functionCallingConfig"], expected);
    }
}

#[test]
fn reasoning_effort_maps_to_thinking_budgets() {
    let cases = [
        (
            "low",
            json!({"thinkingBudget": 1024, "includeThoughts": true}),
        ),
        (
            "medium",
            json!({"thinkingBudget": 8192, "includeThoughts": true}),
        ),
        (
            "high",
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        ("none", json!({"thinkingBudget": 0})),
    ];
    for (effort, expected) in cases {
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "Hi")],
            reasoning: Some(Reasoning {
                effort: Some(effort.into()),
                budget_tokens: None,
            }),
            ..ChatRequest::default()
        };
        assert_eq!(
            body(&req)["generationConfig"]["thinkingConfig"],
            expected,
            "{effort}"
        );
    }
}

#[test]
fn json_object_format_sets_only_the_mime_type() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi")],
        response_format: Some(ResponseFormat::JsonObject),
        ..ChatRequest::default()
    };
    assert_eq!(
        body(&req)["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
}

#[test]
fn streamed_signatures_and_data_urls_round_trip() {
    let req = ChatRequest {
        messages: vec![
            Message {
                content: vec![
                    Part::Text {
                        text: "Look:".into(),
                    },
                    Part::Image {
                        source: ImageSource::Url {
                            url: "data:image/webp;base64,UklGRg==".into(),
                        },
                        detail: None,
                    },
                ],
                ..Message::text(Role::User, "")
            },
            Message {
                content: vec![
                    Part::Text {
                        text: "A cat.".into(),
                    },
                    Part::Thinking {
                        text: String::new(),
                        signature: Some("sig-after".into()),
                    },
                    Part::Thinking {
                        text: String::new(),
                        signature: Some("sig-before".into()),
                    },
                    Part::Text {
                        text: " Orange.".into(),
                    },
                ],
                ..Message::text(Role::Assistant, "")
            },
            Message::text(Role::User, "More?"),
        ],
        ..ChatRequest::default()
    };
    let b = body(&req);
    assert_eq!(
        b["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}})
    );
    assert_eq!(
        b["contents"][1]["parts"],
        json!([
            {"text": "A cat.", "thoughtSignature": "sig-after"},
            {"text": " Orange.", "thoughtSignature": "sig-before"}
        ])
    );
}

#[test]
fn error_results_and_non_json_results_are_wrapped() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "Run it"),
            Message {
                tool_calls: vec![ToolCall {
                    id: "abc".into(),
                    name: "run".into(),
                    arguments: String::new(),
                    signature: None,
                }],
                ..Message::text(Role::Assistant, "")
            },
            Message {
                is_error: true,
                ..tool_result("abc", "permission denied")
            },
        ],
        ..ChatRequest::default()
    };
    let b = body(&req);
    assert_eq!(
        b["contents"][1]["parts"][0]["functionCall"],
        json!({"id": "abc", "name": "run", "args": {}})
    );
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"],
        json!({"id": "abc", "name": "run", "response": {"error": "permission denied"}})
    );
}

#[test]
fn tool_result_without_a_matching_call_is_rejected() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi"), tool_result("nope", "x")],
        ..ChatRequest::default()
    };
    let err = chat_request(&target(), &req).expect_err("unknown call id");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.param.as_deref(), Some("messages[].tool_call_id"));
}

#[test]
fn invalid_tool_arguments_are_rejected() {
    let req = ChatRequest {
        messages: vec![Message {
            tool_calls: vec![ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments: "[1]".into(),
                signature: None,
            }],
            ..Message::text(Role::Assistant, "")
        }],
        ..ChatRequest::default()
    };
    let err = chat_request(&target(), &req).expect_err("array arguments");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
}

#[test]
fn strict_mode_rejects_what_gemini_cannot_honour() {
    let mut strict = target();
    strict.strict = true;
    let base = ChatRequest {
        messages: vec![Message::text(Role::User, "Hi")],
        ..ChatRequest::default()
    };
    let no_parallel = ChatRequest {
        parallel_tool_calls: Some(false),
        ..base.clone()
    };
    let err = chat_request(&strict, &no_parallel).expect_err("strict");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.param.as_deref(), Some("parallel_tool_calls"));
    assert_eq!(
        err.message,
        "`parallel_tool_calls` is not supported by Gemini"
    );

    let strict_tool = ChatRequest {
        tools: vec![ToolDefinition {
            strict: Some(true),
            ..weather_tool()
        }],
        ..base.clone()
    };
    let err = chat_request(&strict, &strict_tool).expect_err("strict tool");
    assert_eq!(err.param.as_deref(), Some("tools[].function.strict"));

    let odd_effort = ChatRequest {
        reasoning: Some(Reasoning {
            effort: Some("extreme".into()),
            budget_tokens: None,
        }),
        ..base.clone()
    };
    assert!(chat_request(&strict, &odd_effort).is_err());

    // Not strict: the same requests pass with the fields dropped.
    assert!(body(&no_parallel).get("toolConfig").is_none());
    assert!(
        body(&strict_tool)["tools"][0]["functionDeclarations"][0]
            .get("strict")
            .is_none()
    );
    assert!(body(&odd_effort).get("generationConfig").is_none());
    // `user` is dropped even in strict mode.
    let with_user = ChatRequest {
        user: Some("u".into()),
        ..base
    };
    assert!(chat_request(&strict, &with_user).is_ok());
}
