//! The Stripe webhook and Checkout: signatures, exactly-once, refunds, disputes, outages, auto-recharge.

use super::*;
use crate::on_both_backends;

on_both_backends!(
    a_signed_checkout_completion_credits_exactly_once,
    refunds_and_disputes_debit_the_original_purchase,
    random_purchases_usage_and_refunds_keep_the_ledger_balanced,
    a_database_outage_during_a_webhook_is_a_5xx_that_stripe_retries,
    auto_recharge_charges_the_saved_card_at_most_once_an_hour,
);

async fn a_signed_checkout_completion_credits_exactly_once(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let tenant = gw.tenant.as_str();
    // The charge's event may come first: its receipt link waits for the purchase.
    let charge = stripe::charge_succeeded("pi_once", "ch_once", 2_500);
    assert_eq!(deliver(&gw, &charge).await, 200);
    let event = stripe::paid_session(tenant, 2_500, "pi_once");
    for _ in 0..3 {
        assert_eq!(deliver(&gw, &event).await, 200);
    }
    assert_eq!(
        balance(&gw.app.db, &gw.tenant).await.0,
        25 * NanoUsd::PER_USD
    );
    let purchase = billing::ledger(&gw.app.db, &gw.tenant, 1)
        .await
        .expect("ledger")
        .pop()
        .expect("purchase");
    assert_eq!(
        purchase.receipt_url.as_deref(),
        Some("https://pay.stripe.com/receipts/ch_once")
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
        &gw.app.address,
    )
    .await
    .expect("checkout");
    assert!(
        session
            .url
            .starts_with(&format!("{}/c/pay/", server.base_url)),
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
        &gw.app.address,
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
        &gw.app.address,
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
    billing::checkout::checkout(
        &gw.app.settings,
        db,
        &gw.tenant,
        NanoUsd(5 * usd),
        &gw.app.address,
    )
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
