//! `switchyard credits …`, and trial credits from the command line and the sign-up.

use super::*;

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
        link.trim()
            .starts_with(&format!("{}/c/pay/cs_test_", server.base_url)),
        "{link}"
    );
    let success = &server.sessions()[0].form["success_url"];
    assert!(
        success.starts_with("http://") && success.ends_with("/app/credits?checkout=success"),
        "return paths are taken on the gateway's address: {success}"
    );
    assert_eq!(
        server.sessions()[0].form["line_items[0][price_data][unit_amount]"],
        "2000"
    );
    assert_ledger_consistent(&app.db, &tenant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_grants_the_trial_credits() {
    let Some(app) =
        crate::common::spawn_app_with(Backend::Sqlite, |s| s.billing.trial_credits_usd = 3.0, None)
            .await
    else {
        return;
    };
    crate::common::dashboard::Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let tenant = switchyard::control_plane::tenants::resolve(&app.db, "Acme")
        .await
        .expect("resolve")
        .expect("tenant");
    assert_eq!(balance(&app.db, &tenant).await, (3 * NanoUsd::PER_USD, 0));
    let ledger = billing::ledger(&app.db, &tenant, 10).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, "trial");
    assert_ledger_consistent(&app.db, &tenant).await;
}
