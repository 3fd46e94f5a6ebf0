//! A dashboard client for tests: keeps the session and pre-session cookies by hand (reqwest
//! would not send `Secure` cookies over plain HTTP) and sends the CSRF header.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;

/// The password test users get.
pub const PASSWORD: &str = "correct horse battery staple";

/// Adds a user with `role` and [`PASSWORD`] to the tenant directly in the database (no
/// invitation); returns the user id.
pub async fn add_user(
    app: &TestApp,
    tenant: &str,
    email: &str,
    role: switchyard::domain::role::Role,
) -> String {
    use switchyard::domain::ids::{TenantId, UserId};
    use switchyard::domain::time::now_millis;
    use switchyard::storage::users;
    let id = UserId::generate();
    let hash = switchyard::control_plane::passwords::hash(PASSWORD.into())
        .await
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    users::insert(&mut tx, &id, email, &hash, now_millis())
        .await
        .unwrap();
    users::add_membership(
        &mut tx,
        &TenantId::from_db(tenant.into()),
        &id,
        role,
        now_millis(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id.to_string()
}

/// A browser-like client of one app.
#[derive(Clone)]
pub struct Dashboard {
    pub address: String,
    pub client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub csrf: String,
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The error code of a JSON error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl Dashboard {
    /// A client with a pre-session cookie and its CSRF token.
    pub async fn anonymous(app: &TestApp) -> Dashboard {
        let mut d = Dashboard {
            address: app.address.clone(),
            client: app.client.clone(),
            cookies: BTreeMap::new(),
            csrf: String::new(),
        };
        let answer = d.call(Method::GET, "/api/v1/auth/csrf", None).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        d.csrf = answer.body["csrf_token"]
            .as_str()
            .expect("csrf token")
            .to_owned();
        d
    }

    /// Signs up a new organisation; panics unless it works.
    pub async fn signup(app: &TestApp, email: &str, organization: &str) -> Dashboard {
        let mut d = Dashboard::anonymous(app).await;
        let answer = d
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                Some(json!({ "email": email, "password": PASSWORD, "organization": organization })),
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        d.csrf = answer.body["csrf_token"].as_str().expect("csrf").to_owned();
        d
    }

    /// Logs in; the answer and, on success, the logged-in client.
    pub async fn login(app: &TestApp, email: &str, password: &str) -> (Answer, Dashboard) {
        let mut d = Dashboard::anonymous(app).await;
        let answer = d
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        if answer.status == 200 {
            d.csrf = answer.body["csrf_token"].as_str().expect("csrf").to_owned();
        }
        (answer, d)
    }

    /// The session cookie's value.
    pub fn session_cookie(&self) -> Option<&String> {
        self.cookies.get("__Host-switchyard_session")
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request with the cookies and the CSRF header, keeping cookies set by the answer.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let csrf = self.csrf.clone();
        self.raw(method, path, body, Some(&csrf), &[]).await
    }

    /// Sends a request with chosen CSRF token and extra headers.
    pub async fn raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if let Some(csrf) = csrf.filter(|c| !c.is_empty()) {
            req = req.header("x-csrf-token", csrf);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request to app");
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().expect("cookie text");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET` with the session.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// `POST` JSON with the session and CSRF header.
    pub async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Calls the API with an admin token.
pub async fn with_token(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request to app");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}
