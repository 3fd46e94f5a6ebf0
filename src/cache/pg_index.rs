//! The durable, shared semantic index in Postgres with the `vector` extension (pgvector), used
//! instead of the Redis list when the database is Postgres and
//! `select 1 from pg_available_extensions where name = 'vector'` finds the extension.
//!
//! One table, `cache_vectors` (created here, not by the migrations, since its column type only
//! exists with the extension): tenant, partition (which carries the tenant too), the
//! exact-cache key of the answer, the unit embedding, its dimension and the expiry. Vectors of
//! one dimension get an HNSW index on the cast `embedding::vector(D)` with cosine distance,
//! created when that dimension is first stored; a lookup asks for the nearest live row of its
//! own tenant and partition with `<=>`. Every call is bounded like Redis (50 ms) and degrades to
//! the in-process index alone, so the data path never waits longer on it.
//!
//! The statements are written out rather than built with sea-query: it has no way to express
//! the `vector` type, the `<=>` operator or an index `USING hnsw`. The only text spliced into
//! them is the dimension, an integer.

use std::collections::HashSet;
use std::sync::Mutex;

use sqlx::{AssertSqlSafe, PgPool};

use crate::domain::time::now_millis;
use crate::policy::rate_limit::REDIS_TIMEOUT;
use crate::storage::scope::Scope;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS cache_vectors (
    tenant_id  TEXT   NOT NULL,
    partition  TEXT   NOT NULL,
    entry_key  TEXT   NOT NULL,
    dims       INT    NOT NULL,
    embedding  vector NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, partition, entry_key)
)";
const CREATE_LOOKUP_INDEX: &str = "CREATE INDEX IF NOT EXISTS cache_vectors_by_partition \
    ON cache_vectors (tenant_id, partition, expires_at)";
const UPSERT: &str = "INSERT INTO cache_vectors \
    (tenant_id, partition, entry_key, dims, embedding, expires_at) \
    VALUES ($1, $2, $3, $4, CAST($5 AS vector), $6) \
    ON CONFLICT (tenant_id, partition, entry_key) \
    DO UPDATE SET embedding = EXCLUDED.embedding, dims = EXCLUDED.dims, \
    expires_at = EXCLUDED.expires_at";
const DELETE_EXPIRED: &str = "DELETE FROM cache_vectors \
    WHERE tenant_id = $1 AND partition = $2 AND expires_at <= $3";
/// Row-level security like every tenant table (migration 0015); replicas may race to create
/// the policy, and the loser finds it there.
const ENABLE_ROW_SECURITY: &str = "ALTER TABLE cache_vectors ENABLE ROW LEVEL SECURITY";
const FORCE_ROW_SECURITY: &str = "ALTER TABLE cache_vectors FORCE ROW LEVEL SECURITY";
const CREATE_POLICY: &str = "DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
            AND tablename = 'cache_vectors' AND policyname = 'tenant_isolation') THEN
        CREATE POLICY tenant_isolation ON cache_vectors USING (switchyard_visible(tenant_id))
            WITH CHECK (switchyard_visible(tenant_id));
    END IF;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$";

/// The pgvector index.
pub struct PgVectorIndex {
    pool: PgPool,
    /// Dimensions whose HNSW index exists.
    indexed: Mutex<HashSet<usize>>,
}

/// A vector as pgvector's text form, `[0.1,0.2,…]`.
fn literal(vector: &[f32]) -> String {
    let parts: Vec<String> = vector.iter().map(f32::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// `vector(D)`: the only text spliced into a statement, built from an integer.
fn typed(dims: usize) -> String {
    format!("vector({dims})")
}

impl PgVectorIndex {
    /// The index when `pool`'s server has the `vector` extension (creating the extension and
    /// the table if needed); `None`, with the reason logged, otherwise.
    pub async fn detect(pool: &PgPool) -> Option<Self> {
        let available: Result<Option<i32>, _> =
            sqlx::query_scalar("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                .fetch_optional(pool)
                .await;
        match available {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::info!("pgvector is not available; the shared semantic index is Redis");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check for pgvector");
                return None;
            }
        }
        for statement in [
            "CREATE EXTENSION IF NOT EXISTS vector",
            CREATE_TABLE,
            CREATE_LOOKUP_INDEX,
            ENABLE_ROW_SECURITY,
            FORCE_ROW_SECURITY,
            CREATE_POLICY,
        ] {
            if let Err(e) = sqlx::query(statement).execute(pool).await {
                tracing::warn!(error = %e, "pgvector is available but cannot be set up; not used");
                return None;
            }
        }
        tracing::info!("the shared semantic index is pgvector");
        Some(Self {
            pool: pool.clone(),
            indexed: Mutex::new(HashSet::new()),
        })
    }

    /// A transaction in `tenant`'s row-level security scope.
    async fn begin(
        &self,
        tenant: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let scope = Scope::Tenant(tenant.to_owned());
        self.pool
            .begin_with(AssertSqlSafe(crate::storage::scope::postgres_begin_as(
                &scope,
            )))
            .await
    }

    /// Creates the HNSW index for vectors of `dims` dimensions once.
    async fn ensure_index(&self, dims: usize) {
        if self
            .indexed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&dims)
        {
            return;
        }
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS cache_vectors_hnsw_{dims} ON cache_vectors \
             USING hnsw ((embedding::{ty}) vector_cosine_ops) WHERE dims = {dims}",
            ty = typed(dims)
        );
        match sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await {
            Ok(_) => {
                self.indexed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(dims);
            }
            Err(e) => tracing::warn!(error = %e, dims, "cannot create the pgvector index"),
        }
    }

    /// The most similar live prompt of the tenant's `partition`, with its cosine similarity.
    pub async fn nearest(
        &self,
        tenant: &str,
        partition: &str,
        query: &[f32],
    ) -> Option<(String, f32)> {
        let dims = query.len();
        let ty = typed(dims);
        let sql = format!(
            "SELECT entry_key, CAST(1 - (embedding::{ty} <=> CAST($1 AS {ty})) AS REAL) \
             FROM cache_vectors \
             WHERE tenant_id = $2 AND partition = $3 AND dims = $4 AND expires_at > $5 \
             ORDER BY embedding::{ty} <=> CAST($1 AS {ty}) LIMIT 1"
        );
        let dims = i32::try_from(dims).ok()?;
        let lookup = async {
            let mut tx = self.begin(tenant).await?;
            let row = sqlx::query_as::<_, (String, f32)>(AssertSqlSafe(sql))
                .bind(literal(query))
                .bind(tenant)
                .bind(partition)
                .bind(dims)
                .bind(now_millis())
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        };
        let found = tokio::time::timeout(REDIS_TIMEOUT, lookup).await;
        match found {
            Ok(Ok(row)) => row,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pgvector lookup failed");
                None
            }
            Err(_) => {
                tracing::warn!("pgvector lookup timed out");
                None
            }
        }
    }

    /// Stores a prompt (unit vector) whose answer is cached under `key`, and drops the
    /// partition's expired prompts.
    pub async fn insert(
        &self,
        tenant: &str,
        partition: &str,
        vector: &[f32],
        key: &str,
        expires_at: i64,
    ) {
        let Ok(dims) = i32::try_from(vector.len()) else {
            return;
        };
        self.ensure_index(vector.len()).await;
        let work = async {
            let mut tx = self.begin(tenant).await?;
            sqlx::query(UPSERT)
                .bind(tenant)
                .bind(partition)
                .bind(key)
                .bind(dims)
                .bind(literal(vector))
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_EXPIRED)
                .bind(tenant)
                .bind(partition)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, work).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "pgvector insert failed"),
            Err(_) => tracing::warn!("pgvector insert timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_written_in_pgvectors_text_form() {
        assert_eq!(literal(&[0.5, -0.25, 1.0]), "[0.5,-0.25,1]");
        assert_eq!(typed(1536), "vector(1536)");
    }
}
