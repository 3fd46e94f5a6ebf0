use serde_json::{Value, json};

use super::{decode, fixture, parse_sse};
use crate::providers::anthropic::inbound::StreamEncoder;
use crate::providers::types::{FinishReason, StreamEvent, Usage};
use crate::providers::{ErrorKind, ProviderError, SseEvent};

fn encode_all(model: &str, events: &[StreamEvent]) -> Vec<SseEvent> {
    let mut encoder = StreamEncoder::new(model);
    let mut out: Vec<SseEvent> = events.iter().flat_map(|e| encoder.encode(e)).collect();
    out.extend(encoder.finish());
    out
}

fn data(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).expect("data is JSON");
            assert_eq!(v["type"], e.event.as_str(), "event name repeats the type");
            v
        })
        .collect()
}

/// Checks Anthropic's invariants: message_start, blocks numbered from 0 that never
/// interleave, message_delta, message_stop last.
fn assert_well_formed(events: &[Value]) {
    assert_eq!(
        events.first().map(|e| &e["type"]),
        Some(&json!("message_start"))
    );
    assert_eq!(
        events.last().map(|e| &e["type"]),
        Some(&json!("message_stop"))
    );
    let mut open: Option<u64> = None;
    let mut next = 0;
    for e in events {
        let index = e["index"].as_u64();
        match e["type"].as_str().expect("type") {
            "content_block_start" => {
                assert!(open.is_none(), "block opened inside another: {e}");
                assert_eq!(index, Some(next));
                open = index;
                next += 1;
            }
            "content_block_delta" => assert_eq!(index, open, "delta outside its block: {e}"),
            "content_block_stop" => {
                assert_eq!(index, open);
                open = None;
            }
            "message_delta" | "message_stop" => assert!(open.is_none()),
            _ => {}
        }
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::TextDelta {
        choice: 0,
        text: t.into(),
    }
}

fn tool_start(index: u32, id: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        choice: 0,
        index,
        id: id.into(),
        name: "get_weather".into(),
        signature: None,
    }
}

fn tool_delta(index: u32, args: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        choice: 0,
        index,
        arguments: args.into(),
    }
}

#[test]
fn openai_style_text_stream_with_late_usage() {
    let events = [
        StreamEvent::Start {
            id: "chatcmpl-9x".into(),
            model: "gpt-4o".into(),
        },
        text("Hel"),
        text("lo"),
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Stop,
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 9,
            completion_tokens: 2,
            ..Usage::default()
        }),
    ];
    let out = encode_all("claude-sonnet-4-5", &events);
    let names: Vec<&str> = out.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let values = data(&out);
    assert_eq!(
        values[0],
        json!({"type": "message_start", "message": {
            "id": "msg_chatcmpl9x", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})
    );
    assert_eq!(
        values[2],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        values[4],
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}})
    );
    assert_eq!(
        values[6],
        json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 2}})
    );
    assert_well_formed(&values);
}

#[test]
fn sequential_tool_calls_stream_live_and_text_after_them_gets_its_own_block() {
    let events = [
        tool_start(0, "call_a"),
        tool_delta(0, "{\"city\":"),
        tool_delta(0, "\"Paris\"}"),
        tool_start(1, "call_b"),
        tool_delta(1, "{\"city\":\"Tokyo\"}"),
        text("done"),
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
        },
    ];
    let values = data(&encode_all("m", &events));
    assert_well_formed(&values);
    let body: Vec<Value> = values[2..values.len() - 2].to_vec();
    assert_eq!(
        body,
        [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Tokyo\"}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "done"}}),
            json!({"type": "content_block_stop", "index": 2}),
        ]
    );
    assert_eq!(values[values.len() - 2]["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        values[values.len() - 2]["usage"],
        json!({"output_tokens": 0})
    );
}

#[test]
fn interleaved_tool_calls_are_never_interleaved_on_the_wire() {
    let events = [
        tool_start(0, "call_a"),
        tool_delta(0, "{\"a\":"),
        tool_start(1, "call_b"),
        tool_delta(1, "{\"b\":"),
        tool_delta(0, "1}"),
        text("and "),
        tool_delta(1, "2}"),
        text("more"),
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
        },
    ];
    let values = data(&encode_all("m", &events));
    assert_well_formed(&values);
    // Collect each block's content.
    let mut blocks: Vec<(Value, String)> = Vec::new();
    for v in &values {
        match v["type"].as_str() {
            Some("content_block_start") => blocks.push((v["content_block"].clone(), String::new())),
            Some("content_block_delta") => {
                let d = &v["delta"];
                let piece = d["partial_json"]
                    .as_str()
                    .or(d["text"].as_str())
                    .expect("piece");
                blocks.last_mut().expect("open").1.push_str(piece);
            }
            _ => {}
        }
    }
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].0["id"], "call_a");
    assert_eq!(blocks[0].1, "{\"a\":1}");
    assert_eq!(blocks[1].0["id"], "call_b");
    assert_eq!(blocks[1].1, "{\"b\":2}");
    assert_eq!(blocks[2].0["type"], "text");
    assert_eq!(blocks[2].1, "and more");
}

#[test]
fn thinking_then_text_and_no_usage() {
    let events = [
        StreamEvent::ThinkingDelta {
            choice: 0,
            text: "Hmm.".into(),
        },
        StreamEvent::ThinkingSignature {
            choice: 0,
            signature: "sig-1".into(),
        },
        StreamEvent::RedactedThinking {
            choice: 0,
            data: "opaque".into(),
        },
        text("Answer"),
        StreamEvent::TextDelta {
            choice: 1,
            text: "other choice".into(),
        },
    ];
    let values = data(&encode_all("m", &events));
    assert_well_formed(&values);
    assert!(
        values[0]["message"]["id"]
            .as_str()
            .expect("id")
            .starts_with("msg_")
    );
    let body: Vec<Value> = values[2..values.len() - 2].to_vec();
    assert_eq!(
        body,
        [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-1"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "opaque"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Answer"}}),
            json!({"type": "content_block_stop", "index": 2}),
        ]
    );
    assert_eq!(values[values.len() - 2]["delta"]["stop_reason"], "end_turn");
}

#[test]
fn error_ends_the_stream() {
    let mut encoder = StreamEncoder::new("m");
    assert!(!encoder.encode(&text("partial")).is_empty());
    let err = ProviderError::new(ErrorKind::Overloaded, "Anthropic: Overloaded");
    let out = encoder.error(&err);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event, "error");
    assert_eq!(
        serde_json::from_str::<Value>(&out[0].data).expect("json"),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Anthropic: Overloaded"}})
    );
    assert!(encoder.finish().is_empty());
    assert!(encoder.encode(&text("late")).is_empty());
}

#[test]
fn empty_stream_still_is_a_complete_message() {
    let values = data(&encode_all("m", &[]));
    let names: Vec<&str> = values
        .iter()
        .map(|v| v["type"].as_str().expect("t"))
        .collect();
    assert_eq!(
        names,
        ["message_start", "ping", "message_delta", "message_stop"]
    );
}

/// The parts of an Anthropic event that must survive decode → encode: everything except pings,
/// empty fragments, and usage fields other than input and output tokens.
fn normalise(events: &[SseEvent]) -> Vec<Value> {
    data(events)
        .into_iter()
        .filter(|v| v["type"] != "ping" && v["delta"]["partial_json"] != "")
        .map(|mut v| {
            match v["type"].as_str() {
                Some("message_start") => {
                    let u = v["message"]["usage"].clone();
                    v["message"]["usage"] =
                        json!({"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"]});
                }
                Some("message_delta") => {
                    v["usage"] = json!({"output_tokens": v["usage"]["output_tokens"]});
                }
                _ => {}
            }
            v
        })
        .collect()
}

#[test]
fn anthropic_streams_round_trip_through_the_unified_events() {
    for text in [
        fixture!("stream_text.sse"),
        fixture!("stream_tool_use.sse"),
        fixture!("stream_thinking.sse"),
    ] {
        let original = parse_sse(text);
        let (unified, end) = decode(text);
        end.expect("complete");
        let encoded = encode_all("claude-sonnet-4-5-20250929", &unified);
        assert_well_formed(&data(&encoded));
        assert_eq!(normalise(&encoded), normalise(&original));
    }
}
