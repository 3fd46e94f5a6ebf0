//! The PII section of a team's page and a key's edit page (the privacy page's form): it shows
//! whether the level inherits or overrides, saves per-type overrides the data path applies,
//! "inherit" clears them; viewers read it only; another tenant's team or key is a 404.

use serde_json::json;
use switchyard::control_plane::pii;
use switchyard::domain::ids::TenantId;
use switchyard::domain::role::Role;
use switchyard::policy::pii::{Action, PiiPolicy};
use switchyard::providers::ProviderKind;
use switchyard::storage::pii_settings::Level;
use switchyard::storage::teams;

use super::{between, member, sign_up, submit};
use crate::common::mock_provider::{MockBehavior, MockProvider, last_user_text};
use crate::common::{Backend, TestApp, add_provider, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(team_and_key_pages_set_show_and_clear_their_pii_policy);

const EMAIL: &str = "jane@example.com";

fn alert(html: &str) -> &str {
    between(html, "role=\"alert\" id=\"form-error\">", "</p>")
}

/// The upstream text of a chat sent as `key` (after the snapshot caught up).
async fn upstream_text(app: &TestApp, mock: &MockProvider, key: &str) -> String {
    app.wait_for_policy().await;
    let res = app
        .post_json(
            "/v1/chat/completions",
            key,
            &json!({ "model": "gpt-test", "messages": [{ "role": "user", "content": format!("mail {EMAIL}") }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    last_user_text(&mock.received().last().unwrap().body)
}

async fn team_and_key_pages_set_show_and_clear_their_pii_policy(backend: Backend) {
    let mock = MockProvider::start(MockBehavior::default()).await;
    let base = mock.base_url.clone();
    let Some(app) = spawn_app_with(
        backend,
        move |s| add_provider(s, "openai", ProviderKind::Openai, &base, &["gpt-test"]),
        None,
    )
    .await
    else {
        return;
    };
    let (mut owner, tenant) = sign_up(&app, "owner@levels.test", "Levels").await;
    let tenant_id = TenantId::from_db(tenant.clone());
    let created = submit(
        &mut owner,
        "/app/teams",
        "/app/teams",
        &[("name", "research")],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let team = teams::find_by_name(&app.db, &tenant_id, "research")
        .await
        .unwrap()
        .unwrap()
        .id;
    let team_page = format!("/app/teams/{team}");
    assert!(
        owner
            .get("/app/teams")
            .await
            .html
            .contains(&format!("href=\"{team_page}\"")),
        "the teams list links to the team page"
    );

    // A fresh team inherits; the organisation's setting is shown per type.
    pii::put(
        &app.db,
        &tenant_id,
        &Level::Tenant,
        &PiiPolicy {
            card: Some(Action::Redact),
            ..PiiPolicy::default()
        },
        switchyard::control_plane::Actor::CLI,
    )
    .await
    .unwrap();
    let page = owner.get(&team_page).await;
    assert_eq!(page.status, 200, "{}", page.html);
    super::super::pages::assert_hardened(&page, &team_page);
    assert!(page.html.contains(&format!("action=\"{team_page}/pii\"")));
    assert!(page.html.contains("<span class=\"badge\">inherits</span>"));
    assert!(
        page.html
            .contains("<option value=\"inherit\" selected>inherit (redact)</option>")
    );
    assert!(
        !page.html.contains("id=\"inherit-pii\""),
        "nothing to clear yet"
    );

    // Errors name the field and keep what was typed.
    let bad = submit(
        &mut owner,
        &team_page,
        &format!("{team_page}/pii"),
        &[("pii_email", "shred"), ("pii_card", "mask")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(
        alert(&bad.html).contains("pii_email"),
        "{}",
        alert(&bad.html)
    );
    assert!(bad.html.contains("<option value=\"mask\" selected>"));

    // The team tokenizes email; its keys follow.
    let saved = submit(
        &mut owner,
        &team_page,
        &format!("{team_page}/pii"),
        &[("pii_email", "tokenize"), ("pii_card", "inherit")],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("{team_page}?saved=pii").as_str())
    );
    let stored = pii::get(&app.db, &tenant_id, &Level::Team(team.clone()))
        .await
        .unwrap();
    assert_eq!(
        stored,
        PiiPolicy {
            email: Some(Action::Tokenize),
            ..PiiPolicy::default()
        }
    );
    let page = owner.get(&format!("{team_page}?saved=pii")).await;
    assert!(page.html.contains("PII policy saved"));
    assert!(page.html.contains("<span class=\"badge\">overrides</span>"));
    assert!(page.html.contains("This team sets Email addresses"));
    assert!(page.html.contains("id=\"inherit-pii\""));

    let minted = submit(
        &mut owner,
        "/app/keys",
        "/app/keys",
        &[("name", "k"), ("team", "research")],
    )
    .await;
    let secret = between(&minted.html, "class=\"secret-value\">", "<").to_owned();
    assert_eq!(upstream_text(&app, &mock, &secret).await, "mail [EMAIL_1]");
    let key = switchyard::control_plane::keys::list(&app.db, &tenant_id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "k")
        .unwrap()
        .id;
    assert!(page_has_key(&owner.get(&team_page).await.html, &key));

    // The key's page shows what it inherits from the team; the key switches email off.
    let key_page = format!("/app/keys/{key}");
    let page = owner.get(&key_page).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("<span class=\"badge\">inherits</span>"));
    assert!(
        page.html
            .contains("<option value=\"inherit\" selected>inherit (tokenize)</option>")
    );
    let saved = submit(
        &mut owner,
        &key_page,
        &format!("{key_page}/pii"),
        &[("pii_email", "off")],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(
        pii::get(&app.db, &tenant_id, &Level::Key(key.clone()))
            .await
            .unwrap()
            .email,
        Some(Action::Allow)
    );
    assert_eq!(
        upstream_text(&app, &mock, &secret).await,
        format!("mail {EMAIL}")
    );
    let page = owner.get(&key_page).await;
    assert!(page.html.contains("This key sets Email addresses"));
    assert!(
        page.html
            .contains("<option value=\"off\" selected>off</option>")
    );

    // Viewers read both sections but cannot change them.
    let mut viewer = member(&app, &tenant, "viewer@levels.test", Role::Viewer).await;
    for (path, action) in [
        (&team_page, format!("{team_page}/pii")),
        (&key_page, format!("{key_page}/pii")),
    ] {
        let read = viewer.get(path).await;
        assert_eq!(read.status, 200, "{path}: {}", read.html);
        assert!(read.html.contains("id=\"pii-read-only\""), "{path}");
        assert!(!read.html.contains("id=\"save-pii\""), "{path}");
        assert!(!read.html.contains("id=\"inherit-pii\""), "{path}");
        assert!(read.html.contains("name=\"pii_email\" disabled"), "{path}");
        for target in [action.clone(), format!("{action}/inherit")] {
            let refused = submit(&mut viewer, path, &target, &[("pii_email", "block")]).await;
            assert_eq!(refused.status, 403, "{target}: {}", refused.html);
        }
    }

    // Another tenant's team and key are not found, and cannot be changed.
    let (mut stranger, _) = sign_up(&app, "owner@other.test", "Other").await;
    for path in [&team_page, &key_page] {
        assert_eq!(stranger.get(path).await.status, 404, "{path}");
        let refused = submit(
            &mut stranger,
            "/app/keys",
            &format!("{path}/pii"),
            &[("pii_email", "block")],
        )
        .await;
        assert_eq!(refused.status, 404, "{path}: {}", refused.html);
        let refused = submit(
            &mut stranger,
            "/app/keys",
            &format!("{path}/pii/inherit"),
            &[],
        )
        .await;
        assert_eq!(refused.status, 404, "{path}");
    }
    // Without the CSRF token nothing changes.
    let forged = owner
        .post(
            &format!("{key_page}/pii/inherit"),
            &[("pii_email", "block")],
        )
        .await;
    assert_eq!(forged.status, 403);

    // "Inherit" clears the key, then the team.
    for (page, inherit) in [
        (&key_page, format!("{key_page}/pii/inherit")),
        (&team_page, format!("{team_page}/pii/inherit")),
    ] {
        let done = submit(&mut owner, page, &inherit, &[]).await;
        assert_eq!(done.status, 303, "{inherit}: {}", done.html);
    }
    for level in [Level::Key(key.clone()), Level::Team(team.clone())] {
        assert!(
            pii::get(&app.db, &tenant_id, &level)
                .await
                .unwrap()
                .is_empty(),
            "{level:?}"
        );
    }
    assert_eq!(
        upstream_text(&app, &mock, &secret).await,
        format!("mail {EMAIL}")
    );
}

fn page_has_key(html: &str, key: &str) -> bool {
    html.contains(&format!("href=\"/app/keys/{key}\""))
}
