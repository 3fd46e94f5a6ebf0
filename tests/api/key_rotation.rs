//! Master-key rotation (`switchyard master-key rotate --new-key-env VAR`): provider
//! credentials, alert signing secrets and TOTP secrets of several tenants are re-sealed under
//! the new key in one transaction; afterwards 100 % open with the new key alone and none with
//! the old one alone; a ciphertext moved to another tenant's row still fails (AAD); a secret
//! no key opens aborts the rotation with nothing changed.

use switchyard::control_plane::Actor;
use switchyard::control_plane::alerts::{self, NewDestination};
use switchyard::control_plane::auth::accounts::ClientInfo;
use switchyard::control_plane::auth::two_factor;
use switchyard::control_plane::providers::{self, NewCredential};
use switchyard::crypto::MasterKey;
use switchyard::crypto::rotate::context_of;
use switchyard::providers::ProviderKind;
use switchyard::storage::sealed::{self, SealedKind, SealedRow};
use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

use crate::common::{Backend, TestApp, run_binary, spawn_app, stderr, stdout};
use crate::on_both_backends;

const OLD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const NEW: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const NEWER: &str = "1f2e3d4c5b6a79880f1e2d3c4b5a69781f2e3d4c5b6a79880f1e2d3c4b5a6978";

on_both_backends!(rotation_reseals_every_secret_under_the_new_key);

fn actor() -> Actor<'static> {
    Actor {
        user_id: None,
        label: "test",
        ip: None,
    }
}

async fn rows(app: &TestApp) -> Vec<SealedRow> {
    let mut tx = app.db.begin().await.unwrap();
    let rows = sealed::all(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    rows
}

fn rotate(app: &TestApp, current: &str, new_var: &str, new: &str) -> std::process::Output {
    run_binary(
        &["master-key", "rotate", "--new-key-env", new_var, "--json"],
        &[
            ("DATABASE_URL", app.test_db.url.as_str()),
            ("SWITCHYARD_MASTER_KEY", current),
            (new_var, new),
        ],
    )
}

async fn rotation_reseals_every_secret_under_the_new_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let old = MasterKey::parse(OLD).unwrap();
    let new = MasterKey::parse(NEW).unwrap();
    let mut plaintexts = Vec::new();
    let mut tenants = Vec::new();
    let mut owner = (String::new(), String::new());
    for name in ["Acme", "Globex"] {
        let created = app.create_tenant(name).await;
        owner = (created.owner_id.to_string(), created.owner_email.clone());
        let tenant = created.tenant_id;
        let api_key = format!("sk-canary-{name}-{}", uuid::Uuid::now_v7().simple());
        providers::add(
            &app.db,
            Some(&old),
            true,
            &tenant,
            NewCredential {
                name: "main".into(),
                kind: ProviderKind::Openai,
                base_url: None,
                api_key: api_key.clone(),
                api_version: None,
            },
            actor(),
        )
        .await
        .unwrap();
        plaintexts.push(api_key);
        let hook_secret = format!("whsec-canary-{name}-0123456789");
        alerts::add(
            &app.db,
            Some(&old),
            true,
            &tenant,
            NewDestination::Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                secret: Some(hook_secret.clone()),
            },
            actor(),
        )
        .await
        .unwrap();
        plaintexts.push(hook_secret);
        tenants.push(tenant);
    }
    // A TOTP secret, enrolled and confirmed.
    let (user_id, email) = (owner.0.clone(), owner.1.clone());
    let enrolment = two_factor::begin(&app.db, Some(&old), &user_id, &email)
        .await
        .unwrap();
    let totp_bytes = TotpSecret::Encoded(enrolment.secret_base32.clone())
        .to_bytes()
        .unwrap();
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        0,
        30,
        totp_bytes.clone(),
        None,
        "t".into(),
    );
    let code = totp.generate_current().unwrap();
    two_factor::confirm(
        &app.db,
        Some(&old),
        None,
        &user_id,
        &email,
        &code,
        &ClientInfo::default(),
    )
    .await
    .unwrap();

    let before = rows(&app).await;
    assert_eq!(before.len(), 5, "{before:?}");
    assert!(
        before
            .iter()
            .all(|r| old.open(&r.sealed, &context_of(r)).is_ok())
    );

    // Rotate with the binary: the old key from the configuration, the new one from a variable.
    let out = rotate(&app, OLD, "NEW_KEY_FOR_TEST", NEW);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["provider_credentials"], 2, "{report}");
    assert_eq!(report["alert_secrets"], 2, "{report}");
    assert_eq!(report["totp_secrets"], 1, "{report}");
    assert_eq!(report["new_key_id"], new.id());

    let after = rows(&app).await;
    assert_eq!(after.len(), before.len());
    let mut opened = Vec::new();
    for row in &after {
        let context = context_of(row);
        let plain = new
            .open(&row.sealed, &context)
            .unwrap_or_else(|_| panic!("{row:?} does not open with the new key"));
        assert!(
            old.open(&row.sealed, &context).is_err(),
            "{row:?} still opens with the old key"
        );
        match row.kind {
            SealedKind::TotpSecret => assert_eq!(plain, totp_bytes),
            _ => opened.push(String::from_utf8(plain).unwrap()),
        }
    }
    opened.sort();
    plaintexts.sort();
    assert_eq!(opened, plaintexts, "every secret survives the rotation");
    // During the transition, the new key with the old one as previous reads everything.
    let ring = MasterKey::from_config(Some(NEW), Some(OLD))
        .unwrap()
        .unwrap();
    assert!(
        after
            .iter()
            .all(|r| ring.open(&r.sealed, &context_of(r)).is_ok())
    );
    // The TOTP code still verifies through the service with the new key.
    assert!(
        two_factor::check_code(
            &app.db,
            Some(&new),
            &user_id,
            &email,
            &totp.generate(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 30
            )
        )
        .await
        .unwrap()
    );

    // A credential ciphertext moved onto the other tenant's row does not open there.
    let creds: Vec<&SealedRow> = after
        .iter()
        .filter(|r| r.kind == SealedKind::ProviderCredential)
        .collect();
    let (a, b) = (creds[0], creds[1]);
    assert_ne!(a.tenant_id, b.tenant_id);
    let mut tx = app.db.begin().await.unwrap();
    sealed::replace(&mut tx, b, &a.sealed).await.unwrap();
    tx.commit().await.unwrap();
    let moved = rows(&app)
        .await
        .into_iter()
        .find(|r| r.id == b.id && r.kind == SealedKind::ProviderCredential)
        .unwrap();
    assert_eq!(moved.sealed, a.sealed);
    assert!(new.open(&moved.sealed, &context_of(&moved)).is_err());

    // That row now opens with no key: a further rotation refuses and changes nothing.
    let refused = rotate(&app, NEW, "NEWER_KEY_FOR_TEST", NEWER);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("rotation aborted"),
        "{}",
        stderr(&refused)
    );
    let untouched = rows(&app).await;
    for (x, y) in untouched.iter().zip(rows_sorted(&moved, &after).iter()) {
        assert_eq!(x.sealed, y.sealed, "{} changed", x.id);
    }
    assert!(tenants.len() == 2);
}

/// The rows as they were after the first rotation, with the moved ciphertext in place.
fn rows_sorted(moved: &SealedRow, after: &[SealedRow]) -> Vec<SealedRow> {
    after
        .iter()
        .map(|r| {
            if r.id == moved.id && r.kind == moved.kind {
                moved.clone()
            } else {
                r.clone()
            }
        })
        .collect()
}
