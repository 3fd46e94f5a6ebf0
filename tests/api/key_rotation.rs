//! Envelope encryption of stored secrets and master-key rotation (`switchyard master-key rotate
//! --new-key-env VAR`), on both databases: provider credentials, alert signing secrets (sealed
//! under their tenant's data key) and TOTP secrets (under the platform's data key) leave no
//! plaintext in a dump of every table; rotation re-wraps every data key under the new master key
//! without rewriting a secret, and afterwards 100 % open with the new key alone and none with
//! the old one alone; a ciphertext moved to another tenant's row (or another row of its own
//! tenant) does not open (AAD); a secret no key opens aborts the rotation with nothing changed.
//! Secrets sealed directly under the master key (before envelope encryption) keep working and
//! move under data keys at the next rotation.

use switchyard::control_plane::Actor;
use switchyard::control_plane::alerts::{self, NewDestination};
use switchyard::control_plane::auth::accounts::ClientInfo;
use switchyard::control_plane::auth::two_factor;
use switchyard::control_plane::providers::{self, NewCredential};
use switchyard::crypto::rotate::{context_of, owner_of};
use switchyard::crypto::{DataKey, MasterKey, Vault};
use switchyard::domain::ids::TenantId;
use switchyard::providers::ProviderKind;
use switchyard::storage::Db;
use switchyard::storage::data_keys::{self, DataKeyRow};
use switchyard::storage::sealed::{self, SealedKind, SealedRow};
use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

use crate::common::db::columns_containing;
use crate::common::{Backend, TestApp, run_binary, spawn_app, stderr, stdout};
use crate::on_both_backends;

const OLD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const NEW: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const NEWER: &str = "1f2e3d4c5b6a79880f1e2d3c4b5a69781f2e3d4c5b6a79880f1e2d3c4b5a6978";

on_both_backends!(
    rotation_rewraps_every_data_key_and_every_secret_still_opens,
    secrets_sealed_under_the_master_key_keep_working_and_move_under_data_keys
);

fn actor() -> Actor<'static> {
    Actor {
        user_id: None,
        label: "test",
        ip: None,
    }
}

fn key(text: &str) -> MasterKey {
    MasterKey::parse(text).unwrap()
}

async fn rows(db: &Db) -> Vec<SealedRow> {
    let mut tx = db.begin().await.unwrap();
    let rows = sealed::all(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    rows
}

async fn wrapped_keys(db: &Db) -> Vec<DataKeyRow> {
    let mut tx = db.begin().await.unwrap();
    let rows = data_keys::all(&mut tx).await.unwrap();
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

fn rotated(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap()
}

/// Every secret opened through a fresh vault (nothing cached) over `master`, as text (TOTP
/// secrets in hex), sorted; `None` if any does not open.
async fn open_all(db: &Db, master: MasterKey, rows: &[SealedRow]) -> Option<Vec<String>> {
    let vault = Vault::new(master);
    let mut out = Vec::new();
    for row in rows {
        let plain = vault
            .open(db, owner_of(row), &row.sealed, &context_of(row))
            .await
            .ok()?;
        out.push(match row.kind {
            SealedKind::TotpSecret => hex::encode(plain.expose()),
            _ => plain.into_string().unwrap(),
        });
    }
    out.sort();
    Some(out)
}

/// What a tenant and a user store: a provider credential and a webhook signing secret per
/// tenant, and the confirmed TOTP secret of one user. Returns the plaintexts (TOTP in hex),
/// the tenants, the user (id, email, authenticator) and the user's recovery codes.
struct Stored {
    plaintexts: Vec<String>,
    tenants: Vec<TenantId>,
    user: (String, String, TOTP),
    recovery_codes: Vec<String>,
}

async fn store_secrets(app: &TestApp, vault: &Vault) -> Stored {
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
            Some(vault),
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
            Some(vault),
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
    let (user_id, email) = owner;
    let enrolment = two_factor::begin(&app.db, Some(vault), &user_id, &email)
        .await
        .unwrap();
    let totp_bytes = TotpSecret::Encoded(enrolment.secret_base32.clone())
        .to_bytes()
        .unwrap();
    plaintexts.push(hex::encode(&totp_bytes));
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, totp_bytes, None, "t".into());
    let code = totp.generate_current().unwrap();
    let recovery_codes = two_factor::confirm(
        &app.db,
        Some(vault),
        None,
        &user_id,
        &email,
        &code,
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    plaintexts.sort();
    Stored {
        plaintexts,
        tenants,
        user: (user_id, email, totp),
        recovery_codes,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh TOTP code of a later time step (so that it was not used before).
fn next_code(totp: &TOTP, steps_ahead: u64) -> String {
    totp.generate(now_secs() + 30 * steps_ahead)
}

async fn rotation_rewraps_every_data_key_and_every_secret_still_opens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (old, new) = (key(OLD), key(NEW));
    let stored = store_secrets(&app, &Vault::new(old.clone())).await;
    let (user_id, email, totp) = &stored.user;

    // A dump of every table holds no canary, as text or (Postgres bytea) as hex.
    for plain in &stored.plaintexts {
        assert_eq!(
            columns_containing(&app.db, plain).await,
            Vec::<String>::new()
        );
        let hex_form = hex::encode(plain.as_bytes());
        assert_eq!(
            columns_containing(&app.db, &hex_form).await,
            Vec::<String>::new()
        );
    }

    // One data key per tenant and one for the platform, wrapped under the old key; every
    // secret is under a data key, none directly under the master key.
    let before = rows(&app.db).await;
    assert_eq!(before.len(), 5, "{before:?}");
    let keys_before = wrapped_keys(&app.db).await;
    let mut owners: Vec<&str> = keys_before.iter().map(|k| k.tenant_id.as_str()).collect();
    owners.sort();
    let mut expected: Vec<&str> = stored.tenants.iter().map(|t| t.as_str()).collect();
    expected.push("platform");
    expected.sort();
    assert_eq!(owners, expected);
    assert!(keys_before.iter().all(|k| k.kek_id == old.id()));
    assert!(
        before
            .iter()
            .all(|r| old.open(&r.sealed, &context_of(r)).is_err())
    );
    assert_eq!(
        open_all(&app.db, old.clone(), &before).await.as_ref(),
        Some(&stored.plaintexts)
    );

    // Rotate with the binary: the old key from the configuration, the new one from a variable.
    let report = rotated(&rotate(&app, OLD, "NEW_KEY_FOR_TEST", NEW));
    assert_eq!(report["data_keys"], 3, "{report}");
    assert_eq!(report["already_under_new_key"], 0, "{report}");
    assert_eq!(report["data_keys_created"], 0, "{report}");
    assert_eq!(report["provider_credentials"], 2, "{report}");
    assert_eq!(report["alert_secrets"], 2, "{report}");
    assert_eq!(report["totp_secrets"], 1, "{report}");
    assert_eq!(report["moved_under_data_keys"], 0, "{report}");
    assert_eq!(report["new_key_id"], new.id());

    // The secrets were not rewritten; every data key was re-wrapped under the new key only.
    let after = rows(&app.db).await;
    assert_eq!(
        after.iter().map(|r| &r.sealed).collect::<Vec<_>>(),
        before.iter().map(|r| &r.sealed).collect::<Vec<_>>()
    );
    let keys_after = wrapped_keys(&app.db).await;
    assert_eq!(keys_after.len(), 3);
    for (was, is) in keys_before.iter().zip(&keys_after) {
        assert_eq!(was.tenant_id, is.tenant_id);
        assert_ne!(
            was.wrapped_key, is.wrapped_key,
            "{} not re-wrapped",
            is.tenant_id
        );
        assert_eq!(is.kek_id, new.id());
        assert!(DataKey::unwrap(&new, &is.tenant_id, &is.wrapped()).is_ok());
        assert!(DataKey::unwrap(&old, &is.tenant_id, &is.wrapped()).is_err());
    }
    // 100 % open with the new key alone, none with the old one alone; the keyring of the
    // transition (new, with the old as previous) reads everything.
    assert_eq!(
        open_all(&app.db, new.clone(), &after).await.as_ref(),
        Some(&stored.plaintexts)
    );
    let old_vault = Vault::new(old.clone());
    for row in &after {
        assert!(
            old_vault
                .open(&app.db, owner_of(row), &row.sealed, &context_of(row))
                .await
                .is_err(),
            "{row:?} still opens with the old key"
        );
    }
    let ring = MasterKey::from_config(Some(NEW), Some(OLD))
        .unwrap()
        .unwrap();
    assert_eq!(
        open_all(&app.db, ring, &after).await.as_ref(),
        Some(&stored.plaintexts)
    );
    // The TOTP code still verifies through the service with the new key.
    assert!(
        two_factor::check_code(
            &app.db,
            Some(&Vault::new(new.clone())),
            user_id,
            email,
            &next_code(totp, 1)
        )
        .await
        .unwrap()
    );

    // A credential ciphertext moved onto the other tenant's row does not open there, nor
    // onto another row of its own tenant (same data key, other associated data).
    let creds: Vec<&SealedRow> = after
        .iter()
        .filter(|r| r.kind == SealedKind::ProviderCredential)
        .collect();
    let (a, b) = (creds[0], creds[1]);
    assert_ne!(a.tenant_id, b.tenant_id);
    let a_alert = after
        .iter()
        .find(|r| r.kind == SealedKind::AlertSecret && r.tenant_id == a.tenant_id)
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    sealed::replace(&mut tx, b, &a.sealed).await.unwrap();
    sealed::replace(&mut tx, a_alert, &a.sealed).await.unwrap();
    tx.commit().await.unwrap();
    let new_vault = Vault::new(new.clone());
    let moved = rows(&app.db).await;
    for target in [b, a_alert] {
        let row = moved
            .iter()
            .find(|r| r.id == target.id && r.kind == target.kind)
            .unwrap();
        assert_eq!(row.sealed, a.sealed);
        assert!(
            new_vault
                .open(&app.db, owner_of(row), &row.sealed, &context_of(row))
                .await
                .is_err(),
            "a moved ciphertext opened on {row:?}"
        );
    }

    // Those rows now open with no key: a further rotation refuses and changes nothing.
    let refused = rotate(&app, NEW, "NEWER_KEY_FOR_TEST", NEWER);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("rotation aborted"),
        "{}",
        stderr(&refused)
    );
    let untouched = rows(&app.db).await;
    assert_eq!(
        untouched.iter().map(|r| &r.sealed).collect::<Vec<_>>(),
        moved.iter().map(|r| &r.sealed).collect::<Vec<_>>()
    );
    let keys_untouched = wrapped_keys(&app.db).await;
    for (was, is) in keys_after.iter().zip(&keys_untouched) {
        assert_eq!(was.wrapped_key, is.wrapped_key);
        assert_eq!(is.kek_id, new.id());
    }
}

/// Deletes every data key: the state of a database from before envelope encryption.
async fn forget_data_keys(db: &Db) {
    let deleted = match db {
        Db::Sqlite(pool) => sqlx::query("DELETE FROM tenant_data_keys")
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        Db::Postgres(pool) => sqlx::query("DELETE FROM tenant_data_keys")
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(deleted, 3);
}

async fn secrets_sealed_under_the_master_key_keep_working_and_move_under_data_keys(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (old, new) = (key(OLD), key(NEW));
    let stored = store_secrets(&app, &Vault::new(old.clone())).await;
    let (user_id, email, totp) = &stored.user;

    // Re-seal every secret as versions before envelope encryption did: directly under the
    // master key, bound to the same owner and row, and no data keys at all.
    let vault = Vault::new(old.clone());
    let mut resealed = Vec::new();
    for row in rows(&app.db).await {
        let context = context_of(&row);
        let plain = vault
            .open(&app.db, owner_of(&row), &row.sealed, &context)
            .await
            .unwrap();
        let legacy = old.seal(plain.expose(), &context).unwrap();
        resealed.push((row, legacy));
    }
    let mut tx = app.db.begin().await.unwrap();
    for (row, legacy) in &resealed {
        sealed::replace(&mut tx, row, legacy).await.unwrap();
    }
    tx.commit().await.unwrap();
    forget_data_keys(&app.db).await;
    let legacy = rows(&app.db).await;
    assert!(
        legacy
            .iter()
            .all(|r| old.open(&r.sealed, &context_of(r)).is_ok())
    );

    // They keep working: the vault opens them, and the login check (which opens the TOTP
    // secret before looking at the code) accepts a recovery code.
    assert_eq!(
        open_all(&app.db, old.clone(), &legacy).await.as_ref(),
        Some(&stored.plaintexts)
    );
    let fresh = Vault::new(old.clone());
    assert!(
        two_factor::check_code(
            &app.db,
            Some(&fresh),
            user_id,
            email,
            &stored.recovery_codes[0]
        )
        .await
        .unwrap()
    );
    assert!(
        wrapped_keys(&app.db).await.is_empty(),
        "reading creates no data key"
    );

    // The rotation moves them under data keys (created under the new key).
    let report = rotated(&rotate(&app, OLD, "NEW_KEY_FOR_TEST", NEW));
    assert_eq!(report["moved_under_data_keys"], 5, "{report}");
    assert_eq!(report["data_keys_created"], 3, "{report}");
    assert_eq!(report["data_keys"], 0, "{report}");
    let moved = rows(&app.db).await;
    for row in &moved {
        let context = context_of(row);
        assert!(new.open(&row.sealed, &context).is_err(), "{row:?}");
        assert!(old.open(&row.sealed, &context).is_err(), "{row:?}");
    }
    assert!(
        wrapped_keys(&app.db)
            .await
            .iter()
            .all(|k| k.kek_id == new.id())
    );
    assert_eq!(
        open_all(&app.db, new.clone(), &moved).await.as_ref(),
        Some(&stored.plaintexts)
    );
    assert!(
        two_factor::check_code(
            &app.db,
            Some(&Vault::new(new.clone())),
            user_id,
            email,
            &next_code(totp, 1)
        )
        .await
        .unwrap()
    );

    // A second rotation to the same key moves nothing and rewrites no secret.
    let again = rotated(&rotate(&app, NEW, "NEW_KEY_FOR_TEST", NEW));
    assert_eq!(again["moved_under_data_keys"], 0, "{again}");
    assert_eq!(again["data_keys"], 3, "{again}");
    assert_eq!(again["already_under_new_key"], 3, "{again}");
    assert_eq!(
        rows(&app.db)
            .await
            .iter()
            .map(|r| &r.sealed)
            .collect::<Vec<_>>(),
        moved.iter().map(|r| &r.sealed).collect::<Vec<_>>()
    );
}
