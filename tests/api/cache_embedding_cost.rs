//! The semantic cache's embedding call is paid like a `/v1/embeddings` call of the caller: its
//! cost lands in the key's spend counters beside the chat's, and a budget that cannot cover it
//! refuses it (the request then goes on without the semantic cache). `/v1/embeddings` itself
//! is charged to, and refused by, budgets the same way.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::control_plane::{Actor, budgets, keys};
use switchyard::domain::budget::BudgetPeriod;
use switchyard::domain::money::NanoUsd;
use switchyard::domain::time::now_millis;
use switchyard::policy::budget::period_start;
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;
use switchyard::storage::spend::{self, Charge};

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway};
use crate::on_both_backends;

on_both_backends!(a_semantic_miss_pays_its_embedding_from_the_callers_budgets);

const LIMIT: i64 = 1_000_000_000;

fn embedding_calls(mock: &MockProvider) -> usize {
    mock.received()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count()
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    endpoint: String,
    status: i64,
    cost_nusd: i64,
}

/// The request-log rows, once there are `n`.
async fn rows(db: &Db, n: usize) -> Vec<Row> {
    let sql = "SELECT endpoint, CAST(status AS BIGINT) AS status, cost_nusd FROM request_logs \
               ORDER BY created_at, id";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<Row> = match db {
            Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
            Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.expect("rows"),
        };
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key budget's (spent, reserved), once it has settled at `spent` with nothing reserved.
async fn key_spend(gw: &Gateway, key_id: &str, spent: i64) -> (i64, i64) {
    let charge = Charge {
        budget_id: String::new(),
        thresholds: Vec::new(),
        tenant_id: gw.tenant.to_string(),
        scope_type: "key".into(),
        scope_id: key_id.to_owned(),
        period: "monthly".into(),
        period_start: period_start("monthly", now_millis()),
        limit_nusd: LIMIT,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let totals = spend::totals(&gw.app.db, &charge).await.expect("totals");
        if totals == (spent, 0) || Instant::now() >= deadline {
            return totals;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn chat(gw: &Gateway, key: &str, text: &str) -> String {
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            key,
            &json!({ "model": "gpt", "messages": [{ "role": "user", "content": text }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.headers()["x-switchyard-cache"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn embed(gw: &Gateway, key: &str) -> (u16, Value) {
    let res = gw
        .app
        .post_json(
            "/v1/embeddings",
            key,
            &json!({ "model": "emb", "input": "a direct embedding" }),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn a_semantic_miss_pays_its_embedding_from_the_callers_budgets(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(
            s,
            "openai",
            ProviderKind::Openai,
            &url,
            &["gpt", "embed:emb"],
        );
        s.cache.enabled = true;
        s.cache.embedding_model = Some("emb".into());
    })
    .await
    else {
        return;
    };
    let spec = keys::KeySpec {
        budget: Some(NanoUsd(LIMIT)),
        budget_period: BudgetPeriod::Monthly,
        ..Default::default()
    };
    let issued = gw.app.mint_key(&gw.tenant, spec).await;
    gw.app.wait_for_policy().await;

    // A miss: one embedding call and one chat call, both charged to the key's budget.
    assert_eq!(
        chat(&gw, &issued.key, "What is the capital of France?").await,
        "miss"
    );
    assert_eq!(embedding_calls(&mock), 1);
    let found = rows(&gw.app.db, 2).await;
    let cost = |endpoint: &str| -> i64 {
        found
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .map(|r| r.cost_nusd)
            .sum()
    };
    let (embedding, chat_cost) = (cost("embeddings"), cost("chat.completions"));
    assert!(embedding > 0 && chat_cost > 0, "{found:?}");
    assert_eq!(
        key_spend(&gw, &issued.id, embedding + chat_cost).await,
        (embedding + chat_cost, 0),
        "the embedding's cost is in the key's spend, and its reservation was released"
    );

    // A direct /v1/embeddings call is charged the same way.
    let (status, body) = embed(&gw, &issued.key).await;
    assert_eq!(status, 200, "{body}");
    let found = rows(&gw.app.db, 3).await;
    let direct = found[2].cost_nusd;
    assert!(direct > 0, "{found:?}");
    let total = embedding + chat_cost + direct;
    assert_eq!(key_spend(&gw, &issued.id, total).await, (total, 0));

    // A budget on the embedding model that cannot cover an embedding refuses it: the cache
    // skips its embedding (the chat is still answered), and /v1/embeddings is a 429.
    let scope = budgets::resolve_scope(&gw.app.db, &gw.tenant, "model:emb")
        .await
        .expect("scope");
    budgets::set(
        &gw.app.db,
        &gw.tenant,
        &scope,
        NanoUsd(1),
        BudgetPeriod::Monthly,
        &[],
        Actor::CLI,
    )
    .await
    .expect("model budget");
    gw.app.wait_for_policy().await;
    let calls = embedding_calls(&mock);
    assert_eq!(
        chat(&gw, &issued.key, "Write a haiku about autumn").await,
        "miss"
    );
    assert_eq!(
        embedding_calls(&mock),
        calls,
        "the refused embedding was not made"
    );
    let (status, body) = embed(&gw, &issued.key).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    assert_eq!(embedding_calls(&mock), calls);
    let found = rows(&gw.app.db, 5).await;
    let last_chat = found
        .iter()
        .rev()
        .find(|r| r.endpoint == "chat.completions")
        .expect("chat row");
    assert_eq!(last_chat.status, 200);
    assert_eq!(
        found.iter().filter(|r| r.endpoint == "embeddings").count(),
        3,
        "two paid embeddings and the refused direct call's row: {found:?}"
    );
    let total = total + last_chat.cost_nusd;
    assert_eq!(
        key_spend(&gw, &issued.id, total).await,
        (total, 0),
        "nothing stays reserved after the refusals"
    );
}
