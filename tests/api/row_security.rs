//! Postgres row-level security (bar row S6): every tenant-owned table forces it for a
//! non-owner, non-`BYPASSRLS` role; one tenant's transaction sees and changes none of another
//! tenant's rows, whatever its SQL asks for; authentication narrows a request to its tenant;
//! and 10 000 alternating-tenant transactions over a pool of 4 connections leak nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::json;
use switchyard::config::DatabaseSettings;
use switchyard::control_plane::auth::principal::Principal;
use switchyard::control_plane::keys::KeySpec;
use switchyard::domain::ids::TenantId;
use switchyard::state::AppState;
use switchyard::storage::scope::{self, Scope};
use switchyard::storage::{Db, Tx, keys};

use crate::common::dashboard::Dashboard;
use crate::common::{Backend, TestApp, TestDb, spawn_app_on};

/// A migrated Postgres app with two tenants, each with an owner, keys and audit entries;
/// `None` outside CI without `TEST_DATABASE_URL`.
async fn two_tenants(
    routes: Option<switchyard::startup::RouteHook>,
) -> Option<(TestApp, TenantId, TenantId)> {
    let test_db = TestDb::create(Backend::Postgres).await?;
    let app = spawn_app_on(test_db, |_| {}, routes).await;
    let a = app.create_tenant("Alpha").await.tenant_id;
    let b = app.create_tenant("Bravo").await.tenant_id;
    for tenant in [&a, &b] {
        for name in ["one", "two"] {
            let spec = KeySpec {
                name: Some(name.to_owned()),
                ..Default::default()
            };
            app.mint_key(tenant, spec).await;
        }
    }
    Some((app, a, b))
}

/// Runs `sql` (one count) in a transaction opened by the gateway itself in `scope`.
async fn count_in(db: &Db, scope: Scope, sql: String) -> i64 {
    let tx = scope::within(scope, db.begin()).await.expect("begin");
    let Tx::Postgres(mut tx) = tx else {
        unreachable!("a Postgres test")
    };
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.rollback().await.expect("rollback");
    n
}

/// The tables under a `tenant_isolation` policy, and the column each one is scoped by.
async fn protected_tables(db: &Db) -> Vec<(String, String)> {
    let Db::Postgres(pool) = db else {
        unreachable!("a Postgres test")
    };
    sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
         JOIN pg_policies p ON p.tablename = c.table_name AND p.schemaname = c.table_schema \
         WHERE c.table_schema = current_schema() AND p.policyname = 'tenant_isolation' \
           AND (c.column_name = 'tenant_id' OR (c.table_name = 'tenants' AND c.column_name = 'id')) \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("policies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_forces_row_security_for_a_non_owner_role() {
    let Some((app, _, _)) = two_tenants(None).await else {
        return;
    };
    let Db::Postgres(pool) = &app.db else {
        unreachable!()
    };
    let owned: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT c.table_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND (c.column_name = 'tenant_id' OR (c.table_name = 'tenants' AND c.column_name = 'id'))",
    )
    .fetch_all(pool)
    .await
    .expect("tables")
    .into_iter()
    .collect();
    let protected: BTreeSet<String> = protected_tables(&app.db)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        owned, protected,
        "every table with a tenant_id needs the tenant_isolation policy"
    );
    assert!(owned.len() >= 20, "{owned:?}");
    let forced: Vec<(String, bool, bool, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                pg_get_userbyid(c.relowner)::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r'",
    )
    .fetch_all(pool)
    .await
    .expect("pg_class");
    for (table, enabled, force, owner) in &forced {
        if owned.contains(table) {
            assert!(
                *enabled && *force,
                "{table}: RLS enabled {enabled}, forced {force}"
            );
        }
        assert_ne!(owner, "switchyard_app", "{table} is owned by the app role");
    }
    let (superuser, bypass): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'switchyard_app'",
    )
    .fetch_one(pool)
    .await
    .expect("the role exists");
    assert!(!superuser && !bypass);
    let tx = app.db.begin().await.expect("begin");
    let Tx::Postgres(mut tx) = tx else {
        unreachable!()
    };
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *tx)
        .await
        .expect("current_user");
    assert_eq!(user, "switchyard_app");
    drop(tx);
    assert!(app.db.row_security_enforced().await.expect("check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_select_in_one_tenants_context_returns_none_of_anothers_rows() {
    let Some((app, a, b)) = two_tenants(None).await else {
        return;
    };
    let (a, b) = (a.to_string(), b.to_string());
    let mut seen_of_b = 0;
    for (table, column) in protected_tables(&app.db).await {
        let all = format!("SELECT count(*) FROM {table}");
        let of_b = format!("SELECT count(*) FROM {table} WHERE {column} = '{b}'");
        let not_a = format!("SELECT count(*) FROM {table} WHERE {column} IS DISTINCT FROM '{a}'");
        let b_rows = count_in(&app.db, Scope::System, of_b.clone()).await;
        seen_of_b += b_rows;
        assert_eq!(
            count_in(&app.db, Scope::Tenant(a.clone()), not_a).await,
            0,
            "{table}: tenant A's transaction sees rows that are not A's"
        );
        assert_eq!(count_in(&app.db, Scope::Tenant(a.clone()), of_b).await, 0);
        assert_eq!(
            count_in(&app.db, Scope::Anonymous, all).await,
            0,
            "{table}: an anonymous transaction sees rows"
        );
    }
    assert!(seen_of_b >= 6, "tenant B owns rows in several tables");

    // Writes aimed at B from A's transaction change nothing, and a row for B is refused.
    let tx = scope::within(Scope::Tenant(a.clone()), app.db.begin())
        .await
        .expect("begin");
    let Tx::Postgres(mut tx) = tx else {
        unreachable!()
    };
    for sql in [
        format!("UPDATE virtual_keys SET name = 'stolen' WHERE tenant_id = '{b}'"),
        format!("DELETE FROM memberships WHERE tenant_id = '{b}'"),
        format!("UPDATE tenants SET name = 'stolen' WHERE id = '{b}'"),
    ] {
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *tx)
            .await
            .expect(&sql);
        assert_eq!(done.rows_affected(), 0, "{sql}");
    }
    let planted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO teams (id, tenant_id, name, created_at) VALUES ('team_x', '{b}', 'x', 0)"
    )))
    .execute(&mut *tx)
    .await
    .expect_err("a row for another tenant is refused");
    assert!(
        planted.to_string().contains("row-level security"),
        "{planted}"
    );
    drop(tx);

    // A repository call that names the wrong tenant finds nothing under another tenant's scope.
    let b_id = TenantId::from_db(b.clone());
    assert_eq!(keys::list(&app.db, &b_id).await.expect("system").len(), 2);
    let wrong = scope::within(Scope::Tenant(a.clone()), keys::list(&app.db, &b_id))
        .await
        .expect("list");
    assert!(wrong.is_empty(), "A's scope read B's keys: {wrong:?}");
    let b_keys = scope::within(Scope::Tenant(b.clone()), keys::list(&app.db, &b_id))
        .await
        .expect("list");
    assert_eq!(b_keys.len(), 2);
}

/// A test route that takes a [`Principal`] and reports what the database lets it see.
async fn visible_keys(p: Principal, state: web::Data<AppState>) -> HttpResponse {
    let keys_table = Query::select()
        .column(Alias::new("tenant_id"))
        .from(Alias::new("virtual_keys"))
        .to_owned();
    let rows: Vec<(String,)> = state.db.fetch_all(&keys_table).await.expect("select");
    HttpResponse::Ok().json(json!({
        "tenant": p.tenant.to_string(),
        "scope": scope::current().setting(),
        "visible": rows.into_iter().map(|(t,)| t).collect::<Vec<_>>(),
    }))
}

/// A test route that authenticates a virtual key as `/v1` does and reports the scope.
async fn key_scope(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match switchyard::data_plane::context::authenticate(&req, &state) {
        Ok(key) => HttpResponse::Ok().json(json!({
            "tenant": key.tenant_id,
            "scope": scope::current().setting(),
        })),
        Err(e) => HttpResponse::Unauthorized().body(e.message),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_request_runs_in_its_tenants_scope() {
    let hook: switchyard::startup::RouteHook = Arc::new(|cfg: &mut web::ServiceConfig| {
        cfg.route("/test/visible-keys", web::get().to(visible_keys));
        cfg.route("/test/key-scope", web::get().to(key_scope));
    });
    let Some((app, _, b)) = two_tenants(Some(hook)).await else {
        return;
    };
    let mut d = Dashboard::signup(&app, "carol@charlie.test", "Charlie").await;
    let own = d.get("/api/v1/me").await.body["tenant_id"]
        .as_str()
        .expect("tenant")
        .to_owned();
    let minted = d.post("/api/v1/keys", json!({"name": "mine"})).await;
    assert_eq!(minted.status, 201, "{:?}", minted.body);
    let seen = d.get("/test/visible-keys").await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    assert_eq!(seen.body["scope"], own.as_str());
    let visible = seen.body["visible"].as_array().expect("rows");
    assert_eq!(visible.len(), 1, "{visible:?}");
    assert!(visible.iter().all(|t| t == own.as_str()));
    assert!(!visible.iter().any(|t| t == b.as_str()));

    // A virtual key narrows the data path's request to the key's tenant.
    let b_key = app
        .mint_key(
            &b,
            KeySpec {
                name: Some("data path".into()),
                ..Default::default()
            },
        )
        .await;
    // The key reaches the in-memory snapshot within its refresh interval.
    let mut res = None;
    for _ in 0..50 {
        let answer = app
            .client
            .get(format!("{}/test/key-scope", app.address))
            .bearer_auth(&b_key.key)
            .send()
            .await
            .expect("request");
        if answer.status() == 200 {
            res = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = res.expect("the new key authenticates within 5 s");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["tenant"], b.as_str());
    assert_eq!(body["scope"], b.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_alternating_tenant_transactions_over_four_connections_leak_nothing() {
    let Some((app, a, b)) = two_tenants(None).await else {
        return;
    };
    let settings = DatabaseSettings {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
    };
    let db = Db::connect(&app.test_db.url, &settings)
        .await
        .expect("a pool of four");
    let tenants = Arc::new([a.to_string(), b.to_string()]);
    let leaks = Arc::new(AtomicU64::new(0));
    let empty = Arc::new(AtomicU64::new(0));
    const TRANSACTIONS: usize = 10_000;
    const WORKERS: usize = 16;
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let (db, tenants, leaks, empty) =
            (db.clone(), tenants.clone(), leaks.clone(), empty.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < TRANSACTIONS {
                let own = tenants[i % 2].clone();
                let keys_table = Query::select()
                    .column(Alias::new("tenant_id"))
                    .from(Alias::new("virtual_keys"))
                    .to_owned();
                // Half through one statement, half through a transaction of two, so both
                // ways of borrowing a connection are exercised.
                let seen: Vec<(String,)> = if i % 4 < 2 {
                    scope::within(Scope::Tenant(own.clone()), db.fetch_all(&keys_table))
                        .await
                        .expect("select")
                } else {
                    let mut tx = scope::within(Scope::Tenant(own.clone()), db.begin())
                        .await
                        .expect("begin");
                    let counted = Query::select()
                        .expr(Expr::col(Alias::new("tenant_id")).count())
                        .from(Alias::new("memberships"))
                        .and_where(Expr::col(Alias::new("tenant_id")).ne(own.as_str()))
                        .to_owned();
                    let (others,): (i64,) = tx
                        .fetch_optional(&counted)
                        .await
                        .expect("count")
                        .expect("row");
                    leaks.fetch_add(others as u64, Ordering::Relaxed);
                    let seen = tx.fetch_all(&keys_table).await.expect("select");
                    tx.commit().await.expect("commit");
                    seen
                };
                if seen.is_empty() {
                    empty.fetch_add(1, Ordering::Relaxed);
                }
                let foreign = seen.iter().filter(|(t,)| *t != own).count() as u64;
                leaks.fetch_add(foreign, Ordering::Relaxed);
                i += WORKERS;
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    assert_eq!(
        leaks.load(Ordering::Relaxed),
        0,
        "rows of the other tenant were seen"
    );
    assert_eq!(
        empty.load(Ordering::Relaxed),
        0,
        "every transaction sees its own tenant's keys"
    );
    // No connection keeps the role or the tenant after its transactions: hold all four at once.
    let Db::Postgres(pool) = &db else {
        unreachable!()
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.acquire().await.expect("acquire");
        let (user, tenant): (String, String) = sqlx::query_as(
            "SELECT current_user::text, coalesce(current_setting('switchyard.tenant', true), '')",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("settings");
        assert_ne!(user, "switchyard_app");
        assert_eq!(tenant, "", "a pooled connection kept a tenant");
        held.push(conn);
    }
    drop(held);
    db.close().await;
}

/// Runs each statement on the superuser connection (set-up and clean-up of a test role).
async fn run_as_admin(su: &mut sqlx::PgConnection, statements: impl IntoIterator<Item = String>) {
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *su)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The production set-up: the gateway connects as an ordinary user that owns its database
/// (no superuser, no `BYPASSRLS`, not allowed to create roles). Row-level security binds it,
/// through `switchyard_app` when the cluster has that role and grants allow it, or directly
/// as the owner (FORCE) when not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_owner_is_bound_by_row_security_too() {
    let Some(admin) = crate::common::db::postgres_admin_url() else {
        return;
    };
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (owner, database) = (format!("sy_owner_{suffix}"), format!("sy_test_{suffix}"));
    let mut su = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    run_as_admin(
        &mut su,
        [
            format!("CREATE ROLE \"{owner}\" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
            format!("CREATE DATABASE \"{database}\" OWNER \"{owner}\""),
        ],
    )
    .await;
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_username(&owner).expect("user");
    url.set_password(None).expect("password");
    url.set_path(&format!("/{database}"));
    let db = Db::connect(url.as_str(), &DatabaseSettings::default())
        .await
        .expect("connect as the owner");
    db.migrate().await.expect("the owner runs the migrations");
    assert!(db.row_security_enforced().await.expect("check"));

    let created = |name: &str| {
        let id = format!("tnt_{name}_{suffix}");
        let insert = Query::insert()
            .into_table(Alias::new("tenants"))
            .columns([
                Alias::new("id"),
                Alias::new("name"),
                Alias::new("created_at"),
                Alias::new("updated_at"),
            ])
            .values_panic([id.clone().into(), name.into(), 0.into(), 0.into()])
            .to_owned();
        (id, insert)
    };
    let (a, insert_a) = created("a");
    let (b, insert_b) = created("b");
    // Outside any scope the gateway works as the platform.
    db.execute(&insert_a).await.expect("insert a");
    db.execute(&insert_b).await.expect("insert b");
    let tenants = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("tenants"))
        .to_owned();
    let seen: Vec<(String,)> = scope::within(Scope::Tenant(a.clone()), db.fetch_all(&tenants))
        .await
        .expect("select");
    assert_eq!(seen, vec![(a.clone(),)]);
    let seen: Vec<(String,)> = scope::within(Scope::Tenant(b.clone()), db.fetch_all(&tenants))
        .await
        .expect("select");
    assert_eq!(seen, vec![(b.clone(),)]);
    let anonymous: Vec<(String,)> = scope::within(Scope::Anonymous, db.fetch_all(&tenants))
        .await
        .expect("select");
    assert!(anonymous.is_empty());
    // And the owner's own connection, outside the gateway's transactions, sees nothing.
    let Db::Postgres(pool) = &db else {
        unreachable!()
    };
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(raw, 0, "FORCE binds the table owner");
    db.close().await;

    run_as_admin(
        &mut su,
        [
            format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
            format!("DROP ROLE \"{owner}\""),
        ],
    )
    .await;
}
