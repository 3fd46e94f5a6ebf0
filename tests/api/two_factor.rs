//! TOTP two-factor login: enrolment confirmed by a code, the secret sealed at rest, two-step
//! login through a pending token that is not a session, codes not reusable, recovery codes
//! single-use, failed codes throttled and audited, disabling with a code or the password, and
//! the owner's "require two-factor login for all members" setting.

use reqwest::Method;
use serde_json::json;
use switchyard::config::Secret;
use switchyard::domain::role::Role;
use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

use crate::common::dashboard::{Answer, Dashboard, PASSWORD, add_user, with_token};
use crate::common::db::columns_containing;
use crate::common::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;

const SECRET: &str = "test-secret-test-secret-test-secret-0123";
const MASTER_KEY: &str = "5c0e7d2a9b8f1e3d4c6b5a79880f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7";

on_both_backends!(
    totp_enrolment_login_replay_recovery_and_disable,
    failed_codes_are_throttled_and_pending_tokens_are_not_sessions,
    owner_requires_two_factor_for_every_member,
    enrolment_page_shows_the_otpauth_uri_as_a_qr_code,
);

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(
        backend,
        |s| {
            s.auth.jwt_secret = Some(Secret::new(SECRET));
            s.master_key = Some(Secret::new(MASTER_KEY));
        },
        None,
    )
    .await
}

/// The authenticator for a base32 secret, as an app would build it.
fn authenticator(secret_b32: &str) -> TOTP {
    let bytes = TotpSecret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .expect("base32 secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts and confirms enrolment; returns the authenticator and the recovery codes.
/// Enrols; returns the authenticator, the recovery codes and the time whose code confirmed.
async fn enrol(d: &mut Dashboard) -> (TOTP, Vec<String>, u64) {
    let started = d.post("/api/v1/me/two-factor", json!({})).await;
    assert_eq!(started.status, 201, "{started:?}");
    let uri = started.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Switchyard:"), "{uri}");
    let secret = started.body["secret"].as_str().unwrap().to_owned();
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let totp = authenticator(&secret);
    let confirmed_at = now_secs();
    let confirmed = d
        .post(
            "/api/v1/me/two-factor/confirm",
            json!({ "code": totp.generate(confirmed_at) }),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let codes: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (totp, codes, confirmed_at)
}

/// Password step; returns the answer and the client (without a session).
async fn password_step(app: &TestApp, email: &str) -> (Answer, Dashboard) {
    Dashboard::login(app, email, PASSWORD).await
}

async fn code_step(d: &mut Dashboard, pending: &str, code: &str) -> Answer {
    let answer = d
        .post(
            "/api/v1/auth/login/two-factor",
            json!({ "pending_token": pending, "code": code }),
        )
        .await;
    if answer.status == 200 {
        d.csrf = answer.body["csrf_token"].as_str().unwrap().to_owned();
    }
    answer
}

async fn audit_actions(d: &mut Dashboard) -> Vec<String> {
    let audit = d.get("/api/v1/audit?limit=200").await;
    assert_eq!(audit.status, 200, "{audit:?}");
    let items = audit.body["data"]
        .as_array()
        .or_else(|| audit.body.as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

async fn totp_enrolment_login_replay_recovery_and_disable(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let status = owner.get("/api/v1/me/two-factor").await;
    assert_eq!(status.body["enabled"], false, "{status:?}");

    // An unconfirmed secret does not count: login stays one step.
    let started = owner.post("/api/v1/me/two-factor", json!({})).await;
    assert_eq!(started.status, 201, "{started:?}");
    let (plain, _) = password_step(&app, "ada@acme.test").await;
    assert_eq!(plain.status, 200, "{plain:?}");
    let wrong = owner
        .post("/api/v1/me/two-factor/confirm", json!({ "code": "000000" }))
        .await;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert_eq!(wrong.body["error"]["field"], "code");

    // A new start replaces the unconfirmed secret; confirming turns it on.
    let (totp, recovery, confirmed_at) = enrol(&mut owner).await;
    let secret_b32 = totp.get_secret_base32();
    assert!(
        columns_containing(&app.db, &secret_b32).await.is_empty(),
        "the TOTP secret is stored in clear"
    );
    for code in &recovery {
        assert!(columns_containing(&app.db, code).await.is_empty(), "{code}");
    }
    let again = owner.post("/api/v1/me/two-factor", json!({})).await;
    assert_eq!(again.status, 409, "{again:?}");

    // Password step: a pending token, no session cookie.
    let (answer, mut client) = password_step(&app, "ada@acme.test").await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.body["two_factor_required"], true);
    assert!(client.session_cookie().is_none());
    let pending = answer.body["pending_token"].as_str().unwrap().to_owned();

    // The code used to confirm is spent (even if the clock has moved on a step since); the
    // next step's code works once.
    let spent = code_step(&mut client, &pending, &totp.generate(confirmed_at)).await;
    assert_eq!(spent.status, 401, "a code was accepted twice: {spent:?}");
    let next = totp.generate(now_secs() + 30);
    let ok = code_step(&mut client, &pending, &next).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(client.get("/api/v1/me").await.status, 200);
    let (answer, mut replay) = password_step(&app, "ada@acme.test").await;
    let pending2 = answer.body["pending_token"].as_str().unwrap().to_owned();
    let replayed = code_step(&mut replay, &pending2, &next).await;
    assert_eq!(replayed.status, 401, "{replayed:?}");
    // Two steps away is outside the skew.
    let far = code_step(&mut replay, &pending2, &totp.generate(now_secs() + 90)).await;
    assert_eq!(far.status, 401, "{far:?}");

    // A recovery code works once.
    let rec = code_step(&mut replay, &pending2, &recovery[0].to_uppercase()).await;
    assert_eq!(rec.status, 200, "{rec:?}");
    let (answer, mut third) = password_step(&app, "ada@acme.test").await;
    let pending3 = answer.body["pending_token"].as_str().unwrap().to_owned();
    let reused = code_step(&mut third, &pending3, &recovery[0]).await;
    assert_eq!(reused.status, 401, "{reused:?}");
    let left = owner.get("/api/v1/me/two-factor").await;
    assert_eq!(left.body["enabled"], true);
    assert_eq!(left.body["recovery_codes_left"], 9);

    // Disabling needs a current code or the password.
    let refused = owner
        .post(
            "/api/v1/me/two-factor/disable",
            json!({ "password": "not my password at all" }),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let bad_code = owner
        .post("/api/v1/me/two-factor/disable", json!({ "code": "123456" }))
        .await;
    assert_eq!(bad_code.status, 400, "{bad_code:?}");
    let off = owner
        .post(
            "/api/v1/me/two-factor/disable",
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(off.status, 204, "{off:?}");
    let (plain, _) = password_step(&app, "ada@acme.test").await;
    assert_eq!(plain.status, 200, "{plain:?}");

    let actions = audit_actions(&mut owner).await;
    for action in ["auth.totp_enrol", "auth.totp_failed", "auth.totp_disable"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing: {actions:?}"
        );
    }
}

async fn failed_codes_are_throttled_and_pending_tokens_are_not_sessions(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "bo@acme.test", "Acme").await;
    let (totp, _, _) = enrol(&mut owner).await;
    let (answer, mut client) = password_step(&app, "bo@acme.test").await;
    let pending = answer.body["pending_token"].as_str().unwrap().to_owned();

    // The pending token is not a session, in the cookie or as a bearer token.
    client
        .cookies
        .insert("__Host-switchyard_session".into(), pending.clone());
    assert_eq!(client.get("/api/v1/me").await.status, 401);
    client.cookies.remove("__Host-switchyard_session");
    let bearer = with_token(&app, &pending, Method::GET, "/api/v1/me", None).await;
    assert_eq!(bearer.status, 401);
    // A forged or foreign pending token is refused.
    let forged = code_step(&mut client, "eyJhbGciOiJIUzI1NiJ9.e30.x", "123456").await;
    assert_eq!(forged.status, 400, "{forged:?}");
    assert_eq!(forged.body["error"]["field"], "pending_token");

    // Ten wrong codes are free, then the next attempt waits, even with the right code.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let wrong = format!("{:06}", (i * 7919) % 1_000_000);
        if totp.check(&wrong, now_secs()) {
            continue;
        }
        statuses.push(code_step(&mut client, &pending, &wrong).await.status);
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let right = code_step(&mut client, &pending, &totp.generate(now_secs() + 30)).await;
    assert_eq!(right.status, 429, "{right:?}");
    assert!(right.headers.contains_key("retry-after"));
}

async fn owner_requires_two_factor_for_every_member(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "cy@acme.test", "Acme").await;
    let tenant = owner.get("/api/v1/me").await.body["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    add_user(&app, &tenant, "dee@acme.test", Role::Admin).await;
    let token = owner
        .post("/api/v1/tokens", json!({ "name": "ci", "role": "admin" }))
        .await;
    assert_eq!(token.status, 201, "{token:?}");
    let token = token.body["token"].as_str().unwrap().to_owned();

    // The owner must be enrolled before requiring it; an admin may not change it.
    let early = owner
        .call(
            Method::PUT,
            "/api/v1/settings/two-factor",
            Some(json!({ "require_two_factor": true })),
        )
        .await;
    assert_eq!(early.status, 400, "{early:?}");
    assert_eq!(early.body["error"]["field"], "require_two_factor");
    let (_, mut admin) = password_step(&app, "dee@acme.test").await;
    let by_admin = admin
        .call(
            Method::PUT,
            "/api/v1/settings/two-factor",
            Some(json!({ "require_two_factor": false })),
        )
        .await;
    assert_eq!(by_admin.status, 403, "{by_admin:?}");
    let (totp, _, _) = enrol(&mut owner).await;
    let on = owner
        .call(
            Method::PUT,
            "/api/v1/settings/two-factor",
            Some(json!({ "require_two_factor": true })),
        )
        .await;
    assert_eq!(on.status, 200, "{on:?}");
    assert_eq!(
        owner.get("/api/v1/settings/two-factor").await.body["require_two_factor"],
        true
    );

    // The member (already logged in, and logging in again) reaches only enrolment.
    let (login, mut member) = password_step(&app, "dee@acme.test").await;
    assert_eq!(login.status, 200, "{login:?}");
    for client in [&mut admin, &mut member] {
        let keys = client.get("/api/v1/keys").await;
        assert_eq!(keys.status, 403, "{keys:?}");
        assert_eq!(keys.code(), "two_factor_enrolment_required");
        let mint = client
            .post("/api/v1/keys", json!({ "name": "sneaky" }))
            .await;
        assert_eq!(mint.code(), "two_factor_enrolment_required", "{mint:?}");
        let mut no_follow = client.clone();
        no_follow.client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = no_follow.call(Method::GET, "/app/keys", None).await;
        assert_eq!(page.status, 303, "{page:?}");
        assert_eq!(
            page.headers.get("location").unwrap(),
            "/app/account/security"
        );
        assert_eq!(client.get("/api/v1/me").await.status, 200);
        let security = client
            .call(Method::GET, "/app/account/security", None)
            .await;
        assert_eq!(security.status, 200);
        assert!(
            security
                .body
                .as_str()
                .unwrap_or_default()
                .contains("requires two-factor login")
        );
    }
    // Admin API tokens are unaffected; the owner (enrolled) is too.
    let listed = with_token(&app, &token, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let (answer, mut owner2) = password_step(&app, "cy@acme.test").await;
    let pending = answer.body["pending_token"].as_str().unwrap().to_owned();
    let ok = code_step(&mut owner2, &pending, &totp.generate(now_secs() + 30)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(owner2.get("/api/v1/keys").await.status, 200);

    // Once enrolled, the member is let through.
    enrol(&mut member).await;
    assert_eq!(member.get("/api/v1/keys").await.status, 200);
    let page = member.call(Method::GET, "/app/keys", None).await;
    assert_eq!(page.status, 200);
    assert!(
        !page
            .body
            .as_str()
            .unwrap_or_default()
            .contains("requires two-factor")
    );
}

/// The Account security page shows the new secret as an inline SVG QR code of the same
/// `otpauth://` URI as the link (and the base32 text for manual entry), with no script.
async fn enrolment_page_shows_the_otpauth_uri_as_a_qr_code(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (mut browser, _) = crate::dashboard_pages::sign_up(&app, "qr@two.test", "QR").await;
    let off = browser.get("/app/account/security").await;
    assert!(!off.html.contains("<svg"), "no code before enrolment");
    let page = crate::control_ui::submit(
        &mut browser,
        "/app/account/security",
        "/app/account/security/totp",
        &[],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.html);
    crate::pages::assert_hardened(&page, "/app/account/security/totp");
    let uri = unescape(crate::control_ui::between(
        &page.html,
        "id=\"totp-uri\" href=\"",
        "\"",
    ));
    let secret = crate::control_ui::between(&page.html, "id=\"totp-secret\">", "<");
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let expected = switchyard::control_plane::dashboard::qr::svg(&uri).unwrap();
    let figure = crate::control_ui::between(&page.html, "id=\"totp-qr\"", "</figure>");
    assert!(figure.contains("aria-label=\"QR code"), "{figure}");
    assert!(
        figure.contains(&expected),
        "the QR code encodes the link: {figure}"
    );
    assert!(!page.html.contains("<script>"), "no inline script");
}

/// Undoes HTML escaping of an attribute value (`&amp;`, `&#38;`, `&#x26;`, …).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').unwrap() + at;
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or(entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => entity.strip_prefix('#').unwrap().parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
