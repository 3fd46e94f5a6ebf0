//! Prepaid credits: the Stripe webhook (signatures, exactly-once, refunds, disputes, outages),
//! Checkout Sessions and auto-recharge on a local Stripe server (`webhook`), balance enforcement
//! on the data path (`data_path`) and the CLI (`cli`). Shared helpers live here.

mod cli;
mod data_path;
mod ui;
mod webhook;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use switchyard::billing;
use switchyard::config::{Billing, Secret, Settings};
use switchyard::control_plane::Actor;
use switchyard::domain::ids::TenantId;
use switchyard::domain::money::NanoUsd;
use switchyard::providers::ProviderKind;
use switchyard::storage::{Db, credits};

use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::stripe::{self, StripeServer};
use crate::common::{Backend, Gateway, add_provider, spawn_gateway};

/// The reservation for one request below: ~5 estimated prompt tokens at $1/M plus 100 output
/// tokens at $2/M.
const MAX_COST: i64 = 205_000;
/// What one request actually costs: 11 prompt tokens at $1/M and 7 completion tokens at $2/M.
const ACTUAL: i64 = 25_000;

fn configure_stripe(s: &mut Settings, api_base: &str) {
    s.stripe.api_base = api_base.to_owned();
    s.stripe.secret_key = Some(Secret::new(stripe::SECRET_KEY));
    s.stripe.webhook_secret = Some(Secret::new(stripe::WEBHOOK_SECRET));
}

/// A gateway with Stripe configured and, when `mock` is given, model `gpt` billed to credits
/// and `byok` billed to the tenant's own account (both served by the mock).
async fn gateway(
    backend: Backend,
    mock: Option<&MockProvider>,
    markup_pct: f64,
) -> Option<Gateway> {
    let url = mock.map(|m| m.base_url.clone());
    spawn_gateway(backend, move |s| {
        configure_stripe(s, "http://127.0.0.1:9");
        if let Some(url) = url {
            add_provider(
                s,
                "openai",
                ProviderKind::Openai,
                &url,
                &["gpt", "byok", "embed:emb"],
            );
            for model in s.models.iter_mut().filter(|m| m.name != "byok") {
                model.billing = Billing::Credits;
                model.markup_pct = markup_pct;
            }
        }
    })
    .await
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Delivers `payload` with the given `Stripe-Signature` header (none: no header).
async fn deliver_raw(gw: &Gateway, payload: &str, signature: Option<&str>) -> reqwest::Response {
    let mut req = gw
        .app
        .client
        .post(format!("{}/webhooks/stripe", gw.app.address))
        .header("content-type", "application/json")
        .body(payload.to_owned());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    req.send().await.expect("webhook request")
}

/// Delivers an event signed like Stripe; returns the status.
async fn deliver(gw: &Gateway, event: &Value) -> u16 {
    let payload = event.to_string();
    let sig = stripe::signature(&payload, stripe::WEBHOOK_SECRET, now_secs());
    deliver_raw(gw, &payload, Some(&sig))
        .await
        .status()
        .as_u16()
}

async fn balance(db: &Db, tenant: &TenantId) -> (i64, i64) {
    let b = billing::balance(db, tenant).await.expect("balance");
    (b.balance_nusd, b.reserved_nusd)
}

/// Checks the ledger: every transaction sums to zero across accounts, and the `balance` account
/// sums to the cached balance.
async fn assert_ledger_consistent(db: &Db, tenant: &TenantId) {
    let entries = credits::entries(db, tenant.as_str())
        .await
        .expect("entries");
    let mut per_tx = std::collections::BTreeMap::<String, i64>::new();
    for e in &entries {
        *per_tx.entry(e.transaction_id.clone()).or_default() += e.amount_nusd;
    }
    for (tx, sum) in &per_tx {
        assert_eq!(*sum, 0, "transaction {tx} does not sum to zero");
    }
    let on_balance: i64 = entries
        .iter()
        .filter(|e| e.account == credits::BALANCE)
        .map(|e| e.amount_nusd)
        .sum();
    let ledger = billing::ledger(db, tenant, 10_000).await.expect("ledger");
    let by_transactions: i64 = ledger.iter().map(|t| t.amount_nusd).sum();
    let (cached, _) = balance(db, tenant).await;
    assert_eq!(on_balance, cached, "Σ balance entries == balance");
    assert_eq!(by_transactions, cached, "Σ transactions == balance");
}

async fn ledger_len(db: &Db, tenant: &TenantId) -> usize {
    billing::ledger(db, tenant, 10_000)
        .await
        .expect("ledger")
        .len()
}

async fn wait_for_settlements(db: &Db, tenant: &TenantId) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let b = balance(db, tenant).await;
        if b.1 == 0 || Instant::now() >= deadline {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes a Postgres database refuse (and drop) every connection, or accept them again.
async fn allow_connections(admin: &str, db: &str, allow: bool) {
    use sqlx::{Connection, Executor, PgConnection};
    let mut conn = PgConnection::connect(admin)
        .await
        .expect("admin connection");
    let sql = format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS {allow}");
    conn.execute(sqlx::AssertSqlSafe(sql))
        .await
        .expect("alter database");
    if !allow {
        let kill = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        );
        conn.execute(sqlx::AssertSqlSafe(kill))
            .await
            .expect("terminate");
    }
    conn.close().await.ok();
}
