//! PII policies on the data path: tokenized values reach the provider as placeholders and come
//! back restored (complete and streamed answers, OpenAI and Anthropic callers, placeholders
//! split across stream chunks); `block` refuses with `pii_blocked`; `redact` sends `[EMAIL]`;
//! the request log keeps counts, never values; the CLI sets, shows and clears policies.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::control_plane::{Actor, keys, pii};
use switchyard::policy::pii::{Action, PiiPolicy};
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;
use switchyard::storage::pii_settings::Level;

use crate::common::mock_provider::{MockBehavior, MockProvider, last_user_text};
use crate::common::providers::anthropic::AnthropicMock;
use crate::common::{Backend, Gateway, add_provider, spawn_gateway, sse_events, stderr, stdout};
use crate::on_both_backends;

on_both_backends!(tokenized_values_are_restored_for_openai_and_anthropic_callers);
on_both_backends!(blocked_types_are_refused_and_redacted_ones_replaced);
on_both_backends!(the_cli_sets_shows_and_clears_policies);

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4242 4242 4242 4242";

/// Upstream this becomes `Mail [EMAIL_1] card [CARD_1]`; the mocks echo it as `Echo: …` in
/// 8-character deltas: `Echo: Ma`, `il [EMAI`, `L_1] car`, `d [CARD_`, `1]` — both placeholders
/// are split across chunks.
fn prompt() -> String {
    format!("Mail {EMAIL} card {CARD}")
}

async fn gateway(backend: Backend) -> Option<(Gateway, MockProvider, AnthropicMock)> {
    let openai = MockProvider::start(MockBehavior::default()).await;
    let anthropic = AnthropicMock::start().await;
    let (o, a) = (openai.base_url.clone(), anthropic.base_url.clone());
    let gw = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &o, &["gpt"]);
        add_provider(s, "anthropic", ProviderKind::Anthropic, &a, &["claude"]);
    })
    .await?;
    Some((gw, openai, anthropic))
}

async fn set_policy(gw: &Gateway, level: &Level, policy: PiiPolicy) {
    pii::put(&gw.app.db, &gw.tenant, level, &policy, Actor::CLI)
        .await
        .expect("set policy");
    gw.app.wait_for_policy().await;
}

async fn openai_call(gw: &Gateway, key: &str, text: &str, stream: bool) -> (u16, Value, String) {
    let body = json!({ "model": "gpt", "stream": stream,
        "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": text }] });
    let res = gw.app.post_json("/v1/chat/completions", key, &body).await;
    let status = res.status().as_u16();
    if stream && status == 200 {
        let text: String = sse_events(res)
            .await
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        return (status, Value::Null, text);
    }
    let v: Value = res.json().await.expect("json");
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, v, text)
}

async fn anthropic_call(gw: &Gateway, text: &str, stream: bool) -> (u16, Value, String) {
    let body = json!({ "model": "claude", "max_tokens": 50, "stream": stream, "system": "Be brief.",
        "messages": [{ "role": "user", "content": text }] });
    let res = gw
        .app
        .client
        .post(format!("{}/v1/messages", gw.app.address))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = res.status().as_u16();
    if stream && status == 200 {
        let text: String = sse_events(res)
            .await
            .iter()
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
            .filter(|e| e["type"] == "content_block_delta")
            .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
            .collect();
        return (status, Value::Null, text);
    }
    let v: Value = res.json().await.expect("json");
    let text = v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, v, text)
}

/// The user text of an Anthropic-format request body.
fn anthropic_user_text(body: &Value) -> String {
    match &body["messages"][0]["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct LogRow {
    pii_counts: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

async fn log_rows(db: &Db, n: usize) -> Vec<LogRow> {
    let sql =
        "SELECT pii_counts, error_code, error_message FROM request_logs ORDER BY created_at, id";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows: Vec<LogRow> = match db {
            Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
            Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        };
        if rows.len() >= n || Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn tokenized_values_are_restored_for_openai_and_anthropic_callers(backend: Backend) {
    let Some((gw, openai, anthropic)) = gateway(backend).await else {
        return;
    };
    let policy = PiiPolicy {
        email: Some(Action::Tokenize),
        card: Some(Action::Tokenize),
        ..Default::default()
    };
    set_policy(&gw, &Level::Tenant, policy).await;
    let upstream = "Mail [EMAIL_1] card [CARD_1]";
    let echoed = format!("Echo: {upstream}");
    let boundaries: Vec<usize> = (8..echoed.len()).step_by(8).collect();
    for placeholder in ["[EMAIL_1]", "[CARD_1]"] {
        let at = echoed.find(placeholder).expect("placeholder");
        assert!(
            boundaries
                .iter()
                .any(|b| *b > at && *b < at + placeholder.len()),
            "the mock's 8-character deltas must split {placeholder}"
        );
    }
    let want = format!("Echo: {}", prompt());

    for stream in [false, true] {
        let (status, body, text) = openai_call(&gw, &gw.key, &prompt(), stream).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(text, want, "openai caller, stream={stream}");
        let (status, body, text) = anthropic_call(&gw, &prompt(), stream).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(text, want, "anthropic caller, stream={stream}");
    }
    let seen = openai.received();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(last_user_text(&r.body), upstream);
        assert!(!r.body.to_string().contains(EMAIL));
    }
    let seen = anthropic.received();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(anthropic_user_text(&r.body), upstream);
        assert!(!r.body.to_string().contains("4242"));
    }

    let rows = log_rows(&gw.app.db, 4).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        let counts: Value =
            serde_json::from_str(row.pii_counts.as_deref().expect("counts")).expect("json");
        assert_eq!(counts, json!({ "card": 1, "email": 1 }));
    }
}

async fn blocked_types_are_refused_and_redacted_ones_replaced(backend: Backend) {
    let Some((gw, openai, _anthropic)) = gateway(backend).await else {
        return;
    };
    let policy = PiiPolicy {
        email: Some(Action::Redact),
        card: Some(Action::Block),
        ..Default::default()
    };
    set_policy(&gw, &Level::Tenant, policy).await;

    let (status, body, _) = openai_call(&gw, &gw.key, &prompt(), false).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "pii_blocked");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("card"), "{message}");
    assert!(!message.contains("4242"), "{message}");
    let (status, body, _) = anthropic_call(&gw, &prompt(), true).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("card")
    );
    assert!(openai.received().is_empty(), "blocked requests never leave");

    let (status, body, text) = openai_call(&gw, &gw.key, &format!("Mail {EMAIL}"), false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_user_text(&openai.received()[0].body), "Mail [EMAIL]");
    assert_eq!(text, "Echo: Mail [EMAIL]");

    // A key-level `allow` switches the tenant's rule off for that key only.
    let other = gw.app.mint_key(&gw.tenant, keys::KeySpec::default()).await;
    let key_policy = PiiPolicy {
        email: Some(Action::Allow),
        ..Default::default()
    };
    set_policy(&gw, &Level::Key(other.id.clone()), key_policy).await;
    let (status, _, text) = openai_call(&gw, &other.key, &format!("Mail {EMAIL}"), false).await;
    assert_eq!(status, 200);
    assert_eq!(text, format!("Echo: Mail {EMAIL}"));

    let rows = log_rows(&gw.app.db, 4).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[0].error_code.as_deref(), Some("pii_blocked"));
    for row in &rows[..3] {
        assert!(
            row.pii_counts
                .as_deref()
                .is_some_and(|c| c.contains("\"email\":1")),
            "{row:?}"
        );
        assert!(
            !row.error_message
                .as_deref()
                .unwrap_or_default()
                .contains(EMAIL)
        );
    }
    assert_eq!(rows[3].pii_counts, None, "an allowed type is not scanned");
}

async fn the_cli_sets_shows_and_clears_policies(backend: Backend) {
    let Some((gw, openai, _anthropic)) = gateway(backend).await else {
        return;
    };
    let out = gw.app.cli(&[
        "pii",
        "set",
        "--tenant",
        "Acme",
        "--team",
        "default",
        "--email",
        "mask",
        "--custom",
        "EMPLOYEE_ID=E-[0-9]{6}:tokenize",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = gw.app.cli(&[
        "pii", "show", "--tenant", "Acme", "--team", "default", "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        shown,
        json!({ "email": "mask", "custom": [{ "name": "EMPLOYEE_ID", "pattern": "E-[0-9]{6}", "action": "tokenize" }] })
    );
    let bad = gw.app.cli(&[
        "pii",
        "set",
        "--tenant",
        "Acme",
        "--custom",
        "EMAIL=x:redact",
    ]);
    assert!(!bad.status.success());
    let bad = gw
        .app
        .cli(&["pii", "set", "--tenant", "Acme", "--card", "shred"]);
    assert!(!bad.status.success());

    // A key of the default team gets the team policy.
    let member = gw
        .app
        .mint_key(
            &gw.tenant,
            keys::KeySpec {
                team: Some("default".into()),
                ..Default::default()
            },
        )
        .await;
    gw.app.wait_for_policy().await;
    let (status, _, text) =
        openai_call(&gw, &member.key, &format!("{EMAIL} is E-123456"), false).await;
    assert_eq!(status, 200);
    assert_eq!(
        last_user_text(&openai.received()[0].body),
        "j***@e***.com is [EMPLOYEE_ID_1]"
    );
    assert_eq!(text, "Echo: j***@e***.com is E-123456");

    let out = gw
        .app
        .cli(&["pii", "clear", "--tenant", "Acme", "--team", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    gw.app.wait_for_policy().await;
    let (_, _, text) = openai_call(&gw, &member.key, EMAIL, false).await;
    assert_eq!(text, format!("Echo: {EMAIL}"));
    let audit: Vec<(String,)> = {
        let sql =
            "SELECT action FROM audit_log WHERE object_type = 'pii_policy' ORDER BY created_at";
        match &gw.app.db {
            Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("audit"),
            Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("audit"),
        }
    };
    let actions: Vec<&str> = audit.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(actions, ["pii.set", "pii.clear"]);
}
