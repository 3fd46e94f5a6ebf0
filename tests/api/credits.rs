//! Prepaid credits: the Stripe webhook (signatures, exactly-once, refunds, disputes, outages),
//! Checkout Sessions on a local Stripe server, and balance enforcement on the data path.

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
use crate::on_both_backends;

on_both_backends!(
    auto_recharge_charges_the_saved_card_at_most_once_an_hour,
    a_signed_checkout_completion_credits_exactly_once,
    refunds_and_disputes_debit_the_original_purchase,
    random_purchases_usage_and_refunds_keep_the_ledger_balanced,
    concurrent_settlements_share_one_usage_transaction_per_day,
    concurrent_requests_never_overdraw_credits_by_more_than_one_request,
    byok_models_never_touch_the_balance_and_markup_applies,
    an_empty_balance_is_a_402_in_the_callers_format,
    a_database_outage_during_a_webhook_is_a_5xx_that_stripe_retries,
);

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

async fn a_signed_checkout_completion_credits_exactly_once(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let tenant = gw.tenant.as_str();
    let event = stripe::paid_session(tenant, 2_500, "pi_once");
    for _ in 0..3 {
        assert_eq!(deliver(&gw, &event).await, 200);
    }
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await.0,
        25 * NanoUsd::PER_USD
    );

    // Five concurrent deliveries of one event apply once.
    let event = stripe::paid_session(tenant, 1_000, "pi_concurrent");
    let statuses = futures_util::future::join_all((0..5).map(|_| deliver(&gw, &event))).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await.0,
        35 * NanoUsd::PER_USD
    );
    assert_eq!(ledger_len(&gw.app.db, &gw.tenant).await, 2);

    // Tampered, stale, wrong-secret and missing signatures: 400 and nothing changes.
    let event = stripe::paid_session(tenant, 9_900, "pi_forged");
    let payload = event.to_string();
    let good = stripe::signature(&payload, stripe::WEBHOOK_SECRET, now_secs());
    let tampered = payload.replace("9900", "99000");
    assert_ne!(tampered, payload);
    let stale = stripe::signature(&payload, stripe::WEBHOOK_SECRET, now_secs() - 600);
    let just_stale = stripe::signature(&payload, stripe::WEBHOOK_SECRET, now_secs() - 301);
    let wrong = stripe::signature(&payload, "whsec_someone_else", now_secs());
    for (body, sig) in [
        (&tampered, Some(good.as_str())),
        (&payload, Some(stale.as_str())),
        (&payload, Some(just_stale.as_str())),
        (&payload, Some(wrong.as_str())),
        (&payload, Some("t=123")),
        (&payload, None),
    ] {
        let res = deliver_raw(&gw, body, sig).await;
        assert_eq!(res.status(), 400, "signature {sig:?}");
    }
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await.0,
        35 * NanoUsd::PER_USD
    );
    assert_eq!(ledger_len(&gw.app.db, &gw.tenant).await, 2);

    // Events we do not act on are acknowledged and ignored.
    let other = stripe::event(
        "customer.created",
        json!({ "id": "cus_1", "object": "customer" }),
    );
    assert_eq!(deliver(&gw, &other).await, 200);
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn refunds_and_disputes_debit_the_original_purchase(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let usd = NanoUsd::PER_USD;
    let tenant = gw.tenant.as_str();
    assert_eq!(
        deliver(&gw, &stripe::paid_session(tenant, 5_000, "pi_r")).await,
        200
    );
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 50 * usd);

    let first = stripe::charge_refunded("pi_r", "ch_r", 5_000, 1_000);
    assert_eq!(deliver(&gw, &first).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 40 * usd);
    // A second partial refund: Stripe's amount_refunded is cumulative.
    let second = stripe::charge_refunded("pi_r", "ch_r", 5_000, 1_500);
    assert_eq!(deliver(&gw, &second).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 35 * usd);
    // The same event again, and an older state delivered late, change nothing.
    assert_eq!(deliver(&gw, &first).await, 200);
    let late = stripe::charge_refunded("pi_r", "ch_r", 5_000, 1_000);
    assert_eq!(deliver(&gw, &late).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 35 * usd);

    let dispute = stripe::dispute_created("pi_r", "ch_r", 2_000);
    assert_eq!(deliver(&gw, &dispute).await, 200);
    assert_eq!(deliver(&gw, &dispute).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 15 * usd);

    // A refund of a charge that bought no credits is ignored.
    let unknown = stripe::charge_refunded("pi_unknown", "ch_x", 1_000, 1_000);
    assert_eq!(deliver(&gw, &unknown).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 15 * usd);

    let kinds: Vec<String> = billing::ledger(&gw.app.db, &gw.tenant, 10)
        .await
        .expect("ledger")
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, ["dispute", "refund", "refund", "purchase"]);
    let purchase = billing::ledger(&gw.app.db, &gw.tenant, 10)
        .await
        .expect("ledger")
        .pop()
        .expect("purchase");
    assert_eq!(
        purchase.receipt_url.as_deref(),
        Some("https://pay.stripe.com/receipts/ch_r"),
        "the receipt link comes with the charge"
    );
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn random_purchases_usage_and_refunds_keep_the_ledger_balanced(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let seed: u64 = std::env::var("CREDITS_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tenant = gw.tenant.as_str();
    let mut purchases: Vec<(String, i64, i64)> = Vec::new(); // (intent, cents, refunded)
    let mut expected = 0i64;
    for step in 0..40 {
        match rng.random_range(0..4) {
            0 => {
                let cents = rng.random_range(100..10_000);
                let intent = format!("pi_p{step}");
                assert_eq!(
                    deliver(&gw, &stripe::paid_session(tenant, cents, &intent)).await,
                    200
                );
                purchases.push((intent, cents, 0));
                expected += cents * billing::NUSD_PER_CENT;
            }
            1 if !purchases.is_empty() => {
                let i = rng.random_range(0..purchases.len());
                let (intent, cents, refunded) = purchases[i].clone();
                let total = (refunded + rng.random_range(0..=cents / 2)).min(cents);
                let event = stripe::charge_refunded(&intent, &format!("ch_{intent}"), cents, total);
                assert_eq!(deliver(&gw, &event).await, 200);
                expected -= (total - refunded) * billing::NUSD_PER_CENT;
                purchases[i].2 = total;
            }
            _ => {
                let reserve = rng.random_range(1..5_000_000);
                let actual = rng.random_range(0..=reserve);
                if credits::reserve(&gw.app.db, tenant, reserve, 0)
                    .await
                    .expect("reserve")
                {
                    let day = if rng.random_bool(0.5) {
                        "2026-11-24"
                    } else {
                        "2026-11-25"
                    };
                    credits::settle(
                        &gw.app.db,
                        &credits::UsageSettlement {
                            tenant_id: tenant,
                            reserved_nusd: reserve,
                            actual_nusd: actual,
                            day,
                            now: 0,
                        },
                    )
                    .await
                    .expect("settle");
                    expected -= actual;
                }
            }
        }
    }
    let (cached, reserved) = balance(&gw.app.db, &gw.tenant).await;
    assert_eq!(cached, expected, "seed {seed}");
    assert_eq!(reserved, 0, "seed {seed}");
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn concurrent_requests_never_overdraw_credits_by_more_than_one_request(backend: Backend) {
    let mock = MockProvider::start(MockBehavior {
        delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let Some(gw) = gateway(backend, Some(&mock), 0.0).await else {
        return;
    };
    let initial = 5 * MAX_COST;
    billing::grant(&gw.app.db, &gw.tenant, initial, "test credits", Actor::CLI)
        .await
        .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    let statuses: Vec<(u16, Value)> = futures_util::stream::iter(0..100)
        .map(|_| {
            let (app, key, body) = (&gw.app, &gw.key, &body);
            async move {
                let res = app.post_json("/v1/chat/completions", key, body).await;
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let admitted = statuses.iter().filter(|(s, _)| *s == 200).count() as i64;
    for (status, body) in &statuses {
        if *status != 200 {
            assert_eq!(*status, 402, "{body}");
            assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
        }
    }
    assert!(admitted >= 5, "only {admitted} admitted");
    assert!(admitted < 100, "the balance was never exhausted");
    let (after, reserved) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert_eq!(reserved, 0, "every reservation was settled");
    assert_eq!(after, initial - admitted * ACTUAL);
    assert!(
        after >= -MAX_COST,
        "overdrawn by more than one request: {after}"
    );
    eprintln!(
        "{backend:?}: 100 concurrent requests on a balance of {initial} nUSD: {admitted} admitted, \
         final balance {after} nUSD"
    );
    assert_eq!(
        mock.received().len() as i64,
        admitted,
        "refused calls never reached the provider"
    );
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
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

async fn byok_models_never_touch_the_balance_and_markup_applies(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(gw) = gateway(backend, Some(&mock), 50.0).await else {
        return;
    };
    let chat = |model: &str| json!({ "model": model, "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    // BYOK works at a zero balance and leaves the ledger empty.
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("byok"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await, (0, 0));
    assert_eq!(ledger_len(&gw.app.db, &gw.tenant).await, 0);

    billing::grant(&gw.app.db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    for _ in 0..3 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &chat("byok"))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    let (after, _) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert_eq!(
        after,
        NanoUsd::PER_USD - ACTUAL * 3 / 2,
        "cost plus 50 % markup"
    );
    // One usage transaction per UTC day takes every draw-down.
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &chat("gpt"))
        .await;
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 != NanoUsd::PER_USD - ACTUAL * 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ledger = billing::ledger(&gw.app.db, &gw.tenant, 10)
        .await
        .expect("ledger");
    let usage: Vec<_> = ledger.iter().filter(|t| t.kind == "usage").collect();
    assert_eq!(usage.len(), 1, "{ledger:?}");
    assert_eq!(usage[0].amount_nusd, -ACTUAL * 3);

    // A stream settles when it ends.
    let mut streamed = chat("gpt");
    streamed["stream"] = json!(true);
    let before = balance(&gw.app.db, &gw.tenant).await.0;
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &streamed)
        .await;
    assert_eq!(res.status(), 200);
    let events = crate::common::sse_events(res).await;
    assert!(!events.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, reserved) = wait_for_settlements(&gw.app.db, &gw.tenant).await;
    assert!(after < before, "the stream was charged");
    assert_eq!(reserved, 0);
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn an_empty_balance_is_a_402_in_the_callers_format(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(gw) = gateway(backend, Some(&mock), 0.0).await else {
        return;
    };
    let res = gw
        .app
        .post_json(
            "/v1/chat/completions",
            &gw.key,
            &json!({ "model": "gpt", "messages": [{ "role": "user", "content": "x" }] }),
        )
        .await;
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("credit")
    );

    let res = gw
        .app
        .client
        .post(format!("{}/v1/messages", gw.app.address))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({ "model": "gpt", "max_tokens": 10, "messages": [{ "role": "user", "content": "x" }] }))
        .send()
        .await
        .expect("messages");
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "billing_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("credit")
    );
    let res = gw
        .app
        .post_json(
            "/v1/embeddings",
            &gw.key,
            &json!({ "model": "emb", "input": "x" }),
        )
        .await;
    assert_eq!(res.status(), 402);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
    assert!(mock.received().is_empty(), "nothing reached the provider");
    assert_eq!(balance(&gw.app.db, &gw.tenant).await, (0, 0));
}

async fn a_database_outage_during_a_webhook_is_a_5xx_that_stripe_retries(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let event = stripe::paid_session(gw.tenant.as_str(), 2_000, "pi_outage");
    match backend {
        Backend::Sqlite => {
            gw.app.db.close().await;
            let status = deliver(&gw, &event).await;
            assert!((500..600).contains(&status), "{status}");
        }
        Backend::Postgres => {
            let Some(admin) = crate::common::db::postgres_admin_url() else {
                return;
            };
            let name = gw
                .app
                .test_db
                .url
                .rsplit('/')
                .next()
                .expect("db name")
                .to_owned();
            allow_connections(&admin, &name, false).await;
            let status = deliver(&gw, &event).await;
            allow_connections(&admin, &name, true).await;
            assert!((500..600).contains(&status), "{status}");
            // Stripe's retry succeeds once the database is back.
            assert_eq!(deliver(&gw, &event).await, 200);
            assert_eq!(
                balance(&gw.app.db, &gw.tenant).await.0,
                20 * NanoUsd::PER_USD
            );
            assert_eq!(deliver(&gw, &event).await, 200);
            assert_eq!(
                balance(&gw.app.db, &gw.tenant).await.0,
                20 * NanoUsd::PER_USD
            );
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_creates_a_session_on_stripe_and_its_completion_credits_the_tenant() {
    let server = StripeServer::start().await;
    let base = server.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| configure_stripe(s, &base)).await else {
        return;
    };
    let session = billing::checkout::checkout(
        &gw.app.settings,
        &gw.app.db,
        &gw.tenant,
        NanoUsd(25 * NanoUsd::PER_USD),
    )
    .await
    .expect("checkout");
    assert!(
        session.url.starts_with("https://checkout.stripe.com/"),
        "{}",
        session.url
    );
    let created = server.sessions();
    assert_eq!(created.len(), 1);
    let form = &created[0].form;
    let tenant = gw.tenant.as_str();
    assert_eq!(form["mode"], "payment");
    assert_eq!(form["client_reference_id"], tenant);
    assert_eq!(form["metadata[tenant_id]"], tenant);
    assert_eq!(form["metadata[amount_usd]"], "25.00");
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "2500");
    assert_eq!(form["line_items[0][price_data][currency]"], "usd");
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["payment_intent_data[metadata][tenant_id]"], tenant);
    assert_eq!(created[0].object["id"], session.id);

    // The buyer pays; Stripe delivers the completed session.
    let completed = stripe::session_completed(&created[0].object, "pi_checkout");
    assert_eq!(deliver(&gw, &completed).await, 200);
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await.0,
        25 * NanoUsd::PER_USD
    );

    // Amounts outside [billing] bounds never reach Stripe; Stripe's own errors are reported.
    let too_small = billing::checkout::checkout(
        &gw.app.settings,
        &gw.app.db,
        &gw.tenant,
        NanoUsd(NanoUsd::PER_USD),
    )
    .await;
    assert!(matches!(
        too_small,
        Err(billing::BillingError::AmountOutOfRange { .. })
    ));
    let mut wrong_key = gw.app.settings.clone();
    wrong_key.stripe.secret_key = Some(Secret::new("sk_test_wrong"));
    let refused = billing::checkout::checkout(
        &wrong_key,
        &gw.app.db,
        &gw.tenant,
        NanoUsd(10 * NanoUsd::PER_USD),
    )
    .await;
    match refused {
        Err(billing::BillingError::Stripe(message)) => {
            assert!(message.contains("Invalid API Key"), "{message}")
        }
        other => panic!("expected a Stripe error, got {other:?}"),
    }
    assert_eq!(server.sessions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_low_balance_alert_fires_once_per_crossing() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.models[0].billing = Billing::Credits;
        // Crossed by the third request.
        s.billing.low_balance_usd = Some(1.0);
    })
    .await
    else {
        return;
    };
    let threshold = NanoUsd::PER_USD;
    billing::grant(
        &gw.app.db,
        &gw.tenant,
        threshold + 2 * ACTUAL + ACTUAL / 2,
        "t",
        Actor::CLI,
    )
    .await
    .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    for _ in 0..6 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        wait_for_settlements(&gw.app.db, &gw.tenant).await;
    }
    let low = |rows: &[switchyard::storage::alerts::NotificationRow]| {
        rows.iter()
            .filter(|n| n.kind == "credits.low_balance")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let rows = switchyard::storage::alerts::notifications(&gw.app.db, &gw.tenant, 50)
            .await
            .expect("notifications");
        if low(&rows) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second (wrong) alert would have been raised by a later settlement, already awaited.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = switchyard::storage::alerts::notifications(&gw.app.db, &gw.tenant, 50)
        .await
        .expect("notifications");
    assert_eq!(low(&rows), 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credits_cli_shows_grants_lists_and_checks_out() {
    use crate::common::{run_binary, stderr, stdout};
    let server = StripeServer::start().await;
    let Some(app) = crate::common::spawn_app(Backend::Sqlite).await else {
        return;
    };
    let url = app.test_db.url.clone();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SWITCHYARD_STRIPE__API_BASE", server.base_url.as_str()),
        ("SWITCHYARD_STRIPE__SECRET_KEY", stripe::SECRET_KEY),
        ("SWITCHYARD_BILLING__TRIAL_CREDITS_USD", "5"),
    ];
    let run = |args: &[&str]| {
        let out = run_binary(args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    run(&[
        "tenant",
        "create",
        "Initech",
        "--admin-email",
        "owner@initech.test",
        "--admin-password",
        "correct horse battery staple",
    ]);
    let shown: Value =
        serde_json::from_str(&run(&["credits", "show", "--tenant", "Initech", "--json"]))
            .expect("json");
    assert_eq!(shown["balance_nusd"], 5 * NanoUsd::PER_USD, "trial credits");
    assert_eq!(shown["reserved_nusd"], 0);

    let granted = run(&[
        "credits", "grant", "--tenant", "Initech", "--usd", "2.50", "--reason", "goodwill",
    ]);
    assert!(granted.contains("$7.50"), "{granted}");
    run(&[
        "credits",
        "grant",
        "--tenant",
        "Initech",
        "--usd",
        "-1",
        "--reason",
        "correction",
    ]);
    let ledger: Value = serde_json::from_str(&run(&[
        "credits", "ledger", "--tenant", "Initech", "--json",
    ]))
    .expect("json");
    let kinds: Vec<&str> = ledger
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["adjustment", "adjustment", "trial"]);
    let tenant = switchyard::control_plane::tenants::resolve(&app.db, "Initech")
        .await
        .expect("resolve")
        .expect("tenant");
    let audit = switchyard::storage::audit::recent(&app.db, &tenant, 10)
        .await
        .expect("audit");
    assert_eq!(
        audit.iter().filter(|a| a.action == "credits.grant").count(),
        2
    );

    let out = run_binary(
        &[
            "credits", "grant", "--tenant", "Initech", "--usd", "1", "--reason", " ",
        ],
        &env,
    );
    assert!(!out.status.success());

    let on = run(&[
        "credits",
        "auto-recharge",
        "--tenant",
        "Initech",
        "--below",
        "1",
        "--amount",
        "10",
    ]);
    assert!(on.contains("auto-recharge on"), "{on}");
    let shown: Value =
        serde_json::from_str(&run(&["credits", "show", "--tenant", "Initech", "--json"]))
            .expect("json");
    assert_eq!(shown["auto_recharge_below_nusd"], NanoUsd::PER_USD);
    assert_eq!(shown["auto_recharge_amount_nusd"], 10 * NanoUsd::PER_USD);
    run(&["credits", "auto-recharge", "--tenant", "Initech", "--off"]);
    let shown: Value =
        serde_json::from_str(&run(&["credits", "show", "--tenant", "Initech", "--json"]))
            .expect("json");
    assert_eq!(shown["auto_recharge_amount_nusd"], Value::Null);
    let both = run_binary(
        &[
            "credits",
            "auto-recharge",
            "--tenant",
            "Initech",
            "--below",
            "1",
        ],
        &env,
    );
    assert!(!both.status.success(), "--below needs --amount");

    let link = run(&["credits", "checkout", "--tenant", "Initech", "--usd", "20"]);
    assert!(
        link.trim().starts_with("https://checkout.stripe.com/"),
        "{link}"
    );
    assert_eq!(
        server.sessions()[0].form["line_items[0][price_data][unit_amount]"],
        "2000"
    );
    assert_ledger_consistent(&app.db, &tenant).await;
}

async fn auto_recharge_charges_the_saved_card_at_most_once_an_hour(backend: Backend) {
    let server = StripeServer::start().await;
    let mock = MockProvider::start(MockBehavior::default()).await;
    let (base, url) = (server.base_url.clone(), mock.base_url.clone());
    let Some(gw) = spawn_gateway(backend, move |s| {
        configure_stripe(s, &base);
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.models[0].billing = Billing::Credits;
    })
    .await
    else {
        return;
    };
    let (db, tenant, usd) = (&gw.app.db, gw.tenant.as_str(), NanoUsd::PER_USD);
    billing::recharge::configure(db, &gw.tenant, Some((usd, 10 * usd)), Actor::CLI)
        .await
        .expect("configure");
    // The next Checkout saves the card; Stripe reports it with the payment intent.
    billing::checkout::checkout(&gw.app.settings, db, &gw.tenant, NanoUsd(5 * usd))
        .await
        .expect("checkout");
    let form = &server.sessions()[0].form;
    assert_eq!(
        form["payment_intent_data[setup_future_usage]"],
        "off_session"
    );
    assert_eq!(form["customer_creation"], "always");
    let completed = stripe::session_completed(&server.sessions()[0].object, "pi_first");
    assert_eq!(deliver(&gw, &completed).await, 200);
    let intent = stripe::checkout_intent(tenant, "pi_first", 500, "cus_saved", "pm_saved");
    assert_eq!(
        deliver(&gw, &stripe::payment_intent_succeeded(&intent)).await,
        200
    );
    assert_eq!(
        balance(db, &gw.tenant).await.0,
        5 * usd,
        "the checkout's intent credits nothing more"
    );

    // Just above the threshold: the second request crosses it.
    billing::grant(
        db,
        &gw.tenant,
        -(4 * usd) + ACTUAL * 3 / 2,
        "test",
        Actor::CLI,
    )
    .await
    .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "x" }] });
    for _ in 0..3 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        wait_for_settlements(db, &gw.tenant).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.intents().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let intents = server.intents();
    assert_eq!(intents.len(), 1);
    let form = &intents[0].form;
    assert_eq!(form["amount"], "1000");
    assert_eq!(form["currency"], "usd");
    assert_eq!(form["customer"], "cus_saved");
    assert_eq!(form["payment_method"], "pm_saved");
    assert_eq!(form["off_session"], "true");
    assert_eq!(form["confirm"], "true");
    assert_eq!(form["metadata[purpose]"], "auto_recharge");
    assert_eq!(form["metadata[tenant_id]"], tenant);

    // Credited when Stripe reports the payment, once.
    let before = balance(db, &gw.tenant).await.0;
    let succeeded = stripe::payment_intent_succeeded(&intents[0].object);
    assert_eq!(deliver(&gw, &succeeded).await, 200);
    assert_eq!(deliver(&gw, &succeeded).await, 200);
    assert_eq!(balance(db, &gw.tenant).await.0, before + 10 * usd);

    // Below the threshold again within the hour: no second charge.
    billing::grant(db, &gw.tenant, -(10 * usd), "test", Actor::CLI)
        .await
        .expect("grant");
    let res = gw
        .app
        .post_json("/v1/chat/completions", &gw.key, &body)
        .await;
    assert_eq!(res.status(), 200);
    wait_for_settlements(db, &gw.tenant).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.intents().len(), 1);
    let kinds: Vec<String> = billing::ledger(db, &gw.tenant, 20)
        .await
        .expect("ledger")
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "auto_recharge").count(),
        1,
        "{kinds:?}"
    );
    assert_ledger_consistent(db, &gw.tenant).await;
}

async fn concurrent_settlements_share_one_usage_transaction_per_day(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let (db, tenant) = (&gw.app.db, gw.tenant.as_str());
    billing::grant(db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    for _ in 0..20 {
        assert!(
            credits::reserve(db, tenant, 5_000, 0)
                .await
                .expect("reserve")
        );
    }
    let settlement = credits::UsageSettlement {
        tenant_id: tenant,
        reserved_nusd: 5_000,
        actual_nusd: 1_000,
        day: "2030-01-01",
        now: 0,
    };
    let settled =
        futures_util::future::join_all((0..20).map(|_| credits::settle(db, &settlement))).await;
    assert!(settled.iter().all(Result::is_ok), "{settled:?}");
    assert_eq!(
        balance(db, &gw.tenant).await,
        (NanoUsd::PER_USD - 20_000, 0)
    );
    let ledger = billing::ledger(db, &gw.tenant, 10).await.expect("ledger");
    let usage: Vec<_> = ledger.iter().filter(|t| t.kind == "usage").collect();
    assert_eq!(usage.len(), 1, "{ledger:?}");
    assert_eq!(usage[0].amount_nusd, -20_000);
    assert_ledger_consistent(db, &gw.tenant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_draws_no_credits() {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(gw) = spawn_gateway(Backend::Sqlite, move |s| {
        add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt"]);
        s.models[0].billing = Billing::Credits;
        s.cache.enabled = true;
    })
    .await
    else {
        return;
    };
    billing::grant(&gw.app.db, &gw.tenant, NanoUsd::PER_USD, "test", Actor::CLI)
        .await
        .expect("grant");
    let body = json!({ "model": "gpt", "max_tokens": 100, "messages": [{ "role": "user", "content": "cached" }] });
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let res = gw
            .app
            .post_json("/v1/chat/completions", &gw.key, &body)
            .await;
        assert_eq!(res.status(), 200);
        outcomes.push(
            res.headers()
                .get("x-switchyard-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<none>")
                .to_owned(),
        );
        wait_for_settlements(&gw.app.db, &gw.tenant).await;
    }
    assert_eq!(outcomes, ["miss", "hit"]);
    assert_eq!(mock.received().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while balance(&gw.app.db, &gw.tenant).await.0 == NanoUsd::PER_USD && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await,
        (NanoUsd::PER_USD - ACTUAL, 0),
        "only the miss was charged"
    );
}
