//! The dashboard pages over plain HTTP forms (no JavaScript): every page renders with the
//! security headers for a signed-in user and sends visitors to the login page; actions need
//! the CSRF token; viewers read but cannot change anything; another tenant's key is a 404.

use switchyard::domain::ids::TenantId;
use switchyard::domain::role::Role;
use switchyard::domain::time::now_millis;
use switchyard::storage::{keys, notifications, users};

use super::pages::{Browser, Page, assert_hardened, csrf_field};
use crate::common::dashboard::{PASSWORD, add_user};
use crate::common::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    every_page_renders_and_actions_need_the_token,
    viewers_read_only_and_other_tenants_get_404,
    invitations_join_new_and_existing_users_once,
);

const PAGES: &[&str] = &[
    "/app",
    "/app/keys",
    "/app/teams",
    "/app/budgets",
    "/app/credits",
    "/app/credits?checkout=success",
    "/app/usage",
    "/app/usage?group_by=key&days=7",
    "/app/logs",
    "/app/logs?status=200&from=2026-01-01T00:00",
    "/app/audit",
    "/app/settings",
];

pub(crate) async fn sign_up(app: &TestApp, email: &str, organization: &str) -> (Browser, String) {
    let mut browser = Browser::new(app);
    let form = browser.get("/signup").await;
    let token = csrf_field(&form.html);
    let done = browser
        .post(
            "/signup",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", PASSWORD),
                ("organization", organization),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let tenant = users::find_by_email(&app.db, email)
        .await
        .unwrap()
        .map(|u| u.id)
        .unwrap();
    let tenant = users::memberships_of_user(&app.db, &tenant)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .tenant_id;
    (browser, tenant)
}

pub(crate) async fn log_in(app: &TestApp, email: &str) -> Browser {
    let mut browser = Browser::new(app);
    let form = browser.get("/login").await;
    let token = csrf_field(&form.html);
    let done = browser
        .post(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    browser
}

/// The page's token for the next form post.
async fn page_token(browser: &mut Browser, path: &str) -> (Page, String) {
    let page = browser.get(path).await;
    let token = csrf_field(&page.html);
    (page, token)
}

async fn mint(browser: &mut Browser, name: &str) -> Page {
    let (_, token) = page_token(browser, "/app/keys").await;
    browser
        .post("/app/keys", &[("csrf_token", &token), ("name", name)])
        .await
}

async fn every_page_renders_and_actions_need_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut visitor = Browser::new(&app);
    for path in PAGES {
        assert_eq!(
            visitor.get(path).await.location.as_deref(),
            Some("/login"),
            "{path}"
        );
    }
    let (mut owner, _) = sign_up(&app, "owner@pages.test", "Pages").await;
    let overview = owner.get("/app").await;
    assert!(overview.html.contains("Get started"), "{}", overview.html);
    for path in PAGES {
        let page = owner.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        assert_hardened(&page, path);
    }

    let minted = mint(&mut owner, "first").await;
    assert_eq!(minted.status, 200, "{}", minted.html);
    assert!(minted.html.contains("id=\"new-key-secret\""));
    assert!(minted.html.contains("sy_live_"));
    assert_hardened(&minted, "minted");
    // Shown once: the list shows only the prefix afterwards.
    let listed = owner.get("/app/keys").await;
    assert!(!listed.html.contains("id=\"new-key-secret\""));
    assert!(listed.html.contains("first"));

    let forged = owner.post("/app/keys", &[("name", "forged")]).await;
    assert_eq!(forged.status, 403);
    let (_, token) = page_token(&mut owner, "/app/budgets").await;
    let budget = owner
        .post(
            "/app/budgets",
            &[
                ("csrf_token", &token),
                ("scope_kind", "tenant"),
                ("usd", "12.50"),
                ("period", "monthly"),
                ("alert_at", "80"),
            ],
        )
        .await;
    assert_eq!(budget.status, 303, "{}", budget.html);
    let budgets = owner.get("/app/budgets").await;
    assert!(budgets.html.contains("$12.50") && budgets.html.contains("80%"));
    let bad = owner
        .post(
            "/app/budgets",
            &[
                ("csrf_token", &token),
                ("scope_kind", "team"),
                ("team", "nope"),
                ("usd", "1"),
            ],
        )
        .await;
    assert_eq!(
        bad.status, 404,
        "another tenant's (or no) team is a missing object"
    );
    assert!(
        bad.html.contains("Team `nope` does not exist."),
        "{}",
        bad.html
    );
    assert!(bad.html.contains("role=\"alert\""), "{}", bad.html);

    let csv = owner.get("/app/usage.csv?group_by=model").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.html.starts_with("model,name,requests,"), "{}", csv.html);

    // A budget alert in the notifications: listed on the overview and Budgets, marked read.
    let tenant = users::find_by_email(&app.db, "owner@pages.test")
        .await
        .unwrap()
        .unwrap();
    let tenant = TenantId::from_db(
        users::memberships_of_user(&app.db, &tenant.id)
            .await
            .unwrap()[0]
            .tenant_id
            .clone(),
    );
    let mut tx = app.db.begin().await.unwrap();
    notifications::insert(
        &mut tx,
        &notifications::NewNotification {
            id: "ntf_test",
            tenant: &tenant,
            kind: "budget_threshold",
            severity: "warning",
            title: "Budget 80% used",
            body: "tenant monthly budget",
            data: None,
            now: now_millis(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(owner.get("/app").await.html.contains("Budget 80% used"));
    assert!(owner.get("/app/budgets").await.html.contains("Mark read"));
    let read = owner
        .post(
            "/app/notifications/ntf_test/read",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(read.status, 303);
    assert!(!owner.get("/app/budgets").await.html.contains("Mark read"));
    let missing = owner
        .post(
            "/app/notifications/ntf_nope/read",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(missing.status, 404);

    // Delete the budget, add an alert destination, change settings, edit the key.
    let deleted = owner
        .post(
            "/app/budgets/delete",
            &[
                ("csrf_token", &token),
                ("scope", "tenant"),
                ("period", "monthly"),
            ],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.html);
    assert!(!owner.get("/app/budgets").await.html.contains("$12.50"));
    let email = owner
        .post(
            "/app/alerts",
            &[
                ("csrf_token", &token),
                ("kind", "email"),
                ("target", "ops@pages.test"),
            ],
        )
        .await;
    assert_eq!(email.status, 303, "{}", email.html);
    assert!(
        owner
            .get("/app/budgets")
            .await
            .html
            .contains("ops@pages.test")
    );

    let saved = owner
        .post(
            "/app/settings",
            &[
                ("csrf_token", &token),
                ("timezone", "Europe/Paris"),
                ("retention_days", "30"),
                ("log_bodies", "on"),
                ("ip_allowlist", "203.0.113.0/24\n198.51.100.7"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let settings = owner.get("/app/settings").await;
    assert!(settings.html.contains("Europe/Paris") && settings.html.contains("203.0.113.0/24"));
    assert!(
        settings
            .html
            .contains("id=\"s-bodies\" name=\"log_bodies\" type=\"checkbox\" checked")
    );
    assert!(
        !settings
            .html
            .contains("id=\"s-cost\" name=\"cost_tracking\" type=\"checkbox\" checked")
    );
    let wrong_zone = owner
        .post(
            "/app/settings",
            &[("csrf_token", &token), ("timezone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(wrong_zone.status, 400);
    assert!(
        wrong_zone.html.contains("Mars/Olympus"),
        "{}",
        wrong_zone.html
    );

    let (_, token) = page_token(&mut owner, "/app/teams").await;
    let team = owner
        .post(
            "/app/teams",
            &[("csrf_token", &token), ("name", "research")],
        )
        .await;
    assert_eq!(team.status, 303, "{}", team.html);
    let limits = owner
        .post(
            "/app/settings/limits",
            &[
                ("csrf_token", &token),
                ("scope_kind", "team"),
                ("team", "research"),
                ("rpm", "1200"),
                ("max_concurrent", "4"),
            ],
        )
        .await;
    assert_eq!(limits.status, 303, "{}", limits.html);
    let settings = owner.get("/app/settings").await.html;
    assert!(
        settings.contains("team research") && settings.contains("1,200"),
        "{settings}"
    );

    let listed = owner.get("/app/keys").await;
    let marker = "href=\"/app/keys/";
    let start = listed.html.find(marker).expect("edit link") + marker.len();
    let key_id = listed.html[start..].split('"').next().unwrap().to_owned();
    let edited = owner
        .post(
            &format!("/app/keys/{key_id}"),
            &[
                ("csrf_token", &token),
                ("name", "renamed"),
                ("models", "gpt-a, gpt-b"),
                ("rpm", "60"),
                ("tpm", ""),
                ("allowed_ips", ""),
                ("allowed_referrers", ""),
                ("expires_in", "30d"),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.html);
    let listed = owner.get("/app/keys").await.html;
    assert!(
        listed.contains("renamed") && listed.contains("60 RPM") && listed.contains("gpt-a, gpt-b")
    );
    let zero = owner
        .post(
            &format!("/app/keys/{key_id}"),
            &[("csrf_token", &token), ("name", "renamed"), ("rpm", "0")],
        )
        .await;
    assert_eq!(zero.status, 400);
    assert!(zero.html.contains("rpm"), "{}", zero.html);
}

async fn viewers_read_only_and_other_tenants_get_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "owner@a.test", "Tenant A").await;
    assert_eq!(mint(&mut owner, "a-key").await.status, 200);
    let tenant_id = TenantId::from_db(tenant.clone());
    let key_id = keys::list(&app.db, &tenant_id).await.unwrap()[0].id.clone();

    add_user(&app, &tenant, "viewer@a.test", Role::Viewer).await;
    let mut viewer = log_in(&app, "viewer@a.test").await;
    for path in PAGES.iter().filter(|p| **p != "/app/audit") {
        assert_eq!(viewer.get(path).await.status, 200, "{path}");
    }
    let audit = viewer.get("/app/audit").await;
    assert_eq!(audit.status, 403, "the audit log is for admins");
    assert!(!audit.html.contains("key.create"));
    let (keys_page, token) = page_token(&mut viewer, "/app/keys").await;
    assert!(
        !keys_page.html.contains("Mint key"),
        "viewers see no mint form"
    );
    assert!(
        !keys_page.html.contains("/revoke"),
        "viewers see no revoke button"
    );
    let refused = viewer
        .post("/app/keys", &[("csrf_token", &token), ("name", "nope")])
        .await;
    assert_eq!(refused.status, 403);
    for path in [
        format!("/app/keys/{key_id}/revoke"),
        format!("/app/keys/{key_id}/rotate"),
    ] {
        assert_eq!(
            viewer.post(&path, &[("csrf_token", &token)]).await.status,
            403,
            "{path}"
        );
    }
    let settings = viewer
        .post(
            "/app/settings",
            &[("csrf_token", &token), ("timezone", "Europe/Paris")],
        )
        .await;
    assert_eq!(settings.status, 403);
    assert_eq!(keys::list(&app.db, &tenant_id).await.unwrap().len(), 1);

    let (mut other, _) = sign_up(&app, "owner@b.test", "Tenant B").await;
    assert_eq!(other.get(&format!("/app/keys/{key_id}")).await.status, 404);
    let (_, token) = page_token(&mut other, "/app/keys").await;
    for path in [
        format!("/app/keys/{key_id}/revoke"),
        format!("/app/keys/{key_id}/rotate"),
        format!("/app/keys/{key_id}"),
    ] {
        let page = other
            .post(&path, &[("csrf_token", &token), ("name", "stolen")])
            .await;
        assert_eq!(page.status, 404, "{path}: {}", page.html);
    }
    let key = keys::find(&app.db, &tenant_id, &key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(key.revoked_at.is_none());
    assert_eq!(key.name, "a-key");
}

fn invite_token(html: &str) -> String {
    let marker = "/invite?token=";
    let start = html.find(marker).expect("invitation link") + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

async fn invite(owner: &mut Browser, email: &str, role: &str) -> Page {
    let (_, token) = page_token(owner, "/app/teams").await;
    owner
        .post(
            "/app/invitations",
            &[("csrf_token", &token), ("email", email), ("role", role)],
        )
        .await
}

async fn accept(app: &TestApp, invitation: &str, password: &str) -> (Browser, Page) {
    let mut guest = Browser::new(app);
    let form = guest.get("/login").await;
    let token = csrf_field(&form.html);
    let page = guest
        .post(
            "/invite",
            &[
                ("csrf_token", &token),
                ("token", invitation),
                ("password", password),
            ],
        )
        .await;
    (guest, page)
}

async fn invitations_join_new_and_existing_users_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "owner@inv.test", "Inviters").await;
    let issued = invite(&mut owner, "New@Inv.test", "viewer").await;
    assert_eq!(issued.status, 200, "{}", issued.html);
    assert!(issued.html.contains("id=\"invite-link\""));
    let invitation = invite_token(&issued.html);
    assert!(
        owner.get("/app/teams").await.html.contains("new@inv.test"),
        "pending"
    );

    let mut guest = Browser::new(&app);
    let form = guest.get(&format!("/invite?token={invitation}")).await;
    assert_eq!(form.status, 200);
    assert_hardened(&form, "/invite");
    assert!(form.html.contains("Inviters") && form.html.contains("viewer"));
    let (_, short) = accept(&app, &invitation, "short").await;
    assert_eq!(short.status, 400, "{}", short.html);
    let (mut joined, ok) = accept(&app, &invitation, PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.html);
    assert_eq!(ok.location.as_deref(), Some("/app"));
    let keys_page = joined.get("/app/keys").await;
    assert_eq!(keys_page.status, 200);
    assert!(keys_page.html.contains("Inviters") && !keys_page.html.contains("Mint key"));
    let user = users::find_by_email(&app.db, "new@inv.test")
        .await
        .unwrap()
        .unwrap();
    let membership = users::membership(&app.db, &tenant, &user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(membership.role, "viewer");
    let (_, again) = accept(&app, &invitation, PASSWORD).await;
    assert_eq!(again.status, 404, "single use");
    let used = Browser::new(&app)
        .get(&format!("/invite?token={invitation}"))
        .await;
    assert_eq!(used.status, 404);
    assert!(used.html.contains("already used"), "{}", used.html);

    // Viewers cannot invite; another tenant cannot withdraw this tenant's invitations.
    let refused = invite(&mut joined, "x@inv.test", "viewer").await;
    assert_eq!(refused.status, 403);
    let (mut other, _) = sign_up(&app, "owner@other.test", "Other").await;
    let pending = invite(&mut owner, "later@inv.test", "member").await;
    assert_eq!(pending.status, 200);
    let teams = owner.get("/app/teams").await.html;
    let marker = "action=\"/app/invitations/";
    let start = teams.find(marker).expect("withdraw form") + marker.len();
    let id = teams[start..].split('/').next().unwrap().to_owned();
    let (_, token) = page_token(&mut other, "/app/teams").await;
    let foreign = other
        .post(
            &format!("/app/invitations/{id}/revoke"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert!(
        owner
            .get("/app/teams")
            .await
            .html
            .contains("later@inv.test")
    );

    // An existing account joins with its own password, not a new one.
    let existing = invite(&mut owner, "owner@other.test", "admin").await;
    let invitation = invite_token(&existing.html);
    let (_, wrong) = accept(&app, &invitation, "not the password at all").await;
    assert_eq!(wrong.status, 401, "{}", wrong.html);
    let (_, ok) = accept(&app, &invitation, PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.html);
    let other_user = users::find_by_email(&app.db, "owner@other.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        users::membership(&app.db, &tenant, &other_user.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        "admin"
    );
    // Members cannot be invited again.
    let twice = invite(&mut owner, "owner@other.test", "viewer").await;
    assert_eq!(twice.status, 409, "{}", twice.html);
}
