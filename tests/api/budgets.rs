//! Budgets hold under concurrency: reserve the maximum cost before the call, settle the actual
//! cost after, on SQLite and Postgres.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchyard::control_plane::keys;
use switchyard::domain::budget::BudgetPeriod;
use switchyard::domain::money::NanoUsd;
use switchyard::policy::budget::period_start;
use switchyard::providers::ProviderKind;
use switchyard::storage::spend::{self, Charge};

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, add_provider, spawn_gateway};
use crate::on_both_backends;

on_both_backends!(concurrent_requests_never_overspend_a_budget_by_more_than_one_request);

/// The reservation for one request below: ~5 estimated prompt tokens at $1/M plus 100 output
/// tokens at $2/M.
const MAX_COST: i64 = 205_000;
/// What one request actually costs: 11 prompt tokens at $1/M and 7 completion tokens at $2/M.
const ACTUAL: i64 = 25_000;

async fn concurrent_requests_never_overspend_a_budget_by_more_than_one_request(backend: Backend) {
    let mock = MockProvider::start(MockBehavior {
        delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(backend, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
    })
    .await
    else {
        return;
    };
    let limit = 10 * MAX_COST;
    let spec = keys::KeySpec {
        budget: Some(NanoUsd(limit)),
        budget_period: BudgetPeriod::Monthly,
        ..Default::default()
    };
    let issued = gw.app.mint_key(&gw.tenant, spec).await;
    gw.app.wait_for_policy().await;

    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    let statuses: Vec<(u16, Value)> = futures_util::stream::iter(0..200)
        .map(|_| {
            let (app, key, body) = (&gw.app, &issued.key, &body);
            async move {
                let res = app.post_json("/v1/chat/completions", key, body).await;
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    let admitted = statuses.iter().filter(|(s, _)| *s == 200).count() as i64;
    for (status, body) in &statuses {
        if *status != 200 {
            assert_eq!(*status, 429, "{body}");
            assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .expect("message")
                    .contains("key budget")
            );
        }
    }
    assert!(admitted >= 10, "only {admitted} admitted");

    let charge = Charge {
        budget_id: String::new(),
        thresholds: Vec::new(),
        tenant_id: gw.tenant.to_string(),
        scope_type: "key".into(),
        scope_id: issued.id.clone(),
        period: "monthly".into(),
        period_start: period_start("monthly", switchyard::domain::time::now_millis()),
        limit_nusd: limit,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (spent, reserved) = loop {
        let totals = spend::totals(&gw.app.db, &charge).await.expect("totals");
        // Settlement (and, with the local arbiter, the spend write) happens after the answer.
        if (totals.1 == 0 && totals.0 == admitted * ACTUAL) || Instant::now() >= deadline {
            break totals;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reserved, 0, "every reservation was settled");
    assert_eq!(spent, admitted * ACTUAL, "spend is the sum of actual costs");
    assert!(
        spent <= limit + MAX_COST,
        "overspent: {spent} > {limit} + {MAX_COST}"
    );
    assert_eq!(
        mock.received().len() as i64,
        admitted,
        "refused calls never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_budgets_set_from_the_command_line_are_enforced() {
    use crate::common::{run_binary, stderr, stdout};
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
    })
    .await
    else {
        return;
    };
    let member = gw
        .app
        .mint_key(
            &gw.tenant,
            keys::KeySpec {
                team: Some("default".into()),
                ..Default::default()
            },
        )
        .await
        .key;
    let outsider = gw
        .app
        .mint_key(&gw.tenant, keys::KeySpec::default())
        .await
        .key;
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    gw.app.wait_for_policy().await;
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &member, &body)
            .await
            .status(),
        200
    );

    let env = [("DATABASE_URL", gw.app.test_db.url.as_str())];
    let set = run_binary(
        &[
            "budget",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "team:default",
            "--usd",
            "0.0001",
            "--period",
            "daily",
        ],
        &env,
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let bad = run_binary(
        &[
            "budget",
            "set",
            "--tenant",
            "Acme",
            "--scope",
            "team:ghosts",
            "--usd",
            "1",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("team `ghosts` does not exist"),
        "{}",
        stderr(&bad)
    );
    let listed: Value = serde_json::from_str(&stdout(&run_binary(
        &["budget", "list", "--tenant", "Acme", "--json"],
        &env,
    )))
    .expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["period"], "daily");

    gw.app.wait_for_policy().await;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &member, &body)
        .await;
    assert_eq!(res.status(), 429);
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["code"], "budget_exceeded");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("team budget"),
        "{err}"
    );
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &outsider, &body)
            .await
            .status(),
        200,
        "other teams are unaffected"
    );

    let deleted = run_binary(
        &[
            "budget",
            "delete",
            "--tenant",
            "Acme",
            "--scope",
            "team:default",
            "--period",
            "daily",
        ],
        &env,
    );
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    gw.app.wait_for_policy().await;
    assert_eq!(
        gw.app
            .post_json("/v1/chat/completions", &member, &body)
            .await
            .status(),
        200
    );
}

/// On SQLite without Redis this process alone arbitrates budgets (in memory, under an exclusive
/// lock beside the database file), so a second gateway on the same file is refused at start with
/// a message saying why; with Redis configured, replicas share the file and the database decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_a_locally_arbitrated_sqlite_file_is_refused() {
    use switchyard::startup::Application;
    use switchyard::storage::Db;
    let Some(gw) = spawn_gateway(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let settings = gw.app.settings.clone();
    let db = Db::connect(&gw.app.test_db.url, &settings.database)
        .await
        .expect("connect");
    let refused = Application::build_with_db(settings, db, None).await;
    let message = match refused {
        Ok(_) => panic!("a second gateway started on a locally arbitrated SQLite file"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("already served by another Switchyard process"),
        "{message}"
    );
}
