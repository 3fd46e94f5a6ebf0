//! Reasoning state survives turns for OpenAI-format callers: Anthropic thinking signatures and
//! Gemini thought signatures reach the provider again on the next turn, for the same tenant only.

use serde_json::{Value, json};
use switchyard::control_plane::keys;
use switchyard::providers::ProviderKind;

use crate::common::providers::anthropic::AnthropicMock;
use crate::common::providers::gemini::GeminiMock;
use crate::common::{Gateway, sse_events};
use crate::translation::gateway;

fn first_turn(stream: bool) -> Value {
    json!({
        "model": "m",
        "reasoning_effort": "low",
        "stream": stream,
        "messages": [{ "role": "user", "content": "what's the weather?" }],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "parameters": { "type": "object" } } }]
    })
}

/// The assistant turn as an OpenAI caller would send it back, and the tool result.
fn second_turn(call: &Value) -> Value {
    json!({
        "model": "m",
        "reasoning_effort": "low",
        "messages": [
            { "role": "user", "content": "what's the weather?" },
            { "role": "assistant", "content": null, "tool_calls": [call] },
            { "role": "tool", "tool_call_id": call["id"], "content": "sunny" }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "parameters": { "type": "object" } } }]
    })
}

async fn tool_call_non_streamed(gw: &Gateway, key: &str) -> Value {
    let body: Value = gw
        .app
        .post_json("/v1/chat/completions", key, &first_turn(false))
        .await
        .json()
        .await
        .expect("json");
    body["choices"][0]["message"]["tool_calls"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_signatures_come_back_on_the_next_turn() {
    let mock = AnthropicMock::start().await;
    let Some(gw) = gateway(ProviderKind::Anthropic, &mock.base_url).await else {
        return;
    };
    let call = tool_call_non_streamed(&gw, &gw.key).await;
    assert_eq!(call["function"]["name"], "get_weather");

    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &second_turn(&call))
        .await;
    assert_eq!(res.status(), 200);
    let sent = mock.received().last().expect("second request").body.clone();
    let assistant = &sent["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["content"][0],
        json!({ "type": "thinking", "thinking": "Let me think.", "signature": "sig-mock-1" }),
        "{sent}"
    );
    assert_eq!(assistant["content"][1]["type"], "tool_use");
    assert_eq!(assistant["content"][1]["id"], call["id"]);

    // Another tenant replaying the same call id gets nothing back.
    let other = gw.app.create_tenant("Globex").await.tenant_id;
    let other_key = gw.app.mint_key(&other, keys::KeySpec::default()).await.key;
    gw.app.wait_for_policy().await;
    gw.app
        .post_json("/v1/chat/completions", &other_key, &second_turn(&call))
        .await;
    let sent = mock.received().last().expect("third request").body.clone();
    assert_eq!(
        sent["messages"][1]["content"][0]["type"], "tool_use",
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_thought_signatures_survive_a_streamed_turn() {
    let mock = GeminiMock::start().await;
    let Some(gw) = gateway(ProviderKind::Gemini, &mock.base_url).await else {
        return;
    };
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &first_turn(true))
            .await,
    )
    .await;
    let mut call = json!({ "type": "function", "function": { "name": "", "arguments": "" } });
    for (_, data) in events.iter().filter(|(_, d)| d != "[DONE]") {
        let chunk: Value = serde_json::from_str(data).expect("chunk");
        for c in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(id) = c["id"].as_str() {
                call["id"] = json!(id);
                call["function"]["name"] = c["function"]["name"].clone();
            }
            let args = call["function"]["arguments"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
                + c["function"]["arguments"].as_str().unwrap_or_default();
            call["function"]["arguments"] = json!(args);
        }
    }
    assert_eq!(call["function"]["name"], "get_weather", "{events:?}");

    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &second_turn(&call))
        .await;
    assert_eq!(res.status(), 200);
    let sent = mock.received().last().expect("second request").body.clone();
    let model_turn = sent["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .find(|c| c["role"] == "model")
        .expect("model turn")
        .clone();
    let function_part = model_turn["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p.get("functionCall").is_some())
        .expect("function call part")
        .clone();
    assert_eq!(function_part["thoughtSignature"], "sig-mock-1", "{sent}");
}
