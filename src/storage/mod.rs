//! Storage: one code path over SQLite (embedded default) and Postgres (production).
//!
//! Queries are built with sea-query and run through [`Db`] or [`Tx`], which pick the SQL dialect
//! of the backend in use. Repository modules take the tenant id first and scope every statement
//! by it.

pub mod alerts;
pub mod api_tokens;
pub mod audit;
pub mod budgets;
pub mod cache_settings;
pub mod change_versions;
mod connect;
pub mod credentials;
pub mod credits;
pub mod credits_pending;
pub mod data_keys;
pub mod invitations;
pub mod keys;
pub mod notifications;
pub mod pii_settings;
pub mod request_logs;
pub mod routes;
pub mod scope;
pub mod sealed;
pub mod sessions;
pub mod snapshot;
pub mod spend;
pub mod teams;
pub mod tenant_models;
pub mod tenants;
pub mod totp;
pub mod usage;
pub mod users;

use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow, Postgres, Sqlite, Transaction};

pub use connect::redact_url;

/// A database connection pool on one of the supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded SQLite (`sqlite://PATH`).
    Sqlite(SqlitePool),
    /// Postgres (`postgres://…`).
    Postgres(PgPool),
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// A SQLite transaction (begun `IMMEDIATE`, so writers queue instead of failing).
    Sqlite(Transaction<'static, Sqlite>),
    /// A Postgres transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// Which backend a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// Postgres.
    Postgres,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot connect to the database at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("database query could not be built: {0}")]
    Build(#[from] sea_query::error::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether the failure is a unique-constraint violation (a concurrent duplicate insert).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StorageError::Query(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// A row type readable from both backends.
pub trait FromAnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> FromAnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

fn sqlite_sql(stmt: &impl SqlxBinder) -> (AssertSqlSafe<String>, SqlxValues) {
    let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
    (AssertSqlSafe(sql), values)
}

fn postgres_sql(stmt: &impl SqlxBinder) -> (AssertSqlSafe<String>, SqlxValues) {
    let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
    (AssertSqlSafe(sql), values)
}

/// Generates the statement-running methods of [`Tx`]; `$exec` turns the matched
/// transaction into an executor.
macro_rules! statement_methods {
    ($exec:ident $(, $mut:ident)?) => {
        /// Runs an insert, update or delete; returns the number of rows affected.
        pub async fn execute(& $($mut)? self, stmt: &impl SqlxBinder) -> Result<u64, StorageError> {
            let done = match self {
                Self::Sqlite(e) => {
                    let (sql, values) = sqlite_sql(stmt);
                    sqlx::query_with(sql, values).execute($exec!(e)).await?
                        .rows_affected()
                }
                Self::Postgres(e) => {
                    let (sql, values) = postgres_sql(stmt);
                    sqlx::query_with(sql, values).execute($exec!(e)).await?
                        .rows_affected()
                }
            };
            Ok(done)
        }

        /// Runs a query and reads every row.
        pub async fn fetch_all<T: FromAnyRow>(
            & $($mut)? self,
            stmt: &impl SqlxBinder,
        ) -> Result<Vec<T>, StorageError> {
            Ok(match self {
                Self::Sqlite(e) => {
                    let (sql, values) = sqlite_sql(stmt);
                    sqlx::query_as_with(sql, values).fetch_all($exec!(e)).await?
                }
                Self::Postgres(e) => {
                    let (sql, values) = postgres_sql(stmt);
                    sqlx::query_as_with(sql, values).fetch_all($exec!(e)).await?
                }
            })
        }

        /// Runs a query and reads at most one row.
        pub async fn fetch_optional<T: FromAnyRow>(
            & $($mut)? self,
            stmt: &impl SqlxBinder,
        ) -> Result<Option<T>, StorageError> {
            Ok(match self {
                Self::Sqlite(e) => {
                    let (sql, values) = sqlite_sql(stmt);
                    sqlx::query_as_with(sql, values).fetch_optional($exec!(e)).await?
                }
                Self::Postgres(e) => {
                    let (sql, values) = postgres_sql(stmt);
                    sqlx::query_as_with(sql, values).fetch_optional($exec!(e)).await?
                }
            })
        }
    };
}

macro_rules! tx_exec {
    ($e:ident) => {
        &mut **$e
    };
}

/// On Postgres, a pool statement runs in a transaction of its own, opened in the task's
/// [`scope`]: `$run` is the statement on the transaction `$tx`.
macro_rules! in_own_transaction {
    ($db:expr, $tx:ident => $run:expr) => {{
        let mut $tx = $db.begin().await?;
        let out = $run.await?;
        $tx.commit().await?;
        Ok(out)
    }};
}

impl Db {
    /// Runs an insert, update or delete; returns the number of rows affected. On Postgres it
    /// runs in its own transaction in the task's [`scope`].
    pub async fn execute(&self, stmt: &impl SqlxBinder) -> Result<u64, StorageError> {
        match self {
            Db::Sqlite(pool) => {
                let (sql, values) = sqlite_sql(stmt);
                Ok(sqlx::query_with(sql, values)
                    .execute(pool)
                    .await?
                    .rows_affected())
            }
            Db::Postgres(_) => in_own_transaction!(self, tx => tx.execute(stmt)),
        }
    }

    /// Runs a query and reads every row (on Postgres, in the task's [`scope`]).
    pub async fn fetch_all<T: FromAnyRow>(
        &self,
        stmt: &impl SqlxBinder,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Db::Sqlite(pool) => {
                let (sql, values) = sqlite_sql(stmt);
                Ok(sqlx::query_as_with(sql, values).fetch_all(pool).await?)
            }
            Db::Postgres(_) => in_own_transaction!(self, tx => tx.fetch_all(stmt)),
        }
    }

    /// Runs a query and reads at most one row (on Postgres, in the task's [`scope`]).
    pub async fn fetch_optional<T: FromAnyRow>(
        &self,
        stmt: &impl SqlxBinder,
    ) -> Result<Option<T>, StorageError> {
        match self {
            Db::Sqlite(pool) => {
                let (sql, values) = sqlite_sql(stmt);
                Ok(sqlx::query_as_with(sql, values)
                    .fetch_optional(pool)
                    .await?)
            }
            Db::Postgres(_) => in_own_transaction!(self, tx => tx.fetch_optional(stmt)),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// For SQLite, the database file (`None` inside: an in-memory database); `None` for Postgres.
    pub fn sqlite_file(&self) -> Option<Option<std::path::PathBuf>> {
        match self {
            Db::Sqlite(pool) => {
                let options = pool.connect_options();
                let file = options.get_filename();
                let in_memory = file.as_os_str().is_empty()
                    || file.to_string_lossy().contains(":memory:")
                    || file.to_string_lossy().starts_with("file:");
                Some((!in_memory).then(|| file.to_path_buf()))
            }
            Db::Postgres(_) => None,
        }
    }

    /// Begins a transaction (on Postgres, in the task's [`scope`]: the role and tenant its
    /// row-level security checks are set for this transaction only).
    pub async fn begin(&self) -> Result<Tx, StorageError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(
                pool.begin_with(AssertSqlSafe(scope::postgres_begin()))
                    .await?,
            ),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Db::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes the pool, waiting for borrowed connections to come back (SQLite checkpoints its
    /// write-ahead log as the last connection closes).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    statement_methods!(tx_exec, mut);

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Reads a JSON list column.
pub fn json_list(raw: &str) -> Result<Vec<String>, StorageError> {
    serde_json::from_str(raw).map_err(|e| StorageError::Corrupt(format!("list column: {e}")))
}

/// Writes a JSON list column.
pub fn to_json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
