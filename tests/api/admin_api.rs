//! The admin API: tokens, roles, the cross-tenant matrix over every route, usage and logs
//! after real `/v1` calls, and the OpenAPI document against the router.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::control_plane::api::ROUTES;
use switchyard::domain::ids::TenantId;
use switchyard::domain::role::Role;
use switchyard::domain::time::now_millis;
use switchyard::providers::ProviderKind;
use switchyard::storage::notifications;

use crate::common::dashboard::{Answer, Dashboard, PASSWORD, add_user, with_token};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, TestApp, add_provider, spawn_app, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    keys_are_edited_through_the_api,
    admin_tokens_authenticate_with_their_role,
    viewers_cannot_mint_keys,
    another_tenants_objects_are_404_on_every_route,
    usage_and_logs_after_real_calls,
    openapi_document_matches_the_router,
);

async fn tenant_of(d: &mut Dashboard) -> String {
    d.get("/api/v1/me").await.body["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn keys_are_edited_through_the_api(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt-a", "gpt-b"]),
        None,
    )
    .await
    else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let key = owner
        .post("/api/v1/keys", json!({ "name": "k", "rpm": 100 }))
        .await
        .body;
    let id = key["id"].as_str().unwrap();
    let secret = key["key"].as_str().unwrap();
    app.wait_for_policy().await;
    let chat =
        |model: &str| json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(
        app.post_json("/v1/chat/completions", secret, &chat("gpt-a"))
            .await
            .status(),
        200
    );

    let path = format!("/api/v1/keys/{id}");
    let edited = owner
        .call(Method::PATCH, &path, Some(json!({ "name": "renamed", "models": ["gpt-b"], "tpm": 5000, "allowed_ips": ["127.0.0.1"] })))
        .await;
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(edited.body["name"], "renamed");
    assert_eq!(edited.body["models"], json!(["gpt-b"]));
    assert_eq!(edited.body["rpm"], 100, "fields left out keep their value");
    assert_eq!(edited.body["tpm"], 5000);
    assert_eq!(edited.body["allowed_ips"], json!(["127.0.0.1/32"]));
    // The data path follows within a second.
    let started = Instant::now();
    while app
        .post_json("/v1/chat/completions", secret, &chat("gpt-a"))
        .await
        .status()
        == 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "model restriction took over 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.post_json("/v1/chat/completions", secret, &chat("gpt-b"))
            .await
            .status(),
        200
    );

    let cleared = owner
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "rpm": null, "expires_in": "30d" })),
        )
        .await;
    assert_eq!(cleared.body["rpm"], Value::Null, "{cleared:?}");
    assert!(cleared.body["expires_at"].is_string());
    let bad = owner
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "allowed_ips": ["nope"] })),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "allowed_ips");
    let unknown = owner
        .call(Method::PATCH, &path, Some(json!({ "colour": "red" })))
        .await;
    assert_eq!(unknown.status, 400);
    let audit = owner.get("/api/v1/audit").await;
    let update = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "key.update")
        .cloned()
        .unwrap();
    assert_eq!(update["before"]["name"], "k");
    assert_eq!(update["after"]["name"], "renamed");
}

async fn admin_tokens_authenticate_with_their_role(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let created = owner
        .post("/api/v1/tokens", json!({ "name": "ci", "role": "admin" }))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let token = created.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sy_admin_"), "{token}");
    let listed = owner.get("/api/v1/tokens").await;
    assert!(
        !listed.body.to_string().contains(&token),
        "secrets are never listed"
    );

    // No CSRF token needed with a bearer token.
    let key = with_token(
        &app,
        &token,
        Method::POST,
        "/api/v1/keys",
        Some(json!({ "name": "from-ci" })),
    )
    .await;
    assert_eq!(key.status, 201, "{key:?}");
    let me = with_token(&app, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["auth"], "token");
    // A session-only action refuses tokens.
    let logout = with_token(&app, &token, Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(logout.status, 403, "{logout:?}");
    // An admin token cannot mint an owner token.
    let escalate = with_token(
        &app,
        &token,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "x", "role": "owner" })),
    )
    .await;
    assert_eq!(escalate.status, 403, "{escalate:?}");

    for bad in ["sy_admin_nope_nope", "sy_live_abc", &format!("{token}x")] {
        let refused = with_token(&app, bad, Method::GET, "/api/v1/keys", None).await;
        assert_eq!(refused.status, 401, "{bad}");
    }
    let id = created.body["id"].as_str().unwrap();
    let revoked = owner
        .call(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    let after = with_token(&app, &token, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(after.status, 401);
}

async fn viewers_cannot_mint_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let tenant = tenant_of(&mut owner).await;
    add_user(&app, &tenant, "vic@acme.test", Role::Viewer).await;
    add_user(&app, &tenant, "mel@acme.test", Role::Member).await;
    let key = owner.post("/api/v1/keys", json!({ "name": "k" })).await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();

    let (_, mut viewer) = Dashboard::login(&app, "vic@acme.test", PASSWORD).await;
    assert_eq!(viewer.get("/api/v1/keys").await.status, 200);
    let mint = viewer.post("/api/v1/keys", json!({ "name": "nope" })).await;
    assert_eq!(mint.status, 403, "{mint:?}");
    assert_eq!(mint.code(), "forbidden");
    let revoke = viewer
        .call(Method::DELETE, &format!("/api/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(revoke.status, 403);
    let viewer_token = owner
        .post("/api/v1/tokens", json!({ "name": "ro", "role": "viewer" }))
        .await;
    let ro = viewer_token.body["token"].as_str().unwrap();
    let mint = with_token(&app, ro, Method::POST, "/api/v1/keys", Some(json!({}))).await;
    assert_eq!(mint.status, 403);

    // Members mint keys but do not revoke them or manage the tenant.
    let (_, mut member) = Dashboard::login(&app, "mel@acme.test", PASSWORD).await;
    assert_eq!(
        member
            .post("/api/v1/keys", json!({ "name": "mine" }))
            .await
            .status,
        201
    );
    assert_eq!(
        member
            .call(Method::DELETE, &format!("/api/v1/keys/{key_id}"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        member
            .post("/api/v1/teams", json!({ "name": "t" }))
            .await
            .status,
        403
    );
    assert_eq!(
        owner
            .get("/api/v1/keys")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Tenant B's objects, by path parameter.
struct Objects {
    key: String,
    team: String,
    token: String,
    token_id: String,
    notification: String,
    user: String,
    tenant: String,
}

async fn seed(app: &TestApp, d: &mut Dashboard) -> Objects {
    let tenant = tenant_of(d).await;
    let user = d.get("/api/v1/me").await.body["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = d
        .post("/api/v1/keys", json!({ "name": "b-key" }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = d
        .post("/api/v1/teams", json!({ "name": "b-team" }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        d.post(
            &format!("/api/v1/teams/{team}/members"),
            json!({ "user_id": user })
        )
        .await
        .status,
        204
    );
    let token = d
        .post(
            "/api/v1/tokens",
            json!({ "name": "b-token", "role": "admin" }),
        )
        .await;
    let set = d
        .call(
            Method::PUT,
            "/api/v1/budgets",
            Some(json!({ "scope": format!("key:{key}"), "usd": "5" })),
        )
        .await;
    assert_eq!(set.status, 204, "{set:?}");
    let notification = format!("ntf_{}", uuid::Uuid::now_v7().simple());
    let mut tx = app.db.begin().await.unwrap();
    notifications::insert(
        &mut tx,
        &notifications::NewNotification {
            id: &notification,
            tenant: &TenantId::from_db(tenant.clone()),
            kind: "budget",
            severity: "warning",
            title: "80% of budget",
            body: "",
            data: None,
            now: now_millis(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Objects {
        key,
        team,
        token: token.body["token"].as_str().unwrap().to_owned(),
        token_id: token.body["id"].as_str().unwrap().to_owned(),
        notification,
        user,
        tenant,
    }
}

fn target(method: &str, path: &str, b: &Objects) -> Option<String> {
    if path.contains("/admin/") || !path.contains('{') {
        return None;
    }
    // `PUT /models/{name}` and `PUT /routes/{name}` create in the caller's own tenant; their
    // cross-tenant cases (another tenant's credential or models) are in control_ui::api, which
    // also addresses real objects of another tenant by name.
    if path.contains("{name}") && method == "put" {
        return None;
    }
    let id = if path.starts_with("/api/v1/keys/") {
        &b.key
    } else if path.starts_with("/api/v1/teams/") {
        &b.team
    } else if path.starts_with("/api/v1/tokens/") {
        &b.token_id
    } else if path.starts_with("/api/v1/notifications/") {
        &b.notification
    } else {
        ""
    };
    Some(
        path.replace("{id}", id)
            .replace("{user_id}", &b.user)
            .replace("{name}", "b-object"),
    )
}

async fn snapshot(d: &mut Dashboard) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/keys",
        "/api/v1/teams",
        "/api/v1/members",
        "/api/v1/budgets",
        "/api/v1/credits",
        "/api/v1/credits/ledger",
        "/api/v1/tokens",
        "/api/v1/notifications",
    ] {
        let mut body = d.get(path).await.body;
        if path == "/api/v1/tokens" {
            for t in body.as_array_mut().unwrap() {
                t.as_object_mut().unwrap().remove("last_used_at");
            }
        }
        out.push(body);
    }
    out
}

async fn another_tenants_objects_are_404_on_every_route(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut a = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let mut b = Dashboard::signup(&app, "bob@beta.test", "Beta").await;
    let objects = seed(&app, &mut b).await;
    let a_token = a
        .post("/api/v1/tokens", json!({ "name": "a", "role": "owner" }))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = snapshot(&mut b).await;

    let mut checked = 0;
    for (method, path) in ROUTES {
        let Some(concrete) = target(method, path, &objects) else {
            continue;
        };
        let method: Method = method.to_uppercase().parse().unwrap();
        let body = if concrete.ends_with("/rotate") {
            Some(json!({ "grace": "1h" }))
        } else if concrete.ends_with("/members") {
            Some(json!({ "user_id": objects.user }))
        } else if method == Method::PUT && concrete.ends_with("/pii") {
            Some(json!({ "email": "allow" }))
        } else if method == Method::PATCH && concrete.starts_with("/api/v1/keys/") {
            Some(json!({ "name": "hijacked", "rpm": 1 }))
        } else if method == Method::PATCH {
            Some(json!({ "role": "viewer" }))
        } else {
            None
        };
        let by_session = a.call(method.clone(), &concrete, body.clone()).await;
        let by_token = with_token(&app, &a_token, method.clone(), &concrete, body).await;
        for (via, answer) in [("session", &by_session), ("token", &by_token)] {
            assert_eq!(answer.status, 404, "{via} {method} {concrete}: {answer:?}");
            assert_eq!(answer.code(), "not_found", "{via} {method} {concrete}");
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked}");
    // A's own team, B's user: still 404 (B's user is not A's member).
    let own_team = a
        .post("/api/v1/teams", json!({ "name": "a-team" }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = a
        .post(
            &format!("/api/v1/teams/{own_team}/members"),
            json!({ "user_id": objects.user }),
        )
        .await;
    assert_eq!(add.status, 404, "{add:?}");
    // Budgets are addressed by scope: B's key and team are missing objects for A.
    for scope in [format!("key:{}", objects.key), "team:b-team".to_owned()] {
        let set = a
            .call(
                Method::PUT,
                "/api/v1/budgets",
                Some(json!({ "scope": scope, "usd": "1" })),
            )
            .await;
        assert_eq!(set.status, 404, "{scope}: {set:?}");
        let del = a
            .call(
                Method::DELETE,
                &format!("/api/v1/budgets?scope={scope}"),
                None,
            )
            .await;
        assert_eq!(del.status, 404, "{scope}: {del:?}");
    }
    // Lists never show B's objects.
    let everything = snapshot(&mut a).await;
    let logs = a.get("/api/v1/audit?limit=200").await.body;
    let seen = format!("{everything:?}{logs}");
    for id in [
        &objects.key,
        &objects.team,
        &objects.token_id,
        &objects.notification,
        &objects.user,
        &objects.tenant,
    ] {
        assert!(!seen.contains(id.as_str()), "tenant A sees {id}");
    }
    // B's token does not act in A's tenant, and nothing of B changed.
    let me = with_token(&app, &objects.token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.body["tenant_id"], objects.tenant.as_str());
    assert_eq!(snapshot(&mut b).await, before);
}

async fn usage_and_logs_after_real_calls(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let url = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| add_provider(s, "openai", ProviderKind::Openai, &url, &["gpt-a", "gpt-b"]),
        None,
    )
    .await
    else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let team = owner
        .post("/api/v1/teams", json!({ "name": "research" }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let k1 = owner
        .post("/api/v1/keys", json!({ "name": "one", "team": "research" }))
        .await
        .body;
    let k2 = owner
        .post("/api/v1/keys", json!({ "name": "two" }))
        .await
        .body;
    app.wait_for_policy().await;
    let calls = [
        (&k1, "gpt-a", "alice"),
        (&k1, "gpt-a", "alice"),
        (&k1, "gpt-b", "bob"),
        (&k2, "gpt-b", "alice"),
    ];
    for (key, model, user) in calls {
        let res = app
            .post_json(
                "/v1/chat/completions",
                key["key"].as_str().unwrap(),
                &json!({ "model": model, "user": user, "messages": [{ "role": "user", "content": "hi" }] }),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let page = owner.get("/api/v1/logs").await;
        if page.body["data"].as_array().map_or(0, Vec::len) >= 4 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(logs.body["data"].as_array().unwrap().len(), 4, "{logs:?}");

    let group = |answer: &Answer, name: &str| -> Value {
        answer.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let by_model = owner.get("/api/v1/usage?group_by=model").await;
    assert_eq!(by_model.status, 200, "{by_model:?}");
    assert_eq!(group(&by_model, "gpt-a")["requests"], 2);
    assert_eq!(group(&by_model, "gpt-b")["requests"], 2);
    assert!(group(&by_model, "gpt-a")["cost_nusd"].as_i64().unwrap() > 0);
    let by_user = owner.get("/api/v1/usage?group_by=user").await;
    assert_eq!(group(&by_user, "alice")["requests"], 3, "{by_user:?}");
    assert_eq!(group(&by_user, "bob")["requests"], 1);
    let by_key = owner.get("/api/v1/usage?group_by=key").await;
    assert_eq!(group(&by_key, k1["id"].as_str().unwrap())["requests"], 3);
    let by_team = owner.get("/api/v1/usage?group_by=team").await;
    assert_eq!(group(&by_team, &team)["requests"], 3, "{by_team:?}");
    let by_day = owner.get("/api/v1/usage?group_by=day").await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(group(&by_day, &today)["requests"], 4, "{by_day:?}");
    let total_cost: i64 = logs.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cost_nusd"].as_i64().unwrap())
        .sum();
    let day_cost = group(&by_day, &today)["cost_nusd"].as_i64().unwrap();
    assert_eq!(day_cost, total_cost);
    // A range that excludes now is empty.
    let past = owner
        .get("/api/v1/usage?group_by=model&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")
        .await;
    assert_eq!(past.body["groups"], json!([]));
    assert_eq!(owner.get("/api/v1/usage?group_by=colour").await.status, 400);

    // Filters and cursor pagination.
    let alice = owner.get("/api/v1/logs?user=alice").await;
    assert_eq!(alice.body["data"].as_array().unwrap().len(), 3);
    let key_b = owner
        .get(&format!(
            "/api/v1/logs?key={}&model=gpt-b",
            k1["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(key_b.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        owner.get("/api/v1/logs?status=500").await.body["data"],
        json!([])
    );
    assert_eq!(
        owner.get(&format!("/api/v1/logs?team={team}")).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = owner
            .get(&format!("/api/v1/logs?limit=1&cursor={cursor}"))
            .await;
        for row in page.body["data"].as_array().unwrap() {
            seen.push(row["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(seen.len() <= 5);
    }
    let all: Vec<String> = logs.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen, all,
        "pages in the same newest-first order, no repeats"
    );
}

async fn openapi_document_matches_the_router(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let token = owner
        .post("/api/v1/tokens", json!({ "name": "doc", "role": "owner" }))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = app
        .get("/api/openapi.json")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["token"]["scheme"], "bearer");

    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            // Schemas referenced must exist.
            let text = op.to_string();
            for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
                let name = reference.split('"').next().unwrap();
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "{path}: missing schema {name}"
                );
            }
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let url = path
                .replace("{id}", "x_missing")
                .replace("{user_id}", "usr_missing");
            let m: Method = method.to_uppercase().parse().unwrap();
            let body = Some(json!({}));
            let mut session = if path.ends_with("/logout") {
                Dashboard::login(&app, "ada@acme.test", PASSWORD).await.1
            } else {
                owner.clone()
            };
            let answers = if public {
                vec![session.call(m.clone(), &url, body.clone()).await]
            } else {
                // Documented auth: session (with CSRF) and bearer token both work.
                let unauthenticated = app
                    .client
                    .request(m.clone(), format!("{}{url}", app.address))
                    .send()
                    .await
                    .unwrap();
                let status = unauthenticated.status().as_u16();
                assert!(
                    matches!(status, 401 | 403),
                    "{method} {path} without auth: {status}"
                );
                vec![
                    session.call(m.clone(), &url, body.clone()).await,
                    with_token(&app, &token, m.clone(), &url, body).await,
                ]
            };
            for answer in answers {
                assert_ne!(answer.status, 405, "{method} {path}");
                assert_ne!(
                    answer.code(),
                    "unknown_url",
                    "{method} {path} is not routed"
                );
                assert!(answer.status < 500, "{method} {path}: {answer:?}");
            }
        }
    }
    let mut routed: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|(_, p)| *p != "/api/openapi.json")
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routed.sort();
    documented.sort();
    assert_eq!(
        documented, routed,
        "every route documented, every documented path routed"
    );
}
