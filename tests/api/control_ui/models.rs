//! The Models & routing page: a tenant model on its own credential and a route over it are
//! added, edited (the form comes back prefilled), used through `/v1`, and removed; every
//! faulty field is named; members read only; another tenant's are a 404.

use serde_json::json;
use switchyard::config::Secret;
use switchyard::domain::role::Role;

use super::{MASTER_KEY, between, member, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(models_and_routes_are_managed_and_served);

fn alert(html: &str) -> &str {
    between(html, "role=\"alert\" id=\"form-error\">", "</p>")
}

async fn models_and_routes_are_managed_and_served(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let Some(app) = spawn_app_with(
        backend,
        |s| {
            s.master_key = Some(Secret::new(MASTER_KEY));
            s.egress.allow_private_networks = true;
        },
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "owner@models.test", "Models").await;
    let empty = owner.get("/app/models").await;
    assert_eq!(empty.status, 200);
    super::super::pages::assert_hardened(&empty, "/app/models");
    assert!(
        empty
            .html
            .contains("Add a <a href=\"/app/providers\">provider credential</a> first")
    );
    let added = submit(
        &mut owner,
        "/app/providers",
        "/app/providers",
        &[
            ("name", "local"),
            ("kind", "openai-compatible"),
            ("base_url", &mock.base_url),
            ("api_key", "sk-local-0123456789"),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.html);

    // Faulty fields are named, and the form keeps what was typed.
    let model = |name: &'static str, provider: &'static str, input: &'static str| {
        [
            ("name", name),
            ("provider", provider),
            ("upstream", "gpt-4o-mini"),
            ("mode", "chat"),
            ("input_usd_per_mtok", input),
            ("output_usd_per_mtok", "2"),
        ]
    };
    let bad = submit(
        &mut owner,
        "/app/models",
        "/app/models",
        &model("my-gpt", "nope", "1"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(
        alert(&bad.html).contains("provider"),
        "{}",
        alert(&bad.html)
    );
    let bad = submit(
        &mut owner,
        "/app/models",
        "/app/models",
        &model("my-gpt", "local", "cheap"),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        alert(&bad.html).contains("input_usd_per_mtok"),
        "{}",
        alert(&bad.html)
    );
    assert!(bad.html.contains("value=\"cheap\""), "the form is refilled");

    let ok = submit(
        &mut owner,
        "/app/models",
        "/app/models",
        &model("my-gpt", "local", "1.5"),
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.html);
    let page = owner.get("/app/models").await;
    assert!(
        page.html.contains("in $1.5 · out $2 per 1M tokens"),
        "{}",
        page.html
    );
    let edit = owner.get("/app/models?model=my-gpt").await;
    assert!(edit.html.contains("Edit model “my-gpt”"), "{}", edit.html);
    assert!(edit.html.contains("value=\"1.5\"") && edit.html.contains("value=\"gpt-4o-mini\""));
    let ok = submit(
        &mut owner,
        "/app/models",
        "/app/models",
        &model("my-gpt", "local", "3"),
    )
    .await;
    assert_eq!(ok.status, 303);
    assert!(
        owner
            .get("/app/models")
            .await
            .html
            .contains("in $3 · out $2")
    );

    // Routes: every faulty field named.
    let route = |targets: &'static str, rules: &'static str| {
        vec![
            ("name", "chat"),
            ("strategy", "weighted"),
            ("targets", targets),
            ("fallbacks", "my-gpt"),
            ("timeout", "10s"),
            ("deadline", "1m"),
            ("retries", "1"),
            ("rules", rules),
        ]
    };
    for (form, field, says) in [
        (route("ghost=1", ""), "targets", "`ghost`"),
        (route("my-gpt=heavy", ""), "targets", "weight"),
        (route("my-gpt=0", ""), "targets.weight", "above 0"),
        (
            route("my-gpt", "[[rules]]\nwhen = { colour = \"red\" }"),
            "rules",
            "line 2",
        ),
        (
            route(
                "my-gpt",
                "[[rules]]\nwhen = { message_regex = \"(\" }\ntargets = [{ model = \"my-gpt\" }]",
            ),
            "rules.when.message_regex",
            "regex",
        ),
    ] {
        let bad = submit(&mut owner, "/app/models", "/app/routes", &form).await;
        assert_eq!(bad.status, 400, "{form:?}: {}", bad.html);
        let text = alert(&bad.html);
        assert!(
            text.starts_with(&format!("{field}: ")) || text.contains(field),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
    }
    let clash = submit(
        &mut owner,
        "/app/models",
        "/app/routes",
        &[("name", "my-gpt"), ("targets", "my-gpt")],
    )
    .await;
    assert_eq!(clash.status, 400);
    assert!(
        alert(&clash.html).contains("name"),
        "{}",
        alert(&clash.html)
    );

    let rules = "[[rules]]\nwhen = { tag = \"vip\" }\ntargets = [{ model = \"my-gpt\" }]";
    let saved = submit(
        &mut owner,
        "/app/models",
        "/app/routes",
        &route("my-gpt=2", rules),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let page = owner.get("/app/models").await;
    assert!(page.html.contains("my-gpt=2"), "{}", page.html);
    assert!(
        page.html.contains("attempt 10s · deadline 1m · 1 retries"),
        "{}",
        page.html
    );
    let edit = owner.get("/app/models?route=chat").await;
    assert!(edit.html.contains("Edit route “chat”"));
    assert!(
        edit.html.contains("tag = &#34;vip&#34;") || edit.html.contains("tag = &quot;vip&quot;"),
        "{}",
        edit.html
    );

    // The route serves through /v1 with the tenant's own credential.
    let minted = submit(&mut owner, "/app/keys", "/app/keys", &[("name", "k")]).await;
    let secret = between(&minted.html, "class=\"secret-value\">", "<").to_owned();
    app.wait_for_policy().await;
    let res = app
        .post_json(
            "/v1/chat/completions",
            &secret,
            &json!({ "model": "chat", "messages": [{ "role": "user", "content": "route me" }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-switchyard-provider"], "local");
    assert_eq!(mock.received().last().unwrap().body["model"], "gpt-4o-mini");

    // Members read only; another tenant's model and route are a 404.
    let mut reader = member(&app, &tenant, "member@models.test", Role::Member).await;
    let read = reader.get("/app/models").await;
    assert!(read.html.contains("my-gpt") && !read.html.contains("id=\"route-form\""));
    let refused = submit(
        &mut reader,
        "/app/models",
        "/app/routes/remove",
        &[("name", "chat")],
    )
    .await;
    assert_eq!(refused.status, 403);
    let (mut stranger, _) = sign_up(&app, "owner@strangers.test", "Strangers").await;
    for action in ["/app/routes/remove", "/app/models/remove"] {
        let name = if action.contains("routes") {
            "chat"
        } else {
            "my-gpt"
        };
        let missing = submit(&mut stranger, "/app/models", action, &[("name", name)]).await;
        assert_eq!(missing.status, 404, "{action}: {}", missing.html);
    }

    for (action, name) in [
        ("/app/routes/remove", "chat"),
        ("/app/models/remove", "my-gpt"),
    ] {
        let gone = submit(&mut owner, "/app/models", action, &[("name", name)]).await;
        assert_eq!(gone.status, 303, "{action}: {}", gone.html);
    }
    let page = owner.get("/app/models").await;
    assert!(page.html.contains("No models of your own yet") && page.html.contains("No routes yet"));
}
