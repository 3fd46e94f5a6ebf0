//! Opening the pool and applying the embedded migrations.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Db, StorageError};
use crate::config::DatabaseSettings;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => url.split('@').next_back().unwrap_or_default().to_owned(),
    }
}

fn one_line(err: impl std::fmt::Display) -> String {
    err.to_string().replace('\n', " ")
}

impl Db {
    /// Connects to `url` (`sqlite://…` creates the file when missing). Fails within the
    /// configured connect timeout with a message naming the (redacted) URL.
    pub async fn connect(url: &str, settings: &DatabaseSettings) -> Result<Db, StorageError> {
        let fail = |message: String| StorageError::Connect {
            url: redact_url(url),
            message,
        };
        let attempt = async {
            if url.starts_with("sqlite:") {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| fail(one_line(e)))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .foreign_keys(true);
                SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.connect_timeout)
                    .connect_with(options)
                    .await
                    .map(Db::Sqlite)
                    .map_err(|e| fail(one_line(e)))
            } else {
                let options = PgConnectOptions::from_str(url).map_err(|e| fail(one_line(e)))?;
                PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.connect_timeout)
                    .connect_with(options)
                    .await
                    .map(Db::Postgres)
                    .map_err(|e| fail(one_line(e)))
            }
        };
        tokio::time::timeout(settings.connect_timeout, attempt)
            .await
            .map_err(|_| {
                fail(format!(
                    "no answer within {}",
                    humantime::format_duration(settings.connect_timeout)
                ))
            })?
    }

    /// Applies the embedded migrations for this backend (idempotent; Postgres takes an advisory
    /// lock so concurrent replicas do not race).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => {
                POSTGRES_MIGRATIONS.run(pool).await?;
                if !self.row_security_enforced().await? {
                    tracing::warn!(
                        "Postgres row-level security is not enforced: inside its transactions \
                         the gateway runs as a superuser or a BYPASSRLS role (the role \
                         switchyard_app is missing or not granted to the database user); \
                         tenants are kept apart by the gateway's own queries only"
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether Postgres applies row-level security to the gateway's transactions: the role
    /// they run as is neither a superuser nor `BYPASSRLS`. Always `true` for SQLite, which
    /// has no such layer to bypass.
    pub async fn row_security_enforced(&self) -> Result<bool, StorageError> {
        let Db::Postgres(pool) = self else {
            return Ok(true);
        };
        let mut tx = pool
            .begin_with(sqlx::AssertSqlSafe(super::scope::postgres_begin()))
            .await?;
        let bypass: bool = sqlx::query_scalar(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.rollback().await?;
        Ok(!bypass)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        let shown = redact_url("postgres://app:hunter2@db.internal:5432/sy");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("db.internal"));
        assert_eq!(
            redact_url("sqlite://switchyard.db"),
            "sqlite://switchyard.db"
        );
    }
}
