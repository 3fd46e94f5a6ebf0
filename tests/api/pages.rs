//! The server-rendered pages: forms carry the CSRF field, work without JavaScript, and every
//! page carries the security headers and no inline script.

use std::collections::BTreeMap;

use crate::common::dashboard::PASSWORD;
use crate::common::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(signup_login_and_logout_through_the_forms);

pub(crate) struct Browser {
    client: reqwest::Client,
    address: String,
    cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            address: app.address.clone(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header("cookie", cookie).send().await.unwrap();
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            headers: res.headers().clone(),
            html: res.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.address));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.address))
            .header("origin", self.address.clone())
            .form(form);
        self.send(req).await
    }

    /// Posts a form with extra headers (e.g. `hx-request` for an htmx partial).
    pub(crate) async fn post_with_headers(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .header("origin", self.address.clone())
            .form(form);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }
}

pub(crate) fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) fn assert_hardened(page: &Page, what: &str) {
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert!(
        page.headers.contains_key("strict-transport-security"),
        "{what}"
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff", "{what}");
    for script in page.html.split("<script").skip(1) {
        assert!(
            script.trim_start().starts_with("src="),
            "{what}: inline script"
        );
    }
    assert!(!page.html.contains(" style=\""), "{what}: inline style");
    assert!(!page.html.contains("onclick"), "{what}: inline handler");
}

async fn signup_login_and_logout_through_the_forms(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"));
    for path in ["/login", "/signup", "/reset", "/reset?token=abc"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_hardened(&page, path);
        assert!(page.html.contains("name=\"csrf_token\""), "{path}");
        // Every input has a label.
        for id in page
            .html
            .split("<input id=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
        {
            assert!(
                page.html.contains(&format!("<label for=\"{id}\">")),
                "{path}: #{id} unlabelled"
            );
        }
    }
    assert_eq!(browser.get("/static/app.css").await.status, 200);
    let htmx = browser.get("/static/htmx.min.js").await;
    assert!(htmx.status == 200 || htmx.status == 404);

    // No token: refused.
    let refused = browser
        .post(
            "/signup",
            &[
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("organization", "Acme"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);

    let page = browser.get("/signup").await;
    let csrf = csrf_field(&page.html);
    let weak = browser
        .post(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("email", "ada@acme.test"),
                ("password", "short"),
                ("organization", "Acme"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(
        weak.html.contains("role=\"alert\"") && weak.html.contains("12 characters"),
        "{}",
        weak.html
    );
    assert!(
        weak.html.contains("value=\"ada@acme.test\""),
        "the form keeps what was typed"
    );
    let done = browser
        .post(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("organization", "Acme"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/app"));
    let shell = browser.get("/app").await;
    assert_eq!(shell.status, 200);
    assert_hardened(&shell, "/app");
    assert!(
        shell.html.contains("Acme") && shell.html.contains("owner"),
        "{}",
        shell.html
    );

    // Log out with the session-bound token, then the shell sends us to the login page.
    let token = csrf_field(&shell.html);
    let out = browser.post("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(
        browser.get("/app").await.location.as_deref(),
        Some("/login")
    );

    let login = browser.get("/login").await;
    let csrf = csrf_field(&login.html);
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "ada@acme.test"),
                ("password", "not my password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.html.contains("Incorrect email or password."));
    let ok = browser
        .post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(browser.get("/app").await.status, 200);
}
