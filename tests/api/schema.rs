//! The schema is the same product on both backends, and every tenant-owned table carries
//! `tenant_id`.

use std::collections::BTreeSet;

use switchyard::storage::Db;

use crate::common::db::table_columns;
use crate::common::{Backend, TestDb};
use crate::on_both_backends;

on_both_backends!(
    schema_is_complete_and_tenant_scoped,
    migrations_are_idempotent,
    the_audit_log_is_append_only
);

/// Tables that are global by nature rather than owned by one tenant.
const GLOBAL_TABLES: &[&str] = &[
    "tenants",
    "users",
    "user_sessions",
    "password_resets",
    // Two-factor login belongs to the user (who may be in several tenants), like sessions.
    "user_totp",
    "user_recovery_codes",
    "stripe_events",
    // Refunds and disputes that arrived before their purchase: their tenant is not known yet.
    "stripe_pending_events",
    "change_versions",
    "_sqlx_migrations",
];

const EXPECTED_TABLES: &[&str] = &[
    "tenants",
    "users",
    "memberships",
    "invitations",
    "teams",
    "team_members",
    "user_sessions",
    "password_resets",
    "api_tokens",
    "virtual_keys",
    "provider_credentials",
    "tenant_data_keys",
    "models",
    "routes",
    "budgets",
    "spend_counters",
    "budget_alerts_fired",
    "alert_destinations",
    "notifications",
    "request_logs",
    "usage_rollups",
    "user_usage_rollups",
    "audit_log",
    "credit_balances",
    "credit_transactions",
    "credit_entries",
    "stripe_events",
    "change_versions",
];

async fn migrated(backend: Backend) -> Option<(TestDb, Db)> {
    let test_db = TestDb::create(backend).await?;
    let db = Db::connect(&test_db.url, &Default::default())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    Some((test_db, db))
}

async fn schema_is_complete_and_tenant_scoped(backend: Backend) {
    let Some((_test_db, db)) = migrated(backend).await else {
        return;
    };
    let columns = table_columns(&db).await;
    let tables: BTreeSet<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    for expected in EXPECTED_TABLES {
        assert!(tables.contains(expected), "missing table {expected}");
    }
    for table in &tables {
        if GLOBAL_TABLES.contains(table) {
            continue;
        }
        assert!(
            columns.iter().any(|(t, c)| t == table && c == "tenant_id"),
            "tenant-owned table {table} lacks tenant_id"
        );
    }
    // Keys store a hash and a public id, never a secret column.
    let key_columns: Vec<&str> = columns
        .iter()
        .filter(|(t, _)| t == "virtual_keys")
        .map(|(_, c)| c.as_str())
        .collect();
    assert!(key_columns.contains(&"secret_hash") && key_columns.contains(&"public_id"));
    assert!(!key_columns.iter().any(|c| *c == "secret" || *c == "key"));
    db.close().await;
}

async fn migrations_are_idempotent(backend: Backend) {
    let Some((_test_db, db)) = migrated(backend).await else {
        return;
    };
    db.migrate().await.expect("second migrate is a no-op");
    db.close().await;
}

async fn the_audit_log_is_append_only(backend: Backend) {
    let Some((_test_db, db)) = migrated(backend).await else {
        return;
    };
    let mut tx = db.begin().await.expect("begin");
    switchyard::storage::audit::record(
        &mut tx,
        switchyard::storage::audit::AuditEntry {
            actor: "cli",
            action: "test.append",
            object_type: "test",
            ..Default::default()
        },
    )
    .await
    .expect("append");
    tx.commit().await.expect("commit");
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let refused = match &db {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.err(),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.err(),
        };
        let message = refused.expect("the database refuses it").to_string();
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    db.close().await;
}
