//! The dashboard's configuration pages (keys' limits and last use, providers, models and
//! routing, the playground, PII and cache settings) over plain HTTP forms, on both backends.

mod api;
mod keys;
mod models;
mod pii_levels;
mod playground;
mod privacy;
mod providers;

use switchyard::domain::role::Role;

use super::pages::{Browser, Page, csrf_field};
use crate::common::TestApp;
use crate::common::dashboard::PASSWORD;

/// Signs up `email` with a new organisation through the form; the browser and the tenant id.
pub(crate) use super::dashboard_pages::sign_up;

/// Gets `path` and posts `form` (with the page's CSRF token) to `action`.
pub(crate) async fn submit(
    browser: &mut Browser,
    path: &str,
    action: &str,
    form: &[(&str, &str)],
) -> Page {
    let page = browser.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.html);
    let token = csrf_field(&page.html);
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend_from_slice(form);
    browser.post(action, &fields).await
}

/// The text between `start` and the next `end` in `html`.
pub(crate) fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` in {html}"))
        + start.len();
    html[from..].split(end).next().unwrap()
}

/// The master key test apps seal credentials under.
pub(crate) const MASTER_KEY: &str =
    "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c";

/// Adds `email` to the tenant with `role` and logs them in.
pub(crate) async fn member(app: &TestApp, tenant: &str, email: &str, role: Role) -> Browser {
    crate::common::dashboard::add_user(app, tenant, email, role).await;
    let mut browser = Browser::new(app);
    let done = submit(
        &mut browser,
        "/login",
        "/login",
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.html);
    browser
}
