//! Credits in the dashboard (`/app/credits`) and the admin API (`/api/v1/credits…`): buying
//! through the local Stripe server's hosted checkout (signed webhooks, return to the page),
//! readable errors, roles, CSRF, ledger pages, auto-recharge, tenant isolation, trial credits;
//! and webhook events delivered out of order.

use reqwest::Method;
use switchyard::domain::role::Role;

use super::*;
use crate::common::dashboard::add_user;
use crate::common::dashboard::{Dashboard, with_token};
use crate::common::{TestApp, spawn_app_with};
use crate::dashboard_pages::{log_in, sign_up};
use crate::on_both_backends;
use crate::pages::csrf_field;

on_both_backends!(
    the_credits_page_buys_through_the_hosted_checkout_and_shows_the_balance,
    the_credits_api_reads_pages_buys_and_sets_auto_recharge,
    refunds_and_disputes_before_their_purchase_give_the_same_balance,
    a_won_dispute_credits_back_once_and_a_lost_one_nothing,
    trial_credits_are_granted_once_and_shown,
);

async fn app_with_stripe(backend: Backend, server: &StripeServer) -> Option<TestApp> {
    let base = server.base_url.clone();
    let app = spawn_app_with(backend, move |s| configure_stripe(s, &base), None).await?;
    server.deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address));
    Some(app)
}

fn tenant_of(id: &str) -> TenantId {
    TenantId::from_db(id.to_owned())
}

async fn the_credits_page_buys_through_the_hosted_checkout_and_shows_the_balance(backend: Backend) {
    let server = StripeServer::start().await;
    let Some(app) = app_with_stripe(backend, &server).await else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "ada@acme.test", "Acme").await;
    let page = owner.get("/app/credits").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("aria-current=\"page\">Credits</a>"));
    assert!(
        page.html.contains("No credit movements yet"),
        "{}",
        page.html
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!(
            "form-action 'self' https://checkout.stripe.com {}",
            server.base_url
        )),
        "the add-credits form may be redirected to Stripe's checkout: {csp}"
    );
    let token = csrf_field(&page.html);

    // Readable errors; nothing reaches Stripe.
    for (amount, expected) in [
        ("ten", "is not"),
        ("", "Enter an amount in USD."),
        ("1", "between $5.00 and $10000.00"),
        ("20.005", "whole number of cents"),
    ] {
        let refused = owner
            .post(
                "/app/credits/checkout",
                &[("csrf_token", &token), ("amount_usd", amount)],
            )
            .await;
        assert_eq!(refused.status, 400, "{amount}");
        assert!(
            refused.html.contains(expected),
            "{amount}: {}",
            refused.html
        );
        assert!(refused.html.contains("role=\"alert\""), "{amount}");
    }
    // Without the CSRF token: refused.
    let forged = owner
        .post("/app/credits/checkout", &[("amount_usd", "25")])
        .await;
    assert_eq!(forged.status, 403);
    assert!(server.sessions().is_empty());

    // "Add credits": a 303 to the session's URL on Stripe.
    let started = owner
        .post(
            "/app/credits/checkout",
            &[("csrf_token", &token), ("amount_usd", "25")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.html);
    let session_url = started.location.clone().unwrap();
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].object["url"], session_url.as_str());
    assert_eq!(sessions[0].form["metadata[tenant_id]"], tenant);
    assert_eq!(
        sessions[0].form["success_url"],
        format!("{}/app/credits?checkout=success", app.address)
    );
    assert_eq!(
        sessions[0].form["cancel_url"],
        format!("{}/app/credits?checkout=cancelled", app.address)
    );

    // Stripe's hosted page: the buyer pays; the events are delivered, signed; back to us.
    let stripe_browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hosted = stripe_browser.get(&session_url).send().await.unwrap();
    assert_eq!(hosted.status(), 200);
    let hosted = hosted.text().await.unwrap();
    assert!(hosted.contains("Pay $25.00"), "{hosted}");
    let paid = stripe_browser.post(&session_url).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        back,
        format!("{}/app/credits?checkout=success", app.address)
    );
    let deliveries = server.deliveries();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d.status == 200), "{deliveries:?}");

    let returned = owner.get("/app/credits?checkout=success").await;
    assert!(
        returned
            .html
            .contains("Payment received — credits appear once Stripe confirms it."),
        "{}",
        returned.html
    );
    assert!(
        returned.html.contains("id=\"balance-amount\">$25.00<"),
        "{}",
        returned.html
    );
    assert!(returned.html.contains("+$25.00"));
    let receipt = format!("{}/receipts/ch_", server.base_url);
    assert!(
        returned.html.contains(&format!("href=\"{receipt}")),
        "a receipt link for the purchase: {}",
        returned.html
    );
    let tenant_id = tenant_of(&tenant);
    assert_eq!(balance(&app.db, &tenant_id).await.0, 25 * NanoUsd::PER_USD);
    assert_ledger_consistent(&app.db, &tenant_id).await;
    // Paying the same session again changes nothing.
    let again = stripe_browser.post(&session_url).send().await.unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(balance(&app.db, &tenant_id).await.0, 25 * NanoUsd::PER_USD);
    let cancelled = owner.get("/app/credits?checkout=cancelled").await;
    assert!(
        cancelled
            .html
            .contains("Checkout cancelled; nothing was charged.")
    );

    // Auto-recharge through the form (admin+), with readable errors.
    let bad = owner
        .post(
            "/app/credits/auto-recharge",
            &[
                ("csrf_token", &token),
                ("enabled", "on"),
                ("below_usd", "5"),
                ("amount_usd", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.html.contains("Enter an amount."), "{}", bad.html);
    let set = owner
        .post(
            "/app/credits/auto-recharge",
            &[
                ("csrf_token", &token),
                ("enabled", "on"),
                ("below_usd", "5"),
                ("amount_usd", "20"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.html);
    let shown = owner.get("/app/credits").await;
    assert!(
        shown
            .html
            .contains("$20.00 when the balance falls below $5.00"),
        "{}",
        shown.html
    );
    let off = owner
        .post("/app/credits/auto-recharge", &[("csrf_token", &token)])
        .await;
    assert_eq!(off.status, 303);
    assert!(
        owner
            .get("/app/credits")
            .await
            .html
            .contains("id=\"auto-recharge-state\">off<")
    );

    // A viewer sees the balance and ledger but neither form, and cannot buy.
    add_user(&app, &tenant, "vic@acme.test", Role::Viewer).await;
    let mut viewer = log_in(&app, "vic@acme.test").await;
    let seen = viewer.get("/app/credits").await;
    assert_eq!(seen.status, 200);
    assert!(seen.html.contains("id=\"balance-amount\">$25.00<"));
    assert!(!seen.html.contains("id=\"buy-form\""));
    assert!(!seen.html.contains("id=\"recharge-form\""));
    let token = csrf_field(&seen.html);
    let refused = viewer
        .post(
            "/app/credits/checkout",
            &[("csrf_token", &token), ("amount_usd", "25")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.html.contains("needs the admin role"),
        "{}",
        refused.html
    );
    assert_eq!(server.sessions().len(), 1);

    // Another organisation sees its own (empty) ledger.
    let (mut other, _) = sign_up(&app, "bob@beta.test", "Beta").await;
    let theirs = other.get("/app/credits").await;
    assert!(theirs.html.contains("id=\"balance-amount\">$0.00<"));
    assert!(!theirs.html.contains("/receipts/"));
}

async fn the_credits_api_reads_pages_buys_and_sets_auto_recharge(backend: Backend) {
    let server = StripeServer::start().await;
    let Some(app) = app_with_stripe(backend, &server).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let me = owner.get("/api/v1/me").await;
    let tenant = tenant_of(me.body["tenant_id"].as_str().expect("tenant id in /me"));
    let shown = owner.get("/api/v1/credits").await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.body["balance_nusd"], 0);
    assert_eq!(shown.body["purchases_enabled"], true);
    assert_eq!(shown.body["auto_recharge"], Value::Null);

    // Seven grants: pages of three, newest first, each row once.
    for i in 1..=7 {
        billing::grant(
            &app.db,
            &tenant,
            i * NanoUsd::PER_USD,
            &format!("grant {i}"),
            Actor::CLI,
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/credits/ledger?limit=3&cursor={c}"),
            None => "/api/v1/credits/ledger?limit=3".to_owned(),
        };
        let page = owner.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for row in page.body["data"].as_array().unwrap() {
            seen.push(row["description"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=7).rev().map(|i| format!("grant {i}")).collect();
    assert_eq!(seen, expected);
    let bad = owner.get("/api/v1/credits/ledger?cursor=nonsense").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "cursor");

    // Checkout: {amount_usd} → {id, url}; validation names the field.
    let created = owner
        .post("/api/v1/credits/checkout", json!({ "amount_usd": 25 }))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let url = created.body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/c/pay/", server.base_url)),
        "{url}"
    );
    assert_eq!(server.sessions()[0].object["id"], created.body["id"]);
    for amount in [json!("1"), json!("abc"), json!(5.001)] {
        let refused = owner
            .post("/api/v1/credits/checkout", json!({ "amount_usd": amount }))
            .await;
        assert_eq!(refused.status, 400, "{amount}: {refused:?}");
        assert_eq!(refused.body["error"]["field"], "amount_usd");
    }
    assert_eq!(server.sessions().len(), 1);

    // Auto-recharge.
    let set = owner
        .call(
            Method::PUT,
            "/api/v1/credits/auto-recharge",
            Some(json!({ "enabled": true, "below_usd": "2.50", "amount_usd": 10 })),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["auto_recharge"]["below_nusd"], 2_500_000_000i64);
    assert_eq!(
        set.body["auto_recharge"]["amount_nusd"],
        10 * NanoUsd::PER_USD
    );
    let missing = owner
        .call(
            Method::PUT,
            "/api/v1/credits/auto-recharge",
            Some(json!({ "enabled": true, "below_usd": 1 })),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["error"]["field"], "amount_usd");
    let off = owner
        .call(
            Method::PUT,
            "/api/v1/credits/auto-recharge",
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(off.body["auto_recharge"], Value::Null);

    // A viewer token reads but cannot buy or change the rule.
    let viewer = owner
        .post("/api/v1/tokens", json!({ "name": "ro", "role": "viewer" }))
        .await;
    let viewer = viewer.body["token"].as_str().unwrap().to_owned();
    let read = with_token(&app, &viewer, Method::GET, "/api/v1/credits", None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["balance_nusd"], 28 * NanoUsd::PER_USD);
    let buy = with_token(
        &app,
        &viewer,
        Method::POST,
        "/api/v1/credits/checkout",
        Some(json!({ "amount_usd": 25 })),
    )
    .await;
    assert_eq!(buy.status, 403, "{buy:?}");
    let rule = with_token(
        &app,
        &viewer,
        Method::PUT,
        "/api/v1/credits/auto-recharge",
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(rule.status, 403);

    // Another tenant sees only its own credits, and its purchase is tagged with itself.
    let mut other = Dashboard::signup(&app, "bob@beta.test", "Beta").await;
    let theirs = other.get("/api/v1/credits").await;
    assert_eq!(theirs.body["balance_nusd"], 0);
    let ledger = other.get("/api/v1/credits/ledger").await;
    assert_eq!(ledger.body["data"], json!([]));
    // A's cursor reveals nothing of A's rows to B.
    let probe = other
        .get(&format!(
            "/api/v1/credits/ledger?cursor={}",
            i64::MAX.to_string() + ".z"
        ))
        .await;
    assert_eq!(probe.body["data"], json!([]));
    let bought = other
        .post("/api/v1/credits/checkout", json!({ "amount_usd": "5.00" }))
        .await;
    assert_eq!(bought.status, 201);
    let form = &server.sessions()[1].form;
    assert_ne!(form["metadata[tenant_id]"], tenant.as_str());
    assert_eq!(
        owner.get("/api/v1/credits").await.body["balance_nusd"],
        28 * NanoUsd::PER_USD
    );
}

async fn refunds_and_disputes_before_their_purchase_give_the_same_balance(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let usd = NanoUsd::PER_USD;
    let tenant = gw.tenant.as_str();
    // In order, for reference: buy 50, refund 10, dispute 20 → 20.
    let events = |intent: &str| {
        let charge = format!("ch_{intent}");
        (
            stripe::paid_session(tenant, 5_000, intent),
            stripe::charge_refunded(intent, &charge, 5_000, 1_000),
            stripe::dispute_created(intent, &charge, 2_000),
        )
    };
    let (purchase, refund, dispute) = events("pi_in_order");
    for e in [&purchase, &refund, &dispute] {
        assert_eq!(deliver(&gw, e).await, 200);
    }
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 20 * usd);

    // Refund and dispute first: nothing changes until the purchase arrives, then both apply.
    let (purchase, refund, dispute) = events("pi_reversed");
    assert_eq!(deliver(&gw, &refund).await, 200);
    assert_eq!(deliver(&gw, &dispute).await, 200);
    assert_eq!(
        deliver(&gw, &refund).await,
        200,
        "a redelivery is parked once"
    );
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 20 * usd);
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
    assert_eq!(deliver(&gw, &purchase).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 40 * usd);
    // Redeliveries of all three change nothing more.
    for e in [&refund, &dispute, &purchase] {
        assert_eq!(deliver(&gw, e).await, 200);
    }
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 40 * usd);

    // Mixed: dispute, purchase, refund.
    let (purchase, refund, dispute) = events("pi_mixed");
    for e in [&dispute, &purchase, &refund] {
        assert_eq!(deliver(&gw, e).await, 200);
    }
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 60 * usd);
    let kinds: Vec<String> = billing::ledger(&gw.app.db, &gw.tenant, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "refund").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "dispute").count(),
        3,
        "{kinds:?}"
    );
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

/// A `charge.dispute.closed` event for the dispute in `created`, with its final status.
fn dispute_closed(created: &Value, status: &str) -> Value {
    let mut object = created["data"]["object"].clone();
    object["status"] = json!(status);
    stripe::event("charge.dispute.closed", object)
}

async fn a_won_dispute_credits_back_once_and_a_lost_one_nothing(backend: Backend) {
    let Some(gw) = gateway(backend, None, 0.0).await else {
        return;
    };
    let usd = NanoUsd::PER_USD;
    let tenant = gw.tenant.as_str();
    assert_eq!(
        deliver(&gw, &stripe::paid_session(tenant, 3_000, "pi_won")).await,
        200
    );
    let created = stripe::dispute_created("pi_won", "ch_won", 3_000);
    assert_eq!(deliver(&gw, &created).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 0);
    let won = dispute_closed(&created, "won");
    for _ in 0..2 {
        assert_eq!(deliver(&gw, &won).await, 200);
    }
    // The same outcome in a second event (Stripe may send another) credits nothing more.
    assert_eq!(deliver(&gw, &dispute_closed(&created, "won")).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 30 * usd);

    // Lost: the debit stands, nothing more.
    assert_eq!(
        deliver(&gw, &stripe::paid_session(tenant, 1_000, "pi_lost")).await,
        200
    );
    let created = stripe::dispute_created("pi_lost", "ch_lost", 1_000);
    assert_eq!(deliver(&gw, &created).await, 200);
    assert_eq!(deliver(&gw, &dispute_closed(&created, "lost")).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 30 * usd);

    // Closed (won) before created, both before the purchase: the same result.
    let created = stripe::dispute_created("pi_late", "ch_late", 2_000);
    assert_eq!(deliver(&gw, &dispute_closed(&created, "won")).await, 200);
    assert_eq!(deliver(&gw, &created).await, 200);
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 30 * usd);
    assert_eq!(
        deliver(&gw, &stripe::paid_session(tenant, 2_000, "pi_late")).await,
        200
    );
    assert_eq!(balance(&gw.app.db, &gw.tenant).await.0, 50 * usd);
    assert_ledger_consistent(&gw.app.db, &gw.tenant).await;
}

async fn trial_credits_are_granted_once_and_shown(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.billing.trial_credits_usd = 5.0, None).await
    else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "ada@acme.test", "Acme").await;
    let page = owner.get("/app/credits").await;
    assert!(
        page.html.contains("id=\"balance-amount\">$5.00<"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Free trial"), "{}", page.html);
    // Logging in again, a colleague joining and a second organisation grant nothing more here.
    add_user(&app, &tenant, "vic@acme.test", Role::Member).await;
    let mut colleague = log_in(&app, "vic@acme.test").await;
    let _ = log_in(&app, "ada@acme.test").await;
    let (mut beta, _) = sign_up(&app, "bob@beta.test", "Beta").await;
    assert!(
        beta.get("/app/credits")
            .await
            .html
            .contains("id=\"balance-amount\">$5.00<")
    );
    let seen = colleague.get("/app/credits").await;
    assert_eq!(
        seen.html.matches(">Free trial<").count(),
        1,
        "{}",
        seen.html
    );
    let tenant = tenant_of(&tenant);
    assert_eq!(balance(&app.db, &tenant).await.0, 5 * NanoUsd::PER_USD);
    assert_eq!(ledger_len(&app.db, &tenant).await, 1);
    assert_ledger_consistent(&app.db, &tenant).await;

    // The default is no trial credits.
    let Some(plain) = crate::common::spawn_app(backend).await else {
        return;
    };
    let (mut owner, tenant) = sign_up(&plain, "ada@acme.test", "Acme").await;
    assert!(
        owner
            .get("/app/credits")
            .await
            .html
            .contains("id=\"balance-amount\">$0.00<")
    );
    assert_eq!(ledger_len(&plain.db, &tenant_of(&tenant)).await, 0);
}
