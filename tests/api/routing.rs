//! Routes: fallbacks across wire formats, weighted splits, rules, retries with `retry-after`,
//! circuit breaking, and cancellation reaching the provider.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchyard::config::{RouteSettings, Settings};
use switchyard::providers::ProviderKind;

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::providers::anthropic::AnthropicMock;
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events};

fn route(text: &str) -> RouteSettings {
    toml::from_str(text).expect("route TOML")
}

async fn gateway(configure: impl FnOnce(&mut Settings) + Send + 'static) -> Option<Gateway> {
    spawn_gateway(Backend::Sqlite, configure).await
}

fn chat(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_primary_is_answered_by_a_fallback_in_another_wire_format() {
    let primary = MockProvider::start(MockBehavior {
        delay: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let fallback = AnthropicMock::start().await;
    let (p, f) = (primary.base_url.clone(), fallback.base_url.clone());
    let Some(gw) = gateway(move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &p, &["gpt"]);
        add_provider(s, "anthropic", ProviderKind::Anthropic, &f, &["claude"]);
        s.routes.push(route(
            r#"
            name = "chat"
            strategy = "ordered"
            targets = [{ model = "gpt" }]
            fallbacks = ["claude"]
            timeout = "400ms"
            first_token_timeout = "400ms"
            "#,
        ));
    })
    .await
    else {
        return;
    };
    let started = Instant::now();
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("chat", "hi"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-switchyard-route"), "chat");
    assert_eq!(header(&res, "x-switchyard-provider"), "anthropic");
    assert_eq!(header(&res, "x-switchyard-model"), "claude-upstream");
    assert_eq!(header(&res, "x-switchyard-attempts"), "2");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: hi");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let mut req = chat("chat", "stream please");
    req["stream"] = json!(true);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &req)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-switchyard-provider"), "anthropic");
    let events = sse_events(res).await;
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let text: String = events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: stream please");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_90_10_split_lands_within_three_points() {
    let a = MockProvider::start(MockBehavior::default()).await;
    let b = MockProvider::start(MockBehavior::default()).await;
    let (ua, ub) = (a.base_url.clone(), b.base_url.clone());
    let Some(gw) = gateway(move |s| {
        add_provider(s, "a", ProviderKind::Openai, &ua, &["cheap"]);
        add_provider(s, "b", ProviderKind::Openai, &ub, &["strong"]);
        s.routes.push(route(
            r#"
            name = "split"
            targets = [{ model = "cheap", weight = 90 }, { model = "strong", weight = 10 }]
            "#,
        ));
    })
    .await
    else {
        return;
    };
    let total = 2000;
    let body = chat("split", "x");
    let results: Vec<u16> = futures_util::stream::iter(0..total)
        .map(|_| {
            let (app, key, body) = (&gw.app, &gw.key, &body);
            async move {
                app.post_json("/v1/chat/completions", key, body)
                    .await
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200));
    let share = a.received().len() as f64 / total as f64;
    assert_eq!(a.received().len() + b.received().len(), total);
    assert!((0.87..=0.93).contains(&share), "cheap share {share}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pick_their_targets() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = gateway(move |s| {
        add_provider(
            s,
            "p",
            ProviderKind::Openai,
            &url,
            &["big", "sum", "gold", "tools", "short"],
        );
        s.routes.push(route(
            r#"
            name = "smart"
            targets = [{ model = "big" }]
            [[rules]]
            when = { tag = "summarize" }
            targets = [{ model = "sum" }]
            [[rules]]
            when = { header = { name = "x-tier", value = "gold" } }
            targets = [{ model = "gold" }]
            [[rules]]
            when = { has_tools = true }
            targets = [{ model = "tools" }]
            [[rules]]
            when = { max_prompt_tokens = 20 }
            targets = [{ model = "short" }]
            "#,
        ));
    })
    .await
    else {
        return;
    };
    let long = "word ".repeat(100);
    let served = |res: reqwest::Response| header(&res, "x-switchyard-model");
    let post = |body: Value, headers: Vec<(&'static str, &'static str)>| {
        let mut req = gw
            .app
            .client
            .post(format!("{}/v1/chat/completions", gw.app.address))
            .bearer_auth(&gw.key)
            .json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let mut tagged = chat("smart", &long);
    tagged["metadata"] = json!({ "tags": ["summarize"] });
    assert_eq!(
        served(post(tagged, vec![]).await.expect("send")),
        "sum-upstream"
    );
    let by_header = post(
        chat("smart", &long),
        vec![("x-switchyard-tags", "other, summarize")],
    );
    assert_eq!(served(by_header.await.expect("send")), "sum-upstream");
    let gold = post(chat("smart", &long), vec![("x-tier", "gold")]);
    assert_eq!(served(gold.await.expect("send")), "gold-upstream");
    let mut with_tools = chat("smart", &long);
    with_tools["tools"] =
        json!([{ "type": "function", "function": { "name": "f", "parameters": {} } }]);
    assert_eq!(
        served(post(with_tools, vec![]).await.expect("send")),
        "tools-upstream"
    );
    assert_eq!(
        served(post(chat("smart", "hi"), vec![]).await.expect("send")),
        "short-upstream"
    );
    assert_eq!(
        served(post(chat("smart", &long), vec![]).await.expect("send")),
        "big-upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after_or_skipped_when_the_deadline_is_shorter() {
    let limited = MockProvider::start(MockBehavior {
        status: 429,
        fail_first: 1,
        ..Default::default()
    })
    .await;
    let backup = MockProvider::start(MockBehavior::default()).await;
    let (l, b) = (limited.base_url.clone(), backup.base_url.clone());
    let Some(gw) = gateway(move |s| {
        add_provider(s, "limited", ProviderKind::Openai, &l, &["main"]);
        add_provider(s, "backup", ProviderKind::Openai, &b, &["spare"]);
        s.routes.push(route(
            r#"
            name = "patient"
            targets = [{ model = "main" }]
            fallbacks = ["spare"]
            retries = 2
            deadline = "10s"
            "#,
        ));
        s.routes.push(route(
            r#"
            name = "hurried"
            targets = [{ model = "main" }]
            fallbacks = ["spare"]
            retries = 2
            deadline = "600ms"
            "#,
        ));
    })
    .await
    else {
        return;
    };
    let started = Instant::now();
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("patient", "x"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-switchyard-provider"), "limited");
    assert_eq!(header(&res, "x-switchyard-attempts"), "2");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried too early: {:?}",
        started.elapsed()
    );
    assert!(backup.received().is_empty());

    limited.set_behavior(MockBehavior {
        status: 429,
        fail_first: 3,
        ..Default::default()
    });
    let started = Instant::now();
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("hurried", "x"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-switchyard-provider"), "backup");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "waited instead of falling back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_is_ejected_and_stops_costing_its_timeout() {
    let hanging = MockProvider::start(MockBehavior {
        delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let backup = MockProvider::start(MockBehavior::default()).await;
    let (h, b) = (hanging.base_url.clone(), backup.base_url.clone());
    let Some(gw) = gateway(move |s| {
        add_provider(s, "hanging", ProviderKind::Openai, &h, &["main"]);
        add_provider(s, "backup", ProviderKind::Openai, &b, &["spare"]);
        s.routing.failure_threshold = 3;
        s.routing.cooldown = Duration::from_secs(30);
        s.routes.push(route(
            r#"
            name = "r"
            strategy = "ordered"
            targets = [{ model = "main" }]
            fallbacks = ["spare"]
            timeout = "300ms"
            "#,
        ));
    })
    .await
    else {
        return;
    };
    for i in 0..6 {
        let started = Instant::now();
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &chat("r", "x"))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-switchyard-provider"), "backup");
        let took = started.elapsed();
        if i < 3 {
            assert!(
                took >= Duration::from_millis(300),
                "request {i} took {took:?}"
            );
        } else {
            assert!(
                took < Duration::from_millis(200),
                "request {i} still paid the timeout: {took:?}"
            );
            assert_eq!(header(&res, "x-switchyard-attempts"), "1");
        }
    }
    assert_eq!(
        hanging.received().len(),
        3,
        "no traffic reached the ejected provider"
    );
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(r#"switchyard_deployment_ejected{deployment="main"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"switchyard_deployment_ejections_total{deployment="main"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_disconnects_cancels_the_upstream_request() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = gateway(move |s| {
        add_provider(s, "p", ProviderKind::Openai, &url, &["m"]);
    })
    .await
    else {
        return;
    };
    let mut req = chat("m", "[mock:slow-stream]");
    req["stream"] = json!(true);
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &req)
        .await;
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let first = body.next().await.expect("a chunk").expect("bytes");
    assert!(!first.is_empty());
    assert!(mock.cancelled_at().is_none());
    drop(body);
    let dropped = Instant::now();
    let deadline = dropped + Duration::from_secs(3);
    while mock.cancelled_at().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancelled = mock
        .cancelled_at()
        .expect("the provider saw the cancellation");
    let lag = cancelled.saturating_duration_since(dropped);
    eprintln!("upstream cancelled {lag:?} after the caller disconnected");
    assert!(
        lag <= Duration::from_millis(100),
        "upstream cancelled {lag:?} after the caller left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_route_shadows_the_platform_route_for_that_tenant_only() {
    use switchyard::control_plane::{Actor, keys, routes};
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = gateway(move |s| {
        add_provider(s, "p", ProviderKind::Openai, &url, &["a", "b"]);
        s.routes.push(route(
            r#"name = "chat"
targets = [{ model = "a" }]"#,
        ));
    })
    .await
    else {
        return;
    };
    let own = routes::parse_toml("name = \"chat\"\ntargets = [{ model = \"b\" }]").expect("toml");
    routes::set(&gw.app.db, &gw.tenant, own, &["a", "b"], Actor::CLI)
        .await
        .expect("set");
    let other = gw.app.create_tenant("Globex").await.tenant_id;
    let other_key = gw.app.mint_key(&other, keys::KeySpec::default()).await.key;
    gw.app.wait_for_policy().await;
    let served = |key: String| {
        let app = &gw.app;
        async move {
            let res = app
                .post_json("/v1/chat/completions", &key, &chat("chat", "x"))
                .await;
            header(&res, "x-switchyard-model")
        }
    };
    assert_eq!(served(gw.key.clone()).await, "b-upstream");
    assert_eq!(served(other_key.clone()).await, "a-upstream");

    routes::delete(&gw.app.db, &gw.tenant, "chat", Actor::CLI)
        .await
        .expect("delete");
    let deleted = Instant::now();
    while served(gw.key.clone()).await != "a-upstream" {
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "the platform route did not come back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn route_commands_validate_and_store_tenant_routes() {
    use crate::common::{run_binary, stderr, stdout};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[[providers]]\nname = \"p\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [[models]]\nname = \"small\"\nprovider = \"p\"\n[[models]]\nname = \"large\"\nprovider = \"p\"\n",
    )
    .expect("config");
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let config = config.display().to_string();
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("SWITCHYARD_CONFIG", config.as_str()),
    ];
    let run = |args: &[&str]| run_binary(args, &env);
    let out = run(&[
        "tenant",
        "create",
        "Acme",
        "--admin-email",
        "a@acme.test",
        "--admin-password",
        "correct horse battery",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "name = \"chat\"\nstrategy = \"ordered\"\ntargets = [{ model = \"small\" }]\nfallbacks = [\"large\"]\ntimeout = \"10s\"\n").expect("route");
    let out = run(&[
        "route",
        "set",
        "--tenant",
        "Acme",
        "--file",
        good.to_str().expect("path"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(saved["name"], "chat");
    assert_eq!(saved["definition"]["fallbacks"], json!(["large"]));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"chat\"\ntargets = [{ model = \"huge\" }]\n").expect("route");
    let out = run(&[
        "route",
        "set",
        "--tenant",
        "Acme",
        "--file",
        bad.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`huge`"), "{}", stderr(&out));
    std::fs::write(&bad, "name = \"chat\"\ntargets = [{ modle = \"small\" }]\n").expect("route");
    let out = run(&[
        "route",
        "set",
        "--tenant",
        "Acme",
        "--file",
        bad.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("modle"),
        "{}",
        stderr(&out)
    );

    let listed: Value = serde_json::from_str(&stdout(&run(&[
        "route", "list", "--tenant", "Acme", "--json",
    ])))
    .expect("json");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "the bad definitions changed nothing"
    );
    assert!(
        run(&["route", "delete", "chat", "--tenant", "Acme"])
            .status
            .success()
    );
    let out = run(&["route", "delete", "chat", "--tenant", "Acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ejected_provider_is_probed_after_its_cooldown_and_comes_back() {
    let flaky = MockProvider::start(MockBehavior {
        status: 503,
        fail_first: 3,
        ..Default::default()
    })
    .await;
    let backup = MockProvider::start(MockBehavior::default()).await;
    let (f, b) = (flaky.base_url.clone(), backup.base_url.clone());
    let Some(gw) = gateway(move |s| {
        add_provider(s, "flaky", ProviderKind::Openai, &f, &["main"]);
        add_provider(s, "backup", ProviderKind::Openai, &b, &["spare"]);
        s.routing.failure_threshold = 3;
        s.routing.cooldown = Duration::from_millis(300);
        s.routes.push(route(
            "name = \"r\"\nstrategy = \"ordered\"\ntargets = [{ model = \"main\" }]\nfallbacks = [\"spare\"]\n",
        ));
    })
    .await
    else {
        return;
    };
    let provider = |res: reqwest::Response| header(&res, "x-switchyard-provider");
    for _ in 0..3 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &chat("r", "x"))
            .await;
        assert_eq!(provider(res), "backup");
    }
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("r", "x"))
        .await;
    assert_eq!(provider(res), "backup", "ejected during the cooldown");
    assert_eq!(flaky.received().len(), 3);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("r", "x"))
        .await;
    assert_eq!(provider(res), "flaky", "the probe found it healthy again");
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("r", "x"))
        .await;
    assert_eq!(provider(res), "flaky");
    let metrics = gw.app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(r#"switchyard_deployment_ejected{deployment="main"} 0"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stalls_is_cut_with_an_error_and_its_upstream_released() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = gateway(move |s| {
        add_provider(s, "p", ProviderKind::Openai, &url, &["m"]);
        s.routing.stream_idle_timeout = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    let mut req = chat("m", "[mock:stall]");
    req["stream"] = json!(true);
    let started = Instant::now();
    let events = sse_events(
        gw.app
            .post_json("/v1/chat/completions", &gw.key, &req)
            .await,
    )
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the stalled stream hung for {took:?}"
    );
    let last: Value = serde_json::from_str(&events.last().expect("events").1).expect("json");
    assert_eq!(last["error"]["type"], "timeout_error", "{events:?}");
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
    let deadline = Instant::now() + Duration::from_secs(2);
    while mock.cancelled_at().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        mock.cancelled_at().is_some(),
        "the upstream connection was not released"
    );
}
