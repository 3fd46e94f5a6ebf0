//! Fresh databases per test: a SQLite file in a temporary directory, or a new Postgres database
//! created from `TEST_DATABASE_URL` and dropped afterwards.

use sqlx::{Connection, Executor, PgConnection};

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

/// The Postgres server URL for tests. Outside CI a missing variable skips Postgres tests; under
/// `CI=true` it is a failure, so Postgres coverage can never silently vanish.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: Postgres tests must run in CI")
        }
        _ => {
            eprintln!("skipping Postgres test: TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// The URL of a Postgres server with the `vector` extension (pgvector), from
/// `TEST_PGVECTOR_URL` (`tests/run` starts one). Skips outside CI when unset; fails under CI.
pub fn pgvector_admin_url() -> Option<String> {
    match std::env::var("TEST_PGVECTOR_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but TEST_PGVECTOR_URL is not set: the pgvector tests must run in CI")
        }
        _ => {
            eprintln!("skipping pgvector test: TEST_PGVECTOR_URL is not set");
            None
        }
    }
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

impl TestDb {
    /// Creates a fresh database; `None` when the backend is not available (see
    /// [`postgres_admin_url`]).
    pub async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("switchyard.db").display());
                Some(TestDb {
                    url,
                    backend,
                    sqlite_dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => Some(Self::create_postgres(&postgres_admin_url()?).await),
        }
    }

    /// A fresh database on the Postgres server at `admin` (dropped with the value).
    pub async fn create_postgres(admin: &str) -> TestDb {
        let backend = Backend::Postgres;
        let admin = admin.to_owned();
        {
            {
                let name = format!("sy_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                TestDb {
                    url: with_database(&admin, &name),
                    backend,
                    sqlite_dir: None,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    /// The SQLite file and its write-ahead log, for tests that inspect raw bytes.
    pub fn sqlite_files(&self) -> Vec<std::path::PathBuf> {
        let Some(dir) = &self.sqlite_dir else {
            return Vec::new();
        };
        ["switchyard.db", "switchyard.db-wal"]
            .iter()
            .map(|f| dir.path().join(f))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop the database from a separate thread with its own runtime: Drop cannot await.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
        if joined.is_err() {
            eprintln!("could not drop a test database");
        }
    }
}

/// Every `table.column` whose text contains `needle`, across the whole database: a dump check for
/// secrets at rest. Identifiers come from the catalog, so building SQL from them is safe here.
pub async fn columns_containing(db: &switchyard::storage::Db, needle: &str) -> Vec<String> {
    use switchyard::storage::Db;
    let pattern = format!("%{needle}%");
    let mut hits = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for (table,) in tables {
                let columns: Vec<(String,)> =
                    sqlx::query_as("SELECT name FROM pragma_table_info(?)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                for (column,) in columns {
                    let sql = format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE ?"
                    );
                    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(&pattern)
                        .fetch_one(pool)
                        .await
                        .expect("count");
                    if n > 0 {
                        hits.push(format!("{table}.{column}"));
                    }
                }
            }
        }
        Db::Postgres(pool) => {
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public'",
            )
            .fetch_all(pool)
            .await
            .expect("columns");
            for (table, column) in columns {
                let sql = format!(
                    "SELECT COUNT(*) FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE $1"
                );
                let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&pattern)
                    .fetch_one(pool)
                    .await
                    .expect("count");
                if n > 0 {
                    hits.push(format!("{table}.{column}"));
                }
            }
        }
    }
    hits
}

/// The names of every table's columns, for schema checks.
pub async fn table_columns(db: &switchyard::storage::Db) -> Vec<(String, String)> {
    use switchyard::storage::Db;
    match db {
        Db::Sqlite(pool) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(pool)
        .await
        .expect("columns"),
        Db::Postgres(pool) => sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .expect("columns"),
    }
}
