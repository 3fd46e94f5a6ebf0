//! The Providers page: add a credential per kind, listed masked (the key never comes back),
//! test the connection (htmx partial and plain form), remove; validation names the field,
//! SSRF-refused base URLs read well, only admins change anything, another tenant's is a 404.

use switchyard::config::Secret;
use switchyard::domain::role::Role;

use super::{MASTER_KEY, member, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider};
use crate::common::{Backend, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    credentials_are_added_tested_and_removed,
    bad_credentials_name_the_field_and_private_urls_are_refused,
);

const SECRET: &str = "sk-dashboard-canary-0123456789";

async fn credentials_are_added_tested_and_removed(backend: Backend) {
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
    let (mut owner, tenant) = sign_up(&app, "owner@providers.test", "Providers").await;
    let empty = owner.get("/app/providers").await;
    assert_eq!(empty.status, 200);
    assert!(empty.html.contains("No provider credentials yet"));
    super::super::pages::assert_hardened(&empty, "/app/providers");
    for label in [
        "Name",
        "Provider",
        "Base URL",
        "API key",
        "API version (Azure)",
    ] {
        assert!(empty.html.contains(&format!(">{label}</label>")), "{label}");
    }

    let added = submit(
        &mut owner,
        "/app/providers",
        "/app/providers",
        &[
            ("name", "local"),
            ("kind", "openai-compatible"),
            ("base_url", &mock.base_url),
            ("api_key", SECRET),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.html);
    let anthropic = submit(
        &mut owner,
        "/app/providers",
        "/app/providers",
        &[
            ("name", "claude"),
            ("kind", "anthropic"),
            ("api_key", "sk-ant-0123456789"),
        ],
    )
    .await;
    assert_eq!(anthropic.status, 303, "{}", anthropic.html);
    let list = owner.get("/app/providers").await;
    assert!(list.html.contains("sk-…6789"), "{}", list.html);
    assert!(!list.html.contains(SECRET), "the key never comes back");
    assert!(list.html.contains("https://api.anthropic.com"));
    assert!(list.html.contains("not tested"));

    // htmx: the result alone.
    let token = super::super::pages::csrf_field(&list.html);
    let partial = owner
        .post_with_headers(
            "/app/providers/test",
            &[("csrf_token", &token), ("name", "local")],
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(partial.status, 200, "{}", partial.html);
    assert!(partial.html.contains("connected"), "{}", partial.html);
    assert!(
        !partial.html.contains("<html"),
        "a partial: {}",
        partial.html
    );
    // Without JavaScript: the page with the result beside the credential.
    let page = submit(
        &mut owner,
        "/app/providers",
        "/app/providers/test",
        &[("name", "local")],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("accepted the key"), "{}", page.html);
    let list = owner.get("/app/providers").await;
    assert!(list.html.contains("badge ok"), "the outcome is stored");

    // A member reads but cannot change; another tenant's credential is a 404.
    let mut reader = member(&app, &tenant, "member@providers.test", Role::Member).await;
    let read = reader.get("/app/providers").await;
    assert!(read.html.contains("local") && !read.html.contains("Add a credential"));
    let refused = submit(
        &mut reader,
        "/app/providers",
        "/app/providers/remove",
        &[("name", "local")],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    let (mut stranger, _) = sign_up(&app, "owner@other.test", "Other").await;
    for action in ["/app/providers/remove", "/app/providers/test"] {
        let missing = submit(
            &mut stranger,
            "/app/providers",
            action,
            &[("name", "local")],
        )
        .await;
        assert_eq!(missing.status, 404, "{action}: {}", missing.html);
    }

    let removed = submit(
        &mut owner,
        "/app/providers",
        "/app/providers/remove",
        &[("name", "local")],
    )
    .await;
    assert_eq!(removed.status, 303, "{}", removed.html);
    let list = owner.get("/app/providers").await;
    assert!(!list.html.contains(&mock.base_url) && list.html.contains("claude"));
}

async fn bad_credentials_name_the_field_and_private_urls_are_refused(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        |s| s.master_key = Some(Secret::new(MASTER_KEY)),
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, _) = sign_up(&app, "owner@badcreds.test", "Bad Creds").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("name", "a"), ("kind", "openai")],
            "api_key: must not be empty.",
        ),
        (
            &[
                ("name", "a"),
                ("kind", "azure-openai"),
                ("api_key", "k-0123456789"),
            ],
            "base_url",
        ),
        (
            &[
                ("name", "a"),
                ("kind", "azure-openai"),
                ("base_url", "https://x.openai.azure.com"),
                ("api_key", "k-0123456789"),
            ],
            "api_version",
        ),
        (
            &[
                ("name", " "),
                ("kind", "openai"),
                ("api_key", "k-0123456789"),
            ],
            "name",
        ),
        (
            &[("name", "a"), ("kind", "mystery"), ("api_key", "k")],
            "kind",
        ),
        (
            &[
                ("name", "a"),
                ("kind", "openai-compatible"),
                ("base_url", "http://169.254.169.254/latest"),
                ("api_key", "k-0123456789"),
            ],
            "base_url",
        ),
        (
            &[
                ("name", "a"),
                ("kind", "openai-compatible"),
                ("base_url", "http://127.0.0.1:8080/v1"),
                ("api_key", "k-0123456789"),
            ],
            "private or link-local address",
        ),
    ];
    for (form, needle) in cases {
        let page = submit(&mut owner, "/app/providers", "/app/providers", form).await;
        assert_eq!(page.status, 400, "{form:?}: {}", page.html);
        let alert = super::between(&page.html, "role=\"alert\" id=\"form-error\">", "</p>");
        assert!(alert.contains(needle), "{form:?}: {alert}");
        assert!(!page.html.contains("k-0123456789"), "the key is not echoed");
    }
    let page = submit(
        &mut owner,
        "/app/providers",
        "/app/providers",
        &[
            ("name", "dup"),
            ("kind", "openai"),
            ("api_key", "sk-0123456789"),
        ],
    )
    .await;
    assert_eq!(page.status, 303);
    let again = submit(
        &mut owner,
        "/app/providers",
        "/app/providers",
        &[
            ("name", "dup"),
            ("kind", "openai"),
            ("api_key", "sk-0123456789"),
        ],
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(again.html.contains("already exists"));
}
