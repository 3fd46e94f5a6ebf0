//! Accounts and sessions: sign-up, login, logout, forged and expired tokens, CSRF on every
//! state-changing route, security headers, login throttling, password change and reset,
//! platform administrators and tenant suspension.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use switchyard::config::Secret;
use switchyard::control_plane::api::ROUTES;
use switchyard::control_plane::auth::SessionSigner;
use switchyard::control_plane::auth::accounts;
use switchyard::control_plane::auth::jwt::{AUDIENCE, Claims, ISSUER};

use crate::common::dashboard::{Dashboard, PASSWORD};
use crate::common::{Backend, TestApp, spawn_app_with, spawn_gateway};
use crate::on_both_backends;

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(
        backend,
        |s| s.auth.jwt_secret = Some(Secret::new(SECRET)),
        None,
    )
    .await
}

on_both_backends!(
    signup_login_logout_and_cookie_attributes,
    forged_and_expired_tokens_are_rejected,
    state_changing_routes_without_csrf_are_refused,
    security_headers_on_every_response,
    login_is_throttled_after_ten_failures,
    password_change_and_reset_end_sessions,
    platform_admin_suspends_a_tenant_within_a_second,
    password_reset_link_arrives_by_email,
);

async fn signup_login_logout_and_cookie_attributes(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut anon = Dashboard::anonymous(&app).await;
    let signup = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "Ada@Acme.test", "password": PASSWORD, "organization": "Acme" }),
        )
        .await;
    assert_eq!(signup.status, 201, "{signup:?}");
    let set_cookie = signup
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-switchyard_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    assert!(!set_cookie.contains("Domain="), "{set_cookie}");
    anon.csrf = signup.body["csrf_token"].as_str().unwrap().to_owned();
    let mut owner = anon;
    let me = owner.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["label"], "ada@acme.test");
    assert_eq!(me.body["role"], "owner");
    let first_cookie = owner.session_cookie().cloned().unwrap();

    // A second login opens a new session with a new id.
    let (answer, mut second) = Dashboard::login(&app, "ada@acme.test", PASSWORD).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_ne!(second.session_cookie(), Some(&first_cookie));
    assert_eq!(second.get("/api/v1/me").await.status, 200);

    // Logout: the old cookie is refused at once; the other session lives on.
    let saved = owner.clone();
    let out = owner.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(out.status, 204, "{out:?}");
    assert!(owner.session_cookie().is_none(), "logout clears the cookie");
    let mut replay = saved;
    let me = replay.get("/api/v1/me").await;
    assert_eq!(me.status, 401, "{me:?}");
    assert_eq!(me.code(), "unauthorized");
    assert_eq!(second.get("/api/v1/me").await.status, 200);

    // Wrong password and unknown account look the same.
    let (wrong, _) = Dashboard::login(&app, "ada@acme.test", "not the password!!").await;
    let (unknown, _) = Dashboard::login(&app, "nobody@acme.test", PASSWORD).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);

    // Sign-up with a taken email or organisation is refused.
    let mut again = Dashboard::anonymous(&app).await;
    let taken = again
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "ada@acme.test", "password": PASSWORD, "organization": "Other" }),
        )
        .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    let short = again
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "b@acme.test", "password": "short", "organization": "Other" }),
        )
        .await;
    assert_eq!(short.status, 400, "{short:?}");
    assert_eq!(short.body["error"]["field"], "password");
}

fn forged(token: &str, session: &str) -> Dashboard {
    let _ = session;
    Dashboard {
        address: String::new(),
        client: reqwest::Client::new(),
        cookies: [("__Host-switchyard_session".to_owned(), token.to_owned())].into(),
        csrf: String::new(),
    }
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // base64url without padding, by hand (no extra test dependency).
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            let idx = (n >> (18 - 6 * i)) & 63;
            out.write_char(ALPHABET[idx as usize] as char).unwrap();
        }
    }
    out
}

async fn forged_and_expired_tokens_are_rejected(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let valid = owner.session_cookie().cloned().unwrap();
    let real = SessionSigner::new(SECRET.as_bytes());
    let claims = real.verify(&valid).expect("own token verifies");
    let now = chrono::Utc::now().timestamp();
    let signed = |c: &Claims, signer: &SessionSigner| signer.sign(c).unwrap();

    let parts: Vec<&str> = valid.split('.').collect();
    let payload = serde_json::to_vec(&claims).unwrap();
    let mut tampered_claims = claims.clone();
    tampered_claims.sub = "usr_someone_else".into();
    let tampered_payload = b64(&serde_json::to_vec(&tampered_claims).unwrap());
    let mut expired = claims.clone();
    expired.iat = now - 100;
    expired.nbf = now - 100;
    expired.exp = now - 6;
    let mut wrong_aud = claims.clone();
    wrong_aud.aud = "someone-else".into();
    let mut wrong_iss = claims.clone();
    wrong_iss.iss = "evil".into();
    let mut future = claims.clone();
    future.nbf = now + 60;
    let kid_header = b64(br#"{"alg":"HS256","typ":"JWT","kid":"other-key"}"#);
    let kid_token = {
        // Signed with the real secret but naming a key id we never issue.
        let unsigned = format!("{kid_header}.{}", b64(&payload));
        let good = signed(&claims, &real);
        let sig = good.rsplit('.').next().unwrap().to_owned();
        format!("{unsigned}.{sig}")
    };

    let cases = [
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(&payload)
            ),
        ),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], tampered_payload, parts[2]),
        ),
        (
            "wrong secret",
            signed(
                &claims,
                &SessionSigner::new(b"another-secret-another-secret-0123"),
            ),
        ),
        ("expired beyond leeway", signed(&expired, &real)),
        ("wrong audience", signed(&wrong_aud, &real)),
        ("wrong issuer", signed(&wrong_iss, &real)),
        ("not yet valid", signed(&future, &real)),
        ("unknown kid", kid_token),
        ("garbage", "not.a.jwt".to_owned()),
        ("alg RS256 header over an HMAC signature", {
            let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
            let sig = signed(&claims, &real)
                .rsplit('.')
                .next()
                .unwrap()
                .to_owned();
            format!("{header}.{}.{sig}", b64(&payload))
        }),
    ];
    for (name, token) in cases {
        let mut d = forged(&token, &claims.sid);
        d.address = app.address.clone();
        let me = d.get("/api/v1/me").await;
        assert_eq!(me.status, 401, "{name}: {me:?}");
    }
    // The well-formed control case passes, and a token just within the leeway does too.
    let mut within = claims.clone();
    within.exp = now - 2;
    let mut d = forged(&signed(&within, &real), &claims.sid);
    d.address = app.address.clone();
    assert_eq!(d.get("/api/v1/me").await.status, 200);
    // Sliding idle timeout: a token older than a minute is re-signed on use, never beyond the
    // session's absolute end.
    let mut aged = claims.clone();
    aged.iat = now - 120;
    aged.nbf = now - 120;
    aged.exp = now + 60;
    aged.sxp = now + 600;
    let mut d = forged(&signed(&aged, &real), &claims.sid);
    d.address = app.address.clone();
    let answer = d.get("/api/v1/me").await;
    let refreshed = d.session_cookie().cloned().unwrap();
    let fresh = real.verify(&refreshed).expect("refreshed token verifies");
    assert!(fresh.iat >= now && fresh.exp <= aged.sxp, "{fresh:?}");
    assert_eq!(
        fresh.exp, aged.sxp,
        "idle expiry (30 min) is capped by the session's end"
    );
    assert!(
        answer
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age="))
    );
    assert_eq!(AUDIENCE, claims.aud);
    assert_eq!(ISSUER, claims.iss);
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "x_unknown")
        .replace("{user_id}", "usr_unknown")
}

async fn state_changing_routes_without_csrf_are_refused(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let mut anon = Dashboard::anonymous(&app).await;
    let mut checked = 0;
    for (method, path) in ROUTES {
        let method: Method = method.to_uppercase().parse().unwrap();
        if matches!(method, Method::GET | Method::HEAD) {
            continue;
        }
        let path = concrete(path);
        for d in [&mut owner, &mut anon] {
            let body = Some(json!({}));
            let missing = d.raw(method.clone(), &path, body.clone(), None, &[]).await;
            assert_eq!(
                missing.status, 403,
                "{method} {path} without token: {missing:?}"
            );
            assert_eq!(missing.code(), "csrf_failed");
            let wrong = d
                .raw(method.clone(), &path, body.clone(), Some("0000"), &[])
                .await;
            assert_eq!(wrong.status, 403, "{method} {path} wrong token");
            let csrf = d.csrf.clone();
            let cross = d
                .raw(
                    method.clone(),
                    &path,
                    body.clone(),
                    Some(&csrf),
                    &[("origin", "https://evil.example")],
                )
                .await;
            assert_eq!(cross.status, 403, "{method} {path} cross-origin");
            let site = d
                .raw(
                    method.clone(),
                    &path,
                    body,
                    Some(&csrf),
                    &[("sec-fetch-site", "cross-site")],
                )
                .await;
            assert_eq!(site.status, 403, "{method} {path} cross-site");
            checked += 1;
        }
    }
    assert!(
        checked >= 2 * 20,
        "only {checked} state-changing routes checked"
    );
    // Another session's token does not work either.
    let mut other = Dashboard::signup(&app, "bob@beta.test", "Beta").await;
    let stolen = owner.csrf.clone();
    let refused = other
        .raw(
            Method::POST,
            "/api/v1/keys",
            Some(json!({})),
            Some(&stolen),
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    // With its own token and a same-origin Origin the same request works.
    let origin = app.address.clone();
    let csrf = other.csrf.clone();
    let ok = other
        .raw(
            Method::POST,
            "/api/v1/keys",
            Some(json!({})),
            Some(&csrf),
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(ok.status, 201, "{ok:?}");
}

async fn security_headers_on_every_response(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut owner = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    for path in [
        "/api/v1/me",
        "/api/v1/keys",
        "/api/openapi.json",
        "/api/v1/nope",
        "/healthz",
    ] {
        let answer = owner.get(path).await;
        let h = &answer.headers;
        let csp = h
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: CSP lacks {directive}: {csp}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{path}");
        let hsts = h
            .get("strict-transport-security")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            hsts.contains("max-age=63072000") && hsts.contains("includeSubDomains"),
            "{hsts}"
        );
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(h.get("referrer-policy").is_some(), "{path}");
    }
}

async fn login_is_throttled_after_ten_failures(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    for i in 0..10 {
        let (answer, _) = Dashboard::login(&app, "ada@acme.test", "wrong password here").await;
        assert_eq!(answer.status, 401, "attempt {i}: {answer:?}");
    }
    // The 11th attempt waits, even with the right password; no permanent lockout.
    let (throttled, _) = Dashboard::login(&app, "ada@acme.test", PASSWORD).await;
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert_eq!(throttled.code(), "too_many_attempts");
    let retry: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(1100)).await; // the imposed delay itself
    let (after, _) = Dashboard::login(&app, "ada@acme.test", PASSWORD).await;
    assert_eq!(after.status, 200, "{after:?}");
    // Failed logins are audited.
    let token_owner = Dashboard::login(&app, "ada@acme.test", PASSWORD).await.1;
    let mut d = token_owner;
    let audit = d.get("/api/v1/audit?limit=200").await;
    let failed = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .count();
    assert_eq!(failed, 10, "{audit:?}");
    assert!(
        audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "auth.login" && e["ip"] == "127.0.0.1")
    );
}

async fn password_change_and_reset_end_sessions(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut first = Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let (_, mut second) = Dashboard::login(&app, "ada@acme.test", PASSWORD).await;
    let new_password = "a brand new passphrase";
    let wrong = first
        .post(
            "/api/v1/auth/password",
            json!({ "current_password": "nope nope nope", "new_password": new_password }),
        )
        .await;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert_eq!(wrong.body["error"]["field"], "current_password");
    let changed = first
        .post(
            "/api/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["other_sessions_ended"], 1);
    assert_eq!(first.get("/api/v1/me").await.status, 200);
    assert_eq!(second.get("/api/v1/me").await.status, 401);
    assert_eq!(
        Dashboard::login(&app, "ada@acme.test", PASSWORD)
            .await
            .0
            .status,
        401
    );
    assert_eq!(
        Dashboard::login(&app, "ada@acme.test", new_password)
            .await
            .0
            .status,
        200
    );

    // Reset: the endpoint answers the same for unknown accounts; the token works once.
    let mut anon = Dashboard::anonymous(&app).await;
    for email in ["ada@acme.test", "nobody@acme.test"] {
        let asked = anon
            .post("/api/v1/auth/password-reset", json!({ "email": email }))
            .await;
        assert_eq!(asked.status, 202, "{asked:?}");
    }
    let token = accounts::request_reset(&app.db, "ada@acme.test")
        .await
        .unwrap()
        .expect("token");
    let reset_password = "reset passphrase 123";
    let done = anon
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({ "token": token, "new_password": reset_password }),
        )
        .await;
    assert_eq!(done.status, 204, "{done:?}");
    let again = anon
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "yet another one 123" }),
        )
        .await;
    assert_eq!(again.status, 400, "single use: {again:?}");
    assert_eq!(
        first.get("/api/v1/me").await.status,
        401,
        "reset ends every session"
    );
    assert_eq!(
        Dashboard::login(&app, "ada@acme.test", reset_password)
            .await
            .0
            .status,
        200
    );
}

async fn platform_admin_suspends_a_tenant_within_a_second(backend: Backend) {
    let Some(gw) = spawn_gateway(backend, |s| s.auth.jwt_secret = Some(Secret::new(SECRET))).await
    else {
        return;
    };
    let app = &gw.app;
    // `switchyard admin create` through the real binary, password on stdin.
    let (mut cmd, _dir) =
        crate::common::binary_command(&[("DATABASE_URL", app.test_db.url.as_str())]);
    let mut child = cmd
        .args([
            "admin",
            "create",
            "--email",
            "root@platform.test",
            "--password-stdin",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"platform admin passphrase\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["created"], true);

    let (login, mut admin) =
        Dashboard::login(app, "root@platform.test", "platform admin passphrase").await;
    assert_eq!(login.status, 200, "{login:?}");
    let tenants = admin.get("/api/v1/admin/tenants").await;
    assert_eq!(tenants.status, 200, "{tenants:?}");
    assert_eq!(tenants.body[0]["name"], "Acme");

    // A tenant owner is not a platform admin.
    let (_, mut owner) =
        Dashboard::login(app, "owner@acme.test", "correct horse battery staple").await;
    assert_eq!(owner.get("/api/v1/admin/tenants").await.status, 403);

    let models = || {
        app.client
            .get(format!("{}/v1/models", app.address))
            .bearer_auth(&gw.key)
            .send()
    };
    assert_eq!(models().await.unwrap().status(), 200);
    let suspended = admin
        .post(
            &format!("/api/v1/admin/tenants/{}/suspend", gw.tenant),
            json!({}),
        )
        .await;
    assert_eq!(suspended.status, 204, "{suspended:?}");
    let started = Instant::now();
    loop {
        if models().await.unwrap().status() != 200 {
            eprintln!(
                "suspension reached the data path in {:?}",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "suspension took over 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = admin
        .post("/api/v1/admin/tenants/ten_unknown/suspend", json!({}))
        .await;
    assert_eq!(unknown.status, 404);
    let back = admin
        .post(
            &format!("/api/v1/admin/tenants/{}/reactivate", gw.tenant),
            json!({}),
        )
        .await;
    assert_eq!(back.status, 204);
}

async fn password_reset_link_arrives_by_email(backend: Backend) {
    let smtp = crate::common::smtp::SmtpSink::start().await;
    let port = smtp.port;
    let Some(app) = spawn_app_with(
        backend,
        move |s| {
            s.smtp.host = Some("127.0.0.1".into());
            s.smtp.port = port;
            s.smtp.tls = switchyard::config::SmtpTls::None;
        },
        None,
    )
    .await
    else {
        return;
    };
    Dashboard::signup(&app, "ada@acme.test", "Acme").await;
    let mut anon = Dashboard::anonymous(&app).await;
    let nobody = anon
        .post(
            "/api/v1/auth/password-reset",
            json!({ "email": "nobody@acme.test" }),
        )
        .await;
    assert_eq!(nobody.status, 202);
    let asked = anon
        .post(
            "/api/v1/auth/password-reset",
            json!({ "email": "ada@acme.test" }),
        )
        .await;
    assert_eq!(asked.status, 202);
    let started = Instant::now();
    let mail = loop {
        if let Some(mail) = smtp.mails().into_iter().next() {
            break mail;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no reset email"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        mail.to.iter().any(|t| t.contains("ada@acme.test")),
        "{mail:?}"
    );
    let text = mail
        .data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let token = text
        .split("/reset?token=")
        .nth(1)
        .expect("link in the email")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect::<String>();
    assert_eq!(token.len(), 64, "{text}");
    let done = anon
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "emailed reset pass 1" }),
        )
        .await;
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(
        Dashboard::login(&app, "ada@acme.test", "emailed reset pass 1")
            .await
            .0
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        smtp.mails().len(),
        1,
        "nothing is sent for an unknown account"
    );
}
