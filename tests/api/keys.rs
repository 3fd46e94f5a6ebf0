//! Tenant and key services under concurrency, and rotation bookkeeping, on both backends.

use std::time::Duration;

use switchyard::control_plane::{Actor, keys, tenants};
use switchyard::domain::api_key;
use switchyard::domain::time::now_millis;
use switchyard::storage;

use crate::common::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    concurrent_creates_of_one_tenant_name_admit_one,
    concurrent_key_mints_all_land,
    rotation_keeps_the_old_secret_for_the_grace_period,
);

async fn concurrent_creates_of_one_tenant_name_admit_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let attempts = (0..8).map(|i| {
        let db = app.db.clone();
        tokio::spawn(async move {
            tenants::create(
                &db,
                tenants::NewTenant {
                    name: "Racy".into(),
                    admin_email: format!("owner{i}@racy.test"),
                    admin_password: "correct horse battery staple".into(),
                },
                Actor::CLI,
            )
            .await
        })
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for result in results {
        match result.expect("task") {
            Ok(_) => created += 1,
            Err(tenants::TenantError::NameTaken(name)) => assert_eq!(name, "Racy"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        storage::tenants::list(&app.db).await.expect("list").len(),
        1
    );
}

async fn concurrent_key_mints_all_land(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.create_tenant("Acme").await.tenant_id;
    let mints = (0..20).map(|i| {
        let db = app.db.clone();
        let tenant = tenant.clone();
        tokio::spawn(async move {
            keys::create(
                &db,
                &tenant,
                keys::KeySpec {
                    name: Some(format!("k{i}")),
                    ..Default::default()
                },
                Actor::CLI,
            )
            .await
        })
    });
    for result in futures_util::future::join_all(mints).await {
        result.expect("task").expect("mint");
    }
    let listed = keys::list(&app.db, &tenant).await.expect("list");
    assert_eq!(listed.len(), 20);
}

async fn rotation_keeps_the_old_secret_for_the_grace_period(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.create_tenant("Acme").await.tenant_id;
    let original = app.mint_key(&tenant, keys::KeySpec::default()).await;
    let old_public = api_key::parse(&original.key)
        .expect("parse")
        .public_id
        .to_owned();

    let before = now_millis();
    let rotated = keys::rotate(
        &app.db,
        &tenant,
        &original.id,
        Duration::from_secs(3600),
        Actor::CLI,
    )
    .await
    .expect("rotate");
    let new_public = api_key::parse(&rotated.key)
        .expect("parse")
        .public_id
        .to_owned();
    assert_ne!(old_public, new_public);

    let row = storage::keys::find(&app.db, &tenant, &original.id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(row.public_id, new_public);
    assert_eq!(row.previous_public_id.as_deref(), Some(old_public.as_str()));
    let expires = row.previous_expires_at.expect("previous expiry");
    assert!((before + 3_600_000..=now_millis() + 3_600_000).contains(&expires));

    // A second rotation drops the older previous secret: only one old secret is ever live.
    let again = keys::rotate(
        &app.db,
        &tenant,
        &original.id,
        Duration::from_secs(60),
        Actor::CLI,
    )
    .await
    .expect("rotate again");
    let row = storage::keys::find(&app.db, &tenant, &original.id)
        .await
        .expect("find")
        .expect("row");
    assert_eq!(row.previous_public_id.as_deref(), Some(new_public.as_str()));
    assert_eq!(
        row.public_id,
        api_key::parse(&again.key).expect("parse").public_id
    );

    // Another tenant's view of the same id is "not found", not "forbidden".
    let other = app.create_tenant("Globex").await.tenant_id;
    let err = keys::rotate(
        &app.db,
        &other,
        &original.id,
        Duration::from_secs(60),
        Actor::CLI,
    )
    .await
    .expect_err("cross-tenant rotate");
    assert!(matches!(err, keys::KeyError::NotFound(_)), "{err}");
}
