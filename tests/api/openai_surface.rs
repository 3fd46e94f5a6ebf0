//! `/v1/chat/completions`, `/v1/embeddings` and `/v1/models` against an OpenAI-format provider
//! reached over HTTP.

use serde_json::{Value, json};
use switchyard::control_plane::{Actor, keys};
use switchyard::providers::ProviderKind;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events};
use crate::on_both_backends;

on_both_backends!(
    keys_are_checked_on_every_call,
    revocation_reaches_the_data_path_within_a_second
);

async fn openai_gateway(backend: Backend) -> Option<(Gateway, MockProvider)> {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let gw = spawn_gateway(backend, |s| {
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &base,
            &["gpt-4o", "embed:text-embedding-3-small"],
        );
    })
    .await?;
    Some((gw, mock))
}

fn chat(text: &str) -> Value {
    json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": text }] })
}

async fn keys_are_checked_on_every_call(backend: Backend) {
    let Some((gw, mock)) = openai_gateway(backend).await else {
        return;
    };
    let url = format!("{}/v1/chat/completions", gw.app.address);
    let missing = gw
        .app
        .client
        .post(&url)
        .json(&chat("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "missing_api_key");

    let wrong = gw
        .app
        .post_json("/v1/chat/completions", "sy_live_nope", &chat("hi"))
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["error"]["code"],
        "invalid_api_key"
    );

    let via_header = gw
        .app
        .client
        .post(&url)
        .header("x-api-key", &gw.key)
        .json(&chat("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(via_header.status(), 200);
    // Only the successful call reached the provider, with the provider's own credential.
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer sk-upstream-openai")
    );
}

async fn revocation_reaches_the_data_path_within_a_second(backend: Backend) {
    let Some((gw, _mock)) = openai_gateway(backend).await else {
        return;
    };
    let issued = gw.app.mint_key(&gw.tenant, keys::KeySpec::default()).await;
    gw.app.wait_for_policy().await;
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &issued.key, &chat("a"))
            .await
            .status(),
        200
    );
    keys::revoke(&gw.app.db, &gw.tenant, &issued.id, Actor::CLI)
        .await
        .expect("revoke");
    let revoked_at = std::time::Instant::now();
    loop {
        let status = gw
            .app
            .post_json("/v1/chat/completions", &issued.key, &chat("a"))
            .await
            .status();
        if status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "still accepted after 1s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The other key is unaffected.
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &chat("a"))
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_chat_is_forwarded_with_the_upstream_model() {
    let Some((gw, mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            &gw.key,
            &json!({
                "model": "gpt-4o",
                "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "hi there" }],
                "temperature": 0.2,
                "some_future_field": { "kept": true }
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-switchyard-provider"], "openai");
    assert_eq!(res.headers()["x-switchyard-model"], "gpt-4o-upstream");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: hi there");
    assert_eq!(body["usage"]["total_tokens"], 18);
    let sent = &mock.received()[0].body;
    assert_eq!(sent["model"], "gpt-4o-upstream");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(
        sent["some_future_field"],
        json!({ "kept": true }),
        "unknown fields pass through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chat_relays_chunks_and_strips_the_usage_chunk_unless_asked() {
    let Some((gw, mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let mut req = chat("stream me please");
    req["stream"] = json!(true);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &req)
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let events = sse_events(res).await;
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("chunk json"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: stream me please");
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().expect("choices").is_empty()),
        "no usage chunk"
    );
    // Usage was still requested upstream, so it is never lost.
    assert_eq!(
        mock.received()[0].body["stream_options"]["include_usage"],
        true
    );

    req["stream_options"] = json!({ "include_usage": true });
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tool_call_arguments_arrive_intact() {
    let Some((gw, _mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let req = json!({
        "model": "gpt-4o", "stream": true,
        "messages": [{ "role": "user", "content": "weather, parallel please" }],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "parameters": { "type": "object" } } }]
    });
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let mut args = [String::new(), String::new()];
    let mut ids = Vec::new();
    for (_, data) in &events {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(data).expect("chunk");
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = call["index"].as_u64().expect("index") as usize;
            if let Some(id) = call["id"].as_str() {
                ids.push(id.to_owned());
            }
            args[i].push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(ids, ["call_mock0", "call_mock1"]);
    assert_eq!(args[0], r#"{"city":"Paris","days":3}"#);
    assert_eq!(args[1], r#"{"city":"Tokyo","days":1}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_openai_errors() {
    let Some((gw, mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let cases = [
        (json!({ "messages": [] }), 400, "model"),
        (json!({ "model": "gpt-4o" }), 400, "messages"),
        (
            json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "x" }], "temperature": "hot" }),
            400,
            "temperature",
        ),
        (
            json!({ "model": "gpt-4o", "messages": [{ "role": "wizard", "content": "x" }] }),
            400,
            "messages[0].role",
        ),
        (
            json!({ "model": "gpt-5-nope", "messages": [{ "role": "user", "content": "x" }] }),
            404,
            "model",
        ),
        (
            json!({ "model": "text-embedding-3-small", "messages": [{ "role": "user", "content": "x" }] }),
            400,
            "model",
        ),
    ];
    for (body, status, param) in cases {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), status, "{body}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"]["param"], param, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(err["error"]["type"].is_string());
    }
    let malformed = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.expect("json")["error"]["type"],
        "invalid_request_error"
    );

    let huge = "x".repeat(gw.app.settings.server.max_body_bytes + 1);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat(&huge))
        .await;
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "request_too_large"
    );
    assert!(
        mock.received().is_empty(),
        "no bad request reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_keep_their_status_and_retry_after() {
    let Some((gw, _mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("[mock:status=429]"))
        .await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let err: Value = res.json().await.expect("json");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("OpenAI: ")
    );
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("[mock:status=503]"))
        .await;
    assert_eq!(res.status(), 503);

    let mut req = chat("[mock:midstream-error]");
    req["stream"] = json!(true);
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let last: Value = serde_json::from_str(&events.last().expect("events").1).expect("json");
    assert_eq!(
        last["error"]["type"], "server_error",
        "the stream ends with an error event"
    );
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_cannot_be_reached_is_a_502() {
    let Some(gw) = spawn_gateway(Backend::Sqlite, |s| {
        add_provider(
            s,
            "down",
            ProviderKind::Openai,
            "http://127.0.0.1:9/v1",
            &["gpt-4o"],
        );
    })
    .await
    else {
        return;
    };
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("hi"))
        .await;
    assert_eq!(res.status(), 502);
    let err: Value = res.json().await.expect("json");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("could not connect to down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_only_what_the_key_may_use() {
    let Some((gw, _mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let all: Value = gw
        .app
        .client
        .get(format!("{}/v1/models", gw.app.address))
        .bearer_auth(&gw.key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(all["object"], "list");
    assert_eq!(all["data"].as_array().expect("data").len(), 2);

    let limited = gw
        .app
        .mint_key(
            &gw.tenant,
            keys::KeySpec {
                models: vec!["gpt-4o".into()],
                ..Default::default()
            },
        )
        .await;
    gw.app.wait_for_policy().await;
    let listed: Value = gw
        .app
        .client
        .get(format!("{}/v1/models", gw.app.address))
        .bearer_auth(&limited.key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed["data"],
        json!([{ "id": "gpt-4o", "object": "model", "created": 0, "owned_by": "openai" }])
    );
    let denied = gw
        .app
        .post_json(
            "/v1/embeddings",
            &limited.key,
            &json!({ "model": "text-embedding-3-small", "input": "x" }),
        )
        .await;
    assert_eq!(denied.status(), 403);
    assert_eq!(
        denied.json::<Value>().await.expect("json")["error"]["code"],
        "model_not_allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_forwarded() {
    let Some((gw, mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let res = gw
        .app
        .post_json(
            "/v1/embeddings",
            &gw.key,
            &json!({ "model": "text-embedding-3-small", "input": ["a", "b"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["data"].as_array().expect("data").len(), 2);
    assert_eq!(mock.received()[0].path, "/v1/embeddings");
    assert_eq!(
        mock.received()[0].body["model"],
        "text-embedding-3-small-upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_without_provider_usage_get_an_estimate_marked_as_such() {
    let mock = MockProvider::start(MockBehavior {
        omit_usage: true,
        ..Default::default()
    })
    .await;
    let base = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(
            s,
            "local",
            ProviderKind::OpenaiCompatible,
            &base,
            &["llama"],
        );
    })
    .await
    else {
        return;
    };
    let req = json!({
        "model": "llama", "stream": true, "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "count me" }]
    });
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["estimated"], true);
    // "Echo: count me" is 14 characters: 4 tokens at 4 characters per token.
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    assert!(usage["usage"]["prompt_tokens"].as_u64().expect("prompt") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_names_the_parameter_a_target_cannot_honour() {
    let mock = crate::common::providers::anthropic::AnthropicMock::start().await;
    let Some(gw) = crate::translation::gateway(ProviderKind::Anthropic, &mock.base_url).await
    else {
        return;
    };
    let body =
        json!({ "model": "m", "seed": 7, "messages": [{ "role": "user", "content": "hi" }] });
    let lenient = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body)
        .await;
    assert_eq!(lenient.status(), 200);
    assert!(
        mock.received()[0].body.get("seed").is_none(),
        "dropped without strict mode"
    );

    let strict = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(&gw.key)
        .header("x-switchyard-strict", "true")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(strict.status(), 400);
    let err: Value = strict.json().await.expect("json");
    assert_eq!(err["error"]["param"], "seed", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("seed")
    );
    assert_eq!(
        mock.received().len(),
        1,
        "the strict request never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_keys_old_secret_works_during_the_grace_period_only() {
    let Some((gw, _mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let original = gw.app.mint_key(&gw.tenant, keys::KeySpec::default()).await;
    gw.app.wait_for_policy().await;
    let rotated = keys::rotate(
        &gw.app.db,
        &gw.tenant,
        &original.id,
        std::time::Duration::from_millis(1500),
        Actor::CLI,
    )
    .await
    .expect("rotate");
    gw.app.wait_for_policy().await;
    let status = |key: String| {
        let app = &gw.app;
        async move {
            app.post_json("/v1/chat/completions", &key, &chat("x"))
                .await
                .status()
        }
    };
    assert_eq!(
        status(rotated.key.clone()).await,
        200,
        "the new secret works"
    );
    assert_eq!(
        status(original.key.clone()).await,
        200,
        "the old secret works during the grace"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(
        status(original.key.clone()).await,
        401,
        "the old secret stops after the grace"
    );
    assert_eq!(status(rotated.key.clone()).await, 200);
}

async fn call_from(gw: &Gateway, key: &str, headers: &[(&str, &str)]) -> reqwest::StatusCode {
    let mut req = gw
        .app
        .client
        .post(format!("{}/v1/chat/completions", gw.app.address))
        .bearer_auth(key)
        .json(&chat("x"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_allowlists_and_origins_are_enforced_and_forwarded_for_is_not_spoofable() {
    let Some((gw, mock)) = openai_gateway(Backend::Sqlite).await else {
        return;
    };
    let mint = |ips: &[&str], origins: &[&str]| {
        let spec = keys::KeySpec {
            allowed_ips: ips.iter().map(|s| (*s).to_owned()).collect(),
            allowed_referrers: origins.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        gw.app.mint_key(&gw.tenant, spec)
    };
    let local = mint(&["127.0.0.0/8", "::1"], &[]).await.key;
    let remote = mint(&["203.0.113.0/24"], &[]).await.key;
    let browser = mint(&[], &["https://*.example.com"]).await.key;
    gw.app.wait_for_policy().await;

    assert_eq!(call_from(&gw, &local, &[]).await, 200);
    let denied = gw
        .app
        .post_json("/v1/chat/completions", &remote, &chat("x"))
        .await;
    assert_eq!(denied.status(), 403);
    let err: Value = denied.json().await.expect("json");
    assert_eq!(err["error"]["code"], "ip_not_allowed");
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    assert_eq!(
        call_from(&gw, &remote, &[("x-forwarded-for", "203.0.113.9")]).await,
        403
    );

    assert_eq!(
        call_from(&gw, &browser, &[("origin", "https://app.example.com")]).await,
        200
    );
    assert_eq!(
        call_from(&gw, &browser, &[("origin", "https://evil.io")]).await,
        403
    );
    assert_eq!(call_from(&gw, &browser, &[]).await, 403);
    assert_eq!(
        mock.received().len(),
        2,
        "refused calls never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_from_a_trusted_proxy() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &base, &["gpt-4o"]);
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await
    else {
        return;
    };
    let spec = keys::KeySpec {
        allowed_ips: vec!["203.0.113.0/24".into()],
        ..Default::default()
    };
    let remote = gw.app.mint_key(&gw.tenant, spec).await.key;
    gw.app.wait_for_policy().await;
    assert_eq!(
        call_from(&gw, &remote, &[("x-forwarded-for", "203.0.113.9")]).await,
        200
    );
    assert_eq!(
        call_from(
            &gw,
            &remote,
            &[("x-forwarded-for", "203.0.113.9, 198.51.100.1")]
        )
        .await,
        403
    );
    assert_eq!(call_from(&gw, &remote, &[]).await, 403);
}
